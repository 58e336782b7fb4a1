"""``kashbot redeem [CONFIG]``: claim every settled position once, by hand.

What the daemon's redeemer does every ``redemption.interval_s``, as one pass: the positions come
from the venue (``GET /v1/portfolio/positions``), each position's market from ``GET
/v1/markets/{id}`` (its lifecycle), and the claims go through the same
:class:`~kashbot.execution.redeem.Redeemer` and the same store as the daemon's, so a claim the
daemon sent (or one cut short by a crash) is re-sent with its own Idempotency-Key: the venue
answers the first request again, nothing is claimed twice.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from kashbot.app.venue_access import venue_access
from kashbot.client import KashClient
from kashbot.client.errors import KashError
from kashbot.clock import WallClock
from kashbot.config import KashbotConfig
from kashbot.core import redeem_settings
from kashbot.engine.state import EngineState
from kashbot.events import Event, PositionRedeemed
from kashbot.execution.redeem import Redeemer
from kashbot.money import fmt_usdc
from kashbot.sources.convert import market_snapshot
from kashbot.store.store import Store


async def redeem_once(
    cfg: KashbotConfig, *, out: TextIO | None = None, sim: Any | None = None
) -> int:
    """One recover-and-claim pass; prints one line per position closed. Exit code: 0, or 1 when
    claiming is off for the account (REDEMPTIONS_NOT_ENABLED). ``sim``: a running simulator
    (paper mode; None starts a fresh one, which holds nothing)."""
    out = out or sys.stdout
    clock = WallClock()
    async with (
        venue_access(cfg, sim) as acc,
        KashClient(
            acc.api_key,
            acc.base_url,
            api_version=cfg.venue.api_version,
            timeout=cfg.venue.timeout_s,
            max_retries=cfg.venue.max_retries,
            clock=clock,
            user_agent_suffix="kashbot-redeem",
        ) as client,
    ):
        state = await _settled_state(client, clock.now())
        path = cfg.store.resolved_path(clock.now())
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        store = await Store.open(path)
        closed: list[PositionRedeemed] = []

        def emit(event: Event) -> None:
            if isinstance(event, PositionRedeemed):
                closed.append(event)

        try:
            redeemer = Redeemer(client, store, state, emit, clock, redeem_settings(cfg))
            recovered = await redeemer.recover()
            handled = await redeemer.run_once()
            now_closed = {(r.market_id, r.outcome) for r in recovered}
            now_closed |= {(c.market_id, c.outcome) for c in handled}
            # a position a previous run closed is booked again in memory, not re-claimed
            closed = [ev for ev in closed if (ev.market_id, ev.outcome) in now_closed]
        finally:
            await store.close()
    for ev in closed:
        print(
            f"{ev.market_id} outcome {ev.outcome}: {ev.kind}, payout {fmt_usdc(ev.payout)} USDC"
            + (f" (redemption {ev.redemption_id})" if ev.redemption_id else ""),
            file=out,
        )
    status = redeemer.status()
    waiting = status.get("pending")
    if isinstance(waiting, list) and waiting:
        print(f"{len(waiting)} claim(s) got no answer: run `kashbot redeem` again", file=out)
    if not closed and not waiting:
        print("nothing to redeem: no position in a resolved or cancelled market", file=out)
    if redeemer.disabled_reason is not None:
        print(f"kashbot redeem: {redeemer.disabled_reason}", file=sys.stderr)
        return 1
    return 0


async def _settled_state(client: KashClient, now: float) -> EngineState:
    """The venue's positions and their markets' lifecycle, as the redeemer reads them."""
    state = EngineState()
    for p in await client.list_positions():
        if p.shares > 0:
            state.set_position(p.market_id, p.outcome_index, p.shares, p.cost_basis_atomic)
    for market_id in sorted({m for m, _ in state.positions}):
        try:
            market = await client.get_market(market_id)
        except KashError as exc:
            print(f"{market_id}: market not read ({exc.code or exc}); skipped", file=sys.stderr)
            continue
        state.apply(market_snapshot(market, now))
    return state
