"""Markets and pools: quotes (§7.3), executed-trade rows (§7.2), noise traders, replayed
external trades, freezing and resolution. All pool maths is :mod:`kashbot.amm`.
"""

from __future__ import annotations

from collections import deque

from kashbot import amm
from kashbot.money import WAD, Atomic, Wad, decimal_to_wad, usdc_to_atomic
from kashbot.sim.chains import SIGNATURE_CHARS, base58, is_solana, signature
from kashbot.sim.errors import SimError
from kashbot.sim.ids import rng_for
from kashbot.sim.keys import KeysAndLimits
from kashbot.sim.models import (
    MarketState,
    MarketTick,
    Prediction,
    QuoteResult,
)
from kashbot.sim.noise import draw_order, logits_from, probs_from, step_truth
from kashbot.sim.scenario import MarketConfig


class MarketsAndNoise(KeysAndLimits):
    """Pools move here: every execution, whoever made it, becomes a prediction row and a tick."""

    def _add_market(self, m: MarketConfig) -> None:
        n = len(m.outcomes)
        init = (
            tuple(decimal_to_wad(p) for p in m.initial_probabilities)
            if m.initial_probabilities
            else None
        )
        if init is not None:
            init = (*init[:-1], WAD - sum(init[:-1]))
        pool = amm.seed_pool(usdc_to_atomic(m.liquidity_usdc), init, n)
        truth = (
            tuple(decimal_to_wad(p) for p in m.true_probabilities)
            if m.true_probabilities
            else amm.probabilities(pool)
        )
        fees = self.fees if m.fees is None else amm.Fees(m.fees.protocol_bps, m.fees.amm_sell_bps)
        freeze, expires = m.freeze_offset(), m.expires_after_s
        market = MarketState(
            id=m.id,
            title=m.title,
            description=m.description,
            labels=m.outcomes,
            status=m.status,
            pool=pool,
            contract_address=m.contract_address or self._contract_address(m.chain),
            created_at=self.start,
            freeze_at=self.start + freeze if freeze is not None else None,
            expires_at=self.start + expires if expires is not None else None,
            chain=m.chain,
            fees=fees,
            quote_fees=fees
            if self.scenario.api.quote_includes_protocol_fee
            else amm.Fees(0, fees.amm_sell_bps),
            true_logits=logits_from(truth),
            truth_at=self.start,
            noise_holdings=[0] * n,
            predictions=deque(maxlen=self.scenario.api.prediction_log_size),
        )
        if m.status == "ABANDONED":
            market.resolution_state = "cancelled"
            market.resolved_pool = pool
        self.markets[m.id] = market
        self._noise_rng[m.id] = rng_for(self.seed, "noise:" + m.id)
        if m.status == "ACTIVE" and m.noise.enabled and m.noise.trades_per_minute > 0:
            self._schedule_noise(market, self.start)

    def _contract_address(self, chain: str) -> str:
        """0x + 20 hex bytes on EVM; a base58 program account on Solana (own id stream)."""
        if is_solana(chain):
            return base58(self.ids.raw("solana-account", 32))
        return "0x" + self.ids.hex("contract", 20)

    def fees_for(self, market_id: str) -> amm.Fees:
        """The fees trades pay on one market (per-market scenario fees, else the scenario's)."""
        return self.markets[market_id].fees

    def _market_cfg(self, market_id: str) -> MarketConfig:
        return next(m for m in self.scenario.markets if m.id == market_id)

    def _schedule_noise(self, market: MarketState, after: float) -> None:
        cfg = self._market_cfg(market.id).noise
        rate = cfg.trades_per_minute / 60.0 * self.time_scale
        self._schedule(after + self._noise_rng[market.id].expovariate(rate), "noise", market.id)

    def market(self, market_id: str) -> MarketState:
        self._sync()
        m = self.markets.get(market_id)
        if m is None:
            raise SimError("MARKET_NOT_FOUND", f"market {market_id} not found")
        return m

    def list_markets(self, status: str | None = None) -> list[MarketState]:
        self._sync()
        ms = list(self.markets.values())
        if status:
            ms = [m for m in ms if m.status == status.upper()]
        return ms

    def predictions(self, market_id: str) -> list[Prediction]:
        """Newest first, as §7.2 lists them."""
        return list(reversed(self.market(market_id).predictions))

    def truth(self, market_id: str) -> tuple[Wad, ...]:
        """The hidden true probabilities (ground truth; never on the public API)."""
        return probs_from(self.market(market_id).true_logits)

    def _not_tradeable(self, m: MarketState, why: str) -> SimError:
        return SimError(
            "MARKET_NOT_TRADEABLE",
            f"market {m.id} is {why}",
            status=self.scenario.api.market_not_tradeable_status,
        )

    def quote(self, market_id: str, outcome: int, action: str, amount: int) -> QuoteResult:
        """§7.3: buy ``amount`` USDC atomic, or sell ``amount`` WAD tokens, on the current pool."""
        m = self.market(market_id)
        if not 0 <= outcome < m.pool.outcome_count:
            raise SimError(
                "OUTCOME_INDEX_INVALID", f"outcomeIndex must be < {m.pool.outcome_count}"
            )
        if action not in ("buy", "sell"):
            raise SimError("VALIDATION_FAILED", "action must be buy or sell", issues=["action"])
        if amount <= 0:
            raise SimError("VALIDATION_FAILED", "amount must be a positive integer")
        if m.status != "ACTIVE" or m.resolution_state is not None:
            raise self._not_tradeable(m, m.resolution_state or m.status)
        try:
            if action == "buy":
                b = amm.buy(m.pool, outcome, amount, m.quote_fees)
                return self._quote_result(
                    m, outcome, "buy", amount, b.pool, b.protocol_fee, 0, tokens_out=b.tokens_out
                )
            s = amm.sell(m.pool, outcome, amount, m.quote_fees)
        except amm.AmmError as exc:
            raise SimError("VALIDATION_FAILED", str(exc), issues=["amount"]) from None
        return self._quote_result(
            m,
            outcome,
            "sell",
            amount,
            s.pool,
            s.protocol_fee,
            s.amm_fee,
            usdc_out=s.payout,
            gross=s.gross_release,
        )

    def _quote_result(
        self,
        m: MarketState,
        outcome: int,
        action: str,
        amount: int,
        after: amm.Pool,
        pfee: Atomic,
        afee: Atomic,
        *,
        tokens_out: Wad | None = None,
        usdc_out: Atomic | None = None,
        gross: Wad | None = None,
    ) -> QuoteResult:
        return QuoteResult(
            market_id=m.id,
            outcome=outcome,
            action="buy" if action == "buy" else "sell",
            amount_in=amount,
            tokens_out=tokens_out,
            usdc_out=usdc_out,
            gross_release=gross,
            reserve_after=after.reserve,
            c_after=amm.coefficient(after),
            p_after=amm.normalized_prices(after),
            q_after=amm.probabilities(after),
            protocol_fee=pfee,
            amm_fee=afee,
        )

    def _record(
        self,
        m: MarketState,
        outcome: int,
        side: str,
        after: amm.Pool,
        at: float,
        source: str,
        trade_id: str | None,
        *,
        usdc_in: Atomic | None = None,
        usdc_out: Atomic | None = None,
        tokens_in: Wad | None = None,
        tokens_out: Wad | None = None,
    ) -> Prediction:
        m.pool = after
        m.version += 1
        self._block += 1
        probs, price = amm.probabilities_and_price(after, outcome)
        if is_solana(m.chain):  # base58 signature, id "<sig>-<instruction>-<inner>", no logIndex
            tx_hash = signature(self.ids.raw("signature", SIGNATURE_CHARS))
            pred_id, log_index = f"{tx_hash}-2-1", None
        else:
            pred_id, log_index = "pred_" + self.ids.hex("prediction", 12), 0
            tx_hash = "0x" + self.ids.hex("tx", 32)
        pred = Prediction(
            id=pred_id,
            seq=next(self._seq),
            market_id=m.id,
            outcome=outcome,
            side="buy" if side == "buy" else "sell",
            usdc_in=usdc_in,
            usdc_out=usdc_out,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            price=price,
            probability=probs[outcome],
            probabilities=probs,
            ts=at,
            block_number=self._block,
            tx_hash=tx_hash,
            log_index=log_index,
            source=source,
            trade_id=trade_id,
        )
        m.predictions.append(pred)
        m.executions += 1
        tick = MarketTick(m.id, pred)
        for listener in list(self.listeners):
            listener(tick)
        return pred

    def _noise_trade(self, m: MarketState, at: float) -> None:
        if not m.tradeable(at):
            return
        cfg = self._market_cfg(m.id).noise
        rng = self._noise_rng[m.id]
        step_truth(m.true_logits, (at - m.truth_at) * self.time_scale, cfg, rng)
        m.truth_at = at
        order = draw_order(m.pool, probs_from(m.true_logits), m.noise_holdings, cfg, m.fees, rng)
        if order is not None:
            pred = self._fill(m, order.outcome, order.side, order.amount, at, "noise")
            # the noise traders hold what a buy got them and give up what they sold
            got = pred.tokens_out if pred.tokens_out is not None else -order.amount
            m.noise_holdings[order.outcome] += got
        self._schedule_noise(m, at)

    def apply_external_trade(
        self, market_id: str, outcome: int, side: str, amount: int
    ) -> Prediction:
        """Replay someone else's recorded trade: ``amount`` is USDC atomic for a buy and WAD
        tokens for a sell (what §7.2 rows carry). Bypasses keys, caps and lifecycle."""
        now = self._sync()
        m = self.markets.get(market_id)
        if m is None:
            raise SimError("MARKET_NOT_FOUND", f"market {market_id} not found")
        try:
            return self._fill(m, outcome, side, amount, now, source="external")
        except amm.AmmError as exc:
            raise SimError("VALIDATION_FAILED", str(exc)) from None

    def _fill(
        self, m: MarketState, outcome: int, side: str, amount: int, at: float, source: str
    ) -> Prediction:
        """Someone else's trade against the pool (no key, caps or lifecycle), recorded.

        ``amount`` is USDC atomic for a buy and WAD tokens for a sell.
        """
        if side == "buy":
            b = amm.buy(m.pool, outcome, amount, m.fees)
            return self._record(
                m, outcome, "buy", b.pool, at, source, None, usdc_in=amount, tokens_out=b.tokens_out
            )
        s = amm.sell(m.pool, outcome, amount, m.fees)
        return self._record(
            m, outcome, "sell", s.pool, at, source, None, usdc_out=s.payout, tokens_in=amount
        )
