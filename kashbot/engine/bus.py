"""In-process event dispatch: an inbox for producers and a type-indexed handler table.

Why not ``asyncio.Queue`` plus a task per handler: a backtest pushes hundreds of thousands of
events a second, and each ``Queue.put``/``get`` pair or ``create_task`` costs several loop
iterations. Here producers append to a ``deque`` (O(1), no await) and set one wake-up event only
when the consumer is actually asleep; the consumer drains the deque in a tight loop and calls
plain synchronous handlers looked up by the event's exact type (one dict lookup per event, the
handler tuple for a type is cached and rebuilt only on subscribe).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from kashbot.events import Event

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], None]


class Bus:
    """Synchronous publish/subscribe keyed on the event's concrete class.

    A handler subscribed to a base class (e.g. ``Event``) receives every subclass too; the
    resolution is done once per concrete type and cached, so the hot path is one dict lookup.
    Handlers must not block: they run inline, in subscription order.
    """

    __slots__ = ("_by_type", "_cache")

    def __init__(self) -> None:
        self._by_type: dict[type[Event], list[Handler]] = {}
        self._cache: dict[type[Event], tuple[Handler, ...]] = {}

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> None:
        self._by_type.setdefault(kind, []).append(handler)
        self._cache.clear()

    def handlers_for(self, kind: type[Event]) -> tuple[Handler, ...]:
        found = self._cache.get(kind)
        if found is None:
            found = tuple(
                h for base in kind.__mro__ if base in self._by_type for h in self._by_type[base]
            )
            self._cache[kind] = found
        return found

    def publish(self, event: Event) -> None:
        handlers = self._cache.get(type(event))
        if handlers is None:
            handlers = self.handlers_for(type(event))
        for handler in handlers:
            handler(event)


class Inbox:
    """A single-consumer FIFO that producers feed without awaiting.

    ``put`` is safe from any coroutine or callback on the loop's thread. The consumer calls
    ``wait`` when the deque is empty; the wake-up event is set only if it is asleep, so a busy
    consumer costs producers one ``deque.append`` per event.
    """

    __slots__ = ("_items", "_sleeping", "_wake", "items")

    def __init__(self) -> None:
        self._items: deque[Event] = deque()
        # the same deque, read-only by convention: a backtest's hot loop tests it for
        # emptiness without a method call per event (``Engine.feed``)
        self.items = self._items
        self._wake = asyncio.Event()
        self._sleeping = False

    def put(self, event: Event) -> None:
        self._items.append(event)
        if self._sleeping:
            self._wake.set()

    def __len__(self) -> int:
        return len(self._items)

    def popleft(self) -> Event:
        return self._items.popleft()

    def wake(self) -> None:
        """Wake a sleeping consumer without an event (used to stop it)."""
        self._wake.set()

    async def wait(self) -> None:
        """Sleep until something is put (returns at once if the inbox is not empty)."""
        if self._items:
            return
        self._sleeping = True
        try:
            await self._wake.wait()
        finally:
            self._sleeping = False
            self._wake.clear()
