"""Journal a running daemon: every event on its bus and every intent, to a journal file.

``kashbot record`` is ``kashbot run`` with a :class:`~kashbot.backtest.recording.JournalWriter`
attached; any daemon can attach one the same way (:func:`attach_journal`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kashbot.backtest.recording import JournalWriter, StrategiesStopped
from kashbot.config import KashbotConfig
from kashbot.engine.engine import Engine
from kashbot.events import Event


def attach_journal(engine: Engine, journal: JournalWriter) -> None:
    """Record what the engine sees (inputs and outputs) and what its strategies intend."""
    engine.bus.subscribe(Event, journal.write)
    engine.intent_listeners.append(journal.write)


def recording_meta(cfg: KashbotConfig, config_name: str) -> dict[str, Any]:
    """What a backtest needs to rebuild the venue: a paper run names its scenario (absolute path,
    None = the bundled default), seed and time scale, so the replay starts from its exact pools."""
    sim = cfg.venue.sim
    paper = cfg.venue.mode == "paper"
    scenario = str(Path(sim.scenario).resolve()) if paper and sim.scenario else None
    return {
        "config": Path(config_name).name,
        "mode": cfg.venue.mode,
        "scenario": scenario,
        "seed": sim.seed if cfg.venue.mode == "paper" else None,
        "time_scale": sim.time_scale if cfg.venue.mode == "paper" else None,
        "tier": str(cfg.account.tier or sim.key_tier),
        "strategies": [s.id or s.name for s in cfg.strategies],
    }


async def record(
    cfg: KashbotConfig,
    out: Path,
    duration: float | None,
    *,
    config_name: str = "",
    sim: Any | None = None,
    webhook_port: int | None = None,
) -> int:
    """Run the daemon (paper or live) with a journal attached; returns the events written.

    ``sim``: an already running simulator (``run_sim``) for paper mode, as ``Daemon`` takes it.
    """
    from kashbot.app.daemon import Daemon

    with JournalWriter(out, recording_meta(cfg, config_name)) as journal:
        async with Daemon(cfg, sim=sim, webhook_port=webhook_port) as daemon:
            attach_journal(daemon.engine, journal)
            clock = daemon.clock
            daemon.on_strategies_stopping.append(
                lambda: journal.write(StrategiesStopped(clock.now()))
            )
            await daemon.run(duration)
        return journal.count


def cmd_record(config: str, out: Path, duration: float | None) -> int:
    """``kashbot record``: logs to stderr (JSON or console, per ``logging``), then a summary of
    what was recorded (events, seconds, file) on stdout; a config that does not load exits 2."""
    import asyncio
    import sys
    import time

    from kashbot.config import load_config_or_report
    from kashbot.obs.logging import configure

    cfg = load_config_or_report(config)
    if cfg is None:
        return 2
    configure(level=cfg.logging.level, fmt=cfg.logging.format, stream=sys.stderr)
    started = time.monotonic()
    count = asyncio.run(record(cfg, out, duration, config_name=config))
    took = time.monotonic() - started
    print(f"recorded {count} events in {took:.1f} s to {out} ({out.stat().st_size:,} bytes)")
    return 0
