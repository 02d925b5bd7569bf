//! The top-level error, and the one table that maps every error to a MySQL error packet.
//!
//! Each layer has its own error enum; `Error` wraps them. [`Error::to_mysql`] is the only code
//! that knows MySQL error codes and SQLSTATEs (DESIGN.md "Errors"). Messages name the object and
//! say what to fix; they never contain secrets.

use datafusion::error::DataFusionError;

use crate::catalog::CatalogError;
use crate::sql::ParseError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Parse(#[from] ParseError),

    #[error(transparent)]
    Catalog(#[from] CatalogError),

    #[error(transparent)]
    Load(#[from] crate::store::load::LoadError),

    #[error("Column count doesn't match value count at row 1")]
    ColumnCount,

    /// MySQL's ER_VIEW_WRONG_LIST: a view's column list and its query disagree.
    #[error(
        "In definition of view '{0}', the SELECT list and the column names list have different column counts"
    )]
    ViewColumnCount(String),

    /// MySQL's ER_VIEW_INVALID: querying view `view` failed for `why`.
    #[error(
        "View '{view}' references invalid table(s) or column(s) or function(s) or definer/invoker of view lack rights to use them: {why}"
    )]
    ViewInvalid { view: String, why: String },

    /// MySQL's ER_VIEW_RECURSIVE.
    #[error("'{0}' contains view recursion")]
    ViewRecursion(String),

    /// A statement that parses but that this version does not execute.
    #[error("{0}")]
    NotSupported(String),

    /// MySQL's ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT (1582); the name as MySQL prints it, upper case.
    #[error("Incorrect parameter count in the call to native function '{0}'")]
    ParameterCount(String),

    /// MySQL's ER_WRONG_ARGUMENTS (1210): `SLEEP(-1)`.
    #[error("Incorrect arguments to {0}")]
    IncorrectArguments(&'static str),

    /// MySQL's ER_NO_SUCH_THREAD (1094), for KILL.
    #[error("Unknown thread id: {0}")]
    UnknownThread(u64),

    /// MySQL's ER_KILL_DENIED_ERROR (1095), for KILL of another user's connection.
    #[error("You are not owner of thread {0}")]
    NotThreadOwner(u64),

    #[error("Unknown database '{0}'")]
    UnknownDatabase(String),

    #[error("No database selected")]
    NoDatabaseSelected,

    #[error("Unknown system variable '{0}'")]
    UnknownVariable(String),

    #[error("Variable '{name}' can't be set to the value of '{value}'")]
    BadVariableValue { name: String, value: String },

    #[error("Access denied for user '{user}'@'{host}' (using password: {})", if *.using_password { "YES" } else { "NO" })]
    AccessDenied {
        user: String,
        host: String,
        using_password: bool,
    },

    #[error("Unknown prepared statement handler ({0}) given to mysqld_stmt_execute")]
    UnknownStatement(u32),

    #[error("Incorrect arguments to mysqld_stmt_execute: {0}")]
    BadStatementArguments(String),

    /// StarRocks' ERR_ACCESS_DENIED (5203): a backup, restore, repository or user management
    /// statement without the privilege it needs. `object` is `SYSTEM`, `TABLE db.t`, ...
    #[error(
        "Access denied; you need (at least one of) the {privilege} privilege(s) on {object} for this operation. Please ask the admin to grant permission(s) or try activating existing roles using <set [default] role>. Current role(s): {roles}. Inactivated role(s): NONE."
    )]
    PrivilegeDenied {
        privilege: String,
        object: String,
        roles: String,
    },

    /// MySQL's ER_TABLEACCESS_DENIED_ERROR (1142), for ordinary SQL on a table.
    #[error("{command} command denied to user '{user}'@'{host}' for table '{table}'")]
    TableAccessDenied {
        command: &'static str,
        user: String,
        host: String,
        table: String,
    },

    /// MySQL's ER_DBACCESS_DENIED_ERROR (1044), for ordinary SQL on a database.
    #[error("Access denied for user '{user}'@'{host}' to database '{db}'")]
    DbAccessDenied {
        user: String,
        host: String,
        db: String,
    },

    #[error(transparent)]
    User(#[from] crate::catalog::users::UserError),

    /// StarRocks' common error (5064) for backup/restore/repository statements.
    #[error("{0}")]
    Common(String),

    #[error("{}", query_message(.0))]
    Query(#[from] DataFusionError),

    /// A bug: an invariant did not hold. Logged at error level where it is handled.
    #[error("internal error: {0} (this is a bug in backstop; please report it)")]
    Internal(String),
}

impl From<crate::catalog::repos::RepoCatalogError> for Error {
    fn from(e: crate::catalog::repos::RepoCatalogError) -> Self {
        match e {
            crate::catalog::repos::RepoCatalogError::Catalog(e) => Error::Catalog(e),
            other => Error::Common(other.to_string()),
        }
    }
}

impl From<crate::failpoint::Triggered> for Error {
    fn from(e: crate::failpoint::Triggered) -> Self {
        Error::Internal(e.to_string())
    }
}

/// What goes into an ERR packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlError {
    pub code: u16,
    pub sqlstate: &'static str,
    pub message: String,
}

impl Error {
    /// The error code, SQLSTATE and message the client sees.
    pub fn to_mysql(&self) -> MysqlError {
        let (code, sqlstate) = match self {
            Error::Parse(e) if e.unsupported => (1235, "42000"),
            Error::Parse(_) => (1064, "42000"),
            Error::Load(e) => match e {
                crate::store::load::LoadError::NoPartition { .. } => (1526, "HY000"),
                crate::store::load::LoadError::OtherPartition { .. } => (1748, "HY000"),
                crate::store::load::LoadError::NullInNotNull(_) => (1048, "23000"),
                crate::store::load::LoadError::BadValue { .. } => (1366, "HY000"),
                crate::store::load::LoadError::OutOfRange { .. } => (1264, "22003"),
                crate::store::load::LoadError::Store(_) => (1105, "HY000"),
            },
            Error::ColumnCount => (1136, "21S01"),
            Error::ViewColumnCount(_) => (1353, "HY000"),
            Error::ViewInvalid { .. } => (1356, "HY000"),
            Error::ViewRecursion(_) => (1462, "HY000"),
            Error::Catalog(e) => match e {
                CatalogError::DatabaseExists(_) => (1007, "HY000"),
                CatalogError::UnknownDatabase(_) => (1049, "42000"),
                CatalogError::BadDatabaseName(..) => (1102, "42000"),
                CatalogError::TableExists(_) => (1050, "42S01"),
                CatalogError::UnknownTable(_) => (1146, "42S02"),
                CatalogError::WrongObject { .. } => (1347, "HY000"),
                CatalogError::UnknownColumn { .. } => (1054, "42S22"),
                CatalogError::DuplicateColumn(_) => (1060, "42S21"),
                CatalogError::UnknownPartition { .. } => (1735, "HY000"),
                CatalogError::PartitionExists { .. } => (1517, "HY000"),
                CatalogError::BadName { kind: "table", .. } => (1103, "42000"),
                CatalogError::BadName { kind: "column", .. } => (1166, "42000"),
                // StarRocks reports analysis errors of a statement as 1064.
                CatalogError::BadName { .. } | CatalogError::InvalidDefinition(_) => {
                    (1064, "42000")
                }
                CatalogError::TableBusy { .. } => (5064, "42000"),
                CatalogError::Storage(_) | CatalogError::Corrupt(_) => (1105, "HY000"),
            },
            Error::NotSupported(_) => (1235, "42000"),
            Error::ParameterCount(_) => (1582, "42000"),
            Error::UnknownThread(_) => (1094, "HY000"),
            Error::NotThreadOwner(_) => (1095, "HY000"),
            Error::IncorrectArguments(_) => (1210, "HY000"),
            Error::UnknownDatabase(_) => (1049, "42000"),
            Error::NoDatabaseSelected => (1046, "3D000"),
            Error::UnknownVariable(_) => (1193, "HY000"),
            Error::BadVariableValue { .. } => (1231, "42000"),
            Error::AccessDenied { .. } => (1045, "28000"),
            Error::UnknownStatement(_) => (1243, "HY000"),
            Error::BadStatementArguments(_) => (1210, "HY000"),
            Error::Common(_) => (5064, "42000"),
            Error::PrivilegeDenied { .. } => (5203, "42000"),
            Error::TableAccessDenied { .. } => (1142, "42000"),
            Error::DbAccessDenied { .. } => (1044, "42000"),
            Error::User(crate::catalog::users::UserError::OperationFailed { .. }) => {
                (1396, "HY000")
            }
            Error::User(crate::catalog::users::UserError::Catalog(_)) => (1105, "HY000"),
            Error::Query(e) => query_code(e),
            Error::Internal(_) => (1105, "HY000"),
        };
        MysqlError {
            code,
            sqlstate,
            message: self.to_string(),
        }
    }

    /// Whether the error is a bug worth an error-level log line (user mistakes are not).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Internal(_)
                | Error::Catalog(CatalogError::Storage(_) | CatalogError::Corrupt(_))
                | Error::User(crate::catalog::users::UserError::Catalog(_))
        ) || matches!(self, Error::Query(e) if matches!(e.find_root(), DataFusionError::Internal(_)))
    }
}

fn query_code(e: &DataFusionError) -> (u16, &'static str) {
    match e.find_root() {
        DataFusionError::SQL(..) => (1064, "42000"),
        DataFusionError::NotImplemented(_) => (1235, "42000"),
        DataFusionError::SchemaError(..) => (1054, "42S22"),
        DataFusionError::ResourcesExhausted(_) => (1038, "HY001"),
        _ => (1105, "HY000"),
    }
}

/// DataFusion's messages carry a prefix per kind ("Error during planning: ") that means nothing
/// to a MySQL user; keep the root cause's own words.
fn query_message(e: &DataFusionError) -> String {
    let root = e.find_root();
    match root {
        DataFusionError::Plan(m)
        | DataFusionError::Execution(m)
        | DataFusionError::Configuration(m) => m.clone(),
        // "Unsupported ast node in sqltorel: Convert { is_try: false, ... }": the construct's
        // name, without the debug dump of its syntax tree.
        DataFusionError::NotImplemented(m) => format!(
            "{}: not supported in a query by backstop (docs/functions.md lists the functions and casts it runs)",
            m.split_once(" {").map_or(m.as_str(), |(head, _)| head)
        ),
        // MySQL's "Unknown column" (1054), one line: the name as written, a near name if one
        // is close, and what the statement's tables have.
        DataFusionError::SchemaError(e, _) => match e.as_ref() {
            datafusion::common::SchemaError::FieldNotFound {
                field,
                valid_fields,
            } => unknown_column(field, valid_fields),
            _ => root.to_string(),
        },
        DataFusionError::ResourcesExhausted(m) => {
            format!(
                "query exceeded its memory limit: {m}; add a filter or LIMIT, or raise --query-memory-limit"
            )
        }
        other => other.to_string(),
    }
}

fn unknown_column(
    field: &datafusion::common::Column,
    valid: &[datafusion::common::Column],
) -> String {
    let written = field.flat_name();
    let mut names: Vec<&str> = Vec::new();
    for c in valid {
        if !names.contains(&c.name.as_str()) {
            names.push(c.name.as_str());
        }
    }
    let near = names
        .iter()
        .map(|n| {
            (
                edit_distance(&field.name.to_lowercase(), &n.to_lowercase()),
                *n,
            )
        })
        .filter(|(d, n)| *d <= (n.len() / 3).max(1))
        .min();
    let mut message = format!("Unknown column '{written}'");
    if let Some((_, n)) = near {
        message.push_str(&format!(" (did you mean '{n}'?)"));
    }
    if !names.is_empty() {
        message.push_str(&format!("; the columns here are {}", names.join(", ")));
    }
    message
}

/// Levenshtein distance of two short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let left = row.get(j).copied().unwrap_or(usize::MAX);
            let value = (previous + usize::from(ca != *cb))
                .min(above.saturating_add(1))
                .min(left.saturating_add(1));
            previous = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = value;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

/// What a caught panic said (its message when it has one).
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_names_are_a_few_edits_apart() {
        assert_eq!(edit_distance("nope", "note"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let cols = [
            datafusion::common::Column::new_unqualified("name"),
            datafusion::common::Column::new_unqualified("note"),
        ];
        assert_eq!(
            unknown_column(&datafusion::common::Column::new_unqualified("nme"), &cols),
            "Unknown column 'nme' (did you mean 'name'?); the columns here are name, note"
        );
        assert_eq!(
            unknown_column(&datafusion::common::Column::new_unqualified("zzzzz"), &cols),
            "Unknown column 'zzzzz'; the columns here are name, note"
        );
    }

    #[test]
    fn access_denied_reads_like_mysql() {
        let e = Error::AccessDenied {
            user: "root".into(),
            host: "127.0.0.1".into(),
            using_password: true,
        };
        let m = e.to_mysql();
        assert_eq!((m.code, m.sqlstate), (1045, "28000"));
        assert_eq!(
            m.message,
            "Access denied for user 'root'@'127.0.0.1' (using password: YES)"
        );
    }
}
