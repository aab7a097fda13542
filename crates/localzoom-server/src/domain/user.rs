//! The user record and the rules of its lifecycle (create, status, delete).

use crate::domain::error::DomainError;
use serde_json::{Map, Value};

/// A closed set of Zoom's integer codes: an integer on the wire, in the database and in exports; a code this
/// version does not know is refused wherever it is read.
macro_rules! zoom_codes {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(into = "i64", try_from = "i64")]
        pub enum $name {
            $($(#[$vmeta])* $variant = $code),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn code(self) -> i64 {
                self as i64
            }

            /// The code as text (command-line values).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($code)),+
                }
            }

            pub fn from_code(code: i64) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl From<$name> for i64 {
            fn from(value: $name) -> i64 {
                value.code()
            }
        }

        impl TryFrom<i64> for $name {
            type Error = String;

            fn try_from(code: i64) -> Result<$name, String> {
                $name::from_code(code).ok_or_else(|| format!("unknown {} {code}", stringify!($name)))
            }
        }
    };
}

zoom_codes! {
    /// Zoom's login types (`login_type` / `login_types[]`): how a user signs in.
    LoginType {
        Facebook = 0,
        Google = 1,
        Phone = 11,
        WeChat = 21,
        Alipay = 23,
        Apple = 24,
        Microsoft = 27,
        MobileDevice = 97,
        RingCentral = 98,
        ApiUser = 99,
        WorkEmail = 100,
        Sso = 101,
    }
}

zoom_codes! {
    /// Zoom's user types (`type`): the licence a user holds.
    UserType {
        Basic = 1,
        Licensed = 2,
        /// Older specs' "On-prem"; no request sets it, an import may carry it.
        OnPrem = 3,
        Unassigned = 4,
        /// "None": only `ssoCreate` users.
        None = 99,
    }
}

/// The types `POST /users` accepts.
pub const CREATABLE_TYPES: [UserType; 4] = [
    UserType::Basic,
    UserType::Licensed,
    UserType::Unassigned,
    UserType::None,
];

localzoom_api::wire_names! {
    /// A user's role in the account (Zoom's built-in roles).
    Role {
        Owner = "owner",
        Admin = "admin",
        Member = "member",
    }
}

impl Role {
    /// Zoom's `role_name`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Member => "Member",
        }
    }
    /// Zoom's `role_id`: `0` owner, `1` admin, `2` member (the ids of Zoom's built-in roles).
    pub fn id(self) -> &'static str {
        match self {
            Role::Owner => "0",
            Role::Admin => "1",
            Role::Member => "2",
        }
    }
    pub fn from_id(id: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.id() == id)
    }
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

localzoom_api::wire_names! {
    /// A user's status (`GET /users?status=`).
    Status {
        Pending = "pending",
        Active = "active",
        Inactive = "inactive",
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UserRecord {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub user_type: UserType,
    pub role: Role,
    pub status: Status,
    pub login_type: LoginType,
    pub pmi: i64,
    pub use_pmi: bool,
    pub timezone: String,
    pub dept: String,
    pub language: String,
    pub verified: bool,
    pub is_zoom_room: bool,
    pub upcoming_zoom_events: bool,
    pub password_hash: Option<String>,
    /// Other profile fields set by `PATCH /users/{userId}` (company, job_title, location, …), as Zoom names them.
    pub profile: Map<String, Value>,
    pub created_at: i64,
    pub last_login_time: Option<i64>,
    /// The personal meeting room's name (`vanity_name`), unique across Zoom (case aside).
    #[serde(default)]
    pub vanity_name: Option<String>,
}

impl UserRecord {
    /// A user as one starts: a pending Member with a Basic licence who signs in with a work e-mail, no names, no
    /// profile, `en-US`. Callers set what differs (`UserRecord { role, ..UserRecord::new(…) }`); a new column's
    /// default goes here.
    pub fn new(id: String, account_id: &str, email: &str, created_at: i64) -> UserRecord {
        UserRecord {
            id,
            account_id: account_id.to_string(),
            email: email.to_string(),
            first_name: String::new(),
            last_name: String::new(),
            display_name: String::new(),
            user_type: UserType::Basic,
            role: Role::Member,
            status: Status::Pending,
            login_type: LoginType::WorkEmail,
            pmi: 0,
            use_pmi: false,
            timezone: String::new(),
            dept: String::new(),
            language: "en-US".into(),
            verified: false,
            is_zoom_room: false,
            upcoming_zoom_events: false,
            password_hash: None,
            profile: Map::new(),
            created_at,
            last_login_time: None,
            vanity_name: None,
        }
    }
}

/// The state a new user starts in and how they sign in, by how they were created.
pub fn initial_state(action: CreateAction) -> (Status, LoginType) {
    match action {
        CreateAction::Create => (Status::Pending, LoginType::WorkEmail),
        CreateAction::AutoCreate => (Status::Active, LoginType::WorkEmail),
        CreateAction::CustCreate => (Status::Active, LoginType::ApiUser),
        CreateAction::SsoCreate => (Status::Active, LoginType::Sso),
    }
}

/// `GET /users/summary` from the account's users counted by (type, status, Zoom Room). Pending users are counted
/// apart; the others by licence: a Zoom Room as a room whatever its type, types 4 (unassigned) and 99 (none) as
/// join-only (docs/fidelity.md row 84).
pub fn summarize(census: &[(UserType, Status, bool, u64)]) -> localzoom_api::UserSummary {
    let mut summary = localzoom_api::UserSummary::default();
    for &(user_type, status, is_zoom_room, n) in census {
        let bucket = match (status, is_zoom_room, user_type) {
            (Status::Pending, _, _) => &mut summary.pending_users_count,
            (_, true, _) => &mut summary.room_users_count,
            (_, false, UserType::Licensed) => &mut summary.licensed_users_count,
            (_, false, UserType::Basic) => &mut summary.basic_users_count,
            (_, false, UserType::OnPrem) => &mut summary.on_prem_users_count,
            (_, false, UserType::Unassigned | UserType::None) => &mut summary.join_only_users_count,
        };
        *bucket += n;
    }
    summary.total_users_count = summary.licensed_users_count
        + summary.basic_users_count
        + summary.on_prem_users_count
        + summary.join_only_users_count
        + summary.room_users_count;
    summary
}

/// `GET /users/{userId}/permissions`: the privileges a role holds among those localzoom enforces (the
/// `x-permissions` of the operations it serves). Owners and admins hold them all; Zoom's built-in Member role holds
/// no admin privilege (docs/fidelity.md row 85).
pub fn permissions(role: Role) -> Vec<String> {
    if !role.is_admin() {
        return Vec::new();
    }
    let mut names: Vec<String> = localzoom_api::operations::OPERATIONS
        .iter()
        .flat_map(|op| op.permissions.iter().map(|p| p.to_string()))
        .collect();
    names.sort();
    names.dedup();
    names
}

pub use localzoom_api::{CreateAction, DeleteAction, PresenceStatus, StatusAction};

/// A user's presence now: `Offline` unless signed in; then what was last set (a Do-Not-Disturb only until it
/// ends), or `Available`. With the end of a Do-Not-Disturb in effect.
pub fn current_presence(
    last_set: Option<(PresenceStatus, Option<i64>)>,
    signed_in: bool,
    now: i64,
) -> (PresenceStatus, Option<i64>) {
    if !signed_in {
        return (PresenceStatus::Offline, None);
    }
    match last_set {
        Some((PresenceStatus::DoNotDisturb, Some(until))) if until > now => {
            (PresenceStatus::DoNotDisturb, Some(until))
        }
        Some((PresenceStatus::DoNotDisturb, _)) | None => (PresenceStatus::Available, None),
        Some((status, _)) => (status, None),
    }
}

/// What a status action does to the user, once allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusEffect {
    /// Status `inactive`, licences removed, every session and every token issued for the user ended.
    Deactivate,
    Activate,
    /// Clock in/out is Workforce Management time tracking: it does not touch `status`.
    None,
}

/// Decides a status action. `basic_users` counts the account's active and pending Basic users.
pub fn decide_status(
    user: &UserRecord,
    action: StatusAction,
    max_basic_users: Option<u32>,
    basic_users: u64,
) -> Result<StatusEffect, DomainError> {
    match action {
        StatusAction::ClockIn | StatusAction::ClockOut => Ok(StatusEffect::None),
        StatusAction::Activate | StatusAction::Deactivate
            if user.role.is_admin() || user.is_zoom_room =>
        {
            Err(DomainError::StatusProtected)
        }
        StatusAction::Deactivate if user.upcoming_zoom_events => {
            Err(DomainError::UpcomingZoomEvents)
        }
        StatusAction::Deactivate => Ok(StatusEffect::Deactivate),
        StatusAction::Activate => {
            // A deactivated Basic user takes a Basic seat again; active and pending users already hold theirs.
            if user.status == Status::Inactive
                && user.user_type == UserType::Basic
                && let Some(max) = max_basic_users
                && basic_users >= u64::from(max)
            {
                return Err(DomainError::BasicUserCap(max));
            }
            Ok(StatusEffect::Activate)
        }
    }
}

pub fn decide_delete(
    user: &UserRecord,
    action: DeleteAction,
    managed_domain: Option<&str>,
) -> Result<(), DomainError> {
    if user.role == Role::Owner {
        return Err(DomainError::NotAllowed(
            "Cannot delete a user out of your account.".into(),
        ));
    }
    if user.is_zoom_room {
        return Err(DomainError::NotAllowed(
            "Cannot delete a Zoom Rooms user.".into(),
        ));
    }
    if action == DeleteAction::Disassociate && user.status != Status::Pending {
        if user.login_type == LoginType::ApiUser {
            return Err(DomainError::Invalid("Unable to unlink API user(s).".into()));
        }
        if user.role == Role::Admin {
            return Err(DomainError::DisassociateAdmin);
        }
        if managed_domain
            .is_some_and(|domain| email_domain(&user.email).eq_ignore_ascii_case(domain))
        {
            return Err(DomainError::DisassociateManagedDomain);
        }
    }
    Ok(())
}

pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// A pragmatic e-mail check: one `@`, a non-empty local part, a dotted domain, no spaces.
/// What only owners and admins may change, also on themselves: Zoom's user-management operations act "as an owner
/// or admin", so a Member's own token reaches its profile, not its licence, status or password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminOnly {
    LicenseType,
    Status,
    Password,
    VanityName,
    Pmi,
    HostKey,
    Email,
    /// The `feature` group of a user's settings (webinar, large meetings, …): licences by another name.
    Features,
}

pub fn require_admin(actor: Role, change: AdminOnly) -> Result<(), DomainError> {
    if actor.is_admin() {
        return Ok(());
    }
    let what = match change {
        AdminOnly::LicenseType => "a user's license type",
        AdminOnly::Status => "a user's status",
        AdminOnly::Password => "a user's password",
        AdminOnly::VanityName => "a vanity name",
        AdminOnly::Pmi => "a Personal Meeting ID (PMI)",
        AdminOnly::HostKey => "the host key",
        AdminOnly::Email => "email",
        AdminOnly::Features => "a user's features",
    };
    Err(DomainError::NotAllowed(format!(
        "Only an account administrator can change {what}."
    )))
}

/// An address as mail systems take it: an RFC 5322 dot-atom local part (at most 64 characters) and a domain of at
/// least two DNS labels (letters, digits, inner hyphens; at most 63 characters each) whose last is not numeric.
/// Quoted local parts, comments and address literals, legal but never seen in Zoom accounts, are refused.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let local_ok = local.len() <= 64
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(atext));
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    local_ok
        && domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

/// Zoom's length limits count characters, not bytes.
pub fn too_long(value: &str, max: usize) -> bool {
    value.chars().count() > max
}

/// Zoom's name limits count Chinese characters apart (S1): first and last names at most 64 characters of which
/// at most 5 Chinese, display names 128 and 10.
pub const NAME_LIMITS: [(&str, usize, usize); 3] = [
    ("first_name", 64, 5),
    ("last_name", 64, 5),
    ("display_name", 128, 10),
];

/// Whether a name of `field` breaks its limits in `NAME_LIMITS`.
pub fn name_too_long(field: &str, value: &str) -> bool {
    let Some(&(_, max, max_chinese)) = NAME_LIMITS.iter().find(|(name, _, _)| *name == field)
    else {
        return false;
    };
    let chinese = value.chars().filter(|c| is_chinese(*c)).count();
    too_long(value, max) || chinese > max_chinese
}

/// CJK unified ideographs (the basic block and extensions A and B).
fn is_chinese(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{20000}'..='\u{2A6DF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_characters_count_apart_in_names() {
        assert!(!name_too_long("first_name", "张三丰小明"));
        assert!(name_too_long("first_name", "张三丰小明华"));
        assert!(!name_too_long("first_name", &"a".repeat(64)));
        assert!(name_too_long("first_name", &"a".repeat(65)));
        assert!(!name_too_long("display_name", "张三丰小明华张三丰小"));
        assert!(name_too_long("display_name", "张三丰小明华张三丰小明"));
    }

    #[test]
    fn e_mail_addresses_are_checked_as_addresses() {
        for good in [
            "jane@example.com",
            "Jane.Doe+zoom@mail.example.co.uk",
            "o'brien@example.com",
            "x@a-b.io",
        ] {
            assert!(is_valid_email(good), "{good}");
        }
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "jane@@example.com",
            "a@b@example.com",
            ".jane@example.com",
            "jane.@example.com",
            "ja..ne@example.com",
            "ja ne@example.com",
            "jane@exa mple.com",
            "jane@-example.com",
            "jane@example-.com",
            "jane@example..com",
            "jane@example.123",
            "jane@exam_ple.com",
            "\"jane\"@example.com",
            "jane\u{0}@example.com",
            "jané@example.com",
        ] {
            assert!(!is_valid_email(bad), "{bad:?}");
        }
        assert!(!is_valid_email(&format!("{}@example.com", "a".repeat(65))));
    }

    fn user(role: Role, status: Status) -> UserRecord {
        UserRecord {
            user_type: UserType::Licensed,
            role,
            status,
            pmi: 1,
            verified: true,
            ..UserRecord::new("u".into(), "a", "a@b.test", 0)
        }
    }

    #[test]
    fn admins_and_owners_cannot_change_status_but_can_clock_in() {
        for role in [Role::Owner, Role::Admin] {
            let u = user(role, Status::Active);
            assert_eq!(
                decide_status(&u, StatusAction::Deactivate, None, 0),
                Err(DomainError::StatusProtected)
            );
            assert_eq!(
                decide_status(&u, StatusAction::ClockIn, None, 0),
                Ok(StatusEffect::None)
            );
        }
    }

    #[test]
    fn activation_respects_the_basic_cap_only_for_inactive_basic_users() {
        let mut inactive = user(Role::Member, Status::Inactive);
        inactive.user_type = UserType::Basic;
        assert_eq!(
            decide_status(&inactive, StatusAction::Activate, Some(3), 3),
            Err(DomainError::BasicUserCap(3))
        );
        assert_eq!(
            decide_status(&inactive, StatusAction::Activate, Some(3), 2),
            Ok(StatusEffect::Activate)
        );
        let mut licensed = user(Role::Member, Status::Inactive);
        licensed.user_type = UserType::Licensed;
        let mut pending = user(Role::Member, Status::Pending);
        pending.user_type = UserType::Basic;
        for u in [user(Role::Member, Status::Active), licensed, pending] {
            assert_eq!(
                decide_status(&u, StatusAction::Activate, Some(0), 9),
                Ok(StatusEffect::Activate)
            );
        }
    }

    #[test]
    fn email_validation() {
        assert!(is_valid_email("jane.doe+x@example.com"));
        for bad in [
            "",
            "no-at",
            "@x.com",
            "a@b",
            "a b@c.com",
            "a@@b.com",
            "a@.com",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}

#[cfg(test)]
mod fuzz_targets {
    use super::*;
    use crate::fuzz::fuzz;

    /// Any text is an address or not; an address has exactly the parts the check promises.
    #[test]
    fn fuzz_email_addresses() {
        fuzz(
            "email_addresses",
            &[
                b"@",
                b".",
                b"-",
                b"a",
                b"example",
                b"com",
                b"\"",
                b" ",
                b"+",
                b"\xc3\xa9",
            ],
            |input| {
                let text = String::from_utf8_lossy(input);
                if is_valid_email(&text) {
                    let (local, domain) = text.rsplit_once('@').unwrap();
                    assert!(!local.is_empty() && domain.contains('.') && text.is_ascii());
                }
            },
        );
    }
}
