"""Loading sources by short name, dotted path or entry point; config errors name file:line."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from kashbot.clock import SimClock
from kashbot.config.loader import read_yaml
from kashbot.fairvalue import loader
from kashbot.fairvalue.file_source import FileSource
from kashbot.fairvalue.loader import (
    FairValueConfigError,
    SourceLoadError,
    build_sources,
    load_source_class,
    validate_fair_values,
)
from kashbot.fairvalue.polymarket import PolymarketSource


def test_short_names_and_dotted_paths() -> None:
    assert load_source_class("file") is FileSource
    assert load_source_class("polymarket") is PolymarketSource
    assert load_source_class("kashbot.fairvalue.file_source:FileSource") is FileSource
    assert load_source_class("kashbot.fairvalue.file_source.FileSource") is FileSource
    assert load_source_class("kashbot.fairvalue.file_source") is FileSource
    with pytest.raises(SourceLoadError, match="unknown fair-value source 'nope'"):
        load_source_class("nope")
    with pytest.raises(SourceLoadError, match="no module"):
        load_source_class("no.such.module:X")
    with pytest.raises(SourceLoadError, match="has no FairValueSource class"):
        load_source_class("kashbot.fairvalue.file_source:Nope")


def test_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = EntryPoint("vendor", "kashbot.fairvalue.file_source:FileSource", loader.ENTRY_POINT_GROUP)

    def fake(**kw: Any) -> list[EntryPoint]:
        assert kw == {"group": "kashbot.fair_values", "name": "vendor"}
        return [ep]

    monkeypatch.setattr(loader, "entry_points", fake)
    assert load_source_class("vendor") is FileSource


CONFIG = """\
fair_values:
  seed: 7
  sources:
    - name: file
      id: model
      params:
        path: /tmp/x.json
        max_age_s: 60
    - name: polymarket
      params:
        markets: {m1: ["t1", "t2"]}
        colour: blue
    - name: nope
"""


def test_unknown_keys_and_names_are_reported_with_file_and_line() -> None:
    data, lines = read_yaml(CONFIG, "live.yaml")
    with pytest.raises(FairValueConfigError) as err:
        validate_fair_values(data["fair_values"], file="live.yaml", lines=lines)
    problems = err.value.problems
    assert len(problems) == 2
    assert problems[0].startswith("live.yaml:12: fair_values.sources[1].params.colour: ")
    assert "source 'polymarket'" in problems[0] and "xtra" in problems[0]
    assert problems[1].startswith("live.yaml:13: fair_values.sources[2].name: source 'nope'")
    assert err.value.entries[1][:2] == (13, "fair_values.sources[2].name")


def test_section_level_errors() -> None:
    with pytest.raises(FairValueConfigError, match="source ids must be unique"):
        validate_fair_values({"sources": [{"name": "file", "params": {"path": "a"}}] * 2})
    with pytest.raises(FairValueConfigError, match="unknown sources"):
        validate_fair_values({"combine": {"sources": ["ghost"]}})
    with pytest.raises(FairValueConfigError, match=r"fair_values\.sourcez"):
        validate_fair_values({"sourcez": []})


def test_build_sources_gives_ids_params_and_seeded_rngs() -> None:
    data, _ = read_yaml(
        CONFIG.replace("        colour: blue\n", "").replace("    - name: nope\n", "")
    )
    cfg, sources = build_sources(data["fair_values"], SimClock())
    assert [s.source_id for s in sources] == ["model", "polymarket"]
    assert sources[0].params.max_age_s == 60
    again = build_sources(data["fair_values"], SimClock())[1]
    assert sources[1].rng.random() == again[1].rng.random()  # seed: 7
    assert cfg.seed == 7
