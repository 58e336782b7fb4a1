"""Operator alerts through apprise (Telegram, Slack, Discord, e-mail, a plain JSON webhook...).

:mod:`~kashbot.alerts.rules` decides what deserves a notification (pure),
:mod:`~kashbot.alerts.dispatch` deduplicates, rate-limits and sends it off the trading path,
:mod:`~kashbot.alerts.service` listens to the engine's bus and runs the periodic checks.
The daemon wires it in :mod:`kashbot.app.alerting`.
"""
