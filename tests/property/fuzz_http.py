"""Shared pieces of the HTTP fuzz suites (issue 13): hostile text, a log watch, one loop.

Hypothesis drives a synchronous test; each example runs on one long-lived event loop
(``asyncio.Runner``) where the server under test also lives, so examples cost milliseconds.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import structlog
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Bounded and derandomised: the same examples on every CI run, well under a minute in all.
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Numbers as a hostile peer writes them: Unicode digits, 5,000 digits, signs, floats, junk.
HOSTILE_NUMBERS = st.sampled_from(
    [
        "",
        "0",
        "-1",
        "+5",
        "1_000",
        " 7 ",
        "1.5",
        "1e400",
        "nan",
        "inf",
        "²",
        "٣",
        "１２",
        "9" * 5000,
        "1" * 4301,
        "0x10",
        "１" * 20,
        "\u00a0",
    ]
)
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("²٣１é"),
    max_size=80,
)
NUMBERISH = HOSTILE_NUMBERS | HEADER_TEXT | st.integers().map(str)
BODIES = (
    st.binary(max_size=300)
    | st.text(max_size=200).map(str.encode)
    | st.sampled_from([b"[" * 5000, b'{"a":' * 3000, b"1" * 5000, b"null", b"{}", b"[]"])
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)


class LogWatch:
    """Collects anything that looks like a traceback: stdlib records with exc_info or at
    ERROR from aiohttp (its "Error handling request"), and structlog events with exc_info."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []
        self.events: list[dict[str, Any]] = []

    def tracebacks(self) -> list[str]:
        found = [r.getMessage() for r in self.records if r.exc_info or r.levelno >= logging.ERROR]
        found += [str(e) for e in self.events if e.get("exc_info") or "exception" in e]
        return found


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


@contextlib.contextmanager
def watch_logs() -> Iterator[LogWatch]:
    watch = LogWatch()
    handler = _Collect(watch.records)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with structlog.testing.capture_logs() as events:
            watch.events = events
            yield watch
    finally:
        root.removeHandler(handler)
