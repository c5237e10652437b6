//! Statements built at run time (`IN` lists, multi-row inserts, list filters), for any dialect.
//!
//! Why not sqlx's `QueryBuilder`: its query borrows the builder while holding arguments of the
//! builder's own lifetime, which only works where the driver's argument type is known (SQLite's
//! carries a lifetime, and a generic one cannot be shortened). This builder keeps the values
//! aside and binds them when the statement is built, on a query that borrows only its text.
//! Placeholders are written when the statement is built: `$N` for PostgreSQL, a bare `?` for
//! SQLite. SQLite keeps numbered parameters in a list it searches by name, once per parameter
//! as it parses and again as sqlx binds each one, which made a statement's cost grow with the
//! square of its parameters (a 4,094-row insert of 7 values a row spent most of its seconds
//! comparing `$N` names); bare `?` are numbered by position and never looked up.

use std::fmt::{Display, Write};

use sqlx::query::Query;
use sqlx::Database;

use super::SqlValue;

/// A value to bind.
pub(super) enum Param {
    Text(String),
    Int(i64),
    Bool(bool),
}

impl From<String> for Param {
    fn from(text: String) -> Self {
        Param::Text(text)
    }
}

impl From<&str> for Param {
    fn from(text: &str) -> Self {
        Param::Text(text.to_string())
    }
}

impl From<i64> for Param {
    fn from(number: i64) -> Self {
        Param::Int(number)
    }
}

impl From<bool> for Param {
    fn from(flag: bool) -> Self {
        Param::Bool(flag)
    }
}

/// SQL text and the values its placeholders stand for.
pub(super) struct Builder {
    sql: String,
    /// Where in `sql` each value's placeholder goes, in order.
    marks: Vec<usize>,
    params: Vec<Param>,
    /// The text with its placeholders, once built.
    built: String,
}

impl Builder {
    pub(super) fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            marks: Vec::new(),
            params: Vec::new(),
            built: String::new(),
        }
    }

    /// The text with a placeholder at each mark, in `DB`'s style.
    fn text_for<DB: Database>(&self) -> String {
        let positional = DB::NAME == "SQLite";
        let mut text = String::with_capacity(self.sql.len() + self.marks.len() * 6);
        let mut from = 0;
        for (index, mark) in self.marks.iter().enumerate() {
            text.push_str(&self.sql[from..*mark]);
            if positional {
                text.push('?');
            } else {
                let _ = write!(text, "${}", index + 1);
            }
            from = *mark;
        }
        text.push_str(&self.sql[from..]);
        text
    }

    pub(super) fn push(&mut self, sql: impl Display) -> &mut Self {
        // Writing to a String cannot fail.
        let _ = write!(self.sql, "{sql}");
        self
    }

    /// Appends a placeholder for `value`.
    pub(super) fn push_bind(&mut self, value: impl Into<Param>) -> &mut Self {
        self.params.push(value.into());
        self.marks.push(self.sql.len());
        self
    }

    /// Pushes values (placeholders) separated by `separator`.
    pub(super) fn separated(&mut self, separator: &'static str) -> Separated<'_> {
        Separated {
            builder: self,
            separator,
            first: true,
        }
    }

    /// `VALUES (..), (..)`: one row per item, its values pushed by `row`.
    pub(super) fn push_values<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        mut row: impl FnMut(Separated<'_>, T),
    ) -> &mut Self {
        self.push("VALUES ");
        for (index, item) in items.into_iter().enumerate() {
            if index > 0 {
                self.push(", ");
            }
            self.push("(");
            row(self.separated(", "), item);
            self.push(")");
        }
        self
    }

    /// The statement with its values bound. Takes the values: build once.
    pub(super) fn build<DB: Database>(&mut self) -> Query<'_, DB, DB::Arguments<'_>>
    where
        String: SqlValue<DB>,
        i64: SqlValue<DB>,
        bool: SqlValue<DB>,
    {
        self.built = self.text_for::<DB>();
        let mut query = sqlx::query(&self.built);
        for param in std::mem::take(&mut self.params) {
            query = match param {
                Param::Text(text) => query.bind(text),
                Param::Int(number) => query.bind(number),
                Param::Bool(flag) => query.bind(flag),
            };
        }
        query
    }
}

/// Pushes values with a separator between them (see [`Builder::separated`]).
pub(super) struct Separated<'b> {
    builder: &'b mut Builder,
    separator: &'static str,
    first: bool,
}

impl Separated<'_> {
    pub(super) fn push_bind(&mut self, value: impl Into<Param>) -> &mut Self {
        if !self.first {
            self.builder.push(self.separator);
        }
        self.first = false;
        self.builder.push_bind(value);
        self
    }
}
