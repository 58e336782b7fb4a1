"""The ``fair_values:`` section in the daemon's config: validated by ``config check`` (every
source loads, its params validate) with file:line; the shipped live example uses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kashbot.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[3]
LIVE_ENV = {
    "KASH_API_KEY": "kash_live_SUPERSECRETKEYVALUE1234567890abc",
    "KASH_WEBHOOK_SECRET": "whsec_TOPSECRETwebhookvalue",
}
HEAD = "venue:\n  mode: paper\nfair_values:\n  sources:\n"


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "t.yaml", {})
    return info.value.problems


def test_a_bad_source_param_names_its_line_and_source() -> None:
    text = HEAD + "    - name: file\n      params:\n        path: f.json\n        colour: red\n"
    [(line, path, msg)] = problems(text)
    assert (line, path) == (8, "fair_values.sources[0].params.colour")
    assert msg.startswith("source 'file': ") and "Extra inputs" in msg


def test_an_unknown_source_and_an_unknown_key() -> None:
    text = HEAD + "    - name: no_such_source\n      id: x\n"
    [(line, path, msg)] = problems(text)
    assert (line, path) == (5, "fair_values.sources[0].name") and "no_such_source" in msg
    [(line, path, msg)] = problems("fair_values:\n  sorces: []\n")
    assert (line, path) == (2, "fair_values.sorces") and "did you mean 'sources'" in msg


def test_default_is_no_sources_and_the_live_example_has_two() -> None:
    assert parse_config("venue:\n  mode: paper\n", "t.yaml", {}).fair_values.sources == []
    live = load_config(ROOT / "configs" / "live.example.yaml", env=LIVE_ENV)
    assert [s.name for s in live.fair_values.sources] == ["file", "polymarket"]
    assert live.fair_values.combine.sources == ("polymarket", "model")
