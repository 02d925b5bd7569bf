//! StarRocks DDL that sqlparser cannot parse to the end: `CREATE TABLE` with its key model,
//! partitioning, distribution and properties; `CREATE/DROP DATABASE` with StarRocks' tails;
//! `ALTER TABLE .. ADD/DROP PARTITION`; `TRUNCATE TABLE .. PARTITION (..)`; `CHECKSUM TABLE`.
//!
//! The AST keeps what StarRocks accepts (any key model, `EXTERNAL`, engines) so that the
//! executor, not the parser, says what backstop does not support. What the AST cannot represent
//! (index definitions, column types outside [`DataType`], multi-column or expression
//! partitioning) is refused here with a message saying so.
//!
//! `CREATE TABLE ... AS SELECT` is left to sqlparser (it becomes [`Statement::Std`]).

use std::fmt;

use sqlparser::tokenizer::Token;

use super::{
    BackstopParser, CommaSeparated, DisplayProperties, Dropped, Id, Ident, Ids, Name, ObjectName,
    ParseError, Properties, QuotedString, Statement,
};

/// ```text
/// CREATE [EXTERNAL] TABLE [IF NOT EXISTS] [db.]tbl (
///     col TYPE [agg_type] [NULL | NOT NULL] [DEFAULT literal | DEFAULT CURRENT_TIMESTAMP] [COMMENT 'c'],
///     ...
/// )
/// [ENGINE = olap]
/// [{DUPLICATE | AGGREGATE | UNIQUE | PRIMARY} KEY (col, ...)]
/// [COMMENT 'table comment']
/// [PARTITION BY RANGE (col) (PARTITION p VALUES LESS THAN ("v") | VALUES LESS THAN MAXVALUE
///                                                       | VALUES [("lo"), ("hi")), ...)
///  | PARTITION BY LIST (col) (PARTITION p VALUES IN ("v", ...), ...)]
/// [DISTRIBUTED BY HASH (col, ...) [BUCKETS n] | DISTRIBUTED BY RANDOM [BUCKETS n]]
/// [PROPERTIES ("key" = "value", ...)]
///
/// CREATE TABLE [IF NOT EXISTS] [db.]tbl LIKE [db.]src
/// CREATE TABLE [IF NOT EXISTS] [db.]tbl [key_desc] [COMMENT ..] [PARTITION BY ..]
///   [DISTRIBUTED BY ..] [PROPERTIES (..)] AS <query>
/// ```
/// The clauses after `)` are accepted in any order, each at most once; `Display` prints them in
/// the order above. `{:#}` prints one column, partition and property per line.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateTable {
    pub external: bool,
    pub if_not_exists: bool,
    pub name: ObjectName,
    /// `LIKE src`: copy `src`'s definition; every field below is then empty.
    pub like: Option<ObjectName>,
    pub columns: Vec<ColumnDef>,
    /// `ENGINE = name` as written (StarRocks' default is `olap`).
    pub engine: Option<Ident>,
    pub key: Option<KeyDesc>,
    pub comment: Option<String>,
    pub partition_by: Option<PartitionBy>,
    pub distribution: Option<Distribution>,
    pub properties: Properties,
    /// `AS <query>` (CREATE TABLE AS SELECT): the columns come from the query, whose rows the
    /// new table gets.
    pub as_query: Option<Box<sqlparser::ast::Query>>,
}

/// One column: `name TYPE [agg] [NULL | NOT NULL] [DEFAULT ..] [COMMENT '..']`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: Ident,
    pub data_type: DataType,
    /// AGGREGATE KEY tables: how value columns merge (`SUM`, `REPLACE`, ...).
    pub aggregate: Option<AggregateType>,
    /// `Some(true)`: `NULL`; `Some(false)`: `NOT NULL`; `None`: not said (StarRocks: nullable).
    pub nullable: Option<bool>,
    pub default: Option<ColumnDefault>,
    pub comment: Option<String>,
}

/// `ALTER TABLE t ADD COLUMN col type ...` (or a parenthesized list): added last, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct AddColumns {
    pub table: ObjectName,
    pub columns: Vec<ColumnDef>,
}

impl fmt::Display for AddColumns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER TABLE {} ADD COLUMN (", Name(&self.table))?;
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str(")")
    }
}

/// `ALTER TABLE t DROP COLUMN col`
#[derive(Debug, Clone, PartialEq)]
pub struct DropColumn {
    pub table: ObjectName,
    pub column: Ident,
}

impl fmt::Display for DropColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ALTER TABLE {} DROP COLUMN {}",
            Name(&self.table),
            Id(&self.column)
        )
    }
}

/// Column types as written in SQL: a length or precision may be left out. Display uses
/// StarRocks' spelling.
pub type DataType = TypeWith<Option<u32>>;

/// The column types backstop stores, with their lengths and precisions as `N`: as written in
/// SQL ([`DataType`], `Option<u32>`) or resolved (the catalog's `ColumnType`, `u32`, also the
/// catalog's and the manifest's serialized form, lower case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TypeWith<N> {
    /// `BOOLEAN` (also `BOOL`)
    Boolean,
    TinyInt,
    SmallInt,
    /// `INT` (also `INTEGER`); a display width `INT(11)` is accepted and dropped.
    Int,
    BigInt,
    /// `LARGEINT`: a 128-bit signed integer.
    LargeInt,
    Float,
    Double,
    /// `DECIMAL[(p[, s])]` and its variants. As written, `scale` is only meaningful with
    /// `precision`.
    Decimal {
        kind: DecimalKind,
        precision: N,
        scale: N,
    },
    /// `CHAR[(n)]`
    Char(N),
    /// `VARCHAR[(n)]`
    Varchar(N),
    /// `STRING` (also `TEXT`)
    String,
    Date,
    DateTime,
    /// `JSON`: a JSON document, stored as its normalized text (format version 2).
    Json,
    /// `VARBINARY[(n)]` (also `BINARY[(n)]`, StarRocks' synonym): bytes, at most `n` per value
    /// (format version 2).
    Varbinary(N),
    /// `BITMAP`: a set of unsigned 64-bit integers, stored as its serialized roaring bitmap
    /// (format version 5; `store::sketch`).
    Bitmap,
    /// `HLL`: a HyperLogLog sketch of distinct values (format version 5; `store::sketch`).
    Hll,
}

/// Which DECIMAL spelling (StarRocks maps them to different storage widths); also the
/// catalog's and the manifest's, as lower-case text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecimalKind {
    /// `DECIMAL` (also `NUMERIC`, `NUMBER`)
    Decimal,
    DecimalV2,
    Decimal32,
    Decimal64,
    Decimal128,
}

/// Aggregate type of a value column in an AGGREGATE KEY table (the catalog's and the
/// manifest's too, as StarRocks spells it: `SUM`, `REPLACE_IF_NOT_NULL`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AggregateType {
    Sum,
    Max,
    Min,
    Replace,
    ReplaceIfNotNull,
    HllUnion,
    BitmapUnion,
    PercentileUnion,
}

const AGGREGATE_TYPES: &[(&str, AggregateType)] = &[
    ("SUM", AggregateType::Sum),
    ("MAX", AggregateType::Max),
    ("MIN", AggregateType::Min),
    ("REPLACE", AggregateType::Replace),
    ("REPLACE_IF_NOT_NULL", AggregateType::ReplaceIfNotNull),
    ("HLL_UNION", AggregateType::HllUnion),
    ("BITMAP_UNION", AggregateType::BitmapUnion),
    ("PERCENTILE_UNION", AggregateType::PercentileUnion),
];

/// `DEFAULT ...` of a column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnDefault {
    Literal(Literal),
    /// `DEFAULT CURRENT_TIMESTAMP`
    CurrentTimestamp,
}

/// A literal value as written: text, and whether it was quoted.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A quoted string (`'a'` or `"a"`), unescaped.
    String(String),
    /// An unquoted number, as written (`10`, `-1`, `1.5`).
    Number(String),
    /// `NULL`
    Null,
}

/// `{DUPLICATE | AGGREGATE | UNIQUE | PRIMARY} KEY (col, ...)`
#[derive(Debug, Clone, PartialEq)]
pub struct KeyDesc {
    pub model: KeyModel,
    pub columns: Vec<Ident>,
}

/// The table's key model (also the catalog's and the manifest's, as lower-case text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyModel {
    Duplicate,
    Aggregate,
    Unique,
    Primary,
}

/// `PARTITION BY {RANGE | LIST} (col) (PARTITION ..., ...)`: one partition column.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionBy {
    pub kind: PartitionKind,
    pub column: Ident,
    /// RANGE partitions carry `LessThan`/`Range` values, LIST partitions `In` values.
    pub partitions: Vec<PartitionDef>,
    /// Expression partitioning, `PARTITION BY date_trunc('unit', column)` (or `time_slice(column,
    /// INTERVAL 1 unit)`): RANGE, no partitions listed; loads create them.
    pub auto: Option<super::TimeUnit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKind {
    Range,
    List,
}

/// `PARTITION name VALUES ...`
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionDef {
    pub name: Ident,
    pub values: PartitionValues,
}

/// The `VALUES` of one partition.
#[derive(Debug, Clone, PartialEq)]
pub enum PartitionValues {
    /// `VALUES LESS THAN ("v")` or `VALUES LESS THAN MAXVALUE`: from the previous partition's
    /// upper bound up to this one (exclusive).
    LessThan(PartitionValue),
    /// `VALUES [("lo"), ("hi"))`: lower bound inclusive, upper exclusive.
    Range {
        lower: PartitionValue,
        upper: PartitionValue,
    },
    /// `VALUES IN ("a", "b", ...)` (LIST partitions).
    In(Vec<Literal>),
}

/// A range bound.
#[derive(Debug, Clone, PartialEq)]
pub enum PartitionValue {
    MaxValue,
    Literal(Literal),
}

/// ```text
/// DISTRIBUTED BY HASH (col, ...) [BUCKETS n] | DISTRIBUTED BY RANDOM [BUCKETS n]
/// ```
/// `buckets: None` lets the server choose.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    Hash {
        columns: Vec<Ident>,
        buckets: Option<u64>,
    },
    Random {
        buckets: Option<u64>,
    },
}

/// ```text
/// ALTER TABLE [db.]tbl ADD [TEMPORARY] PARTITION [IF NOT EXISTS] p
///     VALUES {LESS THAN (..) | LESS THAN MAXVALUE | [(..), (..)) | IN (..)}
///     [DISTRIBUTED BY ...]
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AddPartition {
    pub table: ObjectName,
    pub temporary: bool,
    pub if_not_exists: bool,
    pub partition: PartitionDef,
    pub distribution: Option<Distribution>,
}

/// ```text
/// ALTER TABLE [db.]tbl DROP [TEMPORARY] PARTITION [IF EXISTS] p [FORCE]
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DropPartition {
    pub table: ObjectName,
    pub temporary: bool,
    pub if_exists: bool,
    pub name: Ident,
    pub force: bool,
}

/// ```text
/// TRUNCATE [TABLE] [db.]tbl [PARTITION (p, ...)]
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TruncateTable {
    pub table: ObjectName,
    /// Empty: the whole table.
    pub partitions: Vec<Ident>,
}

// ---- Display ------------------------------------------------------------------------------

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let length = |f: &mut fmt::Formatter<'_>, name: &str, n: &Option<u32>| match n {
            Some(n) => write!(f, "{name}({n})"),
            None => f.write_str(name),
        };
        match self {
            DataType::Boolean => f.write_str("BOOLEAN"),
            DataType::TinyInt => f.write_str("TINYINT"),
            DataType::SmallInt => f.write_str("SMALLINT"),
            DataType::Int => f.write_str("INT"),
            DataType::BigInt => f.write_str("BIGINT"),
            DataType::LargeInt => f.write_str("LARGEINT"),
            DataType::Float => f.write_str("FLOAT"),
            DataType::Double => f.write_str("DOUBLE"),
            DataType::Decimal {
                kind,
                precision,
                scale,
            } => {
                f.write_str(match kind {
                    DecimalKind::Decimal => "DECIMAL",
                    DecimalKind::DecimalV2 => "DECIMALV2",
                    DecimalKind::Decimal32 => "DECIMAL32",
                    DecimalKind::Decimal64 => "DECIMAL64",
                    DecimalKind::Decimal128 => "DECIMAL128",
                })?;
                match (precision, scale) {
                    (Some(p), Some(s)) => write!(f, "({p}, {s})"),
                    (Some(p), None) => write!(f, "({p})"),
                    (None, _) => Ok(()),
                }
            }
            DataType::Char(n) => length(f, "CHAR", n),
            DataType::Varchar(n) => length(f, "VARCHAR", n),
            DataType::String => f.write_str("STRING"),
            DataType::Date => f.write_str("DATE"),
            DataType::DateTime => f.write_str("DATETIME"),
            DataType::Json => f.write_str("JSON"),
            DataType::Varbinary(n) => length(f, "VARBINARY", n),
            DataType::Bitmap => f.write_str("BITMAP"),
            DataType::Hll => f.write_str("HLL"),
        }
    }
}

impl fmt::Display for AggregateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AggregateType::Sum => "SUM",
            AggregateType::Max => "MAX",
            AggregateType::Min => "MIN",
            AggregateType::Replace => "REPLACE",
            AggregateType::ReplaceIfNotNull => "REPLACE_IF_NOT_NULL",
            AggregateType::HllUnion => "HLL_UNION",
            AggregateType::BitmapUnion => "BITMAP_UNION",
            AggregateType::PercentileUnion => "PERCENTILE_UNION",
        })
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => write!(f, "{}", QuotedString(s)),
            Literal::Number(n) => f.write_str(n),
            Literal::Null => f.write_str("NULL"),
        }
    }
}

impl fmt::Display for ColumnDefault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnDefault::Literal(l) => write!(f, "{l}"),
            ColumnDefault::CurrentTimestamp => f.write_str("CURRENT_TIMESTAMP"),
        }
    }
}

impl DataType {
    /// The type as StarRocks prints it in SHOW CREATE TABLE and MySQL tools expect it in
    /// `COLUMN_TYPE`: lower case, integers with their display width, STRING as the
    /// `varchar(65533)` it is, `decimal(p,s)` as MySQL writes it (SQLAlchemy's reflection
    /// reads no other spelling).
    pub fn shown(&self) -> String {
        let length = |name: &str, n: &Option<u32>| match n {
            Some(n) => format!("{name}({n})"),
            None => name.to_string(),
        };
        match self {
            DataType::Boolean => "boolean".into(),
            DataType::TinyInt => "tinyint(4)".into(),
            DataType::SmallInt => "smallint(6)".into(),
            DataType::Int => "int(11)".into(),
            DataType::BigInt => "bigint(20)".into(),
            DataType::LargeInt => "largeint(40)".into(),
            DataType::Float => "float".into(),
            DataType::Double => "double".into(),
            DataType::Decimal {
                precision, scale, ..
            } => format!(
                "decimal({},{})",
                precision.unwrap_or(10),
                scale.unwrap_or(0)
            ),
            DataType::Char(n) => length("char", n),
            DataType::Varchar(n) => length("varchar", n),
            DataType::String => "varchar(65533)".into(),
            DataType::Date => "date".into(),
            DataType::DateTime => "datetime".into(),
            DataType::Json => "json".into(),
            DataType::Varbinary(n) => length("varbinary", n),
            DataType::Bitmap => "bitmap".into(),
            DataType::Hll => "hll".into(),
        }
    }
}

/// A CREATE TABLE as SHOW CREATE TABLE prints it: over lines, types as [`DataType::shown`].
pub struct ShownCreateTable<'a>(pub &'a CreateTable);

impl fmt::Display for ShownCreateTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(f, true, true)
    }
}

impl ColumnDef {
    fn write(&self, f: &mut fmt::Formatter<'_>, shown: bool) -> fmt::Result {
        if shown {
            write!(f, "{} {}", Id(&self.name), self.data_type.shown())?;
        } else {
            write!(f, "{} {}", Id(&self.name), self.data_type)?;
        }
        if let Some(aggregate) = &self.aggregate {
            write!(f, " {aggregate}")?;
        }
        match self.nullable {
            Some(true) => f.write_str(" NULL")?,
            Some(false) => f.write_str(" NOT NULL")?,
            None => {}
        }
        if let Some(default) = &self.default {
            write!(f, " DEFAULT {default}")?;
        }
        if let Some(comment) = &self.comment {
            write!(f, " COMMENT {}", QuotedString(comment))?;
        }
        Ok(())
    }
}

impl fmt::Display for ColumnDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl DecimalKind {
    /// The largest precision this spelling holds.
    pub fn max_precision(self) -> u32 {
        match self {
            DecimalKind::Decimal32 => 9,
            DecimalKind::Decimal64 => 18,
            DecimalKind::DecimalV2 => 27,
            DecimalKind::Decimal | DecimalKind::Decimal128 => 38,
        }
    }
}

impl KeyModel {
    /// Whether a key identifies one row (PRIMARY KEY, UNIQUE KEY, AGGREGATE KEY): a load
    /// replaces the row with the same key (an AGGREGATE KEY table's by the row its values
    /// merge into).
    pub fn is_unique(self) -> bool {
        matches!(
            self,
            KeyModel::Primary | KeyModel::Unique | KeyModel::Aggregate
        )
    }
}

impl fmt::Display for KeyModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyModel::Duplicate => "DUPLICATE",
            KeyModel::Aggregate => "AGGREGATE",
            KeyModel::Unique => "UNIQUE",
            KeyModel::Primary => "PRIMARY",
        })
    }
}

impl fmt::Display for KeyDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} KEY({})", self.model, Ids(&self.columns))
    }
}

impl fmt::Display for PartitionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionValue::MaxValue => f.write_str("MAXVALUE"),
            PartitionValue::Literal(l) => write!(f, "{l}"),
        }
    }
}

impl fmt::Display for PartitionValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionValues::LessThan(PartitionValue::MaxValue) => {
                f.write_str("VALUES LESS THAN MAXVALUE")
            }
            PartitionValues::LessThan(v) => write!(f, "VALUES LESS THAN ({v})"),
            PartitionValues::Range { lower, upper } => write!(f, "VALUES [({lower}), ({upper}))"),
            PartitionValues::In(values) => write!(f, "VALUES IN ({})", CommaSeparated(values)),
        }
    }
}

impl fmt::Display for PartitionDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PARTITION {} {}", Id(&self.name), self.values)
    }
}

impl fmt::Display for PartitionBy {
    /// `{:#}` puts each partition on its own line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(unit) = self.auto {
            return write!(
                f,
                "PARTITION BY date_trunc('{}', {})",
                unit.as_str().to_ascii_lowercase(),
                Id(&self.column)
            );
        }
        let kind = match self.kind {
            PartitionKind::Range => "RANGE",
            PartitionKind::List => "LIST",
        };
        write!(f, "PARTITION BY {kind}({}) (", Id(&self.column))?;
        let pretty = f.alternate() && !self.partitions.is_empty();
        for (i, partition) in self.partitions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if pretty {
                f.write_str("\n  ")?;
            } else if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{partition}")?;
        }
        if pretty {
            f.write_str("\n")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let buckets = match self {
            Distribution::Hash { columns, buckets } => {
                write!(f, "DISTRIBUTED BY HASH({})", Ids(columns))?;
                buckets
            }
            Distribution::Random { buckets } => {
                f.write_str("DISTRIBUTED BY RANDOM")?;
                buckets
            }
        };
        if let Some(n) = buckets {
            write!(f, " BUCKETS {n}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CreateTable {
    /// One line; `{:#}` spreads columns, clauses, partitions and properties over lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, f.alternate(), false)
    }
}

impl CreateTable {
    fn write(&self, f: &mut fmt::Formatter<'_>, pretty: bool, shown: bool) -> fmt::Result {
        let clause_sep = if pretty { "\n" } else { " " };
        f.write_str("CREATE ")?;
        if self.external {
            f.write_str("EXTERNAL ")?;
        }
        f.write_str("TABLE ")?;
        if self.if_not_exists {
            f.write_str("IF NOT EXISTS ")?;
        }
        write!(f, "{}", Name(&self.name))?;
        if let Some(like) = &self.like {
            return write!(f, " LIKE {}", Name(like));
        }
        // CREATE TABLE ... AS SELECT has no column list: the query gives the columns.
        if self.as_query.is_none() || !self.columns.is_empty() {
            f.write_str(" (")?;
            for (i, column) in self.columns.iter().enumerate() {
                if i > 0 {
                    f.write_str(if pretty { "," } else { ", " })?;
                }
                if pretty {
                    f.write_str("\n  ")?;
                }
                column.write(f, shown)?;
            }
            if pretty {
                f.write_str("\n")?;
            }
            f.write_str(")")?;
        }
        if let Some(engine) = &self.engine {
            write!(f, " ENGINE={}", Id(engine))?;
        }
        if let Some(key) = &self.key {
            write!(f, "{clause_sep}{key}")?;
        }
        if let Some(comment) = &self.comment {
            write!(f, "{clause_sep}COMMENT {}", QuotedString(comment))?;
        }
        if let Some(partition_by) = &self.partition_by {
            f.write_str(clause_sep)?;
            if pretty {
                write!(f, "{partition_by:#}")?;
            } else {
                write!(f, "{partition_by}")?;
            }
        }
        if let Some(distribution) = &self.distribution {
            write!(f, "{clause_sep}{distribution}")?;
        }
        if !self.properties.is_empty() {
            if pretty {
                f.write_str("\nPROPERTIES (")?;
                for (i, (k, v)) in self.properties.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "\n  {} = {}", QuotedString(k), QuotedString(v))?;
                }
                f.write_str("\n)")?;
            } else {
                write!(f, "{}", DisplayProperties(&self.properties))?;
            }
        }
        if let Some(query) = &self.as_query {
            write!(f, "{clause_sep}AS {query}")?;
        }
        Ok(())
    }
}

/// ```text
/// ALTER TABLE [db.]tbl RENAME [TO | AS] new_name
/// ALTER TABLE [db.]tbl SWAP WITH other
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RenameTable {
    pub table: ObjectName,
    /// The new name, or (with `swap`) the table whose name this one takes, and which takes
    /// this one's (same database).
    pub to: Ident,
    pub swap: bool,
}

impl fmt::Display for RenameTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER TABLE {} ", Name(&self.table))?;
        if self.swap {
            write!(f, "SWAP WITH {}", Id(&self.to))
        } else {
            write!(f, "RENAME {}", Id(&self.to))
        }
    }
}

/// ```sql
/// ALTER TABLE [db.]tbl [BASE | CUMULATIVE] COMPACT [p | (p1, p2, ...)]
/// ```
/// Merges the table's small rowset files now (`store::compaction`); BASE merges every file of
/// each tablet and folds its delete files in.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactTable {
    pub table: ObjectName,
    pub base: bool,
    /// The partitions to compact; all when empty.
    pub partitions: Vec<Ident>,
}

impl fmt::Display for CompactTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER TABLE {} ", Name(&self.table))?;
        if self.base {
            f.write_str("BASE ")?;
        }
        f.write_str("COMPACT")?;
        if !self.partitions.is_empty() {
            write!(f, " ({})", Ids(&self.partitions))?;
        }
        Ok(())
    }
}

impl fmt::Display for AddPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER TABLE {} ADD ", Name(&self.table))?;
        if self.temporary {
            f.write_str("TEMPORARY ")?;
        }
        f.write_str("PARTITION ")?;
        if self.if_not_exists {
            f.write_str("IF NOT EXISTS ")?;
        }
        write!(f, "{} {}", Id(&self.partition.name), self.partition.values)?;
        if let Some(distribution) = &self.distribution {
            write!(f, " {distribution}")?;
        }
        Ok(())
    }
}

impl fmt::Display for DropPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER TABLE {} DROP ", Name(&self.table))?;
        if self.temporary {
            f.write_str("TEMPORARY ")?;
        }
        let target = Dropped {
            if_exists: self.if_exists,
            name: &self.name,
            force: self.force,
        };
        write!(f, "PARTITION {target}")
    }
}

impl fmt::Display for TruncateTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TRUNCATE TABLE {}", Name(&self.table))?;
        if !self.partitions.is_empty() {
            write!(f, " PARTITION ({})", Ids(&self.partitions))?;
        }
        Ok(())
    }
}

// ---- parsing ------------------------------------------------------------------------------

const SUPPORTED_TYPES: &str = "BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, LARGEINT, FLOAT, DOUBLE, \
                               DECIMAL[(p[, s])], DECIMALV2, DECIMAL32, DECIMAL64, DECIMAL128, \
                               CHAR[(n)], VARCHAR[(n)], STRING, DATE, DATETIME, JSON, \
                               VARBINARY[(n)], BITMAP, HLL";

/// MySQL and StarRocks column types backstop does not store, with what to use instead: a
/// CREATE TABLE naming one fails with 1235 (not a syntax error), naming the type.
const UNSUPPORTED_TYPES: &[(&str, &str)] = &[
    ("TIMESTAMP", "use DATETIME (microseconds, no time zone)"),
    ("TIME", "use VARCHAR or DATETIME"),
    ("YEAR", "use SMALLINT"),
    ("MEDIUMINT", "use INT"),
    ("BIT", "use BOOLEAN or BIGINT"),
    ("SERIAL", "use BIGINT NOT NULL (there is no AUTO_INCREMENT)"),
    ("TINYBLOB", "use VARBINARY"),
    ("BLOB", "use VARBINARY"),
    ("MEDIUMBLOB", "use VARBINARY"),
    ("LONGBLOB", "use VARBINARY"),
    ("ENUM", "use VARCHAR"),
    ("SET", "use VARCHAR"),
    ("GEOMETRY", "use STRING"),
];

impl BackstopParser<'_> {
    /// `CREATE [EXTERNAL] TABLE ...`, CREATE TABLE ... AS SELECT included (the query is parsed
    /// by sqlparser's parser from within ours).
    pub(super) fn is_starrocks_create_table(&self) -> bool {
        let n = if self.peek_words(1, &["EXTERNAL"]) {
            2
        } else {
            1
        };
        self.peek_words(n, &["TABLE"])
    }

    /// `ALTER TABLE name {ADD | DROP} [TEMPORARY] PARTITION ...`
    /// At `ALTER TABLE t ADD COLUMN` or `ALTER TABLE t DROP COLUMN`.
    pub(super) fn is_column_alter(&self) -> bool {
        if !self.peek_words(1, &["TABLE"]) {
            return false;
        }
        let Some(len) = self.peek_name_len(2) else {
            return false;
        };
        self.peek_words(2 + len, &["ADD", "COLUMN"])
            || self.peek_words(2 + len, &["DROP", "COLUMN"])
    }

    /// `ALTER TABLE t ADD COLUMN col type ... | ADD COLUMN (col type ..., ...)`; a position
    /// (`FIRST`, `AFTER c`) is refused: columns are added last.
    pub(super) fn parse_column_alter(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["ALTER", "TABLE"])?;
        let table = self.parse_object_name("table name")?;
        if self.parse_words(&["DROP", "COLUMN"]) {
            let column = self.parse_ident("column name")?;
            return Ok(Statement::DropColumn(DropColumn { table, column }));
        }
        self.expect_words(&["ADD", "COLUMN"])?;
        let columns = if self.peek_is(&Token::LParen) {
            self.parse_parenthesized_list(|p| p.parse_column_def())?
        } else {
            vec![self.parse_column_def()?]
        };
        if self.peek_word("FIRST") || self.peek_word("AFTER") {
            return Err(ParseError::unsupported(
                "ADD COLUMN ... FIRST / AFTER is not supported: a new column is added after the \
                 last one; leave the position out",
                self.here(),
            ));
        }
        Ok(Statement::AddColumns(AddColumns { table, columns }))
    }

    pub(super) fn is_partition_alter(&self) -> bool {
        if !self.peek_words(1, &["TABLE"]) {
            return false;
        }
        let Some(len) = self.peek_name_len(2) else {
            return false;
        };
        let n = 2 + len;
        if !self.peek_words(n, &["ADD"]) && !self.peek_words(n, &["DROP"]) {
            return false;
        }
        self.peek_words(n + 1, &["PARTITION"])
            || self.peek_words(n + 1, &["PARTITIONS"])
            || self.peek_words(n + 1, &["TEMPORARY", "PARTITION"])
    }

    pub(super) fn parse_create_table(&mut self) -> Result<Statement, ParseError> {
        self.expect_word("CREATE")?;
        let external = self.parse_word("EXTERNAL");
        self.expect_word("TABLE")?;
        let if_not_exists = self.parse_words(&["IF", "NOT", "EXISTS"]);
        let name = self.parse_object_name("table name")?;
        let mut table = CreateTable {
            external,
            if_not_exists,
            name,
            like: None,
            columns: Vec::new(),
            engine: None,
            key: None,
            comment: None,
            partition_by: None,
            distribution: None,
            properties: Properties::new(),
            as_query: None,
        };
        if self.parse_word("LIKE") {
            table.like = Some(self.parse_object_name("table name")?);
            return Ok(Statement::CreateTable(table));
        }
        // Without a column list only CREATE TABLE ... AS SELECT makes sense.
        let columns_given = self.peek_is(&Token::LParen);
        if columns_given {
            table.columns = self.parse_parenthesized_list(|p| p.parse_column_def())?;
        }
        let mut properties = None;
        loop {
            if !columns_given && table.as_query.is_none() && self.parse_word("AS") {
                table.as_query = Some(self.parser.parse_query().map_err(|e| self.convert(e))?);
                break;
            }
            if self.peek_word("ENGINE") {
                self.ensure_not_set(&table.engine, "ENGINE")?;
                self.parser.advance_token();
                let _ = self.consume(&Token::Eq);
                table.engine = Some(self.parse_ident("engine name")?);
            } else if let Some(model) = self.peek_key_model() {
                self.ensure_not_set(
                    &table.key,
                    "The key clause (DUPLICATE/AGGREGATE/UNIQUE/PRIMARY KEY)",
                )?;
                self.parser.advance_token();
                self.parser.advance_token();
                let columns = self.parse_ident_list("key column name")?;
                table.key = Some(KeyDesc { model, columns });
            } else if self.peek_word("COMMENT") {
                self.ensure_not_set(&table.comment, "COMMENT")?;
                self.parser.advance_token();
                let _ = self.consume(&Token::Eq);
                table.comment = Some(self.parse_string("table comment (a string literal)")?);
            } else if self.peek_words(0, &["PARTITION", "BY"]) {
                self.ensure_not_set(&table.partition_by, "PARTITION BY")?;
                self.parser.advance_token();
                self.parser.advance_token();
                table.partition_by = Some(self.parse_partition_by()?);
            } else if self.peek_words(0, &["DISTRIBUTED", "BY"]) {
                self.ensure_not_set(&table.distribution, "DISTRIBUTED BY")?;
                table.distribution = Some(self.parse_distribution()?);
            } else if self.peek_word("PROPERTIES") {
                self.ensure_not_set(&properties, "PROPERTIES")?;
                properties = Some(self.parse_optional_properties()?);
            } else {
                break;
            }
        }
        if !columns_given && table.as_query.is_none() {
            return self.expected("( or LIKE or AS SELECT");
        }
        table.properties = properties.unwrap_or_default();
        Ok(Statement::CreateTable(table))
    }

    /// `{DUPLICATE | AGGREGATE | UNIQUE | PRIMARY} KEY` ahead (not consumed).
    fn peek_key_model(&self) -> Option<KeyModel> {
        if !self.peek_words(1, &["KEY"]) {
            return None;
        }
        match self.peek_word_upper(0)?.as_str() {
            "DUPLICATE" => Some(KeyModel::Duplicate),
            "AGGREGATE" => Some(KeyModel::Aggregate),
            "UNIQUE" => Some(KeyModel::Unique),
            "PRIMARY" => Some(KeyModel::Primary),
            _ => None,
        }
    }

    fn parse_column_def(&mut self) -> Result<ColumnDef, ParseError> {
        if self.peek_word("INDEX") {
            return self.error_here(
                "INDEX definitions are not supported in CREATE TABLE; remove the INDEX clause \
                 (backstop keeps no secondary indexes)",
            );
        }
        if self.peek_key_model().is_some() || self.peek_word("CONSTRAINT") {
            return self.error_here(
                "Key and constraint definitions go after the column list in StarRocks syntax, \
                 e.g. ) DUPLICATE KEY(col)",
            );
        }
        let name = self.parse_ident("column name")?;
        let data_type = self.parse_data_type(&name)?;
        let aggregate = self.peek_word_upper(0).and_then(|w| {
            AGGREGATE_TYPES
                .iter()
                .find(|(name, _)| *name == w)
                .map(|(_, t)| *t)
        });
        if aggregate.is_some() {
            self.parser.advance_token();
        }
        let nullable = if self.parse_words(&["NOT", "NULL"]) {
            Some(false)
        } else if self.parse_word("NULL") {
            Some(true)
        } else {
            None
        };
        let default = if self.parse_word("DEFAULT") {
            if self.parse_word("CURRENT_TIMESTAMP") {
                Some(ColumnDefault::CurrentTimestamp)
            } else {
                Some(ColumnDefault::Literal(self.parse_literal(
                    "default value (a literal or CURRENT_TIMESTAMP)",
                )?))
            }
        } else {
            None
        };
        let comment = if self.parse_word("COMMENT") {
            Some(self.parse_string("column comment (a string literal)")?)
        } else {
            None
        };
        Ok(ColumnDef {
            name,
            data_type,
            aggregate,
            nullable,
            default,
            comment,
        })
    }

    fn parse_data_type(&mut self, column: &Ident) -> Result<DataType, ParseError> {
        let Some(word) = self.peek_word_upper(0) else {
            return self.expected(&format!("type of column {column}"));
        };
        let decimal = |kind| DataType::Decimal {
            kind,
            precision: None,
            scale: None,
        };
        if let Some(advice) = UNSUPPORTED_TYPES
            .iter()
            .find(|(name, _)| *name == word)
            .map(|(_, advice)| *advice)
        {
            let at = self.here();
            self.parser.advance_token();
            // The type as written, parameters included (`VARBINARY(10)`, `ENUM('a', 'b')`).
            let mut written = word.clone();
            if self.consume(&Token::LParen) {
                let mut params = Vec::new();
                loop {
                    match &self.parser.next_token().token {
                        Token::RParen => break,
                        Token::EOF => {
                            return self.expected(&format!("the end of type {word}(...)"));
                        }
                        Token::Comma => params.push(", ".to_string()),
                        other => params.push(other.to_string()),
                    }
                }
                written = format!("{written}({})", params.concat());
            }
            return Err(ParseError::unsupported(
                format!(
                    "Column type {written} (column {column}) is not supported by backstop; {advice}"
                ),
                at,
            ));
        }
        let data_type = match word.as_str() {
            "BOOLEAN" | "BOOL" => DataType::Boolean,
            "TINYINT" => DataType::TinyInt,
            "SMALLINT" => DataType::SmallInt,
            "INT" | "INTEGER" => DataType::Int,
            "BIGINT" => DataType::BigInt,
            "LARGEINT" => DataType::LargeInt,
            // MySQL's spellings that ORMs emit (backstop takes them; StarRocks does not):
            // FLOAT(p) is FLOAT up to p = 24 and DOUBLE above, REAL and DOUBLE PRECISION are
            // DOUBLE, DEC is DECIMAL, the TEXT family is STRING. Parsed below.
            "FLOAT" => DataType::Float,
            "DOUBLE" | "REAL" => DataType::Double,
            "DECIMAL" | "NUMERIC" | "NUMBER" | "DEC" => decimal(DecimalKind::Decimal),
            "DECIMALV2" => decimal(DecimalKind::DecimalV2),
            "DECIMAL32" => decimal(DecimalKind::Decimal32),
            "DECIMAL64" => decimal(DecimalKind::Decimal64),
            "DECIMAL128" => decimal(DecimalKind::Decimal128),
            "CHAR" => DataType::Char(None),
            "VARCHAR" => DataType::Varchar(None),
            "STRING" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" => DataType::String,
            "DATE" => DataType::Date,
            "DATETIME" => DataType::DateTime,
            "JSON" => DataType::Json,
            "VARBINARY" | "BINARY" => DataType::Varbinary(None),
            "BITMAP" => DataType::Bitmap,
            "HLL" => DataType::Hll,
            _ => {
                return self.error_here(format!(
                    "Column type {word} (column {column}) is not supported; supported types: {SUPPORTED_TYPES}"
                ));
            }
        };
        self.parser.advance_token();
        Ok(match data_type {
            DataType::TinyInt
            | DataType::SmallInt
            | DataType::Int
            | DataType::BigInt
            | DataType::LargeInt => {
                // A MySQL display width, `INT(11)`: meaningless for storage.
                if self.consume(&Token::LParen) {
                    self.parse_u64("display width")?;
                    self.expect_token(&Token::RParen)?;
                }
                data_type
            }
            DataType::Float => {
                // FLOAT(p): the precision in bits picks the width, as MySQL does; FLOAT(m,d)
                // (deprecated in MySQL) stays FLOAT.
                if self.consume(&Token::LParen) {
                    let at = self.here();
                    let p = self.parse_u64("float precision")?;
                    let pair = self.consume(&Token::Comma);
                    if pair {
                        self.parse_u64("float scale")?;
                    }
                    self.expect_token(&Token::RParen)?;
                    match p {
                        _ if pair => DataType::Float,
                        0..=24 => DataType::Float,
                        25..=53 => DataType::Double,
                        _ => {
                            return Err(ParseError::at(
                                format!(
                                    "FLOAT({p}) (column {column}): the precision of a FLOAT is 0 to 53 bits"
                                ),
                                at,
                            ));
                        }
                    }
                } else {
                    DataType::Float
                }
            }
            DataType::Double => {
                if word == "DOUBLE" {
                    self.parse_word("PRECISION");
                }
                // DOUBLE(m,d) / REAL(m,d): MySQL's display digits, meaningless for storage.
                if self.consume(&Token::LParen) {
                    self.parse_u64("display width")?;
                    if self.consume(&Token::Comma) {
                        self.parse_u64("digits after the point")?;
                    }
                    self.expect_token(&Token::RParen)?;
                }
                DataType::Double
            }
            DataType::String => {
                // TEXT(n): MySQL picks the smallest TEXT type that holds n; all are STRING here.
                if word != "STRING" && self.consume(&Token::LParen) {
                    self.parse_u64("length")?;
                    self.expect_token(&Token::RParen)?;
                }
                DataType::String
            }
            DataType::DateTime if self.peek_is(&Token::LParen) => {
                let at = self.here();
                self.parser.advance_token();
                let n = self.parse_u64("fractional seconds precision")?;
                self.expect_token(&Token::RParen)?;
                return Err(ParseError::unsupported(
                    format!(
                        "Column type DATETIME({n}) (column {column}) is not supported: StarRocks' DATETIME takes no precision; use DATETIME, which keeps microseconds"
                    ),
                    at,
                ));
            }
            DataType::Char(_) => DataType::Char(self.parse_optional_length()?),
            DataType::Varchar(_) => DataType::Varchar(self.parse_optional_length()?),
            DataType::Varbinary(_) => DataType::Varbinary(self.parse_optional_length()?),
            DataType::Decimal { kind, .. } => {
                let (mut precision, mut scale) = (None, None);
                if self.consume(&Token::LParen) {
                    precision = Some(self.parse_u32("decimal precision")?);
                    if self.consume(&Token::Comma) {
                        scale = Some(self.parse_u32("decimal scale")?);
                    }
                    self.expect_token(&Token::RParen)?;
                }
                DataType::Decimal {
                    kind,
                    precision,
                    scale,
                }
            }
            other => other,
        })
    }

    fn parse_optional_length(&mut self) -> Result<Option<u32>, ParseError> {
        if !self.consume(&Token::LParen) {
            return Ok(None);
        }
        let n = self.parse_u32("length")?;
        self.expect_token(&Token::RParen)?;
        Ok(Some(n))
    }

    fn parse_u32(&mut self, what: &str) -> Result<u32, ParseError> {
        let at = self.here();
        let n = self.parse_u64(what)?;
        u32::try_from(n).map_err(|_| ParseError::at(format!("{what} {n} is too large"), at))
    }

    /// A string, a number (optionally negative) or NULL.
    pub(super) fn parse_literal(&mut self, what: &str) -> Result<Literal, ParseError> {
        let negative = matches!(self.parser.peek_token_ref().token, Token::Minus)
            && matches!(self.parser.peek_nth_token_ref(1).token, Token::Number(..));
        if negative {
            self.parser.advance_token();
        }
        let literal = match &self.parser.peek_token_ref().token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                Literal::String(s.clone())
            }
            Token::Number(n, _) if negative => Literal::Number(format!("-{n}")),
            Token::Number(n, _) => Literal::Number(n.clone()),
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("NULL") => {
                Literal::Null
            }
            _ => return self.expected(what),
        };
        self.parser.advance_token();
        Ok(literal)
    }

    /// After `PARTITION BY`: `{RANGE | LIST} (col) (PARTITION ..., ...)`.
    /// `date_trunc('unit', column)` or `time_slice(column, INTERVAL 1 unit [, FLOOR])`, after
    /// PARTITION BY: StarRocks' expression partitioning by time.
    fn parse_expression_partitioning(&mut self) -> Result<PartitionBy, ParseError> {
        let at = self.here();
        let (column, unit) = if self.parse_word("DATE_TRUNC") {
            self.expect_token(&Token::LParen)?;
            let unit = self.parse_string("a time unit")?;
            self.expect_token(&Token::Comma)?;
            let column = self.parse_ident("partition column name")?;
            self.expect_token(&Token::RParen)?;
            (column, unit)
        } else {
            self.expect_word("TIME_SLICE")?;
            self.expect_token(&Token::LParen)?;
            let column = self.parse_ident("partition column name")?;
            self.expect_token(&Token::Comma)?;
            self.expect_word("INTERVAL")?;
            let n = self.parse_u64("interval")?;
            let Some(unit) = self.peek_word_upper(0) else {
                return self.expected("a unit (HOUR, DAY, MONTH or YEAR)");
            };
            self.parser.advance_token();
            if self.consume(&Token::Comma) && !self.parse_word("FLOOR") {
                return self.expected("FLOOR (the only boundary of a partition expression)");
            }
            self.expect_token(&Token::RParen)?;
            if n != 1 {
                return Err(ParseError::unsupported(
                    format!(
                        "time_slice with INTERVAL {n} {unit} is not supported as a partition \
                         expression: partition by INTERVAL 1 {unit}, or use \
                         date_trunc('{}', {})",
                        unit.to_ascii_lowercase(),
                        column.value
                    ),
                    at,
                ));
            }
            (column, unit)
        };
        let parsed = super::TimeUnit::parse(&unit).filter(|u| *u != super::TimeUnit::Week);
        let Some(unit) = parsed else {
            return Err(ParseError::at(
                format!(
                    "'{unit}' is not a partition time unit: use 'hour', 'day', 'month' or 'year'"
                ),
                at,
            ));
        };
        if self.peek_is(&Token::LParen) {
            return Err(ParseError::at(
                "a table partitioned by an expression lists no partitions: loads create them",
                self.here(),
            ));
        }
        Ok(PartitionBy {
            kind: PartitionKind::Range,
            column,
            partitions: Vec::new(),
            auto: Some(unit),
        })
    }

    fn parse_partition_by(&mut self) -> Result<PartitionBy, ParseError> {
        if self.peek_word("DATE_TRUNC") || self.peek_word("TIME_SLICE") {
            return self.parse_expression_partitioning();
        }
        let kind = match self.parse_one_of(&["RANGE", "LIST"]) {
            Some("RANGE") => PartitionKind::Range,
            Some(_) => PartitionKind::List,
            None => {
                return self.expected(
                    "RANGE, LIST, date_trunc(...) or time_slice(...) (column expressions are \
                     not supported)",
                );
            }
        };
        let columns_at = self.here();
        let columns = self.parse_ident_list("partition column name")?;
        let mut columns = columns.into_iter();
        let (Some(column), None) = (columns.next(), columns.next()) else {
            return Err(ParseError::at(
                "Partitioning by more than one column is not supported; partition by one column",
                columns_at,
            ));
        };
        self.expect_token(&Token::LParen)?;
        let mut partitions = Vec::new();
        if !self.consume(&Token::RParen) {
            loop {
                if kind == PartitionKind::Range && self.peek_word("START") {
                    let at = self.here();
                    let batch = self.parse_partition_batch()?;
                    partitions.extend(batch.expand().map_err(|why| ParseError::at(why, at))?);
                    // The cap holds for the whole list, not each batch.
                    if partitions.len() > super::MAX_BATCH_PARTITIONS {
                        return Err(ParseError::at(
                            format!(
                                "the partition list creates more than {} partitions",
                                super::MAX_BATCH_PARTITIONS
                            ),
                            at,
                        ));
                    }
                } else {
                    partitions.push(self.parse_partition_def(Some(kind))?);
                }
                if self.consume(&Token::RParen) {
                    break;
                }
                if !self.consume(&Token::Comma) {
                    return self.expected(", or )");
                }
            }
        }
        Ok(PartitionBy {
            kind,
            column,
            partitions,
            auto: None,
        })
    }

    /// `PARTITION name VALUES ...`; `kind` restricts the VALUES form (None: any, for ALTER).
    fn parse_partition_def(
        &mut self,
        kind: Option<PartitionKind>,
    ) -> Result<PartitionDef, ParseError> {
        if !self.parse_word("PARTITION") {
            return self.expected("PARTITION or START (... END ... EVERY, RANGE partitions)");
        }
        let name = self.parse_ident("partition name")?;
        let values = self.parse_partition_values(kind)?;
        Ok(PartitionDef { name, values })
    }

    fn parse_partition_values(
        &mut self,
        kind: Option<PartitionKind>,
    ) -> Result<PartitionValues, ParseError> {
        self.expect_word("VALUES")?;
        let range_ok = kind != Some(PartitionKind::List);
        let list_ok = kind != Some(PartitionKind::Range);
        if range_ok && self.parse_words(&["LESS", "THAN"]) {
            if self.parse_word("MAXVALUE") {
                return Ok(PartitionValues::LessThan(PartitionValue::MaxValue));
            }
            return Ok(PartitionValues::LessThan(self.parse_single_value_tuple()?));
        }
        if range_ok && self.consume(&Token::LBracket) {
            let lower = self.parse_single_value_tuple()?;
            self.expect_token(&Token::Comma)?;
            let upper = self.parse_single_value_tuple()?;
            self.expect_token(&Token::RParen)?;
            return Ok(PartitionValues::Range { lower, upper });
        }
        if list_ok && self.parse_word("IN") {
            let values = self.parse_parenthesized_list(|p| {
                if p.peek_is(&Token::LParen) {
                    return p.error_here(MULTI_COLUMN_VALUES);
                }
                p.parse_literal("partition value")
            })?;
            return Ok(PartitionValues::In(values));
        }
        self.expected(match kind {
            Some(PartitionKind::Range) => "LESS THAN or [ (a RANGE partition)",
            Some(PartitionKind::List) => "IN (a LIST partition)",
            None => "LESS THAN, [ or IN",
        })
    }

    /// `(v)` where v is a literal or MAXVALUE; more than one value is refused.
    fn parse_single_value_tuple(&mut self) -> Result<PartitionValue, ParseError> {
        self.expect_token(&Token::LParen)?;
        let value = if self.parse_word("MAXVALUE") {
            PartitionValue::MaxValue
        } else {
            PartitionValue::Literal(self.parse_literal("partition value (a string or number)")?)
        };
        if self.peek_is(&Token::Comma) {
            return self.error_here(MULTI_COLUMN_VALUES);
        }
        self.expect_token(&Token::RParen)?;
        Ok(value)
    }

    /// `DISTRIBUTED BY {HASH (cols) | RANDOM} [BUCKETS n]`
    pub(super) fn parse_distribution(&mut self) -> Result<Distribution, ParseError> {
        self.expect_words(&["DISTRIBUTED", "BY"])?;
        if self.parse_word("HASH") {
            let columns = self.parse_ident_list("distribution column name")?;
            let buckets = self.parse_optional_buckets()?;
            Ok(Distribution::Hash { columns, buckets })
        } else if self.parse_word("RANDOM") {
            let buckets = self.parse_optional_buckets()?;
            Ok(Distribution::Random { buckets })
        } else {
            self.expected("HASH or RANDOM")
        }
    }

    fn parse_optional_buckets(&mut self) -> Result<Option<u64>, ParseError> {
        if self.parse_word("BUCKETS") {
            Ok(Some(self.parse_u64("number of buckets")?))
        } else {
            Ok(None)
        }
    }

    pub(super) fn parse_create_database(&mut self) -> Result<Statement, ParseError> {
        self.expect_word("CREATE")?;
        if self.parse_one_of(&["DATABASE", "SCHEMA"]).is_none() {
            return self.expected("DATABASE");
        }
        let if_not_exists = self.parse_words(&["IF", "NOT", "EXISTS"]);
        let name = self.parse_ident("database name")?;
        let properties = self.parse_optional_properties()?;
        Ok(Statement::CreateDatabase {
            name,
            if_not_exists,
            properties,
        })
    }

    pub(super) fn parse_drop_database(&mut self) -> Result<Statement, ParseError> {
        self.expect_word("DROP")?;
        if self.parse_one_of(&["DATABASE", "SCHEMA"]).is_none() {
            return self.expected("DATABASE");
        }
        let if_exists = self.parse_words(&["IF", "EXISTS"]);
        let name = self.parse_ident("database name")?;
        let force = self.parse_word("FORCE");
        Ok(Statement::DropDatabase {
            name,
            if_exists,
            force,
        })
    }

    /// `ALTER TABLE t {ADD | DROP} [TEMPORARY] PARTITION ...`
    /// `ALTER TABLE name {RENAME | SWAP WITH} ...`
    pub(super) fn is_table_rename(&self) -> bool {
        if !self.peek_words(1, &["TABLE"]) {
            return false;
        }
        let Some(len) = self.peek_name_len(2) else {
            return false;
        };
        self.peek_words(2 + len, &["RENAME"]) || self.peek_words(2 + len, &["SWAP", "WITH"])
    }

    /// `ALTER TABLE name [BASE | CUMULATIVE] COMPACT ...`
    pub(super) fn is_table_compact(&self) -> bool {
        if !self.peek_words(1, &["TABLE"]) {
            return false;
        }
        let Some(len) = self.peek_name_len(2) else {
            return false;
        };
        let n = 2 + len;
        self.peek_words(n, &["COMPACT"])
            || self.peek_words(n, &["BASE", "COMPACT"])
            || self.peek_words(n, &["CUMULATIVE", "COMPACT"])
    }

    pub(super) fn parse_compact_table(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["ALTER", "TABLE"])?;
        let table = self.parse_object_name("table name")?;
        let base = self.parse_word("BASE");
        if !base {
            let _ = self.parse_word("CUMULATIVE");
        }
        self.expect_word("COMPACT")?;
        let partitions = if self.peek_is(&Token::LParen) {
            self.parse_ident_list("partition name")?
        } else if self.peek_is(&Token::EOF) || self.peek_is(&Token::SemiColon) {
            Vec::new()
        } else {
            vec![self.parse_ident("partition name")?]
        };
        Ok(Statement::CompactTable(CompactTable {
            table,
            base,
            partitions,
        }))
    }

    pub(super) fn parse_rename_table(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["ALTER", "TABLE"])?;
        let table = self.parse_object_name("table name")?;
        let swap = if self.parse_word("RENAME") {
            let _ = self.parse_word("TO") || self.parse_word("AS");
            false
        } else {
            self.expect_words(&["SWAP", "WITH"])?;
            true
        };
        let to = self.parse_ident("table name")?;
        Ok(Statement::RenameTable(RenameTable { table, to, swap }))
    }

    pub(super) fn parse_alter_partition(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["ALTER", "TABLE"])?;
        let table = self.parse_object_name("table name")?;
        if self.parse_words(&["ADD", "PARTITIONS"]) {
            return super::batch::add_partitions(self, table);
        }
        if self.parse_word("ADD") {
            let temporary = self.parse_word("TEMPORARY");
            self.expect_word("PARTITION")?;
            let if_not_exists = self.parse_words(&["IF", "NOT", "EXISTS"]);
            let name = self.parse_ident("partition name")?;
            let values = self.parse_partition_values(None)?;
            let distribution = if self.peek_words(0, &["DISTRIBUTED", "BY"]) {
                Some(self.parse_distribution()?)
            } else {
                None
            };
            return Ok(Statement::AddPartition(AddPartition {
                table,
                temporary,
                if_not_exists,
                partition: PartitionDef { name, values },
                distribution,
            }));
        }
        self.expect_word("DROP")?;
        let temporary = self.parse_word("TEMPORARY");
        self.expect_word("PARTITION")?;
        let if_exists = self.parse_words(&["IF", "EXISTS"]);
        let name = self.parse_ident("partition name")?;
        let force = self.parse_word("FORCE");
        Ok(Statement::DropPartition(DropPartition {
            table,
            temporary,
            if_exists,
            name,
            force,
        }))
    }

    /// `TRUNCATE [TABLE] t [PARTITION (p, ...)]`
    pub(super) fn parse_truncate(&mut self) -> Result<Statement, ParseError> {
        self.expect_word("TRUNCATE")?;
        let _ = self.parse_word("TABLE");
        let table = self.parse_object_name("table name")?;
        let partitions = if self.peek_word("TEMPORARY") {
            return self.error_here(
                "TRUNCATE of temporary partitions is not supported: backstop has none",
            );
        } else if self.parse_one_of(&["PARTITION", "PARTITIONS"]).is_some() {
            self.parse_ident_list("partition name")?
        } else {
            Vec::new()
        };
        Ok(Statement::TruncateTable(TruncateTable {
            table,
            partitions,
        }))
    }

    /// `CHECKSUM TABLE t [, t ...] [QUICK | EXTENDED]`
    pub(super) fn parse_checksum(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["CHECKSUM", "TABLE"])?;
        let mut tables = vec![self.parse_object_name("table name")?];
        while self.consume(&Token::Comma) {
            tables.push(self.parse_object_name("table name")?);
        }
        let _ = self.parse_one_of(&["QUICK", "EXTENDED"]);
        Ok(Statement::ChecksumTable(tables))
    }
}

const MULTI_COLUMN_VALUES: &str =
    "Partition values for more than one column are not supported; give one value per bound";
