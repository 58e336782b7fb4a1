"""YAML config -> frozen pydantic models rejecting unknown keys; errors give file:line and key path.

* :mod:`kashbot.config.loader`: YAML -> data plus the line of each key path, ``${VAR}``
  interpolation, literal secrets refused, :class:`ConfigError` and problem formatting;
* :mod:`kashbot.config.models`: the sections (:class:`KashbotConfig` and its parts; the poller's
  and the stream's live in their source modules, which take them whole);
* :mod:`kashbot.config.check`: validation beyond the models (strategies, tier limits, live key),
  :func:`parse_config` / :func:`load_config` / :func:`effective_config_yaml`.

Everything is re-exported here: ``from kashbot.config import X`` is the way to import it.
"""

from kashbot.config.check import (
    effective_config_yaml,
    load_config,
    load_config_or_report,
    parse_config,
    validate_config,
)
from kashbot.config.loader import (
    SECRET_KEYS,
    ConfigError,
    KeyPath,
    Problem,
    dotted,
    line_for,
    read_yaml,
    validation_problems,
)
from kashbot.config.models import (
    AccountConfig,
    ControlConfig,
    EngineConfig,
    ExecutionConfig,
    KashbotConfig,
    LoggingConfig,
    MarketFees,
    MarketSelection,
    MetricsConfig,
    RedemptionConfig,
    RiskConfig,
    SimConfig,
    SimTruthConfig,
    SourcesConfig,
    StatusConfig,
    StoreConfig,
    StrategyConfig,
    Tier,
    VenueConfig,
    WebhookConfig,
)
from kashbot.sources.poller import PollerConfig
from kashbot.sources.stream import StreamConfig

__all__ = [
    "SECRET_KEYS",
    "AccountConfig",
    "ConfigError",
    "ControlConfig",
    "EngineConfig",
    "ExecutionConfig",
    "KashbotConfig",
    "KeyPath",
    "LoggingConfig",
    "MarketFees",
    "MarketSelection",
    "MetricsConfig",
    "PollerConfig",
    "Problem",
    "RedemptionConfig",
    "RiskConfig",
    "SimConfig",
    "SimTruthConfig",
    "SourcesConfig",
    "StatusConfig",
    "StoreConfig",
    "StrategyConfig",
    "StreamConfig",
    "Tier",
    "VenueConfig",
    "WebhookConfig",
    "dotted",
    "effective_config_yaml",
    "line_for",
    "load_config",
    "load_config_or_report",
    "parse_config",
    "read_yaml",
    "validate_config",
    "validation_problems",
]
