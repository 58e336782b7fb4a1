"""Composition roots and operator surfaces: the daemon, its control server, CLI commands."""
