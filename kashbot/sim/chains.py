"""Chains and API versions as today's Kash serves them (kash-today.md §3).

Kash moved its canonical chain from Base to Solana on 2026-10-01. Under API version
``2026-04-29`` Solana markets are invisible (list filters them out, get/quote answer
``400 CHAIN_NOT_SUPPORTED``); from ``2026-08-19`` every market carries ``chainRef`` and only EVM
markets keep ``chainId``. A Solana signature or address is base58, never ``0x`` hex.
"""

from __future__ import annotations

import re

V_BASE_ONLY = "2026-04-29"
V_SOLANA = "2026-08-19"  # the first version that serves Solana markets and sends chainRef
LATEST = V_SOLANA
DEFAULT_CHAIN = "solana:mainnet-beta"
CHAIN_RE = re.compile(r"^(solana:(mainnet-beta|devnet|localnet)|evm:[1-9][0-9]{0,8})$")

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def is_solana(chain: str) -> bool:
    return chain.startswith("solana:")


def evm_chain_id(chain: str) -> int | None:
    """The numeric chain id of an ``evm:<id>`` ref; None on Solana (no public chain id)."""
    return int(chain.split(":", 1)[1]) if chain.startswith("evm:") else None


def serves_solana(version: str) -> bool:
    """Whether a pinned version sees Solana markets and chainRef (dated versions sort as text)."""
    return version >= V_SOLANA


_CHUNK = 58**10  # ten base58 digits per big-int division
_PAIRS = tuple(_B58[i // 58] + _B58[i % 58] for i in range(58 * 58))  # two digits per lookup


def base58(raw: bytes) -> str:
    """Bitcoin-alphabet base58 (Solana signatures and account addresses).

    Ten digits per big-int division and two per table lookup (about 2x the digit loop); for
    the per-trade signatures use :func:`signature`, which needs no arithmetic at all.
    """
    n = int.from_bytes(raw, "big")
    parts: list[str] = []
    while n:
        n, chunk = divmod(n, _CHUNK)
        for _ in range(5):
            chunk, pair = divmod(chunk, 3364)
            parts.append(_PAIRS[pair])
    digits = "".join(reversed(parts)).lstrip("1")
    pad = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * pad + digits


_SIG_TABLE = bytes(ord(_B58[b % 58]) for b in range(256))
SIGNATURE_CHARS = 88  # a 64-byte Solana signature is 87 or 88 base58 characters


def signature(raw: bytes) -> str:
    """An opaque Solana-looking transaction signature: one base58 character per byte of ``raw``.

    Every recorded trade on a Solana market gets one, so it is a table lookup rather than a
    base58 encoding (which was a third of a trade-flow backtest's time). Kash's clients check
    only the alphabet of a signature (kash-today §3), so nothing decodes it.
    """
    return raw.translate(_SIG_TABLE).decode("ascii")
