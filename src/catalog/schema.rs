//! The records of tables, partitions, tablets and rowsets, and the rules they obey.
//!
//! These types are the catalog's vocabulary, shared by DDL, loads, queries, snapshot manifests
//! and restores. They know nothing about SQL text: `command/` turns the parser's AST
//! into them, and [`validate_table`] / [`place_partitions`] check everything a table definition
//! must satisfy, so a definition read back from a manifest is checked by the same code as one
//! typed by a user.
//!
//! Typed values ([`Datum`]) are stored as readable text in JSON (`{"date": "2024-01-01"}`,
//! `{"int": "-5"}`), exact for LARGEINT, and compare in the column's own order.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

use super::CatalogError;

/// Buckets (tablets per partition) when `DISTRIBUTED BY` gives no `BUCKETS`. StarRocks picks a
/// count from the cluster size; a single server has one node, so we use a fixed, documented 10.
pub const DEFAULT_BUCKETS: u32 = 10;
/// StarRocks' default `max_bucket_number_per_partition`.
pub const MAX_BUCKETS: u32 = 1024;
/// StarRocks: `VARCHAR` lengths are 1..=1048576 bytes; no length means 1.
pub const MAX_VARCHAR_LENGTH: u32 = 1_048_576;
/// StarRocks: `CHAR` lengths are 1..=255 bytes; no length means 1.
pub const MAX_CHAR_LENGTH: u32 = 255;
/// `DECIMAL` with no precision: MySQL's and StarRocks' DECIMAL(10, 0).
pub const DEFAULT_DECIMAL_PRECISION: u32 = 10;
/// Property every table carries; a single server keeps one replica whatever it says.
pub const REPLICATION_NUM: &str = "replication_num";

/// Column types: `sql::DataType`'s with every length and precision resolved.
pub type ColumnType = crate::sql::TypeWith<u32>;

pub use crate::sql::DecimalKind;

impl ColumnType {
    fn is_integer(self) -> bool {
        matches!(
            self,
            ColumnType::TinyInt
                | ColumnType::SmallInt
                | ColumnType::Int
                | ColumnType::BigInt
                | ColumnType::LargeInt
        )
    }

    pub fn is_string(self) -> bool {
        matches!(
            self,
            ColumnType::Char(_) | ColumnType::Varchar(_) | ColumnType::String
        )
    }

    /// The inclusive range of an integer type.
    fn integer_range(self) -> Option<(i128, i128)> {
        Some(match self {
            ColumnType::TinyInt => (i8::MIN.into(), i8::MAX.into()),
            ColumnType::SmallInt => (i16::MIN.into(), i16::MAX.into()),
            ColumnType::Int => (i32::MIN.into(), i32::MAX.into()),
            ColumnType::BigInt => (i64::MIN.into(), i64::MAX.into()),
            ColumnType::LargeInt => (i128::MIN, i128::MAX),
            _ => return None,
        })
    }

    /// Whether RANGE partitioning may use this column (StarRocks: dates and integers).
    pub fn range_partitionable(self) -> bool {
        self.is_integer() || matches!(self, ColumnType::Date | ColumnType::DateTime)
    }

    /// Whether LIST partitioning may use this column (also strings).
    pub fn list_partitionable(self) -> bool {
        self.range_partitionable() || self.is_string()
    }

    /// FLOAT and DOUBLE cannot be key or bucketing columns (StarRocks' rule: use DECIMAL).
    pub fn is_floating(self) -> bool {
        matches!(self, ColumnType::Float | ColumnType::Double)
    }

    /// StarRocks' name of the type in `SHOW PARTITIONS` ranges (`types: [DATE]`).
    /// The most bytes a CHAR/VARCHAR/VARBINARY value may hold; `None` for other types.
    pub fn max_length(self) -> Option<u32> {
        match self {
            ColumnType::Char(n) | ColumnType::Varchar(n) | ColumnType::Varbinary(n) => Some(n),
            _ => None,
        }
    }

    /// JSON, VARBINARY, BITMAP and HLL values cannot be key, partition or bucketing columns (StarRocks'
    /// rule: they have no order to sort or hash by).
    pub fn is_keyable(self) -> bool {
        !matches!(
            self,
            ColumnType::Json | ColumnType::Varbinary(_) | ColumnType::Bitmap | ColumnType::Hll
        )
    }

    /// The type as DDL writes it: `VARCHAR(20)`, `DECIMAL(10,2)`, `INT`.
    pub fn sql_text(self) -> String {
        match self {
            ColumnType::Char(n) | ColumnType::Varchar(n) | ColumnType::Varbinary(n) => {
                format!("{}({n})", self.base_name())
            }
            ColumnType::Decimal {
                precision, scale, ..
            } => format!("DECIMAL({precision},{scale})"),
            other => other.base_name().to_string(),
        }
    }

    pub fn base_name(self) -> &'static str {
        match self {
            ColumnType::Boolean => "BOOLEAN",
            ColumnType::TinyInt => "TINYINT",
            ColumnType::SmallInt => "SMALLINT",
            ColumnType::Int => "INT",
            ColumnType::BigInt => "BIGINT",
            ColumnType::LargeInt => "LARGEINT",
            ColumnType::Float => "FLOAT",
            ColumnType::Double => "DOUBLE",
            ColumnType::Decimal { .. } => "DECIMAL",
            ColumnType::Char(_) => "CHAR",
            ColumnType::Varchar(_) => "VARCHAR",
            ColumnType::String => "STRING",
            ColumnType::Date => "DATE",
            ColumnType::DateTime => "DATETIME",
            ColumnType::Json => "JSON",
            ColumnType::Varbinary(_) => "VARBINARY",
            ColumnType::Bitmap => "BITMAP",
            ColumnType::Hll => "HLL",
        }
    }

    /// Bytes a value of this type adds to StarRocks' sort-key prefix (for the default key).
    fn sort_key_bytes(self) -> u32 {
        match self {
            ColumnType::Boolean | ColumnType::TinyInt => 1,
            ColumnType::SmallInt => 2,
            ColumnType::Date => 3,
            ColumnType::Int | ColumnType::Float => 4,
            ColumnType::BigInt | ColumnType::Double | ColumnType::DateTime => 8,
            ColumnType::LargeInt => 16,
            ColumnType::Decimal { precision, .. } => {
                if precision <= 18 {
                    8
                } else {
                    16
                }
            }
            ColumnType::Char(n) => n,
            ColumnType::Varchar(_) | ColumnType::String => 20,
            ColumnType::Json | ColumnType::Varbinary(_) | ColumnType::Bitmap | ColumnType::Hll => {
                36
            }
        }
    }
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMeta {
    pub name: String,
    pub data_type: ColumnType,
    pub nullable: bool,
    pub default: Option<ColumnDefault>,
    pub comment: Option<String>,
    /// How the value column of an AGGREGATE KEY table merges the rows of one key (snapshot
    /// format 5); `None` for every other column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<AggregateType>,
}

/// `DEFAULT ...` of a column: a literal (validated against the type, kept as written) or
/// `CURRENT_TIMESTAMP` (DATETIME only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnDefault {
    Value(String),
    CurrentTimestamp,
}

/// The key model, and how an AGGREGATE KEY table's value columns merge.
pub use crate::sql::{AggregateType, KeyModel};

/// `{DUPLICATE | ...} KEY (columns)`: the sort key, a prefix of the columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDesc {
    pub model: KeyModel,
    pub columns: Vec<String>,
}

/// How rows are split into partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Partitioning {
    /// One partition, named like the table, holding every row.
    None,
    Range {
        column: String,
        /// Expression partitioning (`PARTITION BY date_trunc('day', column)`, format version
        /// 5): a load creates the partition of each unit its rows fall in, `[start, start + 1
        /// unit)`, named as dynamic partitioning names them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auto: Option<crate::sql::TimeUnit>,
    },
    List {
        column: String,
    },
}

impl Partitioning {
    pub fn column(&self) -> Option<&str> {
        match self {
            Partitioning::None => None,
            Partitioning::Range { column, .. } | Partitioning::List { column } => Some(column),
        }
    }
}

/// How a partition's rows are split into buckets (one tablet each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    Hash { columns: Vec<String>, buckets: u32 },
    Random { buckets: u32 },
}

impl Distribution {
    pub fn buckets(&self) -> u32 {
        match self {
            Distribution::Hash { buckets, .. } | Distribution::Random { buckets } => *buckets,
        }
    }
}

/// Whether DDL and writes may touch a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableState {
    #[default]
    Normal,
    /// A RESTORE job will replace this table's partitions at its COMMIT: until then writes and
    /// DDL are refused, reads see the current data (DESIGN.md, "Jobs"). Set by the job layer.
    Restoring { job_id: u64 },
}

/// A table: everything `SHOW CREATE TABLE` prints and a snapshot manifest must carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableMeta {
    pub id: u64,
    pub db_id: u64,
    pub name: String,
    pub columns: Vec<ColumnMeta>,
    pub key: KeyDesc,
    pub comment: Option<String>,
    pub partitioning: Partitioning,
    /// The table's distribution; a partition may have its own bucket count
    /// ([`PartitionMeta::buckets`], from `ADD PARTITION ... BUCKETS n`).
    pub distribution: Distribution,
    /// `PROPERTIES`, always with `replication_num`.
    pub properties: BTreeMap<String, String>,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
    #[serde(default)]
    pub state: TableState,
    /// Set when the table is an asynchronous materialized view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materialized: Option<super::materialized::Materialized>,
}

impl TableMeta {
    /// A definition that is only columns (no key, one unpartitioned bucket, no properties):
    /// what describes a view or an information_schema table to DESC and SHOW COLUMNS.
    pub fn columns_only(name: String, columns: Vec<ColumnMeta>, comment: Option<String>) -> Self {
        TableMeta {
            id: 0,
            db_id: 0,
            name,
            columns,
            key: KeyDesc {
                model: KeyModel::Duplicate,
                columns: Vec::new(),
            },
            comment,
            partitioning: Partitioning::None,
            distribution: Distribution::Random { buckets: 1 },
            properties: Default::default(),
            created_ms: 0,
            state: TableState::Normal,
            materialized: None,
        }
    }

    /// The column named `name` (column names are case-insensitive, as in StarRocks).
    pub fn column(&self, name: &str) -> Option<&ColumnMeta> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The position of the column named `name` (case-insensitive).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The positions of the key columns, in key order.
    pub fn key_indices(&self) -> Vec<usize> {
        self.key
            .columns
            .iter()
            .filter_map(|k| self.column_index(k))
            .collect()
    }

    /// The partition column and its type, for partitioned tables.
    pub fn partition_column(&self) -> Option<&ColumnMeta> {
        self.partitioning.column().and_then(|c| self.column(c))
    }
}

/// A typed value of a partition bound or list value.
///
/// Values of one column always have the same variant, so the derived order is the column's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Datum {
    /// Any integer type, LARGEINT included.
    Int(#[serde(with = "as_text")] i128),
    Date(#[serde(with = "as_text")] NaiveDate),
    DateTime(#[serde(with = "datetime_text")] NaiveDateTime),
    String(String),
}

const DATETIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

impl Datum {
    /// Parses `text` as a value of `ty`, as StarRocks reads partition values and defaults.
    pub fn parse(ty: ColumnType, text: &str) -> Result<Datum, String> {
        let bad = || format!("'{text}' is not a valid {} value", ty.base_name());
        if let Some((min, max)) = ty.integer_range() {
            let v: i128 = text.trim().parse().map_err(|_| bad())?;
            if v < min || v > max {
                return Err(format!(
                    "{v} is out of range for {} ({min} to {max})",
                    ty.base_name()
                ));
            }
            return Ok(Datum::Int(v));
        }
        match ty {
            ColumnType::Date => parse_date(text).map(Datum::Date).ok_or_else(bad),
            ColumnType::DateTime => parse_datetime(text).map(Datum::DateTime).ok_or_else(bad),
            ColumnType::Char(n) | ColumnType::Varchar(n) => {
                if text.len() > n as usize {
                    Err(format!("'{text}' is longer than the column's {} bytes", n))
                } else {
                    Ok(Datum::String(text.to_string()))
                }
            }
            ColumnType::String => Ok(Datum::String(text.to_string())),
            _ => Err(format!(
                "{} values cannot be partition values",
                ty.base_name()
            )),
        }
    }

    /// The smallest value of `ty` (what StarRocks shows for a range that starts at the bottom).
    fn min_text(ty: ColumnType) -> String {
        match ty.integer_range() {
            Some((min, _)) => min.to_string(),
            None => match ty {
                ColumnType::Date => "0000-01-01".into(),
                ColumnType::DateTime => "0000-01-01 00:00:00".into(),
                _ => String::new(),
            },
        }
    }
}

/// The canonical text: what `SHOW CREATE TABLE` prints and [`Datum::parse`] reads back.
impl fmt::Display for Datum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Int(v) => write!(f, "{v}"),
            Datum::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Datum::DateTime(t) => {
                write!(f, "{}", t.format(DATETIME_FORMAT))?;
                let micros = t.and_utc().timestamp_subsec_micros();
                if micros != 0 {
                    write!(f, ".{micros:06}")?;
                }
                Ok(())
            }
            Datum::String(s) => f.write_str(s),
        }
    }
}

/// `YYYY-MM-DD` or `YYYYMMDD`, years 0000..9999.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y%m%d"))
        .ok()?;
    (0..=9999)
        .contains(&chrono::Datelike::year(&date))
        .then_some(date)
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (or `T` between), or a date alone (midnight).
fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    let parsed = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .ok()
        .or_else(|| parse_date(text).map(|d| d.and_time(NaiveTime::MIN)))?;
    let year_ok = (0..=9999).contains(&chrono::Datelike::year(&parsed));
    // Keep microseconds at most: the storage type's precision.
    let nanos = parsed.and_utc().timestamp_subsec_nanos();
    (year_ok && nanos % 1000 == 0).then_some(parsed)
}

mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

mod datetime_text {
    use chrono::NaiveDateTime;
    use serde::{Deserialize, Deserializer, Serializer, de};

    pub fn serialize<S: Serializer>(v: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&super::Datum::DateTime(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_datetime(&text)
            .ok_or_else(|| de::Error::custom(format!("bad datetime '{text}'")))
    }
}

/// One end of a range partition. `Min < Value(_) < Max` (the derived order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RangeBound {
    /// Below every value: the lower end of the first `LESS THAN` partition.
    Min,
    Value(Datum),
    /// `MAXVALUE`
    Max,
}

/// Which rows a partition holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartitionBounds {
    /// The single partition of an unpartitioned table.
    All,
    /// `[lower, upper)`
    Range {
        lower: RangeBound,
        upper: RangeBound,
    },
    /// `IN (values)`
    List { values: Vec<Datum> },
}

impl PartitionBounds {
    /// StarRocks' `Range` cell of `SHOW PARTITIONS`:
    /// `[types: [DATE]; keys: [2024-01-01]; ..types: [DATE]; keys: [2024-02-01]; )`.
    pub fn describe(&self, ty: Option<ColumnType>) -> String {
        let type_name = ty.map_or("", ColumnType::base_name);
        let bound = |b: &RangeBound| match b {
            RangeBound::Min => ty.map(Datum::min_text).unwrap_or_default(),
            RangeBound::Value(v) => v.to_string(),
            RangeBound::Max => "MAXVALUE".to_string(),
        };
        match self {
            PartitionBounds::All => String::new(),
            PartitionBounds::Range { lower, upper } => format!(
                "[types: [{type_name}]; keys: [{}]; ..types: [{type_name}]; keys: [{}]; )",
                bound(lower),
                bound(upper)
            ),
            PartitionBounds::List { values } => {
                let items: Vec<String> = values
                    .iter()
                    .map(|v| format!("('{}')", v.to_string().replace('\'', "\\'")))
                    .collect();
                format!("({})", items.join(", "))
            }
        }
    }

    /// Whether this range partition holds `value` (`[lower, upper)`; other kinds never do).
    pub fn range_holds(&self, value: &Datum) -> bool {
        let PartitionBounds::Range { lower, upper } = self else {
            return false;
        };
        let v = RangeBound::Value(value.clone());
        *lower <= v && v < *upper
    }

    /// Order for listing: range partitions by their bounds, others keep their given order.
    pub fn sort_key(&self) -> Option<(&RangeBound, &RangeBound)> {
        match self {
            PartitionBounds::Range { lower, upper } => Some((lower, upper)),
            _ => None,
        }
    }
}

/// A partition: a version and a set of tablets (one per bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMeta {
    pub id: u64,
    pub table_id: u64,
    pub name: String,
    pub bounds: PartitionBounds,
    /// The last committed load's version; 1 for a new partition (StarRocks' start). Every
    /// commit that changes the partition's rowsets (load, truncate) adds one.
    pub visible_version: u64,
    /// When `visible_version` was committed, milliseconds since the Unix epoch.
    pub visible_version_ms: i64,
    pub buckets: u32,
}

/// A tablet: one bucket of one partition; rowsets hang off it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabletMeta {
    pub id: u64,
    pub table_id: u64,
    pub partition_id: u64,
    /// 0-based bucket number: the hash of the distribution columns modulo the bucket count.
    pub bucket: u32,
}

/// An immutable Parquet file of one tablet, committed by a load (DESIGN.md, "Data model").
///
/// The load path (store layer) writes these; DDL only removes them: a rowset whose row is gone
/// is garbage, and the store deletes its file once no pin holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowsetMeta {
    pub id: u64,
    pub tablet_id: u64,
    /// Versions of the partition this rowset covers (equal for a load; a range after a merge).
    pub start_version: u64,
    pub end_version: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Hex sha256 of the file, computed while it was written; its object name in repositories.
    pub sha256: String,
    /// Order-independent sum of per-row hashes (what `CHECKSUM TABLE` adds up). For a delete
    /// file, the sum of the hashes of the rows it deletes (subtracted).
    pub content_checksum: u64,
    /// Rows, or the positions of rows that later versions delete.
    #[serde(default, skip_serializing_if = "RowsetKind::is_data")]
    pub kind: RowsetKind,
}

/// What a rowset file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowsetKind {
    /// Rows of the table's schema.
    #[default]
    Data,
    /// An Apache Iceberg position-delete file (`file_path`, `pos`): rows of the tablet's data
    /// files that are no longer visible. `rows` counts the positions, and `content_checksum`
    /// is the sum of the deleted rows' hashes, so a tablet's visible rows and checksum are its
    /// data files' minus its delete files' (`store::keyed`).
    Deletes,
}

impl RowsetKind {
    pub fn is_data(&self) -> bool {
        *self == RowsetKind::Data
    }
}

impl RowsetMeta {
    /// Rows this rowset adds to what queries see (negative for a delete file).
    pub fn visible_rows(&self) -> i128 {
        match self.kind {
            RowsetKind::Data => i128::from(self.rows),
            RowsetKind::Deletes => -i128::from(self.rows),
        }
    }

    /// What this rowset adds to its table's content checksum (wrapping).
    pub fn checksum_delta(&self) -> u64 {
        match self.kind {
            RowsetKind::Data => self.content_checksum,
            RowsetKind::Deletes => self.content_checksum.wrapping_neg(),
        }
    }
}

/// How a rowset file is named wherever it is stored by content: `objects/<2 hex>/<sha256>`.
/// A repository stores it under this key, and a delete file names the data file it applies to
/// by it (so the delete file means the same in the data directory and in any repository).
pub fn object_key(sha256: &str) -> String {
    let prefix = sha256.get(..2).unwrap_or("00");
    format!("objects/{prefix}/{sha256}")
}

// ---- table rules --------------------------------------------------------------------------

fn invalid(message: impl Into<String>) -> CatalogError {
    CatalogError::InvalidDefinition(message.into())
}

/// StarRocks' default key when the CREATE TABLE has none: the leading columns, at most 3 and
/// 36 bytes of sort key, stopping after the first VARCHAR and before a FLOAT/DOUBLE.
pub fn default_key_columns(columns: &[ColumnMeta]) -> Vec<String> {
    const MAX_COLUMNS: usize = 3;
    const MAX_BYTES: u32 = 36;
    let mut key = Vec::new();
    let mut bytes = 0;
    for column in columns {
        bytes += column.data_type.sort_key_bytes();
        if key.len() >= MAX_COLUMNS || bytes > MAX_BYTES {
            if key.is_empty() && column.data_type.is_string() {
                key.push(column.name.clone());
            }
            break;
        }
        if column.data_type.is_floating() || !column.data_type.is_keyable() {
            break;
        }
        key.push(column.name.clone());
        if matches!(
            column.data_type,
            ColumnType::Varchar(_) | ColumnType::String
        ) {
            break;
        }
    }
    key
}

/// An AGGREGATE KEY table's value columns each say how they merge, and only they do: SUM over
/// numbers, MAX and MIN over what orders, REPLACE and REPLACE_IF_NOT_NULL over anything.
/// HLL_UNION, BITMAP_UNION and PERCENTILE_UNION need column types backstop does not have.
fn validate_aggregates(table: &TableMeta) -> Result<(), CatalogError> {
    let in_key = |c: &str| table.key.columns.iter().any(|k| k.eq_ignore_ascii_case(c));
    for column in &table.columns {
        let key = in_key(&column.name);
        match (table.key.model, key, column.aggregate) {
            (KeyModel::Aggregate, false, None) => {
                return Err(invalid(format!(
                    "Value column '{}' of AGGREGATE KEY table '{}' needs an aggregate type \
                     (SUM, MAX, MIN, REPLACE, REPLACE_IF_NOT_NULL, BITMAP_UNION or HLL_UNION) \
                     after its type",
                    column.name, table.name
                )));
            }
            (KeyModel::Aggregate, true, Some(agg)) => {
                return Err(invalid(format!(
                    "Key column '{}' of table '{}' cannot have an aggregate type ({agg})",
                    column.name, table.name
                )));
            }
            (KeyModel::Aggregate, false, Some(agg)) => {
                let ty = column.data_type;
                let ok = match agg {
                    AggregateType::Sum => {
                        ty.is_integer()
                            || ty.is_floating()
                            || matches!(ty, ColumnType::Decimal { .. })
                    }
                    AggregateType::Max | AggregateType::Min => ty.is_keyable(),
                    AggregateType::Replace | AggregateType::ReplaceIfNotNull => true,
                    AggregateType::BitmapUnion => ty == ColumnType::Bitmap,
                    AggregateType::HllUnion => ty == ColumnType::Hll,
                    // The command layer refuses it first (1235); a definition that still has
                    // one (a manifest) is not one backstop can keep.
                    AggregateType::PercentileUnion => false,
                };
                if !ok {
                    return Err(invalid(format!(
                        "Aggregate type {agg} of column '{}' does not take {}",
                        column.name,
                        ty.base_name()
                    )));
                }
            }
            (_, _, Some(agg)) => {
                return Err(invalid(format!(
                    "Column '{}' has aggregate type {agg}: only AGGREGATE KEY tables' value \
                     columns have one",
                    column.name
                )));
            }
            (_, _, None) => {}
        }
    }
    Ok(())
}

/// Expression partitioning by `unit` of `column` (of type `ty`): a DATE or DATETIME column
/// (DATETIME for hours), and not dynamic partitioning as well.
fn validate_expression_partitioning(
    table: &TableMeta,
    column: &str,
    ty: ColumnType,
    unit: crate::sql::TimeUnit,
) -> Result<(), CatalogError> {
    let ok = match unit {
        crate::sql::TimeUnit::Hour => ty == ColumnType::DateTime,
        _ => matches!(ty, ColumnType::Date | ColumnType::DateTime),
    };
    if !ok {
        return Err(invalid(format!(
            "Partition column '{column}' is {}: date_trunc('{}', ...) partitioning takes {}",
            ty.base_name(),
            unit.as_str().to_ascii_lowercase(),
            if unit == crate::sql::TimeUnit::Hour {
                "a DATETIME column"
            } else {
                "a DATE or DATETIME column"
            }
        )));
    }
    if let Some(key) = table
        .properties
        .keys()
        .find(|k| k.to_ascii_lowercase().starts_with("dynamic_partition."))
    {
        return Err(invalid(format!(
            "property '{key}' does not apply to a table partitioned by an expression: its \
             loads create the partitions they need; drop old ones with ALTER TABLE ... DROP \
             PARTITION"
        )));
    }
    Ok(())
}

/// StarRocks' `partition_live_number` of a table partitioned by an expression: how many of its
/// newest partitions up to now it keeps (later ones are kept too); the dynamic-partition rounds
/// drop the older ones. `Ok(None)` without the property; `Err` when it is not a positive number
/// or the table is not partitioned by an expression.
pub fn partition_live_number(table: &TableMeta) -> Result<Option<usize>, CatalogError> {
    let Some((key, value)) = table
        .properties
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(PARTITION_LIVE_NUMBER))
    else {
        return Ok(None);
    };
    if !matches!(
        table.partitioning,
        Partitioning::Range { auto: Some(_), .. }
    ) {
        return Err(invalid(format!(
            "property '{key}' applies to tables partitioned by date_trunc(...) or \
             time_slice(...); use dynamic_partition.start on a RANGE table"
        )));
    }
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(invalid(format!(
            "Invalid value '{value}' of property {key}: write a positive number of partitions"
        ))),
    }
}

/// The property of [`partition_live_number`].
pub const PARTITION_LIVE_NUMBER: &str = "partition_live_number";

/// The column a load's staged rows carry their position in (`command::aggregate`): no table
/// may have a column of that name.
pub const RESERVED_COLUMN: &str = "__backstop_pos";

/// Checks a table definition: names, types, defaults, key, partitioning and distribution.
/// Partition values are checked by [`place_partitions`].
pub fn validate_table(table: &TableMeta) -> Result<(), CatalogError> {
    super::validate_table_name(&table.name)?;
    if table.columns.is_empty() {
        return Err(invalid(format!("Table '{}' has no columns", table.name)));
    }
    for (i, column) in table.columns.iter().enumerate() {
        validate_column(column)?;
        if column.name.eq_ignore_ascii_case(RESERVED_COLUMN) {
            return Err(invalid(format!(
                "Column name '{}' is reserved: backstop numbers a load's rows with it; choose \
                 another name",
                column.name
            )));
        }
        if table
            .columns
            .iter()
            .take(i)
            .any(|c| c.name.eq_ignore_ascii_case(&column.name))
        {
            return Err(CatalogError::DuplicateColumn(column.name.clone()));
        }
    }
    let unknown = |column: &str| CatalogError::UnknownColumn {
        column: column.to_string(),
        table: table.name.clone(),
    };

    // The key: existing columns, no repeats, an ordered prefix of the schema, no FLOAT/DOUBLE.
    if table.key.columns.is_empty() {
        return Err(invalid(format!(
            "Table '{}' needs at least one key column",
            table.name
        )));
    }
    for (i, name) in table.key.columns.iter().enumerate() {
        let column = table.column(name).ok_or_else(|| unknown(name))?;
        let in_place = table
            .columns
            .get(i)
            .is_some_and(|c| c.name.eq_ignore_ascii_case(name));
        if !in_place {
            return Err(invalid(format!(
                "Key columns should be an ordered prefix of the schema: key column '{name}' must \
                 be column {} of table '{}'",
                i + 1,
                table.name
            )));
        }
        if column.data_type.is_floating() {
            return Err(invalid(format!(
                "Key column '{name}' is {}: FLOAT and DOUBLE cannot be key columns; use DECIMAL",
                column.data_type.base_name()
            )));
        }
        if !column.data_type.is_keyable() {
            return Err(invalid(format!(
                "Key column '{name}' is {}: JSON, VARBINARY, BITMAP and HLL cannot be key columns",
                column.data_type.base_name()
            )));
        }
    }

    validate_aggregates(table)?;

    // A unique key (PRIMARY, UNIQUE, AGGREGATE): rows with one key value meet in one tablet, so
    // the partition column and the bucketing columns are key columns (StarRocks' rule), and
    // the table is hash-distributed. PRIMARY KEY columns are NOT NULL.
    if table.key.model.is_unique() {
        let model = match table.key.model {
            KeyModel::Primary => "PRIMARY",
            KeyModel::Aggregate => "AGGREGATE",
            _ => "UNIQUE",
        };
        let in_key = |c: &str| table.key.columns.iter().any(|k| k.eq_ignore_ascii_case(c));
        if table.key.model == KeyModel::Primary {
            for name in &table.key.columns {
                if table.column(name).is_some_and(|c| c.nullable) {
                    return Err(invalid(format!(
                        "Primary key column '{name}' of table '{}' must be NOT NULL",
                        table.name
                    )));
                }
            }
        }
        if let Some(column) = table.partitioning.column()
            && !in_key(column)
        {
            return Err(invalid(format!(
                "Partition column '{column}' of {model} KEY table '{}' must be a key column",
                table.name
            )));
        }
        match &table.distribution {
            Distribution::Hash { columns, .. } => {
                if let Some(column) = columns.iter().find(|c| !in_key(c)) {
                    return Err(invalid(format!(
                        "Distribution column '{column}' of {model} KEY table '{}' must be a key \
                         column",
                        table.name
                    )));
                }
            }
            Distribution::Random { .. } => {
                return Err(invalid(format!(
                    "{model} KEY table '{}' cannot be DISTRIBUTED BY RANDOM: give DISTRIBUTED BY \
                     HASH(key columns)",
                    table.name
                )));
            }
        }
    }

    // Partitioning: one existing column of a type the partition kind accepts.
    match &table.partitioning {
        Partitioning::None => {}
        Partitioning::Range { column, .. } | Partitioning::List { column } => {
            let meta = table.column(column).ok_or_else(|| unknown(column))?;
            let is_range = matches!(table.partitioning, Partitioning::Range { .. });
            let ok = if is_range {
                meta.data_type.range_partitionable()
            } else {
                meta.data_type.list_partitionable()
            };
            if !ok {
                return Err(invalid(format!(
                    "Partition column '{column}' is {}: {} partitioning takes {}",
                    meta.data_type.base_name(),
                    if is_range { "RANGE" } else { "LIST" },
                    if is_range {
                        "a DATE, DATETIME or integer column"
                    } else {
                        "a DATE, DATETIME, integer, CHAR, VARCHAR or STRING column"
                    }
                )));
            }
            if let Partitioning::Range {
                auto: Some(unit), ..
            } = &table.partitioning
            {
                validate_expression_partitioning(table, column, meta.data_type, *unit)?;
            }
        }
    }

    partition_live_number(table)?;

    // Distribution: bucket count in range; HASH columns exist, once each, not FLOAT/DOUBLE.
    validate_buckets(table.distribution.buckets())?;
    if let Distribution::Hash { columns, .. } = &table.distribution {
        if columns.is_empty() {
            return Err(invalid("DISTRIBUTED BY HASH needs at least one column"));
        }
        for (i, name) in columns.iter().enumerate() {
            let column = table.column(name).ok_or_else(|| unknown(name))?;
            if columns.iter().take(i).any(|c| c.eq_ignore_ascii_case(name)) {
                return Err(invalid(format!(
                    "Distribution column '{name}' is given twice"
                )));
            }
            if column.data_type.is_floating() || !column.data_type.is_keyable() {
                return Err(invalid(format!(
                    "Distribution column '{name}' is {}: FLOAT, DOUBLE, JSON, VARBINARY, \
                     BITMAP and HLL cannot be bucketing columns",
                    column.data_type.base_name()
                )));
            }
        }
    }

    match table.properties.get(REPLICATION_NUM) {
        Some(n) if n.trim().parse::<u16>().is_ok_and(|n| n > 0) => Ok(()),
        Some(n) => Err(invalid(format!(
            "Property replication_num must be a positive integer, not '{n}'"
        ))),
        None => Err(invalid("Property replication_num is missing")),
    }
}

/// A bucket count must be 1..=[`MAX_BUCKETS`].
pub fn validate_buckets(buckets: u32) -> Result<(), CatalogError> {
    if buckets == 0 || buckets > MAX_BUCKETS {
        return Err(invalid(format!(
            "The number of buckets must be between 1 and {MAX_BUCKETS}, not {buckets}"
        )));
    }
    Ok(())
}

fn validate_column(column: &ColumnMeta) -> Result<(), CatalogError> {
    let name = &column.name;
    if name.is_empty() || name.chars().count() > 1024 || name.chars().any(char::is_control) {
        return Err(CatalogError::BadName {
            kind: "column",
            name: name.clone(),
            why: "use 1 to 1024 printable characters",
        });
    }
    match column.data_type {
        ColumnType::Char(n) if n == 0 || n > MAX_CHAR_LENGTH => {
            return Err(invalid(format!(
                "Column '{name}': CHAR length must be between 1 and {MAX_CHAR_LENGTH}, not {n}"
            )));
        }
        ColumnType::Varchar(n) if n == 0 || n > MAX_VARCHAR_LENGTH => {
            return Err(invalid(format!(
                "Column '{name}': VARCHAR length must be between 1 and {MAX_VARCHAR_LENGTH}, not {n}"
            )));
        }
        ColumnType::Decimal {
            kind,
            precision,
            scale,
        } => {
            let max = kind.max_precision();
            if precision == 0 || precision > max {
                return Err(invalid(format!(
                    "Column '{name}': DECIMAL precision must be between 1 and {max}, not {precision}"
                )));
            }
            if scale > precision {
                return Err(invalid(format!(
                    "Column '{name}': DECIMAL scale {scale} is larger than its precision {precision}"
                )));
            }
        }
        _ => {}
    }
    match &column.default {
        None => Ok(()),
        Some(ColumnDefault::CurrentTimestamp) => {
            if column.data_type == ColumnType::DateTime {
                Ok(())
            } else {
                Err(invalid(format!(
                    "Column '{name}': DEFAULT CURRENT_TIMESTAMP needs a DATETIME column"
                )))
            }
        }
        Some(ColumnDefault::Value(text)) => validate_value(column.data_type, text)
            .map_err(|why| invalid(format!("Invalid default value for '{name}': {why}"))),
    }
}

/// Checks that `text` reads as a value of `ty` (defaults; partition values use [`Datum`]).
pub fn validate_value(ty: ColumnType, text: &str) -> Result<(), String> {
    let t = text.trim();
    match ty {
        ColumnType::Boolean => {
            let ok = ["true", "false", "0", "1"]
                .iter()
                .any(|b| b.eq_ignore_ascii_case(t));
            ok.then_some(())
                .ok_or_else(|| format!("'{text}' is not a BOOLEAN value"))
        }
        ColumnType::Float | ColumnType::Double => t
            .parse::<f64>()
            .map(|_| ())
            .map_err(|_| format!("'{text}' is not a number")),
        ColumnType::Decimal {
            precision, scale, ..
        } => {
            let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
            let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
            let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
            if int.is_empty() && frac.is_empty() || !all_digits(int) || !all_digits(frac) {
                return Err(format!("'{text}' is not a DECIMAL value"));
            }
            let int_digits = int.trim_start_matches('0').len();
            if int_digits > (precision - scale) as usize {
                return Err(format!(
                    "'{text}' does not fit DECIMAL({precision}, {scale})"
                ));
            }
            Ok(())
        }
        ColumnType::Json => serde_json::from_str::<serde_json::Value>(text)
            .map(|_| ())
            .map_err(|e| format!("'{text}' is not valid JSON ({e})")),
        ColumnType::Bitmap | ColumnType::Hll => Err(format!(
            "a {} column takes no DEFAULT value (a load that leaves it out writes NULL)",
            ty.base_name()
        )),
        ColumnType::Varbinary(n) => {
            if text.len() > n as usize {
                Err(format!("'{text}' is longer than the column's {n} bytes"))
            } else {
                Ok(())
            }
        }
        other => Datum::parse(other, text).map(|_| ()),
    }
}

// ---- partitions ---------------------------------------------------------------------------

/// The values of a partition as the user wrote them (text; typed by [`place_partitions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionValuesSpec {
    /// `VALUES LESS THAN (v)`; `None` is `MAXVALUE`. The lower end is the highest upper bound
    /// of the existing ranges at or below `v` (StarRocks' rule), so a list of LESS THAN
    /// partitions becomes contiguous ranges.
    LessThan(Option<String>),
    /// `VALUES [(lower), (upper))`; `upper: None` is `MAXVALUE`.
    Range {
        lower: String,
        upper: Option<String>,
    },
    /// `VALUES IN (v, ...)`
    In(Vec<String>),
}

/// A partition to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    pub name: String,
    pub values: PartitionValuesSpec,
}

/// Types the values of `new` partitions and checks them against `existing` partitions (and
/// each other, in order): names unique (case-insensitive), values of the column's type, ranges
/// not empty and not overlapping, list values in one partition only. Returns each new
/// partition's name and bounds, in the order given.
pub fn place_partitions(
    table: &TableMeta,
    existing: &[PartitionMeta],
    new: &[PartitionSpec],
) -> Result<Vec<(String, PartitionBounds)>, CatalogError> {
    let Some(column) = table.partition_column() else {
        return Err(invalid(format!(
            "Table '{}' is not partitioned: it has one partition, named like the table",
            table.name
        )));
    };
    let ty = column.data_type;
    let is_range = matches!(table.partitioning, Partitioning::Range { .. });
    let mut placed: Vec<(String, PartitionBounds)> = existing
        .iter()
        .map(|p| (p.name.clone(), p.bounds.clone()))
        .collect();
    let first_new = placed.len();
    let typed = |text: &str, partition: &str| {
        Datum::parse(ty, text).map_err(|why| {
            invalid(format!(
                "Invalid value for partition '{partition}' (column '{}'): {why}",
                column.name
            ))
        })
    };

    for spec in new {
        super::validate_partition_name(&spec.name)?;
        if placed
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(&spec.name))
        {
            return Err(CatalogError::PartitionExists {
                partition: spec.name.clone(),
                table: table.name.clone(),
            });
        }
        let bounds = match (&spec.values, is_range) {
            (PartitionValuesSpec::LessThan(v), true) => {
                let upper = match v {
                    Some(text) => RangeBound::Value(typed(text, &spec.name)?),
                    None => RangeBound::Max,
                };
                // A range already holding the values just below `upper` makes this one empty
                // or overlapping: StarRocks reports it as an intersection.
                for (name, b) in &placed {
                    if let PartitionBounds::Range { lower: l, upper: u } = b
                        && *l < upper
                        && upper <= *u
                    {
                        return Err(overlap(&spec.name, name, ty, b));
                    }
                }
                let lower = placed
                    .iter()
                    .filter_map(|(_, b)| match b {
                        PartitionBounds::Range { upper: u, .. } if *u <= upper => Some(u),
                        _ => None,
                    })
                    .max()
                    .cloned()
                    .unwrap_or(RangeBound::Min);
                PartitionBounds::Range { lower, upper }
            }
            (PartitionValuesSpec::Range { lower, upper }, true) => {
                let lower = RangeBound::Value(typed(lower, &spec.name)?);
                let upper = match upper {
                    Some(text) => RangeBound::Value(typed(text, &spec.name)?),
                    None => RangeBound::Max,
                };
                if lower >= upper {
                    return Err(invalid(format!(
                        "Partition '{}': the lower bound must be less than the upper bound",
                        spec.name
                    )));
                }
                PartitionBounds::Range { lower, upper }
            }
            (PartitionValuesSpec::In(values), false) => {
                let mut typed_values: Vec<Datum> = Vec::with_capacity(values.len());
                for text in values {
                    let v = typed(text, &spec.name)?;
                    if typed_values.contains(&v) {
                        return Err(invalid(format!(
                            "Partition '{}' lists the value '{v}' twice",
                            spec.name
                        )));
                    }
                    typed_values.push(v);
                }
                PartitionBounds::List {
                    values: typed_values,
                }
            }
            (_, true) => {
                return Err(invalid(format!(
                    "Partition '{}': a RANGE partitioned table takes VALUES LESS THAN (...) or \
                     VALUES [(...), (...))",
                    spec.name
                )));
            }
            (_, false) => {
                return Err(invalid(format!(
                    "Partition '{}': a LIST partitioned table takes VALUES IN (...)",
                    spec.name
                )));
            }
        };
        for (name, other) in &placed {
            if let Some(why) = conflict(&bounds, other) {
                return Err(match why {
                    Conflict::Overlap => overlap(&spec.name, name, ty, other),
                    Conflict::SharedValue(v) => invalid(format!(
                        "The value '{v}' of partition '{}' is already in partition '{name}'",
                        spec.name
                    )),
                });
            }
        }
        placed.push((spec.name.clone(), bounds));
    }
    Ok(placed.split_off(first_new))
}

enum Conflict<'a> {
    Overlap,
    SharedValue(&'a Datum),
}

fn conflict<'a>(a: &'a PartitionBounds, b: &PartitionBounds) -> Option<Conflict<'a>> {
    match (a, b) {
        (
            PartitionBounds::Range {
                lower: al,
                upper: au,
            },
            PartitionBounds::Range {
                lower: bl,
                upper: bu,
            },
        ) => (al < bu && bl < au).then_some(Conflict::Overlap),
        (PartitionBounds::List { values: av }, PartitionBounds::List { values: bv }) => av
            .iter()
            .find(|v| bv.contains(v))
            .map(Conflict::SharedValue),
        _ => None,
    }
}

fn overlap(new: &str, existing: &str, ty: ColumnType, bounds: &PartitionBounds) -> CatalogError {
    invalid(format!(
        "The range of partition '{new}' overlaps partition '{existing}', whose range is {}",
        bounds.describe(Some(ty))
    ))
}

/// Sorts partitions for display and manifests: ranges by bounds, others by id (creation order).
pub fn sort_partitions(partitions: &mut [PartitionMeta]) {
    partitions.sort_by(|a, b| match (a.bounds.sort_key(), b.bounds.sort_key()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.id.cmp(&b.id),
    });
}

/// A nullable column without a default or a comment, for tests.
#[cfg(test)]
pub(crate) fn nullable_column(name: &str, data_type: ColumnType) -> ColumnMeta {
    ColumnMeta {
        name: name.into(),
        data_type,
        nullable: true,
        default: None,
        comment: None,
        aggregate: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    use super::nullable_column as column;

    fn table(partitioning: Partitioning) -> TableMeta {
        let columns = vec![
            column("k", ColumnType::Int),
            column("d", ColumnType::Date),
            column("s", ColumnType::Varchar(8)),
            column("v", ColumnType::Double),
        ];
        TableMeta {
            id: 1,
            db_id: 1,
            key: KeyDesc {
                model: KeyModel::Duplicate,
                columns: vec!["k".into()],
            },
            partitioning,
            distribution: Distribution::Hash {
                columns: vec!["k".into()],
                buckets: 3,
            },
            properties: BTreeMap::from([(REPLICATION_NUM.to_string(), "1".to_string())]),
            ..TableMeta::columns_only("t".into(), columns, None)
        }
    }

    fn range_table() -> TableMeta {
        table(Partitioning::Range {
            column: "d".into(),
            auto: None,
        })
    }

    fn spec(name: &str, values: PartitionValuesSpec) -> PartitionSpec {
        PartitionSpec {
            name: name.into(),
            values,
        }
    }

    fn less_than(name: &str, v: Option<&str>) -> PartitionSpec {
        spec(name, PartitionValuesSpec::LessThan(v.map(String::from)))
    }

    fn fixed(name: &str, lo: &str, hi: &str) -> PartitionSpec {
        spec(
            name,
            PartitionValuesSpec::Range {
                lower: lo.into(),
                upper: Some(hi.into()),
            },
        )
    }

    fn date(s: &str) -> RangeBound {
        RangeBound::Value(Datum::parse(ColumnType::Date, s).unwrap())
    }

    fn as_meta(placed: Vec<(String, PartitionBounds)>) -> Vec<PartitionMeta> {
        placed
            .into_iter()
            .enumerate()
            .map(|(i, (name, bounds))| PartitionMeta {
                id: i as u64,
                table_id: 1,
                name,
                bounds,
                visible_version: 1,
                visible_version_ms: 0,
                buckets: 3,
            })
            .collect()
    }

    #[test]
    fn less_than_list_becomes_contiguous_ranges() {
        let placed = place_partitions(
            &range_table(),
            &[],
            &[
                less_than("p1", Some("2024-01-01")),
                less_than("p2", Some("2024-02-01")),
                less_than("pmax", None),
            ],
        )
        .unwrap();
        let bounds: Vec<_> = placed.into_iter().map(|(_, b)| b).collect();
        assert_eq!(
            bounds,
            vec![
                PartitionBounds::Range {
                    lower: RangeBound::Min,
                    upper: date("2024-01-01")
                },
                PartitionBounds::Range {
                    lower: date("2024-01-01"),
                    upper: date("2024-02-01")
                },
                PartitionBounds::Range {
                    lower: date("2024-02-01"),
                    upper: RangeBound::Max
                },
            ]
        );
    }

    #[test]
    fn less_than_fills_a_gap_between_existing_ranges() {
        let t = range_table();
        let existing = as_meta(
            place_partitions(
                &t,
                &[],
                &[
                    fixed("a", "2024-01-01", "2024-02-01"),
                    fixed("c", "2024-03-01", "2024-04-01"),
                ],
            )
            .unwrap(),
        );
        let placed =
            place_partitions(&t, &existing, &[less_than("b", Some("2024-02-15"))]).unwrap();
        assert_eq!(
            placed[0].1,
            PartitionBounds::Range {
                lower: date("2024-02-01"),
                upper: date("2024-02-15")
            }
        );
        // Ending inside an existing range, or at an existing upper bound, overlaps it.
        for v in ["2024-03-15", "2024-02-01"] {
            let err = place_partitions(&t, &existing, &[less_than("x", Some(v))]).unwrap_err();
            assert!(err.to_string().contains("overlaps partition"), "{v}: {err}");
        }
        // Below everything: from the bottom.
        let placed =
            place_partitions(&t, &existing, &[less_than("z", Some("2023-01-01"))]).unwrap();
        assert_eq!(
            placed[0].1,
            PartitionBounds::Range {
                lower: RangeBound::Min,
                upper: date("2023-01-01")
            }
        );
    }

    #[test]
    fn ranges_must_not_overlap_or_be_empty() {
        let t = range_table();
        let err = place_partitions(
            &t,
            &[],
            &[
                fixed("a", "2024-01-01", "2024-02-01"),
                fixed("b", "2024-01-15", "2024-03-01"),
            ],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("partition 'b' overlaps partition 'a'"),
            "{err}"
        );
        // Touching ranges are fine: upper bounds are exclusive.
        place_partitions(
            &t,
            &[],
            &[
                fixed("a", "2024-01-01", "2024-02-01"),
                fixed("b", "2024-02-01", "2024-03-01"),
            ],
        )
        .unwrap();
        let err = place_partitions(&t, &[], &[fixed("a", "2024-02-01", "2024-02-01")]).unwrap_err();
        assert!(
            err.to_string().contains("lower bound must be less"),
            "{err}"
        );
        // LESS THAN out of order.
        let err = place_partitions(
            &t,
            &[],
            &[
                less_than("p2", Some("2024-02-01")),
                less_than("p1", Some("2024-01-01")),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("overlaps"), "{err}");
    }

    #[test]
    fn partition_names_are_unique_case_insensitively() {
        let err = place_partitions(
            &range_table(),
            &[],
            &[
                less_than("p1", Some("2024-01-01")),
                less_than("P1", Some("2024-02-01")),
            ],
        )
        .unwrap_err();
        assert!(matches!(err, CatalogError::PartitionExists { .. }), "{err}");
    }

    #[test]
    fn values_must_parse_as_the_column_type() {
        let t = range_table();
        for bad in ["2024-13-01", "yesterday", "10000-01-01"] {
            let err = place_partitions(&t, &[], &[less_than("p", Some(bad))]).unwrap_err();
            assert!(err.to_string().contains("not a valid DATE"), "{bad}: {err}");
        }
        let ints = table(Partitioning::Range {
            column: "k".into(),
            auto: None,
        });
        let err = place_partitions(&ints, &[], &[less_than("p", Some("3000000000"))]).unwrap_err();
        assert!(err.to_string().contains("out of range for INT"), "{err}");
        let strings = table(Partitioning::List { column: "s".into() });
        let err = place_partitions(
            &strings,
            &[],
            &[spec("p", PartitionValuesSpec::In(vec!["123456789".into()]))],
        )
        .unwrap_err();
        assert!(err.to_string().contains("longer than"), "{err}");
        // The wrong VALUES form for the partition kind.
        let err = place_partitions(
            &t,
            &[],
            &[spec(
                "p",
                PartitionValuesSpec::In(vec!["2024-01-01".into()]),
            )],
        )
        .unwrap_err();
        assert!(err.to_string().contains("takes VALUES LESS THAN"), "{err}");
    }

    #[test]
    fn list_values_belong_to_one_partition() {
        let t = table(Partitioning::List { column: "s".into() });
        let in_ = |name: &str, values: &[&str]| {
            spec(
                name,
                PartitionValuesSpec::In(values.iter().map(|v| v.to_string()).collect()),
            )
        };
        place_partitions(&t, &[], &[in_("a", &["x", "y"]), in_("b", &["z"])]).unwrap();
        let err =
            place_partitions(&t, &[], &[in_("a", &["x", "y"]), in_("b", &["y"])]).unwrap_err();
        assert!(
            err.to_string().contains("already in partition 'a'"),
            "{err}"
        );
        let err = place_partitions(&t, &[], &[in_("a", &["x", "x"])]).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn datums_are_readable_json_and_round_trip() {
        let cases = [
            (ColumnType::Date, "2024-01-01", r#"{"date":"2024-01-01"}"#),
            (
                ColumnType::DateTime,
                "2024-01-01 10:20:30",
                r#"{"datetime":"2024-01-01 10:20:30"}"#,
            ),
            (
                ColumnType::LargeInt,
                "170141183460469231731687303715884105727",
                r#"{"int":"170141183460469231731687303715884105727"}"#,
            ),
            (ColumnType::String, "a\"b", r#"{"string":"a\"b"}"#),
        ];
        for (ty, text, json) in cases {
            let d = Datum::parse(ty, text).unwrap();
            assert_eq!(serde_json::to_string(&d).unwrap(), json);
            assert_eq!(serde_json::from_str::<Datum>(json).unwrap(), d);
            assert_eq!(d.to_string(), text);
            assert_eq!(Datum::parse(ty, &d.to_string()).unwrap(), d);
        }
        // A date alone is midnight; fractions are kept to the microsecond.
        let t = Datum::parse(ColumnType::DateTime, "2024-01-01").unwrap();
        assert_eq!(t.to_string(), "2024-01-01 00:00:00");
        let t = Datum::parse(ColumnType::DateTime, "2024-01-01 00:00:00.5").unwrap();
        assert_eq!(t.to_string(), "2024-01-01 00:00:00.500000");
        let bounds = PartitionBounds::Range {
            lower: RangeBound::Min,
            upper: RangeBound::Max,
        };
        let json = serde_json::to_string(&bounds).unwrap();
        assert_eq!(
            serde_json::from_str::<PartitionBounds>(&json).unwrap(),
            bounds
        );
    }

    #[test]
    fn show_partitions_range_text() {
        let b = PartitionBounds::Range {
            lower: RangeBound::Min,
            upper: date("2024-01-01"),
        };
        assert_eq!(
            b.describe(Some(ColumnType::Date)),
            "[types: [DATE]; keys: [0000-01-01]; ..types: [DATE]; keys: [2024-01-01]; )"
        );
        let b = PartitionBounds::List {
            values: vec![Datum::String("a".into()), Datum::String("b".into())],
        };
        assert_eq!(b.describe(Some(ColumnType::String)), "(('a'), ('b'))");
    }

    #[test]
    fn table_rules() {
        validate_table(&range_table()).unwrap();
        let check = |f: &dyn Fn(&mut TableMeta), expect: &str| {
            let mut t = range_table();
            f(&mut t);
            let err = validate_table(&t).unwrap_err();
            assert!(err.to_string().contains(expect), "{expect}: {err}");
        };
        check(
            &|t| t.columns[1].name = "K".into(),
            "Duplicate column name 'K'",
        );
        check(&|t| t.key.columns = vec!["d".into()], "ordered prefix");
        check(
            &|t| t.key.columns = vec!["nope".into()],
            "Unknown column 'nope'",
        );
        check(
            &|t| t.columns[0].data_type = ColumnType::Float,
            "cannot be key columns",
        );
        check(
            &|t| {
                t.partitioning = Partitioning::Range {
                    column: "s".into(),
                    auto: None,
                }
            },
            "RANGE partitioning takes",
        );
        check(
            &|t| t.partitioning = Partitioning::List { column: "v".into() },
            "LIST partitioning takes",
        );
        check(
            &|t| t.columns[2].data_type = ColumnType::Varchar(MAX_VARCHAR_LENGTH + 1),
            "VARCHAR length",
        );
        check(
            &|t| t.columns[2].data_type = ColumnType::Char(0),
            "CHAR length",
        );
        check(
            &|t| {
                t.columns[3].data_type = ColumnType::Decimal {
                    kind: DecimalKind::Decimal,
                    precision: 39,
                    scale: 2,
                }
            },
            "between 1 and 38",
        );
        check(
            &|t| {
                t.columns[3].data_type = ColumnType::Decimal {
                    kind: DecimalKind::Decimal64,
                    precision: 10,
                    scale: 11,
                }
            },
            "larger than its precision",
        );
        check(
            &|t| {
                t.distribution = Distribution::Hash {
                    columns: vec!["v".into()],
                    buckets: 1,
                }
            },
            "cannot be bucketing columns",
        );
        check(
            &|t| t.distribution = Distribution::Random { buckets: 0 },
            "between 1 and 1024",
        );
        check(
            &|t| t.columns[1].default = Some(ColumnDefault::Value("soon".into())),
            "Invalid default value for 'd'",
        );
        check(
            &|t| t.columns[0].default = Some(ColumnDefault::CurrentTimestamp),
            "needs a DATETIME",
        );
        check(
            &|t| {
                t.properties.insert(REPLICATION_NUM.into(), "three".into());
            },
            "replication_num",
        );
        check(&|t| t.name = "bad-name".into(), "Incorrect table name");
    }

    #[test]
    fn default_key_follows_starrocks() {
        let cols = |types: &[ColumnType]| -> Vec<ColumnMeta> {
            types
                .iter()
                .enumerate()
                .map(|(i, t)| column(&format!("c{i}"), *t))
                .collect()
        };
        use ColumnType as T;
        assert_eq!(
            default_key_columns(&cols(&[T::Int, T::BigInt, T::Date, T::Int])),
            vec!["c0", "c1", "c2"]
        );
        assert_eq!(
            default_key_columns(&cols(&[T::Int, T::Varchar(10), T::Int])),
            vec!["c0", "c1"]
        );
        assert_eq!(
            default_key_columns(&cols(&[T::Int, T::Double, T::Int])),
            vec!["c0"]
        );
        assert_eq!(
            default_key_columns(&cols(&[T::LargeInt, T::LargeInt, T::LargeInt])),
            vec!["c0", "c1"]
        );
        assert_eq!(
            default_key_columns(&cols(&[T::Char(64), T::Int])),
            vec!["c0"]
        );
    }
}
