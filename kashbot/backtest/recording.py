"""The journal format: a versioned, gzip-compressed JSONL file of engine events.

Line 1 is a header ``{"format": "kashbot-journal", "version": 1, "meta": {...}}`` (scenario,
config, seed, markets: whatever the recorder knew). Every further line is one event,
``{"type": "<class name>", "ts": <seconds>, <fields>...}``.

Integers are written as decimal *strings*: USDC atomic units and WAD values exceed 2**53, so a
JSON reader that maps numbers to doubles (most of them) would silently round money. The only
JSON numbers are times (``ts``, ``age``, ``freeze_at``, ``created_ts``), which are floats
anyway, and ``outcome`` indices. Lines are written with sorted keys, so the same events always
give the same bytes; the gzip header's mtime is pinned to 0 for the same reason.

``encode_event``/``decode_event`` are pure and exact inverses (property-tested); the codecs are
derived once from the dataclass type hints, so a field added to ``kashbot.events`` is
journalled without touching this file (a new *type* of field needs a codec here).
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Union

from kashbot import events as ev
from kashbot.amm import Pool

FORMAT_NAME = "kashbot-journal"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True, slots=True)
class StrategiesStopped(ev.Event):
    """Journal-only marker: the recorded run stopped its strategies here (shutdown began).

    Never on the bus. Events after it (trade updates, data during the shutdown grace) reached
    the engine but no strategy; an observed replay stops its strategies at the same line.
    """

    reason: str = "shutdown"


Recordable = ev.Event | ev.OrderIntent

RECORDABLE_TYPES: tuple[type[Any], ...] = (
    ev.MarketSnapshot,
    ev.PriceChange,
    ev.PredictionSeen,
    ev.QuoteSeen,
    ev.FairValueUpdate,
    ev.TradeUpdate,
    ev.PositionSync,
    ev.Timer,
    ev.StaleData,
    ev.DataFresh,
    ev.RiskDenied,
    ev.TradingStateChanged,
    ev.OrderIntent,
    StrategiesStopped,
)

# Integer fields that are indices, not amounts: kept as JSON numbers for readability.
_PLAIN_INT_FIELDS = frozenset({"outcome"})


class JournalFormatError(ValueError):
    """A journal line that is not valid for this format version (names the file and line)."""


_Enc = Callable[[Any], Any]
_Dec = Callable[[Any], Any]


def _ident(x: Any) -> Any:
    return x


def _enc_pool(p: Pool) -> dict[str, Any]:
    return {
        "reserve": str(p.reserve),
        "supplies": [str(s) for s in p.supplies],
        "weights": [str(w) for w in p.weights],
    }


def _dec_pool(d: Mapping[str, Any]) -> Pool:
    return Pool(
        reserve=_dec_int(d["reserve"]),
        supplies=tuple(_dec_int(s) for s in d["supplies"]),
        weights=tuple(_dec_int(w) for w in d["weights"]),
    )


def _enc_int_tuple(t: tuple[int, ...]) -> list[str]:
    return [str(x) for x in t]


def _dec_int_tuple(x: list[str]) -> tuple[int, ...]:
    return tuple(_dec_int(v) for v in x)


def _dec_float(x: Any) -> float:
    if not isinstance(x, int | float) or isinstance(x, bool):
        raise TypeError(f"expected a number, got {type(x).__name__}")
    return float(x)


def _dec_int(x: Any) -> int:
    if isinstance(x, str):
        return int(x)  # "1.5" raises ValueError
    if isinstance(x, int) and not isinstance(x, bool):
        return x
    raise TypeError(f"expected an integer string, got {type(x).__name__}")


def _dec_str(x: Any) -> str:
    if not isinstance(x, str):
        raise TypeError(f"expected a string, got {type(x).__name__}")
    return x


def _dec_bool(x: Any) -> bool:
    if not isinstance(x, bool):
        raise TypeError(f"expected a boolean, got {type(x).__name__}")
    return x


def _dec_plain_int(x: Any) -> int:
    if not isinstance(x, int) or isinstance(x, bool):
        raise TypeError(f"expected an integer, got {type(x).__name__}")
    return x


def _dec_str_tuple(x: list[str]) -> tuple[str, ...]:
    return tuple(_dec_str(v) for v in x)


def _dec_str_dict(x: dict[str, str]) -> dict[str, str]:
    return {_dec_str(k): _dec_str(v) for k, v in x.items()}


def _codec_for(tp: Any, field_name: str) -> tuple[_Enc, _Dec]:
    """(encoder, decoder) for one annotated field type."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"{field_name}: unsupported union {tp}")
        enc, dec = _codec_for(args[0], field_name)
        return (
            lambda x: None if x is None else enc(x),
            lambda x: None if x is None else dec(x),
        )
    if tp is float:
        return _ident, _dec_float
    if tp is str:
        return _ident, _dec_str
    if tp is bool:
        return _ident, _dec_bool
    if tp is int:
        if field_name in _PLAIN_INT_FIELDS:
            return _ident, _dec_plain_int
        return str, _dec_int
    if tp is Pool:
        return _enc_pool, _dec_pool
    if isinstance(tp, type) and issubclass(tp, str):  # StrEnum: Side, TradingState
        return str, tp
    if origin is tuple:
        item = typing.get_args(tp)
        if len(item) == 2 and item[1] is Ellipsis:
            if item[0] is int:
                return _enc_int_tuple, _dec_int_tuple
            if item[0] is str:
                return list, _dec_str_tuple
    if origin is dict and typing.get_args(tp) == (str, str):
        return dict, _dec_str_dict
    raise TypeError(f"{field_name}: no journal codec for type {tp}")


@dataclasses.dataclass(frozen=True, slots=True)
class _TypeCodec:
    cls: type[Any]
    fields: tuple[tuple[str, _Enc, _Dec, bool], ...]  # name, enc, dec, required
    names: frozenset[str]


def _build_codec(cls: type[Any]) -> _TypeCodec:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        enc, dec = _codec_for(hints[f.name], f"{cls.__name__}.{f.name}")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out.append((f.name, enc, dec, required))
    return _TypeCodec(cls, tuple(out), frozenset(n for n, *_ in out) | {"type"})


_CODECS: dict[str, _TypeCodec] = {c.__name__: _build_codec(c) for c in RECORDABLE_TYPES}
_CODEC_BY_CLASS: dict[type[Any], _TypeCodec] = {c.cls: c for c in _CODECS.values()}


def encode_event(event: Recordable) -> dict[str, Any]:
    """An event as a JSON-ready dict (integers as strings, enums as their values)."""
    codec = _CODEC_BY_CLASS.get(type(event))
    if codec is None:
        raise TypeError(f"not a journalled type: {type(event).__name__}")
    out: dict[str, Any] = {"type": codec.cls.__name__}
    for name, enc, _dec, _req in codec.fields:
        out[name] = enc(getattr(event, name))
    return out


def decode_event(obj: Mapping[str, Any]) -> Recordable:
    """The inverse of :func:`encode_event`; raises ``JournalFormatError`` naming the bad field."""
    kind = obj.get("type")
    codec = _CODECS.get(kind) if isinstance(kind, str) else None
    if codec is None:
        raise JournalFormatError(f"unknown event type {kind!r}")
    kwargs: dict[str, Any] = {}
    for name, _enc, dec, required in codec.fields:
        if name in obj:
            try:
                kwargs[name] = dec(obj[name])
            except (TypeError, ValueError, KeyError) as exc:
                raise JournalFormatError(f"{kind}.{name}: {exc}") from exc
        elif required:
            raise JournalFormatError(f"{kind}.{name}: missing")
    unknown = obj.keys() - codec.names
    if unknown:
        raise JournalFormatError(f"{kind}: unknown fields {sorted(unknown)}")
    return typing.cast(Recordable, codec.cls(**kwargs))


def dumps_event(event: Recordable) -> str:
    """One journal line (no newline): compact, sorted keys, so equal events give equal bytes."""
    return json.dumps(encode_event(event), sort_keys=True, separators=(",", ":"))


def loads_event(line: str | bytes) -> Recordable:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise JournalFormatError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise JournalFormatError("an event line must be a JSON object")
    return decode_event(obj)


@dataclasses.dataclass(frozen=True, slots=True)
class JournalHeader:
    format: str
    version: int
    meta: dict[str, Any]

    def to_line(self) -> str:
        return json.dumps(
            {"format": self.format, "version": self.version, "meta": self.meta},
            sort_keys=True,
            separators=(",", ":"),
        )


def _parse_header(line: str, where: str) -> JournalHeader:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise JournalFormatError(f"{where}:1: header is not JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
        raise JournalFormatError(f"{where}:1: not a {FORMAT_NAME} file (header.format)")
    version = obj.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise JournalFormatError(f"{where}:1: header.version must be an integer")
    if version > FORMAT_VERSION or version < 1:
        raise JournalFormatError(
            f"{where}:1: header.version {version} is not supported (this kashbot reads "
            f"1..{FORMAT_VERSION})"
        )
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise JournalFormatError(f"{where}:1: header.meta must be an object")
    return JournalHeader(FORMAT_NAME, version, meta)


def _open_text_write(path: Path) -> IO[str]:
    raw = path.open("wb")
    # filename="" and mtime=0: the compressed bytes depend only on the events.
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
    return io.TextIOWrapper(gz, encoding="utf-8", newline="\n")


def _open_text_read(path: Path) -> IO[str]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return path.open("r", encoding="utf-8")  # plain JSONL is accepted too (hand-written data)


class JournalWriter:
    """Appends events to a journal file; usable as a bus subscriber (``writer(event)``).

    Output events (our trade lifecycle, denials, intents) are recorded as well as inputs: a
    backtest replays only the inputs, the rest is there for analysis and parity checks.
    """

    def __init__(self, path: str | Path, meta: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = _open_text_write(self.path)
        self.count = 0
        header = JournalHeader(FORMAT_NAME, FORMAT_VERSION, dict(meta or {}))
        self._fh.write(header.to_line() + "\n")

    def write(self, event: Recordable) -> None:
        if self._fh is None:
            raise ValueError(f"journal {self.path} is closed")
        self._fh.write(dumps_event(event) + "\n")
        self.count += 1

    __call__ = write

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JournalReader:
    """Reads a journal: ``header`` at once, then events lazily by iteration."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"journal not found: {self.path}")
        self._fh = _open_text_read(self.path)
        try:
            first = self._fh.readline()
        except (OSError, EOFError) as exc:
            self._fh.close()
            raise JournalFormatError(f"{self.path}: cannot read: {exc}") from exc
        if not first:
            self._fh.close()
            raise JournalFormatError(f"{self.path}:1: empty file (no header)")
        try:
            self.header = _parse_header(first, str(self.path))
        except JournalFormatError:
            self._fh.close()
            raise

    def __iter__(self) -> Iterator[Recordable]:
        lineno = 1
        try:
            for line in self._fh:
                lineno += 1
                if not line.strip():
                    continue
                try:
                    yield loads_event(line)
                except JournalFormatError as exc:
                    raise JournalFormatError(f"{self.path}:{lineno}: {exc}") from exc
        except (OSError, EOFError) as exc:  # truncated gzip (a crashed recorder)
            raise JournalFormatError(f"{self.path}:{lineno}: cannot read: {exc}") from exc

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journal(path: str | Path) -> tuple[JournalHeader, list[Recordable]]:
    """The whole journal in memory (a backtest replays it more than once in a sweep)."""
    with JournalReader(path) as reader:
        return reader.header, list(reader)


def write_journal(
    path: str | Path, events: typing.Iterable[Recordable], meta: Mapping[str, Any] | None = None
) -> int:
    """Write a complete journal; returns the number of events."""
    with JournalWriter(path, meta) as w:
        for e in events:
            w.write(e)
        return w.count
