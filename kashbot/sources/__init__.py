"""Event sources: poller, webhook receiver, stream, replay."""
