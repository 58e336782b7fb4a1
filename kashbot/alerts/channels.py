"""An apprise URL as a :class:`~kashbot.alerts.dispatch.Channel` (a blocking sender).

The URL carries the channel's secret, so it is never logged: apprise's own logger and that of
urllib3 (which apprise's HTTP plugins use through requests; kashbot itself does not) are
silenced -- both name the host and path -- and failures are reported by channel name only.
"""

from __future__ import annotations

import logging

import apprise

from kashbot.alerts.config import Level
from kashbot.alerts.dispatch import Sender
from kashbot.alerts.rules import Alert

NOTIFY_TYPES: dict[Level, apprise.NotifyType] = {
    "info": apprise.NotifyType.INFO,
    "warning": apprise.NotifyType.WARNING,
    "error": apprise.NotifyType.FAILURE,
}


QUIET_LOGGERS = ("apprise", "urllib3")


def quiet_apprise() -> None:
    """Their stdlib log lines (printed even unconfigured, from WARNING up) carry the URL."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.propagate = False
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def valid_url(url: str) -> bool:
    """Does apprise know this URL's scheme and shape (no request is made)?"""
    quiet_apprise()
    return bool(apprise.Apprise().add(url))


def apprise_sender(url: str) -> Sender:
    def send(alert: Alert) -> bool:
        notifier = apprise.Apprise()
        notifier.add(url)
        return bool(
            notifier.notify(
                body=alert.body, title=alert.title, notify_type=NOTIFY_TYPES[alert.level]
            )
        )

    return send
