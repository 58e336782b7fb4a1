"""Every YAML example in docs/fair-values.md validates (docs that lie are worse than none)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from kashbot.fairvalue import validate_fair_values

DOC = Path(__file__).resolve().parents[3] / "docs" / "fair-values.md"


def test_yaml_examples_validate() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 6  # the config, then one per built-in
    for block in blocks:
        data = yaml.safe_load(block)
        section = data["fair_values"] if isinstance(data, dict) else {"sources": data}
        cfg, built = validate_fair_values(section)
        assert len(built) == len(cfg.sources) >= 1
