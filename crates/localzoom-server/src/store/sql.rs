//! What a backend supplies: a connection inside a transaction that runs SQL with positional parameters and hands
//! back rows whose columns are read by name. Every query is written once, in `queries.rs`, in the SQL both
//! backends accept (`$1` placeholders, `CAST(… AS BIGINT)`, `TRUE`/`FALSE`); the few real differences sit in
//! `Dialect`.

use std::cell::Cell;

use super::{StoreError, StoreResult};

/// A parameter of a statement. Borrowed: binding copies nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Bool(bool),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(value: &'a str) -> Self {
        Param::Text(value)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(value: &'a String) -> Self {
        Param::Text(value)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(value: &'a [u8]) -> Self {
        Param::Blob(value)
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(value: &'a Vec<u8>) -> Self {
        Param::Blob(value)
    }
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<u32> for Param<'_> {
    fn from(value: u32) -> Self {
        Param::Int(value.into())
    }
}

impl From<u64> for Param<'_> {
    /// Counts and limits: anything past `i64::MAX` means "no limit" and is bound as the largest.
    fn from(value: u64) -> Self {
        Param::Int(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

impl From<bool> for Param<'_> {
    fn from(value: bool) -> Self {
        Param::Bool(value)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Null, Into::into)
    }
}

/// The parameters of one statement, each converted to a `Param`.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::store::sql::Param::from($value)),*][..]
    };
}
pub(crate) use params;

/// One column's value as a backend read it, borrowed from the row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'r> {
    Null,
    Int(i64),
    Bool(bool),
    Text(&'r str),
    Blob(&'r [u8]),
}

/// A backend's row: column values by position.
pub trait RawRow {
    fn value(&self, index: usize) -> StoreResult<Value<'_>>;
}

/// The column names of a result, looked up by name. Row mappers read columns in about the order the query lists
/// them, so the column after the last one found is tried first: a lookup is one comparison, not a scan.
pub struct Columns {
    names: Vec<String>,
    next: Cell<usize>,
}

impl Columns {
    pub fn new(names: impl IntoIterator<Item = impl Into<String>>) -> Columns {
        Columns {
            names: names.into_iter().map(Into::into).collect(),
            next: Cell::new(0),
        }
    }

    fn index(&self, name: &str) -> StoreResult<usize> {
        let hint = self.next.get();
        let found = if self.names.get(hint).is_some_and(|n| n == name) {
            hint
        } else {
            self.names.iter().position(|n| n == name).ok_or_else(|| {
                StoreError::Corrupt(format!("the query returned no column {name:?}"))
            })?
        };
        self.next.set(found + 1);
        Ok(found)
    }
}

/// A row of a result, read by column name.
pub struct Row<'r> {
    raw: &'r dyn RawRow,
    columns: &'r Columns,
}

impl<'r> Row<'r> {
    pub fn new(raw: &'r dyn RawRow, columns: &'r Columns) -> Row<'r> {
        Row { raw, columns }
    }

    pub fn get<T: FromValue>(&self, column: &str) -> StoreResult<T> {
        let value = self.raw.value(self.columns.index(column)?)?;
        T::from_value(value).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "column {column:?} holds {value:?}, not a {}",
                T::NAME
            ))
        })
    }
}

/// A Rust type a column converts to; `None` when the stored value is not one.
pub trait FromValue: Sized {
    const NAME: &'static str;
    fn from_value(value: Value<'_>) -> Option<Self>;
}

impl FromValue for i64 {
    const NAME: &'static str = "integer";
    fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::Int(n) => Some(n),
            _ => None,
        }
    }
}

impl FromValue for u32 {
    const NAME: &'static str = "32-bit unsigned integer";
    fn from_value(value: Value<'_>) -> Option<Self> {
        i64::from_value(value).and_then(|n| u32::try_from(n).ok())
    }
}

impl FromValue for u64 {
    const NAME: &'static str = "unsigned integer";
    fn from_value(value: Value<'_>) -> Option<Self> {
        i64::from_value(value).and_then(|n| u64::try_from(n).ok())
    }
}

impl FromValue for bool {
    const NAME: &'static str = "boolean";
    /// SQLite has no boolean type: it stores 0 and 1.
    fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(b),
            Value::Int(0) => Some(false),
            Value::Int(1) => Some(true),
            _ => None,
        }
    }
}

impl FromValue for String {
    const NAME: &'static str = "text";
    fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::Text(s) => Some(s.to_string()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    const NAME: &'static str = "blob";
    fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::Blob(b) => Some(b.to_vec()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const NAME: &'static str = T::NAME;
    fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            value => T::from_value(value).map(Some),
        }
    }
}

/// What differs between the backends' SQL, and only that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A column that orders a table's rows as they were inserted, for tables whose key is not a sequence:
    /// SQLite's implicit `rowid`, PostgreSQL's `seq` column.
    pub fn insertion_order(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "seq",
        }
    }

    /// Appended to a `SELECT` that reads a row the same transaction then changes. PostgreSQL locks it (another
    /// node's writer must not read it in between); SQLite's single writer already excludes that.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// `sql` as this backend prepares it: SQLite numbers its parameters `?N` (to it, `$1` is a parameter *named*
    /// "$1", numbered by first appearance, which would bind `$2 … $1` the wrong way round).
    pub fn prepare(self, sql: &str) -> std::borrow::Cow<'_, str> {
        match self {
            Dialect::Postgres => std::borrow::Cow::Borrowed(sql),
            Dialect::Sqlite => std::borrow::Cow::Owned(sql.replace('$', "?")),
        }
    }
}

/// One connection inside a transaction: all a backend implements.
pub trait Connection {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns the rows it changed.
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64>;
    /// Runs a query and hands every row to `each`, in order.
    fn query(
        &self,
        sql: &str,
        params: &[Param<'_>],
        each: &mut dyn FnMut(&Row<'_>) -> StoreResult<()>,
    ) -> StoreResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_numbers_the_parameters_postgres_keeps_them() {
        let sql = "UPDATE t SET a = $2 WHERE id = $1 AND b = $12";
        assert_eq!(
            Dialect::Sqlite.prepare(sql),
            "UPDATE t SET a = ?2 WHERE id = ?1 AND b = ?12"
        );
        assert_eq!(Dialect::Postgres.prepare(sql), sql);
    }

    struct Values(Vec<Value<'static>>);

    impl RawRow for Values {
        fn value(&self, index: usize) -> StoreResult<Value<'_>> {
            Ok(self.0[index])
        }
    }

    #[test]
    fn columns_are_read_by_name_in_any_order_and_wrong_values_are_errors() {
        let columns = Columns::new(["id", "n", "flag", "gone"]);
        let raw = Values(vec![
            Value::Text("u1"),
            Value::Int(7),
            Value::Int(1),
            Value::Null,
        ]);
        let row = Row::new(&raw, &columns);
        assert!(row.get::<bool>("flag").unwrap());
        assert_eq!(row.get::<String>("id").unwrap(), "u1");
        assert_eq!(row.get::<u32>("n").unwrap(), 7);
        assert_eq!(row.get::<Option<i64>>("gone").unwrap(), None);
        assert!(matches!(row.get::<i64>("id"), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            row.get::<i64>("gone"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            row.get::<String>("missing"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
