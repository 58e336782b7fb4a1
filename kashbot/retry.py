"""One backoff policy for every retry loop: capped exponential delays, optionally full jitter.

``Backoff(initial_s, max_s).delay(n)`` is the wait before retry ``n`` (0 for the first):
``initial_s * factor**n``, capped at ``max_s`` (``None``: uncapped). With ``jitter="full"`` it is a
uniform draw from ``[0, that]`` (AWS "full jitter", so many clients dropped at once do not come
back in lockstep), taken from the caller's ``random.Random`` so a seeded run repeats exactly.
:func:`retrying` wraps one awaitable call in that policy, sleeping on a :class:`Clock`.

Owned rather than tenacity or stamina: their waits draw jitter from the global ``random`` module
(no seeded ``Random``), and most loops here are not "call f until it succeeds" (a supervisor
restarting forever, a stream reconnect whose count resets on data, a transport that prefers
``Retry-After``): they need the delay arithmetic, not a retry controller.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from kashbot.clock import Clock

T = TypeVar("T")

Jitter = Literal["none", "full"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: ``initial_s * factor**n`` capped at ``max_s``, optionally jittered."""

    initial_s: float
    max_s: float | None = None
    factor: float = 2.0
    jitter: Jitter = "none"

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry ``retry`` (0 = the first; a negative count is 0).

        A count so large that the power overflows waits ``max_s`` (``inf`` when uncapped) instead
        of raising. ``rng`` is required for ``jitter="full"`` and unused otherwise.
        """
        try:
            raw = self.initial_s * self.factor ** max(0, retry)
        except OverflowError:
            raw = math.inf
        capped = raw if self.max_s is None else min(self.max_s, raw)
        if self.jitter == "none":
            return float(capped)
        if rng is None:
            raise ValueError("full jitter needs an rng (a seeded random.Random for determinism)")
        return rng.uniform(0.0, capped)


async def retrying(
    call: Callable[[], Awaitable[T]],
    policy: Backoff,
    clock: Clock,
    attempts: int,
    *,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    on_failure: Callable[[int, BaseException], None] | None = None,
    rng: random.Random | None = None,
) -> T:
    """``await call()`` up to ``attempts`` times, sleeping ``policy.delay(n)`` between tries.

    Only ``retry_on`` errors are retried; any other propagates at once. ``on_failure(attempt,
    error)`` (attempt counts from 1) runs after every caught failure, the last one included, so
    a caller logs each failure in one place. After the last attempt its error is re-raised.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(attempts):
        if attempt:
            await clock.sleep(policy.delay(attempt - 1, rng))
        try:
            return await call()
        except retry_on as exc:
            if on_failure is not None:
                on_failure(attempt + 1, exc)
            if attempt + 1 == attempts:
                raise
    raise AssertionError("unreachable")  # the loop returns or raises
