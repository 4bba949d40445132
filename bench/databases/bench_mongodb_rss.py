"""Peak RSS of the mongodb extractor's stream over 1M documents, on the secantusdb emulator
(no real mongod here). The emulator writes ~4,500 documents/s, so the set-up takes minutes.

    .venv/bin/python bench/databases/bench_mongodb_rss.py [documents]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests import servers
from tests.integration.databases.test_bounded_memory import peak_rss, stream_rows


def main() -> None:
    import pymongo

    docs = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    work = Path(tempfile.mkdtemp(prefix="ecluse-bench-mongo-"))
    url, proc = servers.start_mongodb(work / "data")
    try:
        coll: Any = pymongo.MongoClient(url).bench.big
        start = time.perf_counter()
        text = "x" * 150
        for first in range(0, docs, 50_000):
            coll.insert_many([{"_id": i, "v": text, "n": i * 0.5} for i in range(first, first + 50_000)],
                             ordered=False)
        print(f"emulator set-up: {docs} documents in {time.perf_counter() - start:.0f} s", flush=True)
        os.environ["ECLUSE_CONN_BENCH_MONGODB"] = url.replace("/?", "/bench?")
        with peak_rss() as growth:
            start = time.perf_counter()
            rows = stream_rows("mongodb", work, connection="bench-mongodb", collection="big")
            elapsed = time.perf_counter() - start
        print(f"| mongodb extractor, {rows:,} documents (emulator) | {elapsed:.2f} | "
              f"peak RSS +{growth():.0f} MB |")
    finally:
        proc.terminate()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
