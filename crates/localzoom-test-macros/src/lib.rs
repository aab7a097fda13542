//! `#[backend_test]` turns one test (async, or synchronous for tests of the binary) into a module with one test
//! per storage backend:
//!
//! ```ignore
//! #[backend_test]
//! async fn deactivation_ends_sessions() { /* body */ }
//! ```
//!
//! becomes `deactivation_ends_sessions::sqlite` and `deactivation_ends_sessions::postgres`, each running the body
//! with `helpers::BACKEND` set, so `TestApp` opens that backend. The body is written once: the suite is one
//! parameterised suite, not two copies. Written on `proc_macro` alone, so tests need no parser crates to build.

use proc_macro::{Delimiter, Group, TokenStream, TokenTree};

#[proc_macro_attribute]
pub fn backend_test(_args: TokenStream, item: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let name = tokens
        .windows(2)
        .find_map(|w| match (&w[0], &w[1]) {
            (TokenTree::Ident(f), TokenTree::Ident(name)) if f.to_string() == "fn" => {
                Some(name.clone())
            }
            _ => None,
        })
        .expect("#[backend_test] goes on an `async fn`");
    let body = match tokens.last() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g.clone(),
        _ => panic!("#[backend_test] needs a function body"),
    };
    // Attributes written on the function (doc comments, lint settings) go on both variants.
    let attributes: TokenStream = tokens
        .iter()
        .take_while(|t| !matches!(t, TokenTree::Ident(i) if ["async", "fn", "pub"].contains(&i.to_string().as_str())))
        .cloned()
        .collect();
    let is_async = tokens
        .iter()
        .take_while(|t| !matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
        .any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"));
    let variant = |backend: &str| -> String {
        if is_async {
            format!(
                "{attributes} #[tokio::test(flavor = \"multi_thread\", worker_threads = 2)] \
                 async fn {backend}() {{ \
                     if let Some(backend) = crate::helpers::Backend::{backend}() {{ \
                         crate::helpers::BACKEND.scope(backend, async move BODY).await \
                     }} \
                 }}"
            )
        } else {
            // A synchronous test (one that drives the real binary) gets its backend through a thread-local.
            format!(
                "{attributes} #[test] fn {backend}() {{ \
                     crate::helpers::run_sync(crate::helpers::Backend::{backend}(), move || BODY) \
                 }}"
            )
        }
    };
    let module = format!(
        "mod {name} {{ #[allow(unused_imports)] use super::*; {} {} }}",
        variant("sqlite"),
        variant("postgres")
    );
    // Splice the body in as tokens (not text) so its spans, and so its error messages, stay the original ones.
    let parsed: TokenStream = module.parse().expect("generated test module");
    replace_body(parsed, &body)
}

/// Replaces every `BODY` identifier in `stream` with the function's body group.
fn replace_body(stream: TokenStream, body: &Group) -> TokenStream {
    stream
        .into_iter()
        .map(|token| match token {
            TokenTree::Ident(ref i) if i.to_string() == "BODY" => TokenTree::Group(body.clone()),
            TokenTree::Group(g) => {
                let mut inner = Group::new(g.delimiter(), replace_body(g.stream(), body));
                inner.set_span(g.span());
                TokenTree::Group(inner)
            }
            other => other,
        })
        .collect()
}
