//! `GET /openapi.json`: an OpenAPI 3.0 document of exactly what localzoom serves, built from the operation table.
//! Each entry's path, method, id, summary, scopes, permissions, rate-limit label and success status come from
//! the table; its parameters, request body and documented responses (with Zoom's error codes) from Zoom's own
//! spec files, vendored in `spec/`, which the table is tested against.

use std::sync::OnceLock;

use localzoom_api::operations::{Api, Body, OPERATIONS, Operation, Success};
use serde_json::{Map, Value, json};

use crate::spec::SpecFile;

/// The document, rendered on first use (it parses 2.5 MB of Zoom's spec, which is then dropped).
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| build().to_string())
}

fn build() -> Value {
    let specs: Vec<(SpecFile, Value)> = SpecFile::ALL
        .into_iter()
        .map(|file| (file, serde_json::from_str(file.text()).unwrap_or_default()))
        .collect();
    let spec_of = |op: &Operation| {
        let file = SpecFile::of(op);
        specs.iter().find(|(f, _)| *f == file).map(|(_, spec)| spec)
    };
    let mut paths = Map::new();
    for op in OPERATIONS {
        let item = paths
            .entry(op.path)
            .or_insert_with(|| match op.api {
                // SCIM's paths start at the server's root, not under the document's `/v2`.
                Api::Scim2 => json!({ "servers": [{ "url": "/" }] }),
                Api::V2 => json!({}),
            })
            .as_object_mut()
            .expect("a path item is an object");
        item.insert(
            op.method.openapi_key().into(),
            operation(op, spec_of(op).unwrap_or(&Value::Null)),
        );
    }
    let components = spec_of(&OPERATIONS[0]).map(|users| users["components"].clone());
    json!({
        "openapi": "3.0.0",
        "info": {
            "title": "localzoom: Zoom Users API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The operations of Zoom's API that this localzoom serves, as Zoom documents them.",
        },
        "servers": [{ "url": "/v2" }],
        "paths": paths,
        "components": components.unwrap_or_else(|| json!({})),
    })
}

/// One operation: Zoom's description of it, with what the table says put over it.
fn operation(op: &Operation, spec: &Value) -> Value {
    let zoom = &spec["paths"][op.path][op.method.openapi_key()];
    let mut out = zoom.as_object().cloned().unwrap_or_default();
    out.insert("operationId".into(), op.name.into());
    out.insert("summary".into(), op.summary.into());
    out.insert(
        "x-extensions".into(),
        json!({
            "x-macro-scopes": op.classic,
            "x-granular-scopes": op.granular,
            "x-permissions": op.permissions,
        }),
    );
    out.insert("x-rate-limit-label".into(), op.label.as_str().into());
    // Path parameters are declared on the path item in some of Zoom's files: each operation carries its own here.
    let mut parameters: Vec<Value> = zoom["parameters"].as_array().cloned().unwrap_or_default();
    for name in op.path_params() {
        let declared = parameters
            .iter()
            .any(|p| p["in"] == "path" && p["name"] == name);
        if !declared {
            parameters.push(json!({
                "name": name, "in": "path", "required": true, "schema": { "type": "string" },
            }));
        }
    }
    out.insert("parameters".into(), parameters.into());
    if op.request.is_none() {
        out.remove("requestBody");
    }
    let mut responses = zoom["responses"].as_object().cloned().unwrap_or_default();
    let (status, body) = match op.success {
        Success::Json { status, body } => (status, Some(body)),
        Success::NoContent => (204, None),
    };
    // Where localzoom answers another success status than Zoom documents (docs/fidelity.md), Zoom's success
    // entry moves to the status localzoom answers.
    if !responses.contains_key(&status.to_string()) {
        let zoom_success = responses.keys().find(|code| code.starts_with('2')).cloned();
        let entry = zoom_success
            .and_then(|code| responses.remove(&code))
            .unwrap_or_else(|| json!({ "description": "Success." }));
        responses.insert(status.to_string(), entry);
    }
    let success = responses
        .get_mut(&status.to_string())
        .expect("inserted above");
    if let (Some(Body::Type(name)), Some(success)) = (body, success.as_object_mut()) {
        success.insert("x-localzoom-type".into(), name.into());
    }
    out.insert("responses".into(), responses.into());
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_has_every_operation_of_the_table_and_nothing_else() {
        let doc: Value = serde_json::from_str(document()).unwrap();
        assert_eq!(doc["openapi"], "3.0.0");
        let paths = doc["paths"].as_object().unwrap();
        let served: usize = paths
            .values()
            .map(|item| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .filter(|k| *k != "servers")
                    .count()
            })
            .sum();
        assert_eq!(served, OPERATIONS.len());
        for op in OPERATIONS {
            let entry = &doc["paths"][op.path][op.method.openapi_key()];
            assert_eq!(entry["operationId"], op.name);
            assert_eq!(entry["x-rate-limit-label"], op.label.as_str());
            assert_eq!(
                entry["x-extensions"]["x-granular-scopes"],
                json!(op.granular)
            );
            let path_params: Vec<&str> = entry["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                path_params,
                op.path_params().collect::<Vec<_>>(),
                "{}",
                op.name
            );
            assert_eq!(
                entry.get("requestBody").is_some(),
                op.request.is_some(),
                "{}",
                op.name
            );
            let responses = entry["responses"].as_object().unwrap();
            let status = match op.success {
                Success::Json { status, .. } => status,
                Success::NoContent => 204,
            };
            let successes: Vec<&String> = responses.keys().filter(|c| c.starts_with('2')).collect();
            assert_eq!(successes, [&status.to_string()], "{}", op.name);
            // Zoom's documented error codes come with each operation (one, the summary templates, has none).
            let zoom: Value = serde_json::from_str(SpecFile::of(op).text()).unwrap();
            let zoom_errors = zoom["paths"][op.path][op.method.openapi_key()]["responses"]
                .as_object()
                .unwrap()
                .keys()
                .filter(|code| code.starts_with('4'))
                .count();
            let errors = responses.keys().filter(|code| code.starts_with('4')).count();
            assert_eq!(errors, zoom_errors, "{}", op.name);
        }
    }
}
