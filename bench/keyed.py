#!/usr/bin/env python3
"""PRIMARY KEY benchmark (issue 20), in one run and one long-lived release daemon:

- a PRIMARY KEY table of --gib GiB of Parquet input (3 range partitions x 16 buckets), loaded
  through FILES(), then backed up to s3s-fs;
- upserts of 1 % of its rows (an INSERT ... SELECT of every 100th id with a new amount), then
  a second BACKUP: the bytes it uploads (counted on the S3 server) against the table's size;
  target: at most 3 % of the table (the changed rows' new data files and the delete files,
  nothing rewritten);
- the same query over the PRIMARY KEY table (its rows spread over data files with deleted
  positions) and over a DUPLICATE KEY table holding exactly its visible rows: the ratio of
  their times (median of 5); target: at most 1.5x.

Also printed: the load time (beside the same load into a DUPLICATE KEY table) and upsert times (an upsert reads the key columns of the tablets it
touches: it has no in-memory key index yet) and CHECKSUM TABLE of both tables (equal).

Usage: bench/run keyed [--gib 0.25] [--dir WORK]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BINARY, MIB, Daemon, S3sFs, dir_bytes, make_parquet, rmtree  # noqa: E402

PK_DDL = (
    "CREATE TABLE {name} (id BIGINT NOT NULL, reg_date DATE NOT NULL, amount DOUBLE, city INT, "
    "name STRING) {key}({key_columns}) PARTITION BY RANGE(reg_date) ("
    "PARTITION p2022 VALUES LESS THAN ('2023-01-01'), "
    "PARTITION p2023 VALUES LESS THAN ('2024-01-01'), "
    "PARTITION p2024 VALUES LESS THAN ('2025-01-01')) "
    "DISTRIBUTED BY HASH(id) BUCKETS 16"
)
QUERY = "SELECT count(*), sum(amount), count(DISTINCT city), max(name) FROM {table}"


def timed(fn):
    start = time.monotonic()
    out = fn()
    return time.monotonic() - start, out


def backup(daemon, label):
    daemon.sql(f"BACKUP SNAPSHOT bench.{label} TO repo ON (pk)")
    row = daemon.wait_job("BACKUP", "bench")
    if row["Status"] != "[OK]":
        raise SystemExit(f"BACKUP failed: {row}")
    return row


def table_bytes(daemon, table):
    rows = daemon.show(f"SHOW TABLET FROM bench.{table}")
    return sum(int(r["DataSize"]) for r in rows)


def verdict(ok):
    return "PASS" if ok else "FALL SHORT"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=0.25, help="size of the input in GiB")
    ap.add_argument("--dir", default=None, help="work folder (default: a temp folder)")
    args = ap.parse_args()
    if not os.path.isfile(BINARY):
        sys.exit(f"{BINARY} is missing: run cargo build --release first")
    work = args.dir or tempfile.mkdtemp(prefix="backstop-bench-keyed-")
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, "input.parquet")
    if not os.path.exists(src):
        print("generating input ...", flush=True)
        make_parquet(src, args.gib)
    # A kept --dir keeps its input only: the daemon and the server start empty.
    rmtree(os.path.join(work, "data"))
    rmtree(os.path.join(work, "s3data"))
    s3 = S3sFs(work)
    s3.bucket("bench")
    daemon = Daemon(os.path.join(work, "data"))
    try:
        daemon.sql("CREATE DATABASE bench")
        daemon.sql(PK_DDL.format(name="bench.pk", key="PRIMARY KEY", key_columns="id, reg_date"))
        daemon.reset_peak()
        load_s, _ = timed(lambda: daemon.sql(
            f'INSERT INTO bench.pk SELECT * FROM FILES("path" = "file://{src}", "format" = "parquet")'))
        load_peak = daemon.peak_mib()
        rows = daemon.sql("SELECT count(*) FROM bench.pk")[0][0]
        size = table_bytes(daemon, "pk")
        daemon.sql(f'CREATE REPOSITORY repo ON LOCATION "s3a://bench/keyed" {s3.properties()}')
        objects = os.path.join(s3.data, "bench", "keyed", "repo", "objects")
        backup(daemon, "whole")
        full_bytes = dir_bytes(objects)

        upsert_s, _ = timed(lambda: daemon.sql(
            "INSERT INTO bench.pk SELECT id, reg_date, amount + 1, city, name FROM bench.pk "
            "WHERE id % 100 = 0"))
        changed = daemon.sql("SELECT count(*) FROM bench.pk WHERE id % 100 = 0")[0][0]
        backup(daemon, "after_upsert")
        upload = dir_bytes(objects) - full_bytes
        upload_share = upload / size

        daemon.sql(PK_DDL.format(name="bench.dup", key="DUPLICATE KEY", key_columns="id"))
        daemon.reset_peak()
        dup_load_s, _ = timed(lambda: daemon.sql(
            f'INSERT INTO bench.dup SELECT * FROM FILES("path" = "file://{src}", "format" = "parquet")'))
        dup_peak = daemon.peak_mib()
        daemon.sql("DROP TABLE bench.dup")
        daemon.sql(PK_DDL.format(name="bench.plain", key="DUPLICATE KEY", key_columns="id"))
        daemon.sql("INSERT INTO bench.plain SELECT * FROM bench.pk")
        sums = [daemon.sql(f"CHECKSUM TABLE bench.{t}")[0][1] for t in ("pk", "plain")]
        times = {}
        for table in ("pk", "plain"):
            daemon.sql(QUERY.format(table=f"bench.{table}"))  # warm the footers
            runs = [timed(lambda: daemon.sql(QUERY.format(table=f"bench.{table}")))[0] for _ in range(5)]
            times[table] = statistics.median(runs)
        query_ratio = times["pk"] / times["plain"]

        print(f"PRIMARY KEY table: {rows:,} rows, {size / MIB:,.1f} MiB in data files; "
              f"load {load_s:,.1f} s ({os.path.getsize(src) / MIB / load_s:,.1f} MiB/s of Parquet input); "
              f"the same load into a DUPLICATE KEY table {dup_load_s:,.1f} s; daemon peak memory "
              f"{load_peak:,.0f} MiB vs {dup_peak:,.0f} MiB")
        print(f"upsert of {changed:,} rows (1 %): {upsert_s:,.2f} s")
        print(f"BACKUP after the upsert uploaded {upload / MIB:,.2f} MiB = {upload_share:.2%} of the table "
              f"(full backup {full_bytes / MIB:,.1f} MiB) | target <= 3 %: {verdict(upload_share <= 0.03)}")
        print(f"query over the PRIMARY KEY table {times['pk'] * 1000:,.0f} ms, over a DUPLICATE KEY table of "
              f"the same rows {times['plain'] * 1000:,.0f} ms = {query_ratio:.2f}x | target <= 1.5x: "
              f"{verdict(query_ratio <= 1.5)}")
        print(f"CHECKSUM TABLE: {sums[0]} / {sums[1]} ({'equal' if sums[0] == sums[1] else 'DIFFERENT'})")
    finally:
        daemon.stop()
        s3.stop()
        if not args.dir:
            rmtree(work)


if __name__ == "__main__":
    main()
