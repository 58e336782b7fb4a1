"""Noise traders: a hidden true probability per market and seeded traders who trade toward it.

The truth is a random walk in logit space with occasional jumps. Its state is float (a stochastic
model parameter, never money) and is converted to WAD probabilities at the boundary. Informed
traders buy the most underpriced outcome (never past the truth) or sell the most overpriced one
they hold; uninformed traders pick at random. Sizes are integer atomic USDC drawn uniformly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from kashbot import amm
from kashbot.money import WAD, Atomic, Wad, usdc_to_atomic
from kashbot.sim.scenario import NoiseConfig

LOGIT_BOUND = 9.0


def logits_from(probs: tuple[Wad, ...]) -> list[float]:
    return [math.log(p / WAD) for p in probs]


def probs_from(logits: list[float]) -> tuple[Wad, ...]:
    m = max(logits)
    ex = [math.exp(x - m) for x in logits]
    total = sum(ex)
    out = [max(1, int(e / total * WAD)) for e in ex]
    out[out.index(max(out))] += WAD - sum(out)
    return tuple(out)


def step_truth(logits: list[float], dt_s: float, cfg: NoiseConfig, rng: random.Random) -> None:
    """Diffuse (std ``volatility`` per sqrt-minute) and maybe jump one outcome, in place."""
    if dt_s <= 0:
        return
    sd = cfg.volatility * math.sqrt(dt_s / 60.0)
    for i in range(len(logits)):
        logits[i] += rng.gauss(0.0, sd)
    if cfg.jumps_per_hour > 0 and rng.random() < 1 - math.exp(-cfg.jumps_per_hour * dt_s / 3600):
        logits[rng.randrange(len(logits))] += rng.gauss(0.0, cfg.jump_size)
    m = sum(logits) / len(logits)
    for i in range(len(logits)):
        logits[i] = max(-LOGIT_BOUND, min(LOGIT_BOUND, logits[i] - m))


@dataclass(frozen=True, slots=True)
class NoiseOrder:
    outcome: int
    side: str  # buy | sell
    amount: int  # atomic USDC for a buy, WAD tokens for a sell


def draw_order(
    pool: amm.Pool,
    truth: tuple[Wad, ...],
    holdings: list[Wad],
    cfg: NoiseConfig,
    fees: amm.Fees,
    rng: random.Random,
) -> NoiseOrder | None:
    size: Atomic = rng.randint(usdc_to_atomic(cfg.min_usdc), usdc_to_atomic(cfg.max_usdc))
    informed = rng.random() < cfg.informed_share
    want_buy = rng.random() < 0.5
    q = amm.probabilities(pool)
    n = pool.outcome_count
    if informed:
        gaps = [truth[i] - q[i] for i in range(n)]
        if want_buy:
            i = max(range(n), key=lambda k: gaps[k])
            if gaps[i] <= 0:
                return None
            size = min(size, amm.buy_amount_to_reach(pool, i, truth[i], fees))
            return NoiseOrder(i, "buy", size) if size > 0 else None
        i = min(range(n), key=lambda k: gaps[k])
        if gaps[i] >= 0 or holdings[i] <= 0:
            return None
        cap = min(holdings[i], amm.sell_tokens_to_reach(pool, i, truth[i]))
    else:
        i = rng.randrange(n)
        if want_buy:
            return NoiseOrder(i, "buy", size)
        cap = holdings[i]
    if cap <= 0:
        return None
    try:
        tokens = amm.tokens_for_payout(pool, i, size, fees)
    except amm.AmmError:
        tokens = cap
    tokens = min(tokens, cap, pool.supplies[i] - 1)
    return NoiseOrder(i, "sell", tokens) if tokens > 0 else None
