"""Backtests on the same engine, strategies and risk gate as live trading."""
