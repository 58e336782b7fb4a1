"""`docker build` of deploy/Dockerfile where a Docker daemon answers; otherwise skipped with the
reason printed (the Dockerfile is linted either way: tests/unit/deploy)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def docker_unavailable() -> str | None:
    if shutil.which("docker") is None:
        return "no docker command on PATH"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        return f"docker info failed (no daemon?): {info.stderr.strip()[:200]}"
    return None


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_docker_build() -> None:
    reason = docker_unavailable()
    if reason is not None:
        print(f"SKIP docker build: {reason}")
        pytest.skip(reason)
    done = subprocess.run(
        ["docker", "build", "-f", "deploy/Dockerfile", "-t", "kashbot:test", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1700,
    )
    assert done.returncode == 0, done.stderr[-3000:]
