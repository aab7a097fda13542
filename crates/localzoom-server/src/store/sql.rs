//! What a backend supplies: a connection inside a transaction that runs SQL with positional parameters and hands
//! back rows whose columns are read by name. Every query is written once, in `queries.rs`, in the SQL both
//! backends accept (`$N` placeholders first appearing in order, `CAST(… AS BIGINT)`, `TRUE`/`FALSE`); the few
//! real differences sit in `Dialect`.

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

/// A backend's row: its columns' names and values by position.
pub trait RawRow {
    fn column_count(&self) -> usize;
    fn column_name(&self, index: usize) -> Option<&str>;
    fn value(&self, index: usize) -> StoreResult<Value<'_>>;
}

/// A row of a result, read by column name. Row mappers read columns in about the order the query lists them, so
/// the column after the last one found (`next`, shared by the rows of one query) is tried first: a lookup is one
/// comparison, not a scan.
pub struct Row<'r> {
    raw: &'r dyn RawRow,
    next: &'r Cell<usize>,
}

impl<'r> Row<'r> {
    pub fn new(raw: &'r dyn RawRow, next: &'r Cell<usize>) -> Row<'r> {
        Row { raw, next }
    }

    fn index(&self, name: &str) -> StoreResult<usize> {
        let hint = self.next.get();
        let found = if self.raw.column_name(hint) == Some(name) {
            hint
        } else {
            (0..self.raw.column_count())
                .find(|i| self.raw.column_name(*i) == Some(name))
                .ok_or_else(|| {
                    StoreError::Corrupt(format!("the query returned no column {name:?}"))
                })?
        };
        self.next.set(found + 1);
        Ok(found)
    }

    pub fn get<T: FromValue>(&self, column: &str) -> StoreResult<T> {
        let value = self.raw.value(self.index(column)?)?;
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

/// `before` + the column that orders a table's rows as they were inserted + `after`, for this dialect: SQLite's
/// implicit `rowid`, PostgreSQL's `seq` column (tables whose key is not a sequence). A literal, built at compile
/// time.
macro_rules! by_insertion_order {
    ($dialect:expr, $before:expr, $after:expr) => {
        match $dialect {
            $crate::store::sql::Dialect::Sqlite => concat!($before, "rowid", $after),
            $crate::store::sql::Dialect::Postgres => concat!($before, "seq", $after),
        }
    };
}
pub(crate) use by_insertion_order;

/// Whether `sql`'s parameters first appear in the order of their numbers (`$1` before `$2` …; repeats anywhere).
/// SQLite numbers `$N` parameters by first appearance, PostgreSQL by `N`: written in order, the same text binds the
/// same way on both, so no statement needs translating. Both backends check it in debug builds (every test).
pub fn placeholders_in_order(sql: &str) -> bool {
    let mut next = 1;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(n) = rest[..digits].parse::<usize>() else {
            return false;
        };
        if n == next {
            next += 1;
        } else if n > next {
            return false;
        }
    }
    true
}

/// What a backend's statement comes to, later (PostgreSQL: over the network) or at once (SQLite).
pub type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = StoreResult<T>> + Send + 'a>>;

/// What a query hands each row to, in order.
pub type EachRow<'a> = &'a mut (dyn FnMut(&Row<'_>) -> StoreResult<()> + Send);

/// One connection inside a transaction: all a backend implements. Statements are `'static` (literals, or built
/// once): a backend may key what it learns of a statement (its column names) by its address. Asynchronous, so
/// that a request waiting for PostgreSQL holds no thread; SQLite's answers are ready when asked for.
pub trait Connection: Send + Sync {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns the rows it changed.
    fn execute<'a>(&'a self, sql: &'static str, params: &'a [Param<'a>]) -> StoreFuture<'a, u64>;
    /// Runs a query and hands every row to `each`, in order.
    fn query<'a>(
        &'a self,
        sql: &'static str,
        params: &'a [Param<'a>],
        each: EachRow<'a>,
    ) -> StoreFuture<'a, ()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_must_first_appear_in_order() {
        assert!(placeholders_in_order(
            "UPDATE t SET a = $1 WHERE id = $2 OR $1 IS NULL AND b = $3"
        ));
        assert!(!placeholders_in_order("UPDATE t SET a = $2 WHERE id = $1"));
        assert!(!placeholders_in_order("SELECT $1, $3"));
        assert!(!placeholders_in_order("SELECT '$'"));
    }

    struct Values(Vec<(&'static str, Value<'static>)>);

    impl RawRow for Values {
        fn column_count(&self) -> usize {
            self.0.len()
        }

        fn column_name(&self, index: usize) -> Option<&str> {
            self.0.get(index).map(|(name, _)| *name)
        }

        fn value(&self, index: usize) -> StoreResult<Value<'_>> {
            Ok(self.0[index].1)
        }
    }

    #[test]
    fn columns_are_read_by_name_in_any_order_and_wrong_values_are_errors() {
        let raw = Values(vec![
            ("id", Value::Text("u1")),
            ("n", Value::Int(7)),
            ("flag", Value::Int(1)),
            ("gone", Value::Null),
        ]);
        let next = Cell::new(0);
        let row = Row::new(&raw, &next);
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
