//! `GET /openapi.json`: an OpenAPI 3.0 document of exactly what localzoom serves, built from the operation table.
//! Each entry's path, method, id, summary, scopes, permissions, rate-limit label and success status come from
//! the table; its parameters, request body and documented responses (with Zoom's error codes) from Zoom's own
//! spec files, vendored in `spec/`, which the table is tested against.

use std::sync::OnceLock;

use localzoom_api::operations::{Api, Body, OPERATIONS, Operation, OperationId, Success};
use serde_json::{Map, Value, json};

use crate::domain::error::DomainError;
use crate::domain::schema;
use crate::spec::SpecFile;

/// The query parameters each operation of the table documents, with their schemas, in table order.
fn query_parameters() -> &'static [Vec<(String, Value)>] {
    static PARAMETERS: OnceLock<Vec<Vec<(String, Value)>>> = OnceLock::new();
    PARAMETERS.get_or_init(|| {
        let document: Value = serde_json::from_str(document()).unwrap_or_default();
        OPERATIONS
            .iter()
            .map(|op| {
                document["paths"][op.path][op.method.openapi_key()]["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["schema"].clone())))
                    .collect()
            })
            .collect()
    })
}

/// Checks the query parameters the operation documents against their schemas (types, enums, bounds); the first
/// that breaks its schema is named. Values arrive as text: `true`/`false` for booleans, digits for numbers, and
/// enumerations may list several values separated by commas (`include_fields=custom_attributes,host_key`). An empty
/// free-text parameter counts as absent (an empty enum value, number or boolean is refused), and undocumented
/// parameters are ignored, as Zoom ignores them.
pub fn check_query(op: &Operation, query: &[(String, String)]) -> Result<(), DomainError> {
    let Some(documented) = query_parameters().get(op.id as usize) else {
        return Ok(());
    };
    for (name, text) in query {
        let Some((_, schema)) = documented.iter().find(|(documented, _)| documented == name) else {
            continue;
        };
        // An empty free-text parameter is no value; an empty enum value, number or boolean is a wrong one.
        if text.is_empty() && schema["type"] == "string" && schema.get("enum").is_none() {
            continue;
        }
        let typed = |text: &str| -> Option<Value> {
            match schema["type"].as_str() {
                Some("integer") => text.trim().parse::<i64>().ok().map(Value::from),
                Some("number") => text.trim().parse::<f64>().ok().map(Value::from),
                Some("boolean") => match text {
                    "true" => Some(true.into()),
                    "false" => Some(false.into()),
                    _ => None,
                },
                _ => Some(text.into()),
            }
        };
        let values: Vec<&str> = if schema.get("enum").is_some() && schema["type"] == "string" {
            text.split(',').map(str::trim).collect()
        } else {
            vec![text.as_str()]
        };
        let valid = values
            .into_iter()
            .all(|value| typed(value).is_some_and(|value| schema::conforms(schema, &value)));
        if !valid {
            return Err(DomainError::field(name, "Invalid field."));
        }
    }
    Ok(())
}

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
    amend(op, &mut responses);
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

/// What localzoom answers beyond what Zoom's spec lists for the operation (docs/fidelity.md rows 2 and 109):
/// 401 for a token that is not valid, 400 for input it cannot read, 404 for a user that does not exist,
/// `Offline` among the presence statuses, the settings' overlapping shapes as `anyOf`, and SCIM's media type.
fn amend(op: &Operation, responses: &mut Map<String, Value>) {
    responses.entry("401").or_insert_with(|| {
        json!({ "description": "**HTTP Status Code:** `401` <br>\n Unauthorized \n\n **Error Code:** `124` <br>\n \
                Invalid access token. (localzoom: Zoom answers 401 where its spec says 400.)" })
    });
    responses.entry("400").or_insert_with(|| {
        json!({ "description": "**HTTP Status Code:** `400` <br>\n Bad Request \n\n **Error Code:** `300` <br>\n \
                Validation Failed. (localzoom: a query or body it cannot read.)" })
    });
    if op.path.contains("{userId}") {
        responses.entry("404").or_insert_with(|| {
            json!({ "description": "**HTTP Status Code:** `404` <br>\n Not Found \n\n **Error Code:** `1001` <br>\n \
                    User does not exist: $userId." })
        });
    }
    if op.id == OperationId::UserPresenceStatus
        && let Some(statuses) = responses
            .get_mut("200")
            .and_then(|ok| {
                ok.pointer_mut("/content/application~1json/schema/oneOf/1/properties/status/enum")
            })
            .and_then(Value::as_array_mut)
    {
        statuses.push("Offline".into());
    }
    // Zoom's settings shapes overlap (every field optional), so an answer can fit several: `anyOf` is what the
    // spec means (the answer its own description shows for `custom_query_fields` fits three).
    if matches!(
        op.id,
        OperationId::UserSettings | OperationId::AccountSettings
    ) && let Some(schema) = responses
        .get_mut("200")
        .and_then(|ok| ok.pointer_mut("/content/application~1json/schema"))
        .and_then(Value::as_object_mut)
        && let Some(variants) = schema.remove("oneOf")
    {
        schema.insert("anyOf".into(), variants);
    }
    // Zoom's read of one SCIM user types `roles` and `groups` as one object, where its list, create, replace and
    // patch answers (and RFC 7643) have lists: localzoom answers lists (fidelity row 111).
    if op.id == OperationId::ScimUser
        && let Some(properties) = responses
            .get_mut("200")
            .and_then(|ok| ok.pointer_mut("/content/application~1json/schema/properties"))
            .and_then(Value::as_object_mut)
    {
        for multi_valued in ["roles", "groups"] {
            if let Some(single) = properties.remove(multi_valued) {
                properties.insert(
                    multi_valued.into(),
                    json!({ "type": "array", "items": single }),
                );
            }
        }
    }
    if op.api == Api::Scim2 {
        for response in responses.values_mut() {
            if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut)
                && let Some(json) = content.remove("application/json")
            {
                content.insert("application/scim+json".into(), json);
            }
        }
    }
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
            // Zoom's documented errors come with each operation, and localzoom's 401 with all.
            let zoom: Value = serde_json::from_str(SpecFile::of(op).text()).unwrap();
            let zoom_responses = zoom["paths"][op.path][op.method.openapi_key()]["responses"]
                .as_object()
                .unwrap()
                .clone();
            for code in zoom_responses.keys().filter(|code| code.starts_with('4')) {
                assert!(
                    responses.contains_key(code),
                    "{}: Zoom's {code} is missing",
                    op.name
                );
            }
            assert!(responses.contains_key("401"), "{}", op.name);
        }
    }
}
