//! The folders' order, checked: each top-level module imports only modules below it in `LAYERS`, so no import
//! climbs back up and no circle between them can form. Test code is exempt (it may reach anywhere).

use std::collections::BTreeSet;
use std::path::Path;

/// Top to bottom. A request enters at `http`, passes the `gate`, and a `service` applies the `domain`'s rules to
/// what the `store` holds; `error` gathers every layer's failures below the layers that return them; `crypto`,
/// `clock` and `blocking` are tools of the layers above them. `domain` is pure: it imports nothing of the crate but `spec`, Zoom's vendored files (data).
const LAYERS: &[&str] = &[
    "server", "http", "gate", "delivery", "service", "crypto", "clock", "error", "store",
    "blocking", "domain", "spec",
];

/// The crate's modules each top-level module's non-test code names (`crate::NAME`).
fn imports(module_source: &str) -> BTreeSet<String> {
    // Test modules sit at the end of their files.
    let code = module_source
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default();
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::X, b}`: the first segment of each item of the group.
            let end = group.find('}').unwrap_or(group.len());
            group[..end]
                .split(',')
                .filter_map(|item| item.trim().split("::").next())
                .collect()
        } else {
            vec![
                rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap_or_default(),
            ]
        };
        found.extend(
            names
                .into_iter()
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        );
    }
    found
}

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
}

#[test]
fn no_module_imports_a_module_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut climbs = Vec::new();
    for (path, source) in &files {
        let relative = Path::new(path).strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(rank) = LAYERS.iter().position(|l| *l == top) else {
            // lib.rs declares the modules; the test-only modules (`fuzz`, this one) may reach anywhere.
            assert!(
                ["lib", "fuzz", "layering"].contains(&top.as_str()),
                "{top} is in no layer: add it to LAYERS"
            );
            continue;
        };
        for imported in imports(source) {
            let Some(imported_rank) = LAYERS.iter().position(|l| *l == imported) else {
                continue;
            };
            if imported_rank < rank {
                climbs.push(format!("{} imports {imported}", relative.display()));
            }
        }
    }
    assert!(climbs.is_empty(), "imports that climb: {climbs:#?}");
}

#[test]
fn the_import_reader_sees_paths_and_groups_and_skips_tests() {
    let source = "use crate::store::Store;\nuse crate::{error::ApiError, gate};\nfn f() { crate::clock::now() }\n\
                  #[cfg(test)]\nmod tests { use crate::http::x; }";
    let found: Vec<String> = imports(source).into_iter().collect();
    assert_eq!(found, ["clock", "error", "gate", "store"]);
}
