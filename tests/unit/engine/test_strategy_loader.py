"""Loading strategies: built-ins under kashbot.strategies, user modules beside the config or in the
working directory (no PYTHONPATH), and installed packages' entry points (group
``kashbot.strategies``), with errors that say where they looked."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kashbot.config import ConfigError
from kashbot.config.check import parse_config
from kashbot.engine import strategy as loader
from kashbot.engine.strategy import StrategyLoadError, build_strategy, load_strategy_class
from kashbot.strategies.fair_value import FairValue

MODULE = """
from kashbot.engine.strategy import Strategy, StrategyParams


class P(StrategyParams):
    size: int = 1


class {cls}(Strategy[P]):
    name = "{cls}"
    Params = P

    def decide(self, state, event, params, now):
        return []
"""


@pytest.fixture
def clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Modules imported by a test are forgotten; the remembered config folders too."""
    before = set(sys.modules)
    monkeypatch.setattr(loader, "_CONFIG_DIRS", [])
    monkeypatch.setattr(sys, "path", list(sys.path))  # the folders a load keeps are dropped
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def write_package(root: Path, pkg: str, cls: str) -> None:
    (root / pkg).mkdir(parents=True)
    (root / pkg / "__init__.py").write_text("")
    (root / pkg / "mine.py").write_text(MODULE.format(cls=cls))


def test_short_name_is_the_built_in() -> None:
    assert load_strategy_class("fair_value") is FairValue
    assert load_strategy_class("kashbot.strategies.fair_value:FairValue") is FairValue


def test_top_level_strategies_package_is_not_installed(tmp_path: Path) -> None:
    """Only kashbot* is installed: ``strategies`` (the repo's example folder) is not importable
    from elsewhere, so it cannot clash with another distribution's in site-packages."""
    code = "import importlib.util as u; print(u.find_spec('strategies'), u.find_spec('kashbot'))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("None ModuleSpec(name='kashbot'")


def test_dotted_path_beside_the_config_without_pythonpath(
    tmp_path: Path, clean_imports: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = unique("mybots")
    write_package(tmp_path / "cfgdir", pkg, "Mine")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path_before = list(sys.path)
    cls = load_strategy_class(f"{pkg}.mine:Mine", config_file=tmp_path / "cfgdir" / "c.yaml")
    assert cls.__name__ == "Mine"
    # never in front of anything (the standard library, site-packages): kept at the end
    assert sys.path == [*path_before, str((tmp_path / "cfgdir").resolve())]
    s = build_strategy(f"{pkg}.mine.Mine", {"size": 3}, config_file=tmp_path / "cfgdir" / "c.yaml")
    assert s.params.size == 3  # type: ignore[attr-defined]


def test_dotted_path_from_the_working_directory(
    tmp_path: Path, clean_imports: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = unique("cwdbots")
    write_package(tmp_path, pkg, "Here")
    monkeypatch.chdir(tmp_path)
    assert load_strategy_class(f"{pkg}.mine").__name__ == "Here"


def test_config_check_loads_it_and_the_error_names_file_field_and_places(
    tmp_path: Path, clean_imports: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = unique("cfgbots")
    write_package(tmp_path / "bots", pkg, "Mine")
    monkeypatch.chdir(tmp_path)
    cfg_file = tmp_path / "bots" / "paper.yaml"
    text = f"strategies:\n  - name: {pkg}.mine:Mine\n    params: {{size: 2}}\n"
    cfg = parse_config(text, str(cfg_file))
    assert cfg.strategies[0].params == {"size": 2}
    with pytest.raises(ConfigError) as err:
        parse_config("strategies:\n  - name: nobots.nothing:X\n", str(cfg_file))
    msg = str(err.value)
    assert str(cfg_file) in msg and "strategies[0].name" in msg
    assert "no module 'nobots.nothing'" in msg
    assert str(tmp_path / "bots") in msg and str(tmp_path) in msg  # where it looked


def test_unknown_short_name_lists_what_was_tried(clean_imports: None) -> None:
    with pytest.raises(StrategyLoadError) as err:
        load_strategy_class("no_such_strategy_xyz")
    msg = str(err.value)
    assert "no built-in kashbot.strategies.no_such_strategy_xyz" in msg
    assert "no entry point 'no_such_strategy_xyz' in group 'kashbot.strategies'" in msg


def test_entry_point_of_an_installed_distribution(
    tmp_path: Path, clean_imports: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pip-installed package of strategies, as a dist-info on sys.path, found by its name."""
    pkg = unique("pipbots")
    site = tmp_path / "site"
    write_package(site, pkg, "Installed")
    dist = site / f"{pkg}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {pkg}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[kashbot.strategies]\nepname_{pkg} = {pkg}.mine:Installed\n"
    )
    monkeypatch.syspath_prepend(str(site))
    cls = load_strategy_class(f"epname_{pkg}")
    assert cls.__name__ == "Installed"
    (dist / "entry_points.txt").write_text(f"[kashbot.strategies]\nbad_{pkg} = {pkg}:__name__\n")
    with pytest.raises(StrategyLoadError, match="is not a Strategy class"):
        load_strategy_class(f"bad_{pkg}")


LAZY = """
from kashbot.engine.strategy import Strategy, StrategyParams


class Lazy(Strategy[StrategyParams]):
    name = "lazy"

    def decide(self, state, event, params, now):
        from {pkg} import helper  # a sibling, imported only when it first decides
        import {sibling}  # a top-level module beside it, imported just as late

        return [helper.VALUE, {sibling}.VALUE]
"""


def test_a_lazy_sibling_import_in_decide_still_resolves_after_loading(
    tmp_path: Path, clean_imports: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg, sibling = unique("lazybots"), unique("lazyhelpers")
    root = tmp_path / "cfgdir"
    (root / pkg).mkdir(parents=True)
    (root / pkg / "__init__.py").write_text("")
    (root / pkg / "mine.py").write_text(LAZY.format(pkg=pkg, sibling=sibling))
    (root / pkg / "helper.py").write_text("VALUE = 'helper'\n")
    (root / f"{sibling}.py").write_text("VALUE = 'sibling'\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    s = build_strategy(f"{pkg}.mine", config_file=root / "c.yaml")
    assert s.decide(None, None, s.params, 0.0) == ["helper", "sibling"]  # type: ignore[arg-type]


def test_a_user_module_named_like_the_standard_library_does_not_shadow_it(
    tmp_path: Path, clean_imports: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config folder goes at the end of ``sys.path``: a ``json.py`` beside the config is
    not what another thread's ``import json`` gets, during the load or after it."""
    pkg = unique("mybots")
    write_package(tmp_path / "cfgdir", pkg, "Mine")
    (tmp_path / "cfgdir" / "json.py").write_text("raise RuntimeError('shadowed')\n")
    load_strategy_class(f"{pkg}.mine", config_file=tmp_path / "cfgdir" / "c.yaml")
    del sys.modules["json"]
    import json  # the standard library's, not the config folder's

    assert json.dumps([1]) == "[1]"


REENTRANT = """
from kashbot.engine.strategy import Strategy, StrategyParams, load_strategy_class

Other = load_strategy_class("{other}.mine")  # loads another user strategy while importing


class Outer(Strategy[StrategyParams]):
    name = "outer"
"""


@pytest.mark.timeout(60)
def test_a_strategy_that_loads_another_while_importing_does_not_deadlock(
    tmp_path: Path, clean_imports: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer, other = unique("outerbots"), unique("otherbots")
    write_package(tmp_path, other, "Inner")
    (tmp_path / outer).mkdir()
    (tmp_path / outer / "__init__.py").write_text("")
    (tmp_path / outer / "mine.py").write_text(REENTRANT.format(other=other))
    monkeypatch.chdir(tmp_path)
    cls = load_strategy_class(f"{outer}.mine:Outer")
    assert cls.__name__ == "Outer"
    assert sys.modules[f"{outer}.mine"].Other.__name__ == "Inner"
