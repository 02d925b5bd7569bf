#!/usr/bin/env python3
"""BACKUP / RESTORE benchmark (issue 8), on loopback, in one run:

- s3s-fs (a fast S3-compatible server) and a release backstop;
- a table of --gib GiB of Parquet input (3 partitions x 16 tablets), loaded through backstop's
  own FILES() path, at 1x and 4x;
- BACKUP to S3 and to a file:// repository, a second BACKUP of the unchanged table, RESTORE
  from each into a fresh daemon;
- the references on the same rowset files: rclone copy to the same S3 server with the same
  parallelism (4 files at a time); the AWS CLI's recursive copy back (4 requests at a time: rclone
  with --files-from --no-traverse downloaded at 9.5-36 MB/s, which is not a sound reference);
  cp -r for the local folder (and cp -r + sync, as durable as backstop's copies); for the
  restore from a folder also rclone copy between two folders (it checks each copy's hash);
- every timed step starts after a sync, so none pays for the dirty pages of an earlier one;
- at 1x: the tunables' effect (parallel 1 and 8, part_size 32M), a max_bandwidth cap held within
  10 %, and a fault run through a proxy answering 20 % of requests with 503 SlowDown;
- one table: MB/s of each job and reference, the ratio, the daemon's peak memory (VmHWM) per
  job, the re-backup's time as a fraction of the full one; PASS / FALL SHORT per target.

Usage: bench/run backup [--gib 2] [--dir WORK]
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import MIB, TABLE_DDL, Daemon, S3sFs, dir_bytes, make_parquet, rmtree  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

PARALLEL = 4  # backstop's uploads/downloads in flight; the references get the same


def timed(fn):
    settle()
    start = time.monotonic()
    out = fn()
    return time.monotonic() - start, out


def settle():
    """Writes back every dirty page first, so that a timed job or reference does not pay for the
    ones an earlier step left (a durable job's syncfs would flush them too)."""
    subprocess.run(["sync"], check=True)


def job(daemon, sql, kind, db):
    settle()
    daemon.reset_peak()
    start = time.monotonic()
    daemon.sql(sql)
    row = daemon.wait_job(kind, db)
    elapsed = time.monotonic() - start
    status = row["Status"]
    if status != "[OK]":
        raise SystemExit(f"{kind} failed: {row}")
    return elapsed, daemon.peak_mib()


def rclone_env(s3):
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)  # rclone 1.60 refuses to start with it set (toolchain.md)
    env.update({
        "RCLONE_CONFIG_T_TYPE": "s3", "RCLONE_CONFIG_T_PROVIDER": "Other",
        "RCLONE_CONFIG_T_ENDPOINT": s3.endpoint, "RCLONE_CONFIG_T_REGION": "us-east-1",
        "RCLONE_CONFIG_T_ACCESS_KEY_ID": s3.ACCESS, "RCLONE_CONFIG_T_SECRET_ACCESS_KEY": s3.SECRET,
    })
    return env


def rclone(s3, *args):
    cmd = ["rclone", "--transfers", str(PARALLEL), "--checkers", str(PARALLEL),
           "--s3-upload-concurrency", "1", "--s3-chunk-size", "8M", "--s3-upload-cutoff", "8M",
           "--s3-disable-checksum", "--retries", "3", *args]
    done = subprocess.run(cmd, env=rclone_env(s3), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError("rclone failed: " + done.stderr[-2000:])


def aws_cli(s3, *args):
    """The AWS CLI (installed by bench/run) with PARALLEL requests in flight and 8 MiB parts."""
    config = os.path.join(s3.data, "..", "aws-config")
    with open(config, "w") as f:
        f.write("[default]\nregion = us-east-1\ns3 =\n"
                f"  max_concurrent_requests = {PARALLEL}\n  multipart_chunksize = 8MB\n"
                "  multipart_threshold = 8MB\n  addressing_style = path\n")
    env = dict(os.environ, AWS_CONFIG_FILE=config, AWS_ACCESS_KEY_ID=s3.ACCESS,
               AWS_SECRET_ACCESS_KEY=s3.SECRET)
    env.pop("AWS_CA_BUNDLE", None)
    aws = os.path.join(os.path.dirname(sys.executable), "aws")
    done = subprocess.run([aws, "--endpoint-url", s3.endpoint, "s3", *args], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError("aws s3 failed: " + done.stderr[-2000:])


def drop_prefix(s3, prefix):
    rmtree(os.path.join(s3.data, "bench", prefix))


def extras(source, s3, size):
    """1x only: tunables, the bandwidth cap, and the 503 fault run; each to a fresh prefix."""
    out = {}
    for name, props in [("parallel 1", '"parallel" = "1"'), ("parallel 8", '"parallel" = "8"'),
                        ("part_size 32M", '"part_size" = "32M"')]:
        prefix = "tune-" + name.replace(" ", "-")
        source.sql(f'CREATE REPOSITORY tune ON LOCATION "s3a://bench/{prefix}" {s3.properties()}')
        out[name] = job(source, f"BACKUP SNAPSHOT bench.tune TO tune PROPERTIES ({props})", "BACKUP", "bench")
        source.sql("DROP REPOSITORY tune")
        drop_prefix(s3, prefix)
    cap = 64 * MIB
    source.sql(f'CREATE REPOSITORY capped ON LOCATION "s3a://bench/capped" {s3.properties()}')
    secs, _ = job(source, 'BACKUP SNAPSHOT bench.capped TO capped PROPERTIES ("max_bandwidth" = "64M")',
                  "BACKUP", "bench")
    out["cap"] = (cap, size / secs)
    source.sql("DROP REPOSITORY capped")
    drop_prefix(s3, "capped")
    proxy = FaultProxy(s3.port, 0.2)
    try:
        props = s3.properties().replace(s3.endpoint, proxy.endpoint)
        source.sql(f'CREATE REPOSITORY faulty ON LOCATION "s3a://bench/faulty" {props}')
        source.reset_peak()
        start = time.monotonic()
        source.sql("BACKUP SNAPSHOT bench.faulty TO faulty")
        row = source.wait_job("BACKUP", "bench")
        out["fault"] = (time.monotonic() - start, row["Status"], row["TaskErrMsg"], proxy.refused,
                        proxy.forwarded, proxy.concurrency())
        source.sql("DROP REPOSITORY faulty")
    finally:
        proxy.stop()
        drop_prefix(s3, "faulty")
    return out


def objects_in(s3, prefix):
    return len([p for p in glob.glob(os.path.join(s3.data, "bench", prefix, "**", "*"), recursive=True)
                if os.path.isfile(p) and not os.path.basename(p).startswith(".")])


def run_factor(work, s3, gib, factor):
    src = os.path.join(work, f"input-{factor}x.parquet")
    if not os.path.exists(src):
        print(f"generating {factor}x input ({gib * factor:g} GiB) ...", flush=True)
        make_parquet(src, gib * factor)
    out = {}
    source = Daemon(os.path.join(work, f"source-{factor}x"))
    try:
        source.sql("CREATE DATABASE bench")
        source.sql(TABLE_DDL.format(name="bench.t"))
        print(f"{factor}x: loading ...", flush=True)
        source.sql(f'INSERT INTO bench.t SELECT * FROM FILES("path" = "file://{src}", "format" = "parquet")')
        # A fresh process for the jobs: the peaks below are the jobs' own, not the load's
        # memory still resident.
        source.restart()
        rowsets = os.path.join(source.data_dir, "data")
        size = dir_bytes(rowsets)
        out["size"] = size
        checksum = source.sql("CHECKSUM TABLE bench.t")[0][1]
        s3_prefix = f"f{factor}"
        local = os.path.join(work, f"local-repo-{factor}x")
        source.sql(f'CREATE REPOSITORY s3repo ON LOCATION "s3a://bench/{s3_prefix}" {s3.properties()}')
        source.sql(f'CREATE REPOSITORY localrepo ON LOCATION "file://{local}"')
        print(f"{factor}x: backups ...", flush=True)
        out["backup_s3"] = job(source, "BACKUP SNAPSHOT bench.snap TO s3repo", "BACKUP", "bench")
        out["backup_file"] = job(source, "BACKUP SNAPSHOT bench.snap TO localrepo", "BACKUP", "bench")
        before = objects_in(s3, s3_prefix + "/s3repo/objects")
        out["rebackup_s3"] = job(source, "BACKUP SNAPSHOT bench.again TO s3repo", "BACKUP", "bench")
        out["rebackup_uploaded"] = objects_in(s3, s3_prefix + "/s3repo/objects") - before
        if factor == 1:
            print(f"{factor}x: tunables, bandwidth cap, 503 fault run ...", flush=True)
            out["extras"] = extras(source, s3, size)
        ts_s3 = source.show("SHOW SNAPSHOT ON s3repo WHERE SNAPSHOT = 'snap'")[0]["Timestamp"]
        ts_file = source.show("SHOW SNAPSHOT ON localrepo WHERE SNAPSHOT = 'snap'")[0]["Timestamp"]

        # References on the same rowset files, same parallelism.
        files = sorted(os.path.relpath(p, rowsets) for p in glob.glob(os.path.join(rowsets, "*", "*.parquet")))
        listing = os.path.join(work, f"files-{factor}x.txt")
        with open(listing, "w") as f:
            f.write("\n".join(files) + "\n")
        print(f"{factor}x: references ...", flush=True)
        out["rclone_up"], _ = timed(lambda: rclone(s3, "copy", "--files-from", listing, "--no-traverse",
                                                   rowsets, f"T:bench/rclone-{factor}x"))
        down = os.path.join(work, f"aws-down-{factor}x")
        try:
            out["aws_down"], _ = timed(lambda: aws_cli(s3, "cp", "--recursive", "--only-show-errors",
                                                       f"s3://bench/rclone-{factor}x", down))
            if dir_bytes(down) != size:
                raise RuntimeError(f"the AWS CLI downloaded {dir_bytes(down)} of {size} bytes")
        except RuntimeError as e:
            print(f"{factor}x: the download reference failed: {e}", flush=True)
            out["aws_down"] = None
        rmtree(down)
        rmtree(os.path.join(s3.data, "bench", f"rclone-{factor}x"))  # disk: the copy is done with
        copy = os.path.join(work, f"cp-{factor}x")
        out["cp_up"], _ = timed(lambda: subprocess.run(["cp", "-r", rowsets, copy], check=True))
        rmtree(copy)
        out["cp_sync_up"], _ = timed(lambda: (subprocess.run(["cp", "-r", rowsets, copy], check=True),
                                              subprocess.run(["sync"], check=True)))
        back = os.path.join(work, f"cp-back-{factor}x")
        out["cp_down"], _ = timed(lambda: subprocess.run(["cp", "-r", copy, back], check=True))
        rmtree(back)
        out["cp_sync_down"], _ = timed(lambda: (subprocess.run(["cp", "-r", copy, back], check=True),
                                                subprocess.run(["sync"], check=True)))
        rmtree(back)
        # rclone between two folders, as it downloads: the same transfers, and it checks each
        # copy's hash against its source's.
        out["rclone_local_down"], _ = timed(lambda: rclone(s3, "copy", copy, back))
        rmtree(copy)
        rmtree(back)
    finally:
        source.stop()
        rmtree(source.data_dir)  # disk: the restores below need room

    target = Daemon(os.path.join(work, f"target-{factor}x"))
    try:
        target.sql(f'CREATE READ ONLY REPOSITORY s3repo ON LOCATION "s3a://bench/{s3_prefix}" {s3.properties()}')
        target.sql(f'CREATE READ ONLY REPOSITORY localrepo ON LOCATION "file://{local}"')
        print(f"{factor}x: restores ...", flush=True)
        out["restore_s3"] = job(
            target, f'RESTORE SNAPSHOT from_s3.snap FROM s3repo PROPERTIES ("backup_timestamp" = "{ts_s3}")',
            "RESTORE", "from_s3")
        out["restore_file"] = job(
            target, f'RESTORE SNAPSHOT from_file.snap FROM localrepo PROPERTIES ("backup_timestamp" = "{ts_file}")',
            "RESTORE", "from_file")
        for db in ("from_s3", "from_file"):
            got = target.sql(f"CHECKSUM TABLE {db}.t")[0][1]
            assert got == checksum, f"{db}: checksum {got} != {checksum}"
    finally:
        target.stop()
    rmtree(os.path.join(work, f"source-{factor}x"))
    rmtree(os.path.join(work, f"target-{factor}x"))
    rmtree(local)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gib", type=float, default=2.0, help="input size of the 1x table in GiB")
    ap.add_argument("--dir", default=None, help="work folder (default: a new temp folder)")
    ap.add_argument("--factors", default="1,4")
    args = ap.parse_args()
    work = args.dir or tempfile.mkdtemp(prefix="backstop-bench-")
    os.makedirs(work, exist_ok=True)
    s3 = S3sFs(work)
    s3.bucket("bench")
    results = {}
    try:
        for factor in [int(f) for f in args.factors.split(",")]:
            results[factor] = run_factor(work, s3, args.gib, factor)
    finally:
        s3.stop()
        rmtree(s3.data)

    verdicts = []
    print()
    print(f"{'':4} {'job':28} {'MB/s':>8} {'reference':24} {'ref MB/s':>9} {'ratio':>6} {'peak MiB':>9}")
    for factor, r in results.items():
        mb = r["size"] / 1e6
        rows = [
            ("BACKUP to S3", r["backup_s3"], "rclone copy up", r["rclone_up"], 0.9),
            ("BACKUP to file://", r["backup_file"], "cp -r", r["cp_up"], 0.9),
            ("RESTORE from S3 (+sha256)", r["restore_s3"], "aws s3 cp --recursive", r["aws_down"], 0.8),
            ("RESTORE from file://", r["restore_file"], "rclone copy (folder)", r["rclone_local_down"], 0.8),
            ("RESTORE from file://", r["restore_file"], "cp -r", r["cp_down"], 0.8),
        ]
        for name, (secs, peak), ref_name, ref_secs, target in rows:
            if ref_secs is None:
                print(f"{factor}x   {name:28} {mb / secs:8.1f} {ref_name + ' (failed)':24} {'-':>9} {'-':>6} {peak:9.0f}")
            else:
                ratio = ref_secs / secs
                print(f"{factor}x   {name:28} {mb / secs:8.1f} {ref_name:24} {mb / ref_secs:9.1f} {ratio:6.2f} {peak:9.0f}")
                verdicts.append((f"{factor}x {name} >= {target}x {ref_name}", ratio >= target))
            if ref_name != "cp -r" or name.startswith("BACKUP"):
                verdicts.append((f"{factor}x {name} peak memory <= 256 MiB", peak <= 256))
        for key, ref, target in (("backup_file", "cp_sync_up", 0.9), ("restore_file", "cp_sync_down", 0.8)):
            secs, _ = r[key]
            name = "(BACKUP to file://)" if key == "backup_file" else "(RESTORE from file://)"
            print(f"{factor}x   {name:28} {mb / secs:8.1f} {'cp -r + sync':24} "
                  f"{mb / r[ref]:9.1f} {r[ref] / secs:6.2f}   (as durable as backstop's copies)")
            verdicts.append((f"{factor}x {name.strip('()')} >= {target}x cp -r + sync", r[ref] / secs >= target))
        secs, peak = r["rebackup_s3"]
        fraction = secs / r["backup_s3"][0]
        print(f"{factor}x   {'unchanged re-BACKUP to S3':28} {secs:7.2f}s = {fraction:.1%} of the full backup, "
              f"{r['rebackup_uploaded']} objects uploaded, peak {peak:.0f} MiB")
        verdicts.append((f"{factor}x re-backup <= 5% of the full one", fraction <= 0.05))
        verdicts.append((f"{factor}x re-backup uploads no object", r["rebackup_uploaded"] == 0))
        print(f"{factor}x   table: {r['size'] / MIB:,.0f} MiB of rowsets")
        if "extras" in r:
            x = r["extras"]
            base = mb / r["backup_s3"][0]
            print(f"{factor}x   tunables, BACKUP to S3: parallel 4 (default) {base:.1f} MB/s; " + "; ".join(
                f"{name} {mb / x[name][0]:.1f} MB/s ({x[name][1]:.0f} MiB peak)"
                for name in ("parallel 1", "parallel 8", "part_size 32M")))
            cap, rate = x["cap"]
            print(f"{factor}x   max_bandwidth 64M: {rate / MIB:.1f} MiB/s = {rate / cap:.1%} of the cap")
            verdicts.append((f"{factor}x max_bandwidth held within 10%", 0.9 <= rate / cap <= 1.1))
            secs, status, errors, refused, forwarded, (mean_in_flight, max_in_flight) = x["fault"]
            print(f"{factor}x   fault run (503 SlowDown on {refused} of {refused + forwarded} requests): "
                  f"{status} in {secs:.1f} s, TaskErrMsg {errors[-40:]!r}; requests in flight at "
                  f"arrival: mean {mean_in_flight:.2f}, max {max_in_flight} (parallel {PARALLEL})")
            verdicts.append((f"{factor}x BACKUP through 20% 503s finishes and counts retries",
                             status == "[OK]" and "retries:" in errors))
    if 1 in results and 4 in results:
        for key, name in [("backup_s3", "BACKUP to S3"), ("restore_s3", "RESTORE from S3")]:
            p1, p4 = results[1][key][1], results[4][key][1]
            verdicts.append((f"{name} peak memory at 4x ({p4:.0f} MiB) <= 1x ({p1:.0f} MiB) + 10%", p4 <= p1 * 1.1))
    print()
    for name, ok in verdicts:
        print(f"{'PASS' if ok else 'FALL SHORT':10} {name}")


if __name__ == "__main__":
    main()
