//! The content checksum of a table: an order-independent sum of per-row hashes.
//!
//! `CHECKSUM TABLE` must give the same number for the same rows whatever their order, batch
//! boundaries or rowset layout, and a different one when any value differs. Each row's hash
//! chains xxh3-64 over the row's values in column order, each value in a canonical encoding
//! (below) that does not depend on Arrow's physical layout; the table's checksum is the
//! wrapping sum of its rows' hashes, so it is kept per rowset when the rowset is written and a
//! table's checksum is the sum over its visible rowsets — no scan.
//!
//! Canonical value encoding (stable: checksums are persisted in the catalog and in snapshot
//! manifests, so changing it is a format change):
//! - NULL: the single byte `0x00`; any other value starts with `0x01`;
//! - booleans: one byte 0/1; signed integers: i64 little-endian; unsigned: u64 little-endian;
//! - floats: the f64 bit pattern, little-endian; decimals: the unscaled i128 little-endian;
//! - strings and binaries: their bytes; dates: days as i64; timestamps: the stored i64;
//! - any other type: its Arrow display text.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use twox_hash::XxHash3_64;

/// The seed every row hash starts from.
const ROW_SEED: u64 = 0x6261_636b_7374_6f70; // "backstop"

/// The checksum contribution of a batch: the wrapping sum of its row hashes.
pub fn batch_checksum(batch: &RecordBatch) -> u64 {
    row_hashes(batch)
        .into_iter()
        .fold(0u64, |acc, h| acc.wrapping_add(h))
}

/// One hash per row.
pub fn row_hashes(batch: &RecordBatch) -> Vec<u64> {
    let mut hashes = vec![ROW_SEED; batch.num_rows()];
    let mut scratch = Vec::with_capacity(64);
    for column in batch.columns() {
        let nulls = column.logical_nulls();
        let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default()).ok();
        for (row, h) in hashes.iter_mut().enumerate() {
            scratch.clear();
            if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                scratch.push(0);
            } else {
                scratch.push(1);
                encode_value(column.as_ref(), row, &mut scratch, formatter.as_ref());
            }
            *h = XxHash3_64::oneshot_with_seed(*h, &scratch);
        }
    }
    hashes
}

pub(crate) fn encode_value(
    array: &dyn Array,
    row: usize,
    out: &mut Vec<u8>,
    formatter: Option<&ArrayFormatter<'_>>,
) {
    macro_rules! signed {
        ($t:ty) => {
            out.extend_from_slice(&i64::from(array.as_primitive::<$t>().value(row)).to_le_bytes())
        };
    }
    macro_rules! unsigned {
        ($t:ty) => {
            out.extend_from_slice(&u64::from(array.as_primitive::<$t>().value(row)).to_le_bytes())
        };
    }
    match array.data_type() {
        DataType::Boolean => out.push(u8::from(array.as_boolean().value(row))),
        DataType::Int8 => signed!(Int8Type),
        DataType::Int16 => signed!(Int16Type),
        DataType::Int32 => signed!(Int32Type),
        DataType::Int64 => signed!(Int64Type),
        DataType::UInt8 => unsigned!(UInt8Type),
        DataType::UInt16 => unsigned!(UInt16Type),
        DataType::UInt32 => unsigned!(UInt32Type),
        DataType::UInt64 => unsigned!(UInt64Type),
        DataType::Float32 => {
            let v = f64::from(array.as_primitive::<Float32Type>().value(row));
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        DataType::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        DataType::Decimal128(..) => {
            out.extend_from_slice(
                &array
                    .as_primitive::<Decimal128Type>()
                    .value(row)
                    .to_le_bytes(),
            );
        }
        DataType::Date32 => signed!(Date32Type),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(row),
                TimeUnit::Millisecond => {
                    array.as_primitive::<TimestampMillisecondType>().value(row)
                }
                TimeUnit::Microsecond => {
                    array.as_primitive::<TimestampMicrosecondType>().value(row)
                }
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(row),
            };
            out.extend_from_slice(&v.to_le_bytes());
        }
        DataType::Utf8 => out.extend_from_slice(array.as_string::<i32>().value(row).as_bytes()),
        DataType::LargeUtf8 => {
            out.extend_from_slice(array.as_string::<i64>().value(row).as_bytes())
        }
        DataType::Utf8View => out.extend_from_slice(array.as_string_view().value(row).as_bytes()),
        DataType::Binary => out.extend_from_slice(array.as_binary::<i32>().value(row)),
        DataType::LargeBinary => out.extend_from_slice(array.as_binary::<i64>().value(row)),
        DataType::BinaryView => out.extend_from_slice(array.as_binary_view().value(row)),
        _ => {
            if let Some(f) = formatter {
                out.extend_from_slice(f.value(row).to_string().as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        ArrayRef, Int32Array, Int64Array, StringArray, StringViewArray,
    };
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch(ids: Vec<Option<i64>>, names: Vec<Option<&str>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(names)),
        ];
        RecordBatch::try_new(schema, cols).unwrap()
    }

    #[test]
    fn order_and_batching_do_not_matter() {
        let whole = batch(
            vec![Some(1), Some(2), None],
            vec![Some("a"), None, Some("c")],
        );
        let a = batch(vec![None], vec![Some("c")]);
        let b = batch(vec![Some(2), Some(1)], vec![None, Some("a")]);
        assert_eq!(
            batch_checksum(&whole),
            batch_checksum(&a).wrapping_add(batch_checksum(&b))
        );
    }

    #[test]
    fn any_change_changes_the_sum() {
        let base = batch_checksum(&batch(vec![Some(1), Some(2)], vec![Some("a"), Some("b")]));
        for other in [
            batch(vec![Some(1), Some(3)], vec![Some("a"), Some("b")]),
            batch(vec![Some(1), Some(2)], vec![Some("a"), Some("B")]),
            batch(vec![Some(1), None], vec![Some("a"), Some("b")]),
            // values swapped between rows
            batch(vec![Some(1), Some(2)], vec![Some("b"), Some("a")]),
            // a row duplicated and another lost
            batch(vec![Some(1), Some(1)], vec![Some("a"), Some("a")]),
        ] {
            assert_ne!(base, batch_checksum(&other));
        }
    }

    #[test]
    fn physical_layout_does_not_matter() {
        let narrow = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("v", DataType::Int32, false)])),
            vec![Arc::new(Int32Array::from(vec![7])) as ArrayRef],
        )
        .unwrap();
        let wide = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(vec![7])) as ArrayRef],
        )
        .unwrap();
        assert_eq!(batch_checksum(&narrow), batch_checksum(&wide));
        let s = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("v", DataType::Utf8, false)])),
            vec![Arc::new(StringArray::from(vec!["x"])) as ArrayRef],
        )
        .unwrap();
        let view = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "v",
                DataType::Utf8View,
                false,
            )])),
            vec![Arc::new(StringViewArray::from(vec!["x"])) as ArrayRef],
        )
        .unwrap();
        assert_eq!(batch_checksum(&s), batch_checksum(&view));
    }
}
