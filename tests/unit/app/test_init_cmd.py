"""`kashbot init DIR` writes a starter folder whose paper config loads and names its own
scenario copy; a second init refuses to overwrite without --force."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kashbot.cli import main
from kashbot.config import load_config


def test_init_writes_a_loadable_folder_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "bot"]) == 0
    for name in ("paper.yaml", "live.example.yaml", "backtest.example.yaml", "README.md"):
        assert (tmp_path / "bot" / name).is_file(), name
    assert (tmp_path / "bot" / "sim" / "default.yaml").is_file()
    cfg = load_config("bot/paper.yaml", env={})
    assert cfg.venue.sim.scenario == "bot/sim/default.yaml"
    assert (
        "kashbot run bot/paper.yaml --duration 30" in (tmp_path / "bot" / "README.md").read_text()
    )

    (tmp_path / "bot" / "paper.yaml").write_text("# mine\n")
    capsys.readouterr()
    assert main(["init", "bot"]) == 1
    err = capsys.readouterr().err
    assert "paper.yaml" in err and "--force" in err
    assert (tmp_path / "bot" / "paper.yaml").read_text() == "# mine\n"
    assert main(["init", "bot", "--force"]) == 0
    assert (tmp_path / "bot" / "paper.yaml").read_text() != "# mine\n"


def test_default_config_is_local_configs_else_bundled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kashbot.bundled import PAPER_CONFIG, default_config_path

    monkeypatch.chdir(tmp_path)
    assert default_config_path() == PAPER_CONFIG and PAPER_CONFIG.is_file()
    assert main(["init"]) == 0  # default DIR: configs/, which `kashbot run` then reads
    assert default_config_path() == Path("configs/paper.yaml")
    assert os.path.samefile(
        load_config(default_config_path(), env={}).venue.sim.scenario or "",
        tmp_path / "configs" / "sim" / "default.yaml",
    )
