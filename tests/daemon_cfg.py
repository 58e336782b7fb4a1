"""The daemon's config for tests against the simulator (``Daemon(cfg, sim=...)``).

Paper venue on the developer key, ephemeral ports, JSON logs, no status screen: what every
daemon-on-the-sim test needs, so each test only names what it varies. Lives at the top of tests/
(on sys.path through tests/conftest.py) because engine and execution tests both import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from kashbot.config import KashbotConfig, parse_config

FAIR_VALUE: dict[str, Any] = {
    "name": "fair_value",
    "id": "fv",
    "params": {"max_trade_usdc": 20, "max_position_usdc": 100, "cooldown_s": 0.5},
}
FAST_STREAM: dict[str, Any] = {
    "heartbeat_timeout_s": 3,
    "stale_after_s": 10,
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.2,
}


def daemon_cfg(
    store: Path,
    *,
    poller: dict[str, float],
    stream: dict[str, Any] | None = FAST_STREAM,
    sim_truth: bool = True,
    strategies: Sequence[dict[str, Any]] = (FAIR_VALUE,),
    shutdown_grace_s: float = 5,
    **sections: Any,
) -> KashbotConfig:
    """``stream=None``: the stream's defaults; ``sections``: top-level sections to set/replace."""
    sources: dict[str, Any] = {"poller": poller, "webhook": {"port": 0}}
    if stream is not None:
        sources["stream"] = stream
    if sim_truth:
        sources["sim_truth"] = {"enabled": True, "interval_s": 1}
    raw: dict[str, Any] = {
        "venue": {"mode": "paper", "sim": {"key_tier": "developer"}},
        "risk": {"per_trade_cap_usdc": 50, "daily_cap_usdc": 2000},
        "sources": sources,
        "strategies": list(strategies),
        "store": {"path": str(store)},
        "logging": {"format": "json"},
        "status": {"enabled": False},
        "control": {"port": 0},
        "engine": {"shutdown_grace_s": shutdown_grace_s},
    }
    raw.update(sections)
    return parse_config(yaml.safe_dump(raw, sort_keys=False), "test.yaml", {})


LIFECYCLE_KEYS = ("expires_after_s", "freeze_lead_s", "freeze_after_s")
RESOLVE_KEYS = ("after_s", "dispute_window_s", "settle_s")


def fast_lifecycle(scenario: dict[str, Any], factor: float) -> dict[str, Any]:
    """``scenario`` (a dict, e.g. ``scenario_dict()``) with every market's freeze / expiry /
    resolution offsets divided by ``factor``: the sim's ``time_scale`` leaves those on the clock
    (so recorded freeze times replay exactly), this squeezes the default scenario's six-minute
    lifecycle into seconds for a test."""
    out = dict(scenario)
    markets = []
    for m in scenario["markets"]:
        m = dict(m)
        for key in LIFECYCLE_KEYS:
            if key in m:
                m[key] = m[key] / factor
        if isinstance(m.get("resolve"), dict):
            m["resolve"] = {
                k: (v / factor if k in RESOLVE_KEYS else v) for k, v in m["resolve"].items()
            }
        markets.append(m)
    out["markets"] = markets
    return out


def live_yaml(
    store: Path,
    base_url: str,
    *,
    tier: str,
    user_id: str,
    markets: Sequence[str],
    poller: dict[str, float],
    strategies: Sequence[dict[str, Any]] = (FAIR_VALUE,),
    webhook_port: int | None = None,
    **sections: Any,
) -> str:
    """A ``kashbot run`` YAML in live mode against ``base_url`` (a simulator started as its own
    process): the key comes from ``${KASH_API_KEY}`` as in configs/live.example.yaml, never the
    file; no stream, sim truth, status screen or metrics; ephemeral control port. A webhook
    receiver on 127.0.0.1:``webhook_port`` with ``${KASH_WEBHOOK_SECRET}`` (None: none; without
    one the order path polls a trade only after 30 s of silence). ``sections``: top-level
    sections to set/replace."""
    webhook: dict[str, Any] = {"enabled": False}
    if webhook_port is not None:
        webhook = {"port": webhook_port, "secret": "${KASH_WEBHOOK_SECRET}"}
    raw: dict[str, Any] = {
        "venue": {"mode": "live", "api_key": "${KASH_API_KEY}", "base_url": base_url},
        "account": {"user_id": user_id, "tier": tier},
        "risk": {"per_trade_cap_usdc": 50, "daily_cap_usdc": 2000},
        "sources": {
            "poller": poller,
            "webhook": webhook,
            "stream": {"enabled": False},
        },
        "markets": list(markets),
        "strategies": list(strategies),
        "store": {"path": str(store)},
        "logging": {"format": "json"},
        "status": {"enabled": False},
        "control": {"port": 0},
        "metrics": {"enabled": False},
        "engine": {"shutdown_grace_s": 5},
    }
    raw.update(sections)
    return yaml.safe_dump(raw, sort_keys=False)
