"""NautilusTrader's BacktestEngine on synthetic quote ticks: the same-run anchor for backtests.

    .venv/bin/python bench/bench_nautilus.py [--ticks 100000]

Prints one JSON object: ``{"version": ..., "rows": {name: ticks_per_second}}``, or
``{"absent": reason}`` when ``nautilus_trader`` is not installed (``pip install -e '.[bench]'``;
1.221.0 is the last release for Python 3.11). Each row is a fresh engine (logging bypassed, one
FX instrument on a simulated netting venue) replaying the same ticks; only ``engine.run()`` is
timed, as kashbot's rows time only the replay (tick construction and journal decoding excluded):

- ``ticks, no strategy``: the data loop alone;
- ``ticks, trivial strategy``: a strategy subscribed to the ticks that looks at each one;
- ``ticks, market order every N``: as above, a market order every N ticks (alternating side),
  each filled by the simulated exchange against the book the ticks build.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def _rows(n: int) -> dict[str, float]:
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig, StrategyConfig
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import QuoteTick
    from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money, Price, Quantity
    from nautilus_trader.test_kit.providers import TestInstrumentProvider
    from nautilus_trader.trading.strategy import Strategy

    venue = Venue("SIM")
    instrument = TestInstrumentProvider.default_fx_ccy("EUR/USD", venue)
    size = Quantity.from_int(1_000_000)
    prices = [Price.from_str(f"1.{10000 + i:05d}") for i in range(200)]
    ticks = [
        QuoteTick(
            instrument_id=instrument.id,
            bid_price=prices[i % 100],
            ask_price=prices[i % 100 + 2],
            bid_size=size,
            ask_size=size,
            ts_event=1_700_000_000_000_000_000 + i * 10_000_000,
            ts_init=1_700_000_000_000_000_000 + i * 10_000_000,
        )
        for i in range(n)
    ]

    class Config(StrategyConfig, frozen=True):
        every: int = 0

    class Bench(Strategy):
        def __init__(self, config: Config) -> None:
            super().__init__(config)
            self.every = config.every
            self.seen = 0

        def on_start(self) -> None:
            self.subscribe_quote_ticks(instrument.id)

        def on_quote_tick(self, tick: Any) -> None:
            self.seen += 1
            if self.every and self.seen % self.every == 0:
                side = OrderSide.BUY if self.seen // self.every % 2 else OrderSide.SELL
                qty = Quantity.from_int(1_000)
                self.submit_order(self.order_factory.market(instrument.id, side, qty))

    def run(strategy: Any) -> float:
        engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
        engine.add_venue(
            venue=venue,
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            base_currency=USD,
            starting_balances=[Money(10_000_000, USD)],
        )
        engine.add_instrument(instrument)
        engine.add_data(ticks)
        if strategy is not None:
            engine.add_strategy(strategy)
        t = time.perf_counter()
        engine.run()
        dt = time.perf_counter() - t
        engine.dispose()
        return n / dt

    return {
        "ticks, no strategy": run(None),
        "ticks, trivial strategy": run(Bench(Config())),
        "ticks, market order every 100": run(Bench(Config(every=100))),
        "ticks, market order every 1000": run(Bench(Config(every=1000))),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=100_000)
    n = ap.parse_args().ticks
    try:
        import nautilus_trader
    except ImportError as exc:
        print(json.dumps({"absent": f"nautilus_trader not importable ({exc})"}))
        return 0
    print(json.dumps({"version": nautilus_trader.__version__, "rows": _rows(n)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
