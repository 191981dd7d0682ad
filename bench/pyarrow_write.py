"""The pyarrow baseline of Halo's Parquet export benchmark.

Usage: python3 bench/pyarrow_write.py N FILE...

Reads each FILE (the rows of an exported table, written by the Go
benchmark) into an Arrow table, outside the timing, then writes every table
N times to a file in a temporary directory with zstd level 1 and dictionary
encoding (pyarrow's defaults apart from the codec), the settings of Halo's
writer. Prints "<rows per second> rows/s <bytes> bytes" on one line: all
rows written over the time taken, and the size of one round of files.
"""

import os
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq


def main() -> None:
    n = max(1, int(sys.argv[1]))
    tables = [pq.read_table(p) for p in sys.argv[2:]]
    rows = sum(t.num_rows for t in tables)
    size = 0
    with tempfile.TemporaryDirectory() as d:
        start = time.perf_counter()
        for _ in range(n):
            for i, t in enumerate(tables):
                pq.write_table(t, os.path.join(d, f"{i}.parquet"), compression="zstd", compression_level=1)
        elapsed = time.perf_counter() - start
        size = sum(os.path.getsize(os.path.join(d, f"{i}.parquet")) for i in range(len(tables)))
    print(f"{rows * n / elapsed:.0f} rows/s {size} bytes")


if __name__ == "__main__":
    main()
