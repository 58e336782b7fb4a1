"""The ETag cache stays bounded by entries and by the raw bytes of the bodies it holds.

A daemon's reconcile lookups page through ``GET /v1/trades`` with ever new cursors; with only an
entry cap (512) the cache filled with pages of 100 trades and the daemon's RSS kept rising. The
cache keeps the raw bytes (the parsed form took ~5x as much), so its byte budget is its memory.
"""

from __future__ import annotations

import json

from kashbot.client import KashClient
from kashbot.client.transport import ETAG_CACHE_BYTES, Transport

KEY = "kash_test_" + "Z" * 32


def _transport() -> Transport:
    client = KashClient(api_key=KEY, base_url="http://127.0.0.1:9/v1")
    return client._transport


def _body(n: int, pad: int = 0) -> bytes:
    raw = json.dumps({"data": n}).encode()
    return raw + b" " * max(0, pad - len(raw))


def test_cache_holds_at_most_its_byte_budget() -> None:
    t = _transport()
    page = ETAG_CACHE_BYTES // 10
    for i in range(1_000):
        t._remember(f"/trades?cursor={i}", f'"e{i}"', _body(i, page))
    assert t._etag_bytes <= ETAG_CACHE_BYTES
    assert len(t._etags) == 10
    assert sum(len(raw) for _, raw in t._etags.values()) == t._etag_bytes
    assert "/trades?cursor=999" in t._etags  # the newest stay, the oldest went
    assert all(isinstance(raw, bytes) for _, raw in t._etags.values())  # not parsed objects


def test_cache_holds_at_most_its_entry_cap_and_replaces_in_place() -> None:
    t = _transport()
    for i in range(2_000):
        t._remember(f"/markets/{i}", '"x"', _body(0, 20))
    assert len(t._etags) == t._etag_cache_size
    t._remember("/markets/1999", '"y"', _body(2, 50))  # same url: replaced, counted once
    assert len(t._etags) == t._etag_cache_size
    assert t._etag_bytes == 20 * (t._etag_cache_size - 1) + 50


def test_a_body_over_the_budget_is_not_cached() -> None:
    t = _transport()
    t._remember("/trades", '"a"', _body(1, 100))
    t._remember("/trades", '"b"', _body(2, ETAG_CACHE_BYTES + 1))
    assert "/trades" not in t._etags
    assert t._etag_bytes == 0
