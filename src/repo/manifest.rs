//! Snapshot manifests (DESIGN.md "Repository format"; the keys are [`super::layout`]'s): the
//! committed-manifest writer ([`encode_committed`]) beside its reader ([`read_committed`]),
//! validation, and the listing of snapshots.
//!
//! Nothing here depends on local ids: a manifest names databases, tables and partitions, and
//! rowsets by their content hash, so any server can restore it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::layout::{self, COMMIT, CommitMarker};
use super::store::{ObjectStore, StoreError};
use crate::catalog::schema::RowsetKind;
use crate::catalog::{ColumnMeta, Distribution, KeyDesc, PartitionBounds, Partitioning};

/// The newest manifest format this backstop writes and reads. Version 2 added UNIQUE and
/// PRIMARY KEY tables, delete files, and JSON and VARBINARY columns; version 3 added views,
/// version 4 asynchronous materialized views, version 5 AGGREGATE KEY tables (each value
/// column's `aggregate`), BITMAP and HLL columns, and expression partitioning (`auto`). A
/// snapshot is written with the oldest version that can describe it, which older backstops read.
pub const FORMAT_VERSION: u32 = 5;

/// The version a manifest of `tables` and `views` needs: the oldest that can describe them.
pub fn needed_version(tables: &[ManifestTable], views: &[ManifestView]) -> u32 {
    let v2 = tables.iter().any(|t| {
        t.key.model != crate::catalog::KeyModel::Duplicate
            || t.columns.iter().any(|c| {
                matches!(
                    c.data_type,
                    crate::catalog::ColumnType::Json | crate::catalog::ColumnType::Varbinary(_)
                )
            })
            || t.partitions
                .iter()
                .flat_map(|p| &p.tablets)
                .any(|b| !b.deletes.is_empty())
    });
    let calls_sketches = crate::sql::calls_sketch_functions;
    if views.iter().any(|v| calls_sketches(&v.definition))
        || tables.iter().any(|t| {
            t.materialized
                .as_ref()
                .is_some_and(|m| calls_sketches(&m.definition))
        })
        || tables.iter().any(|t| {
            t.key.model == crate::catalog::KeyModel::Aggregate
                || matches!(
                    t.partitioning,
                    crate::catalog::Partitioning::Range { auto: Some(_), .. }
                )
                || t.columns.iter().any(|c| {
                    matches!(
                        c.data_type,
                        crate::catalog::ColumnType::Bitmap | crate::catalog::ColumnType::Hll
                    )
                })
        })
    {
        5
    } else if tables.iter().any(|t| t.materialized.is_some()) {
        4
    } else if !views.is_empty() {
        3
    } else if v2 {
        2
    } else {
        1
    }
}

/// StarRocks' snapshot timestamp, `yyyy-MM-dd-HH-mm-ss-SSS`, in UTC.
pub fn snapshot_timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d-%H-%M-%S-%3f").to_string())
        .unwrap_or_default()
}

/// Whether `text` is a well-formed snapshot timestamp.
pub fn is_snapshot_timestamp(text: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d-%H-%M-%S-%3f").is_ok() && text.len() == 23
}

/// Everything needed to rebuild the tables of one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub backstop_version: String,
    /// Persistent id of the server that made the snapshot.
    pub server_id: String,
    pub database: String,
    pub label: String,
    pub timestamp: String,
    /// Submission time of the backup job, ms since the epoch.
    pub created_ms: i64,
    /// When the snapshot was complete (just before COMMIT), ms since the epoch.
    pub finished_ms: i64,
    /// `ttl` property as given, and the expiry it implies (lifecycle issue).
    #[serde(default)]
    pub ttl: Option<String>,
    #[serde(default)]
    pub expires_ms: Option<i64>,
    pub tables: Vec<ManifestTable>,
    /// Views (format version 3), restored after the tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<ManifestView>,
}

/// One view: its definition, as the catalog keeps it (`crate::catalog::views::ViewMeta`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestView {
    pub name: String,
    /// The columns its query gave when it was created.
    pub columns: Vec<ColumnMeta>,
    /// Whether the view's column list renames its query's columns.
    #[serde(default)]
    pub named_columns: bool,
    /// The query, as SQL text; names without a database are the restored view's database's.
    pub definition: String,
    pub comment: Option<String>,
    #[serde(default)]
    pub security_invoker: bool,
    /// `user@host` of the account that created it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub definer: String,
}

impl ManifestView {
    pub fn of(view: &crate::catalog::views::ViewMeta) -> Self {
        ManifestView {
            name: view.name.clone(),
            columns: view.columns.clone(),
            named_columns: view.named_columns,
            definition: view.definition.clone(),
            comment: view.comment.clone(),
            security_invoker: view.security_invoker,
            definer: view.definer.clone(),
        }
    }

    /// The catalog definition of this view under `name` (ids and times are the catalog's to
    /// assign).
    pub fn view_meta(
        &self,
        name: String,
        inactive_reason: Option<String>,
    ) -> crate::catalog::views::ViewMeta {
        crate::catalog::views::ViewMeta {
            id: 0,
            db_id: 0,
            name,
            columns: self.columns.clone(),
            named_columns: self.named_columns,
            definition: self.definition.clone(),
            comment: self.comment.clone(),
            security_invoker: self.security_invoker,
            definer: self.definer.clone(),
            created_ms: 0,
            inactive_reason,
        }
    }
}

/// One table: its full definition and the partitions the snapshot holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestTable {
    pub name: String,
    pub columns: Vec<ColumnMeta>,
    pub key: KeyDesc,
    pub comment: Option<String>,
    pub partitioning: Partitioning,
    pub distribution: Distribution,
    pub properties: BTreeMap<String, String>,
    /// Rows and content checksum of the partitions in the snapshot (what CHECKSUM TABLE gives
    /// after restoring them into an empty table).
    pub rows: u64,
    pub checksum: u64,
    pub partitions: Vec<ManifestPartition>,
    /// Set when the table is a materialized view (format version 4): its definition, schedule
    /// and last refresh (how fresh the rows are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materialized: Option<crate::catalog::materialized::Materialized>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestPartition {
    pub name: String,
    pub bounds: PartitionBounds,
    pub visible_version: u64,
    pub buckets: u32,
    pub rows: u64,
    pub tablets: Vec<ManifestTablet>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestTablet {
    pub bucket: u32,
    /// Data files.
    pub rowsets: Vec<ManifestRowset>,
    /// Iceberg position-delete files: rows of the data files above that are gone (format
    /// version 2; `rows` counts positions, `checksum` sums the deleted rows' hashes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deletes: Vec<ManifestRowset>,
}

impl ManifestTablet {
    /// Every file of the tablet, data files first, with what it holds.
    pub fn files(&self) -> impl Iterator<Item = (&ManifestRowset, RowsetKind)> {
        self.rowsets
            .iter()
            .map(|r| (r, RowsetKind::Data))
            .chain(self.deletes.iter().map(|r| (r, RowsetKind::Deletes)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRowset {
    /// Key of the object holding the Parquet file, relative to the repository root.
    pub object: String,
    pub size: u64,
    pub rows: u64,
    pub sha256: String,
    pub checksum: u64,
    pub start_version: u64,
    pub end_version: u64,
}

impl ManifestTable {
    /// The catalog definition of this table under `name` (a new table's, before it has a
    /// database).
    pub fn table_meta(
        &self,
        id: u64,
        name: String,
        properties: BTreeMap<String, String>,
        created_ms: i64,
    ) -> crate::catalog::TableMeta {
        crate::catalog::TableMeta {
            id,
            db_id: 0,
            name,
            columns: self.columns.clone(),
            key: self.key.clone(),
            comment: self.comment.clone(),
            partitioning: self.partitioning.clone(),
            distribution: self.distribution.clone(),
            properties,
            created_ms,
            state: crate::catalog::TableState::Normal,
            materialized: self.materialized.clone(),
        }
    }
}

impl Manifest {
    pub fn view(&self, name: &str) -> Option<&ManifestView> {
        self.views
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
    }

    pub fn table(&self, name: &str) -> Option<&ManifestTable> {
        self.tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
    }

    /// Every rowset object of the snapshot, each once.
    pub fn objects(&self) -> BTreeMap<String, &ManifestRowset> {
        self.tables
            .iter()
            .flat_map(|t| &t.partitions)
            .flat_map(|p| &p.tablets)
            .flat_map(|t| t.files())
            .map(|(r, _)| (r.object.clone(), r))
            .collect()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex(&Sha256::digest(bytes))
}

/// Why a snapshot is not usable.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no snapshot '{label}' with timestamp '{timestamp}' in the repository")]
    Missing { label: String, timestamp: String },
    #[error("snapshot {label}/{timestamp} is damaged: {why}")]
    Damaged {
        label: String,
        timestamp: String,
        why: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Largest manifest read into memory. A real one takes a few hundred bytes per rowset, so this
/// allows about a million rowsets; a bigger file is refused unread, not allocated.
pub const MAX_MANIFEST_BYTES: u64 = 256 << 20;
/// Largest COMMIT object read (a real one is under 200 bytes).
pub const MAX_COMMIT_BYTES: u64 = 64 << 10;
/// Largest rowset object a manifest may declare (1 TiB). With at most about a million rowsets,
/// sums of sizes stay far below `u64::MAX`, so no consumer can overflow adding them up.
pub const MAX_OBJECT_BYTES: u64 = 1 << 40;
/// Largest view query a manifest may hold.
pub const MAX_VIEW_DEFINITION_BYTES: usize = 1 << 20;
/// Largest row count a rowset may declare.
pub const MAX_ROWSET_ROWS: u64 = 1 << 40;

/// Whether `label` can name a snapshot folder: not empty, no `/` or `\\`, not `.` or `..`, no
/// control characters. Anything else names no snapshot (and never a path).
pub fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 1024
        && label != "."
        && label != ".."
        && !label
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// One document of a snapshot, ready to put: its key and bytes.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub key: String,
    pub bytes: bytes::Bytes,
}

/// The writer of a committed snapshot, the other half of [`read_committed`]: the manifest
/// (`manifest.json`) and the COMMIT that names it by its sha256. Put the manifest first and
/// the COMMIT last, once every object the manifest names is in the repository.
pub fn encode_committed(m: &Manifest) -> Result<(Encoded, Encoded), String> {
    let json = serde_json::to_vec_pretty(m).map_err(|e| e.to_string())?;
    let commit = CommitMarker {
        manifest_sha256: sha256_hex(&json),
        finished_ms: m.finished_ms,
    };
    let commit = serde_json::to_vec(&commit).map_err(|e| e.to_string())?;
    Ok((
        Encoded {
            key: layout::manifest_key(&m.label, &m.timestamp),
            bytes: json.into(),
        },
        Encoded {
            key: layout::commit_key(&m.label, &m.timestamp),
            bytes: commit.into(),
        },
    ))
}

/// Reads and checks a committed snapshot: COMMIT exists, the manifest parses and its sha256 is
/// the one COMMIT names (DESIGN.md: what `OK` means), and its content passes [`validate`].
/// Every consumer (RESTORE, SHOW SNAPSHOT, VERIFY SNAPSHOT, DROP SNAPSHOT's collection) reads
/// snapshots through here, so a manifest that lies is refused in one place.
pub async fn read_committed(
    store: &ObjectStore,
    label: &str,
    timestamp: &str,
) -> Result<Manifest, SnapshotError> {
    let missing = || SnapshotError::Missing {
        label: label.to_string(),
        timestamp: timestamp.to_string(),
    };
    // A label or timestamp that cannot name a snapshot folder names no snapshot: it is never
    // turned into a key (`../x` must not reach a store).
    if !is_valid_label(label) || !is_snapshot_timestamp(timestamp) {
        return Err(missing());
    }
    let damaged = |why: String| SnapshotError::Damaged {
        label: label.to_string(),
        timestamp: timestamp.to_string(),
        why,
    };
    let commit_key = layout::commit_key(label, timestamp);
    match store.head(&commit_key).await? {
        None => return Err(missing()),
        Some(m) if m.size > MAX_COMMIT_BYTES => {
            return Err(damaged(format!(
                "its COMMIT has {} bytes; a COMMIT has at most {MAX_COMMIT_BYTES}",
                m.size
            )));
        }
        Some(_) => {}
    }
    let commit = match store.get_bytes(&commit_key).await {
        Ok(b) => b,
        Err(StoreError::NotFound(_)) => return Err(missing()),
        Err(e) => return Err(e.into()),
    };
    let commit: CommitMarker = serde_json::from_slice(&commit)
        .map_err(|e| damaged(format!("its COMMIT cannot be read ({e})")))?;
    let manifest_key = layout::manifest_key(label, timestamp);
    match store.head(&manifest_key).await? {
        None => return Err(damaged("its manifest is missing".into())),
        Some(m) if m.size > MAX_MANIFEST_BYTES => {
            return Err(damaged(format!(
                "its manifest has {} bytes, more than the {MAX_MANIFEST_BYTES} this backstop \
                 reads",
                m.size
            )));
        }
        Some(_) => {}
    }
    let manifest = match store.get_bytes(&manifest_key).await {
        Ok(b) => b,
        Err(StoreError::NotFound(_)) => return Err(damaged("its manifest is missing".into())),
        Err(e) => return Err(e.into()),
    };
    let actual = sha256_hex(&manifest);
    if actual != commit.manifest_sha256 {
        return Err(damaged(format!(
            "its manifest's sha256 is {actual}, COMMIT says {}",
            commit.manifest_sha256
        )));
    }
    parse(&manifest, label, timestamp).map_err(damaged)
}

/// Parses and validates a manifest's bytes (the part of [`read_committed`] after the sha256
/// check; also what the fuzz tests drive). `Err` says what is wrong, for a `Damaged` error.
pub fn parse(bytes: &[u8], label: &str, timestamp: &str) -> Result<Manifest, String> {
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_MANIFEST_BYTES {
        return Err(format!(
            "its manifest has {} bytes, more than the {MAX_MANIFEST_BYTES} this backstop reads",
            bytes.len()
        ));
    }
    // The version first: a newer format may not parse as this one, and saying "newer" is the
    // useful message.
    #[derive(Deserialize)]
    struct Version {
        format_version: Option<serde_json::Value>,
    }
    let version: Version =
        serde_json::from_slice(bytes).map_err(|e| format!("its manifest cannot be read ({e})"))?;
    let current = FORMAT_VERSION;
    match version.format_version.as_ref().and_then(|v| v.as_u64()) {
        None => {
            return Err(
                "its manifest has no valid format_version (a whole number); it was not written \
                 by backstop"
                    .into(),
            );
        }
        Some(v) if v > u64::from(current) => {
            return Err(format!(
                "its manifest is format version {v}, written by a newer backstop; this backstop \
                 reads format version {current}: upgrade backstop to restore it"
            ));
        }
        Some(0) => {
            return Err(format!(
                "its manifest is format version 0; this backstop reads format versions 1 to \
                 {current}"
            ));
        }
        Some(_) => {}
    }
    let manifest: Manifest =
        serde_json::from_slice(bytes).map_err(|e| format!("its manifest cannot be read ({e})"))?;
    validate(&manifest, label, timestamp)?;
    let needed = needed_version(&manifest.tables, &manifest.views);
    if manifest.format_version < needed {
        return Err(format!(
            "its manifest is format version {}, yet it holds what only version {needed} can \
             (version 2: keyed tables, delete files, JSON and VARBINARY columns; 3: views; 4: \
             materialized views; 5: AGGREGATE KEY tables, BITMAP and HLL columns, expression \
             partitioning)",
            manifest.format_version
        ));
    }
    Ok(manifest)
}

/// Checks that a manifest is one backstop could have written for snapshot `label/timestamp`:
/// names valid and unique, every table definition one CREATE TABLE accepts, bucket counts in
/// range, every object key exactly `objects/<2 hex>/<sha256>` of its own sha256, sizes and row
/// counts within bounds and consistent with their totals. Nothing here allocates from a
/// declared size. `Err` names the first problem.
pub fn validate(m: &Manifest, label: &str, timestamp: &str) -> Result<(), String> {
    if m.label != label {
        return Err(format!(
            "its manifest names label '{}', but it is stored under '{label}'",
            m.label
        ));
    }
    if m.timestamp != timestamp {
        return Err(format!(
            "its manifest names timestamp '{}', but it is stored under '{timestamp}'",
            m.timestamp
        ));
    }
    crate::catalog::validate_database_name(&m.database)
        .map_err(|e| format!("its manifest names a bad database: {e}"))?;
    for (i, t) in m.tables.iter().enumerate() {
        validate_table(t).map_err(|why| format!("table '{}' in its manifest: {why}", t.name))?;
        if m.tables
            .iter()
            .take(i)
            .any(|o| o.name.eq_ignore_ascii_case(&t.name))
        {
            return Err(format!("its manifest lists table '{}' twice", t.name));
        }
    }
    for (i, v) in m.views.iter().enumerate() {
        validate_view(v).map_err(|why| format!("view '{}' in its manifest: {why}", v.name))?;
        if m.tables
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(&v.name))
            || m.views
                .iter()
                .take(i)
                .any(|o| o.name.eq_ignore_ascii_case(&v.name))
        {
            return Err(format!("its manifest lists '{}' twice", v.name));
        }
    }
    // One object, one size: two rowsets naming the same content must agree on its size.
    let mut sizes: BTreeMap<&str, u64> = BTreeMap::new();
    for r in m
        .tables
        .iter()
        .flat_map(|t| &t.partitions)
        .flat_map(|p| &p.tablets)
        .flat_map(|t| t.files())
    {
        let (r, _) = r;
        if let Some(size) = sizes.insert(&r.object, r.size)
            && size != r.size
        {
            return Err(format!(
                "its manifest gives object {} two sizes, {size} and {}",
                r.object, r.size
            ));
        }
    }
    Ok(())
}

/// A view's name, columns and query: what CREATE VIEW would have accepted.
fn validate_view(v: &ManifestView) -> Result<(), String> {
    crate::catalog::validate_table_name(&v.name).map_err(|e| e.to_string())?;
    for (i, c) in v.columns.iter().enumerate() {
        if v.columns
            .iter()
            .take(i)
            .any(|o| o.name.eq_ignore_ascii_case(&c.name))
        {
            return Err(format!("column '{}' is listed twice", c.name));
        }
    }
    validate_definition(&v.definition)
}

/// A view's or materialized view's query: bounded, one query, nothing a view may not read.
fn validate_definition(definition: &str) -> Result<(), String> {
    if definition.len() > MAX_VIEW_DEFINITION_BYTES {
        return Err(format!(
            "its query has {} bytes, more than {MAX_VIEW_DEFINITION_BYTES}",
            definition.len()
        ));
    }
    let query = crate::sql::parse_view_query(definition)?;
    match crate::sql::view_query_problem(&query) {
        Some(why) => Err(why.into()),
        None => Ok(()),
    }
}

fn validate_table(t: &ManifestTable) -> Result<(), String> {
    if let Some(mv) = &t.materialized {
        validate_definition(&mv.definition)
            .map_err(|why| format!("as a materialized view: {why}"))?;
        if t.key.model != crate::catalog::KeyModel::Duplicate
            || t.partitioning != crate::catalog::Partitioning::None
        {
            return Err("a materialized view is an unpartitioned DUPLICATE KEY table".into());
        }
        if let crate::catalog::materialized::Refresh::Async { start_ms, every_s } = mv.refresh {
            if every_s == Some(0) {
                return Err("its refresh interval is 0 seconds".into());
            }
            // Within years 1970..=9999.
            if start_ms.is_some_and(|ms| !(0..=253_402_300_799_000).contains(&ms)) {
                return Err("its refresh START is out of range".into());
            }
        }
    }
    let meta = t.table_meta(0, t.name.clone(), t.properties.clone(), 0);
    crate::catalog::schema::validate_table(&meta).map_err(|e| e.to_string())?;
    // Dynamic partitioning drops partitions by its properties: only ones CREATE accepts.
    crate::catalog::dynamic::spec(&meta)?;
    let mut rows = 0u64;
    let mut checksum = 0u64;
    for (i, p) in t.partitions.iter().enumerate() {
        let at = format!("partition '{}'", p.name);
        if t.partitioning == crate::catalog::Partitioning::None {
            if !p.name.eq_ignore_ascii_case(&t.name) || t.partitions.len() != 1 {
                return Err(format!(
                    "{at}: an unpartitioned table has one partition, named like the table"
                ));
            }
        } else {
            crate::catalog::validate_partition_name(&p.name).map_err(|e| e.to_string())?;
        }
        if t.partitions
            .iter()
            .take(i)
            .any(|o| o.name.eq_ignore_ascii_case(&p.name))
        {
            return Err(format!("{at} is listed twice"));
        }
        crate::catalog::schema::validate_buckets(p.buckets).map_err(|e| format!("{at}: {e}"))?;
        let mut partition_rows = 0i128;
        for (j, tablet) in p.tablets.iter().enumerate() {
            if tablet.bucket >= p.buckets {
                return Err(format!(
                    "{at}: tablet (bucket) {} is outside its {} buckets",
                    tablet.bucket, p.buckets
                ));
            }
            if p.tablets.iter().take(j).any(|o| o.bucket == tablet.bucket) {
                return Err(format!(
                    "{at}: tablet (bucket) {} is listed twice",
                    tablet.bucket
                ));
            }
            for (r, kind) in tablet.files() {
                validate_rowset(r, p.visible_version)
                    .map_err(|why| format!("{at}, tablet (bucket) {}: {why}", tablet.bucket))?;
                match kind {
                    RowsetKind::Data => {
                        partition_rows += i128::from(r.rows);
                        checksum = checksum.wrapping_add(r.checksum);
                    }
                    RowsetKind::Deletes => {
                        partition_rows -= i128::from(r.rows);
                        checksum = checksum.wrapping_sub(r.checksum);
                    }
                }
            }
        }
        if partition_rows != i128::from(p.rows) {
            return Err(format!(
                "{at} declares {} rows, its rowsets hold {partition_rows}",
                p.rows
            ));
        }
        rows = rows.saturating_add(p.rows);
    }
    if rows != t.rows {
        return Err(format!(
            "it declares {} rows, its partitions hold {rows}",
            t.rows
        ));
    }
    if checksum != t.checksum {
        return Err(format!(
            "it declares checksum {}, its rowsets add up to {checksum}",
            t.checksum
        ));
    }
    Ok(())
}

fn validate_rowset(r: &ManifestRowset, visible_version: u64) -> Result<(), String> {
    let hex = r.sha256.len() == 64
        && r.sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return Err(format!(
            "rowset sha256 '{}' is not 64 lowercase hex digits",
            r.sha256
        ));
    }
    let key = layout::object_key(&r.sha256);
    if r.object != key {
        return Err(format!(
            "rowset object key '{}' is not the key of its content, {key}",
            r.object
        ));
    }
    if r.size > MAX_OBJECT_BYTES {
        return Err(format!(
            "object {} declares {} bytes, more than the {MAX_OBJECT_BYTES} a rowset may have",
            r.object, r.size
        ));
    }
    if r.rows > MAX_ROWSET_ROWS {
        return Err(format!(
            "object {} declares {} rows, more than the {MAX_ROWSET_ROWS} a rowset may have",
            r.object, r.rows
        ));
    }
    if r.start_version > r.end_version || r.end_version > visible_version {
        return Err(format!(
            "object {} covers versions {}..={}, not within the partition's visible version {}",
            r.object, r.start_version, r.end_version, visible_version
        ));
    }
    Ok(())
}

/// Labels and their timestamps found under `snapshots/`, with whether each has a COMMIT.
pub async fn list_snapshots(
    store: &ObjectStore,
    label: Option<&str>,
) -> Result<BTreeMap<String, BTreeMap<String, bool>>, StoreError> {
    let prefix = match label {
        // A label that cannot name a folder has no snapshots (and never becomes a prefix).
        Some(l) if !is_valid_label(l) => return Ok(BTreeMap::new()),
        Some(l) => format!("{}{l}/", layout::SNAPSHOTS_PREFIX),
        None => layout::SNAPSHOTS_PREFIX.to_string(),
    };
    let mut out: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for object in store.list(&prefix).await? {
        let Some(rest) = object.key.strip_prefix(layout::SNAPSHOTS_PREFIX) else {
            continue;
        };
        let mut parts = rest.splitn(3, '/');
        let (Some(label), Some(ts), Some(file)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let committed = out
            .entry(label.to_string())
            .or_default()
            .entry(ts.to_string())
            .or_insert(false);
        if file == COMMIT {
            *committed = true;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_starrocks_format() {
        let ts = snapshot_timestamp(1_675_781_153_143);
        assert_eq!(ts, "2023-02-07-14-45-53-143");
        assert!(is_snapshot_timestamp(&ts));
        assert!(!is_snapshot_timestamp("2023-02-07-14-45-53"));
        assert!(!is_snapshot_timestamp("x"));
    }

    #[test]
    fn object_keys_spread_over_prefixes() {
        assert_eq!(layout::object_key("abcdef"), "objects/ab/abcdef");
    }

    /// A manifest a real BACKUP wrote (two tables: range-partitioned and unpartitioned).
    const REAL: &str = include_str!("testdata/manifest.json");
    const LABEL: &str = "s";
    const TIMESTAMP: &str = "2026-11-25-10-35-07-682";

    #[test]
    fn a_real_manifest_passes() {
        let m = parse(REAL.as_bytes(), LABEL, TIMESTAMP).unwrap();
        assert_eq!(m.tables.len(), 2);
        assert_eq!(m.objects().len(), 4);
        // Stored under another label or timestamp it does not.
        assert!(parse(REAL.as_bytes(), "t", TIMESTAMP).is_err());
        assert!(parse(REAL.as_bytes(), LABEL, "2026-11-25-10-35-07-683").is_err());
    }

    #[test]
    fn versions_follow_what_a_snapshot_holds() {
        let mut m = parse(REAL.as_bytes(), LABEL, TIMESTAMP).unwrap();
        assert_eq!(
            needed_version(&m.tables, &m.views),
            1,
            "DUPLICATE KEY tables only"
        );
        // A delete file: version 2 is needed, and a version-1 manifest with one is damaged.
        let tablet = m
            .tables
            .iter_mut()
            .flat_map(|t| &mut t.partitions)
            .flat_map(|p| &mut p.tablets)
            .find(|t| !t.rowsets.is_empty())
            .unwrap();
        let mut deletes = tablet.rowsets[0].clone();
        deletes.rows = 0;
        deletes.checksum = 0;
        tablet.deletes.push(deletes);
        assert_eq!(needed_version(&m.tables, &m.views), 2);
        let as_v1 = serde_json::to_vec(&m).unwrap();
        let err = parse(&as_v1, LABEL, TIMESTAMP).unwrap_err();
        assert!(err.contains("format version 1, yet it holds"), "{err}");
        m.format_version = 2;
        parse(&serde_json::to_vec(&m).unwrap(), LABEL, TIMESTAMP).unwrap();
        // Keyed tables and JSON columns need it too.
        let mut m = parse(REAL.as_bytes(), LABEL, TIMESTAMP).unwrap();
        m.tables[1].columns[0].data_type = crate::catalog::ColumnType::Json;
        assert_eq!(needed_version(&m.tables, &m.views), 2);
        let mut m = parse(REAL.as_bytes(), LABEL, TIMESTAMP).unwrap();
        m.tables[1].key.model = crate::catalog::KeyModel::Unique;
        assert_eq!(needed_version(&m.tables, &m.views), 2);
        // A view: version 3; its name may be neither a table's nor another view's, and its
        // definition must be one query.
        let mut m = parse(REAL.as_bytes(), LABEL, TIMESTAMP).unwrap();
        let view = ManifestView {
            name: "v".into(),
            columns: m.tables[0].columns.clone(),
            named_columns: false,
            definition: format!("SELECT * FROM {}", m.tables[0].name),
            comment: None,
            security_invoker: false,
            definer: String::new(),
        };
        m.views.push(view.clone());
        assert_eq!(needed_version(&m.tables, &m.views), 3);
        let err = parse(&serde_json::to_vec(&m).unwrap(), LABEL, TIMESTAMP).unwrap_err();
        assert!(err.contains("format version 1, yet it holds"), "{err}");
        m.format_version = 3;
        parse(&serde_json::to_vec(&m).unwrap(), LABEL, TIMESTAMP).unwrap();
        for (bad, why) in [
            (
                ManifestView {
                    name: m.tables[0].name.clone(),
                    ..view.clone()
                },
                "twice",
            ),
            (
                ManifestView {
                    definition: "DROP TABLE x".into(),
                    ..view.clone()
                },
                "not one query",
            ),
            (
                ManifestView {
                    definition: "SELECT FROM WHERE".into(),
                    ..view.clone()
                },
                "does not parse",
            ),
            (
                ManifestView {
                    name: "../x".into(),
                    ..view.clone()
                },
                "Incorrect table name",
            ),
        ] {
            m.views = vec![bad];
            let err = parse(&serde_json::to_vec(&m).unwrap(), LABEL, TIMESTAMP).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn materialized_views_in_a_manifest_are_checked() {
        use crate::catalog::materialized::{Materialized, Refresh};
        let mut m = parse(REAL.as_bytes(), LABEL, TIMESTAMP).unwrap();
        m.format_version = 4;
        let unpartitioned = m
            .tables
            .iter()
            .position(|t| t.partitioning == crate::catalog::Partitioning::None)
            .unwrap();
        let mv = Materialized {
            definition: "SELECT 1 AS one".into(),
            refresh: Refresh::Manual,
            active: true,
            inactive_reason: None,
            last_refresh: None,
            definer: "root@%".into(),
            restored_from: None,
        };
        m.tables[unpartitioned].materialized = Some(mv.clone());
        assert_eq!(needed_version(&m.tables, &m.views), 4);
        parse(&serde_json::to_vec(&m).unwrap(), LABEL, TIMESTAMP).unwrap();
        for (bad, why) in [
            (
                Materialized {
                    definition: "SELECT * FROM FILES('path' = 'file:///etc/passwd')".into(),
                    ..mv.clone()
                },
                "table function",
            ),
            (
                Materialized {
                    refresh: Refresh::Async {
                        start_ms: None,
                        every_s: Some(0),
                    },
                    ..mv.clone()
                },
                "0 seconds",
            ),
            (
                Materialized {
                    refresh: Refresh::Async {
                        start_ms: Some(i64::MIN),
                        every_s: Some(60),
                    },
                    ..mv.clone()
                },
                "out of range",
            ),
        ] {
            m.tables[unpartitioned].materialized = Some(bad);
            let err = parse(&serde_json::to_vec(&m).unwrap(), LABEL, TIMESTAMP).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
        m.tables[unpartitioned].materialized = Some(mv);
        m.tables[unpartitioned].key.model = crate::catalog::KeyModel::Primary;
        let err = parse(&serde_json::to_vec(&m).unwrap(), LABEL, TIMESTAMP).unwrap_err();
        assert!(err.contains("unpartitioned DUPLICATE KEY"), "{err}");
    }

    #[test]
    fn labels() {
        for ok in ["s", "sr_member_backup", "a b", "Ünïcode", "a.b", "..."] {
            assert!(is_valid_label(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a\\b",
            "a\0b",
            "a\nb",
            &"x".repeat(1025),
        ] {
            assert!(!is_valid_label(bad), "{bad:?}");
        }
    }

    /// Every leaf of `v`, as a JSON pointer.
    fn leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                out.push(at.clone());
                for (k, child) in map {
                    leaves(child, format!("{at}/{k}"), out);
                }
            }
            serde_json::Value::Array(items) => {
                out.push(at.clone());
                for (i, child) in items.iter().enumerate() {
                    leaves(child, format!("{at}/{i}"), out);
                }
            }
            _ => out.push(at),
        }
    }

    /// What an accepted manifest guarantees its consumers, whatever its bytes were.
    fn assert_sane(m: &Manifest) {
        let mut total = 0u64;
        for (key, r) in m.objects() {
            assert_eq!(key, layout::object_key(&r.sha256));
            assert_eq!(key.len(), "objects/".len() + 2 + 1 + 64);
            assert!(!key.contains(".."));
            assert!(r.size <= MAX_OBJECT_BYTES);
            total = total
                .checked_add(r.size)
                .expect("sizes add up without overflow");
        }
        for t in &m.tables {
            for p in &t.partitions {
                assert!((1..=crate::catalog::schema::MAX_BUCKETS).contains(&p.buckets));
                assert!(p.tablets.iter().all(|tablet| tablet.bucket < p.buckets));
            }
        }
    }

    use proptest::prelude::*;

    fn values() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::json;
        prop_oneof![
            Just(json!(null)),
            Just(json!(0)),
            Just(json!(-1)),
            Just(json!(u64::MAX)),
            Just(json!(u32::MAX)),
            Just(json!(1u64 << 41)),
            Just(json!(1.5)),
            Just(json!("")),
            Just(json!("../../etc/passwd")),
            Just(json!("/etc/passwd")),
            Just(json!("objects/../../x")),
            Just(json!("ab".repeat(32))),
            Just(json!([])),
            Just(json!({})),
            any::<i64>().prop_map(|n| json!(n)),
            "\\PC{0,40}".prop_map(|s| json!(s)),
        ]
    }

    proptest! {
        #![proptest_config(crate::sql::tests::proptest_config(512))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(m) = parse(&bytes, LABEL, TIMESTAMP) {
                assert_sane(&m);
            }
        }

        #[test]
        fn json_shaped_text_never_panics(text in "[\\[\\]{}:,\"0-9a-z_ -]{0,400}") {
            if let Ok(m) = parse(text.as_bytes(), LABEL, TIMESTAMP) {
                assert_sane(&m);
            }
        }

        /// A real manifest with bytes overwritten, removed or cut off.
        #[test]
        fn mutated_bytes_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            let mut bytes = REAL.as_bytes().to_vec();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                if let Some(b) = bytes.get_mut(i) {
                    *b = byte;
                }
            }
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len()));
            }
            if let Ok(m) = parse(&bytes, LABEL, TIMESTAMP) {
                assert_sane(&m);
            }
        }

        /// A real manifest with values replaced by hostile ones, or fields removed.
        #[test]
        fn mutated_fields_never_panic(
            edits in proptest::collection::vec(
                (any::<prop::sample::Index>(), proptest::option::of(values())),
                1..4,
            ),
        ) {
            let mut v: serde_json::Value = serde_json::from_str(REAL).unwrap();
            for (at, value) in edits {
                let mut paths = Vec::new();
                leaves(&v, String::new(), &mut paths);
                let path = paths.get(at.index(paths.len())).cloned().unwrap_or_default();
                match value {
                    Some(value) => {
                        if let Some(slot) = v.pointer_mut(&path) {
                            *slot = value;
                        }
                    }
                    None => {
                        if let Some((parent, key)) = path.rsplit_once('/')
                            && let Some(serde_json::Value::Object(map)) = v.pointer_mut(parent)
                        {
                            map.remove(key);
                        }
                    }
                }
            }
            let bytes = serde_json::to_vec(&v).unwrap();
            if let Ok(m) = parse(&bytes, LABEL, TIMESTAMP) {
                assert_sane(&m);
            }
        }
    }

    /// What the writer encodes, the reader accepts and returns unchanged.
    #[tokio::test]
    async fn the_committed_writer_and_reader_agree() {
        let m = parse(REAL.as_bytes(), "s", "2026-11-25-10-35-07-682").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::Local(super::super::local::LocalStore::new(dir.path().into()));
        let (manifest, commit) = encode_committed(&m).unwrap();
        assert_eq!(
            manifest.key,
            "snapshots/s/2026-11-25-10-35-07-682/manifest.json"
        );
        assert_eq!(commit.key, "snapshots/s/2026-11-25-10-35-07-682/COMMIT");
        store
            .put_bytes(&manifest.key, manifest.bytes)
            .await
            .unwrap();
        assert!(matches!(
            read_committed(&store, "s", &m.timestamp).await,
            Err(SnapshotError::Missing { .. })
        ));
        store.put_bytes(&commit.key, commit.bytes).await.unwrap();
        assert_eq!(read_committed(&store, "s", &m.timestamp).await.unwrap(), m);
    }
}
