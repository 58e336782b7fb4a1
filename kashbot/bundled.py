"""Files the wheel carries: the default paper config, the examples and the simulator scenarios.

``kashbot/data`` is a symlink to the repository's ``configs/`` (one source of truth; a built wheel
holds real copies as package data), so ``kashbot run`` in an empty folder and ``kashbot init``
work from a plain ``pip install``.
"""

from __future__ import annotations

from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent / "data"
PAPER_CONFIG = BUNDLED_DIR / "paper.yaml"
LIVE_EXAMPLE = BUNDLED_DIR / "live.example.yaml"
BACKTEST_EXAMPLE = BUNDLED_DIR / "backtest.example.yaml"
DEFAULT_SCENARIO = BUNDLED_DIR / "sim" / "default.yaml"
# what `kashbot run` reads when no CONFIG is given and it exists (the repo, a `kashbot init`)
LOCAL_DEFAULT_CONFIG = Path("configs") / "paper.yaml"


def default_config_path() -> Path:
    """``./configs/paper.yaml`` when the current folder has one, else the bundled paper config."""
    return LOCAL_DEFAULT_CONFIG if LOCAL_DEFAULT_CONFIG.is_file() else PAPER_CONFIG
