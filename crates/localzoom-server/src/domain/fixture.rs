//! A fixture document: the accounts, apps and users a test suite starts from (`docs/fixtures.md`), read from JSON
//! or YAML and checked whole before anything is stored. A refusal names the field (`accounts[0].users[2].type`)
//! and, where the parser knows it, the line and column.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

use super::account::{AccountPlan, AppKind};
use super::error::DomainError;
use super::rate_limits::Limit;
use super::user::{CREATABLE_TYPES, LoginType, Role, Status, UserType, is_valid_email};
use super::webhook::NewSubscription;

/// The largest document read.
pub const MAX_FIXTURE_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_ACCOUNTS: usize = 100;
pub const MAX_USERS: usize = 10_000;
/// Each password costs a full argon2id hash when the document is loaded.
pub const MAX_PASSWORDS: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixtureFormat {
    Json,
    Yaml,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    #[serde(default)]
    pub accounts: Vec<FixtureAccount>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureAccount {
    /// Kept as given; a new account gets a generated one (`--seed` makes it repeatable).
    pub id: Option<String>,
    pub plan: Option<AccountPlan>,
    /// Required for a new account; names an existing one when `id` is not given.
    pub owner_email: Option<String>,
    pub max_basic_users: Option<u32>,
    /// Limit names as `localzoom accounts set-limits` takes them (`light`, `user-create-daily`, …) to a count,
    /// or null for no limit.
    #[serde(default)]
    pub rate_limits: BTreeMap<String, Option<u32>>,
    #[serde(default)]
    pub apps: Vec<FixtureApp>,
    #[serde(default)]
    pub users: Vec<FixtureUser>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureApp {
    #[serde(rename = "type", default = "server_to_server")]
    pub kind: AppKind,
    pub client_id: String,
    /// Required for a new app; without it, the entry names an existing app (to add subscriptions to it).
    pub client_secret: Option<String>,
    /// Space-separated, or a list; the kind's default scopes when absent.
    pub scopes: Option<Scopes>,
    pub redirect_uri: Option<String>,
    /// The app's event subscriptions (`docs/webhooks.md`).
    #[serde(default)]
    pub webhooks: Vec<NewSubscription>,
}

fn server_to_server() -> AppKind {
    AppKind::S2s
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scopes {
    Text(String),
    List(Vec<String>),
}

impl Scopes {
    pub fn names(&self) -> Vec<String> {
        match self {
            Scopes::Text(text) => text.split_whitespace().map(str::to_string).collect(),
            Scopes::List(list) => list.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureUser {
    /// Kept as given; a new user gets a generated one.
    pub id: Option<String>,
    pub email: String,
    /// 1 (Basic) when absent (a code, checked by `check`: `user_type()` reads it).
    #[serde(rename = "type")]
    pub user_type: Option<i64>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    /// `member` when absent; `owner` only for the account's owner.
    pub role: Option<Role>,
    /// `active` when absent.
    pub status: Option<Status>,
    /// 100 (work e-mail) when absent (`login_type()`).
    pub login_type: Option<i64>,
    pub password: Option<String>,
    pub pmi: Option<i64>,
    pub timezone: Option<String>,
    pub dept: Option<String>,
    pub language: Option<String>,
    /// Users of the same account (ids or e-mails) who become this user's assistants.
    #[serde(default)]
    pub assistants: Vec<String>,
    /// Users of the same account (ids or e-mails) whose assistant this user becomes.
    #[serde(default)]
    pub schedulers: Vec<String>,
    /// As `PATCH /users/{userId}/settings` takes them, checked against Zoom's schema.
    pub settings: Option<Value>,
    #[serde(default)]
    pub sessions: Vec<FixtureSession>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSession {
    /// A session with this id is added once; without one, a session of this login type is added unless one is
    /// open already (so loading twice adds nothing).
    pub id: Option<String>,
    pub login_type: i64,
}

impl FixtureSession {
    pub fn login_type(&self) -> LoginType {
        LoginType::from_code(self.login_type).unwrap_or(LoginType::WorkEmail)
    }
}

impl FixtureUser {
    pub fn user_type(&self) -> Option<UserType> {
        self.user_type.and_then(UserType::from_code)
    }

    pub fn login_type(&self) -> Option<LoginType> {
        self.login_type.and_then(LoginType::from_code)
    }
}

/// Reads and checks a document.
pub fn parse(bytes: &[u8], format: FixtureFormat) -> Result<Fixture, DomainError> {
    if bytes.len() > MAX_FIXTURE_BYTES {
        return Err(DomainError::field(
            "fixture",
            &format!("A fixture may hold at most {MAX_FIXTURE_BYTES} bytes."),
        ));
    }
    let refused = |path: String, message: String| {
        let field = if path == "." { "fixture".into() } else { path };
        DomainError::field(&field, &message)
    };
    let fixture: Fixture = match format {
        FixtureFormat::Json => {
            let mut reader = serde_json::Deserializer::from_slice(bytes);
            let fixture = serde_path_to_error::deserialize(&mut reader)
                .map_err(|e| refused(e.path().to_string(), e.inner().to_string()))?;
            reader
                .end()
                .map_err(|e| refused(".".into(), e.to_string()))?;
            fixture
        }
        FixtureFormat::Yaml => {
            serde_path_to_error::deserialize(serde_yaml::Deserializer::from_slice(bytes))
                .map_err(|e| refused(e.path().to_string(), e.inner().to_string()))?
        }
    };
    check(&fixture)?;
    Ok(fixture)
}

/// Ids travel in paths and command lines: URL-safe characters, at most 64.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn text_within(text: &Option<String>, max: usize) -> bool {
    text.as_deref()
        .is_none_or(|t| t.chars().count() <= max && !t.chars().any(char::is_control))
}

/// The checks a document passes before anything is stored (those that need stored state are the loader's).
fn check(fixture: &Fixture) -> Result<(), DomainError> {
    let bad = |field: String, message: &str| Err(DomainError::field(&field, message));
    if fixture.accounts.len() > MAX_ACCOUNTS {
        return bad(
            "accounts".into(),
            "A fixture may hold at most 100 accounts.",
        );
    }
    let users: usize = fixture.accounts.iter().map(|a| a.users.len()).sum();
    if users > MAX_USERS {
        return bad("accounts".into(), "A fixture may hold at most 10000 users.");
    }
    let passwords = fixture
        .accounts
        .iter()
        .flat_map(|a| &a.users)
        .filter(|u| u.password.is_some())
        .count();
    if passwords > MAX_PASSWORDS {
        return bad(
            "accounts".into(),
            "A fixture may hold at most 1000 passwords.",
        );
    }
    let mut emails = HashSet::new();
    let mut client_ids = HashSet::new();
    for (a, account) in fixture.accounts.iter().enumerate() {
        let at = format!("accounts[{a}]");
        if account.id.as_deref().is_some_and(|id| !valid_id(id)) {
            return bad(
                format!("{at}.id"),
                "An id is 1 to 64 letters, digits, - and _.",
            );
        }
        if account.id.is_none() && account.owner_email.is_none() {
            return bad(
                format!("{at}.owner_email"),
                "An account without an id is named by its owner's e-mail.",
            );
        }
        if let Some(owner) = &account.owner_email
            && (!is_valid_email(owner) || owner.len() > 128)
        {
            return bad(format!("{at}.owner_email"), "Invalid field.");
        }
        for name in account.rate_limits.keys() {
            if Limit::parse(name).is_none() {
                return bad(
                    format!("{at}.rate_limits.{name}"),
                    "Not a limit localzoom knows (see `localzoom accounts set-limits --help`).",
                );
            }
        }
        for (p, app) in account.apps.iter().enumerate() {
            let at = format!("{at}.apps[{p}]");
            if !valid_id(&app.client_id) {
                return bad(
                    format!("{at}.client_id"),
                    "An id is 1 to 64 letters, digits, - and _.",
                );
            }
            if !client_ids.insert(app.client_id.as_str()) {
                return bad(format!("{at}.client_id"), "This client id is given twice.");
            }
            if app
                .client_secret
                .as_ref()
                .is_some_and(|secret| secret.len() < 8 || secret.len() > 256)
            {
                return bad(
                    format!("{at}.client_secret"),
                    "A client secret is 8 to 256 characters.",
                );
            }
            for (w, webhook) in app.webhooks.iter().enumerate() {
                if let Err(DomainError::Invalid(why)) = webhook.check() {
                    return bad(format!("{at}.webhooks[{w}]"), &why);
                }
            }
            if app.kind == AppKind::User && app.redirect_uri.as_deref().is_none_or(str::is_empty) {
                return bad(
                    format!("{at}.redirect_uri"),
                    "A user-managed app needs a redirect URI.",
                );
            }
        }
        for (u, user) in account.users.iter().enumerate() {
            let at = format!("{at}.users[{u}]");
            if user.id.as_deref().is_some_and(|id| !valid_id(id)) {
                return bad(
                    format!("{at}.id"),
                    "An id is 1 to 64 letters, digits, - and _.",
                );
            }
            if !is_valid_email(&user.email) || user.email.len() > 128 {
                return bad(format!("{at}.email"), "Invalid field.");
            }
            if !emails.insert(user.email.to_lowercase()) {
                return bad(format!("{at}.email"), "This e-mail is given twice.");
            }
            for (name, text, max) in [
                ("first_name", &user.first_name, 64),
                ("last_name", &user.last_name, 64),
                ("display_name", &user.display_name, 128),
                ("timezone", &user.timezone, 64),
                ("dept", &user.dept, 256),
                ("language", &user.language, 16),
            ] {
                if !text_within(text, max) {
                    return bad(format!("{at}.{name}"), "Invalid field.");
                }
            }
            let owner = account
                .owner_email
                .as_deref()
                .is_some_and(|o| o.eq_ignore_ascii_case(&user.email));
            if user.role == Some(Role::Owner) && !owner {
                return bad(
                    format!("{at}.role"),
                    "Only the account's owner_email is its owner.",
                );
            }
            if user.user_type.is_some_and(|code| {
                UserType::from_code(code).is_none_or(|t| !CREATABLE_TYPES.contains(&t))
            }) {
                return bad(format!("{at}.type"), "A user type is 1, 2, 4 or 99.");
            }
            if user
                .login_type
                .is_some_and(|code| LoginType::from_code(code).is_none())
            {
                return bad(format!("{at}.login_type"), "Not a login type of Zoom's.");
            }
            for (s, session) in user.sessions.iter().enumerate() {
                if LoginType::from_code(session.login_type).is_none() {
                    return bad(
                        format!("{at}.sessions[{s}].login_type"),
                        "Not a login type of Zoom's.",
                    );
                }
                if session.id.as_deref().is_some_and(|id| !valid_id(id)) {
                    return bad(
                        format!("{at}.sessions[{s}].id"),
                        "An id is 1 to 64 letters, digits, - and _.",
                    );
                }
            }
            if let Some(password) = &user.password {
                let length = password.chars().count();
                if !(8..=32).contains(&length) {
                    return bad(
                        format!("{at}.password"),
                        "A password is 8 to 32 characters.",
                    );
                }
                if user.login_type().is_some_and(|t| t != LoginType::WorkEmail) {
                    return bad(
                        format!("{at}.password"),
                        "Only a work-email user (login_type 100) has a Zoom password.",
                    );
                }
            }
            if user
                .pmi
                .is_some_and(|pmi| !(1_000_000_000..=9_999_999_999).contains(&pmi))
            {
                return bad(format!("{at}.pmi"), "A PMI is 10 digits.");
            }
            for (name, refs) in [
                ("assistants", &user.assistants),
                ("schedulers", &user.schedulers),
            ] {
                if refs.len() > 30 {
                    return bad(format!("{at}.{name}"), "At most 30.");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str, format: FixtureFormat) -> (String, String) {
        match parse(text.as_bytes(), format) {
            Err(DomainError::Validation(errors)) => {
                (errors[0].field.clone(), errors[0].message.clone())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_name_the_field_and_the_line() {
        let (field, message) = refusal(
            "accounts:\n  - id: A1\n    users:\n      - email: a@b.test\n        type: 7\n",
            FixtureFormat::Yaml,
        );
        assert_eq!(field, "accounts[0].users[0].type");
        assert_eq!(message, "A user type is 1, 2, 4 or 99.");
        let (field, message) = refusal(
            "accounts:\n  - id: A1\n    users:\n      - email: a@b.test\n        status: gone\n",
            FixtureFormat::Yaml,
        );
        assert_eq!(field, "accounts[0].users[0].status");
        assert!(message.contains("line 5"), "{message}");
        let (field, message) = refusal(
            "{\"accounts\": [{\"id\": \"A1\",\n \"colour\": 1}]}",
            FixtureFormat::Json,
        );
        assert_eq!(field, "accounts[0].colour");
        assert!(
            message.contains("unknown field `colour`") && message.contains("line 2"),
            "{message}"
        );
        assert_eq!(
            refusal("{\"accounts\": [{\"id\": \"A 1\"}]}", FixtureFormat::Json).0,
            "accounts[0].id"
        );
        assert_eq!(
            refusal(
                "accounts: [{owner_email: o@x.test, users: [{email: a@x.test, role: owner}]}]",
                FixtureFormat::Yaml
            )
            .0,
            "accounts[0].users[0].role"
        );
        assert_eq!(refusal("\"users\"", FixtureFormat::Json).0, "fixture");
    }

    #[test]
    fn json_and_yaml_read_the_same_document() {
        let json = r#"{"accounts": [{"id": "A1", "plan": "business", "owner_email": "o@x.test",
            "apps": [{"client_id": "c1", "client_secret": "secret-1", "scopes": "user:read:admin"}],
            "users": [{"email": "a@x.test", "type": 2, "status": "inactive", "login_type": 101}]}]}"#;
        let yaml = "accounts:\n- id: A1\n  plan: business\n  owner_email: o@x.test\n  apps:\n  - client_id: c1\n    \
                    client_secret: secret-1\n    scopes: user:read:admin\n  users:\n  - email: a@x.test\n    type: 2\n    \
                    status: inactive\n    login_type: 101\n";
        let from_json = parse(json.as_bytes(), FixtureFormat::Json).unwrap();
        assert_eq!(
            from_json,
            parse(yaml.as_bytes(), FixtureFormat::Yaml).unwrap()
        );
        let user = &from_json.accounts[0].users[0];
        assert_eq!(user.user_type(), Some(UserType::Licensed));
        assert_eq!(user.status, Some(Status::Inactive));
        assert_eq!(from_json.accounts[0].apps[0].kind, AppKind::S2s);
    }
}

#[cfg(test)]
mod fuzz_targets {
    use super::*;
    use crate::fuzz::fuzz;

    /// Any bytes, read as JSON or as YAML (anchors, aliases, deep nesting, huge numbers), give a fixture or a
    /// refusal naming a field; never a panic or a hang.
    #[test]
    fn fuzz_fixture_documents() {
        fuzz(
            "fixture_documents",
            &[
                b"accounts:",
                b"\n",
                b"- ",
                b"  ",
                b"{",
                b"}",
                b"[",
                b"]",
                b"\"",
                b":",
                b",",
                b"id: A1",
                b"users:",
                b"apps:",
                b"email: a@b.test",
                b"&a ",
                b"*a",
                b"!!str ",
                b"type: 2",
                b"password: ",
                b"sessions:",
                b"login_type: 101",
                b"{\"accounts\":[{",
                b"\"users\":[{",
                b"\"email\":\"a@b.test\"",
                b"1e999",
                b"-1",
                b"null",
                b"~",
                b"<<: *a",
                b"---",
                b"settings: {",
                b"assistants: [",
            ],
            |input| {
                for format in [FixtureFormat::Json, FixtureFormat::Yaml] {
                    if let Err(refusal) = parse(input, format) {
                        assert!(matches!(refusal, DomainError::Validation(ref e) if !e.is_empty()));
                    }
                }
            },
        );
    }
}
