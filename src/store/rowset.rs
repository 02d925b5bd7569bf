//! Writing one rowset: an immutable Parquet file whose sha256, size, row count and content
//! checksum are computed while the bytes are written, so nothing ever reads the file again just
//! to describe it (a backup names the object by that sha256; CHECKSUM TABLE adds the checksums).
//!
//! The file is written under a temporary name, fsynced, renamed to its final name and the
//! directory fsynced: a crash leaves either no file or a complete one. Only the catalog
//! transaction that follows makes it part of a table; start-up removes files that no committed
//! rowset references.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use sha2::{Digest, Sha256};

use super::RowsetError;
use super::checksum::batch_checksum;

/// Encoded bytes a writer may hold before it closes its row group.
const ROW_GROUP_BUFFER_BYTES: usize = 1 << 20;
/// Target size of a data page (the unit zstd compresses).
const PAGE_BYTES: usize = 64 << 10;
/// Largest dictionary page before a column falls back to plain encoding.
const DICTIONARY_PAGE_BYTES: usize = 256 << 10;
/// Bytes buffered before they go to the file.
const WRITE_BUFFER_BYTES: usize = 128 << 10;

/// What the catalog records about a finished rowset file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowsetFile {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    /// Lower-case hex sha256 of the file's bytes.
    pub sha256: String,
    /// Sum of the rows' hashes (see `checksum`).
    pub checksum: u64,
}

impl RowsetFile {
    /// The catalog record of this finished file as rowset `id` of a tablet, before the commit
    /// gives it a version.
    pub fn loaded(
        self,
        partition_id: u64,
        tablet_id: u64,
        id: u64,
        kind: crate::catalog::schema::RowsetKind,
    ) -> crate::catalog::load::LoadedRowset {
        crate::catalog::load::LoadedRowset {
            partition_id,
            rowset: self.meta(tablet_id, id, kind, 0..=0),
        }
    }

    /// The catalog record of this finished file as rowset `id` of tablet `tablet_id`, holding
    /// the versions `versions`.
    pub fn meta(
        self,
        tablet_id: u64,
        id: u64,
        kind: crate::catalog::schema::RowsetKind,
        versions: std::ops::RangeInclusive<u64>,
    ) -> crate::catalog::schema::RowsetMeta {
        crate::catalog::schema::RowsetMeta {
            id,
            tablet_id,
            start_version: *versions.start(),
            end_version: *versions.end(),
            rows: self.rows,
            bytes: self.bytes,
            sha256: self.sha256,
            content_checksum: self.checksum,
            kind,
        }
    }
}

/// A rowset's temporary file, open only while a chunk goes to it: bytes gather in memory and
/// go out [`WRITE_BUFFER_BYTES`] at a time, each time under a descriptor of the open-files
/// budget ([`crate::open_files`]). A load writing into dozens of tablets at once therefore holds
/// no descriptor between its writes, and a crowd of loads and queries waits for descriptors
/// instead of failing with "Too many open files".
struct ChunkedFile {
    path: PathBuf,
    buffer: Vec<u8>,
}

impl ChunkedFile {
    /// Creates (or truncates) the file at `path`.
    fn create(path: PathBuf) -> io::Result<Self> {
        let _permit = crate::open_files::budget().acquire_blocking(1);
        File::create(&path)?;
        Ok(Self {
            path,
            buffer: Vec::with_capacity(WRITE_BUFFER_BYTES),
        })
    }

    /// Appends what is buffered; with `sync`, also makes the file durable.
    fn write_out(&mut self, sync: bool) -> io::Result<()> {
        if self.buffer.is_empty() && !sync {
            return Ok(());
        }
        let _permit = crate::open_files::budget().acquire_blocking(1);
        let mut file = fs::OpenOptions::new().append(true).open(&self.path)?;
        file.write_all(&self.buffer)?;
        self.buffer.clear();
        if sync {
            file.sync_all()?;
        }
        Ok(())
    }
}

impl Write for ChunkedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= WRITE_BUFFER_BYTES {
            self.write_out(false)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_out(false)
    }
}

/// Counts and hashes every byte on its way to the file.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(written) = buf.get(..n) {
            self.hasher.update(written);
        }
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A rowset being written. Dropping it without a successful [`finish`](Self::finish) (also
/// when `finish` itself fails, say on a full disk) removes the temporary file.
pub struct RowsetWriter {
    tmp: PathBuf,
    target: PathBuf,
    writer: Option<ArrowWriter<HashingWriter<ChunkedFile>>>,
    /// Set once the temporary file has its final name: from then on it is not ours to remove.
    renamed: bool,
    rows: u64,
    checksum: u64,
}

impl RowsetWriter {
    /// Starts `<dir>/<name>`; the directory is created if needed. A `nonce` goes into the
    /// file's key-value metadata as `backstop.nonce` (see `store::keyed`). Blocking.
    pub fn create(
        dir: &Path,
        name: &str,
        schema: SchemaRef,
        nonce: Option<String>,
    ) -> Result<Self, RowsetError> {
        let target = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        // The collector removes a tablet folder it left empty (`store::pins`), possibly between
        // our create_dir_all and the file's creation: then the folder is made again.
        let mut attempts = 0;
        let file = loop {
            fs::create_dir_all(dir).map_err(|e| RowsetError::io(dir, e))?;
            match ChunkedFile::create(tmp.clone()) {
                Ok(file) => break file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => {
                    attempts += 1;
                }
                Err(e) => return Err(RowsetError::io(&tmp, e)),
            }
        };
        let sink = HashingWriter {
            inner: file,
            hasher: Sha256::new(),
            bytes: 0,
        };
        // A load keeps one writer open per touched tablet (48 for 3 partitions x 16 buckets),
        // each with one zstd context and page buffers per column. zstd sizes its context to the
        // largest input it compresses, so small pages keep every context small: measured on a
        // 48-tablet load, 1 MiB pages cost about 15 MiB per open writer, 64 KiB pages a tenth.
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(128 * 1024))
            .set_data_page_size_limit(PAGE_BYTES)
            .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
            // Page indexes are kept in memory until the file closes and grow with its size
            // (measured: +14 % peak memory for a 4x larger load); row-group statistics are
            // enough for our scans, so no page-level index.
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_offset_index_disabled(true)
            .set_key_value_metadata(nonce.map(|n| {
                vec![datafusion::parquet::file::metadata::KeyValue::new(
                    "backstop.nonce".to_string(),
                    n,
                )]
            }))
            .build();
        let writer = ArrowWriter::try_new(sink, schema, Some(props))?;
        Ok(Self {
            tmp,
            target,
            writer: Some(writer),
            renamed: false,
            rows: 0,
            checksum: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), RowsetError> {
        self.write_with_checksum(batch, batch_checksum(batch))
    }

    /// [`write`](Self::write) for a caller that has the rows' hashes already: `checksum` is
    /// their wrapping sum ([`batch_checksum`]'s value).
    pub fn write_with_checksum(
        &mut self,
        batch: &RecordBatch,
        checksum: u64,
    ) -> Result<(), RowsetError> {
        let writer = self.writer.as_mut().ok_or(RowsetError::Closed)?;
        writer.write(batch)?;
        // A load keeps one writer open per touched tablet; closing row groups at a modest size
        // bounds the memory each holds (encoded pages wait in memory until their row group is
        // flushed), so a load's memory does not grow with its size.
        if writer.in_progress_size() > ROW_GROUP_BUFFER_BYTES {
            writer.flush()?;
        }
        self.rows += batch.num_rows() as u64;
        self.checksum = self.checksum.wrapping_add(checksum);
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Closes the Parquet file, makes it durable and gives it its final name.
    pub fn finish(mut self) -> Result<RowsetFile, RowsetError> {
        let writer = self.writer.take().ok_or(RowsetError::Closed)?;
        let sink = writer.into_inner()?;
        let HashingWriter {
            inner: mut file,
            hasher,
            bytes,
        } = sink;
        file.write_out(true)
            .map_err(|e| RowsetError::io(&self.tmp, e))?;
        fs::rename(&self.tmp, &self.target).map_err(|e| RowsetError::io(&self.target, e))?;
        self.renamed = true;
        let synced = {
            let _folder = crate::open_files::budget().acquire_blocking(1);
            crate::durable::sync_dir(&self.target)
        };
        if let Err(e) = synced {
            let e = RowsetError::io(self.target.parent().unwrap_or(Path::new(".")), e);
            // Not durable, so not a rowset: the caller fails the load, nothing else removes it.
            let _ = fs::remove_file(&self.target);
            return Err(e);
        }
        let sha256 = crate::hex(&hasher.finalize());
        Ok(RowsetFile {
            path: self.target.clone(),
            rows: self.rows,
            bytes,
            sha256,
            checksum: self.checksum,
        })
    }
}

impl Drop for RowsetWriter {
    fn drop(&mut self) {
        drop(self.writer.take());
        if !self.renamed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn batch(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let ids: Vec<i64> = (0..n).collect();
        let names: Vec<String> = ids.iter().map(|i| format!("row-{i}")).collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ids)) as ArrayRef,
                Arc::new(StringArray::from(names)) as ArrayRef,
            ],
        )
        .unwrap()
    }

    #[test]
    fn hash_and_size_match_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let b = batch(1000);
        let mut w = RowsetWriter::create(dir.path(), "r1.parquet", b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.write(&b).unwrap();
        let f = w.finish().unwrap();
        let bytes = fs::read(&f.path).unwrap();
        assert_eq!(f.bytes, bytes.len() as u64);
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(f.sha256, sha);
        assert_eq!(f.rows, 2000);
        assert_eq!(f.checksum, batch_checksum(&b).wrapping_mul(2));
        assert!(!dir.path().join("r1.parquet.tmp").exists());
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&f.path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
        assert_eq!(rows, 2000);
    }

    #[test]
    fn dropping_an_unfinished_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let b = batch(10);
        let mut w = RowsetWriter::create(dir.path(), "r2.parquet", b.schema(), None).unwrap();
        w.write(&b).unwrap();
        drop(w);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
