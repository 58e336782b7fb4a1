"""A small declarative path syntax to pick fields out of a JSON document.

``data.markets[*].prob`` : keys are separated by dots, ``[n]`` indexes a list, ``[*]`` fans out
over a list's items (or a mapping's values). ``""`` (or ``$``) is the document itself.
:func:`select` returns every match (``[*]`` may give many); :func:`select_one` wants exactly one.

A :class:`FieldMap` maps a feed's rows onto fair values: ``rows`` picks the row objects (with
``[*]``), the other paths are relative to one row. ``@key`` as a field path means "the mapping
key this row was found under" (``markets[*]`` over ``{"m1": {...}, "m2": {...}}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\*|-?\d+)\]|(\.)")

WILD = object()  # the [*] step


class PathError(ValueError):
    """A path that does not parse."""


@dataclass(frozen=True, slots=True)
class Path:
    text: str
    steps: tuple[str | int | object, ...]

    def __str__(self) -> str:
        return self.text


def parse(text: str) -> Path:
    """``a.b[0][*].c`` -> steps ``("a", "b", 0, WILD, "c")``; raises :class:`PathError`."""
    if text in ("", "$"):
        return Path(text, ())
    steps: list[str | int | object] = []
    pos = 0
    expect_key = True
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise PathError(f"bad path {text!r} at {pos}")
        key, index, dot = m.groups()
        if dot:
            if expect_key:
                raise PathError(f"bad path {text!r}: empty key at {pos}")
            expect_key = True
        elif key is not None:
            if not expect_key:
                raise PathError(f"bad path {text!r}: missing '.' before {key!r}")
            steps.append(key)
            expect_key = False
        else:
            steps.append(WILD if index == "*" else int(index))
            expect_key = False
        pos = m.end()
    if expect_key:
        raise PathError(f"bad path {text!r}: ends with '.'")
    return Path(text, tuple(steps))


def select(doc: Any, path: Path) -> list[tuple[str | None, Any]]:
    """Every value at ``path`` with the mapping key of the last ``[*]`` it came through."""
    current: list[tuple[str | None, Any]] = [(None, doc)]
    for step in path.steps:
        nxt: list[tuple[str | None, Any]] = []
        for key, node in current:
            if step is WILD:
                if isinstance(node, list):
                    nxt.extend((key, item) for item in node)
                elif isinstance(node, Mapping):
                    nxt.extend((str(k), v) for k, v in node.items())
            elif isinstance(step, int):
                if isinstance(node, list) and -len(node) <= step < len(node):
                    nxt.append((key, node[step]))
            elif isinstance(node, Mapping) and step in node:
                nxt.append((key, node[step]))
        current = nxt
    return current


class Missing(LookupError):
    """No value at a path that must have one."""


def select_one(doc: Any, path: Path, key: str | None = None) -> Any:
    if path.text == "@key":
        if key is None:
            raise Missing("@key: the row was not found under a mapping key")
        return key
    found = select(doc, path)
    if len(found) != 1:
        raise Missing(f"{path}: {len(found)} values, expected 1")
    return found[0][1]


class FieldMap(BaseModel):
    """Where a feed keeps its rows and, in each row, the market, chances, time and confidence.

    Exactly one of ``chances`` (a list of every outcome's chance) or ``p_yes`` (a binary
    market's first outcome; the other is ``1 - p_yes``; not ``yes``, which YAML reads as true)
    is set. ``market`` is a path in the row, ``market_id`` a constant for a single-market feed;
    ``markets`` renames the feed's ids to Kash market ids (an id not in it is skipped when it is
    given).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: str = Field("", description="path to the rows; use [*] for a list of rows")
    market: str | None = Field(None, description="path (in a row) of the market id, or @key")
    market_id: str | None = Field(None, description="a single-market feed's Kash market id")
    markets: dict[str, str] | None = Field(None, description="feed id -> Kash market id")
    chances: str | None = Field(None, description="path (in a row) of the list of chances")
    p_yes: str | None = Field(None, description="path (in a row) of a binary market's first chance")
    ts: str | None = Field(None, description="path (in a row) of the row's time (epoch s or ISO)")
    ts_unit: float = Field(1.0, gt=0, description="seconds per unit of ts (0.001 for ms)")
    confidence: str | None = Field(None, description="path (in a row) of a 0-1 confidence")

    @field_validator("rows", "market", "chances", "p_yes", "ts", "confidence")
    @classmethod
    def _parses(cls, v: str | None) -> str | None:
        if v is not None and v != "@key":
            parse(v)
        return v

    @model_validator(mode="after")
    def _one_of_each(self) -> FieldMap:
        if (self.chances is None) == (self.p_yes is None):
            raise ValueError("set exactly one of 'chances' or 'p_yes'")
        if (self.market is None) == (self.market_id is None):
            raise ValueError("set exactly one of 'market' (a path) or 'market_id' (a constant)")
        return self
