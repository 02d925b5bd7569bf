//! BITMAP and HLL columns: distinct-count sketches, stored as bytes (Arrow `Binary`), and
//! StarRocks' functions over them.
//!
//! - A BITMAP value is a set of unsigned 64-bit integers, stored as a serialized 64-bit roaring
//!   bitmap (the `roaring` crate's `RoaringTreemap` format: the portable 32-bit roaring format
//!   per high half, as CRoaring's 64-bit "portable" layout).
//! - An HLL value is a HyperLogLog sketch of 64-bit hashes (xxh3 of the value's text) with 2^14
//!   registers: up to [`EXPLICIT_MAX`] distinct hashes are kept exactly (byte `1`, then the
//!   sorted hashes, 8 bytes each, little endian), beyond that the registers (byte `2`, then
//!   16384 bytes); byte `0` alone is the empty sketch.
//!
//! Both forms are canonical: a load checks every value and writes it back in its one form, so
//! equal sets are equal bytes (CHECKSUM TABLE, `=`, GROUP BY agree) and a value that is not a
//! sketch never reaches a table.
//!
//! Functions (registered for every query): `to_bitmap(n)`, `bitmap_hash(v)`,
//! `bitmap_from_string('1,2')`, `bitmap_empty()`, `bitmap_to_string(b)`, `bitmap_count(b)`,
//! `bitmap_contains(b, n)`, `bitmap_or(a, b)`, `bitmap_and(a, b)`, `hll_hash(v)`, `hll_empty()`,
//! `hll_cardinality(h)`; aggregates `bitmap_union(b)`, `bitmap_union_count(b)`,
//! `bitmap_union_int(n)`, `bitmap_agg(n)`, `hll_union(h)` (also `hll_raw_agg`),
//! `hll_union_agg(h)`.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use roaring::RoaringTreemap;

use crate::catalog::ColumnType;

/// Distinct hashes an HLL keeps exactly before it turns into registers.
const EXPLICIT_MAX: usize = 160;
/// log2 of the register count.
const PRECISION: u32 = 14;
const REGISTERS: usize = 1 << PRECISION;

/// A BITMAP or HLL value in memory.
#[derive(Debug, Clone)]
pub enum Sketch {
    Bitmap(RoaringTreemap),
    Hll(Hll),
}

/// A HyperLogLog sketch: exact while small, registers beyond.
#[derive(Debug, Clone, Default)]
pub struct Hll {
    explicit: BTreeSet<u64>,
    registers: Option<Box<[u8]>>,
}

impl Hll {
    fn add_hash(&mut self, hash: u64) {
        match &mut self.registers {
            Some(registers) => set_register(registers, hash),
            None => {
                self.explicit.insert(hash);
                if self.explicit.len() > EXPLICIT_MAX {
                    let mut registers = vec![0u8; REGISTERS].into_boxed_slice();
                    for h in std::mem::take(&mut self.explicit) {
                        set_register(&mut registers, h);
                    }
                    self.registers = Some(registers);
                }
            }
        }
    }

    fn merge(&mut self, other: &Hll) {
        match &other.registers {
            None => {
                for &h in &other.explicit {
                    self.add_hash(h);
                }
            }
            Some(theirs) => {
                let mine = self.registers.get_or_insert_with(|| {
                    let mut registers = vec![0u8; REGISTERS].into_boxed_slice();
                    for &h in &self.explicit {
                        set_register(&mut registers, h);
                    }
                    registers
                });
                self.explicit.clear();
                for (m, t) in mine.iter_mut().zip(theirs.iter()) {
                    *m = (*m).max(*t);
                }
            }
        }
    }

    /// The estimated number of distinct values (exact while explicit).
    pub fn cardinality(&self) -> u64 {
        let Some(registers) = &self.registers else {
            return self.explicit.len() as u64;
        };
        let m = REGISTERS as f64;
        let sum: f64 = registers.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
        let zeros = registers.iter().filter(|&&r| r == 0).count();
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let estimate = alpha * m * m / sum;
        let estimate = if estimate <= 2.5 * m && zeros > 0 {
            // Linear counting for small cardinalities.
            m * (m / zeros as f64).ln()
        } else {
            estimate
        };
        estimate.round() as u64
    }
}

fn set_register(registers: &mut [u8], hash: u64) {
    let index = (hash >> (64 - PRECISION)) as usize;
    // The rank of the first 1 bit in the remaining bits (1-based), capped where they end.
    let rest = hash << PRECISION;
    let rank = (rest.leading_zeros() + 1).min(64 - PRECISION + 1) as u8;
    if let Some(r) = registers.get_mut(index) {
        *r = (*r).max(rank);
    }
}

impl Sketch {
    fn empty(kind: ColumnType) -> Sketch {
        if kind == ColumnType::Hll {
            Sketch::Hll(Hll::default())
        } else {
            Sketch::Bitmap(RoaringTreemap::new())
        }
    }

    /// Reads a stored value of a `kind` (BITMAP or HLL) column.
    pub fn read(kind: ColumnType, bytes: &[u8]) -> Result<Sketch, String> {
        let name = kind.base_name();
        let bad = || {
            format!(
                "a value of {} bytes is not {} {name} value: load {name} columns with {}",
                bytes.len(),
                article(kind),
                if kind == ColumnType::Hll {
                    "hll_hash(), hll_empty() or hll_union()"
                } else {
                    "to_bitmap(), bitmap_hash(), bitmap_from_string(), bitmap_empty() or \
                     bitmap_union()"
                }
            )
        };
        if kind != ColumnType::Hll {
            return read_bitmap(bytes).map(Sketch::Bitmap).ok_or_else(bad);
        }
        let mut hll = Hll::default();
        match bytes.split_first() {
            Some((0, [])) => {}
            Some((1, hashes)) if hashes.len() % 8 == 0 && hashes.len() / 8 <= EXPLICIT_MAX => {
                for chunk in hashes.chunks_exact(8) {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(chunk);
                    hll.explicit.insert(u64::from_le_bytes(word));
                }
            }
            Some((2, registers)) if registers.len() == REGISTERS => {
                if registers.iter().any(|&r| u32::from(r) > 64 - PRECISION + 1) {
                    return Err(bad());
                }
                hll.registers = Some(registers.to_vec().into_boxed_slice());
            }
            _ => return Err(bad()),
        }
        Ok(Sketch::Hll(hll))
    }

    /// The value in its stored, canonical form.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Sketch::Bitmap(b) => {
                // Rebuilt from its values, each container is an array or a bitmap by its
                // cardinality alone; `optimize` then picks runs where they are smaller. So the
                // bytes depend on the set only, whatever representation it came in.
                let mut canonical =
                    RoaringTreemap::from_sorted_iter(b.iter()).unwrap_or_else(|_| b.clone());
                canonical.optimize();
                let mut out = Vec::with_capacity(canonical.serialized_size());
                // Writing into a Vec cannot fail.
                let _ = canonical.serialize_into(&mut out);
                out
            }
            Sketch::Hll(h) => match &h.registers {
                Some(registers) => {
                    let mut out = Vec::with_capacity(REGISTERS + 1);
                    out.push(2);
                    out.extend_from_slice(registers);
                    out
                }
                None if h.explicit.is_empty() => vec![0],
                None => {
                    let mut out = Vec::with_capacity(1 + 8 * h.explicit.len());
                    out.push(1);
                    for x in &h.explicit {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                    out
                }
            },
        }
    }

    fn merge(&mut self, other: &Sketch) {
        match (self, other) {
            (Sketch::Bitmap(a), Sketch::Bitmap(b)) => *a |= b,
            (Sketch::Hll(a), Sketch::Hll(b)) => a.merge(b),
            // Values of one column are of one kind; a mixed call cannot be built.
            _ => {}
        }
    }

    fn count(&self) -> u64 {
        match self {
            Sketch::Bitmap(b) => b.len(),
            Sketch::Hll(h) => h.cardinality(),
        }
    }
}

/// A serialized 64-bit roaring bitmap, read strictly: the count of 32-bit bitmaps, then each
/// one's high 32 bits (strictly ascending, so none replaces another) and the bitmap, and nothing
/// after. `None` when the bytes are anything else.
fn read_bitmap(bytes: &[u8]) -> Option<RoaringTreemap> {
    let mut cursor = std::io::Cursor::new(bytes);
    let mut word = [0u8; 8];
    std::io::Read::read_exact(&mut cursor, &mut word).ok()?;
    let count = u64::from_le_bytes(word);
    let mut parts = Vec::new();
    let mut last: Option<u32> = None;
    for _ in 0..count {
        let mut key = [0u8; 4];
        std::io::Read::read_exact(&mut cursor, &mut key).ok()?;
        let key = u32::from_le_bytes(key);
        if last.is_some_and(|l| l >= key) {
            return None;
        }
        last = Some(key);
        parts.push((
            key,
            roaring::RoaringBitmap::deserialize_from(&mut cursor).ok()?,
        ));
    }
    if cursor.position() != bytes.len() as u64 {
        return None;
    }
    Some(RoaringTreemap::from_bitmaps(parts))
}

/// "an HLL", "a BITMAP".
fn article(kind: ColumnType) -> &'static str {
    if kind == ColumnType::Hll { "an" } else { "a" }
}

/// A loaded column of a BITMAP or HLL column (`kind`) checked and in canonical form.
pub fn normalize_column(kind: ColumnType, array: &ArrayRef) -> Result<ArrayRef, String> {
    let source = match array.data_type() {
        DataType::Binary | DataType::Null | DataType::LargeBinary | DataType::BinaryView => {
            cast(array, &DataType::Binary).map_err(|e| e.to_string())?
        }
        other => {
            return Err(format!(
                "a value of type {other} cannot be {} {} value: load it with {}",
                article(kind),
                kind.base_name(),
                if kind == ColumnType::Hll {
                    "hll_hash(v)"
                } else {
                    "to_bitmap(n), bitmap_hash(v) or bitmap_from_string('1,2,...')"
                }
            ));
        }
    };
    let bytes = source.as_binary::<i32>();
    let mut out = Vec::with_capacity(bytes.len());
    for value in bytes.iter() {
        out.push(match value {
            None => None,
            Some(b) => Some(Sketch::read(kind, b)?.bytes()),
        });
    }
    Ok(Arc::new(
        out.iter().map(|v| v.as_deref()).collect::<BinaryArray>(),
    ))
}

/// The xxh3 hash of a value's text form (what `hll_hash` and `bitmap_hash` take).
fn hash_text(text: &str) -> u64 {
    twox_hash::XxHash3_64::oneshot(text.as_bytes())
}

fn as_text(array: &ArrayRef) -> DfResult<ArrayRef> {
    Ok(cast(array, &DataType::Utf8)?)
}

/// Every value of `array` (a BITMAP or HLL argument, by `kind`) read; NULL stays `None`.
fn sketches(kind: ColumnType, array: &ArrayRef) -> DfResult<Vec<Option<Sketch>>> {
    let bytes = cast(array, &DataType::Binary)?;
    bytes
        .as_binary::<i32>()
        .iter()
        .map(|value| {
            value
                .map(|b| Sketch::read(kind, b))
                .transpose()
                .map_err(datafusion::error::DataFusionError::Execution)
        })
        .collect()
}

/// The scalar functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scalar {
    ToBitmap,
    BitmapHash,
    BitmapFromString,
    BitmapEmpty,
    BitmapToString,
    BitmapCount,
    BitmapContains,
    BitmapOr,
    BitmapAnd,
    HllHash,
    HllEmpty,
    HllCardinality,
}

const SCALARS: &[(&str, Scalar, usize)] = &[
    ("to_bitmap", Scalar::ToBitmap, 1),
    ("bitmap_hash", Scalar::BitmapHash, 1),
    ("bitmap_from_string", Scalar::BitmapFromString, 1),
    ("bitmap_empty", Scalar::BitmapEmpty, 0),
    ("bitmap_to_string", Scalar::BitmapToString, 1),
    ("bitmap_count", Scalar::BitmapCount, 1),
    ("bitmap_contains", Scalar::BitmapContains, 2),
    ("bitmap_or", Scalar::BitmapOr, 2),
    ("bitmap_and", Scalar::BitmapAnd, 2),
    ("hll_hash", Scalar::HllHash, 1),
    ("hll_empty", Scalar::HllEmpty, 0),
    ("hll_cardinality", Scalar::HllCardinality, 1),
];

#[derive(Debug, PartialEq, Eq, Hash)]
struct ScalarFunction {
    name: &'static str,
    kind: Scalar,
    arity: usize,
    signature: Signature,
}

impl ScalarUDFImpl for ScalarFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(match self.kind {
            Scalar::BitmapToString => DataType::Utf8,
            Scalar::BitmapCount | Scalar::HllCardinality => DataType::Int64,
            Scalar::BitmapContains => DataType::Boolean,
            _ => DataType::Binary,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        if args.args.len() != self.arity {
            return exec_err!(
                "{} takes {} argument(s), not {}",
                self.name,
                self.arity,
                args.args.len()
            );
        }
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let first = arrays.first();
        let kind = |s: Scalar| {
            if matches!(s, Scalar::HllCardinality) {
                ColumnType::Hll
            } else {
                ColumnType::Bitmap
            }
        };
        let array: ArrayRef = match self.kind {
            Scalar::BitmapEmpty | Scalar::HllEmpty => {
                let empty = Sketch::empty(if self.kind == Scalar::HllEmpty {
                    ColumnType::Hll
                } else {
                    ColumnType::Bitmap
                })
                .bytes();
                Arc::new(BinaryArray::from_iter_values((0..rows).map(|_| &empty)))
            }
            Scalar::ToBitmap => {
                let Some(values) = first else {
                    return exec_err!("to_bitmap takes one argument");
                };
                let text = as_text(values)?;
                let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(rows);
                for v in text.as_string::<i32>().iter() {
                    out.push(match v {
                        None => None,
                        Some(t) => {
                            let Ok(n) = t.trim().parse::<u64>() else {
                                return exec_err!(
                                    "to_bitmap: '{t}' is not an integer from 0 to \
                                     18446744073709551615"
                                );
                            };
                            let mut b = RoaringTreemap::new();
                            b.insert(n);
                            Some(Sketch::Bitmap(b).bytes())
                        }
                    });
                }
                Arc::new(out.iter().map(|v| v.as_deref()).collect::<BinaryArray>())
            }
            Scalar::BitmapHash | Scalar::HllHash => {
                let Some(values) = first else {
                    return exec_err!("{} takes one argument", self.name);
                };
                let text = as_text(values)?;
                let out: Vec<Option<Vec<u8>>> = text
                    .as_string::<i32>()
                    .iter()
                    .map(|v| match (self.kind, v) {
                        // StarRocks: hll_hash(NULL) is an empty sketch.
                        (Scalar::HllHash, v) => {
                            let mut h = Hll::default();
                            if let Some(v) = v {
                                h.add_hash(hash_text(v));
                            }
                            Some(Sketch::Hll(h).bytes())
                        }
                        (_, None) => None,
                        (_, Some(v)) => {
                            let mut b = RoaringTreemap::new();
                            b.insert(hash_text(v) & u64::from(u32::MAX));
                            Some(Sketch::Bitmap(b).bytes())
                        }
                    })
                    .collect();
                Arc::new(out.iter().map(|v| v.as_deref()).collect::<BinaryArray>())
            }
            Scalar::BitmapFromString => {
                let Some(values) = first else {
                    return exec_err!("bitmap_from_string takes one argument");
                };
                let text = as_text(values)?;
                let out: Vec<Option<Vec<u8>>> = text
                    .as_string::<i32>()
                    .iter()
                    .map(|v| {
                        let v = v?;
                        let mut b = RoaringTreemap::new();
                        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                            // StarRocks: text that is not a list of integers gives NULL.
                            b.insert(part.parse::<u64>().ok()?);
                        }
                        Some(Sketch::Bitmap(b).bytes())
                    })
                    .collect();
                Arc::new(out.iter().map(|v| v.as_deref()).collect::<BinaryArray>())
            }
            Scalar::BitmapToString | Scalar::BitmapCount | Scalar::HllCardinality => {
                let Some(values) = first else {
                    return exec_err!("{} takes one argument", self.name);
                };
                let mut strings: Vec<Option<String>> = Vec::new();
                let mut counts: Vec<i64> = Vec::new();
                for sketch in sketches(kind(self.kind), values)? {
                    match self.kind {
                        Scalar::BitmapToString => strings.push(sketch.map(|s| {
                            match s {
                                Sketch::Bitmap(b) => b
                                    .iter()
                                    .map(|n| n.to_string())
                                    .collect::<Vec<_>>()
                                    .join(","),
                                Sketch::Hll(_) => String::new(),
                            }
                        })),
                        // The count of NULL is 0, as in StarRocks.
                        _ => counts.push(
                            sketch.map_or(0, |s| i64::try_from(s.count()).unwrap_or(i64::MAX)),
                        ),
                    }
                }
                if self.kind == Scalar::BitmapToString {
                    Arc::new(strings.into_iter().collect::<StringArray>())
                } else {
                    Arc::new(Int64Array::from(counts))
                }
            }
            Scalar::BitmapContains | Scalar::BitmapOr | Scalar::BitmapAnd => {
                let (Some(a), Some(b)) = (arrays.first(), arrays.get(1)) else {
                    return exec_err!("{} takes two arguments", self.name);
                };
                let len = a.len().max(b.len());
                if self.kind == Scalar::BitmapContains {
                    let numbers = cast(b, &DataType::UInt64)?;
                    let numbers =
                        numbers.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
                    let mut out = Vec::with_capacity(len);
                    for (row, set) in sketches(ColumnType::Bitmap, a)?.into_iter().enumerate() {
                        out.push(match (set, numbers.is_valid(row)) {
                            (Some(Sketch::Bitmap(s)), true) => Some(s.contains(numbers.value(row))),
                            _ => None,
                        });
                    }
                    Arc::new(out.into_iter().collect::<BooleanArray>())
                } else {
                    let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(len);
                    let pairs = sketches(ColumnType::Bitmap, a)?
                        .into_iter()
                        .zip(sketches(ColumnType::Bitmap, b)?);
                    for (x, y) in pairs {
                        out.push(match (x, y) {
                            (Some(Sketch::Bitmap(x)), Some(Sketch::Bitmap(y))) => {
                                let z = if self.kind == Scalar::BitmapOr {
                                    x | y
                                } else {
                                    x & y
                                };
                                Some(Sketch::Bitmap(z).bytes())
                            }
                            _ => None,
                        });
                    }
                    Arc::new(out.iter().map(|v| v.as_deref()).collect::<BinaryArray>())
                }
            }
        };
        Ok(ColumnarValue::Array(array))
    }
}

/// The aggregates: what they take and what they give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Aggregate {
    /// `bitmap_union(b)`, `hll_union(h)`: the union sketch.
    Union(ColumnType),
    /// `bitmap_union_count(b)`, `hll_union_agg(h)`: the union's count.
    UnionCount(ColumnType),
    /// `bitmap_agg(n)`: the bitmap of the integers.
    BitmapOfIntegers,
    /// `bitmap_union_int(n)`: how many distinct integers.
    CountOfIntegers,
}

const AGGREGATES: &[(&str, Aggregate)] = &[
    ("bitmap_union", Aggregate::Union(ColumnType::Bitmap)),
    (
        "bitmap_union_count",
        Aggregate::UnionCount(ColumnType::Bitmap),
    ),
    ("bitmap_agg", Aggregate::BitmapOfIntegers),
    ("bitmap_union_int", Aggregate::CountOfIntegers),
    ("hll_union", Aggregate::Union(ColumnType::Hll)),
    ("hll_raw_agg", Aggregate::Union(ColumnType::Hll)),
    ("hll_union_agg", Aggregate::UnionCount(ColumnType::Hll)),
];

#[derive(Debug, PartialEq, Eq, Hash)]
struct AggregateFunction {
    name: &'static str,
    kind: Aggregate,
    signature: Signature,
}

impl AggregateFunction {
    fn sketch_kind(&self) -> ColumnType {
        match self.kind {
            Aggregate::Union(k) | Aggregate::UnionCount(k) => k,
            Aggregate::BitmapOfIntegers | Aggregate::CountOfIntegers => ColumnType::Bitmap,
        }
    }
}

impl AggregateUDFImpl for AggregateFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> DfResult<DataType> {
        Ok(match self.kind {
            Aggregate::Union(_) | Aggregate::BitmapOfIntegers => DataType::Binary,
            Aggregate::UnionCount(_) | Aggregate::CountOfIntegers => DataType::Int64,
        })
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(SketchAccumulator {
            kind: self.kind,
            sketch: None,
            column: self.sketch_kind(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            datafusion::logical_expr::utils::format_state_name(args.name, "sketch"),
            DataType::Binary,
            true,
        ))])
    }
}

#[derive(Debug)]
struct SketchAccumulator {
    kind: Aggregate,
    column: ColumnType,
    /// `None` until a value that is not NULL came: a union of only NULLs is NULL.
    sketch: Option<Sketch>,
}

impl SketchAccumulator {
    fn add(&mut self, other: &Sketch) {
        match &mut self.sketch {
            Some(s) => s.merge(other),
            None => self.sketch = Some(other.clone()),
        }
    }

    fn add_sketches(&mut self, values: &ArrayRef) -> DfResult<()> {
        for s in sketches(self.column, values)?.into_iter().flatten() {
            self.add(&s);
        }
        Ok(())
    }
}

impl Accumulator for SketchAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let Some(values) = values.first() else {
            return Ok(());
        };
        match self.kind {
            Aggregate::Union(_) | Aggregate::UnionCount(_) => self.add_sketches(values),
            Aggregate::BitmapOfIntegers | Aggregate::CountOfIntegers => {
                let text = as_text(values)?;
                let mut set = RoaringTreemap::new();
                for v in text.as_string::<i32>().iter().flatten() {
                    let Ok(n) = v.trim().parse::<u64>() else {
                        return exec_err!(
                            "{}: '{v}' is not an integer from 0 to 18446744073709551615",
                            if self.kind == Aggregate::BitmapOfIntegers {
                                "bitmap_agg"
                            } else {
                                "bitmap_union_int"
                            }
                        );
                    };
                    set.insert(n);
                }
                if !set.is_empty() {
                    self.add(&Sketch::Bitmap(set));
                }
                Ok(())
            }
        }
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(match self.kind {
            Aggregate::Union(_) | Aggregate::BitmapOfIntegers => {
                ScalarValue::Binary(self.sketch.as_ref().map(Sketch::bytes))
            }
            Aggregate::UnionCount(_) | Aggregate::CountOfIntegers => ScalarValue::Int64(Some(
                self.sketch
                    .as_ref()
                    .map_or(0, |s| i64::try_from(s.count()).unwrap_or(i64::MAX)),
            )),
        })
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + match &self.sketch {
                Some(Sketch::Bitmap(b)) => b.serialized_size(),
                Some(Sketch::Hll(h)) => {
                    h.explicit.len() * 16 + h.registers.as_ref().map_or(0, |r| r.len())
                }
                None => 0,
            }
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(
            self.sketch.as_ref().map(Sketch::bytes),
        )])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        match states.first() {
            Some(values) => self.add_sketches(values),
            None => Ok(()),
        }
    }
}

/// Registers the BITMAP and HLL functions on a query context.
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    for &(name, kind, arity) in SCALARS {
        let signature = if arity == 0 {
            Signature::nullary(Volatility::Immutable)
        } else {
            Signature::any(arity, Volatility::Immutable)
        };
        ctx.register_udf(ScalarUDF::from(ScalarFunction {
            name,
            kind,
            arity,
            signature,
        }));
    }
    for &(name, kind) in AGGREGATES {
        ctx.register_udaf(AggregateUDF::from(AggregateFunction {
            name,
            kind,
            signature: Signature::any(1, Volatility::Immutable),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hll_is_exact_while_small_and_close_beyond() {
        let mut small = Hll::default();
        for i in 0..100 {
            small.add_hash(hash_text(&i.to_string()));
        }
        assert_eq!(small.cardinality(), 100);
        let mut big = Hll::default();
        for i in 0..100_000 {
            big.add_hash(hash_text(&i.to_string()));
        }
        let estimate = big.cardinality() as f64;
        assert!(
            (estimate - 100_000.0).abs() / 100_000.0 < 0.03,
            "{estimate}"
        );
        // Merging is the union, in either form.
        let mut merged = small.clone();
        merged.merge(&big);
        assert_eq!(merged.cardinality(), big.cardinality());
        let read = Sketch::read(ColumnType::Hll, &Sketch::Hll(big.clone()).bytes()).unwrap();
        assert_eq!(read.count(), big.cardinality());
    }

    #[test]
    fn sql_knows_every_function_registered_here() {
        let mut here: Vec<&str> = SCALARS
            .iter()
            .map(|s| s.0)
            .chain(AGGREGATES.iter().map(|a| a.0))
            .collect();
        let mut there = crate::sql::SKETCH_FUNCTIONS.to_vec();
        here.sort_unstable();
        there.sort_unstable();
        assert_eq!(here, there);
    }

    #[test]
    fn stored_forms_are_canonical_and_checked() {
        let mut b = RoaringTreemap::new();
        b.insert(u64::MAX);
        b.insert(3);
        let bytes = Sketch::Bitmap(b).bytes();
        let again = Sketch::read(ColumnType::Bitmap, &bytes).unwrap().bytes();
        assert_eq!(bytes, again);
        assert!(Sketch::read(ColumnType::Bitmap, b"not a bitmap").is_err());
        // Trailing bytes, a repeated high half: refused.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Sketch::read(ColumnType::Bitmap, &longer).is_err());
        let mut one = RoaringTreemap::new();
        one.insert(7);
        let single = Sketch::Bitmap(one).bytes();
        let part = single.get(8..).unwrap().to_vec();
        let mut twice = 2u64.to_le_bytes().to_vec();
        twice.extend_from_slice(&part);
        twice.extend_from_slice(&part);
        assert!(Sketch::read(ColumnType::Bitmap, &twice).is_err());
        // Runs, an empty inner bitmap: the same set gives the same bytes.
        let mut runs = RoaringTreemap::from_sorted_iter(0..10_000u64).unwrap();
        runs.optimize();
        let mut raw = Vec::new();
        runs.serialize_into(&mut raw).unwrap();
        let plain = RoaringTreemap::from_sorted_iter(0..10_000u64).unwrap();
        let mut raw_plain = Vec::new();
        plain.serialize_into(&mut raw_plain).unwrap();
        assert_ne!(raw, raw_plain);
        assert_eq!(
            Sketch::read(ColumnType::Bitmap, &raw).unwrap().bytes(),
            Sketch::read(ColumnType::Bitmap, &raw_plain)
                .unwrap()
                .bytes()
        );
        let mut empty_inner = 1u64.to_le_bytes().to_vec();
        empty_inner.extend_from_slice(&5u32.to_le_bytes());
        roaring::RoaringBitmap::new()
            .serialize_into(&mut empty_inner)
            .unwrap();
        assert_eq!(
            Sketch::read(ColumnType::Bitmap, &empty_inner)
                .unwrap()
                .bytes(),
            Sketch::empty(ColumnType::Bitmap).bytes()
        );
        assert!(Sketch::read(ColumnType::Hll, &[1, 2, 3]).is_err());
        assert!(Sketch::read(ColumnType::Hll, &[7]).is_err());
        assert_eq!(Sketch::read(ColumnType::Hll, &[0]).unwrap().count(), 0);
    }
}
