//! Statements built at run time (`IN` lists, multi-row inserts, list filters), for any dialect.
//!
//! Why not sqlx's `QueryBuilder`: statements run on rusqlite (SQLite) as well as on sqlx
//! (PostgreSQL), through `exec.rs`; this builder keeps the values aside and hands text and
//! values to the connection together.
//! Placeholders are written when the statement runs, in the connection's style
//! ([`SqlConn::POSITIONAL`]: a 4,094-row insert of 7 values a row spent most of its seconds
//! comparing `$N` names in SQLite).

use std::fmt::{Display, Write};

use super::exec::{keep, Decode, Param, SqlConn};
use crate::store::StoreError;

/// SQL text and the values its placeholders stand for.
pub(super) struct Builder {
    sql: String,
    /// Where in `sql` each value's placeholder goes, in order.
    marks: Vec<usize>,
    params: Vec<Param>,
}

impl Builder {
    pub(super) fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            marks: Vec::new(),
            params: Vec::new(),
        }
    }

    /// The text with a placeholder at each mark, in `C`'s style.
    fn text_for<C: SqlConn + ?Sized>(&self) -> String {
        let mut text = String::with_capacity(self.sql.len() + self.marks.len() * 6);
        let mut from = 0;
        for (index, mark) in self.marks.iter().enumerate() {
            text.push_str(&self.sql[from..*mark]);
            if C::POSITIONAL {
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

    /// Runs the statement; returns the number of rows changed.
    pub(super) async fn execute<C: SqlConn + ?Sized>(
        self,
        conn: &mut C,
    ) -> Result<u64, StoreError> {
        let text = self.text_for::<C>();
        let keep = keep(self.params.len());
        conn.execute(&text, self.params, keep).await
    }

    /// Runs the statement and decodes every row it returns.
    pub(super) async fn fetch<C: SqlConn + ?Sized, T: Send>(
        self,
        conn: &mut C,
        decode: Decode<'_, T>,
    ) -> Result<Vec<T>, StoreError> {
        let text = self.text_for::<C>();
        let keep = keep(self.params.len());
        conn.fetch(&text, self.params, keep, decode).await
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
