"""Daemon RSS over a soak: a paper daemon (``configs/paper.yaml``, the simulator in-process) run
as a child for a configurable time, its resident set sampled from ``/proc``.

The simulator runs ``--time-scale`` times faster than the wall clock (noise traders, market
clock), so a 15-minute soak at 4x covers an hour of the paper venue. The in-process simulator's
memory counts too (its request and prediction logs are capped by ``api.request_log_size`` and
``api.prediction_log_size``, finished trades are forgotten after ``api.trade_retention_s``).
Reports the RSS at the end of the warm-up, at the end and its peak after warm-up, the growth
after warm-up in %, and the least-squares slope of RSS over the post-warm-up samples, per wall
hour. Where the growth comes from: ``bench/bench_soak_growth.py`` (tracemalloc).

    .venv/bin/python bench/bench_soak.py --minutes 15 --time-scale 4 [--warmup-min 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Soak:
    minutes: float
    time_scale: float
    warmup_min: float
    samples: list[tuple[float, float]]  # (seconds since start, RSS MiB)
    summary: str

    def _after(self) -> list[tuple[float, float]]:
        return [s for s in self.samples if s[0] >= self.warmup_min * 60.0]

    @property
    def warm_rss(self) -> float:
        return self._after()[0][1]

    @property
    def end_rss(self) -> float:
        return self.samples[-1][1]

    @property
    def peak_after(self) -> float:
        return max(r for _, r in self._after())

    @property
    def growth(self) -> float:
        return self.end_rss / self.warm_rss - 1.0

    @property
    def slope_per_h(self) -> float:
        """Least-squares MiB per wall hour over the post-warm-up samples."""
        pts = self._after()
        n = len(pts)
        mx = sum(t for t, _ in pts) / n
        my = sum(r for _, r in pts) / n
        var = sum((t - mx) ** 2 for t, _ in pts)
        return 0.0 if var == 0 else sum((t - mx) * (r - my) for t, r in pts) / var * 3600.0


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def soak_config(tmp: Path, time_scale: float) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text())
    cfg["venue"]["sim"]["time_scale"] = time_scale
    cfg["venue"]["sim"]["scenario"] = str(ROOT / "configs" / "sim" / "default.yaml")
    cfg["store"]["path"] = str(tmp / "run-{run}.sqlite")
    # the tier's own 24 h cap (developer key: 10,000 USDC), so trading goes on through the soak
    cfg["risk"].update(
        daily_cap_usdc=10_000, max_market_exposure_usdc=2_500, max_total_exposure_usdc=8_000
    )
    cfg["control"]["port"] = 0
    cfg["status"]["enabled"] = False
    cfg["logging"] = {"level": "warning", "format": "json"}
    path = tmp / "soak.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_soak(minutes: float, time_scale: float, warmup_min: float, every_s: float) -> Soak:
    with tempfile.TemporaryDirectory(prefix="kashbot-soak-") as d:
        tmp = Path(d)
        cfg = soak_config(tmp, time_scale)
        kashbot = Path(sys.executable).parent / "kashbot"
        log = (tmp / "daemon.log").open("w")
        cmd = [str(kashbot), "run", str(cfg), "--duration", str(minutes * 60.0), "--no-status"]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
        start = time.monotonic()
        samples: list[tuple[float, float]] = []
        while proc.poll() is None:
            rss = rss_mib(proc.pid)
            if rss is not None:
                samples.append((time.monotonic() - start, rss))
            time.sleep(every_s)
        log.close()
        out = (tmp / "daemon.log").read_text()
        if proc.returncode != 0 or not samples:
            raise SystemExit(f"daemon exited {proc.returncode}:\n{out[-3000:]}")
        # the last samples can fall in the shutdown; keep the ones before --duration
        samples = [s for s in samples if s[0] <= minutes * 60.0] or samples
        return Soak(minutes, time_scale, warmup_min, samples, out[-1500:])


def rows(s: Soak) -> list[str]:
    return [
        f"  paper daemon, {s.minutes:g} min wall at sim time x{s.time_scale:g}"
        f" ({s.minutes * s.time_scale / 60:.1f} h of the paper venue), {len(s.samples)} samples",
        f"  RSS after {s.warmup_min:g} min warm-up {s.warm_rss:8.1f} MiB",
        f"  RSS at the end                {s.end_rss:8.1f} MiB"
        f"   growth after warm-up {s.growth:+.1%}",
        f"  peak RSS after warm-up        {s.peak_after:8.1f} MiB"
        f"   slope {s.slope_per_h:+.1f} MiB per wall hour",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=15.0, help="wall minutes of the soak")
    ap.add_argument("--time-scale", type=float, default=4.0, help="paper venue speed-up")
    ap.add_argument("--warmup-min", type=float, default=3.0)
    ap.add_argument("--every-s", type=float, default=5.0, help="RSS sample interval")
    args = ap.parse_args()
    if args.warmup_min >= args.minutes:
        raise SystemExit("--warmup-min: must be shorter than --minutes")
    s = run_soak(args.minutes, args.time_scale, args.warmup_min, args.every_s)
    print("daemon RSS soak (bench/bench_soak.py)")
    print("\n".join(rows(s)))
    keep = ("ran ", "trades filled", "requests last minute", "denials")
    print(
        "\n".join(
            f"  daemon: {ln.strip()}"
            for ln in s.summary.splitlines()
            if ln.strip().startswith(keep)
        )
    )


if __name__ == "__main__":
    main()
