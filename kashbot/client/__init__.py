"""Async client for the Kash REST API v1."""
