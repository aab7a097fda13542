//! Which scopes each implemented operation accepts, as Zoom's OpenAPI files list them (`x-macro-scopes` are the
//! classic scopes, `x-granular-scopes` the granular ones; holding any one suffices). A test checks this table
//! against the vendored spec files in `spec/`, so it cannot drift from them; the same test checks each operation's
//! rate-limit label.

use crate::domain::rate_limits::Label;
use crate::domain::user::Role;
use crate::error::ApiError;
use crate::gate::Principal;

/// One implemented operation and the scopes that allow it.
#[derive(Debug, PartialEq, Eq)]
pub struct Operation {
    pub id: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    /// The quota a call spends (the spec's *Rate Limit Label*).
    pub label: Label,
    pub classic: &'static [&'static str],
    pub granular: &'static [&'static str],
    /// The role permissions (`x-permissions`) the acting user needs when the app acts with account-level scopes.
    pub permissions: &'static [&'static str],
}

pub const USERS: Operation = Operation {
    id: "users",
    label: Label::Medium,
    method: "GET",
    path: "/users",
    classic: &[
        "user:read",
        "user:write",
        "user:read:admin",
        "user:write:admin",
    ],
    granular: &["user:read:list_users:admin"],
    permissions: &["User:Read"],
};

pub const USER_CREATE: Operation = Operation {
    id: "userCreate",
    label: Label::Light,
    method: "POST",
    path: "/users",
    classic: &["user:write", "user:write:admin"],
    granular: &["user:write:user:admin"],
    permissions: &["User:Edit"],
};

pub const USER_EMAIL: Operation = Operation {
    id: "userEmail",
    label: Label::Light,
    method: "GET",
    path: "/users/email",
    classic: &[
        "user:read",
        "user:write",
        "user:read:admin",
        "user:write:admin",
    ],
    granular: &["user:read:email", "user:read:email:admin"],
    permissions: &["User:Read"],
};

pub const USER: Operation = Operation {
    id: "user",
    label: Label::Light,
    method: "GET",
    path: "/users/{userId}",
    classic: &[
        "user:read",
        "user:write",
        "user:read:admin",
        "user:write:admin",
        "user_profile",
        "user_info:read",
    ],
    granular: &["user:read:user", "user:read:user:admin"],
    permissions: &["User:Read"],
};

pub const USER_UPDATE: Operation = Operation {
    id: "userUpdate",
    label: Label::Light,
    method: "PATCH",
    path: "/users/{userId}",
    classic: &["user:write:admin", "user:write"],
    granular: &["user:update:user", "user:update:user:admin"],
    permissions: &["User:Edit"],
};

pub const USER_DELETE: Operation = Operation {
    id: "userDelete",
    label: Label::Light,
    method: "DELETE",
    path: "/users/{userId}",
    classic: &["user:write:admin", "user:write"],
    granular: &["user:delete:user", "user:delete:user:admin"],
    permissions: &["User:Edit"],
};

pub const USER_STATUS: Operation = Operation {
    id: "userStatus",
    label: Label::Light,
    method: "PUT",
    path: "/users/{userId}/status",
    classic: &["user:write:admin", "user:write"],
    granular: &["user:update:status", "user:update:status:admin"],
    permissions: &["User:Edit"],
};

pub const USER_PASSWORD: Operation = Operation {
    id: "userPassword",
    label: Label::Medium,
    method: "PUT",
    path: "/users/{userId}/password",
    classic: &["user:write:admin", "user:write"],
    granular: &["user:update:password", "user:update:password:admin"],
    permissions: &["User:Edit"],
};

pub const USER_SSO_TOKEN_DELETE: Operation = Operation {
    id: "userSSOTokenDelete",
    label: Label::Light,
    method: "DELETE",
    path: "/users/{userId}/token",
    classic: &["user:write:admin", "user:write"],
    granular: &["user:delete:token", "user:delete:token:admin"],
    permissions: &["User:Edit"],
};

pub const USER_ASSISTANTS: Operation = Operation {
    id: "userAssistants",
    label: Label::Medium,
    method: "GET",
    path: "/users/{userId}/assistants",
    classic: &[
        "user:read",
        "user:write",
        "user:read:admin",
        "user:write:admin",
        "user_profile",
    ],
    granular: &[
        "user:read:list_assistants",
        "user:read:list_assistants:admin",
    ],
    permissions: &["User:Read"],
};

pub const USER_ASSISTANT_CREATE: Operation = Operation {
    id: "userAssistantCreate",
    label: Label::Medium,
    method: "POST",
    path: "/users/{userId}/assistants",
    classic: &["user:write:admin", "user:write"],
    granular: &["user:write:assistant", "user:write:assistant:admin"],
    permissions: &["User:Edit"],
};

pub const USER_ASSISTANTS_DELETE: Operation = Operation {
    id: "userAssistantsDelete",
    label: Label::Light,
    method: "DELETE",
    path: "/users/{userId}/assistants",
    classic: &["user:write:admin", "user:write"],
    granular: &["user:delete:assistant", "user:delete:assistant:admin"],
    permissions: &["User:Edit"],
};

pub const USER_ASSISTANT_DELETE: Operation = Operation {
    id: "userAssistantDelete",
    label: Label::Light,
    method: "DELETE",
    path: "/users/{userId}/assistants/{assistantId}",
    classic: &["user:write:admin", "user:write"],
    granular: &["user:delete:assistant", "user:delete:assistant:admin"],
    permissions: &["User:Edit"],
};

pub const USER_SCHEDULERS: Operation = Operation {
    id: "userSchedulers",
    label: Label::Medium,
    method: "GET",
    path: "/users/{userId}/schedulers",
    classic: &[
        "user:read",
        "user:write",
        "user:read:admin",
        "user:write:admin",
        "user_profile",
    ],
    granular: &[
        "user:read:list_schedulers",
        "user:read:list_schedulers:admin",
    ],
    permissions: &["User:Read"],
};

pub const USER_SCHEDULERS_DELETE: Operation = Operation {
    id: "userSchedulersDelete",
    label: Label::Light,
    method: "DELETE",
    path: "/users/{userId}/schedulers",
    classic: &["user:write:admin", "user:write"],
    granular: &["user:delete:scheduler", "user:delete:scheduler:admin"],
    permissions: &["User:Edit"],
};

pub const USER_SCHEDULER_DELETE: Operation = Operation {
    id: "userSchedulerDelete",
    label: Label::Light,
    method: "DELETE",
    path: "/users/{userId}/schedulers/{schedulerId}",
    classic: &["user:write:admin", "user:write"],
    granular: &["user:delete:scheduler", "user:delete:scheduler:admin"],
    permissions: &["User:Edit"],
};

pub const ACCOUNT_SETTINGS: Operation = Operation {
    id: "accountSettings",
    label: Label::Medium,
    method: "GET",
    path: "/accounts/{accountId}/settings",
    classic: &["account:read:admin"],
    granular: &[
        "account:read:settings:admin",
        "account:read:settings:master",
    ],
    permissions: &["AccountSetting:Read"],
};

pub const ACCOUNT_SETTINGS_UPDATE: Operation = Operation {
    id: "accountSettingsUpdate",
    label: Label::Medium,
    method: "PATCH",
    path: "/accounts/{accountId}/settings",
    classic: &["account:write:admin"],
    granular: &[
        "account:update:settings:admin",
        "account:update:settings:master",
    ],
    permissions: &["AccountProfile:Edit", "AccountSetting:Edit"],
};

/// Every implemented `/v2` operation.
pub const ALL: &[&Operation] = &[
    &USERS,
    &USER_CREATE,
    &USER_EMAIL,
    &USER,
    &USER_UPDATE,
    &USER_DELETE,
    &USER_STATUS,
    &USER_PASSWORD,
    &USER_SSO_TOKEN_DELETE,
    &USER_ASSISTANTS,
    &USER_ASSISTANT_CREATE,
    &USER_ASSISTANTS_DELETE,
    &USER_ASSISTANT_DELETE,
    &USER_SCHEDULERS,
    &USER_SCHEDULERS_DELETE,
    &USER_SCHEDULER_DELETE,
    &ACCOUNT_SETTINGS,
    &ACCOUNT_SETTINGS_UPDATE,
];

/// Account-level scopes (`…:admin`, `…:master`) let an app act on any user of its account; user-level ones
/// only on the user who authorized it, addressed as `me`.
fn is_account_level(scope: &str) -> bool {
    scope.ends_with(":admin") || scope.ends_with(":master")
}

impl Operation {
    /// Whether the principal may call this operation on `user_ref` (`None` for operations without a user).
    /// A user-level scope naming any other user than `me` (even the caller's own id) counts as missing, as Zoom
    /// does for user-managed apps.
    pub fn authorize(&self, principal: &Principal, user_ref: Option<&str>) -> Result<(), ApiError> {
        let accepted: Vec<&str> = self
            .classic
            .iter()
            .chain(self.granular)
            .copied()
            .filter(|scope| principal.scopes.iter().any(|s| s == scope))
            .collect();
        let account_level = accepted.iter().any(|s| is_account_level(s));
        if !account_level && (accepted.is_empty() || !matches!(user_ref, None | Some("me"))) {
            return Err(ApiError::MissingScopes(self.granular.join(", ")));
        }
        // Account-level access is only as wide as the acting user's role: owners and admins hold these
        // permissions, members none (they may still act on themselves through `me`). An operation on no one user
        // (listing, creating, e-mail checks) reaches the whole account, so it needs the permission whatever the
        // scope's level.
        let whole_account = user_ref.is_none();
        if (account_level || whole_account)
            && principal.role == Role::Member
            && user_ref != Some("me")
        {
            return Err(ApiError::NotAllowed(format!(
                "Invalid access token. Does not contain permissions [{}].",
                self.permissions.join(", ")
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rate_limits::{AccountLimits, Plan};
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
        let extensions = &spec["paths"][op.path][op.method.to_lowercase()]["x-extensions"];
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
        let users: Value =
            serde_json::from_str(include_str!("../../spec/zoom-users-api.endpoints.json")).unwrap();
        let accounts: Value =
            serde_json::from_str(include_str!("../../spec/zoom-accounts-api.endpoints.json"))
                .unwrap();
        for op in ALL {
            let spec = if op.path.starts_with("/accounts") {
                &accounts
            } else {
                &users
            };
            let operation = &spec["paths"][op.path][op.method.to_lowercase()];
            assert_eq!(operation["operationId"], op.id, "{} {}", op.method, op.path);
            let (classic, granular, permissions) = spec_operation(spec, op);
            assert_eq!(op.classic, classic, "{}", op.id);
            assert_eq!(op.granular, granular, "{}", op.id);
            assert_eq!(op.permissions, permissions, "{}", op.id);
            assert_eq!(op.label, spec_label(operation), "{}", op.id);
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
        }
    }

    #[test]
    fn any_listed_scope_suffices_and_user_level_scopes_only_reach_me() {
        let admin = principal(&["user:update:status:admin"]);
        assert_eq!(USER_STATUS.authorize(&admin, Some("someone")), Ok(()));
        let classic = principal(&["user:write:admin"]);
        assert_eq!(USER_STATUS.authorize(&classic, Some("someone")), Ok(()));
        let user_level = principal(&["user:write"]);
        assert_eq!(USER_STATUS.authorize(&user_level, Some("me")), Ok(()));
        let missing = Err(ApiError::MissingScopes(
            "user:update:status, user:update:status:admin".into(),
        ));
        assert_eq!(USER_STATUS.authorize(&user_level, Some("u")), missing);
        assert_eq!(
            USER_STATUS.authorize(&principal(&["user:read:admin"]), Some("me")),
            missing
        );
    }
}
