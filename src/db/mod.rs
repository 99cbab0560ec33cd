//! All the SQL wa-edge runs against D1, as plain data: statements with their
//! arguments, built here from the core's plans and executed by the edge, one
//! module per table or tight group of tables. Keeping them pure lets the host
//! tests check every statement's arguments against its placeholders; no SQL
//! lives outside this module (a host test holds that).

pub mod channels;
pub mod console;
pub mod contacts;
pub mod erasure;
pub mod guard;
pub mod ingest;
pub mod keys;
pub mod lookups;
pub mod outbox;
pub mod reads;
pub mod relay;
pub mod rules;
pub mod templates;

/// A bound SQL argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}
impl<T: Into<Arg>> From<Option<T>> for Arg {
    fn from(v: Option<T>) -> Self {
        v.map_or(Arg::Null, Into::into)
    }
}

/// One statement and its positional arguments (`?1`, `?2`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub sql: &'static str,
    pub args: Vec<Arg>,
}

impl Stmt {
    /// A statement with arguments.
    pub fn new(sql: &'static str, args: Vec<Arg>) -> Stmt {
        Stmt { sql, args }
    }
}

// Each table's rows travel as one JSON array bound to ?1 and are unpacked
// with json_each, so a delivery of 1000 items is a handful of statements
// (D1 counts every statement against a per-invocation query limit) and the
// 100-parameter limit never binds. `cols!(0, 1)` reads columns 0 and 1 of
// each row.
#[macro_export]
#[doc(hidden)]
macro_rules! cols {
    ($first:literal $(, $rest:literal)*) => {
        concat!(
            "json_extract(value, '$[", $first, "]')"
            $(, ", json_extract(value, '$[", $rest, "]')")*
        )
    };
}

/// A row's `raw` column: the item's JSON written into the row as it is
/// (the statement's `json_extract` gives back its text, with no escaping
/// either way), or `''` when the raw JSON was spilled.
pub(crate) struct RawColumn<'a>(pub Option<&'a serde_json::value::RawValue>);

impl serde::Serialize for RawColumn<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(raw) => raw.serialize(s),
            None => s.serialize_str(""),
        }
    }
}

/// Largest JSON array bound to one statement (D1 caps a value at 1 MB).
pub const MAX_CHUNK_BYTES: usize = 800_000;

/// One statement per chunk of `rows`, each chunk's JSON under
/// [`MAX_CHUNK_BYTES`] (a single larger row gets a chunk of its own). Rows
/// are written straight into the chunk: a tuple of borrowed fields costs no
/// copy of them.
pub(crate) fn bulk<R: serde::Serialize>(
    out: &mut Vec<Stmt>,
    sql: &'static str,
    rows: impl Iterator<Item = R>,
    now_ms: i64,
) {
    let flush = |out: &mut Vec<Stmt>, chunk: Vec<u8>| {
        if chunk.len() > 1 {
            let mut chunk = chunk;
            chunk.push(b']');
            // serde_json writes UTF-8 only.
            let text = String::from_utf8(chunk)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            out.push(Stmt::new(sql, vec![text.into(), now_ms.into()]));
        }
    };
    let mut chunk = vec![b'['];
    for row in rows {
        let start = chunk.len();
        if start > 1 {
            chunk.push(b',');
        }
        // Rows are tuples and arrays of strings, numbers and nulls, which
        // always serialise.
        if serde_json::to_writer(&mut chunk, &row).is_err() {
            chunk.truncate(start);
            continue;
        }
        if start > 1 && chunk.len() + 1 > MAX_CHUNK_BYTES {
            let row_text = chunk.split_off(start + 1);
            chunk.truncate(start);
            flush(out, std::mem::replace(&mut chunk, vec![b'[']));
            chunk.extend_from_slice(&row_text);
        }
    }
    flush(out, chunk);
}

/// `SELECT 1`, for `GET /healthz`.
pub fn health() -> Stmt {
    Stmt::new("SELECT 1 AS ok", vec![])
}
