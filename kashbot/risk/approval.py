"""``Approval``: sealed permission to send exactly one intent, minted only by the risk gate.

An Approval carries an HMAC of its terms under a per-process secret, so a copy with other terms
(``dataclasses.replace(approval, intent=...)``) fails its own ``__post_init__``; the gate also
remembers the very objects it issued (``RiskGate.is_issued``).

The seal is computed once per approval: :func:`mint` passes the module-private ``_MINTING``
marker and ``__post_init__`` seals the new object's own terms in its place. Any other
construction passes bytes (``dataclasses.replace`` copies the stored seal), which must equal the
HMAC of the terms given, so a copy with changed terms still fails. Forging needs a private name
of this module (``_SEAL_KEY``, ``_MINTING``) or :func:`mint` itself, exactly as before: the
boundary is the same, one HMAC fewer per order.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, fields

from kashbot.events import OrderIntent
from kashbot.money import Atomic

_SEAL_KEY = secrets.token_bytes(32)
_MINTING = object()  # what ``mint`` passes as ``_mint``: "seal these terms" (module docstring)
_INTENT_FIELDS = tuple(f.name for f in fields(OrderIntent))


def reservation_for(intent_id: str) -> str:
    """The ledger reservation (and in-flight key) of an approved intent."""
    return f"r-{intent_id}"


def _seal(intent: OrderIntent, terms: tuple[object, ...]) -> bytes:
    """The MAC binding an approval's terms together (every field of the intent included).

    ``terms``: the approval's other fields, in declaration order (see ``_TERMS``).
    """
    intent_terms = tuple(
        sorted(v.items()) if isinstance(v, dict) else v
        for v in (getattr(intent, name) for name in _INTENT_FIELDS)
    )
    text = repr((intent_terms, *terms))
    return hmac.new(_SEAL_KEY, text.encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Approval:
    """Permission to send exactly this intent, minted only by :class:`RiskGate`.

    ``daily_draw`` is what the intent holds on the daily ledger (0 for sells), ``exposure`` what
    it adds to its market's exposure while in flight. ``_mint`` seals all of them: a copy with
    other terms cannot be built. The executor still asks :meth:`RiskGate.is_issued`, which knows
    the very object it issued.
    """

    intent: OrderIntent
    idempotency_key: str
    reservation_id: str
    daily_draw: Atomic
    exposure: Atomic
    expects_confirmation: bool
    auto_confirm: bool
    approved_at: float
    _mint: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        expected = _seal(self.intent, tuple(getattr(self, name) for name in _TERMS))
        if self._mint is _MINTING:  # from ``mint``: the seal of exactly these terms
            object.__setattr__(self, "_mint", expected)
            return
        if not isinstance(self._mint, bytes) or not hmac.compare_digest(self._mint, expected):
            raise TypeError("an Approval can only be minted by RiskGate")


# The sealed fields besides the intent, in declaration order (what ``mint`` passes after it).
_TERMS = tuple(f.name for f in fields(Approval) if f.name not in ("intent", "_mint"))


def mint(
    intent: OrderIntent,
    idempotency_key: str,
    reservation_id: str,
    daily_draw: Atomic,
    exposure: Atomic,
    expects_confirmation: bool,
    auto_confirm: bool,
    approved_at: float,
) -> Approval:
    """A sealed Approval (for :class:`RiskGate` only: it alone reserves what one grants)."""
    return Approval(
        intent,
        idempotency_key,
        reservation_id,
        daily_draw,
        exposure,
        expects_confirmation,
        auto_confirm,
        approved_at,
        _mint=_MINTING,  # type: ignore[arg-type]  # sealed in __post_init__, once
    )
