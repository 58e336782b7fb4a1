"""Only the executor may place or confirm trades (contracts §C).

Scans kashbot/ and strategies/ for calls ``<x>.create_trade(`` / ``<x>.confirm_trade(``. Allowed:
the executor itself (its submit and follow parts); the venue implementations (kashbot/client,
kashbot/sim); and adapters that implement the TradingVenue method of the same name by delegating.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
GUARDED = {"create_trade", "confirm_trade"}
# the executor's parts: submit.py sends (create_trade), follow.py runs the confirm gate
ALLOWED_FILES = {Path("kashbot/execution/submit.py"), Path("kashbot/execution/follow.py")}
VENUE_DIRS = (Path("kashbot/client"), Path("kashbot/sim"))


def offending_calls(path: Path, source: str) -> list[str]:
    found: list[str] = []

    def visit(node: ast.AST, enclosing: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            name = enclosing
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr in GUARDED
                and enclosing != child.func.attr
            ):
                found.append(f"{path}:{child.lineno} calls .{child.func.attr}(")
            visit(child, name)

    visit(ast.parse(source), None)
    return found


def test_only_the_executor_places_trades() -> None:
    bad: list[str] = []
    for top in ("kashbot", "strategies"):
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel in ALLOWED_FILES or any(rel.is_relative_to(d) for d in VENUE_DIRS):
                continue
            bad += offending_calls(rel, path.read_text(encoding="utf-8"))
    assert bad == []


def test_the_scan_catches_a_direct_call() -> None:
    src = "async def f(c):\n    await c.create_trade('m', 0, 'buy', '1')\n"
    assert offending_calls(Path("x.py"), src) == ["x.py:2 calls .create_trade("]
    adapter = (
        "class A:\n    async def confirm_trade(self, t, k):\n"
        "        return await self.v.confirm_trade(t, k)\n"
    )
    assert offending_calls(Path("a.py"), adapter) == []
