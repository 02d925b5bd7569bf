//! MySQL's functions, casts and `FROM DUAL` in queries, for every statement that plans a query
//! (SELECT, EXPLAIN, INSERT ... SELECT, and COM_STMT_PREPARE's describe of them): [`rewrite`]
//! turns the sqlparser AST into what DataFusion plans, and [`register`] adds the two functions
//! DataFusion lacks. `docs/functions.md` lists what each becomes.
//!
//! - `IF(c, a, b)` becomes `CASE WHEN c THEN a ELSE b END` (lazy, as MySQL: only the chosen
//!   branch is evaluated, and the result type is the common type of `a` and `b`);
//! - `UCASE`/`LCASE` become `upper`/`lower`, `LOCATE` DataFusion's `strpos`; `IFNULL`/`NULLIF` are DataFusion's own, checked
//!   for their argument count here so that a wrong count reads as MySQL's 1582;
//! - session functions (`DATABASE()`, `SCHEMA()`, `USER()`, `CURRENT_USER()`,
//!   `CONNECTION_ID()`, `VERSION()`, `LAST_INSERT_ID()`, `FOUND_ROWS()`, `ROW_COUNT()`) become
//!   literals of this session;
//! - `CAST`/`CONVERT(x, type)` to MySQL's cast types: `SIGNED`/`UNSIGNED` call
//!   `mysql_cast_signed`/`mysql_cast_unsigned` (MySQL's rounding, clamping and wrapping, which a
//!   plain Arrow cast does not do), `CHAR(n)` truncates, `DECIMAL` is `DECIMAL(10,0)`,
//!   `DATETIME` is a microsecond timestamp, `BINARY` is bytes; `CONVERT(x USING cs)` is a
//!   string (bytes for `binary`);
//! - `SLEEP(n)` waits `n` seconds once per statement, before the query is planned, and returns 0,
//!   or 1 when the statement was interrupted (`Session::interrupt`: the client went away or
//!   the daemon is shutting down);
//! - a `FROM DUAL` (the whole FROM clause) is dropped: `SELECT 1 FROM DUAL WHERE 1=0`.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType as ArrowType, Decimal128Type, Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use sqlparser::ast::{
    CaseWhen, CastKind, CharacterLength, DataType, ExactNumberInfo, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName, ObjectNamePart,
    Query, SetExpr, Statement, TableFactor, TableWithJoins, TimezoneInfo, Value, VisitMut,
    VisitorMut,
};

use super::Session;
use crate::engine::SERVER_VERSION;
use crate::error::{Error, Result};

/// What `SLEEP(n)` does while the statement is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sleeps {
    /// The statement runs: wait, unless interrupted.
    Wait,
    /// The statement is only described (COM_STMT_PREPARE): stand for the result, do not wait.
    Skip,
}

/// The name `CAST(x AS SIGNED)` calls.
const CAST_SIGNED: &str = "mysql_cast_signed";
/// The name `CAST(x AS UNSIGNED)` calls.
const CAST_UNSIGNED: &str = "mysql_cast_unsigned";

/// Rewrites MySQL's functions, casts and `FROM DUAL` in `stmt` into what DataFusion plans (see
/// the module docs); waits for its `SLEEP`s first when `sleeps` says so.
pub async fn rewrite(stmt: &mut Statement, session: &Session, sleeps: Sleeps) -> Result<()> {
    let _ = stmt.visit(&mut DropDual);
    let slept = match sleeps {
        Sleeps::Skip => 0,
        Sleeps::Wait => {
            let wait = sleep_time(stmt)?;
            if wait.is_zero() {
                0
            } else {
                tokio::select! {
                    () = tokio::time::sleep(wait) => 0,
                    () = session.interrupt.cancelled() => 1,
                }
            }
        }
    };
    let flow = sqlparser::ast::visit_expressions_mut(stmt, |expr| {
        match rewrite_expr(expr, session, slept) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// Adds the functions [`rewrite`] calls that DataFusion does not have.
pub fn register(ctx: &datafusion::prelude::SessionContext) {
    ctx.register_udf(ScalarUDF::from(IntegerCast::new(false)));
    ctx.register_udf(ScalarUDF::from(IntegerCast::new(true)));
    crate::store::json::register(ctx);
    crate::store::sketch::register(ctx);
}

/// A literal for a value (the session functions' results, `@@variables` in `server`).
pub fn literal(v: &ScalarValue) -> Expr {
    let value = match v {
        v if v.is_null() => Value::Null,
        ScalarValue::Int64(Some(i)) => Value::Number(i.to_string(), false),
        ScalarValue::Int32(Some(i)) => Value::Number(i.to_string(), false),
        ScalarValue::UInt64(Some(i)) => Value::Number(i.to_string(), false),
        ScalarValue::Float64(Some(f)) => Value::Number(f.to_string(), false),
        ScalarValue::Boolean(Some(b)) => Value::Boolean(*b),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Value::SingleQuotedString(s.clone()),
        other => Value::SingleQuotedString(other.to_string()),
    };
    Expr::Value(value.with_empty_span())
}

/// Drops `FROM DUAL` (MySQL's table of one row with no columns) from every SELECT.
struct DropDual;

impl VisitorMut for DropDual {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        drop_dual(query.body.as_mut());
        ControlFlow::Continue(())
    }
}

fn drop_dual(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            if let [only] = select.from.as_slice()
                && is_dual(only)
            {
                select.from.clear();
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            drop_dual(left);
            drop_dual(right);
        }
        _ => {}
    }
}

fn is_dual(table: &TableWithJoins) -> bool {
    let TableFactor::Table {
        name, alias: None, ..
    } = &table.relation
    else {
        return false;
    };
    table.joins.is_empty()
        && matches!(name.0.as_slice(), [ObjectNamePart::Identifier(i)]
            if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("dual"))
}

/// The function's name when it is one unquoted word, lower-cased.
fn simple_name(f: &Function) -> Option<String> {
    match f.name.0.as_slice() {
        [ObjectNamePart::Identifier(i)] if i.quote_style.is_none() => {
            Some(i.value.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// The call's arguments when all are plain expressions; `None` for `*`, named arguments or a
/// subquery.
fn plain_args(f: &Function) -> Option<Vec<&Expr>> {
    match &f.args {
        FunctionArguments::None => Some(Vec::new()),
        FunctionArguments::Subquery(_) => None,
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
    }
}

/// How long the statement's `SLEEP`s wait, together.
fn sleep_time(stmt: &Statement) -> Result<Duration> {
    let mut total = Duration::ZERO;
    let flow = sqlparser::ast::visit_expressions(stmt, |expr| {
        let Expr::Function(f) = expr else {
            return ControlFlow::Continue(());
        };
        if simple_name(f).as_deref() != Some("sleep") {
            return ControlFlow::Continue(());
        }
        let seconds = match plain_args(f).as_deref() {
            Some([arg]) => sleep_seconds(arg),
            _ => Err(parameter_count("sleep")),
        };
        match seconds.and_then(|s| {
            Duration::try_from_secs_f64(s).map_err(|_| Error::IncorrectArguments("sleep"))
        }) {
            Ok(d) => {
                total = total.saturating_add(d);
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(e),
        }
    });
    match flow {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(total),
    }
}

/// `SLEEP`'s argument: a number (or a string of one), as literal text in the statement, or cast
/// (a prepared statement's DOUBLE parameter is bound as `CAST(0.2 AS DOUBLE)`).
fn sleep_seconds(arg: &Expr) -> Result<f64> {
    let text = match arg {
        Expr::Nested(e) => return sleep_seconds(e),
        Expr::Cast { expr, .. } if matches!(expr.as_ref(), Expr::Value(_)) => {
            return sleep_seconds(expr);
        }
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.clone(),
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.trim().to_string(),
            _ => return Err(Error::IncorrectArguments("sleep")),
        },
        Expr::UnaryOp { .. } => return Err(Error::IncorrectArguments("sleep")),
        other => {
            return Err(Error::NotSupported(format!(
                "SLEEP({other}): backstop's SLEEP takes a constant number of seconds, such as SLEEP(0.5)"
            )));
        }
    };
    match text.parse::<f64>() {
        Ok(s) if s >= 0.0 && s.is_finite() => Ok(s),
        _ => Err(Error::IncorrectArguments("sleep")),
    }
}

fn parameter_count(name: &str) -> Error {
    Error::ParameterCount(name.to_ascii_uppercase())
}

fn rewrite_expr(expr: &mut Expr, session: &Session, slept: i64) -> Result<()> {
    let replacement = match expr {
        Expr::Function(f) => rewrite_call(f, session, slept)?,
        // `CURRENT_USER` without parentheses (a reserved word in MySQL, never a column).
        Expr::Identifier(i)
            if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("current_user") =>
        {
            Some(literal(&current_user(session)))
        }
        Expr::Convert {
            is_try: false,
            expr: inner,
            data_type,
            charset,
            styles,
            ..
        } if styles.is_empty() => {
            let inner = take(inner);
            match (data_type.take(), charset.take()) {
                (Some(ty), None) => Some(mysql_cast(inner, ty)),
                (None, Some(cs)) => {
                    let to = if cs.to_string().eq_ignore_ascii_case("binary") {
                        DataType::Bytea
                    } else {
                        DataType::Varchar(None)
                    };
                    Some(cast(inner, to))
                }
                (ty, cs) => {
                    return Err(Error::NotSupported(format!(
                        "CONVERT with both a type ({}) and a character set ({}): use CONVERT(x, type) or CONVERT(x USING charset)",
                        ty.map(|t| t.to_string()).unwrap_or_default(),
                        cs.map(|c| c.to_string()).unwrap_or_default()
                    )));
                }
            }
        }
        // `j -> path` is json_query (StarRocks, MySQL's JSON_EXTRACT); `j ->> path` the
        // unquoted value (get_json_string).
        Expr::BinaryOp {
            left,
            op:
                op @ (sqlparser::ast::BinaryOperator::Arrow | sqlparser::ast::BinaryOperator::LongArrow),
            right,
        } => {
            let name = if *op == sqlparser::ast::BinaryOperator::Arrow {
                "json_query"
            } else {
                "get_json_string"
            };
            Some(call(name, vec![take(left), take(right)]))
        }
        Expr::Cast {
            kind: CastKind::Cast,
            expr: inner,
            data_type,
            array: false,
            format: None,
        } if needs_mysql_cast(data_type) => {
            let ty = std::mem::replace(data_type, DataType::Varchar(None));
            Some(mysql_cast(take(inner), ty))
        }
        _ => None,
    };
    if let Some(new) = replacement {
        *expr = new;
    }
    Ok(())
}

fn take(e: &mut Expr) -> Expr {
    std::mem::replace(e, Expr::Value(Value::Null.with_empty_span()))
}

fn cast(expr: Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(expr),
        data_type,
        array: false,
        format: None,
    }
}

pub(super) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// Cast types MySQL means differently from DataFusion (or that DataFusion does not know).
fn needs_mysql_cast(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Signed
            | DataType::SignedInteger
            | DataType::Unsigned
            | DataType::UnsignedInteger
            | DataType::Char(_)
            | DataType::Character(_)
            | DataType::Decimal(ExactNumberInfo::None | ExactNumberInfo::Precision(_))
            | DataType::Datetime(_)
            | DataType::Binary(_)
    )
}

/// `CAST(x AS ty)` as MySQL means it.
fn mysql_cast(expr: Expr, ty: DataType) -> Expr {
    match ty {
        DataType::Signed | DataType::SignedInteger => call(CAST_SIGNED, vec![expr]),
        DataType::Unsigned | DataType::UnsignedInteger => call(CAST_UNSIGNED, vec![expr]),
        DataType::Char(Some(CharacterLength::IntegerLength { length, .. }))
        | DataType::Character(Some(CharacterLength::IntegerLength { length, .. })) => call(
            "left",
            vec![
                cast(expr, DataType::Varchar(None)),
                Expr::Value(Value::Number(length.to_string(), false).with_empty_span()),
            ],
        ),
        DataType::Char(_) | DataType::Character(_) => cast(expr, DataType::Varchar(None)),
        // MySQL's DECIMAL without a precision is DECIMAL(10,0), and DECIMAL(p) is DECIMAL(p,0).
        DataType::Decimal(ExactNumberInfo::None) => cast(
            expr,
            DataType::Decimal(ExactNumberInfo::PrecisionAndScale(10, 0)),
        ),
        DataType::Decimal(ExactNumberInfo::Precision(p)) => cast(
            expr,
            DataType::Decimal(ExactNumberInfo::PrecisionAndScale(p, 0)),
        ),
        // DATETIME columns are microsecond timestamps (store::table::arrow_type).
        DataType::Datetime(_) => cast(expr, DataType::Timestamp(Some(6), TimezoneInfo::None)),
        DataType::Binary(_) => cast(expr, DataType::Bytea),
        other => cast(expr, other),
    }
}

/// A call of a MySQL function DataFusion lacks or means differently.
fn rewrite_call(f: &mut Function, session: &Session, slept: i64) -> Result<Option<Expr>> {
    let Some(name) = simple_name(f) else {
        return Ok(None);
    };
    let arity: &[usize] = match name.as_str() {
        "if" => &[3],
        "ifnull" | "nullif" => &[2],
        "ucase" | "lcase" | "sleep" => &[1],
        "locate" => &[2, 3],
        "last_insert_id" => &[0, 1],
        "database" | "schema" | "user" | "current_user" | "session_user" | "system_user"
        | "connection_id" | "version" | "found_rows" | "row_count" => &[0],
        _ => return Ok(None),
    };
    let args = match plain_args(f) {
        Some(args) if arity.contains(&args.len()) => args,
        _ => return Err(parameter_count(&name)),
    };
    let user = |host: &str| ScalarValue::Utf8(Some(format!("{}@{host}", session.user)));
    let value = match (name.as_str(), args.as_slice()) {
        ("if", [c, a, b]) => {
            return Ok(Some(Expr::Case {
                case_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                end_token: sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
                operand: None,
                conditions: vec![CaseWhen {
                    condition: (*c).clone(),
                    result: (*a).clone(),
                }],
                else_result: Some(Box::new((*b).clone())),
            }));
        }
        ("ucase" | "lcase", [x]) => {
            let to = if name == "ucase" { "upper" } else { "lower" };
            return Ok(Some(call(to, vec![(*x).clone()])));
        }
        // LOCATE(sub, s) is strpos(s, sub); from position `pos`, the match at or after it
        // (still counted from the start of `s`), 0 when none or when `pos` < 1.
        ("locate", [sub, s]) => {
            return Ok(Some(call("strpos", vec![(*s).clone(), (*sub).clone()])));
        }
        ("locate", [sub, s, pos]) => {
            let from = format!("strpos(substr({s}, {pos}), {sub})");
            let sql = format!(
                "CASE WHEN ({pos}) < 1 THEN 0 WHEN {from} = 0 THEN 0 ELSE {from} + ({pos}) - 1 END"
            );
            let expr = sqlparser::parser::Parser::new(&sqlparser::dialect::MySqlDialect {})
                .try_with_sql(&sql)
                .and_then(|mut p| p.parse_expr())
                .map_err(|e| Error::Internal(format!("rewriting LOCATE: {e}")))?;
            return Ok(Some(expr));
        }
        ("last_insert_id", [x]) => return Ok(Some((*x).clone())),
        ("ifnull" | "nullif", _) => return Ok(None),
        ("sleep", _) => ScalarValue::Int64(Some(slept)),
        ("database" | "schema", _) => ScalarValue::Utf8(session.database.clone()),
        ("user" | "session_user" | "system_user", _) => user(&session.host),
        ("current_user", _) => current_user(session),
        ("connection_id", _) => ScalarValue::Int64(Some(i64::from(session.connection_id))),
        ("version", _) => ScalarValue::Utf8(Some(SERVER_VERSION.into())),
        // No table has an AUTO_INCREMENT column.
        ("last_insert_id", _) => ScalarValue::Int64(Some(0)),
        ("found_rows", _) => ScalarValue::UInt64(Some(session.found_rows)),
        ("row_count", _) => ScalarValue::Int64(Some(session.row_count)),
        _ => return Ok(None),
    };
    Ok(Some(literal(&value)))
}

/// The account the server matched (`root@%`), where `USER()` has the client's host.
fn current_user(session: &Session) -> ScalarValue {
    ScalarValue::Utf8(Some(format!("{}@{}", session.user, session.account_host)))
}

/// `CAST(x AS SIGNED)` / `CAST(x AS UNSIGNED)` with MySQL's arithmetic: numbers round half away
/// from zero, strings take their leading integer (`'12abc'` is 12, `'abc'` 0), values out of
/// range clamp, and a negative value cast to UNSIGNED wraps modulo 2^64 (`-1` is
/// 18446744073709551615).
#[derive(Debug, PartialEq, Eq, Hash)]
struct IntegerCast {
    unsigned: bool,
    signature: Signature,
}

impl IntegerCast {
    fn new(unsigned: bool) -> Self {
        Self {
            unsigned,
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for IntegerCast {
    fn name(&self) -> &str {
        if self.unsigned {
            CAST_UNSIGNED
        } else {
            CAST_SIGNED
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[ArrowType]) -> datafusion::error::Result<ArrowType> {
        Ok(if self.unsigned {
            ArrowType::UInt64
        } else {
            ArrowType::Int64
        })
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return datafusion::common::exec_err!("{} takes one argument", self.name());
        };
        let values = integer_values(&arg.to_array(args.number_rows)?, self.unsigned)?;
        let array: ArrayRef = if self.unsigned {
            Arc::new(
                values
                    .into_iter()
                    .map(|v| v.map(wrap_unsigned))
                    .collect::<UInt64Array>(),
            )
        } else {
            Arc::new(
                values
                    .into_iter()
                    .map(|v| v.map(clamp_signed))
                    .collect::<Int64Array>(),
            )
        };
        Ok(ColumnarValue::Array(array))
    }
}

fn clamp_signed(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

fn wrap_unsigned(v: i128) -> u64 {
    if v > i128::from(u64::MAX) {
        u64::MAX
    } else if v < i128::from(i64::MIN) {
        // MySQL clamps to the most negative BIGINT first, then wraps.
        i64::MIN as u64
    } else {
        // Two's complement wrap of a value in [i64::MIN, u64::MAX].
        v as u64
    }
}

/// Each row as a whole number, before the target's range applies.
fn integer_values(
    array: &ArrayRef,
    unsigned: bool,
) -> datafusion::error::Result<Vec<Option<i128>>> {
    use datafusion::arrow::compute::cast;
    let target = if unsigned { "UNSIGNED" } else { "SIGNED" };
    Ok(match array.data_type() {
        ArrowType::Null => vec![None; array.len()],
        ArrowType::Float16 | ArrowType::Float32 | ArrowType::Float64 => {
            let floats = cast(array, &ArrowType::Float64)?;
            floats
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(|f| f.round() as i128))
                .collect()
        }
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => {
            let strings = cast(array, &ArrowType::Utf8)?;
            strings
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(leading_integer))
                .collect()
        }
        ArrowType::Boolean => {
            let ints = cast(array, &ArrowType::Int64)?;
            ints.as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map(i128::from))
                .collect()
        }
        t if t.is_integer()
            || matches!(t, ArrowType::Decimal128(..) | ArrowType::Decimal256(..)) =>
        {
            // Exact for every integer; decimals round half away from zero.
            let whole = cast(array, &ArrowType::Decimal128(38, 0))?;
            whole.as_primitive::<Decimal128Type>().iter().collect()
        }
        other => {
            return datafusion::common::not_impl_err!("CAST of a {other} value AS {target}");
        }
    })
}

/// MySQL's integer value of a string: its leading integer after spaces, 0 when there is none.
fn leading_integer(s: &str) -> i128 {
    let s = s.trim_start();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut value: i128 = 0;
    for c in digits.chars().take_while(char::is_ascii_digit) {
        // Saturates far beyond u64::MAX, where clamping takes over.
        value = value
            .saturating_mul(10)
            .saturating_add(i128::from(c.to_digit(10).unwrap_or(0)));
    }
    if negative { -value } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let mut s = Session::new(7, "app".into(), "10.0.0.9".into());
        s.database = Some("shop".into());
        s
    }

    /// The statement after [`rewrite`] in `session`, printed, or the error as `code message`.
    fn run(sql: &str, session: &Session, sleeps: Sleeps) -> Result<String, String> {
        let crate::sql::Statement::Std(mut std) = crate::sql::parse_one(sql).unwrap() else {
            panic!("{sql} is not a standard statement");
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        match rt.block_on(rewrite(&mut std, session, sleeps)) {
            Ok(()) => Ok(std.to_string()),
            Err(e) => {
                let m = e.to_mysql();
                Err(format!("{} {}", m.code, m.message))
            }
        }
    }

    fn rewritten(sql: &str) -> String {
        run(sql, &session(), Sleeps::Wait).unwrap()
    }

    fn rewrite_error(sql: &str) -> String {
        run(sql, &session(), Sleeps::Wait).unwrap_err()
    }

    #[test]
    fn functions_become_what_datafusion_plans() {
        for (sql, want) in [
            (
                "SELECT IF(a > 0, 'x', NULL) FROM t",
                "SELECT CASE WHEN a > 0 THEN 'x' ELSE NULL END FROM t",
            ),
            ("SELECT UCASE(LCASE('A'))", "SELECT upper(lower('A'))"),
            (
                "SELECT IFNULL(a, 1), NULLIF(a, 2)",
                "SELECT IFNULL(a, 1), NULLIF(a, 2)",
            ),
            (
                "SELECT DATABASE(), SCHEMA(), USER(), CURRENT_USER, CURRENT_USER(), CONNECTION_ID()",
                "SELECT 'shop', 'shop', 'app@10.0.0.9', 'app@%', 'app@%', 7",
            ),
            (
                "SELECT LAST_INSERT_ID(), LAST_INSERT_ID(5), FOUND_ROWS(), ROW_COUNT()",
                "SELECT 0, 5, 0, -1",
            ),
            ("SELECT SLEEP(0)", "SELECT 0"),
            ("SELECT SLEEP(CAST(0.0 AS DOUBLE))", "SELECT 0"),
            (
                "INSERT INTO t SELECT IF(1, 2, 3)",
                "INSERT INTO t SELECT CASE WHEN 1 THEN 2 ELSE 3 END",
            ),
        ] {
            assert_eq!(rewritten(sql), want, "{sql}");
        }
    }

    #[test]
    fn casts_take_mysql_meanings() {
        for (sql, want) in [
            ("SELECT CAST(a AS SIGNED)", "SELECT mysql_cast_signed(a)"),
            (
                "SELECT CAST(a AS SIGNED INTEGER)",
                "SELECT mysql_cast_signed(a)",
            ),
            (
                "SELECT CONVERT(a, UNSIGNED INTEGER)",
                "SELECT mysql_cast_unsigned(a)",
            ),
            (
                "SELECT CAST(a AS UNSIGNED)",
                "SELECT mysql_cast_unsigned(a)",
            ),
            (
                "SELECT CAST(a AS CHAR(2))",
                "SELECT left(CAST(a AS VARCHAR), 2)",
            ),
            ("SELECT CAST(a AS CHAR)", "SELECT CAST(a AS VARCHAR)"),
            (
                "SELECT CAST(a AS DECIMAL)",
                "SELECT CAST(a AS DECIMAL(10,0))",
            ),
            (
                "SELECT CAST(a AS DECIMAL(5))",
                "SELECT CAST(a AS DECIMAL(5,0))",
            ),
            (
                "SELECT CAST(a AS DECIMAL(5,2))",
                "SELECT CAST(a AS DECIMAL(5,2))",
            ),
            (
                "SELECT CAST(a AS DATETIME)",
                "SELECT CAST(a AS TIMESTAMP(6))",
            ),
            ("SELECT CAST(a AS DATE)", "SELECT CAST(a AS DATE)"),
            ("SELECT CAST(a AS BINARY)", "SELECT CAST(a AS BYTEA)"),
            ("SELECT CONVERT(a, DATE)", "SELECT CAST(a AS DATE)"),
            (
                "SELECT CONVERT(a USING utf8mb4)",
                "SELECT CAST(a AS VARCHAR)",
            ),
            ("SELECT CONVERT(a USING binary)", "SELECT CAST(a AS BYTEA)"),
        ] {
            assert_eq!(rewritten(sql), want, "{sql}");
        }
    }

    #[test]
    fn from_dual_is_dropped_and_only_dual() {
        for (sql, want) in [
            ("SELECT 1 FROM DUAL WHERE 1 = 0", "SELECT 1 WHERE 1 = 0"),
            ("SELECT 1 FROM dual", "SELECT 1"),
            (
                "SELECT (SELECT 2 FROM DUAL) UNION SELECT 3 FROM Dual",
                "SELECT (SELECT 2) UNION SELECT 3",
            ),
            ("SELECT 1 FROM `dual`", "SELECT 1 FROM `dual`"),
            ("SELECT 1 FROM dual AS d", "SELECT 1 FROM dual AS d"),
            ("SELECT 1 FROM db.dual", "SELECT 1 FROM db.dual"),
        ] {
            assert_eq!(rewritten(sql), want, "{sql}");
        }
    }

    #[test]
    fn wrong_arguments_are_mysql_errors() {
        for (sql, want) in [
            (
                "SELECT IF(1, 2)",
                "1582 Incorrect parameter count in the call to native function 'IF'",
            ),
            (
                "SELECT UCASE()",
                "1582 Incorrect parameter count in the call to native function 'UCASE'",
            ),
            (
                "SELECT DATABASE(1)",
                "1582 Incorrect parameter count in the call to native function 'DATABASE'",
            ),
            (
                "SELECT SLEEP(1, 2)",
                "1582 Incorrect parameter count in the call to native function 'SLEEP'",
            ),
            ("SELECT SLEEP(-1)", "1210 Incorrect arguments to sleep"),
            ("SELECT SLEEP(NULL)", "1210 Incorrect arguments to sleep"),
            ("SELECT SLEEP('x')", "1210 Incorrect arguments to sleep"),
            ("SELECT SLEEP(1e400)", "1210 Incorrect arguments to sleep"),
        ] {
            assert_eq!(rewrite_error(sql), want, "{sql}");
        }
        assert!(rewrite_error("SELECT SLEEP(a) FROM t").starts_with("1235 SLEEP(a): "));
    }

    #[test]
    fn a_described_sleep_does_not_wait_or_check() {
        assert_eq!(
            run("SELECT SLEEP(NULL)", &session(), Sleeps::Skip).unwrap(),
            "SELECT 0"
        );
    }

    #[test]
    fn an_interrupted_sleep_returns_one_at_once() {
        let session = session();
        session.interrupt.cancel();
        let started = std::time::Instant::now();
        assert_eq!(
            run("SELECT SLEEP(600)", &session, Sleeps::Wait).unwrap(),
            "SELECT 1"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn integer_casts_round_clamp_and_wrap() {
        assert_eq!(leading_integer("  12abc"), 12);
        assert_eq!(leading_integer("-7.9"), -7);
        assert_eq!(leading_integer("abc"), 0);
        assert_eq!(leading_integer("+3"), 3);
        assert_eq!(clamp_signed(i128::from(u64::MAX)), i64::MAX);
        assert_eq!(clamp_signed(-(1i128 << 70)), i64::MIN);
        assert_eq!(wrap_unsigned(-1), u64::MAX);
        assert_eq!(wrap_unsigned(1i128 << 70), u64::MAX);
        let floats: ArrayRef = Arc::new(datafusion::arrow::array::Float64Array::from(vec![
            Some(1.5),
            Some(-1.5),
            Some(2.4),
            None,
        ]));
        assert_eq!(
            integer_values(&floats, false).unwrap(),
            vec![Some(2), Some(-2), Some(2), None]
        );
        let decimals: ArrayRef = Arc::new(
            datafusion::arrow::array::Decimal128Array::from(vec![Some(25), Some(-25), Some(24)])
                .with_precision_and_scale(5, 1)
                .unwrap(),
        );
        assert_eq!(
            integer_values(&decimals, true).unwrap(),
            vec![Some(3), Some(-3), Some(2)]
        );
    }
}
