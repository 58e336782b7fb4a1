"""Suite-wide fixtures.

structlog's configuration is process-global: a test that runs the CLI or the daemon (or calls
``kashbot.obs.logging.configure``) leaves e.g. an ERROR-level filtering logger behind, and a later
``structlog.testing.capture_logs()`` then sees nothing below that level (capture_logs swaps the
processors, not the level filter). Every test starts and ends on structlog's defaults.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
