//! Compaction: a tablet's small rowset files merged into fewer, larger ones, and its delete
//! files folded into the rows they delete.
//!
//! Every load leaves one file per tablet it touches, so a table fed by many small loads ends up
//! with thousands of small files: queries open them all, and an upsert reads the key columns of
//! each. Compaction is size-tiered (as StarRocks' cumulative compaction): a tablet's data files
//! under [`Policy::small_bytes`] fall into tiers by size (each [`TIER_RATIO`] times the one
//! below, starting under [`TIER_BASE_BYTES`]), and a tier holding at least
//! [`Policy::min_files`] files is merged into one file. A *base* compaction (`ALTER TABLE ...
//! BASE COMPACT`) merges every data file of the tablet.
//!
//! What a merge writes is what queries saw: the rows of its input files minus the rows the
//! tablet's delete files remove. When a tablet has delete files, a merge replaces all of them:
//! the positions that name files it merged are dropped (those rows are gone from the new file),
//! the others go into one new delete file. A tablet whose delete files pile up with no data
//! merge due has them merged alone. Row counts and content checksums stay sums over the
//! catalog: a merged file's checksum is its rows' hashes, and the new delete file's is the old
//! ones' minus the hashes of the rows dropped with their positions. Each input file's rows are
//! hashed again while they are read and must add up to the checksum the catalog holds for it,
//! so a merge never changes what CHECKSUM TABLE answers; if they do not, nothing is written.
//!
//! Files keep their own columns: files written before an ADD or DROP COLUMN are merged only
//! with files of the same columns (so each file's checksum still hashes its own columns, and a
//! dropped column's values stay where the name check of ADD COLUMN finds them).
//!
//! This module only writes files. The caller (`command::compaction`) chooses the tablets, holds
//! the table's write lock and the pins, and commits the result in one catalog transaction
//! (`Catalog::commit_compaction`); files of a merge that is not committed are orphans that the
//! collector (or start-up) removes.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use datafusion::arrow::array::{BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::{Fields, Schema};

use super::RowsetError;
use super::checksum::row_hashes;
use super::keyed::{Deleted, open_reader, read_error, write_positions};
use super::rowset::RowsetWriter;
use super::table::rowset_path;
use crate::catalog::TabletTree;
use crate::catalog::schema::{RowsetKind, RowsetMeta};

/// The largest file of the lowest tier. Small: a merged file that stays in its tier is merged
/// again with the next files of the tier, so the bytes rewritten again and again are at most
/// this much per merge.
pub const TIER_BASE_BYTES: u64 = 64 << 10;
/// How much larger each tier's files are than the tier's below.
pub const TIER_RATIO: u64 = 4;

/// When a tablet's files are merged.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Files of one tier (or delete files) it takes to merge them (StarRocks'
    /// `min_cumulative_compaction_num_singleton_deltas`, 5).
    pub min_files: usize,
    /// Files one merge takes at most (StarRocks' `max_cumulative_compaction_num_singleton_deltas`).
    pub max_files: usize,
    /// Data files of this size or more are left alone by a cumulative compaction.
    pub small_bytes: u64,
    /// Bytes of data files one cumulative merge takes at most (so a merge, which holds the
    /// table's write lock, stays short).
    pub max_bytes: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_files: 5,
            max_files: 1000,
            small_bytes: 64 << 20,
            max_bytes: 256 << 20,
        }
    }
}

/// Cumulative (size-tiered, the background's) or base (every data file, on request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cumulative,
    Base,
}

/// What one merge of a tablet takes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The data files to merge.
    pub data: Vec<RowsetMeta>,
    /// The delete files to replace: every delete file of the tablet, or none.
    pub deletes: Vec<RowsetMeta>,
}

impl Plan {
    /// Files the merge takes in.
    pub fn inputs(&self) -> usize {
        self.data.len() + self.deletes.len()
    }
}

/// The tier of a data file of `bytes` bytes: 0 below [`TIER_BASE_BYTES`], then one more each
/// [`TIER_RATIO`] times larger.
pub fn tier(bytes: u64) -> u32 {
    let mut tier = 0;
    let mut limit = TIER_BASE_BYTES;
    while bytes >= limit && limit < u64::MAX {
        tier += 1;
        limit = limit.saturating_mul(TIER_RATIO);
    }
    tier
}

/// The merge `tablet` is due for, if any. In a tablet with delete files, data files of the
/// same content are merged all together or not at all: a position names a row of every file
/// with that content (see `store::keyed`).
pub fn plan(tablet: &TabletTree, kind: Kind, policy: &Policy) -> Option<Plan> {
    let (data, deletes): (Vec<&RowsetMeta>, Vec<&RowsetMeta>) =
        tablet.rowsets.iter().partition(|r| r.kind.is_data());
    let mut chosen: Vec<&RowsetMeta> = match kind {
        Kind::Base => data.iter().copied().take(policy.max_files).collect(),
        Kind::Cumulative => {
            let mut tiers: BTreeMap<u32, Vec<&RowsetMeta>> = BTreeMap::new();
            for r in data.iter().filter(|r| r.bytes < policy.small_bytes) {
                tiers.entry(tier(r.bytes)).or_default().push(r);
            }
            let mut bytes = 0u64;
            tiers
                .into_values()
                .find(|files| files.len() >= policy.min_files.max(2))
                .map(|files| {
                    files
                        .into_iter()
                        .take(policy.max_files)
                        .take_while(|r| {
                            bytes = bytes.saturating_add(r.bytes);
                            bytes <= policy.max_bytes
                        })
                        .collect()
                })
                .unwrap_or_default()
        }
    };
    if !deletes.is_empty() {
        // Files of the same content share their positions in the delete files: they are merged
        // all together or not at all.
        let mut copies: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &data {
            *copies.entry(r.sha256.as_str()).or_default() += 1;
        }
        let mut taken: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &chosen {
            *taken.entry(r.sha256.as_str()).or_default() += 1;
        }
        chosen.retain(|r| taken.get(r.sha256.as_str()) == copies.get(r.sha256.as_str()));
    }
    let enough = match kind {
        Kind::Base => 2,
        Kind::Cumulative => policy.min_files.max(2),
    };
    let worth = match kind {
        Kind::Base => chosen.len() >= 2 || !deletes.is_empty(),
        Kind::Cumulative => chosen.len() >= enough || deletes.len() >= enough,
    };
    if !worth {
        return None;
    }
    if kind == Kind::Cumulative && chosen.len() < enough {
        chosen.clear();
    }
    Some(Plan {
        data: chosen.into_iter().cloned().collect(),
        deletes: deletes.into_iter().cloned().collect(),
    })
}

/// The files a merge wrote, before the catalog commits them.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The rowsets the merge replaces (ids of the tablet's files).
    pub removed: Vec<u64>,
    /// The new rowsets (data files, then at most one delete file), their versions the range of
    /// the files each replaces.
    pub added: Vec<RowsetMeta>,
}

/// Carries out `plan` on `tablet`: writes the merged files under the ids `ids` (one per data
/// file the plan names, one more for the delete file). Returns `None` when nothing needs
/// writing after all (every input alone among files of its columns, and no delete file to
/// fold). On an error, the files it wrote are removed again. Blocking.
pub fn merge(
    data_dir: &Path,
    tablet: &TabletTree,
    plan: &Plan,
    ids: Vec<u64>,
) -> Result<Option<Merged>, RowsetError> {
    let mut written = Vec::new();
    let result = merge_into(data_dir, tablet, plan, ids, &mut written);
    if result.is_err() {
        for r in &written {
            let _ = std::fs::remove_file(rowset_path(data_dir, tablet.tablet.id, *r));
        }
    }
    result
}

fn merge_into(
    data_dir: &Path,
    tablet: &TabletTree,
    plan: &Plan,
    mut ids: Vec<u64>,
    written: &mut Vec<u64>,
) -> Result<Option<Merged>, RowsetError> {
    let tablet_id = tablet.tablet.id;
    let deleted = Deleted::read(data_dir, tablet)?;
    // Inputs by their own columns, in id order; groups of one file with nothing deleted from
    // it stay as they are.
    let mut shapes: Vec<(Fields, Vec<&RowsetMeta>)> = Vec::new();
    for r in &plan.data {
        let path = rowset_path(data_dir, tablet_id, r.id);
        let (_permit, builder) = open_reader(&path, None)?;
        let fields = builder.schema().fields().clone();
        match shapes.iter_mut().find(|(f, _)| *f == fields) {
            Some((_, files)) => files.push(r),
            None => shapes.push((fields, vec![r])),
        }
    }
    shapes.retain(|(_, files)| {
        files.len() >= 2 || files.iter().any(|r| deleted.of(&r.sha256).is_some())
    });
    let merged: HashSet<&str> = shapes
        .iter()
        .flat_map(|(_, files)| files.iter().map(|r| r.sha256.as_str()))
        .collect();
    // Every copy of a merged content goes (the plan takes them together).
    let copies = |sha: &str| {
        tablet
            .rowsets
            .iter()
            .filter(|r| r.kind.is_data() && r.sha256 == sha)
            .count()
    };
    let taken_copies: usize = shapes.iter().map(|(_, f)| f.len()).sum();
    if merged.iter().map(|sha| copies(sha)).sum::<usize>() != taken_copies {
        return Err(not_merged(
            tablet_id,
            "files of the same content are not all in the merge",
        ));
    }
    // The delete files taken in: those naming a merged file (all of them when no data file is
    // merged: they are merged alone). The others stay as they are.
    let mut taken: Vec<&RowsetMeta> = Vec::new();
    let mut kept: Vec<(String, u64)> = Vec::new();
    let mut dropped_entries = 0u64;
    for d in &plan.deletes {
        let path = rowset_path(data_dir, tablet_id, d.id);
        let mut entries: Vec<(String, u64)> = Vec::new();
        let mut names_merged = false;
        super::keyed::for_each_position(&path, |sha, pos| {
            names_merged |= merged.contains(sha);
            entries.push((sha.to_string(), pos));
        })?;
        if !names_merged && !merged.is_empty() {
            continue;
        }
        taken.push(d);
        for (sha, pos) in entries {
            if merged.contains(sha.as_str()) {
                dropped_entries += 1;
            } else {
                kept.push((sha, pos));
            }
        }
    }
    if shapes.is_empty() && taken.len() < 2 {
        return Ok(None);
    }
    // Each position of a merged file is one row dropped from it: checked before anything is
    // written.
    let dropped_rows: u64 = shapes
        .iter()
        .flat_map(|(_, files)| files.iter())
        .map(|r| {
            deleted
                .of(&r.sha256)
                .map_or(0, |g| g.range(..r.rows).count() as u64)
        })
        .sum();
    if dropped_rows != dropped_entries {
        return Err(not_merged(
            tablet_id,
            &format!(
                "its delete files name {dropped_entries} rows of the files merged, which hold \
                 {dropped_rows} of them"
            ),
        ));
    }
    let mut removed = Vec::new();
    let mut added = Vec::new();
    let mut dropped_hashes = 0u64;
    for (fields, files) in &shapes {
        let id = ids.pop().ok_or(RowsetError::Closed)?;
        let target = rowset_path(data_dir, tablet_id, id);
        let dir = target.parent().unwrap_or(data_dir);
        let schema = std::sync::Arc::new(Schema::new(fields.clone()));
        let mut writer = RowsetWriter::create(
            dir,
            &format!("{id}.parquet"),
            schema.clone(),
            Some(super::keyed::nonce()),
        )?;
        for r in files {
            let path = rowset_path(data_dir, tablet_id, r.id);
            let (rows, all, live) = copy_live(&path, deleted.of(&r.sha256), &schema, &mut writer)?;
            if rows != r.rows || all != r.content_checksum {
                return Err(read_error(
                    &path,
                    format!(
                        "its rows hash to {all:#x} ({rows} rows), the catalog holds {:#x} \
                         ({} rows): the file is not what was committed; it was not merged",
                        r.content_checksum, r.rows
                    ),
                ));
            }
            dropped_hashes = dropped_hashes.wrapping_add(all.wrapping_sub(live));
            removed.push(r.id);
        }
        let file = writer.finish()?;
        written.push(id);
        added.push(file.meta(tablet_id, id, RowsetKind::Data, span(files.iter().copied())));
    }
    if !taken.is_empty() {
        let old_sum = taken
            .iter()
            .fold(0u64, |acc, r| acc.wrapping_add(r.content_checksum));
        removed.extend(taken.iter().map(|r| r.id));
        if kept.is_empty() {
            if old_sum != dropped_hashes {
                return Err(not_merged(
                    tablet_id,
                    "the rows its delete files remove do not hash to their checksum",
                ));
            }
        } else {
            let id = ids.pop().ok_or(RowsetError::Closed)?;
            let mut file = write_positions(data_dir, tablet_id, id, kept)?;
            written.push(id);
            file.checksum = old_sum.wrapping_sub(dropped_hashes);
            added.push(file.meta(
                tablet_id,
                id,
                RowsetKind::Deletes,
                span(taken.iter().copied()),
            ));
        }
    }
    Ok(Some(Merged { removed, added }))
}

/// The versions the merged `files` held together, from the first's start to the last's end.
fn span<'a>(files: impl Iterator<Item = &'a RowsetMeta> + Clone) -> std::ops::RangeInclusive<u64> {
    let start = files.clone().map(|r| r.start_version).min().unwrap_or(0);
    let end = files.map(|r| r.end_version).max().unwrap_or(0);
    start..=end
}

fn not_merged(tablet: u64, why: &str) -> RowsetError {
    RowsetError::Read {
        path: std::path::PathBuf::from(format!("tablet {tablet}")),
        message: format!("{why}; the tablet was not merged"),
    }
}

/// Writes the rows of data file `path` that `gone` does not delete to `writer`, as `schema`.
/// Returns the file's row count, the sum of every row's hash and the sum of the written rows'.
fn copy_live(
    path: &Path,
    gone: Option<&BTreeSet<u64>>,
    schema: &datafusion::arrow::datatypes::SchemaRef,
    writer: &mut RowsetWriter,
) -> Result<(u64, u64, u64), RowsetError> {
    let (_permit, builder) = open_reader(path, None)?;
    let mut at = 0u64;
    let mut all = 0u64;
    let mut live = 0u64;
    for batch in builder.build().map_err(|e| read_error(path, e))? {
        let batch = batch.map_err(|e| read_error(path, e))?;
        let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
            .map_err(|e| read_error(path, e))?;
        let hashes = row_hashes(&batch);
        let first = at;
        at += batch.num_rows() as u64;
        let keep: Option<Vec<bool>> = gone
            .filter(|g| g.range(first..at).next().is_some())
            .map(|g| (first..at).map(|p| !g.contains(&p)).collect());
        let mut sum = 0u64;
        for (i, h) in hashes.iter().enumerate() {
            all = all.wrapping_add(*h);
            if keep
                .as_ref()
                .is_none_or(|k| k.get(i).copied().unwrap_or(true))
            {
                sum = sum.wrapping_add(*h);
            }
        }
        live = live.wrapping_add(sum);
        match keep {
            None => writer.write_with_checksum(&batch, sum)?,
            Some(keep) => {
                let mask = BooleanArray::from(keep);
                let kept = datafusion::arrow::compute::filter_record_batch(&batch, &mask)
                    .map_err(|e| read_error(path, e))?;
                if kept.num_rows() > 0 {
                    writer.write_with_checksum(&kept, sum)?;
                }
            }
        }
    }
    Ok((at, all, live))
}

/// The last compaction of a tablet on this server, for SHOW TABLET.
#[derive(Debug, Clone)]
pub struct Status {
    pub at_ms: i64,
    pub kind: Kind,
    /// Files taken in and written (when it committed), or why it failed.
    pub outcome: std::result::Result<(usize, usize), String>,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = chrono::DateTime::from_timestamp_millis(self.at_ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let kind = match self.kind {
            Kind::Base => "base",
            Kind::Cumulative => "cumulative",
        };
        match &self.outcome {
            Ok((taken, written)) => {
                write!(f, "{kind} {at}: {taken} files into {written}")
            }
            Err(why) => write!(f, "{kind} {at} failed: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::schema::TabletMeta;

    fn rowset(id: u64, bytes: u64, kind: RowsetKind) -> RowsetMeta {
        RowsetMeta {
            id,
            tablet_id: 1,
            start_version: id,
            end_version: id,
            rows: 1,
            bytes,
            sha256: format!("{id:064x}"),
            content_checksum: 0,
            kind,
        }
    }

    fn tablet(rowsets: Vec<RowsetMeta>) -> TabletTree {
        TabletTree {
            tablet: TabletMeta {
                id: 1,
                table_id: 1,
                partition_id: 1,
                bucket: 0,
            },
            rowsets,
        }
    }

    #[test]
    fn tiers_grow_by_the_ratio() {
        assert_eq!(tier(0), 0);
        assert_eq!(tier(TIER_BASE_BYTES - 1), 0);
        assert_eq!(tier(TIER_BASE_BYTES), 1);
        assert_eq!(tier(TIER_BASE_BYTES * TIER_RATIO - 1), 1);
        assert_eq!(tier(TIER_BASE_BYTES * TIER_RATIO), 2);
        assert_eq!(tier(u64::MAX), 24);
    }

    #[test]
    fn a_tier_merges_once_it_holds_enough_files() {
        let policy = Policy::default();
        let small: Vec<RowsetMeta> = (1..=4)
            .map(|i| rowset(i, 10_000, RowsetKind::Data))
            .collect();
        assert_eq!(
            plan(&tablet(small.clone()), Kind::Cumulative, &policy),
            None
        );
        let mut five = small.clone();
        five.push(rowset(5, 20_000, RowsetKind::Data));
        // A large file and a file of another tier stay out.
        five.push(rowset(6, 200 << 20, RowsetKind::Data));
        five.push(rowset(7, 3 << 20, RowsetKind::Data));
        let p = plan(&tablet(five.clone()), Kind::Cumulative, &policy).unwrap();
        assert_eq!(
            p.data.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        assert!(p.deletes.is_empty());
        // A base compaction takes every data file.
        let p = plan(&tablet(five), Kind::Base, &policy).unwrap();
        assert_eq!(p.data.len(), 7);
        // At most max_files a merge.
        let capped = Policy {
            max_files: 3,
            min_files: 2,
            ..policy
        };
        let p = plan(
            &tablet((1..=9).map(|i| rowset(i, 1, RowsetKind::Data)).collect()),
            Kind::Cumulative,
            &capped,
        )
        .unwrap();
        assert_eq!(p.data.len(), 3);
    }

    #[test]
    fn delete_files_go_with_every_merge_and_pile_up_alone() {
        let policy = Policy::default();
        let mut files: Vec<RowsetMeta> =
            (1..=5).map(|i| rowset(i, 100, RowsetKind::Data)).collect();
        files.push(rowset(6, 100, RowsetKind::Deletes));
        let p = plan(&tablet(files.clone()), Kind::Cumulative, &policy).unwrap();
        assert_eq!((p.data.len(), p.deletes.len()), (5, 1));
        // Two data files and four delete files: nothing due.
        let few: Vec<RowsetMeta> = [
            rowset(1, 100, RowsetKind::Data),
            rowset(2, 100, RowsetKind::Data),
        ]
        .into_iter()
        .chain((3..=6).map(|i| rowset(i, 100, RowsetKind::Deletes)))
        .collect();
        assert_eq!(plan(&tablet(few.clone()), Kind::Cumulative, &policy), None);
        let mut more = few;
        more.push(rowset(7, 100, RowsetKind::Deletes));
        let p = plan(&tablet(more), Kind::Cumulative, &policy).unwrap();
        assert_eq!((p.data.len(), p.deletes.len()), (0, 5));
        // Two data files of the same content beside delete files: merged together or not at
        // all.
        let mut twins = files;
        twins[1].sha256 = twins[0].sha256.clone();
        let p = plan(&tablet(twins.clone()), Kind::Base, &policy).unwrap();
        assert_eq!(p.data.len(), 5);
        let one = Policy {
            max_files: 1,
            ..policy
        };
        let p = plan(&tablet(twins), Kind::Base, &one).unwrap();
        assert!(p.data.is_empty(), "{p:?}");
        assert_eq!(p.deletes.len(), 1);
    }

    /// Writes a data file of rows `keys` as rowset `id` of tablet 1.
    fn data_file(dir: &Path, id: u64, keys: std::ops::Range<i64>) -> RowsetMeta {
        use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field};
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Utf8, true),
        ]));
        let k: Vec<i64> = keys.collect();
        let v: Vec<String> = k.iter().map(|k| format!("v{k}")).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                std::sync::Arc::new(Int64Array::from(k)) as ArrayRef,
                std::sync::Arc::new(StringArray::from(v)) as ArrayRef,
            ],
        )
        .unwrap();
        let path = rowset_path(dir, 1, id);
        let mut w = RowsetWriter::create(
            path.parent().unwrap(),
            &format!("{id}.parquet"),
            schema,
            Some(super::super::keyed::nonce()),
        )
        .unwrap();
        w.write(&batch).unwrap();
        let f = w.finish().unwrap();
        RowsetMeta {
            id,
            tablet_id: 1,
            start_version: id,
            end_version: id,
            rows: f.rows,
            bytes: f.bytes,
            sha256: f.sha256,
            content_checksum: f.checksum,
            kind: RowsetKind::Data,
        }
    }

    /// The hash of row `pos` of data file `r`.
    fn row_hash(dir: &Path, r: &RowsetMeta, pos: u64) -> u64 {
        let (_p, b) = open_reader(&rowset_path(dir, 1, r.id), None).unwrap();
        let batch = b.build().unwrap().next().unwrap().unwrap();
        row_hashes(&batch)[pos as usize]
    }

    /// Two of three data files merged, the third (say, large) kept: the rows deleted from the
    /// merged ones are gone from the new file, the positions naming the kept one move to a new
    /// delete file, and the tablet's rows and checksum are what they were.
    #[test]
    fn a_merge_keeps_the_deletes_of_the_files_it_leaves() {
        use super::super::keyed::{DeletedRow, write_deletes};
        let dir = tempfile::tempdir().unwrap();
        let a = data_file(dir.path(), 1, 0..10);
        let b = data_file(dir.path(), 2, 10..20);
        let c = data_file(dir.path(), 3, 20..30);
        let gone = [(&a, 3), (&a, 7), (&b, 0), (&c, 5), (&c, 9)];
        let rows: Vec<DeletedRow> = gone
            .iter()
            .map(|(r, pos)| DeletedRow {
                file: r.sha256.clone(),
                pos: *pos,
                hash: row_hash(dir.path(), r, *pos),
            })
            .collect();
        let f = write_deletes(dir.path(), 1, 4, rows).unwrap();
        let d = RowsetMeta {
            id: 4,
            tablet_id: 1,
            start_version: 4,
            end_version: 4,
            rows: f.rows,
            bytes: f.bytes,
            sha256: f.sha256,
            content_checksum: f.checksum,
            kind: RowsetKind::Deletes,
        };
        let t = tablet(vec![a.clone(), b.clone(), c.clone(), d.clone()]);
        let sum = |rs: &[RowsetMeta]| {
            rs.iter()
                .fold(0u64, |s, r| s.wrapping_add(r.checksum_delta()))
        };
        let visible = |rs: &[RowsetMeta]| rs.iter().map(RowsetMeta::visible_rows).sum::<i128>();
        let plan = Plan {
            data: vec![a.clone(), b.clone()],
            deletes: vec![d.clone()],
        };
        let merged = merge(dir.path(), &t, &plan, vec![11, 10]).unwrap().unwrap();
        assert_eq!(merged.removed, vec![1, 2, 4]);
        assert_eq!(merged.added.len(), 2);
        let (new_data, new_deletes) = (&merged.added[0], &merged.added[1]);
        assert_eq!((new_data.id, new_data.rows), (10, 17));
        assert_eq!((new_data.start_version, new_data.end_version), (1, 2));
        assert_eq!(
            (new_deletes.kind, new_deletes.rows),
            (RowsetKind::Deletes, 2)
        );
        let after = vec![c.clone(), new_data.clone(), new_deletes.clone()];
        assert_eq!(visible(&after), visible(&t.rowsets));
        assert_eq!(sum(&after), sum(&t.rowsets));
        let left = Deleted::read(dir.path(), &tablet(after)).unwrap();
        assert_eq!(left.of(&c.sha256), Some(&BTreeSet::from([5, 9])));
        assert_eq!(left.entries().count(), 1);
    }

    /// A file whose rows do not add up to the checksum the catalog holds is not merged.
    #[test]
    fn a_file_that_is_not_what_was_committed_is_not_merged() {
        let dir = tempfile::tempdir().unwrap();
        let a = data_file(dir.path(), 1, 0..10);
        let mut b = data_file(dir.path(), 2, 10..20);
        b.content_checksum ^= 1;
        let t = tablet(vec![a.clone(), b.clone()]);
        let plan = Plan {
            data: vec![a, b],
            deletes: vec![],
        };
        let e = merge(dir.path(), &t, &plan, vec![3, 4]).unwrap_err();
        assert!(e.to_string().contains("not what was committed"), "{e}");
    }

    #[test]
    fn base_needs_two_files_or_a_delete_file() {
        let policy = Policy::default();
        let one = tablet(vec![rowset(1, 100, RowsetKind::Data)]);
        assert_eq!(plan(&one, Kind::Base, &policy), None);
        let folded = tablet(vec![
            rowset(1, 100, RowsetKind::Data),
            rowset(2, 10, RowsetKind::Deletes),
        ]);
        assert!(plan(&folded, Kind::Base, &policy).is_some());
    }
}
