"""The pyarrow baseline of Halo's Parquet export benchmark.

Usage: python3 bench/pyarrow_write.py FILE N

Reads FILE (rows of an exported table, written by the Go benchmark) into an
Arrow table, outside the timing, then writes it N times to an in-memory
buffer with zstd level 1 and dictionary encoding (pyarrow's defaults apart
from the codec), the settings of Halo's writer. Prints
"<rows per second> rows/s <bytes> bytes" on one line.
"""

import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq


def main() -> None:
    path, n = sys.argv[1], max(1, int(sys.argv[2]))
    table = pq.read_table(path)
    size = 0
    start = time.perf_counter()
    for _ in range(n):
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd", compression_level=1)
        size = sink.getvalue().size
    elapsed = time.perf_counter() - start
    print(f"{table.num_rows * n / elapsed:.0f} rows/s {size} bytes")


if __name__ == "__main__":
    main()
