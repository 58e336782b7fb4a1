"""kashbot: an asyncio framework for market-making bots on Kash."""

__version__ = "0.1.0"
