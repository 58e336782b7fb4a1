"""Where a sweep's runs execute: the local process pool (default) or a Dask cluster.

Why Dask ``distributed`` rather than Ray: it is pure-Python wheels (no bundled raylet or
GCS binaries), a ``LocalCluster`` starts on 127.0.0.1 in a second with no dashboard and no
extra services, and the same ``Client`` connects to a scheduler on other machines
(``tcp://host:port``). Its ``submit``/``as_completed`` API matches ``concurrent.futures``, so
both backends run the same top-level unit of work on the same pickled arguments.

A backend only runs tasks and reports each outcome by task index as it completes; the caller
puts rows back in grid order, so results never depend on which worker finished first. An
exception in a run is reported as ``"<Type>: <message>"`` the same way on both backends.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Protocol

from kashbot.backtest.sweep import SweepError, Unit

Task = tuple[dict[str, Any], int]  # (params, seed); the base config is shared by every task
Outcome = tuple[int, dict[str, Any] | None, str | None]  # (task index, metrics, error)

CLUSTER_ENV = "KASHBOT_CLUSTER"
INSTALL_HINT = "pip install 'kashbot[cluster]'"


class ClusterError(SweepError):
    """A bad ``--cluster`` value, a missing Dask install, or an unreachable scheduler."""


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class SweepBackend(Protocol):
    """Runs ``unit(config, params, seed)`` for every task; yields outcomes as they complete."""

    description: str

    def run(
        self, unit: Unit, config: dict[str, Any], tasks: Sequence[Task]
    ) -> Iterator[Outcome]: ...


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """``local`` (``workers`` None = one per core) or ``address`` of an existing scheduler."""

    workers: int | None = None
    address: str | None = None


def parse_cluster(spec: str) -> ClusterSpec:
    """``local``, ``local:N`` or ``tcp://host:port``; anything else names the flag and value."""
    text = spec.strip()
    if text == "local":
        return ClusterSpec()
    if text.startswith("local:"):
        count = text.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise ClusterError(f"--cluster {spec!r}: local:N needs a worker count N >= 1")
        return ClusterSpec(workers=int(count))
    if text.startswith(("tcp://", "tls://")):
        host, _, port = text.split("://", 1)[1].rpartition(":")
        if not host or not port.isdigit():
            raise ClusterError(f"--cluster {spec!r}: expected tcp://host:port")
        return ClusterSpec(address=text)
    raise ClusterError(f"--cluster {spec!r}: expected local, local:N or tcp://host:port")


class ProcessPoolBackend:
    """The default: a ``ProcessPoolExecutor`` on this machine."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.description = f"process pool, {self.workers} workers"

    def run(self, unit: Unit, config: dict[str, Any], tasks: Sequence[Task]) -> Iterator[Outcome]:
        with ProcessPoolExecutor(max_workers=min(self.workers, max(1, len(tasks)))) as pool:
            futures: dict[Future[dict[str, Any]], int] = {
                pool.submit(unit, config, params, seed): i for i, (params, seed) in enumerate(tasks)
            }
            for fut in as_completed(futures):
                try:
                    yield futures[fut], fut.result(), None
                except Exception as exc:  # a bad point is a row, not the end of the sweep
                    yield futures[fut], None, describe_error(exc)


class DaskBackend:
    """A ``distributed.Client`` on a started ``LocalCluster`` or on a remote scheduler."""

    def __init__(self, client: Any, description: str) -> None:
        self.client = client
        self.description = description

    def warm(self, module: str = "kashbot.backtest.runner") -> None:
        """Import the backtest code on every worker now: spawned workers start bare, and a
        worker without kashbot installed is reported here, by address, not per run."""
        try:
            self.client.run(importlib.import_module, module)
        except ImportError as exc:
            raise ClusterError(
                f"--cluster: a worker of {self.description} cannot import {module} "
                f"({describe_error(exc)}); install kashbot on the workers"
            ) from exc

    def run(self, unit: Unit, config: dict[str, Any], tasks: Sequence[Task]) -> Iterator[Outcome]:
        dask_completed: Any = _import_distributed().as_completed

        run_id = uuid.uuid4().hex[:12]
        # The base config goes to the workers once, not once per task.
        [base] = self.client.scatter([config], broadcast=True, hash=False)
        futures = [
            self.client.submit(
                unit, base, params, seed, key=f"kashbot-sweep-{run_id}-{i}", pure=False, retries=0
            )
            for i, (params, seed) in enumerate(tasks)
        ]
        index = {fut.key: i for i, fut in enumerate(futures)}
        try:
            for fut in dask_completed(futures):
                i = index[fut.key]
                if fut.status == "error":
                    yield i, None, describe_error(fut.exception())
                else:
                    yield i, fut.result(), None
                fut.release()
        finally:
            self.client.cancel(futures)
            base.release()


# Scheduler and workers on 127.0.0.1, ephemeral ports, no dashboard. The scheduler always
# serves /health and /metrics over HTTP, on 8787 unless given an address: port 0 avoids
# colliding with (and warning about) another cluster on the machine.
LOOPBACK_CLUSTER: dict[str, Any] = {
    "host": "127.0.0.1",
    "scheduler_port": 0,
    "dashboard_address": "127.0.0.1:0",
    "scheduler_kwargs": {"dashboard": False},
    "silence_logs": logging.CRITICAL,  # a failed run is a row with its error, not a log line
}


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(
            f"--cluster needs Dask distributed, which is not installed ({exc}); {INSTALL_HINT}"
        ) from exc
    return distributed


@contextlib.contextmanager
def dask_backend(spec: ClusterSpec, *, connect_timeout_s: float = 10.0) -> Iterator[DaskBackend]:
    """Start a loopback ``LocalCluster`` (no dashboard) or connect to ``spec.address``."""
    distributed = _import_distributed()
    if spec.address is not None:
        try:
            client = distributed.Client(spec.address, timeout=connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"--cluster {spec.address}: cannot reach the Dask scheduler at {spec.address} "
                f"within {connect_timeout_s:g} s ({describe_error(exc)})"
            ) from exc
        with client:
            try:
                client.wait_for_workers(1, timeout=connect_timeout_s)
            except TimeoutError as exc:
                raise ClusterError(
                    f"--cluster {spec.address}: the scheduler has no workers "
                    f"after {connect_timeout_s:g} s"
                ) from exc
            workers = len(client.nthreads())
            backend = DaskBackend(client, f"dask scheduler {spec.address}, {workers} workers")
            backend.warm()
            yield backend
        return
    workers = spec.workers or os.cpu_count() or 1
    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,  # a backtest is CPU-bound Python: one per process
            processes=True,
            **LOOPBACK_CLUSTER,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        backend = DaskBackend(
            client, f"dask LocalCluster {cluster.scheduler_address}, {workers} workers"
        )
        backend.warm()
        yield backend


@contextlib.contextmanager
def open_backend(
    cluster: str | None, workers: int | None = None, *, connect_timeout_s: float = 10.0
) -> Iterator[SweepBackend]:
    """The process pool when ``cluster`` is None, else the Dask cluster it names.

    ``workers`` sizes the process pool or a plain ``local`` cluster; a ``local:N`` or
    ``tcp://`` cluster brings its own worker count, so giving both is an error.
    """
    if cluster is None:
        yield ProcessPoolBackend(workers)
        return
    spec = parse_cluster(cluster)
    if workers is not None:
        if spec.address is not None or spec.workers not in (None, workers):
            raise ClusterError(
                f"--workers {workers} with --cluster {cluster}: the cluster sets its own "
                "worker count (use --cluster local:N)"
            )
        spec = ClusterSpec(workers=workers)
    with dask_backend(spec, connect_timeout_s=connect_timeout_s) as backend:
        yield backend
