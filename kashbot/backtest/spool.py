"""An append-only sequence kept on disk, so a backtest's per-trade and per-intent records do not
grow its memory with the run's length.

Items are pickled to an unnamed temporary file as they are appended (exact round trip: ints,
floats, strings) and read back, in order, each time the spool is iterated: the report's files
and the plots are written from it once, at the end of the run. Only the count stays in memory.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, Generic, TypeVar, overload

T = TypeVar("T")

_BUFFER = 64 * 1024  # write buffer of the spool file


class Spool(Sequence[T], Generic[T]):
    """Append-only, iterated from disk; ``len`` in O(1), indexing reads the file up to the item."""

    __slots__ = ("_file", "_n")

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(buffering=_BUFFER)  # noqa: SIM115
        self._n = 0

    def append(self, item: T) -> None:
        self._file.seek(0, 2)  # an iteration may have moved the position
        pickle.dump(item, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._n += 1

    def extend(self, items: Iterator[T] | Sequence[T]) -> None:
        for item in items:
            self.append(item)

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[T]:
        f = self._file
        f.flush()
        pos, n = 0, self._n  # items appended while iterating are not seen
        for _ in range(n):
            f.seek(pos)
            item: T = pickle.load(f)
            pos = f.tell()
            yield item

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            picked = range(*i.indices(self._n))
            wanted = set(picked)
            found = {k: item for k, item in enumerate(self) if k in wanted}  # one pass
            return [found[k] for k in picked]
        j = i + self._n if i < 0 else i
        if not 0 <= j < self._n:
            raise IndexError("spool index out of range")
        for k, item in enumerate(self):
            if k == j:
                return item
        raise IndexError("spool index out of range")  # pragma: no cover - n items were written

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Spool | list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def close(self) -> None:
        """Drop the file (also done when the spool is garbage-collected)."""
        self._file.close()

    def __repr__(self) -> str:
        return f"Spool({self._n} items)"
