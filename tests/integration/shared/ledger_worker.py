"""One "daemon" of the multi-process ledger test: reserve (and sometimes release) against a cap.

Run as ``python ledger_worker.py URL PREFIX KEY CAP N SEED``; waits for the ``go`` key so all
workers contend at once, then prints a JSON line: amounts it still holds, grants, denials.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time

from kashbot.shared.redis_client import SharedRedis, connect
from kashbot.shared.redis_ledger import RedisSpendLedger


async def main(url: str, prefix: str, key: str, cap: int, n: int, seed: int) -> None:
    rng = random.Random(seed)
    redis = SharedRedis(connect(url, timeout_s=5.0), prefix=prefix, op_timeout_s=5.0)
    ledger = RedisSpendLedger(redis, key, rejoin_grace_s=0.0)
    await ledger.join()
    while not await redis.command("go", "EXISTS", f"{prefix}:go"):  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    held: dict[str, int] = {}
    grants = denials = 0
    for i in range(n):
        if held and rng.random() < 0.25:
            await ledger.release(held.popitem()[0])
            continue
        entry_id, amount = f"{os.getpid()}-{i}", rng.randint(1, 9)
        if await ledger.reserve_within_cap(entry_id, amount, cap, time.time()):
            held[entry_id] = amount
            grants += 1
        else:
            denials += 1
    print(json.dumps({"held": held, "grants": grants, "denials": denials}))
    await redis.aclose()


if __name__ == "__main__":
    url, prefix, key, cap, n, seed = sys.argv[1:7]
    asyncio.run(main(url, prefix, key, int(cap), int(n), int(seed)))
