"""Supervised background tasks: restart with backoff, bounded shutdown, signal handling.

A source that crashes (a bug, an unexpected payload) must not take the daemon down or die
silently: it is logged and restarted after an exponential backoff that resets once the task has
run for a while. Backoff sleeps go through the injected clock, so tests use virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from kashbot.clock import Clock
from kashbot.retry import Backoff

log = structlog.get_logger("kashbot.supervisor")

TaskFactory = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class Supervised:
    name: str
    factory: TaskFactory
    restart: bool
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    last_error: str | None = None
    done: bool = False
    failures_in_row: int = field(default=0)


class Supervisor:
    """Runs named tasks, restarting failed ones with capped exponential backoff."""

    def __init__(
        self,
        clock: Clock,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        healthy_after: float = 60.0,
        max_failures_in_row: int | None = None,
        on_give_up: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self._clock = clock
        self._backoff = Backoff(backoff_initial, backoff_max)
        self._healthy_after = healthy_after
        self._max_failures = max_failures_in_row
        self._on_give_up = on_give_up
        self.children: dict[str, Supervised] = {}

    def spawn(self, name: str, factory: TaskFactory, *, restart: bool = True) -> None:
        if name in self.children and not self.children[name].done:
            raise ValueError(f"a supervised task named {name!r} is already running")
        child = Supervised(name, factory, restart)
        self.children[name] = child
        child.task = asyncio.create_task(self._run(child), name=f"supervised:{name}")

    def backoff(self, failures_in_row: int) -> float:
        """The wait before restarting after the ``failures_in_row``-th crash in a row (from 1)."""
        return self._backoff.delay(failures_in_row - 1)

    async def _run(self, child: Supervised) -> None:
        while True:
            started = self._clock.now()
            try:
                await child.factory()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a crashed child is logged and restarted, never silent
                child.last_error = f"{type(exc).__name__}: {exc}"
                if self._clock.now() - started >= self._healthy_after:
                    child.failures_in_row = 0
                child.failures_in_row += 1
                if not child.restart or (
                    self._max_failures is not None and child.failures_in_row > self._max_failures
                ):
                    log.error("task_gave_up", task=child.name, error=child.last_error)
                    child.done = True
                    if self._on_give_up is not None:
                        self._on_give_up(child.name, exc)
                    return
                delay = self.backoff(child.failures_in_row)
                log.warning(
                    "task_crashed",
                    task=child.name,
                    error=child.last_error,
                    restart_in_s=round(delay, 3),
                    restarts=child.restarts,
                )
                await self._clock.sleep(delay)
                child.restarts += 1
                continue
            child.done = True
            return

    async def stop(self, grace: float = 5.0) -> None:
        """Cancel every child and wait (at most ``grace`` seconds of loop time)."""
        tasks = [c.task for c in self.children.values() if c.task is not None and not c.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                log.error("task_ignored_cancel", task=task.get_name())
        for child in self.children.values():
            child.done = True


def install_signal_handlers(
    on_signal: Callable[[int], None],
    *,
    on_halt: Callable[[], None] | None = None,
    on_resume: Callable[[], None] | None = None,
) -> Callable[[], None]:
    """Route signals to the running loop; returns an uninstaller.

    SIGINT/SIGTERM -> ``on_signal(signum)`` (stop); SIGUSR1 -> ``on_halt`` and SIGUSR2 ->
    ``on_resume``: a kill switch for a process manager or ``kill -USR1 PID`` without the
    control endpoint.
    """
    loop = asyncio.get_running_loop()
    wanted: list[tuple[int, Callable[..., None], tuple[int, ...]]] = [
        (signal.SIGINT, on_signal, (int(signal.SIGINT),)),
        (signal.SIGTERM, on_signal, (int(signal.SIGTERM),)),
    ]
    if on_halt is not None and hasattr(signal, "SIGUSR1"):  # no SIGUSR1/2 on Windows
        wanted.append((signal.SIGUSR1, on_halt, ()))
    if on_resume is not None and hasattr(signal, "SIGUSR2"):
        wanted.append((signal.SIGUSR2, on_resume, ()))
    installed: list[int] = []
    for sig, handler, args in wanted:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # non-main thread, Windows
            loop.add_signal_handler(sig, handler, *args)
            installed.append(sig)

    def uninstall() -> None:
        for sig in installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)

    return uninstall
