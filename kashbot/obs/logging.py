"""structlog setup: JSON lines in production, readable on a terminal, secrets masked everywhere.

The masking processor is the last line of defence (the first is never logging a secret): any
value under a secret-looking key is replaced, and any string that contains a registered secret
or looks like a Kash key (``kash_live_…``, ``kash_test_…``) or webhook secret (``whsec_…``) has
that part replaced, whatever key it is under — including exception text.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from typing import Any, TextIO

import structlog

MASK = "***"
_SECRET_KEY_RE = re.compile(r"(api[_-]?key|secret|token|password|authorization)", re.I)
_SECRET_VALUE_RE = re.compile(r"(kash_(?:live|test)_|whsec_)[A-Za-z0-9_\-]{4,}")
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears in a log line."""
    if value and len(value) >= 6:
        _registered.add(value)


def mask_text(text: str) -> str:
    for secret in _registered:
        if secret in text:
            text = text.replace(secret, MASK)
    return _SECRET_VALUE_RE.sub(lambda m: m.group(1) + MASK, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {
            k: MASK if _SECRET_KEY_RE.search(str(k)) else _mask_value(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_mask_value(v) for v in value)
    return value


def mask_secrets(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor (runs after exceptions are rendered to text)."""
    for key in list(event_dict):
        if _SECRET_KEY_RE.search(key) and key not in ("event",):
            event_dict[key] = MASK
        else:
            event_dict[key] = _mask_value(event_dict[key])
    return event_dict


def configure(
    *,
    level: str = "info",
    fmt: str = "auto",
    stream: TextIO | None = None,
    writer: Callable[[str], None] | None = None,
) -> None:
    """Configure structlog once per process.

    ``fmt``: ``json``, ``console`` or ``auto`` (console when ``stream`` is a TTY). ``writer``
    (e.g. a rich console's print) takes precedence over ``stream`` so log lines can scroll above
    a live status view.
    """
    out = stream or sys.stderr
    pretty = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=writer is None and out.isatty())
        if pretty
        else structlog.processors.JSONRenderer()
    )
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,  # text first, so the masking sees it
        mask_secrets,
        renderer,
    ]
    factory: Any
    if writer is not None:
        factory = _WriterLoggerFactory(writer)
    else:
        factory = structlog.PrintLoggerFactory(out)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )


class _WriterLogger:
    def __init__(self, writer: Callable[[str], None]) -> None:
        self._writer = writer

    def msg(self, message: str) -> None:
        self._writer(message)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


class _WriterLoggerFactory:
    def __init__(self, writer: Callable[[str], None]) -> None:
        self._writer = writer

    def __call__(self, *args: Any) -> _WriterLogger:
        return _WriterLogger(self._writer)
