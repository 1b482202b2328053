//! SQL text written in the code, as an expression a statement can hold and stay prepared.
//!
//! diesel's `dsl::sql` marks any statement holding it as unsafe to keep prepared, since its text
//! could change from one call to the next; every execution then parsed and planned the statement
//! again, a round trip and a plan per request for the habits page's marks. A text fixed at
//! compile time (or built once) cannot change, so a statement holding one is kept like any
//! other, under its SQL.

use std::marker::PhantomData;

use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, TypedExpressionType, ValidGrouping,
};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::sql_types::SqlType;

/// `sql` as an expression of type `ST`. Like `dsl::sql`, nothing checks the text against the
/// tables of the statement it goes into.
pub fn fixed_sql<ST: SqlType>(sql: &'static str) -> FixedSql<ST> {
    FixedSql {
        before: sql,
        value: (),
        after: "",
        sql_type: PhantomData,
    }
}

/// Fixed text, optionally around one value (a bind parameter).
#[derive(Debug, Clone, Copy)]
pub struct FixedSql<ST, Value = ()> {
    before: &'static str,
    value: Value,
    after: &'static str,
    sql_type: PhantomData<ST>,
}

impl<ST> FixedSql<ST> {
    /// This text, then `value` (e.g. `day.into_sql::<Date>()`), then `after`.
    pub fn then<Value>(self, value: Value, after: &'static str) -> FixedSql<ST, Value> {
        FixedSql {
            before: self.before,
            value,
            after,
            sql_type: PhantomData,
        }
    }
}

impl<ST: TypedExpressionType, Value> Expression for FixedSql<ST, Value> {
    type SqlType = ST;
}

impl<ST, Value: QueryFragment<Pg>> QueryFragment<Pg> for FixedSql<ST, Value> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(self.before);
        self.value.walk_ast(out.reborrow())?;
        out.push_sql(self.after);
        Ok(())
    }
}

/// No id of its own: two texts of one type are different statements, so the statement cache
/// keys a statement holding one by its SQL rather than by its Rust type.
impl<ST, Value> QueryId for FixedSql<ST, Value> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, Value, QS> AppearsOnTable<QS> for FixedSql<ST, Value> where Self: Expression {}

impl<ST, Value, QS> SelectableExpression<QS> for FixedSql<ST, Value> where Self: Expression {}

impl<ST, Value, GroupBy> ValidGrouping<GroupBy> for FixedSql<ST, Value> {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}
