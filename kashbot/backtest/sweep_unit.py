"""The CLI's sweep unit: a backtest's metrics plus the sha256 of the report.json it would write.

The digest lets two sweeps (say the process pool's and a Dask cluster's) be checked for
identical results run by run, not only on the metrics a table shows.
"""

from __future__ import annotations

import hashlib
from typing import Any

import structlog

REPORT_DIGEST = "report_sha256"


def run_unit_digest(config: dict[str, Any], params: dict[str, Any], seed: int) -> dict[str, Any]:
    """:func:`kashbot.backtest.runner.run_unit` with ``report_sha256`` added to the metrics."""
    from kashbot.backtest.report import dumps_report
    from kashbot.backtest.runner import run_backtest
    from kashbot.backtest.sweep import apply_params

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    report = run_backtest(apply_params(config, params), seed=seed, params=params, progress=False)
    digest = hashlib.sha256(dumps_report(report.artifacts).encode("utf-8")).hexdigest()
    return {**report.metrics, REPORT_DIGEST: digest}
