"""Example and user strategies (not installed: a config names them by dotted path, e.g.
``strategies.fair_gap:FairGap``, found from the config's folder or the working directory).

The built-in strategies are installed as :mod:`kashbot.strategies`.
"""
