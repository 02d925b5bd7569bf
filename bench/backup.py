#!/usr/bin/env python3
"""BACKUP / RESTORE benchmark (issues 8 and 19): backstop against S3, next to reference tools on
the same files through the same link, in one run.

- s3s-fs (a fast S3-compatible server) on loopback, and a release backstop;
- two links to it: loopback, and a delay line (bench/delayproxy.py: every byte held --delay-ms
  in each direction, 10 ms by default, a 20 ms round trip) that backstop and the references
  all go through;
- two tables: few large rowsets (--gib GiB of Parquet input into 3 partitions x 16 tablets, one
  INSERT ... FROM FILES(), 48 rowsets) and many small ones (--small-rowsets rowsets of 50-500 KB
  made by that many / 6 small INSERT ... FROM FILES() loads into 3 partitions x 2 tablets; each
  load leaves one rowset per tablet);
- per table, ONE long-lived daemon does everything, never restarted: the load, per link a
  BACKUP and an unchanged re-BACKUP, then per link a RESTORE into a new database (its CHECKSUM
  compared with the source's); its resident memory (VmRSS) is sampled every 20 ms throughout,
  and its VmHWM read at the end;
- the references on the same rowset files through the same link, in the same run: rclone copy up
  (4 transfers, 8 MiB chunks, as backstop's defaults) and boto3's transfer manager down (what
  the AWS CLI runs, 4 requests in flight, 8 MiB parts; no interpreter start in the timing);
- with the delay line selected and the large table: the proxy's own cost, the references direct
  and through the line at 0 ms, back to back;
- next to each re-BACKUP, one LIST pass over the repository's objects through the same link
  (boto3): what learning the repository's contents costs at least;
- --extras (with loopback-large, issue 8): BACKUP to and RESTORE from a file:// repository
  against cp -r, cp -r + sync and rclone between folders; the tunables (parallel 1 and 8,
  part_size 32M); a max_bandwidth cap held within 10 %; a BACKUP through bench/faultproxy.py
  answering 20 % of requests with 503 SlowDown;
- every timed step starts after a sync, so none pays for the dirty pages of an earlier one;
- per case (link x table): BACKUP MB/s against rclone, RESTORE MB/s against boto3, the
  re-backup's time as a fraction of the full one, the objects it uploaded and the storage
  requests it made (from SHOW BACKUP's Progress, cross-checked with the daemon's metrics); per
  table the daemon's peak memory; the machine's load average over the run; PASS / FALL SHORT
  per target of issue 19.

Usage: bench/run backup [--gib 2] [--small-rowsets 1500] [--delay-ms 10]
                        [--cases loopback-large,loopback-small,delayed-large,delayed-small]
                        [--extras] [--dir WORK]
A quick run: bench/run backup --gib 0.25 --small-rowsets 300
"""

import argparse
import glob
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time

import boto3
import pyarrow.parquet as pq
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from s3transfer.manager import TransferManager
from s3transfer.subscribers import BaseSubscriber

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (MIB, TABLE_DDL, Daemon, MemorySampler, S3sFs, dir_bytes, make_parquet,  # noqa: E402
                      member_rows, rmtree)
from delayproxy import DelayProxy  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

PARALLEL = 4  # backstop's uploads/downloads in flight; the references get the same
CASES = ("loopback-large", "loopback-small", "delayed-large", "delayed-small")
# The many-small table: few tablets, so each small load leaves few rowsets.
SMALL_DDL = TABLE_DDL.replace("BUCKETS 16", "BUCKETS 2")
SMALL_TABLETS = 6
SMALL_ROWSET_KB = (60, 430)  # each load's mean rowset size is drawn from here (50-500 KB apart)
ROWSET_BYTES_PER_ROW = 18.5  # a rowset's bytes per row of member_rows (zstd), measured


def settle():
    """Writes back every dirty page first, so that a timed job or reference does not pay for the
    ones an earlier step left (a durable job's syncfs would flush them too)."""
    subprocess.run(["sync"], check=True)


def timed(fn):
    settle()
    start = time.monotonic()
    out = fn()
    return time.monotonic() - start, out


def requests_of(progress):
    """(total, "put 6, head 3") from a Progress cell's `requests: N (...)`; (None, "") without."""
    m = re.search(r"requests: (\d+) \(([^)]*)\)", progress or "")
    return (int(m.group(1)), m.group(2)) if m else (None, "")


def job(daemon, sql, kind, db):
    """Runs a BACKUP or RESTORE with "sync" = "true" (the statement answers when the job ended);
    returns its wall time and SHOW's row of it, with the storage requests the daemon's metrics
    counted meanwhile added as row["metrics_requests"] (a cross-check of Progress)."""
    settle()
    before = daemon.storage_requests() if daemon.metrics_port else None
    start = time.monotonic()
    daemon.sql(sql)
    elapsed = time.monotonic() - start
    row = daemon.show(f"SHOW {kind} FROM {db}")[0]
    if row["State"] != "FINISHED" or row["Status"] != "[OK]":
        raise SystemExit(f"{kind} failed: {row}")
    if before is not None:
        after = daemon.storage_requests()
        row["metrics_requests"] = {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}
    return elapsed, row


def rclone_env(s3, endpoint):
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)  # rclone 1.60 refuses to start with it set (toolchain.md)
    env.update({
        "RCLONE_CONFIG_T_TYPE": "s3", "RCLONE_CONFIG_T_PROVIDER": "Other",
        "RCLONE_CONFIG_T_ENDPOINT": endpoint, "RCLONE_CONFIG_T_REGION": "us-east-1",
        "RCLONE_CONFIG_T_ACCESS_KEY_ID": s3.ACCESS, "RCLONE_CONFIG_T_SECRET_ACCESS_KEY": s3.SECRET,
    })
    return env


def rclone_up(s3, endpoint, src, listing, dest):
    """rclone copy of the files in `listing` (relative to `src`) to s3://bench/`dest`."""
    cmd = ["rclone", "--transfers", str(PARALLEL), "--checkers", str(PARALLEL),
           "--s3-upload-concurrency", "1", "--s3-chunk-size", "8M", "--s3-upload-cutoff", "8M",
           "--s3-disable-checksum", "--retries", "3",
           "copy", "--files-from", listing, "--no-traverse", src, f"T:bench/{dest}"]
    done = subprocess.run(cmd, env=rclone_env(s3, endpoint), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError("rclone failed: " + done.stderr[-2000:])


def s3_client(s3, endpoint):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=s3.ACCESS,
        aws_secret_access_key=s3.SECRET,
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=PARALLEL * 2,
                      retries={"max_attempts": 3}))


def boto3_down(s3, endpoint, prefix, dest):
    """What `aws s3 cp --recursive` does, in process: list s3://bench/`prefix`, then download
    every object through one transfer manager with PARALLEL requests in flight and 8 MiB parts
    (sizes from the listing, no HEAD). Returns the bytes downloaded."""
    client = s3_client(s3, endpoint)
    config = TransferConfig(max_concurrency=PARALLEL, multipart_chunksize=8 * MIB, multipart_threshold=8 * MIB,
                            use_threads=True)

    class Size(BaseSubscriber):
        def __init__(self, size):
            self.size = size

        def on_queued(self, future, **kwargs):
            future.meta.provide_transfer_size(self.size)

    total = 0
    with TransferManager(client, config) as manager:
        futures = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=prefix + "/"):
            for obj in page.get("Contents", []):
                path = os.path.join(dest, os.path.relpath(obj["Key"], prefix))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                futures.append(manager.download("bench", obj["Key"], path, subscribers=[Size(obj["Size"])]))
                total += obj["Size"]
        for f in futures:
            f.result()
    return total


def rclone_local(src, dest):
    """rclone copy between two folders, as it downloads (PARALLEL transfers; it checks each
    copy's hash against its source's)."""
    done = subprocess.run(["rclone", "--transfers", str(PARALLEL), "--checkers", str(PARALLEL), "copy", src, dest],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError("rclone failed: " + done.stderr[-2000:])


def extras(daemon, s3, work, rowsets, size):
    """--extras (issue 8), on the large table, loopback: BACKUP to a file:// repository against
    cp -r (and cp -r + sync, as durable as backstop's copies), the download references of the
    RESTORE from it (run later), the tunables (parallel 1 and 8, part_size 32M), a max_bandwidth
    cap held within 10 %, and a BACKUP through bench/faultproxy.py answering 20 % of requests
    with 503 SlowDown."""
    out = {}
    local = os.path.join(work, "local-repo")
    rmtree(local)
    daemon.sql(f'CREATE REPOSITORY localrepo ON LOCATION "file://{local}"')
    out["backup_file"] = job(daemon, 'BACKUP SNAPSHOT bench.snap TO localrepo PROPERTIES ("sync" = "true")',
                             "BACKUP", "bench")
    out["file_timestamp"] = daemon.show("SHOW SNAPSHOT ON localrepo WHERE SNAPSHOT = 'snap'")[0]["Timestamp"]
    copy, back = os.path.join(work, "cp-up"), os.path.join(work, "cp-down")
    rmtree(copy)
    out["cp_up"], _ = timed(lambda: subprocess.run(["cp", "-r", rowsets, copy], check=True))
    rmtree(copy)
    out["cp_sync_up"], _ = timed(lambda: (subprocess.run(["cp", "-r", rowsets, copy], check=True),
                                          subprocess.run(["sync"], check=True)))
    rmtree(back)
    out["cp_down"], _ = timed(lambda: subprocess.run(["cp", "-r", copy, back], check=True))
    rmtree(back)
    out["cp_sync_down"], _ = timed(lambda: (subprocess.run(["cp", "-r", copy, back], check=True),
                                            subprocess.run(["sync"], check=True)))
    rmtree(back)
    out["rclone_local_down"], _ = timed(lambda: rclone_local(copy, back))
    rmtree(copy)
    rmtree(back)
    for name, props in [("parallel 1", '"parallel" = "1"'), ("parallel 8", '"parallel" = "8"'),
                        ("part_size 32M", '"part_size" = "32M"')]:
        prefix = "tune-" + name.replace(" ", "-")
        daemon.sql(f'CREATE REPOSITORY tune ON LOCATION "s3a://bench/{prefix}" {s3.properties()}')
        out[name] = job(daemon, f'BACKUP SNAPSHOT bench.tune TO tune PROPERTIES ({props}, "sync" = "true")',
                        "BACKUP", "bench")
        daemon.sql("DROP REPOSITORY tune")
        rmtree(os.path.join(s3.data, "bench", prefix))
    cap = 64 * MIB
    daemon.sql(f'CREATE REPOSITORY capped ON LOCATION "s3a://bench/capped" {s3.properties()}')
    secs, _ = job(daemon, 'BACKUP SNAPSHOT bench.capped TO capped PROPERTIES ("max_bandwidth" = "64M", '
                          '"sync" = "true")', "BACKUP", "bench")
    out["cap"] = (cap, size / secs)
    daemon.sql("DROP REPOSITORY capped")
    rmtree(os.path.join(s3.data, "bench", "capped"))
    proxy = FaultProxy(s3.port, 0.2)
    try:
        daemon.sql(f'CREATE REPOSITORY faulty ON LOCATION "s3a://bench/faulty" {s3.properties(proxy.endpoint)}')
        start = time.monotonic()
        daemon.sql("BACKUP SNAPSHOT bench.faulty TO faulty")
        row = daemon.wait_job("BACKUP", "bench")
        out["fault"] = (time.monotonic() - start, row["Status"], row["TaskErrMsg"], proxy.refused,
                        proxy.forwarded, proxy.concurrency())
        daemon.sql("DROP REPOSITORY faulty")
    finally:
        proxy.stop()
        rmtree(os.path.join(s3.data, "bench", "faulty"))
    return out


def list_pass(s3, endpoint, prefix):
    """Seconds of one LIST pass (ListObjectsV2 pages of 1,000) over s3://bench/`prefix`/ through
    `endpoint`: the floor of a re-backup that learns what the repository holds by listing."""
    client = s3_client(s3, endpoint)
    client.list_objects_v2(Bucket="bench", Prefix=prefix + "/", MaxKeys=1)  # connected, signing ready
    start = time.monotonic()
    for _ in client.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=prefix + "/"):
        pass
    return time.monotonic() - start


def objects_in(s3, prefix):
    return len([p for p in glob.glob(os.path.join(s3.data, "bench", prefix, "**", "*"), recursive=True)
                if os.path.isfile(p) and not os.path.basename(p).startswith(".")])


def small_inputs(work, rowsets):
    """The many-small table's input: one small Parquet file per load, each load's rowsets
    50-500 KB. Deterministic and kept in the work folder."""
    folder = os.path.join(work, f"small-{rowsets}")
    loads = -(-rowsets // SMALL_TABLETS)
    paths = [os.path.join(folder, f"load-{i:05}.parquet") for i in range(loads)]
    if all(os.path.exists(p) for p in paths):
        return paths
    print(f"generating {loads} small inputs ...", flush=True)
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(19)
    base = 0
    for path in paths:
        kb = rng.uniform(*SMALL_ROWSET_KB)
        rows = int(kb * 1000 * SMALL_TABLETS / ROWSET_BYTES_PER_ROW)
        pq.write_table(member_rows(base, rows), path + ".tmp", compression="snappy")
        os.rename(path + ".tmp", path)
        base += rows
    return paths


def run_table(work, s3, links, table, args):
    """One daemon: load, per link BACKUP + unchanged re-BACKUP, the references, per link
    RESTORE; returns what was measured."""
    out = {"links": {}}
    data_dir = os.path.join(work, f"daemon-{table}")
    rmtree(data_dir)
    if table == "large":
        src = os.path.join(work, f"input-{args.gib:g}gib.parquet")
        if not os.path.exists(src):
            print(f"generating the large input ({args.gib:g} GiB) ...", flush=True)
            make_parquet(src, args.gib)
        inputs = [src]
    else:
        inputs = small_inputs(work, args.small_rowsets)
    daemon = Daemon(data_dir, metrics=True)
    sampler = MemorySampler(daemon.proc.pid)
    try:
        sampler.phase = "load"
        daemon.sql("CREATE DATABASE bench")
        daemon.sql((TABLE_DDL if table == "large" else SMALL_DDL).format(name="bench.t"))
        print(f"{table}: loading {len(inputs)} file(s) ...", flush=True)
        start = time.monotonic()
        for path in inputs:
            daemon.sql(f'INSERT INTO bench.t SELECT * FROM FILES("path" = "file://{path}", "format" = "parquet")')
        out["load_secs"] = time.monotonic() - start
        out["loads"] = len(inputs)
        rowsets = os.path.join(data_dir, "data")
        files = sorted(os.path.relpath(p, rowsets) for p in glob.glob(os.path.join(rowsets, "**", "*.parquet"),
                                                                          recursive=True))
        sizes = sorted(os.path.getsize(os.path.join(rowsets, f)) for f in files)
        out["rowsets"] = len(files)
        out["size"] = sum(sizes)
        out["sizes"] = (sizes[0], sizes[len(sizes) // 2], sizes[-1])
        out["in_range"] = len([n for n in sizes if 50_000 <= n <= 500_000])
        sampler.phase = "idle"
        checksum = daemon.sql("CHECKSUM TABLE bench.t")[0][1]
        listing = os.path.join(work, f"files-{table}.txt")
        with open(listing, "w") as f:
            f.write("\n".join(files) + "\n")

        for link, endpoint in links.items():
            r = out["links"][link] = {}
            prefix = f"{table}-{link}"
            daemon.sql(f'CREATE REPOSITORY {link} ON LOCATION "s3a://bench/{prefix}" {s3.properties(endpoint)}')
            print(f"{table}, {link}: BACKUP, then again unchanged ...", flush=True)
            sampler.phase = f"BACKUP, {link}"
            r["backup"] = job(daemon, f'BACKUP SNAPSHOT bench.snap TO {link} PROPERTIES ("sync" = "true")',
                              "BACKUP", "bench")
            objects = os.path.join(prefix, link, "objects")
            r["objects"] = objects_in(s3, objects)
            sampler.phase = f"re-BACKUP, {link}"
            r["rebackup"] = job(daemon, f'BACKUP SNAPSHOT bench.again TO {link} PROPERTIES ("sync" = "true")',
                                "BACKUP", "bench")
            r["rebackup_uploaded"] = objects_in(s3, objects) - r["objects"]
            r["list_pass"] = list_pass(s3, endpoint, objects)
            r["timestamp"] = daemon.show(f"SHOW SNAPSHOT ON {link} WHERE SNAPSHOT = 'snap'")[0]["Timestamp"]
            sampler.phase = "idle"

        # The references, on the same rowset files through the same links.
        for link, endpoint in links.items():
            r = out["links"][link]
            print(f"{table}, {link}: references ...", flush=True)
            r["rclone_up"], r["boto3_down"] = references(work, s3, endpoint, rowsets, listing, out["size"],
                                                         f"ref-{table}-{link}")
        if table == "large" and "delayed" in links:
            print(f"{table}: the delay line's own cost (references through it at 0 ms) ...", flush=True)
            proxy = DelayProxy(s3.port, 0)
            try:
                # Direct, then through the line, back to back: the same conditions for both.
                out["direct"] = references(work, s3, s3.endpoint, rowsets, listing, out["size"], "ref-direct")
                cpu = proxy.cpu_seconds()
                out["proxy0"] = references(work, s3, proxy.endpoint, rowsets, listing, out["size"], "ref-proxy0")
                out["proxy0_cpu"] = proxy.cpu_seconds() - cpu
            finally:
                proxy.stop()
        if table == "large" and args.extras and "loopback" in links:
            print(f"{table}: extras: file://, tunables, bandwidth cap, 503 fault run ...", flush=True)
            sampler.phase = "extras (BACKUPs)"
            out["extras"] = extras(daemon, s3, work, rowsets, out["size"])
            sampler.phase = "idle"

        for link in links:
            r = out["links"][link]
            print(f"{table}, {link}: RESTORE ...", flush=True)
            db = f"restored_{link}"
            sampler.phase = f"RESTORE, {link}"
            r["restore"] = job(
                daemon, f'RESTORE SNAPSHOT {db}.snap FROM {link} PROPERTIES ("backup_timestamp" = '
                        f'"{r["timestamp"]}", "sync" = "true")', "RESTORE", db)
            sampler.phase = "idle"
            got = daemon.sql(f"CHECKSUM TABLE {db}.t")[0][1]
            assert got == checksum, f"{db}: checksum {got} != {checksum}"
        if "extras" in out:
            sampler.phase = "RESTORE, file://"
            out["extras"]["restore_file"] = job(
                daemon, f'RESTORE SNAPSHOT restored_file.snap FROM localrepo PROPERTIES ("backup_timestamp" = '
                        f'"{out["extras"]["file_timestamp"]}", "sync" = "true")', "RESTORE", "restored_file")
            sampler.phase = "idle"
            got = daemon.sql("CHECKSUM TABLE restored_file.t")[0][1]
            assert got == checksum, f"restored_file: checksum {got} != {checksum}"
            rmtree(os.path.join(work, "local-repo"))
        out["hwm"] = daemon.peak_mib()
    finally:
        sampler.stop()
        out["phases"] = sampler.peaks
        daemon.stop()
        rmtree(data_dir)
        for link in links:
            rmtree(os.path.join(s3.data, "bench", f"{table}-{link}"))
    return out


def references(work, s3, endpoint, rowsets, listing, size, prefix):
    """(rclone up, boto3 down) seconds for the rowset files through `endpoint`."""
    up, _ = timed(lambda: rclone_up(s3, endpoint, rowsets, listing, prefix))
    down = os.path.join(work, "download")
    rmtree(down)
    try:
        secs, got = timed(lambda: boto3_down(s3, endpoint, prefix, down))
        if got != size or dir_bytes(down) != size:
            raise RuntimeError(f"boto3 downloaded {dir_bytes(down)} of {size} bytes")
    finally:
        rmtree(down)
        rmtree(os.path.join(s3.data, "bench", prefix))  # disk: the copy is done with
    return up, secs


def report_extras(t):
    """The issue-8 lines of --extras; returns their verdicts."""
    x, mb, verdicts = t["extras"], t["size"] / 1e6, []
    print("extras (issue 8), large table, loopback, same daemon:")
    rows = [("BACKUP to file://", x["backup_file"][0], "cp -r", x["cp_up"], 0.9),
            ("BACKUP to file://", x["backup_file"][0], "cp -r + sync", x["cp_sync_up"], 0.9),
            ("RESTORE from file://", x["restore_file"][0], "rclone copy (folder)", x["rclone_local_down"], 0.8),
            ("RESTORE from file://", x["restore_file"][0], "cp -r", x["cp_down"], 0.8),
            ("RESTORE from file://", x["restore_file"][0], "cp -r + sync", x["cp_sync_down"], 0.8)]
    for name, secs, ref, ref_secs, target in rows:
        ratio = ref_secs / secs
        print(f"  {name:21} {mb / secs:8.1f} MB/s  {ref:21} {mb / ref_secs:8.1f} MB/s  {ratio:5.2f}x")
        verdicts.append((f"large: {name} >= {target}x {ref} ({ratio:.2f}x)", ratio >= target))
    base = mb / t["links"]["loopback"]["backup"][0]
    print(f"  tunables, BACKUP to S3: parallel 4 (default) {base:.1f} MB/s; " + "; ".join(
        f"{name} {mb / x[name][0]:.1f} MB/s" for name in ("parallel 1", "parallel 8", "part_size 32M")))
    cap, rate = x["cap"]
    print(f"  max_bandwidth 64M: {rate / MIB:.1f} MiB/s = {rate / cap:.1%} of the cap")
    verdicts.append(("large: max_bandwidth held within 10%", 0.9 <= rate / cap <= 1.1))
    secs, status, errors, refused, forwarded, (mean_in_flight, max_in_flight) = x["fault"]
    print(f"  fault run (503 SlowDown on {refused} of {refused + forwarded} requests): {status} in {secs:.1f} s, "
          f"TaskErrMsg {errors[-40:]!r}; requests in flight at arrival: mean {mean_in_flight:.2f}, "
          f"max {max_in_flight} (parallel {PARALLEL})")
    verdicts.append(("large: BACKUP through 20% 503s finishes and counts retries",
                     status == "[OK]" and "retries:" in errors))
    return verdicts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gib", type=float, default=2.0, help="input size of the few-large table in GiB")
    ap.add_argument("--small-rowsets", type=int, default=1500, help="rowsets of the many-small table")
    ap.add_argument("--delay-ms", type=float, default=10.0, help="the delay line's delay in each direction")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated, of " + ", ".join(CASES))
    ap.add_argument("--dir", default=None, help="work folder (default: a new temp folder)")
    ap.add_argument("--extras", action="store_true",
                    help="with loopback-large: also file://, the tunables, a bandwidth cap, a 503 fault run (issue 8)")
    args = ap.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for c in cases:
        if c not in CASES:
            ap.error(f"unknown case {c!r}: one of {', '.join(CASES)}")
    work = args.dir or tempfile.mkdtemp(prefix="backstop-bench-")
    os.makedirs(work, exist_ok=True)
    load = LoadSampler()
    s3 = S3sFs(work)
    s3.bucket("bench")
    proxy = None
    results = {}
    began = time.monotonic()
    try:
        if any(c.startswith("delayed") for c in cases):
            proxy = DelayProxy(s3.port, args.delay_ms)
        for table in ("large", "small"):
            links = {}
            for link, endpoint in (("loopback", s3.endpoint), ("delayed", proxy and proxy.endpoint)):
                if f"{link}-{table}" in cases:
                    links[link] = endpoint
            if links:
                results[table] = run_table(work, s3, links, table, args)
    finally:
        if proxy:
            results["proxy_cpu"] = proxy.cpu_seconds()
            proxy.stop()
        s3.stop()
        rmtree(s3.data)
    load.stop()
    results["load"] = load.samples
    report(results, args, time.monotonic() - began)


class LoadSampler:
    """The 1-minute load average every 10 s: how busy the machine was (the benchmark's own
    processes included)."""

    def __init__(self):
        self.samples = [os.getloadavg()[0]]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.wait(10):
            self.samples.append(os.getloadavg()[0])

    def stop(self):
        self.stopping.set()
        self.thread.join()
        self.samples.append(os.getloadavg()[0])


def report(results, args, wall):
    verdicts = []
    print()
    print(f"delay line: {args.delay_ms:g} ms each way ({2 * args.delay_ms:g} ms round trip); "
          f"{PARALLEL} in flight for backstop and the references; the whole run took {wall / 60:.1f} min")
    if "load" in results:
        samples = results["load"]
        print(f"machine: {os.cpu_count()} cores; 1-minute load average during the run: median "
              f"{sorted(samples)[len(samples) // 2]:.1f}, highest {max(samples):.1f}")
    head = (f"{'case':15} {'BACKUP':>7} {'rclone':>7} {'ratio':>6} {'RESTORE':>8} {'boto3':>7} {'ratio':>6}"
            f"  {'re-BACKUP':>9} {'% full':>7} {'uploaded':>8} {'requests':>9} {'limit':>6}")
    print(head)
    print(f"{'':15} {'MB/s':>7} {'MB/s':>7} {'':6} {'MB/s':>8} {'MB/s':>7}")
    for table in ("large", "small"):
        if table not in results:
            continue
        t = results[table]
        mb = t["size"] / 1e6
        for link, r in t["links"].items():
            case = f"{link}-{table}"
            backup_secs, _ = r["backup"]
            restore_secs, _ = r["restore"]
            re_secs, re_row = r["rebackup"]
            fraction = re_secs / backup_secs
            requests, kinds = requests_of(re_row["Progress"])
            if requests is None and "metrics_requests" in re_row:
                requests = sum(re_row["metrics_requests"].values())  # Progress did not say: the metrics
            limit = 2 * r["objects"] / 1000 + 20
            up_ratio = r["rclone_up"] / backup_secs
            down_ratio = r["boto3_down"] / restore_secs
            print(f"{case:15} {mb / backup_secs:7.1f} {mb / r['rclone_up']:7.1f} {up_ratio:6.2f} "
                  f"{mb / restore_secs:8.1f} {mb / r['boto3_down']:7.1f} {down_ratio:6.2f}  "
                  f"{re_secs:8.2f}s {fraction:7.1%} {r['rebackup_uploaded']:8} "
                  f"{requests:>9} {limit:6.0f}")
            verdicts += [
                (f"{case}: BACKUP >= 1.0x rclone copy up ({up_ratio:.2f}x)", up_ratio >= 1.0),
                (f"{case}: RESTORE >= 1.0x boto3 download ({down_ratio:.2f}x)", down_ratio >= 1.0),
                (f"{case}: unchanged re-BACKUP <= 5% of the full one ({fraction:.2%})", fraction <= 0.05),
                (f"{case}: unchanged re-BACKUP uploads 0 objects ({r['rebackup_uploaded']})",
                 r["rebackup_uploaded"] == 0),
                (f"{case}: unchanged re-BACKUP makes <= 2 x objects/1000 + 20 = {limit:.0f} storage requests "
                 f"({requests})",
                 requests <= limit),
            ]
    print()
    for table in ("large", "small"):
        if table not in results:
            continue
        t = results[table]
        lo, mid, hi = t["sizes"]
        print(f"{table} table: {t['rowsets']:,} rowsets, {t['size'] / MIB:,.0f} MiB (rowset sizes: min "
              f"{lo / 1000:,.0f} KB, median {mid / 1000:,.0f} KB, max {hi / 1000:,.0f} KB; {t['in_range']:,} "
              f"of 50-500 KB), loaded by "
              f"{t['loads']} INSERT(s) in {t['load_secs']:.1f} s")
        for link, r in t["links"].items():
            objects = r["objects"]
            print(f"  {link:8} one LIST pass over the repository's objects/ (boto3, same link): "
                  f"{r['list_pass']:.2f} s")
            for step in ("backup", "rebackup", "restore"):
                secs, row = r[step]
                requests, kinds = requests_of(row["Progress"])
                name = {"backup": "BACKUP", "rebackup": "re-BACKUP", "restore": "RESTORE"}[step]
                counted = row.get("metrics_requests", {})
                print(f"  {link:8} {name:9} {secs:7.2f} s, {objects} objects in the repository, storage requests: "
                      f"{'not in Progress' if requests is None else f'{requests} ({kinds})'}; metrics: "
                      f"{sum(counted.values())} ({', '.join(f'{op} {n}' for op, n in counted.items())})")
        phases = ", ".join(f"{p} {m:.0f}" for p, m in t["phases"].items() if p != "start")
        print(f"  daemon memory, one process from load to the last RESTORE: VmHWM {t['hwm']:.0f} MiB; "
              f"highest VmRSS sample per step (MiB): {phases}")
        verdicts.append((f"{table} table: daemon resident memory <= 256 MiB from load through RESTORE "
                         f"(VmHWM {t['hwm']:.0f} MiB)", t["hwm"] <= 256))
        if "proxy0" in t:
            mb = t["size"] / 1e6
            up0, down0 = t["proxy0"]
            up, down = t["direct"]
            print(f"  the delay line at 0 ms: rclone up {mb / up0:.1f} MB/s (direct {mb / up:.1f}), boto3 down "
                  f"{mb / down0:.1f} MB/s (direct {mb / down:.1f}); the proxy used {t['proxy0_cpu']:.1f} s of CPU "
                  f"for {2 * mb:,.0f} MB")
    if "large" in results and "extras" in results["large"]:
        verdicts += report_extras(results["large"])
    if "proxy_cpu" in results:
        print(f"the delay line used {results['proxy_cpu']:.1f} s of CPU over the run")
    print()
    for name, ok in verdicts:
        print(f"{'PASS' if ok else 'FALL SHORT':10} {name}")


if __name__ == "__main__":
    main()
