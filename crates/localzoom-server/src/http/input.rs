//! Extractors that turn any accepted request shape into one thing, and any malformed input into a Zoom error:
//! bodies as JSON, multipart/form-data or urlencoded; query strings; path parameters.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Path, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::listener::{DEFAULT_READ_TIMEOUT, ReadTimeout};
use crate::domain::error::DomainError;
use crate::error::ApiError;

/// Largest accepted request body. Zoom's JSON bodies are small; anything bigger is a mistake or an attack.
pub const BODY_LIMIT: usize = 64 * 1024;

/// How deep a form field's name may nest (`user_info[email]` is 2). Zoom's bodies nest 3 deep at most; a deeper
/// name only builds objects nobody reads, and thousands of levels would overflow the stack that drops them.
const MAX_FORM_DEPTH: usize = 4;

/// Most fields in one form body or query string: Zoom's operations take a few dozen at most.
const MAX_FORM_FIELDS: usize = 256;

/// A request body's fields, whatever the content type. Form values arrive as strings and are read leniently
/// (`"2"` as a number, `"true"` as a boolean); JSON values must have the right type.
#[derive(Debug, Clone, Default)]
pub struct Fields {
    map: Map<String, Value>,
    prefix: String,
}

impl Fields {
    /// Fields made here rather than read from a body (a console form's, converted to the API's types).
    pub fn of(map: Map<String, Value>) -> Fields {
        Fields {
            map,
            prefix: String::new(),
        }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn invalid(&self, name: &str) -> ApiError {
        DomainError::field(&self.path(name), "Invalid field.").into()
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// A text field. Control characters (NUL, line breaks, escapes) belong in no name, e-mail or password, and a
    /// stored one would surprise whoever reads it later: refused.
    pub fn str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if !s.chars().any(char::is_control) => Ok(Some(s.clone())),
            Some(_) => Err(self.invalid(name)),
        }
    }

    pub fn required_str(&self, name: &str) -> Result<String, ApiError> {
        self.str(name)?.ok_or_else(|| self.invalid(name))
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| self.invalid(name)),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| self.invalid(name)),
            Some(_) => Err(self.invalid(name)),
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err(self.invalid(name)),
        }
    }

    pub fn object(&self, name: &str) -> Result<Option<Fields>, ApiError> {
        match self.get(name).map(from_form_text) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields {
                map,
                prefix: self.path(name),
            })),
            Some(_) => Err(self.invalid(name)),
        }
    }

    /// A field deserialized as a whole (arrays of objects and the like).
    pub fn typed<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => serde_json::from_value(from_form_text(v))
                .map(Some)
                .map_err(|_| self.invalid(name)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.map.iter()
    }

    /// The whole body as one JSON object, for operations that check it against a schema as a whole.
    pub fn into_value(self) -> Value {
        Value::Object(self.map)
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let essence = media_type(req.headers().get(CONTENT_TYPE));
        let (parts, body) = req.into_parts();
        let bytes = read_body(&parts, body, BODY_LIMIT, ApiError::PayloadTooLarge).await?;
        let map = match essence.as_str() {
            t if reads_as_json(t) => json_object(&bytes)?,
            "multipart/form-data" => {
                let request = Request::from_parts(parts, Body::from(bytes));
                multipart_fields(request).await?
            }
            "application/x-www-form-urlencoded" if looks_like_json(&bytes) => {
                return Err(ApiError::JsonSentAsForm);
            }
            "application/x-www-form-urlencoded" => {
                nest_form_fields(parse_form(&bytes).ok_or_else(|| {
                    DomainError::Invalid(
                        "Request Body should be a valid form: UTF-8 text, at most 256 fields."
                            .into(),
                    )
                })?)?
            }
            _ => return Err(ApiError::UnsupportedMediaType),
        };
        Ok(Fields {
            map,
            prefix: String::new(),
        })
    }
}

/// The media type a `Content-Type` names (no parameters, lower case); "" for none.
pub fn media_type(content_type: Option<&axum::http::HeaderValue>) -> String {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a body of this media type is read as JSON: clients that send no type (or text/plain) with a JSON body
/// are read as JSON, as Zoom does.
pub fn reads_as_json(media_type: &str) -> bool {
    matches!(media_type, "" | "application/json" | "text/plain") || media_type.ends_with("+json")
}

/// A form body that is a JSON object or array: what `curl -d '{"a":1}'` sends when no Content-Type is given.
fn looks_like_json(bytes: &[u8]) -> bool {
    let text = bytes.trim_ascii();
    matches!(text.first(), Some(b'{' | b'['))
        && serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
}

/// A form field may carry an object or array as JSON text (`assistants=[{"id":"…"}]`): read it as JSON.
fn from_form_text(value: &Value) -> Value {
    match value {
        Value::String(text) if text.starts_with('{') || text.starts_with('[') => {
            serde_json::from_str(text).unwrap_or_else(|_| value.clone())
        }
        other => other.clone(),
    }
}

/// `application/x-www-form-urlencoded` pairs (a body or a query string), decoded strictly: bytes that are not
/// UTF-8 once percent-decoded refuse the whole input (a lenient decoder would store another password than the
/// client sent). `None` for such input, or for more than `MAX_FORM_FIELDS` pairs.
pub fn parse_form(input: &[u8]) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        if pairs.len() == MAX_FORM_FIELDS {
            return None;
        }
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        pairs.push((percent_decode(name)?, percent_decode(value)?));
    }
    Some(pairs)
}

/// `+` is a space; `%XY` a byte; a `%` not followed by two hex digits stays as it is (as browsers do).
fn percent_decode(input: &[u8]) -> Option<String> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut bytes = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => bytes.push(b' '),
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(high), Some(low)) => {
                    bytes.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => bytes.push(b'%'),
            },
            other => bytes.push(other),
        }
        i += 1;
    }
    String::from_utf8(bytes).ok()
}

/// Form keys name nested fields as `user_info[email]` or `user_info.email`; builds the objects they name.
fn nest_form_fields(flat: Vec<(String, String)>) -> Result<Map<String, Value>, ApiError> {
    let mut map = Map::new();
    for (key, value) in flat {
        let path: Vec<&str> = key
            .split(['[', ']', '.'])
            .filter(|segment| !segment.is_empty())
            .collect();
        if path.len() > MAX_FORM_DEPTH {
            return Err(DomainError::Invalid(format!(
                "Form field names may nest at most {MAX_FORM_DEPTH} levels deep."
            ))
            .into());
        }
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut target = &mut map;
        for parent in parents {
            let entry = target
                .entry(parent.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            target = entry.as_object_mut().expect("made an object above");
        }
        target.insert(last.to_string(), Value::String(value));
    }
    Ok(map)
}

fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ApiError::InvalidJson),
    }
}

pub async fn multipart_fields(request: Request) -> Result<Map<String, Value>, ApiError> {
    // Text parts only; file parts of the implemented operations do not exist.
    let bad = || {
        ApiError::from(DomainError::Invalid(
            "Request Body should be a valid multipart/form-data body.".into(),
        ))
    };
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|_| bad())?;
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|_| bad())? {
        let Some(name) = field.name().map(str::to_string) else {
            continue;
        };
        if fields.len() == MAX_FORM_FIELDS {
            return Err(bad());
        }
        // Bytes, then strict UTF-8: `text()` would replace what it cannot decode.
        let bytes = field.bytes().await.map_err(|_| bad())?;
        fields.push((name, String::from_utf8(bytes.to_vec()).map_err(|_| bad())?));
    }
    nest_form_fields(fields)
}

/// Reads a body of at most `limit` bytes; a longer one is `too_large`, refused before it is read when its
/// `Content-Length` says so. A body trickled in a byte at a time must not hold the connection (and its slot) for
/// minutes: it has the read timeout, and uploads one more second for every 64 KiB they may carry.
pub async fn read_body(
    parts: &Parts,
    body: Body,
    limit: usize,
    too_large: ApiError,
) -> Result<axum::body::Bytes, ApiError> {
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large);
    }
    let timeout = parts
        .extensions
        .get::<ReadTimeout>()
        .map_or(DEFAULT_READ_TIMEOUT, |t| t.0)
        + std::time::Duration::from_secs((limit.saturating_sub(BODY_LIMIT) / (64 * 1024)) as u64);
    tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| ApiError::BodyTimeout)?
        .map_err(|e| {
            // Too long, or unreadable (a malformed chunk, a connection dropped mid-body): two answers.
            let too_long =
                std::iter::successors(Some(&e as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            if too_long {
                too_large
            } else {
                ApiError::UnreadableBody
            }
        })
}

/// Room in an upload body for what is not the file: part headers, boundaries, other small fields.
pub const UPLOAD_OVERHEAD: usize = 64 * 1024;

/// The file part of a `multipart/form-data` upload.
pub struct UploadedFile {
    /// The name the client gave the file, without any directory.
    pub name: String,
    pub bytes: axum::body::Bytes,
}

/// Reads a `multipart/form-data` body and returns its part named `field` (`None`: there is none). A body larger
/// than `max_file` and the room for part headers is refused with `too_large`, before it is all read. The route
/// lifts the default body limit; this is the limit.
pub async fn upload(
    request: Request,
    field: &str,
    max_file: usize,
    too_large: DomainError,
) -> Result<Option<UploadedFile>, ApiError> {
    let bad = || {
        ApiError::from(DomainError::Invalid(
            "Request Body should be a valid multipart/form-data body.".into(),
        ))
    };
    let is_multipart = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if !is_multipart {
        return Err(bad());
    }
    let (parts, body) = request.into_parts();
    let bytes = read_body(&parts, body, max_file + UPLOAD_OVERHEAD, too_large.into()).await?;
    let mut multipart = Multipart::from_request(Request::from_parts(parts, Body::from(bytes)), &())
        .await
        .map_err(|_| bad())?;
    let mut seen = 0;
    while let Some(part) = multipart.next_field().await.map_err(|_| bad())? {
        seen += 1;
        if seen > MAX_FORM_FIELDS {
            return Err(bad());
        }
        if part.name() != Some(field) {
            continue;
        }
        let name = part
            .file_name()
            .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n))
            .filter(|n| !n.is_empty() && !n.chars().any(char::is_control))
            .map_or_else(|| field.to_string(), |n| n.chars().take(255).collect());
        let bytes = part.bytes().await.map_err(|_| bad())?;
        return Ok(Some(UploadedFile { name, bytes }));
    }
    Ok(None)
}

/// Query parameters. Unknown ones are ignored; known ones are read with the same leniency as form fields.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| DomainError::field(name, "Invalid field.").into())
            })
            .transpose()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        parse_form(raw.as_bytes())
            .map(Query)
            .ok_or_else(|| DomainError::Invalid("Invalid query string.".into()).into())
    }
}

/// Path parameters, with percent-decoding failures reported in Zoom's shape.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| PathParams(t))
            .map_err(|_| DomainError::Invalid("Invalid path parameter.".into()).into())
    }
}

#[cfg(test)]
mod fuzz_targets {
    use axum::extract::FromRequest;

    use super::*;
    use crate::fuzz::fuzz;

    const CONTENT_TYPES: [&str; 6] = [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=X",
        "",
        "text/plain",
        "application/merge-patch+json",
    ];

    const DICTIONARY: &[&[u8]] = &[
        b"[",
        b"]",
        b".",
        b"%",
        b"%FF",
        b"%00",
        b"%C3%A9",
        b"=",
        b"&",
        b"+",
        b"{",
        b"}",
        b"\"",
        b":",
        b",",
        b"user_info",
        b"\\u0000",
        b"null",
        b"[[[[",
        b"--X\r\nContent-Disposition: form-data; name=\"a.b[c]\"\r\n\r\n",
        b"\r\n",
        b"--X--\r\n",
        b"\xff\xfe",
    ];

    /// Any body, under any of the accepted content types, gives fields or a client error: never a panic, a 5xx,
    /// or a field name nested deeper than allowed.
    #[test]
    fn fuzz_request_bodies() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        fuzz("request_bodies", DICTIONARY, |input| {
            let (selector, body) = input.split_first().unwrap_or((&0, &[]));
            let content_type = CONTENT_TYPES[*selector as usize % CONTENT_TYPES.len()];
            let mut request = axum::http::Request::builder()
                .method("PUT")
                .uri("/v2/users/me");
            if !content_type.is_empty() {
                request = request.header(CONTENT_TYPE, content_type);
            }
            let request = request.body(Body::from(body.to_vec())).unwrap();
            match runtime.block_on(Fields::from_request(request, &())) {
                Ok(fields) => {
                    fn depth(value: &Value) -> usize {
                        match value {
                            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
                            _ => 0,
                        }
                    }
                    if !matches!(content_type, "application/json" | "" | "text/plain")
                        && !content_type.ends_with("+json")
                    {
                        assert!(depth(&Value::Object(fields.map.clone())) <= MAX_FORM_DEPTH);
                    }
                }
                Err(e) => assert!(e.parts().0.is_client_error(), "{e:?}"),
            }
        });
    }

    /// Query strings and form bodies decode strictly, within the field cap, or not at all.
    #[test]
    fn fuzz_form_decoding() {
        fuzz("form_decoding", DICTIONARY, |input| {
            if let Some(pairs) = parse_form(input) {
                assert!(pairs.len() <= MAX_FORM_FIELDS);
                // A decoded pair re-encodes to what it came from, up to `+`/`%20` and escapes of plain bytes.
                for (name, value) in &pairs {
                    assert!(name.len() + value.len() <= input.len());
                }
            }
        });
    }
}
