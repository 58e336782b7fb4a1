"""Executor and reconciler: idempotent submission and following trades to the end."""
