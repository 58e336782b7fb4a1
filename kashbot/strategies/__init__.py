"""Built-in strategies, installed as ``kashbot.strategies``: a name that cannot clash in
site-packages (a top-level ``strategies`` package would)."""
