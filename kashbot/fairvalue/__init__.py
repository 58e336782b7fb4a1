"""Live fair values: pluggable sources, validation, combination and staleness.

See docs/fair-values.md. The daemon wires a :class:`FairValueHub` built by
:func:`build_sources`; backtests read an external file with :func:`load_fair_value_file`.
"""

from kashbot.fairvalue.backtest_input import FairValueFileError, load_fair_value_file
from kashbot.fairvalue.base import AnySource, Emit, FairValueSource, SourceParams
from kashbot.fairvalue.combine import CombineRule, combine
from kashbot.fairvalue.hub import FairValueHub
from kashbot.fairvalue.loader import (
    ENTRY_POINT_GROUP,
    FairValueConfigError,
    FairValuesConfig,
    SourceConfig,
    SourceLoadError,
    build_sources,
    load_source_class,
    validate_fair_values,
)
from kashbot.fairvalue.staleness import StalenessTracker, stale_markets, vouched_at
from kashbot.fairvalue.supervise import run_supervised
from kashbot.fairvalue.validate import RowError, to_wad_chances

__all__ = [
    "ENTRY_POINT_GROUP",
    "AnySource",
    "CombineRule",
    "Emit",
    "FairValueConfigError",
    "FairValueFileError",
    "FairValueHub",
    "FairValueSource",
    "FairValuesConfig",
    "RowError",
    "SourceConfig",
    "SourceLoadError",
    "SourceParams",
    "StalenessTracker",
    "build_sources",
    "combine",
    "load_fair_value_file",
    "load_source_class",
    "run_supervised",
    "stale_markets",
    "to_wad_chances",
    "validate_fair_values",
    "vouched_at",
]
