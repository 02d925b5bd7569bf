//! Arrow batches → MySQL result sets: column definitions, text rows (COM_QUERY) and binary rows
//! (COM_STMT_EXECUTE). Rows are encoded one batch at a time as they stream from the engine;
//! nothing collects a whole result.

use chrono::{Datelike, NaiveDateTime, Timelike};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Field, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, Schema, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::packet::{put_lenenc_bytes, put_lenenc_int};
use crate::error::{Error, Result};

/// MySQL column types we send (`enum_field_types`).
pub mod types {
    pub const DECIMAL: u8 = 0x00;
    pub const TINY: u8 = 0x01;
    pub const SHORT: u8 = 0x02;
    pub const LONG: u8 = 0x03;
    pub const FLOAT: u8 = 0x04;
    pub const DOUBLE: u8 = 0x05;
    pub const NULL: u8 = 0x06;
    pub const TIMESTAMP: u8 = 0x07;
    pub const LONGLONG: u8 = 0x08;
    pub const INT24: u8 = 0x09;
    pub const DATE: u8 = 0x0A;
    pub const TIME: u8 = 0x0B;
    pub const DATETIME: u8 = 0x0C;
    pub const YEAR: u8 = 0x0D;
    pub const NEWDECIMAL: u8 = 0xF6;
    pub const BLOB: u8 = 0xFC;
    pub const VAR_STRING: u8 = 0xFD;
}

const NOT_NULL_FLAG: u16 = 1;
const UNSIGNED_FLAG: u16 = 32;
const BINARY_FLAG: u16 = 128;
const CHARSET_UTF8MB4: u16 = 45;
const CHARSET_BINARY: u16 = 63;

/// One column definition packet's contents.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub name: String,
    pub table: String,
    pub schema: String,
    pub mysql_type: u8,
    pub flags: u16,
    pub charset: u16,
    pub length: u32,
    pub decimals: u8,
}

impl ColumnDef {
    pub fn from_field(field: &Field) -> Self {
        use types::*;
        let (mysql_type, length, decimals, numeric, unsigned) = match field.data_type() {
            DataType::Null => (NULL, 0, 0, false, false),
            DataType::Boolean => (TINY, 1, 0, true, false),
            DataType::Int8 => (TINY, 4, 0, true, false),
            DataType::UInt8 => (TINY, 3, 0, true, true),
            DataType::Int16 => (SHORT, 6, 0, true, false),
            DataType::UInt16 => (SHORT, 5, 0, true, true),
            DataType::Int32 => (LONG, 11, 0, true, false),
            DataType::UInt32 => (LONG, 10, 0, true, true),
            DataType::Int64 => (LONGLONG, 20, 0, true, false),
            DataType::UInt64 => (LONGLONG, 20, 0, true, true),
            DataType::Float16 | DataType::Float32 => (FLOAT, 12, 31, true, false),
            DataType::Float64 => (DOUBLE, 22, 31, true, false),
            DataType::Decimal32(p, s)
            | DataType::Decimal64(p, s)
            | DataType::Decimal128(p, s)
            | DataType::Decimal256(p, s) => {
                let scale = u8::try_from(*s).unwrap_or(0);
                (NEWDECIMAL, u32::from(*p) + 2, scale, true, false)
            }
            DataType::Date32 | DataType::Date64 => (DATE, 10, 0, false, false),
            DataType::Timestamp(unit, _) => {
                let frac = fraction_digits(*unit);
                (
                    DATETIME,
                    19 + u32::from(frac) + u32::from(frac > 0),
                    frac,
                    false,
                    false,
                )
            }
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => (BLOB, 65535, 0, false, false),
            _ => (VAR_STRING, 65535, 0, false, false),
        };
        let binary = numeric || matches!(mysql_type, DATE | DATETIME | BLOB | NULL);
        let mut flags = 0;
        if !field.is_nullable() {
            flags |= NOT_NULL_FLAG;
        }
        if binary {
            flags |= BINARY_FLAG;
        }
        if unsigned {
            flags |= UNSIGNED_FLAG;
        }
        ColumnDef {
            name: field.name().clone(),
            table: String::new(),
            schema: String::new(),
            mysql_type,
            flags,
            charset: if binary {
                CHARSET_BINARY
            } else {
                CHARSET_UTF8MB4
            },
            length,
            decimals,
        }
    }

    pub fn for_schema(schema: &Schema) -> Vec<ColumnDef> {
        schema
            .fields()
            .iter()
            .map(|f| Self::from_field(f))
            .collect()
    }

    /// The Protocol::ColumnDefinition41 payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(64 + self.name.len());
        put_lenenc_bytes(&mut buf, b"def");
        put_lenenc_bytes(&mut buf, self.schema.as_bytes());
        put_lenenc_bytes(&mut buf, self.table.as_bytes());
        put_lenenc_bytes(&mut buf, self.table.as_bytes());
        put_lenenc_bytes(&mut buf, self.name.as_bytes());
        put_lenenc_bytes(&mut buf, self.name.as_bytes());
        put_lenenc_int(&mut buf, 0x0C);
        buf.extend_from_slice(&self.charset.to_le_bytes());
        buf.extend_from_slice(&self.length.to_le_bytes());
        buf.push(self.mysql_type);
        buf.extend_from_slice(&self.flags.to_le_bytes());
        buf.push(self.decimals);
        buf.extend_from_slice(&[0, 0]);
        buf
    }
}

fn fraction_digits(unit: TimeUnit) -> u8 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond | TimeUnit::Nanosecond => 6,
    }
}

/// Text protocol or binary protocol rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowFormat {
    Text,
    Binary,
}

/// Text forms of DATETIME values by fraction digits: whole seconds print without a fraction
/// (`%.f` prints nothing for zero), as StarRocks prints DATETIME.
const DATETIME_FORMATS: [&str; 3] = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
];

/// Encodes every row of one batch, handing each row's payload to `emit`.
pub fn encode_batch(
    columns: &[ArrayRef],
    format: RowFormat,
    mut emit: impl FnMut(&[u8]),
) -> Result<()> {
    let rows = columns.first().map_or(0, |c| c.len());
    let formatters = columns
        .iter()
        .map(|array| {
            let ts_format = match array.data_type() {
                DataType::Timestamp(unit, _) => match fraction_digits(*unit) {
                    0 => DATETIME_FORMATS[0],
                    3 => DATETIME_FORMATS[1],
                    _ => DATETIME_FORMATS[2],
                },
                _ => DATETIME_FORMATS[0],
            };
            let options = FormatOptions::new()
                .with_timestamp_format(Some(ts_format))
                .with_timestamp_tz_format(Some(ts_format));
            ArrayFormatter::try_new(array.as_ref(), &options)
                .map_err(|e| Error::Internal(format!("cannot format column: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // `logical_nulls`, not `is_null`: a NullArray has no validity buffer yet every value is NULL.
    let nulls: Vec<_> = columns.iter().map(|c| c.logical_nulls()).collect();
    let is_null = |col: usize, row: usize| {
        nulls
            .get(col)
            .is_some_and(|n| n.as_ref().is_some_and(|n| n.is_null(row)))
    };
    let mut buf = Vec::with_capacity(256);
    for row in 0..rows {
        buf.clear();
        match format {
            RowFormat::Text => {
                for (col, (array, formatter)) in columns.iter().zip(&formatters).enumerate() {
                    if is_null(col, row) {
                        buf.push(0xFB);
                    } else if let Some(b) = array.as_boolean_opt() {
                        put_lenenc_bytes(&mut buf, if b.value(row) { b"1" } else { b"0" });
                    } else if let Some(bin) = binary_value(array.as_ref(), row) {
                        put_lenenc_bytes(&mut buf, bin);
                    } else {
                        let text = formatter.value(row).to_string();
                        put_lenenc_bytes(&mut buf, text.as_bytes());
                    }
                }
            }
            RowFormat::Binary => {
                buf.push(0x00);
                let bitmap_start = buf.len();
                buf.resize(bitmap_start + (columns.len() + 7 + 2) / 8, 0);
                for (i, (array, formatter)) in columns.iter().zip(&formatters).enumerate() {
                    if is_null(i, row) {
                        let bit = i + 2;
                        if let Some(byte) = buf.get_mut(bitmap_start + bit / 8) {
                            *byte |= 1 << (bit % 8);
                        }
                        continue;
                    }
                    encode_binary_value(&mut buf, array.as_ref(), row, || {
                        formatter.value(row).to_string()
                    });
                }
            }
        }
        emit(&buf);
    }
    Ok(())
}

fn binary_value(array: &dyn Array, row: usize) -> Option<&[u8]> {
    match array.data_type() {
        DataType::Binary => Some(array.as_binary::<i32>().value(row)),
        DataType::LargeBinary => Some(array.as_binary::<i64>().value(row)),
        DataType::BinaryView => Some(array.as_binary_view().value(row)),
        DataType::FixedSizeBinary(_) => Some(array.as_fixed_size_binary().value(row)),
        _ => None,
    }
}

/// One non-null value in the binary protocol's encoding for the column's declared type.
fn encode_binary_value(
    buf: &mut Vec<u8>,
    array: &dyn Array,
    row: usize,
    text: impl FnOnce() -> String,
) {
    match array.data_type() {
        DataType::Boolean => buf.push(u8::from(array.as_boolean().value(row))),
        DataType::Int8 => {
            buf.extend_from_slice(&array.as_primitive::<Int8Type>().value(row).to_le_bytes())
        }
        DataType::UInt8 => buf.push(array.as_primitive::<UInt8Type>().value(row)),
        DataType::Int16 => {
            buf.extend_from_slice(&array.as_primitive::<Int16Type>().value(row).to_le_bytes())
        }
        DataType::UInt16 => {
            buf.extend_from_slice(&array.as_primitive::<UInt16Type>().value(row).to_le_bytes())
        }
        DataType::Int32 => {
            buf.extend_from_slice(&array.as_primitive::<Int32Type>().value(row).to_le_bytes())
        }
        DataType::UInt32 => {
            buf.extend_from_slice(&array.as_primitive::<UInt32Type>().value(row).to_le_bytes())
        }
        DataType::Int64 => {
            buf.extend_from_slice(&array.as_primitive::<Int64Type>().value(row).to_le_bytes())
        }
        DataType::UInt64 => {
            buf.extend_from_slice(&array.as_primitive::<UInt64Type>().value(row).to_le_bytes())
        }
        DataType::Float32 => {
            buf.extend_from_slice(&array.as_primitive::<Float32Type>().value(row).to_le_bytes())
        }
        DataType::Float16 => {
            let v = array
                .as_primitive::<datafusion::arrow::datatypes::Float16Type>()
                .value(row);
            buf.extend_from_slice(&v.to_f32().to_le_bytes());
        }
        DataType::Float64 => {
            buf.extend_from_slice(&array.as_primitive::<Float64Type>().value(row).to_le_bytes())
        }
        DataType::Date32 => put_date_time(
            buf,
            array.as_primitive::<Date32Type>().value_as_datetime(row),
            false,
        ),
        DataType::Date64 => put_date_time(
            buf,
            array.as_primitive::<Date64Type>().value_as_datetime(row),
            false,
        ),
        DataType::Timestamp(unit, _) => {
            let dt = match unit {
                TimeUnit::Second => array
                    .as_primitive::<TimestampSecondType>()
                    .value_as_datetime(row),
                TimeUnit::Millisecond => array
                    .as_primitive::<TimestampMillisecondType>()
                    .value_as_datetime(row),
                TimeUnit::Microsecond => array
                    .as_primitive::<TimestampMicrosecondType>()
                    .value_as_datetime(row),
                TimeUnit::Nanosecond => array
                    .as_primitive::<TimestampNanosecondType>()
                    .value_as_datetime(row),
            };
            put_date_time(buf, dt, true);
        }
        _ => match binary_value(array, row) {
            Some(bytes) => put_lenenc_bytes(buf, bytes),
            None => put_lenenc_bytes(buf, text().as_bytes()),
        },
    }
}

/// MYSQL_TYPE_DATE / DATETIME in the binary protocol: a length byte, then the fields present.
fn put_date_time(buf: &mut Vec<u8>, dt: Option<NaiveDateTime>, with_time: bool) {
    let Some(dt) = dt else {
        buf.push(0);
        return;
    };
    let year = u16::try_from(dt.year()).unwrap_or(0);
    let micros = dt.nanosecond() / 1000;
    let len: u8 = if !with_time {
        4
    } else if micros > 0 {
        11
    } else {
        7
    };
    buf.push(len);
    buf.extend_from_slice(&year.to_le_bytes());
    buf.push(dt.month() as u8);
    buf.push(dt.day() as u8);
    if len >= 7 {
        buf.push(dt.hour() as u8);
        buf.push(dt.minute() as u8);
        buf.push(dt.second() as u8);
    }
    if len == 11 {
        buf.extend_from_slice(&micros.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};

    use super::*;

    fn rows(columns: &[ArrayRef], format: RowFormat) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        encode_batch(columns, format, |r| out.push(r.to_vec())).unwrap();
        out
    }

    #[test]
    fn text_rows_use_lenenc_and_null_marker() {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(7), None])),
            Arc::new(StringArray::from(vec![Some("ab"), Some("")])),
        ];
        let r = rows(&cols, RowFormat::Text);
        assert_eq!(r[0], vec![1, b'7', 2, b'a', b'b']);
        assert_eq!(r[1], vec![0xFB, 0]);
    }

    #[test]
    fn binary_rows_set_null_bits_at_offset_two() {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![None])),
            Arc::new(StringArray::from(vec![Some("x")])),
        ];
        let r = rows(&cols, RowFormat::Binary);
        assert_eq!(r[0], vec![0x00, 0b0000_0100, 1, b'x']);
    }

    #[test]
    fn datetimes_print_like_mysql() {
        let cols: Vec<ArrayRef> = vec![Arc::new(TimestampMicrosecondArray::from(vec![Some(
            1_500_000,
        )]))];
        let r = rows(&cols, RowFormat::Text);
        assert_eq!(&r[0][1..], b"1970-01-01 00:00:01.500");
        let whole: Vec<ArrayRef> = vec![Arc::new(TimestampMicrosecondArray::from(vec![Some(
            2_000_000,
        )]))];
        assert_eq!(
            &rows(&whole, RowFormat::Text)[0][1..],
            b"1970-01-01 00:00:02"
        );
        let r = rows(&cols, RowFormat::Binary);
        assert_eq!(
            r[0],
            vec![0, 0, 11, 0xB2, 0x07, 1, 1, 0, 0, 1, 0x20, 0xA1, 0x07, 0]
        );
    }
}
