#!/usr/bin/env python3
"""Load benchmark (issue 4): INSERT INTO t SELECT * FROM FILES(<parquet>) through a release
backstop, next to a reference measured in the same run on the same file: pyarrow reading the
file and rewriting it as zstd Parquet (what a load must at least do). Prints throughput, the
ratio to the reference, and the daemon's peak memory (VmHWM) for 1x and 4x data, which must stay
flat.

Usage: bench/run load [--gib 1]
"""

import argparse
import os
import sys
import tempfile
import time

import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BINARY, MIB, TABLE_DDL, Daemon, make_parquet, rmtree  # noqa: E402


def reference(src, dst):
    """pyarrow: stream the file batch by batch and rewrite it as zstd Parquet."""
    start = time.monotonic()
    f = pq.ParquetFile(src)
    writer = pq.ParquetWriter(dst, f.schema_arrow, compression="zstd")
    for batch in f.iter_batches(batch_size=65536):
        writer.write_batch(batch)
    writer.close()
    return time.monotonic() - start


def load(path, work):
    data_dir = os.path.join(work, "data")
    daemon = Daemon(data_dir)
    try:
        daemon.sql("CREATE DATABASE bench")
        daemon.sql(TABLE_DDL.format(name="bench.t"))
        idle = daemon.peak_mib()
        daemon.reset_peak()
        start = time.monotonic()
        daemon.sql(f'INSERT INTO bench.t SELECT * FROM FILES("path" = "file://{path}", "format" = "parquet")')
        elapsed = time.monotonic() - start
        peak = daemon.peak_mib()
        rows = daemon.sql("SELECT count(*) FROM bench.t")[0][0]
        return elapsed, rows, idle, peak
    finally:
        daemon.stop()
        rmtree(data_dir)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=1.0, help="size of the 1x file in GiB")
    ap.add_argument("--dir", default=None, help="work folder (default: a temp folder)")
    args = ap.parse_args()
    if not os.path.isfile(BINARY):
        sys.exit(f"{BINARY} is missing: run cargo build --release first")
    work = args.dir or tempfile.mkdtemp(prefix="backstop-bench-")
    os.makedirs(work, exist_ok=True)
    results = []
    for factor in (1, 4):
        src = os.path.join(work, f"input-{factor}x.parquet")
        if not os.path.exists(src):
            print(f"generating {factor}x input ...", flush=True)
            make_parquet(src, args.gib * factor)
        size = os.path.getsize(src)
        ref = reference(src, os.path.join(work, "reference-out.parquet"))
        os.remove(os.path.join(work, "reference-out.parquet"))
        elapsed, rows, idle, peak = load(src, work)
        mib = size / MIB
        results.append((factor, mib, rows, ref, elapsed, idle, peak))
        print(
            f"{factor}x: {mib:,.0f} MiB, {rows:,} rows | reference (pyarrow rewrite) {mib / ref:,.1f} MiB/s"
            f" | backstop FILES() load {mib / elapsed:,.1f} MiB/s = {ref / elapsed:.2f}x reference"
            f" | daemon peak RSS during the load {peak:,.0f} MiB (idle {idle:,.0f} MiB)",
            flush=True,
        )
    (_, _, _, _, _, _, peak1), (_, _, _, _, _, _, peak4) = results
    print(f"peak memory 4x / 1x = {peak4 / peak1:.2f} (flat means about 1)")


if __name__ == "__main__":
    main()
