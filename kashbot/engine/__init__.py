"""The engine: typed events, the bus, strategies' host, supervision."""
