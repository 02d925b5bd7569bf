//! Server-side prepared statements (COM_STMT_PREPARE / EXECUTE / SEND_LONG_DATA / CLOSE).
//!
//! A prepared statement keeps its SQL text and where its `?` placeholders are. EXECUTE binds
//! each parameter as a SQL literal at its placeholder and runs the text like COM_QUERY, with
//! rows in the binary protocol. Binding by text keeps one path for every statement.

use std::collections::HashMap;

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::packet::Reader;
use super::results::{ColumnDef, types};
use super::span::location_offset;
use crate::error::{Error, Result};

/// One prepared statement.
pub struct Prepared {
    pub sql: String,
    /// Byte ranges of the `?` placeholders in `sql`, in order.
    placeholders: Vec<(usize, usize)>,
    /// Result columns announced at PREPARE (empty for statements without rows).
    pub columns: Vec<ColumnDef>,
    /// Parameter types from the last EXECUTE that sent them (clients send them once).
    param_types: Vec<(u8, bool)>,
    /// COM_STMT_SEND_LONG_DATA chunks per parameter, until the next EXECUTE.
    long_data: HashMap<u16, Vec<u8>>,
}

impl Prepared {
    pub fn new(sql: &str) -> Result<Self> {
        let dialect = MySqlDialect {};
        let tokens = Tokenizer::new(&dialect, sql)
            .tokenize_with_location()
            .map_err(|e| {
                Error::Parse(crate::sql::ParseError {
                    message: e.message,
                    line: e.location.line,
                    column: e.location.column,
                    unsupported: false,
                })
            })?;
        let mut placeholders = Vec::new();
        for t in tokens {
            if matches!(&t.token, Token::Placeholder(p) if p == "?") {
                let start = location_offset(sql, t.span.start);
                let end = location_offset(sql, t.span.end);
                match (start, end) {
                    (Some(s), Some(e)) if e > s => placeholders.push((s, e)),
                    _ => return Err(Error::Internal("placeholder without a position".into())),
                }
            }
        }
        Ok(Self {
            sql: sql.to_string(),
            placeholders,
            columns: Vec::new(),
            param_types: Vec::new(),
            long_data: HashMap::new(),
        })
    }

    pub fn param_count(&self) -> u16 {
        u16::try_from(self.placeholders.len()).unwrap_or(u16::MAX)
    }

    /// The statement's text with every placeholder replaced by NULL (for describing columns).
    pub fn with_nulls(&self) -> String {
        self.substitute(&vec!["NULL".to_string(); self.placeholders.len()])
    }

    pub fn append_long_data(&mut self, param: u16, data: &[u8]) {
        self.long_data
            .entry(param)
            .or_default()
            .extend_from_slice(data);
    }

    pub fn reset(&mut self) {
        self.long_data.clear();
    }

    /// Parses a COM_STMT_EXECUTE payload after the statement id and returns the SQL to run.
    pub fn bind(&mut self, r: &mut Reader<'_>) -> Result<String> {
        let bad = |what: &str| Error::BadStatementArguments(what.to_string());
        let _flags = r.u8().ok_or_else(|| bad("missing flags"))?;
        let _iterations = r.u32().ok_or_else(|| bad("missing iteration count"))?;
        let n = self.placeholders.len();
        if n == 0 {
            return Ok(self.sql.clone());
        }
        let bitmap = r
            .take(n.div_ceil(8))
            .ok_or_else(|| bad("missing NULL bitmap"))?;
        let new_bound = r.u8().ok_or_else(|| bad("missing new-params-bound flag"))?;
        if new_bound == 1 {
            let mut types = Vec::with_capacity(n);
            for _ in 0..n {
                let t = r.u8().ok_or_else(|| bad("missing parameter type"))?;
                let flag = r.u8().ok_or_else(|| bad("missing parameter flag"))?;
                types.push((t, flag & 0x80 != 0));
            }
            self.param_types = types;
        }
        if self.param_types.len() != n {
            return Err(bad("parameter types were never sent"));
        }
        let mut literals = Vec::with_capacity(n);
        for (i, &(ty, unsigned)) in self.param_types.iter().enumerate() {
            let is_null = bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
            let long = u16::try_from(i)
                .ok()
                .and_then(|k| self.long_data.remove(&k));
            let lit = if let Some(data) = long {
                bytes_literal(&data)
            } else if is_null || ty == types::NULL {
                "NULL".to_string()
            } else {
                read_param(r, ty, unsigned)
                    .ok_or_else(|| bad(&format!("parameter {} is truncated", i + 1)))?
            };
            literals.push(lit);
        }
        self.long_data.clear();
        Ok(self.substitute(&literals))
    }

    fn substitute(&self, literals: &[String]) -> String {
        let mut out =
            String::with_capacity(self.sql.len() + literals.iter().map(String::len).sum::<usize>());
        let mut pos = 0;
        for ((start, end), lit) in self.placeholders.iter().zip(literals) {
            out.push_str(self.sql.get(pos..*start).unwrap_or_default());
            out.push_str(lit);
            pos = *end;
        }
        out.push_str(self.sql.get(pos..).unwrap_or_default());
        out
    }
}

/// One binary-protocol parameter value as a SQL literal.
fn read_param(r: &mut Reader<'_>, ty: u8, unsigned: bool) -> Option<String> {
    Some(match ty {
        types::TINY => {
            let v = r.u8()?;
            if unsigned {
                v.to_string()
            } else {
                (v as i8).to_string()
            }
        }
        types::SHORT | types::YEAR => {
            let v = r.u16()?;
            if unsigned {
                v.to_string()
            } else {
                (v as i16).to_string()
            }
        }
        types::LONG | types::INT24 => {
            let v = r.u32()?;
            if unsigned {
                v.to_string()
            } else {
                (v as i32).to_string()
            }
        }
        types::LONGLONG => {
            let v = r.u64()?;
            if unsigned {
                v.to_string()
            } else {
                (v as i64).to_string()
            }
        }
        types::FLOAT => float_literal(f64::from(f32::from_le_bytes(r.take(4)?.try_into().ok()?)))?,
        types::DOUBLE => float_literal(f64::from_le_bytes(r.take(8)?.try_into().ok()?))?,
        types::DATE | types::DATETIME | types::TIMESTAMP => {
            let len = usize::from(r.u8()?);
            let mut f = Reader::new(r.take(len)?);
            let (y, mo, d) = (
                f.u16().unwrap_or(0),
                f.u8().unwrap_or(0),
                f.u8().unwrap_or(0),
            );
            let (h, mi, s) = (
                f.u8().unwrap_or(0),
                f.u8().unwrap_or(0),
                f.u8().unwrap_or(0),
            );
            let us = f.u32().unwrap_or(0);
            match (ty, len) {
                (types::DATE, _) | (_, 0..=4) => format!("'{y:04}-{mo:02}-{d:02}'"),
                (_, 11..) => format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}'"),
                _ => format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}'"),
            }
        }
        types::TIME => {
            let len = usize::from(r.u8()?);
            let mut f = Reader::new(r.take(len)?);
            let negative = f.u8().unwrap_or(0) == 1;
            let days = f.u32().unwrap_or(0);
            let (h, mi, s) = (
                f.u8().unwrap_or(0),
                f.u8().unwrap_or(0),
                f.u8().unwrap_or(0),
            );
            let hours = u64::from(days) * 24 + u64::from(h);
            format!(
                "'{}{hours:02}:{mi:02}:{s:02}'",
                if negative { "-" } else { "" }
            )
        }
        types::DECIMAL | types::NEWDECIMAL => {
            let text = std::str::from_utf8(r.lenenc_bytes()?).ok()?;
            // A decimal arrives as text; keep it a number only if it is one.
            if text
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
            {
                text.to_string()
            } else {
                bytes_literal(text.as_bytes())
            }
        }
        // Strings, blobs, JSON, enums and anything unknown: length-encoded bytes.
        _ => bytes_literal(r.lenenc_bytes()?),
    })
}

/// A DOUBLE, as MySQL types a floating-point parameter (a bare `41.0` would be an exact
/// DECIMAL here, and `? + 1` would answer `42.0` where MySQL answers `42`).
fn float_literal(v: f64) -> Option<String> {
    v.is_finite().then(|| format!("CAST({v:?} AS DOUBLE)"))
}

/// A string literal in the MySQL dialect, or a hex literal for bytes that are not UTF-8.
fn bytes_literal(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('\'');
            for c in s.chars() {
                match c {
                    '\'' => out.push_str("''"),
                    '\\' => out.push_str("\\\\"),
                    '\0' => out.push_str("\\0"),
                    c => out.push(c),
                }
            }
            out.push('\'');
            out
        }
        Err(_) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
            format!("X'{hex}'")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_strings_only() {
        let p = Prepared::new("SELECT ?, '?', CONCAT(?, 'x') -- ?").unwrap();
        assert_eq!(p.param_count(), 2);
        assert_eq!(p.with_nulls(), "SELECT NULL, '?', CONCAT(NULL, 'x') -- ?");
    }

    #[test]
    fn binds_typed_parameters() {
        let mut p = Prepared::new("SELECT ?, ?, ?").unwrap();
        let mut payload = vec![0u8, 1, 0, 0, 0];
        payload.push(0b0000_0010); // second parameter NULL
        payload.push(1);
        payload.extend_from_slice(&[types::LONGLONG, 0, types::LONG, 0, types::VAR_STRING, 0]);
        payload.extend_from_slice(&(-5i64).to_le_bytes());
        payload.extend_from_slice(&[3, b'a', b'\'', b'b']);
        let sql = p.bind(&mut Reader::new(&payload)).unwrap();
        assert_eq!(sql, "SELECT -5, NULL, 'a''b'");
        // Types are remembered when the next EXECUTE does not resend them.
        let mut payload = vec![0u8, 1, 0, 0, 0, 0b0000_0111, 0];
        payload.clear();
        payload.extend_from_slice(&[0, 1, 0, 0, 0, 0b0000_0111, 0]);
        assert_eq!(
            p.bind(&mut Reader::new(&payload)).unwrap(),
            "SELECT NULL, NULL, NULL"
        );
    }

    #[test]
    fn truncated_execute_is_an_error() {
        let mut p = Prepared::new("SELECT ?").unwrap();
        let payload = [0u8, 1, 0, 0, 0, 0, 1, types::LONGLONG, 0, 1, 2];
        assert!(p.bind(&mut Reader::new(&payload)).is_err());
    }

    #[test]
    fn non_utf8_becomes_hex() {
        assert_eq!(bytes_literal(&[0xFF, 0x00]), "X'FF00'");
        assert_eq!(bytes_literal(b"a\\b"), "'a\\\\b'");
    }
}
