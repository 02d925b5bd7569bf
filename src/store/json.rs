//! JSON columns: stored as their normalized text, and the StarRocks JSON functions over it.
//!
//! A JSON value is stored as a UTF-8 string in one canonical form — StarRocks' output form:
//! object keys sorted, `", "` between items and `": "` after keys (`{"a": 1, "b": [1, 2]}`) — so
//! equal documents are equal strings (CHECKSUM TABLE, GROUP BY and `=` agree) and clients get
//! what StarRocks prints. A load checks each value and normalizes it ([`normalize`]).
//!
//! Functions (registered for every query): `parse_json(s)`, `json_query(j, path)` (also
//! MySQL's `json_extract` and the `j -> path` operator), `json_exists(j, path)`,
//! `get_json_string(j, path)` (also `j ->> path`), `get_json_int`, `get_json_double`,
//! `get_json_bool`, `json_length(j[, path])`, `json_keys(j[, path])`, `json_string(j)`, and the
//! constructors `json_object(key, value, ...)` and `json_array(value, ...)` (SQL values become
//! JSON scalars: numbers, strings, booleans, NULL as `null`; a string stays a string).
//! Paths are StarRocks' JSONPath subset: `$`, `.key`, `."quoted key"`, `[n]`; the leading `$`
//! may be left out (`j -> 'a.b'`).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, LargeStringArray, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

/// `text` as a stored JSON value: parsed, then written in the canonical form.
pub fn normalize(text: &str) -> Result<String, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("'{text}' is not valid JSON ({e})"))?;
    Ok(canonical(&value))
}

/// StarRocks' text form of a JSON value.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                if let Some(v) = map.get(key) {
                    write_value(v, out);
                }
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// One step of a JSON path.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Parses StarRocks' JSONPath subset: `$`, `.key`, `."quoted"`, `[n]`, `['key']`.
fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let bad = |why: &str| format!("Invalid JSON path '{path}': {why}");
    let mut chars = path.trim().chars().peekable();
    let mut steps = Vec::new();
    if chars.peek() == Some(&'$') {
        chars.next();
    } else if chars.peek().is_some() && chars.peek() != Some(&'.') && chars.peek() != Some(&'[') {
        // `a.b`: a path without its `$.`.
        steps.push(Step::Key(bare_key(&mut chars)));
    }
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    let key =
                        up_to(&mut chars, '"').ok_or_else(|| bad("an unclosed quoted key"))?;
                    steps.push(Step::Key(key));
                } else {
                    let key = bare_key(&mut chars);
                    if key.is_empty() {
                        return Err(bad("an empty key"));
                    }
                    steps.push(Step::Key(key));
                }
            }
            '[' => {
                let inside = up_to(&mut chars, ']').ok_or_else(|| bad("an unclosed ["))?;
                let inside = inside.trim();
                if let Some(key) = inside
                    .strip_prefix(['\'', '"'])
                    .and_then(|k| k.strip_suffix(['\'', '"']))
                {
                    steps.push(Step::Key(key.to_string()));
                } else {
                    let n = inside
                        .parse()
                        .map_err(|_| bad("an index must be a whole number"))?;
                    steps.push(Step::Index(n));
                }
            }
            ' ' => {}
            other => return Err(bad(&format!("unexpected '{other}'"))),
        }
    }
    Ok(steps)
}

/// The characters before the next `end`, which is consumed; `None` when there is none.
fn up_to(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, end: char) -> Option<String> {
    let mut text = String::new();
    loop {
        match chars.next()? {
            c if c == end => return Some(text),
            c => text.push(c),
        }
    }
}

/// An unquoted key: up to the next `.` or `[`.
fn bare_key(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> String {
    let mut key = String::new();
    while let Some(&c) = chars.peek() {
        if c == '.' || c == '[' {
            break;
        }
        key.push(c);
        chars.next();
    }
    key
}

fn at<'v>(value: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    let mut here = value;
    for step in steps {
        here = match (step, here) {
            (Step::Key(k), Value::Object(map)) => map.get(k)?,
            (Step::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(here)
}

/// What a JSON function returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Parse,
    Query,
    Exists,
    GetString,
    GetInt,
    GetDouble,
    GetBool,
    Length,
    Keys,
    Text,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonFunction {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

/// The functions, by name (StarRocks' and MySQL's spellings).
const FUNCTIONS: &[(&str, Kind)] = &[
    ("parse_json", Kind::Parse),
    ("json_query", Kind::Query),
    ("json_extract", Kind::Query),
    ("json_exists", Kind::Exists),
    ("get_json_string", Kind::GetString),
    ("get_json_int", Kind::GetInt),
    ("get_json_double", Kind::GetDouble),
    ("get_json_bool", Kind::GetBool),
    ("json_length", Kind::Length),
    ("json_keys", Kind::Keys),
    ("json_string", Kind::Text),
];

/// The type that marks a function's result as JSON text, so that `json_object` and
/// `json_array` embed it as a value rather than as a string (`json_array(json_array(1))` is
/// `[[1]]`): LargeUtf8, which no column has (a JSON column is Utf8: `parse_json(col)` embeds
/// it). A type, not field metadata: rows of one VALUES list may mix `parse_json(...)` and NULL
/// or a string, which DataFusion refuses when their metadata differ, while types coerce.
const JSON_TYPE: DataType = DataType::LargeUtf8;

/// A result field of JSON text.
fn json_field(nullable: bool) -> datafusion::arrow::datatypes::FieldRef {
    Arc::new(datafusion::arrow::datatypes::Field::new(
        "json", JSON_TYPE, nullable,
    ))
}

/// `json_object(key, value, ...)` (`object` true) or `json_array(value, ...)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuild {
    object: bool,
    signature: Signature,
}

impl JsonBuild {
    fn name(&self) -> &'static str {
        if self.object {
            "json_object"
        } else {
            "json_array"
        }
    }
}

/// The SQL value in `array` at `row` as a JSON value; `json` says the column is JSON text.
fn json_of(array: &ArrayRef, row: usize, json: bool) -> datafusion::error::Result<Value> {
    use datafusion::common::ScalarValue as S;
    let v = S::try_from_array(array, row)?;
    if v.is_null() {
        return Ok(Value::Null);
    }
    Ok(match v {
        S::Utf8(Some(s)) | S::LargeUtf8(Some(s)) | S::Utf8View(Some(s)) if json => {
            serde_json::from_str(&s).unwrap_or(Value::String(s))
        }
        S::Boolean(Some(b)) => Value::Bool(b),
        S::Int8(Some(n)) => Value::from(n),
        S::Int16(Some(n)) => Value::from(n),
        S::Int32(Some(n)) => Value::from(n),
        S::Int64(Some(n)) => Value::from(n),
        S::UInt8(Some(n)) => Value::from(n),
        S::UInt16(Some(n)) => Value::from(n),
        S::UInt32(Some(n)) => Value::from(n),
        S::UInt64(Some(n)) => Value::from(n),
        // As it prints (0.1, not the f64 widening's 0.10000000149011612).
        S::Float32(Some(f)) => serde_json::from_str(&f.to_string()).unwrap_or(Value::Null),
        S::Float64(Some(f)) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        S::Decimal128(..) | S::Decimal256(..) => {
            let text = v.to_string();
            serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text))
        }
        S::Utf8(Some(s)) | S::LargeUtf8(Some(s)) | S::Utf8View(Some(s)) => Value::String(s),
        // Dates, times and the rest as they print in a result (a DATETIME as
        // '2026-12-06 10:00:00', not its raw number).
        _ => {
            let text = datafusion::arrow::util::display::array_value_to_string(array, row)?;
            Value::String(if matches!(array.data_type(), DataType::Timestamp(..)) {
                // As MySQL and StarRocks print it: a space, not ISO's `T`.
                text.replacen('T', " ", 1)
            } else {
                text
            })
        }
    })
}

impl ScalarUDFImpl for JsonBuild {
    fn name(&self) -> &str {
        JsonBuild::name(self)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(JSON_TYPE)
    }

    fn return_field_from_args(
        &self,
        _args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> datafusion::error::Result<datafusion::arrow::datatypes::FieldRef> {
        Ok(json_field(false))
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let rows = args.number_rows;
        if self.object && !args.args.len().is_multiple_of(2) {
            return datafusion::common::exec_err!(
                "json_object takes key, value pairs: an even number of arguments, not {}",
                args.args.len()
            );
        }
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let marked: Vec<bool> = (0..arrays.len())
            .map(|i| {
                args.arg_fields
                    .get(i)
                    .is_some_and(|f| f.data_type() == &JSON_TYPE)
            })
            .collect();
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let values = arrays
                .iter()
                .zip(&marked)
                .map(|(a, json)| json_of(a, row, *json))
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            let value = if self.object {
                let mut map = serde_json::Map::new();
                for pair in values.chunks(2) {
                    let (Some(key), Some(value)) = (pair.first(), pair.get(1)) else {
                        continue;
                    };
                    let key = match key {
                        Value::String(s) => s.clone(),
                        Value::Null => {
                            return datafusion::common::exec_err!(
                                "json_object: a key is NULL; every key must be a string"
                            );
                        }
                        other => canonical(other),
                    };
                    map.insert(key, value.clone());
                }
                Value::Object(map)
            } else {
                Value::Array(values)
            };
            out.push(Some(canonical(&value)));
        }
        Ok(ColumnarValue::Array(Arc::new(
            out.into_iter().collect::<LargeStringArray>(),
        )))
    }
}

/// Registers the JSON functions on a query context.
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    for object in [true, false] {
        ctx.register_udf(ScalarUDF::from(JsonBuild {
            object,
            // `json_object()` is `{}`, `json_array()` is `[]`.
            signature: Signature::one_of(
                vec![
                    datafusion::logical_expr::TypeSignature::Nullary,
                    datafusion::logical_expr::TypeSignature::VariadicAny,
                ],
                Volatility::Immutable,
            ),
        }));
    }
    for &(name, kind) in FUNCTIONS {
        ctx.register_udf(ScalarUDF::from(JsonFunction {
            name,
            kind,
            signature: Signature::variadic_any(Volatility::Immutable),
        }));
    }
}

impl ScalarUDFImpl for JsonFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> datafusion::error::Result<datafusion::arrow::datatypes::FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok(match self.kind {
            Kind::Parse | Kind::Query => json_field(true),
            _ => Arc::new(datafusion::arrow::datatypes::Field::new(
                self.name,
                self.return_type(&types)?,
                true,
            )),
        })
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(match self.kind {
            Kind::Exists | Kind::GetBool => DataType::Boolean,
            Kind::GetInt | Kind::Length => DataType::Int64,
            Kind::GetDouble => DataType::Float64,
            Kind::Parse | Kind::Query => JSON_TYPE,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let rows = args.number_rows;
        let arity = match self.kind {
            Kind::Parse | Kind::Text => 1..=1,
            Kind::Length | Kind::Keys => 1..=2,
            _ => 2..=2,
        };
        if !arity.contains(&args.args.len()) {
            return datafusion::common::exec_err!(
                "{} takes {} argument(s), not {}",
                self.name,
                if arity.start() == arity.end() {
                    arity.start().to_string()
                } else {
                    format!("{} or {}", arity.start(), arity.end())
                },
                args.args.len()
            );
        }
        let strings = |v: &ColumnarValue| -> datafusion::error::Result<StringArray> {
            let array = cast(&v.to_array(rows)?, &DataType::Utf8)?;
            Ok(array.as_string::<i32>().clone())
        };
        let Some(first) = args.args.first() else {
            return datafusion::common::exec_err!("{} takes a JSON argument", self.name);
        };
        let docs = strings(first)?;
        let paths = match args.args.get(1) {
            Some(p) => Some(strings(p)?),
            None => None,
        };
        // A path is usually one literal: parse each distinct text once.
        let mut parsed: Option<(String, Vec<Step>)> = None;
        let mut results: Vec<Option<Value>> = Vec::with_capacity(rows);
        for row in 0..rows {
            if docs.is_null(row) {
                results.push(None);
                continue;
            }
            let text = docs.value(row);
            let Ok(doc) = serde_json::from_str::<Value>(text) else {
                if self.kind == Kind::Parse {
                    results.push(None);
                    continue;
                }
                return datafusion::common::exec_err!("{}: '{text}' is not valid JSON", self.name);
            };
            let target = match &paths {
                None => Some(doc.clone()),
                Some(p) if p.is_null(row) => None,
                Some(p) => {
                    let path = p.value(row);
                    if parsed.as_ref().is_none_or(|(t, _)| t != path) {
                        let steps = parse_path(path)
                            .map_err(datafusion::error::DataFusionError::Execution)?;
                        parsed = Some((path.to_string(), steps));
                    }
                    parsed
                        .as_ref()
                        .and_then(|(_, steps)| at(&doc, steps))
                        .cloned()
                }
            };
            results.push(target);
        }
        let array: ArrayRef = match self.kind {
            Kind::Parse | Kind::Query => Arc::new(
                results
                    .iter()
                    .map(|v| v.as_ref().map(canonical))
                    .collect::<LargeStringArray>(),
            ),
            Kind::Text => Arc::new(
                results
                    .iter()
                    .map(|v| v.as_ref().map(canonical))
                    .collect::<StringArray>(),
            ),
            Kind::GetString => Arc::new(
                results
                    .iter()
                    .map(|v| match v {
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(Value::Null) | None => None,
                        Some(other) => Some(canonical(other)),
                    })
                    .collect::<StringArray>(),
            ),
            Kind::Exists => Arc::new(
                results
                    .iter()
                    .enumerate()
                    .map(|(row, v)| (!docs.is_null(row)).then(|| v.is_some()))
                    .collect::<BooleanArray>(),
            ),
            Kind::GetInt => Arc::new(each(&results, as_int).collect::<Int64Array>()),
            Kind::GetDouble => Arc::new(each(&results, as_double).collect::<Float64Array>()),
            Kind::GetBool => Arc::new(each(&results, as_bool).collect::<BooleanArray>()),
            Kind::Length => Arc::new(each(&results, length).collect::<Int64Array>()),
            Kind::Keys => Arc::new(
                results
                    .iter()
                    .map(|v| match v {
                        Some(Value::Object(o)) => {
                            let mut keys: Vec<Value> =
                                o.keys().map(|k| Value::String(k.clone())).collect();
                            keys.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                            Some(canonical(&Value::Array(keys)))
                        }
                        _ => None,
                    })
                    .collect::<StringArray>(),
            ),
        };
        Ok(ColumnarValue::Array(array))
    }
}

/// `convert` applied to each value found (NULL where none was).
fn each<'a, T: 'a>(
    results: &'a [Option<Value>],
    convert: fn(&Value) -> Option<T>,
) -> impl Iterator<Item = Option<T>> + 'a {
    results.iter().map(move |v| v.as_ref().and_then(convert))
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_double(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        _ => None,
    }
}

/// Items of an array, keys of an object, 1 for a scalar.
fn length(v: &Value) -> Option<i64> {
    Some(match v {
        Value::Array(a) => a.len() as i64,
        Value::Object(o) => o.len() as i64,
        _ => 1,
    })
}

/// Normalizes every value of a loaded JSON column; the first invalid one is the error, with
/// its row.
pub fn normalize_column(array: &ArrayRef) -> Result<ArrayRef, String> {
    let strings = array
        .as_string_opt::<i32>()
        .ok_or("a JSON column holds text")?;
    let mut out = Vec::with_capacity(strings.len());
    for (row, value) in strings.iter().enumerate() {
        out.push(match value {
            None => None,
            Some(text) => Some(normalize(text).map_err(|e| format!("{e} (row {})", row + 1))?),
        });
    }
    Ok(Arc::new(StringArray::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_form_is_starrocks_output() {
        assert_eq!(
            normalize(r#"{"b":[1,2,{"y":null,"x":true}],"a":"é"}"#).unwrap(),
            r#"{"a": "é", "b": [1, 2, {"x": true, "y": null}]}"#
        );
        assert!(normalize("{oops").is_err());
        assert_eq!(normalize(" 12.5 ").unwrap(), "12.5");
    }

    #[test]
    fn paths() {
        let doc: Value =
            serde_json::from_str(r#"{"a": {"b": [10, {"c": "x"}]}, "k y": 1}"#).unwrap();
        let get = |p: &str| at(&doc, &parse_path(p).unwrap()).cloned();
        assert_eq!(get("$.a.b[0]"), Some(Value::from(10)));
        assert_eq!(get("$.a.b[1].c"), Some(Value::from("x")));
        assert_eq!(get("a.b[1]['c']"), Some(Value::from("x")));
        assert_eq!(get("$.\"k y\""), Some(Value::from(1)));
        assert_eq!(get("$.nope"), None);
        assert_eq!(get("$"), Some(doc.clone()));
        assert!(parse_path("$.a[x]").is_err());
    }
}
