"""Shared pieces of backstop's benchmarks: input data, a release daemon with its peak memory and
a sampler of its resident memory, an s3s-fs server. Plain Python with pyarrow and pymysql
(bench/run installs them)."""

import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request

import pyarrow as pa
import pyarrow.parquet as pq
import pymysql

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/backstop-target"))
BINARY = os.path.join(TARGET, "release", "backstop")
TOOLS = os.environ.get("BACKSTOP_TOOLS", os.path.expanduser("~/.cache/backstop-tools"))
ROWS_PER_GROUP = 1_000_000
MIB = 1 << 20


def member_rows(base, count):
    """Rows `base` .. `base + count` of the benchmarks' table: ids, dates over 3 years, amounts,
    cities, names. Deterministic, so runs compare."""
    r = range(base, base + count)
    return pa.table({
        "id": pa.array(r, pa.int64()),
        # 2022-01-01 + (0 .. 1094) days: three yearly partitions.
        "reg_date": pa.array([18993 + (i * 7919) % 1095 for i in r], pa.int32()).cast(pa.date32()),
        "amount": pa.array([((i * 2654435761) % 10_000_000) / 100 for i in r], pa.float64()),
        "city": pa.array([(i * 40503) % 100_000 for i in r], pa.int32()),
        "name": pa.array([f"member-{(i * 48271) % 1_000_003:07d}-{i % 977}" for i in r]),
    })


def make_parquet(path, gib):
    """A Parquet file of about `gib` GiB of `member_rows`, snappy."""
    target = gib * (1 << 30)
    writer = None
    base = 0
    while True:
        table = member_rows(base, ROWS_PER_GROUP)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="snappy")
        writer.write_table(table)
        base += ROWS_PER_GROUP
        if os.path.getsize(path) >= target:
            break
    writer.close()


TABLE_DDL = (
    "CREATE TABLE {name} (id BIGINT NOT NULL, reg_date DATE NOT NULL, amount DOUBLE, city INT, "
    "name STRING) DUPLICATE KEY(id) PARTITION BY RANGE(reg_date) ("
    "PARTITION p2022 VALUES LESS THAN ('2023-01-01'), "
    "PARTITION p2023 VALUES LESS THAN ('2024-01-01'), "
    "PARTITION p2024 VALUES LESS THAN ('2025-01-01')) "
    "DISTRIBUTED BY HASH(id) BUCKETS 16"
)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    """A release backstop on a free port with its own data folder. Background compaction is off
    (`compaction_interval` 0) unless asked for: the other benchmarks measure tables of the shape
    their loads left (many small rowsets among them)."""

    def __init__(self, data_dir, metrics=False, compaction_interval=0):
        if not os.path.isfile(BINARY):
            raise SystemExit(f"{BINARY} is missing: cargo build --release first")
        self.data_dir = data_dir
        self.metrics_port = free_port() if metrics else None
        self.compaction_interval = compaction_interval
        self.start()

    def start(self):
        self.port = free_port()
        args = [BINARY, "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}",
                "--compaction-interval", str(self.compaction_interval)]
        if self.metrics_port:
            args += ["--metrics-listen", f"127.0.0.1:{self.metrics_port}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        while not self.proc.stdout.readline().startswith("backstop listening"):
            pass  # "backstop metrics on ..." comes first
        self.conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root", autocommit=True)

    def storage_requests(self):
        """backstop_storage_requests_total by operation, from the metrics endpoint."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).read().decode()
        found = re.findall(r'^backstop_storage_requests_total\{op="([^"]+)"\} (\d+)$', text, re.M)
        return {op: int(n) for op, n in found}

    def sql(self, text):
        with self.conn.cursor() as cur:
            cur.execute(text)
            return cur.fetchall() if cur.description else []

    def show(self, text):
        with self.conn.cursor() as cur:
            cur.execute(text)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def reset_peak(self):
        """Resets VmHWM (Linux: write 5 to clear_refs), so the next peak is one job's."""
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def peak_mib(self):
        return proc_status_mib(self.proc.pid, "VmHWM")

    def wait_job(self, kind, db, timeout=3600):
        deadline = time.monotonic() + timeout
        while True:
            rows = self.show(f"SHOW {kind} FROM {db}")
            if rows and rows[0]["State"] in ("FINISHED", "CANCELLED"):
                return rows[0]
            if time.monotonic() > deadline:
                raise SystemExit(f"{kind} did not finish: {rows}")
            time.sleep(0.05)

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        self.proc.wait()

    def restart(self):
        """The same data folder in a new process (its memory starts afresh)."""
        self.stop()
        self.start()


def proc_status_mib(pid, field):
    """A memory field of /proc/<pid>/status (VmRSS, VmHWM) in MiB; 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class MemorySampler:
    """Samples a process's VmRSS every `interval` seconds on a thread of its own and keeps the
    highest sample of each phase (set `phase` as the steps go). VmHWM, read at the end, also
    catches a peak between two samples."""

    def __init__(self, pid, interval=0.02):
        self.pid = pid
        self.interval = interval
        self.phase = "start"
        self.peaks = {}  # phase -> highest VmRSS sample (MiB), in the order the phases came
        self.samples = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.is_set():
            rss = proc_status_mib(self.pid, "VmRSS")
            phase = self.phase
            self.peaks[phase] = max(self.peaks.get(phase, 0.0), rss)
            self.samples += 1
            self.stopping.wait(self.interval)

    def stop(self):
        self.stopping.set()
        self.thread.join()


class S3sFs:
    """s3s-fs on a free port (installed by scripts/install-test-deps)."""

    ACCESS, SECRET = "AKIDBACKSTOPBENCH", "backstop-bench-secret"

    def __init__(self, work):
        binary = os.path.join(TOOLS, "bin", "s3s-fs")
        if not os.path.isfile(binary):
            raise SystemExit(f"{binary} is missing: run scripts/install-test-deps")
        self.data = os.path.join(work, "s3data")
        os.makedirs(self.data, exist_ok=True)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(self.port),
             "--access-key", self.ACCESS, "--secret-key", self.SECRET, self.data],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("s3s-fs did not start")
                time.sleep(0.05)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def bucket(self, name):
        os.makedirs(os.path.join(self.data, name), exist_ok=True)

    def properties(self, endpoint=None):
        """A repository's PROPERTIES for this server, reached at `endpoint` (default: directly)."""
        return (f'PROPERTIES ("aws.s3.access_key" = "{self.ACCESS}", "aws.s3.secret_key" = "{self.SECRET}", '
                f'"aws.s3.endpoint" = "{endpoint or self.endpoint}", "aws.s3.enable_path_style_access" = "true")')

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def dir_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    return total


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
