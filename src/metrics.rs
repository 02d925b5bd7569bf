//! Process-wide counters for `--metrics-listen`, and their Prometheus text encoding.
//!
//! The counters are plain atomics in one static ([`METRICS`]): one daemon per process, and the
//! layers that count (jobs, loads, queries) need no handle passed down for it. Gauges that
//! describe the present (connections, jobs by state) are read from the engine when scraped
//! (`server::metrics`), so nothing here can drift from what SHOW BACKUP says.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the job-duration histogram's buckets.
const DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 43200.0, 86400.0,
];

/// One histogram: per-bucket counts (not cumulative; summed when rendered), sum and count.
#[derive(Debug)]
struct Histogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    sum_ms: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; DURATION_BUCKETS.len()],
            sum_ms: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, ms: u64) {
        let secs = ms as f64 / 1000.0;
        if let Some(i) = DURATION_BUCKETS.iter().position(|b| secs <= *b)
            && let Some(b) = self.buckets.get(i)
        {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counters by job kind: index 0 backup, 1 restore, 2 verify.
type ByKind = [AtomicU64; 3];

const fn by_kind() -> ByKind {
    [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]
}

/// The job kinds counted, as labelled: a job's kind is one of these (`JobKind::as_str`).
const KINDS: [&str; 3] = ["backup", "restore", "verify"];

/// The counter index of the job kind labelled `kind` (an unknown label counts nowhere).
fn kind_index(kind: &str) -> usize {
    KINDS.iter().position(|k| *k == kind).unwrap_or(KINDS.len())
}

/// Everything counted since the daemon started.
#[derive(Debug)]
pub struct Metrics {
    jobs_submitted: ByKind,
    jobs_finished: ByKind,
    jobs_cancelled: ByKind,
    /// By kind, then 0 finished / 1 cancelled.
    durations: [[Histogram; 2]; 3],
    moved_objects: ByKind,
    moved_bytes: ByKind,
    retries: ByKind,
    /// Storage errors jobs met, by the error's kind (`StoreError::kind`).
    storage_errors: Mutex<Vec<(&'static str, u64)>>,
    /// Storage requests sent, by operation (`get`, `put`, `list`, ...).
    storage_requests: Mutex<Vec<(&'static str, u64)>>,
    queries: AtomicU64,
    loads: AtomicU64,
    loaded_rows: AtomicU64,
    compactions: AtomicU64,
    compacted_files_in: AtomicU64,
    compacted_files_out: AtomicU64,
    compaction_failures: AtomicU64,
}

/// The daemon's counters.
pub static METRICS: Metrics = Metrics {
    jobs_submitted: by_kind(),
    jobs_finished: by_kind(),
    jobs_cancelled: by_kind(),
    durations: [
        [Histogram::new(), Histogram::new()],
        [Histogram::new(), Histogram::new()],
        [Histogram::new(), Histogram::new()],
    ],
    moved_objects: by_kind(),
    moved_bytes: by_kind(),
    retries: by_kind(),
    storage_errors: Mutex::new(Vec::new()),
    storage_requests: Mutex::new(Vec::new()),
    queries: AtomicU64::new(0),
    loads: AtomicU64::new(0),
    loaded_rows: AtomicU64::new(0),
    compactions: AtomicU64::new(0),
    compacted_files_in: AtomicU64::new(0),
    compacted_files_out: AtomicU64::new(0),
    compaction_failures: AtomicU64::new(0),
};

fn add(counter: Option<&AtomicU64>, n: u64) {
    if let Some(c) = counter {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A job of `kind` (`backup`, `restore` or `verify`) was submitted.
    pub fn job_submitted(&self, kind: &str) {
        add(self.jobs_submitted.get(kind_index(kind)), 1);
    }

    /// A job of `kind` ended, `finished` or cancelled, after `duration_ms`, having retried
    /// `retries` times.
    pub fn job_ended(&self, kind: &str, finished: bool, duration_ms: u64, retries: u64) {
        let k = kind_index(kind);
        let (ended, outcome) = if finished {
            (&self.jobs_finished, 0)
        } else {
            (&self.jobs_cancelled, 1)
        };
        add(ended.get(k), 1);
        add(self.retries.get(k), retries);
        if let Some(h) = self.durations.get(k).and_then(|h| h.get(outcome)) {
            h.observe(duration_ms);
        }
    }

    /// One object of `bytes` really uploaded (backup) or downloaded (restore).
    pub fn moved(&self, kind: &str, bytes: u64) {
        add(self.moved_objects.get(kind_index(kind)), 1);
        add(self.moved_bytes.get(kind_index(kind)), bytes);
    }

    pub fn storage_error(&self, kind: &'static str) {
        count_by_label(&self.storage_errors, kind);
    }

    pub fn storage_request(&self, op: &'static str) {
        count_by_label(&self.storage_requests, op);
    }

    pub fn query(&self) {
        self.queries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn load(&self, rows: u64) {
        self.loads.fetch_add(1, Ordering::Relaxed);
        self.loaded_rows.fetch_add(rows, Ordering::Relaxed);
    }

    /// A compaction committed, replacing `files_in` rowset files by `files_out`.
    pub fn compacted(&self, files_in: u64, files_out: u64) {
        self.compactions.fetch_add(1, Ordering::Relaxed);
        self.compacted_files_in
            .fetch_add(files_in, Ordering::Relaxed);
        self.compacted_files_out
            .fetch_add(files_out, Ordering::Relaxed);
    }

    /// A compaction failed (its files were not committed).
    pub fn compaction_failed(&self) {
        self.compaction_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition (format 0.0.4) of the counters plus `gauges`.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        header(
            &mut out,
            "backstop_build_info",
            "gauge",
            "backstop's version",
        );
        let _ = writeln!(
            out,
            "backstop_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        single(
            &mut out,
            "backstop_uptime_seconds",
            "gauge",
            "seconds since the daemon started",
            gauges.uptime_seconds,
        );
        single(
            &mut out,
            "backstop_connections",
            "gauge",
            "client connections being served now",
            gauges.connections,
        );
        single(
            &mut out,
            "backstop_statements_total",
            "counter",
            "statements received",
            gauges.statements,
        );
        let (held, peak, size, waits) = gauges.open_files;
        for (name, kind, help, value) in [
            (
                "backstop_open_files",
                "gauge",
                "files queries, loads and jobs hold open now (of the open-files budget)",
                held,
            ),
            (
                "backstop_open_files_max",
                "gauge",
                "most files held open at once since start",
                peak,
            ),
            (
                "backstop_open_files_budget",
                "gauge",
                "files queries, loads and jobs may hold open together",
                size,
            ),
            (
                "backstop_open_file_waits_total",
                "counter",
                "times a query, load or job waited for the open-files budget",
                waits,
            ),
        ] {
            single(&mut out, name, kind, help, value);
        }
        single(
            &mut out,
            "backstop_queries_total",
            "counter",
            "SELECT statements run",
            load(&self.queries),
        );
        single(
            &mut out,
            "backstop_loads_total",
            "counter",
            "INSERT statements committed",
            load(&self.loads),
        );
        single(
            &mut out,
            "backstop_loaded_rows_total",
            "counter",
            "rows committed by INSERT",
            load(&self.loaded_rows),
        );
        for (name, help, value) in [
            (
                "backstop_compactions_total",
                "merges of a tablet's rowset files committed",
                &self.compactions,
            ),
            (
                "backstop_compacted_files_in_total",
                "rowset files (data and delete files) merges replaced",
                &self.compacted_files_in,
            ),
            (
                "backstop_compacted_files_out_total",
                "rowset files merges wrote",
                &self.compacted_files_out,
            ),
            (
                "backstop_compaction_failures_total",
                "merges that failed (nothing was committed)",
                &self.compaction_failures,
            ),
        ] {
            single(&mut out, name, "counter", help, load(value));
        }

        header(
            &mut out,
            "backstop_jobs",
            "gauge",
            "the latest job of each database, by kind and state",
        );
        for (kind, state, n) in &gauges.jobs {
            let _ = writeln!(
                out,
                "backstop_jobs{{kind=\"{kind}\",state=\"{state}\"}} {n}"
            );
        }
        // Always present, also at zero, so an alert needs no absent() guard.
        header(
            &mut out,
            "backstop_jobs_running",
            "gauge",
            "jobs not yet FINISHED or CANCELLED, by kind",
        );
        for kind in KINDS {
            let n: u64 = gauges
                .jobs
                .iter()
                .filter(|(k, s, _)| *k == kind && !matches!(*s, "FINISHED" | "CANCELLED"))
                .map(|(_, _, n)| n)
                .sum();
            let _ = writeln!(out, "backstop_jobs_running{{kind=\"{kind}\"}} {n}");
        }
        header(
            &mut out,
            "backstop_jobs_submitted_total",
            "counter",
            "BACKUP and RESTORE jobs submitted",
        );
        for (i, kind) in KINDS.iter().enumerate() {
            let n = self.jobs_submitted.get(i).map_or(0, load);
            let _ = writeln!(out, "backstop_jobs_submitted_total{{kind=\"{kind}\"}} {n}");
        }
        header(
            &mut out,
            "backstop_jobs_ended_total",
            "counter",
            "jobs that ended, by kind and final state",
        );
        for (i, kind) in KINDS.iter().enumerate() {
            for (state, counter) in [
                ("FINISHED", &self.jobs_finished),
                ("CANCELLED", &self.jobs_cancelled),
            ] {
                let n = counter.get(i).map_or(0, load);
                let _ = writeln!(
                    out,
                    "backstop_jobs_ended_total{{kind=\"{kind}\",state=\"{state}\"}} {n}"
                );
            }
        }
        for (name, help, counters) in [
            (
                "backstop_job_objects_transferred_total",
                "objects jobs uploaded or downloaded (a backup skips objects the repository has)",
                &self.moved_objects,
            ),
            (
                "backstop_job_bytes_transferred_total",
                "bytes jobs uploaded or downloaded",
                &self.moved_bytes,
            ),
            (
                "backstop_job_retries_total",
                "storage operations jobs retried",
                &self.retries,
            ),
        ] {
            header(&mut out, name, "counter", help);
            for (i, kind) in KINDS.iter().enumerate() {
                let n = counters.get(i).map_or(0, load);
                let _ = writeln!(out, "{name}{{kind=\"{kind}\"}} {n}");
            }
        }
        header(
            &mut out,
            "backstop_job_duration_seconds",
            "histogram",
            "time from submission to the end of a job",
        );
        for (i, kind) in KINDS.iter().enumerate() {
            for (o, state) in ["FINISHED", "CANCELLED"].iter().enumerate() {
                let Some(h) = self.durations.get(i).and_then(|h| h.get(o)) else {
                    continue;
                };
                let labels = format!("kind=\"{kind}\",state=\"{state}\"");
                let mut cumulative = 0;
                for (bound, count) in DURATION_BUCKETS.iter().zip(&h.buckets) {
                    cumulative += load(count);
                    let _ = writeln!(
                        out,
                        "backstop_job_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                    );
                }
                let count = load(&h.count);
                let _ = writeln!(
                    out,
                    "backstop_job_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
                );
                let sum = load(&h.sum_ms) as f64 / 1000.0;
                let _ = writeln!(out, "backstop_job_duration_seconds_sum{{{labels}}} {sum}");
                let _ = writeln!(
                    out,
                    "backstop_job_duration_seconds_count{{{labels}}} {count}"
                );
            }
        }
        for (name, help, label, counts) in [
            (
                "backstop_storage_errors_total",
                "storage errors jobs met, by kind",
                "kind",
                &self.storage_errors,
            ),
            (
                "backstop_storage_requests_total",
                "storage requests sent (every attempt, every LIST page), by operation",
                "op",
                &self.storage_requests,
            ),
        ] {
            header(&mut out, name, "counter", help);
            let counts = counts.lock().unwrap_or_else(|p| p.into_inner()).clone();
            for (value, n) in counts {
                let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
            }
        }
        render_backups(&mut out, gauges);
        out
    }
}

/// The alerting gauges: each database's last finished backup, and each task's state.
fn render_backups(out: &mut String, gauges: &Gauges) {
    let secs = |ms: i64| ms as f64 / 1000.0;
    let database = |b: &BackupGauge| format!("database=\"{}\"", label_value(&b.db));
    render_gauges(
        out,
        &gauges.backups,
        database,
        [
            (
                "backstop_last_backup_timestamp_seconds",
                "when the database's last successful backup finished (Unix time)",
                &|b: &BackupGauge| secs(b.finished_ms),
            ),
            (
                "backstop_newest_snapshot_age_seconds",
                "age of the database's newest snapshot (the last successful backup's)",
                &|b: &BackupGauge| secs(gauges.now_ms.saturating_sub(b.snapshot_ms)).max(0.0),
            ),
        ],
    );
    let task = |t: &TaskGauge| {
        format!(
            "task=\"{}\",database=\"{}\"",
            label_value(&t.name),
            label_value(&t.db)
        )
    };
    render_gauges(
        out,
        &gauges.tasks,
        task,
        [
            (
                "backstop_task_last_success_timestamp_seconds",
                "when the task's last successful run ended (Unix time; 0: never)",
                &|t: &TaskGauge| t.last_success_ms.map_or(0.0, secs),
            ),
            (
                "backstop_task_consecutive_failures",
                "failed runs of the task since its last success",
                &|t: &TaskGauge| t.consecutive_failures as f64,
            ),
            (
                "backstop_task_next_run_timestamp_seconds",
                "when the task runs next (Unix time; 0: not scheduled)",
                &|t: &TaskGauge| t.next_run_ms.map_or(0.0, secs),
            ),
            (
                "backstop_task_suspended",
                "1 when ALTER TASK SUSPEND stopped the task's schedule",
                &|t: &TaskGauge| if t.suspended { 1.0 } else { 0.0 },
            ),
        ],
    );
}

/// A gauge family over rows of `T`: its name, its help and a row's value.
type GaugeFamily<'a, T> = (&'a str, &'a str, &'a dyn Fn(&T) -> f64);

/// A gauge family per `(name, help, value)`, each with a sample per row of `rows`, labelled by
/// `labels` (`k="v",...`).
fn render_gauges<T, const N: usize>(
    out: &mut String,
    rows: &[T],
    labels: impl Fn(&T) -> String,
    families: [GaugeFamily<'_, T>; N],
) {
    for (name, help, value) in families {
        header(out, name, "gauge", help);
        for row in rows {
            let _ = writeln!(out, "{name}{{{}}} {}", labels(row), value(row));
        }
    }
}

/// `value` escaped for a Prometheus label (backslash, double quote, newline).
fn label_value(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Adds one to the count of `label` in `counts` (a short list of counts by label, in the
/// order first seen).
pub fn count_by_label(counts: &Mutex<Vec<(&'static str, u64)>>, label: &'static str) {
    let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
    match counts.iter_mut().find(|(k, _)| *k == label) {
        Some((_, n)) => *n += 1,
        None => counts.push((label, 1)),
    }
}

/// What a scrape reads from the running daemon.
#[derive(Debug, Default)]
pub struct Gauges {
    pub uptime_seconds: u64,
    pub connections: u64,
    pub statements: u64,
    /// The open-files budget: (held now, most held at once, size, waits).
    pub open_files: (u64, u64, u64, u64),
    /// (kind, state, count) of the latest job of each database.
    pub jobs: Vec<(&'static str, &'static str, u64)>,
    /// Now, milliseconds since the Unix epoch (the system clock, which stamps snapshots).
    pub now_ms: i64,
    /// Each database's last finished backup.
    pub backups: Vec<BackupGauge>,
    /// Every task.
    pub tasks: Vec<TaskGauge>,
}

/// A database's last finished backup, as the gauges show it.
#[derive(Debug, Default)]
pub struct BackupGauge {
    pub db: String,
    pub finished_ms: i64,
    /// When the snapshot was taken.
    pub snapshot_ms: i64,
}

/// A task, as the gauges show it.
#[derive(Debug, Default)]
pub struct TaskGauge {
    pub name: String,
    pub db: String,
    pub last_success_ms: Option<i64>,
    pub next_run_ms: Option<i64>,
    pub consecutive_failures: u64,
    pub suspended: bool,
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn single(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}
