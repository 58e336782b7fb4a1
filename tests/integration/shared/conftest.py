"""The real redis-server fixtures (tests/redis_server.py) for the shared-state tests."""

from redis_server import private_redis, redis_prefix, redis_server, redis_url

__all__ = ["private_redis", "redis_prefix", "redis_server", "redis_url"]
