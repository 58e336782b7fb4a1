"""Observability: logging setup, metrics, status view."""
