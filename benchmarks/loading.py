"""The loading reference: the time Arrow alone takes to decompress and parse the four
input files (``pyarrow.csv.read_csv`` with its defaults, multi-threaded, or
``pyarrow.parquet.read_table``), printed as JSON.

    python benchmarks/loading.py DIR csv.gz

``bench.py`` runs this in a process of its own, next to the flag job, and prints the
flag job's loading stage as a multiple of it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TABLES = ("accounts", "identifiers", "edges", "enforcement")


def arrow_read_seconds(folder: Path, ext: str) -> dict[str, float]:
    """Seconds to read each table with Arrow alone (no validation, no pandas)."""
    out = {}
    for name in TABLES:
        t = time.perf_counter()
        table = pq.read_table(folder / f"{name}.{ext}") if ext == "parquet" \
            else pacsv.read_csv(folder / f"{name}.{ext}")
        out[name] = round(time.perf_counter() - t, 3)
        del table
    return out


if __name__ == "__main__":
    seconds = arrow_read_seconds(Path(sys.argv[1]), sys.argv[2])
    print(json.dumps({"seconds": round(sum(seconds.values()), 3), "tables": seconds}))
