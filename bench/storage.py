"""Storage write throughput: creates/s with 1 vs N concurrent writers.

    .venv/bin/python bench/storage.py [--seconds 2] [--writers 1,8,64] [--url URL]

Without ``--url`` it benchmarks a fresh SQLite database in a temporary
directory and also prints the average group-commit batch size; with
``sqlite`` every acknowledged create is fsynced, so "1 writer" is about the
disk's fsync rate and the concurrent rows show group commit at work.
``--url etcd://127.0.0.1:2379`` benchmarks a running etcd instead.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from pinnace.storage import Backend, open_backend
from pinnace.storage.sqlite import SqliteBackend


async def run(store: Backend, writers: int, seconds: float, value: bytes) -> tuple[int, float]:
    prefix = f"/bench/{uuid.uuid4().hex[:8]}/"
    done = 0
    deadline = time.perf_counter() + seconds

    async def writer(w: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < deadline:
            await store.create(f"{prefix}{w}/{i}", value)
            i += 1
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return done, time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--writers", default="1,8,64")
    parser.add_argument("--value-size", type=int, default=1024)
    parser.add_argument("--url", help="storage URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    value = b"x" * args.value_size
    with tempfile.TemporaryDirectory(prefix="pinnace-bench-") as tmp:
        url = args.url or f"sqlite://{Path(tmp) / 'bench.db'}"
        store = open_backend(url)
        await store.start()
        try:
            print(f"{url}  value={args.value_size}B  {args.seconds:g}s per row")
            for writers in (int(w) for w in args.writers.split(",")):
                before = store.write_stats if isinstance(store, SqliteBackend) else None
                done, elapsed = await run(store, writers, args.seconds, value)
                line = f"{writers:>4} writers: {done / elapsed:>9.0f} creates/s"
                if before is not None and isinstance(store, SqliteBackend):
                    stats = store.write_stats
                    batches = max(stats.batches - before.batches, 1)
                    line += f"   ({(stats.ops - before.ops) / batches:.1f} writes per commit)"
                print(line, flush=True)
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
