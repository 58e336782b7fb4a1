#!/usr/bin/env python3
"""Two-command entry point: `python3 dev.py paper` and `python3 dev.py test`.

Needs only Python >= 3.11. Each command creates (or reuses) `.venv/` beside this file, installs
the project with its dev extra when `pyproject.toml` changed since the last install, then runs.
Standard library only, because it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".kashbot-install-stamp"


def _say(msg: str) -> None:
    print(f"[dev.py] {msg}", flush=True)


def ensure_venv() -> None:
    """Create the venv and (re)install when pyproject.toml changed; idempotent and quick."""
    if sys.version_info < (3, 11):  # noqa: UP036 - runs before the venv
        sys.exit(f"kashbot needs Python >= 3.11, this is {sys.version.split()[0]}")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == want:
        return
    if not PY.exists():
        _say(f"creating virtual environment in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    _say("installing kashbot and its dev tools (first run takes a minute)")
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "-U", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True, cwd=ROOT)
    STAMP.write_text(want)


# The suite runs in about two minutes; pytest-timeout ends a hung test, but not a hang in a
# fixture's teardown after a failure, so the whole run has a ceiling well inside CI's 90 minutes.
SUITE_CEILING_S = 25 * 60


def run(cmd: list[str], timeout: float | None = None) -> int:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    # Ctrl-C reaches the child from the terminal and it stops gracefully (the daemon prints its
    # summary); this process only waits for it, so it ignores SIGINT instead of dying first.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _say(f"{cmd[-1] if cmd else 'command'} still running after {timeout:.0f} s: stopped")
        proc.kill()
        proc.wait()
        return 124
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_test(extra: list[str]) -> int:
    steps: list[tuple[str, list[str], float | None]] = [
        ("ruff", [str(PY), "-m", "ruff", "check", "."], None),
        ("mypy --strict kashbot", [str(PY), "-m", "mypy", "kashbot"], None),
        ("pytest", [str(PY), "-m", "pytest", "-q", *extra], SUITE_CEILING_S),
    ]
    for name, cmd, ceiling in steps:
        _say(f"running {name}")
        rc = run(cmd, ceiling)
        if rc != 0:
            _say(f"{name} failed (exit {rc})")
            return rc
    return 0


def cmd_paper(extra: list[str]) -> int:
    return run([str(BIN / "kashbot"), "run", *(extra or ["configs/paper.yaml"])])


COMMANDS = {"test": cmd_test, "paper": cmd_paper}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        print("usage: python3 dev.py {paper|test} [args passed through]")
        return 2
    ensure_venv()
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
