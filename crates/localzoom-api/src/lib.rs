//! Wire types of Zoom's Users API as localzoom speaks it: the bodies that cross the network, shared by the server
//! and the client so the two cannot disagree about a field name. Response types read every field as optional
//! (`#[serde(default)]`): real Zoom leaves some out (e.g. `pmi` of some users), and a client must not fail on that.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod control;
pub mod operations;

/// Zoom's error body: `{"code":…, "message":…}`, plus `errors[]` on field validation failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoomError {
    pub code: u32,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The token endpoint's error body, which is not in the `{code,message}` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    pub reason: String,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    pub scope: String,
    /// Only for user-level grants (authorization code, refresh token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
}

/// `POST /users` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateUserRequest {
    pub action: CreateAction,
    pub user_info: CreateUserInfo,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateUserInfo {
    pub email: String,
    #[serde(rename = "type")]
    pub user_type: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// `POST /users` 201 body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CreatedUser {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    #[serde(rename = "type")]
    pub user_type: i64,
}

/// A user as `GET /users/{userId}` returns it (the fields localzoom keeps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub email: String,
    #[serde(rename = "type")]
    pub user_type: i64,
    pub role_name: String,
    pub role_id: String,
    pub pmi: i64,
    pub use_pmi: bool,
    pub personal_meeting_url: String,
    pub timezone: String,
    pub verified: i64,
    pub dept: String,
    pub created_at: String,
    pub user_created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_time: Option<String>,
    pub pic_url: String,
    pub language: String,
    pub status: String,
    pub account_id: String,
    pub account_number: i64,
    pub login_types: Vec<i64>,
    #[serde(default)]
    pub group_ids: Vec<String>,
    #[serde(default)]
    pub im_group_ids: Vec<String>,
    pub jid: String,
    pub cluster: String,
    /// Profile fields set through `PATCH /users/{userId}` (company, job_title, location, …).
    #[serde(flatten)]
    pub profile: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct UserList {
    pub page_count: u64,
    pub page_number: u64,
    pub page_size: u64,
    pub total_records: u64,
    pub next_page_token: String,
    pub users: Vec<ListedUser>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Assistant {
    pub id: String,
    pub email: String,
    pub can_manage_host_private_event: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AssistantList {
    pub assistants: Vec<Assistant>,
}

/// One entry of `POST /users/{userId}/assistants`: `id` or `email` (if `id` is given, `email` is ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssistantRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_manage_host_private_event: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddAssistantsRequest {
    pub assistants: Vec<AssistantRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct AddedAssistants {
    pub ids: String,
    pub add_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Scheduler {
    pub id: String,
    pub email: String,
    pub pmi: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SchedulerList {
    pub schedulers: Vec<Scheduler>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailCheck {
    pub existed_email: bool,
}

/// `security.password_requirement` of the account settings (Zoom's Accounts API).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordRequirement {
    pub minimum_password_length: u32,
    pub have_special_character: bool,
    pub consecutive_characters_length: u32,
    pub weak_enhance_detection: bool,
}

/// One element of `GET /users` (`id` is absent for pending users).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ListedUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub email: String,
    #[serde(rename = "type")]
    pub user_type: i64,
    pub pmi: i64,
    pub timezone: String,
    pub verified: i64,
    pub dept: String,
    pub created_at: String,
    pub user_created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_time: Option<String>,
    pub language: String,
    pub status: String,
    pub role_id: String,
    #[serde(default)]
    pub group_ids: Vec<String>,
    #[serde(default)]
    pub im_group_ids: Vec<String>,
    /// Only with `include_fields=custom_attributes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_attributes: Option<Vec<Value>>,
    /// Only with `include_fields=host_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
}

wire_names! {
    /// `phone_numbers[].label`.
    PhoneLabel {
        Mobile = "Mobile",
        Office = "Office",
        Home = "Home",
        Fax = "Fax",
    }
}

/// One of a user's `phone_numbers`, as Zoom's schema types it (other fields sent are dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<PhoneLabel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
}

/// One of a user's `custom_attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomAttribute {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

wire_names! {
    /// `GET /users` `include_fields`: what the listed users carry beyond the default fields.
    IncludeField {
        CustomAttributes = "custom_attributes",
        HostKey = "host_key",
    }
}

wire_names! {
    /// `GET /users` `license`: only users holding this add-on licence.
    UserLicense {
        ZoomWorkforceManagement = "zoom_workforce_management",
        ZoomComplianceManagement = "zoom_compliance_management",
    }
}

/// A closed set of names Zoom's API takes as text, each with its wire name: `as_str`, `parse` (`None` for a name
/// not in the set), `ALL`, `Display`, and serde as the wire name.
#[macro_export]
macro_rules! wire_names {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_names! {
    /// `PUT /users/{userId}/status` `action`.
    StatusAction {
        Activate = "activate",
        Deactivate = "deactivate",
        ClockIn = "clock_in",
        ClockOut = "clock_out",
    }
}

wire_names! {
    /// `DELETE /users/{userId}` `action`.
    DeleteAction {
        /// Remove the user from the account; the user keeps a Basic Zoom account of their own.
        Disassociate = "disassociate",
        /// Delete the user permanently.
        Delete = "delete",
    }
}

wire_names! {
    /// `POST /users` `action`: how Zoom creates the user.
    CreateAction {
        /// A pending user who gets an invitation e-mail.
        Create = "create",
        /// An active user with the password given, on a managed domain.
        AutoCreate = "autoCreate",
        /// An active API user (no sign-in).
        CustCreate = "custCreate",
        /// An active SSO user.
        SsoCreate = "ssoCreate",
    }
}

/// `GET /users/summary`: the account's users by licence. `total_users_count` is the sum of the licensed, basic,
/// on-prem, join-only and room counts (pending users are counted apart).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    #[serde(default)]
    pub licensed_users_count: u64,
    #[serde(default)]
    pub basic_users_count: u64,
    #[serde(default)]
    pub on_prem_users_count: u64,
    #[serde(default)]
    pub room_users_count: u64,
    #[serde(default)]
    pub pending_users_count: u64,
    #[serde(default)]
    pub join_only_users_count: u64,
    #[serde(default)]
    pub total_users_count: u64,
}

/// `GET /users/vanity_name`: whether a personal meeting room has that name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VanityNameCheck {
    pub existed: bool,
}

/// `GET /users/{userId}/token` and `GET /users/me/zak`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserToken {
    pub token: String,
}

/// `POST /users/{userId}/settings/virtual_backgrounds`: the uploaded file, as the user's settings list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualBackgroundFile {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub size: i64,
    pub is_default: bool,
}

/// `GET /users/{userId}/permissions`: the privileges of the user's role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPermissions {
    #[serde(default)]
    pub permissions: Vec<String>,
}

wire_names! {
    /// `GET /users/{userId}/token` `type`.
    UserTokenType {
        /// Zoom's deprecated user token.
        Token = "token",
        /// A Zoom Access Key, to start meetings.
        Zak = "zak",
        /// An on-behalf-of token, for Meeting SDK apps joining as the user.
        OnBehalf = "onbehalf",
    }
}

/// `PUT /users/{userId}/status` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRequest {
    pub action: StatusAction,
}

wire_names! {
    /// A user's presence status in Zoom's clients.
    PresenceStatus {
        Away = "Away",
        DoNotDisturb = "Do_Not_Disturb",
        Available = "Available",
        InCalendarEvent = "In_Calendar_Event",
        Presenting = "Presenting",
        InAZoomMeeting = "In_A_Zoom_Meeting",
        OnACall = "On_A_Call",
        OutOfOffice = "Out_of_Office",
        Busy = "Busy",
        Offline = "Offline",
    }
}

/// `GET /users/{userId}/presence_status`. `end_time` and `remaining_time` (seconds) only for a user's own
/// Do-Not-Disturb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceStatusReply {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_time: Option<i64>,
}

/// `PUT /users/{userId}/presence_status` body: a status, and for `Do_No_Disturb` (Zoom's spelling here) a
/// duration in minutes (1–1440, default 20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceStatusUpdate {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
}

wire_names! {
    /// `POST /users/features` `feature_type`.
    FeatureType {
        UserType = "user_type",
        ConcurrentMeeting = "concurrent_meeting",
        LargeMeeting = "large_meeting",
        Webinar = "webinar",
        ZoomEvents = "zoom_events",
        ZoomWhiteboard = "zoom_whiteboard",
        PlanUnitedType = "plan_united_type",
        ZoomOneType = "zoom_one_type",
        ZoomIqForSales = "zoom_iq_for_sales",
        ZoomRevenueAccelerator = "zoom_revenue_accelerator",
        ZoomClipsPlus = "zoom_clips_plus",
    }
}

/// `POST /users/features` `users[]`: a user by id or e-mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `POST /users/features` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureUpdateRequest {
    pub feature_type: FeatureType,
    pub feature_value: String,
    pub users: Vec<FeatureUser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
}

/// `POST /users/features` 201: who was updated, and who was not and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureUpdateResult {
    #[serde(default)]
    pub success_user_ids: Vec<String>,
    #[serde(default)]
    pub fail_details: Vec<FeatureFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureFailure {
    pub user_ids: Vec<String>,
    pub reason: String,
}

/// `PUT /users/{userId}/email` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailUpdateRequest {
    pub email: String,
}

/// `PUT /users/{userId}/password` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordRequest {
    pub password: String,
}

/// `PATCH /users/{userId}` body: only the fields that are set are sent; `extra` carries any other field Zoom
/// accepts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub user_type: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dept: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The header names Zoom's API answers with, for the server that sends them and the client that reads them.
pub mod headers {
    /// Zoom's id of one request, to quote to its support.
    pub const TRACKING_ID: &str = "x-zm-trackingid";
    /// The rate-limit category of the quota spent or refused: `Light`, `Medium`, `Heavy`, `Resource-intensive`.
    pub const RATE_LIMIT_CATEGORY: &str = "x-ratelimit-category";
    /// On a 429: `QPS` (a per-second quota) or `Daily-limit`.
    pub const RATE_LIMIT_TYPE: &str = "x-ratelimit-type";
    pub const RATE_LIMIT_LIMIT: &str = "x-ratelimit-limit";
    pub const RATE_LIMIT_REMAINING: &str = "x-ratelimit-remaining";
    /// `X-RateLimit-Type` of a daily quota.
    pub const DAILY_LIMIT: &str = "Daily-limit";
    /// `X-RateLimit-Type` of a per-second quota.
    pub const QPS: &str = "QPS";
}
