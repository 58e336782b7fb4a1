"""A set of the newest ids, for dedupe that must not grow with a daemon's uptime."""

from __future__ import annotations

from collections import deque


class RecentIds:
    """The last ``cap`` distinct ids added, as a set: membership in O(1), oldest forgotten first.

    For dedupe of things that arrive twice close together (a trade seen by the stream and the
    poller, a fill reported by a webhook and a poll), where an id older than ``cap`` newer ones
    does not come back.
    """

    __slots__ = ("_ids", "_order", "cap")

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError(f"cap must be >= 1, got {cap}")
        self.cap = cap
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def add(self, item: str) -> None:
        if item in self._ids:
            return
        self._ids.add(item)
        self._order.append(item)
        if len(self._order) > self.cap:
            self._ids.discard(self._order.popleft())

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)
