"""Files a config names that must already exist, checked by ``config check`` before startup.

Paths in a config are relative to the folder ``kashbot`` runs in (not to the config file), as
``store.path`` is; a missing scenario or key file is a ``file:line: key: message`` problem here
instead of a crash once the daemon starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kashbot.config.loader import KeyPath, Problem, dotted, line_for
from kashbot.config.models import KashbotConfig


def missing_file_problems(cfg: KashbotConfig, lines: Mapping[KeyPath, int]) -> list[Problem]:
    """One problem per referenced input file that does not exist (or is not a file)."""
    # live key and secret files: check.py's live checks read them ("cannot read: ...")
    wanted: list[tuple[KeyPath, str | None]] = []
    if cfg.venue.mode == "paper":
        wanted.append((("venue", "sim", "scenario"), cfg.venue.sim.scenario))
    out: list[Problem] = []
    for key, value in wanted:
        if value is None or Path(value).is_file():
            continue
        where = Path(value).resolve()
        out.append((line_for(lines, key), dotted(key), f"no such file: {value} ({where})"))
    log_file = cfg.logging.file
    if log_file is not None and not Path(log_file).resolve().parent.is_dir():
        key = ("logging", "file")
        msg = f"the folder of {log_file} does not exist; create it or change the path"
        out.append((line_for(lines, key), dotted(key), msg))
    return out
