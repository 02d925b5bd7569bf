//! Partition pruning: a table provider that scans only the partitions a query's WHERE can
//! reach.
//!
//! DataFusion hands the provider the query's filters (split into conjuncts). Those of the form
//! `col <op> literal`, `col BETWEEN a AND b` and `col IN (...)` on the partition column decide
//! which partitions can hold a matching row; the others are not scanned. Filters are reported
//! `Inexact`, so DataFusion still applies every filter to the rows read.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::catalog::{Datum, PartitionBounds, RangeBound, TableTree};

#[derive(Debug)]
pub struct PrunedTable {
    data_dir: PathBuf,
    tree: TableTree,
    schema: SchemaRef,
}

impl PrunedTable {
    pub fn new(data_dir: PathBuf, tree: TableTree) -> Self {
        let schema = super::table::arrow_schema(&tree.table);
        PrunedTable {
            data_dir,
            tree,
            schema,
        }
    }

    /// The tree with only the partitions `filters` can reach.
    fn pruned(&self, filters: &[Expr]) -> TableTree {
        let mut tree = self.tree.clone();
        let Some(column) = tree.table.partition_column().map(|c| c.name.clone()) else {
            return tree;
        };
        let Ok(field) = self.schema.field_with_name(&column) else {
            return tree;
        };
        let ty = field.data_type().clone();
        let to_datum = |v: &ScalarValue| -> Option<Datum> {
            let v = v.cast_to(&ty).ok()?;
            let array = v.to_array().ok()?;
            super::load::datum(array.as_ref(), 0)
        };
        let predicates: Vec<Predicate> = filters
            .iter()
            .filter_map(|f| predicate(f, &column, &to_datum))
            .collect();
        if predicates.is_empty() {
            return tree;
        }
        tree.partitions.retain(|p| {
            predicates
                .iter()
                .all(|pred| may_hold(&p.partition.bounds, pred))
        });
        tree
    }
}

/// What one filter says of the partition column's value.
#[derive(Debug)]
enum Predicate {
    Eq(Datum),
    Lt(Datum),
    LtEq(Datum),
    Gt(Datum),
    GtEq(Datum),
    In(Vec<Datum>),
    /// `BETWEEN low AND high`, both ends included.
    Range(Datum, Datum),
    /// `a OR b`: either holds.
    Any(Vec<Predicate>),
}

fn is_column(e: &Expr, column: &str) -> bool {
    match e {
        Expr::Column(c) => c.name.eq_ignore_ascii_case(column),
        Expr::Cast(c) => is_column(&c.expr, column),
        Expr::TryCast(c) => is_column(&c.expr, column),
        _ => false,
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) if !v.is_null() => Some(v),
        _ => None,
    }
}

fn predicate(
    e: &Expr,
    column: &str,
    to_datum: &impl Fn(&ScalarValue) -> Option<Datum>,
) -> Option<Predicate> {
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => Some(Predicate::Any(vec![
            predicate(left, column, to_datum)?,
            predicate(right, column, to_datum)?,
        ])),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (value, op) = if is_column(left, column) {
                (literal(right)?, *op)
            } else if is_column(right, column) {
                (literal(left)?, op.swap()?)
            } else {
                return None;
            };
            let d = to_datum(value)?;
            Some(match op {
                Operator::Eq => Predicate::Eq(d),
                Operator::Lt => Predicate::Lt(d),
                Operator::LtEq => Predicate::LtEq(d),
                Operator::Gt => Predicate::Gt(d),
                Operator::GtEq => Predicate::GtEq(d),
                _ => return None,
            })
        }
        Expr::Between(b) if !b.negated && is_column(&b.expr, column) => Some(Predicate::Range(
            to_datum(literal(&b.low)?)?,
            to_datum(literal(&b.high)?)?,
        )),
        Expr::InList(list) if !list.negated && is_column(&list.expr, column) => {
            let values = list
                .list
                .iter()
                .map(|v| literal(v).and_then(to_datum))
                .collect::<Option<Vec<_>>>()?;
            Some(Predicate::In(values))
        }
        _ => None,
    }
}

/// Whether a partition with `bounds` can hold a value satisfying `pred` (conservative: true
/// when unsure).
fn may_hold(bounds: &PartitionBounds, pred: &Predicate) -> bool {
    let v = |d: &Datum| RangeBound::Value(d.clone());
    if let Predicate::Any(options) = pred {
        return options.iter().any(|p| may_hold(bounds, p));
    }
    match bounds {
        PartitionBounds::All => true,
        PartitionBounds::Range { lower, upper } => match pred {
            Predicate::Eq(d) => *lower <= v(d) && v(d) < *upper,
            Predicate::Lt(d) => *lower < v(d),
            Predicate::LtEq(d) => *lower <= v(d),
            Predicate::GtEq(d) => v(d) < *upper,
            // Some value above `d` is below `upper`: for integers and dates, `d`'s successor.
            Predicate::Gt(d) => match successor(d) {
                Some(next) => v(&next) < *upper,
                None => v(d) < *upper,
            },
            Predicate::In(values) => values.iter().any(|d| *lower <= v(d) && v(d) < *upper),
            Predicate::Range(low, high) => *lower <= v(high) && v(low) < *upper,
            Predicate::Any(_) => true,
        },
        PartitionBounds::List { values } => values.iter().any(|x| match pred {
            Predicate::Eq(d) => x == d,
            Predicate::Lt(d) => x < d,
            Predicate::LtEq(d) => x <= d,
            Predicate::Gt(d) => x > d,
            Predicate::GtEq(d) => x >= d,
            Predicate::In(ds) => ds.contains(x),
            Predicate::Range(low, high) => low <= x && x <= high,
            Predicate::Any(_) => true,
        }),
    }
}

/// The next value of a discrete type; `None` where there is no simple next one.
fn successor(d: &Datum) -> Option<Datum> {
    match d {
        Datum::Int(i) => i.checked_add(1).map(Datum::Int),
        Datum::Date(day) => day.succ_opt().map(Datum::Date),
        Datum::DateTime(_) | Datum::String(_) => None,
    }
}

#[async_trait]
impl TableProvider for PrunedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let tree = self.pruned(filters);
        super::table::scan(&self.data_dir, &tree, state, projection, filters, limit).await
    }
}
