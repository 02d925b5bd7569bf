//! StarRocks' `FILES()` table function: `SELECT ... FROM FILES("path" = "file:///data/*.parquet",
//! "format" = "parquet" | "csv" [, "csv.column_separator" = ",", "csv.skip_header" = "1"])`.
//!
//! Each `FILES(...)` in a statement becomes a DataFusion listing table over the path (globs
//! allowed), registered under a generated name in the statement's own context. Files are read
//! as a stream, batch by batch, so `INSERT INTO t SELECT * FROM FILES(...)` loads files of any
//! size in bounded memory. Only `file://` paths so far.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, Ident, ObjectName, TableFactor, Value,
    VisitMut, VisitorMut,
};

use crate::error::{Error, Result};

/// Prefix of the generated table names (never a valid catalog table name: they start with `_`
/// followed by `_`).
pub const GENERATED_PREFIX: &str = "__files_";

#[derive(Default)]
struct Collect {
    found: Vec<Vec<(String, String)>>,
}

impl VisitorMut for Collect {
    type Break = Error;

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Error> {
        let TableFactor::Table { name, args, .. } = factor else {
            return ControlFlow::Continue(());
        };
        let is_files = name.0.len() == 1
            && name
                .0
                .first()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("files"));
        let Some(function_args) = args.as_ref().filter(|_| is_files) else {
            return ControlFlow::Continue(());
        };
        let mut properties = Vec::new();
        for arg in &function_args.args {
            let pair = match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Eq,
                    right,
                })) => match (left.as_ref(), right.as_ref()) {
                    (Expr::Value(k), Expr::Value(v)) => match (&k.value, &v.value) {
                        (
                            Value::DoubleQuotedString(k) | Value::SingleQuotedString(k),
                            Value::DoubleQuotedString(v) | Value::SingleQuotedString(v),
                        ) => Some((k.clone(), v.clone())),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            };
            match pair {
                Some(p) => properties.push(p),
                None => {
                    return ControlFlow::Break(Error::NotSupported(format!(
                        "FILES() takes \"key\" = \"value\" pairs; {arg} is not one"
                    )));
                }
            }
        }
        *name = ObjectName::from(vec![Ident::new(format!(
            "{GENERATED_PREFIX}{}",
            self.found.len()
        ))]);
        *args = None;
        self.found.push(properties);
        ControlFlow::Continue(())
    }
}

/// Replaces every `FILES(...)` in `stmt` by a generated table registered in `ctx`.
pub async fn register(ctx: &SessionContext, stmt: &mut sqlparser::ast::Statement) -> Result<()> {
    let mut collect = Collect::default();
    if let ControlFlow::Break(e) = stmt.visit(&mut collect) {
        return Err(e);
    }
    for (i, properties) in collect.found.into_iter().enumerate() {
        let get = |key: &str| {
            properties
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        };
        let known = ["path", "format", "csv.column_separator", "csv.skip_header"];
        if let Some((k, _)) = properties
            .iter()
            .find(|(k, _)| !known.iter().any(|n| n.eq_ignore_ascii_case(k)))
        {
            return Err(Error::NotSupported(format!(
                "FILES() property \"{k}\" is not supported; known: {}",
                known.join(", ")
            )));
        }
        let path =
            get("path").ok_or_else(|| Error::NotSupported("FILES() needs \"path\"".into()))?;
        if !path.starts_with("file://") {
            return Err(Error::NotSupported(format!(
                "FILES() reads file:// paths only so far, not {path}"
            )));
        }
        let options = match get("format").map(str::to_ascii_lowercase).as_deref() {
            Some("parquet") => {
                ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension("")
            }
            Some("csv") => {
                let separator = match get("csv.column_separator") {
                    None => b',',
                    Some(s) if s.len() == 1 => s.as_bytes().first().copied().unwrap_or(b','),
                    Some("\\t") => b'\t',
                    Some(s) => {
                        return Err(Error::NotSupported(format!(
                            "csv.column_separator must be one character, not \"{s}\""
                        )));
                    }
                };
                let header = matches!(get("csv.skip_header"), Some(n) if n != "0");
                ListingOptions::new(Arc::new(
                    CsvFormat::default()
                        .with_has_header(header)
                        .with_delimiter(separator),
                ))
                .with_file_extension("")
            }
            other => {
                return Err(Error::NotSupported(format!(
                    "FILES() \"format\" must be \"parquet\" or \"csv\", not {}",
                    other.unwrap_or("missing")
                )));
            }
        };
        // A local path (not the URL) so that DataFusion expands globs in it.
        let local = path.strip_prefix("file://").unwrap_or(path);
        let url = ListingTableUrl::parse(local)?;
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .infer_schema(&ctx.state())
            .await?;
        ctx.register_table(
            format!("{GENERATED_PREFIX}{i}").as_str(),
            Arc::new(ListingTable::try_new(config)?),
        )?;
    }
    Ok(())
}
