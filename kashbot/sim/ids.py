"""Deterministic identifiers and time formatting.

Every id the simulator mints comes from a ``random.Random`` seeded from the scenario seed and the
id's purpose, so the same scenario and seed produce the same ids in the same order, and one
concern drawing more ids never shifts another's sequence.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from datetime import UTC, datetime


def rng_for(seed: int, concern: str) -> random.Random:
    """An independent stream per concern (``"trades"``, ``"noise:<market>"`` ...)."""
    digest = hashlib.sha256(f"{seed}:{concern}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


class IdFactory:
    """Mints uuids, hex hashes and url-safe tokens from seeded streams."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._streams: dict[str, random.Random] = {}

    def _rng(self, concern: str) -> random.Random:
        rng = self._streams.get(concern)
        if rng is None:
            rng = self._streams[concern] = rng_for(self._seed, "ids:" + concern)
        return rng

    def uuid(self, concern: str) -> str:
        return str(uuid.UUID(int=self._rng(concern).getrandbits(128), version=4))

    def hex(self, concern: str, nbytes: int) -> str:
        return self._rng(concern).getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def raw(self, concern: str, nbytes: int) -> bytes:
        """``nbytes`` seeded bytes (base58 Solana signatures and addresses are built from these)."""
        return self._rng(concern).getrandbits(nbytes * 8).to_bytes(nbytes, "big")

    def token(self, concern: str, nbytes: int = 32) -> str:
        """base64url without padding; 32 bytes -> 43 chars like Kash's confirmation tokens."""
        raw = self._rng(concern).getrandbits(nbytes * 8).to_bytes(nbytes, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def iso(ts: float) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z`` suffix."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
