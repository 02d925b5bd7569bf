#!/usr/bin/env python3
"""Compaction benchmark (issue 19), in one long-lived release daemon:

- a DUPLICATE KEY table of 3 range partitions x 16 buckets (48 tablets) fed by --loads small
  INSERTs (default 1,000), each touching every tablet: about 48 x loads small rowset files;
- the same query timed (median of 3) and CHECKSUM TABLE before and after;
- a BACKUP to a file:// repository before compaction (what such a table costs to back up);
- background compaction turned on for the table (ALTER TABLE ... SET
  ("disable_auto_compaction" = "false"), daemon started with --compaction-interval 1): the time
  until every tablet holds at most --few files;
- after it: every row the same (all rows compared in key order), the same checksum, files per
  tablet, the query time, and a BACKUP whose upload (bytes of new objects) is measured against
  the table's size, restored into a new table and compared again.

Targets: at most --few (default 4) rowset files per tablet after compaction; the same rows and
checksum; the backup after compaction restores exact.

Usage: bench/run compaction [--loads 1000] [--rows-per-load 96] [--few 4] [--dir WORK]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BINARY, MIB, Daemon, dir_bytes, rmtree  # noqa: E402

DDL = (
    "CREATE TABLE bench.t (id BIGINT NOT NULL, day DATE NOT NULL, amount DECIMAL(12, 2), "
    "city INT, name STRING) DUPLICATE KEY(id) PARTITION BY RANGE(day) ("
    "PARTITION p2022 VALUES LESS THAN ('2023-01-01'), "
    "PARTITION p2023 VALUES LESS THAN ('2024-01-01'), "
    "PARTITION p2024 VALUES LESS THAN ('2025-01-01')) "
    "DISTRIBUTED BY HASH(id) BUCKETS 16 PROPERTIES (\"disable_auto_compaction\" = \"true\")"
)
QUERY = "SELECT count(*), sum(amount), count(DISTINCT city), max(name) FROM bench.t"
DAYS = ("2022-06-01", "2023-06-01", "2024-06-01")


def timed(fn):
    start = time.monotonic()
    out = fn()
    return time.monotonic() - start, out


def verdict(ok):
    return "PASS" if ok else "FALL SHORT"


def files_per_tablet(daemon, table="bench.t"):
    return [int(r["VersionCount"]) for r in daemon.show(f"SHOW TABLET FROM {table}")]


def table_bytes(daemon, table="bench.t"):
    return sum(int(r["DataSize"]) for r in daemon.show(f"SHOW TABLET FROM {table}"))


def query_time(daemon):
    daemon.sql(QUERY)
    return statistics.median(timed(lambda: daemon.sql(QUERY))[0] for _ in range(3))


def backup(daemon, label):
    daemon.sql(f"BACKUP SNAPSHOT bench.{label} TO repo ON (t)")
    row = daemon.wait_job("BACKUP", "bench")
    if row["Status"] != "[OK]":
        raise SystemExit(f"BACKUP failed: {row}")
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loads", type=int, default=1000, help="small INSERTs")
    ap.add_argument("--rows-per-load", type=int, default=96, help="rows of each INSERT")
    ap.add_argument("--few", type=int, default=4, help="target: files per tablet after compaction")
    ap.add_argument("--dir", default=None, help="work folder (default: a temp folder)")
    args = ap.parse_args()
    if not os.path.isfile(BINARY):
        sys.exit(f"{BINARY} is missing: run cargo build --release first")
    work = args.dir or tempfile.mkdtemp(prefix="backstop-bench-compaction-")
    os.makedirs(work, exist_ok=True)
    rmtree(os.path.join(work, "data"))
    rmtree(os.path.join(work, "repo"))
    daemon = Daemon(os.path.join(work, "data"), compaction_interval=1)
    try:
        daemon.sql("CREATE DATABASE bench")
        daemon.sql(DDL)
        n = args.rows_per_load

        def load_all():
            for load in range(args.loads):
                values = ", ".join(
                    f"({load * n + i}, '{DAYS[i % 3]}', {load}.{i % 100:02d}, {i % 50}, "
                    f"'name {load}-{i}')"
                    for i in range(n)
                )
                daemon.sql(f"INSERT INTO bench.t VALUES {values}")

        load_s, _ = timed(load_all)
        before_files = files_per_tablet(daemon)
        before_rows = daemon.sql("SELECT * FROM bench.t ORDER BY id")
        before_sum = daemon.sql("CHECKSUM TABLE bench.t")[0][1]
        before_query = query_time(daemon)
        size_before = table_bytes(daemon)
        repo = os.path.join(work, "repo")
        os.makedirs(repo, exist_ok=True)
        daemon.sql(f'CREATE REPOSITORY repo ON LOCATION "file://{repo}"')
        objects = os.path.join(repo, "repo", "objects")
        backup_before_s, _ = timed(lambda: backup(daemon, "before"))
        full_bytes = dir_bytes(objects)

        daemon.sql('ALTER TABLE bench.t SET ("disable_auto_compaction" = "false")')
        start = time.monotonic()
        while max(files_per_tablet(daemon)) > args.few:
            if time.monotonic() - start > 3600:
                raise SystemExit(f"compaction did not finish: {files_per_tablet(daemon)}")
            time.sleep(0.2)
        compact_s = time.monotonic() - start
        after_files = files_per_tablet(daemon)
        after_rows = daemon.sql("SELECT * FROM bench.t ORDER BY id")
        after_sum = daemon.sql("CHECKSUM TABLE bench.t")[0][1]
        after_query = query_time(daemon)
        size_after = table_bytes(daemon)

        backup_after_s, _ = timed(lambda: backup(daemon, "after"))
        upload = dir_bytes(objects) - full_bytes
        ts = daemon.show("SHOW SNAPSHOT ON repo WHERE SNAPSHOT = 'after'")[0]["Timestamp"]
        daemon.sql(f'RESTORE SNAPSHOT bench.after FROM repo ON (t AS copy) '
                   f'PROPERTIES ("backup_timestamp" = "{ts}")')
        restored = daemon.wait_job("RESTORE", "bench")
        copy_rows = daemon.sql("SELECT * FROM bench.copy ORDER BY id")
        copy_sum = daemon.sql("CHECKSUM TABLE bench.copy")[0][1]

        same = before_rows == after_rows and before_sum == after_sum
        exact = restored["Status"] == "[OK]" and copy_rows == before_rows and copy_sum == before_sum
        print(f"{args.loads:,} INSERTs of {n} rows into 48 tablets: {load_s:,.1f} s "
              f"({args.loads / load_s:,.0f} loads/s); {sum(before_files):,} rowset files "
              f"({min(before_files)}-{max(before_files)} per tablet), {size_before / MIB:,.1f} MiB")
        print(f"BACKUP before compaction: {backup_before_s:,.2f} s, {full_bytes / MIB:,.1f} MiB uploaded")
        print(f"compaction: {compact_s:,.1f} s until every tablet held <= {args.few} files; "
              f"{sum(after_files):,} files ({min(after_files)}-{max(after_files)} per tablet), "
              f"{size_after / MIB:,.1f} MiB | target <= {args.few} per tablet: "
              f"{verdict(max(after_files) <= args.few)}")
        print(f"query {before_query * 1000:,.0f} ms before, {after_query * 1000:,.0f} ms after "
              f"({before_query / after_query:,.1f}x faster)")
        print(f"rows and CHECKSUM TABLE the same after compaction: {verdict(same)}")
        print(f"BACKUP after compaction: {backup_after_s:,.2f} s, uploaded {upload / MIB:,.1f} MiB "
              f"= {upload / size_after:.0%} of the table (the merged files are new objects); "
              f"restored exact: {verdict(exact)}")
    finally:
        daemon.stop()
        if not args.dir:
            rmtree(work)


if __name__ == "__main__":
    main()
