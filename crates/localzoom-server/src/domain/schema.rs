//! The part of JSON Schema Zoom's OpenAPI files use (type, properties, items, enum, bounds, oneOf), to check
//! what clients send against Zoom's own schemas. Work is bounded by the value, which the input layer bounds.

use serde_json::{Map, Value};

use super::error::DomainError;

/// Whether `value` is valid against `schema`.
pub fn conforms(schema: &Value, value: &Value) -> bool {
    check(schema, value, "").is_ok()
}

/// Checks `value` against the subset of JSON Schema Zoom's spec uses (type, properties, items, enum, bounds,
/// oneOf). Unknown properties are refused: a setting Zoom does not have would be stored and never read. The work
/// is bounded by the body, which the input layer bounds.
pub fn check(schema: &Value, value: &Value, path: &str) -> Result<(), DomainError> {
    walk(schema, value, path, Unknown::Refuse)
}

/// `check`, with properties the schema does not name allowed (and not looked at): for what an identity provider
/// sends, which carries attributes of its own beside Zoom's.
pub fn check_open(schema: &Value, value: &Value, path: &str) -> Result<(), DomainError> {
    walk(schema, value, path, Unknown::Allow)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unknown {
    Refuse,
    Allow,
}

fn walk(schema: &Value, value: &Value, path: &str, unknown: Unknown) -> Result<(), DomainError> {
    let invalid = || {
        DomainError::field(
            if path.is_empty() { "body" } else { path },
            "Invalid field.",
        )
    };
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        let mut first_error = None;
        for variant in variants {
            match walk(variant, value, path, unknown) {
                Ok(()) => return Ok(()),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        return Err(first_error.unwrap_or_else(invalid));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(invalid());
    }
    let kind = schema
        .get("type")
        .and_then(Value::as_str)
        .or_else(|| schema.get("properties").map(|_| "object"));
    match (kind, value) {
        (Some("object"), Value::Object(map)) => {
            let required = schema.get("required").and_then(Value::as_array);
            if let Some(missing) = required
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|name| !map.contains_key(*name))
            {
                let inner = if path.is_empty() {
                    missing.to_string()
                } else {
                    format!("{path}.{missing}")
                };
                return Err(DomainError::field(&inner, "Invalid field."));
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (key, item) in map {
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match properties.and_then(|p| p.get(key)) {
                    Some(property) => walk(property, item, &inner, unknown)?,
                    None if unknown == Unknown::Allow => {}
                    // An object Zoom leaves open (`tsp.call_out_countries[]`) takes plain values, not structures.
                    None if properties.is_none_or(Map::is_empty)
                        && !item.is_object()
                        && !item.is_array() => {}
                    None => return Err(DomainError::field(&inner, "Invalid field.")),
                }
            }
            Ok(())
        }
        (Some("array"), Value::Array(items)) => {
            let within = |bound: &str, ok: fn(usize, u64) -> bool| {
                schema
                    .get(bound)
                    .and_then(Value::as_u64)
                    .is_none_or(|n| ok(items.len(), n))
            };
            if !within("maxItems", |len, n| len as u64 <= n)
                || !within("minItems", |len, n| len as u64 >= n)
            {
                return Err(invalid());
            }
            match schema.get("items") {
                Some(item_schema) => items
                    .iter()
                    .try_for_each(|item| walk(item_schema, item, path, unknown)),
                None => Ok(()),
            }
        }
        (Some("boolean"), Value::Bool(_)) => Ok(()),
        (Some("integer"), Value::Number(n))
            if (n.is_i64() || n.is_u64()) && within_bounds(schema, n) =>
        {
            Ok(())
        }
        (Some("number"), Value::Number(n)) if within_bounds(schema, n) => Ok(()),
        (Some("string"), Value::String(s)) => {
            let chars = s.chars().count() as u64;
            // Line breaks and tabs belong in the free-text settings (instructions, audio conference info).
            let ok = !s
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
                && schema
                    .get("maxLength")
                    .and_then(Value::as_u64)
                    .is_none_or(|n| chars <= n)
                && schema
                    .get("minLength")
                    .and_then(Value::as_u64)
                    .is_none_or(|n| chars >= n);
            if ok { Ok(()) } else { Err(invalid()) }
        }
        (None, _) => Ok(()),
        _ => Err(invalid()),
    }
}

/// Refuses a name `value` has that the GET schema does not (objects only; arrays and leaves are `check`'s).
pub fn known_to(schema: &Value, value: &Value, path: &str) -> Result<(), DomainError> {
    let (Some(properties), Value::Object(map)) =
        (schema.get("properties").and_then(Value::as_object), value)
    else {
        return Ok(());
    };
    for (key, item) in map {
        let inner = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match properties.get(key) {
            Some(property) => known_to(property, item, &inner)?,
            None => return Err(DomainError::field(&inner, "Invalid field.")),
        }
    }
    Ok(())
}

fn within_bounds(schema: &Value, number: &serde_json::Number) -> bool {
    let number = number.as_f64().unwrap_or(f64::NAN);
    let min = schema
        .get("minimum")
        .and_then(Value::as_f64)
        .unwrap_or(f64::MIN);
    let max = schema
        .get("maximum")
        .and_then(Value::as_f64)
        .unwrap_or(f64::MAX);
    number >= min && number <= max
}
