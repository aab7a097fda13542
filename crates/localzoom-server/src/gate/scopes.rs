//! Whether a principal may call an operation: the scopes and role permissions of its entry in the operation
//! table (`localzoom_api::operations`), as Zoom's OpenAPI files list them (`x-macro-scopes` are the classic
//! scopes, `x-granular-scopes` the granular ones; holding any one suffices). A test checks every entry against
//! the vendored spec files in `spec/` (id, method, path, label, scopes, permissions), so it cannot drift from them.

pub use localzoom_api::operations::{OPERATIONS, Operation, OperationId};

use crate::domain::user::Role;
use crate::error::ApiError;
use crate::gate::Principal;

/// Account-level scopes (`…:admin`, `…:master`) let an app act on any user of its account; user-level ones
/// only on the user who authorized it, addressed as `me`.
fn is_account_level(scope: &str) -> bool {
    // `scim2`, classic as it is, provisions the whole account: SCIM has no user-level form.
    scope.ends_with(":admin") || scope.ends_with(":master") || scope == "scim2"
}

/// Whether the principal may call the operation on `user_ref` (`None` for operations without a user). A
/// user-level scope naming any other user than `me` (even the caller's own id) counts as missing, as Zoom does
/// for user-managed apps.
pub fn authorize(
    operation: &Operation,
    principal: &Principal,
    user_ref: Option<&str>,
) -> Result<(), ApiError> {
    let accepted: Vec<&str> = operation
        .classic
        .iter()
        .chain(operation.granular)
        .copied()
        .filter(|scope| principal.scopes.iter().any(|s| s == scope))
        .collect();
    let account_level = accepted.iter().any(|s| is_account_level(s));
    if !account_level && (accepted.is_empty() || !matches!(user_ref, None | Some("me"))) {
        return Err(ApiError::MissingScopes(operation.granular.join(", ")));
    }
    // Account-level access is only as wide as the acting user's role: owners and admins hold these
    // permissions, members none (they may still act on themselves through `me`). An operation on no one user
    // (listing, creating, e-mail checks) reaches the whole account, so it needs the permission whatever the
    // scope's level.
    let whole_account = user_ref.is_none();
    if (account_level || whole_account) && principal.role == Role::Member && user_ref != Some("me")
    {
        return Err(ApiError::MissingPermissions(
            operation.permissions.join(", "),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rate_limits::{AccountLimits, Label, Plan};
    use crate::spec::SpecFile;
    use localzoom_api::operations::Success;
    use serde_json::Value;

    /// The label in the operation's description: `**[Rate Limit Label](…):** `LIGHT``, in any case.
    fn spec_label(operation: &Value) -> Label {
        let description = operation["description"].as_str().unwrap();
        let at = description.find("Rate Limit Label").expect("a label");
        let rest = description[at..]
            .split_once(":**")
            .expect("the label's value")
            .1;
        let word: String = rest
            .trim_start_matches([' ', '`'])
            .chars()
            .take_while(|c| c.is_ascii_alphabetic() || *c == '-')
            .collect();
        Label::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(&word))
            .unwrap_or_else(|| panic!("unknown label {word:?}"))
    }

    fn spec_operation(spec: &Value, op: &Operation) -> (Vec<String>, Vec<String>, Vec<String>) {
        let extensions = &spec["paths"][op.path][op.method.openapi_key()]["x-extensions"];
        let list = |key: &str| -> Vec<String> {
            extensions[key]
                .as_array()
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        (
            list("x-macro-scopes"),
            list("x-granular-scopes"),
            list("x-permissions"),
        )
    }

    #[test]
    fn the_table_matches_zooms_spec_files() {
        let specs: Vec<(SpecFile, Value)> = SpecFile::ALL
            .into_iter()
            .map(|file| (file, serde_json::from_str(file.text()).unwrap()))
            .collect();
        for op in OPERATIONS {
            let file = SpecFile::of(op);
            let spec = &specs.iter().find(|(f, _)| *f == file).unwrap().1;
            let operation = &spec["paths"][op.path][op.method.openapi_key()];
            let at = format!("{} {}", op.method.as_str(), op.path);
            assert_eq!(operation["operationId"], op.name, "{at}");
            let (classic, granular, permissions) = spec_operation(spec, op);
            assert_eq!(op.classic, classic, "{}", op.name);
            assert_eq!(op.granular, granular, "{}", op.name);
            assert_eq!(op.permissions, permissions, "{}", op.name);
            assert_eq!(op.label, spec_label(operation), "{}", op.name);
            let status = match op.success {
                Success::Json { status, .. } => status,
                Success::NoContent => 204,
            };
            // docs/fidelity.md row 1: `PUT …/status` answers 204 where today's spec says 200 (the seed and the
            // sibling PUTs say 204).
            let documented = if op.name == "userStatus" { 200 } else { status };
            assert!(
                operation["responses"].get(documented.to_string()).is_some(),
                "{}: Zoom's spec answers no {documented}",
                op.name
            );
            let path_params: Vec<&str> = op.path_params().collect();
            let spec_params: Vec<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(
                    spec["paths"][op.path]["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten(),
                )
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            for name in &path_params {
                assert!(
                    spec_params.contains(name),
                    "{}: no path parameter {name} in Zoom's spec",
                    op.name
                );
            }
        }
    }

    fn principal(scopes: &[&str]) -> Principal {
        Principal {
            account_id: "a".into(),
            user_id: "u".into(),
            client_id: "c".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            token_sha256: [0; 32],
            role: Role::Owner,
            limits: AccountLimits {
                plan: Plan::Pro,
                overrides: Default::default(),
            },
            account_listened: false,
            account_number: 0,
        }
    }

    #[test]
    fn any_listed_scope_suffices_and_user_level_scopes_only_reach_me() {
        let admin = principal(&["user:update:status:admin"]);
        assert_eq!(
            authorize(OperationId::UserStatus.operation(), &admin, Some("someone")),
            Ok(())
        );
        let classic = principal(&["user:write:admin"]);
        assert_eq!(
            authorize(
                OperationId::UserStatus.operation(),
                &classic,
                Some("someone")
            ),
            Ok(())
        );
        let user_level = principal(&["user:write"]);
        assert_eq!(
            authorize(OperationId::UserStatus.operation(), &user_level, Some("me")),
            Ok(())
        );
        let missing = Err(ApiError::MissingScopes(
            "user:update:status, user:update:status:admin".into(),
        ));
        assert_eq!(
            authorize(OperationId::UserStatus.operation(), &user_level, Some("u")),
            missing
        );
        assert_eq!(
            authorize(
                OperationId::UserStatus.operation(),
                &principal(&["user:read:admin"]),
                Some("me")
            ),
            missing
        );
    }
}
