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


def base58(raw: bytes) -> str:
    """Bitcoin-alphabet base58 (Solana signatures and account addresses)."""
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    pad = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * pad + out
