//! Every Zoom operation localzoom serves, declared once. The server's router, its gate (scopes, role
//! permissions, rate-limit label), the client's calls and the served OpenAPI document are all built from
//! `OPERATIONS`; a test of the server checks each entry against Zoom's own spec files.
//!
//! To add an operation: add its `OperationId` variant and its entry here (in the same position), then the
//! handler the server's router names for it.

/// Which of Zoom's APIs an operation belongs to, and so where its path starts on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// The REST API, under `/v2`.
    V2,
    /// SCIM 2.0, whose paths (`/scim2/…`) start at the server's root.
    Scim2,
}

impl Api {
    /// What comes before an operation's `path` on the server.
    pub fn prefix(self) -> &'static str {
        match self {
            Api::V2 => "/v2",
            Api::Scim2 => "",
        }
    }
}

/// An HTTP method of Zoom's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// As HTTP writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// As OpenAPI's path items key it.
    pub fn openapi_key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }
}

/// Zoom's rate-limit labels: which quota a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    Light,
    Medium,
    Heavy,
    ResourceIntensive,
}

impl Label {
    pub const ALL: [Label; 4] = [
        Label::Light,
        Label::Medium,
        Label::Heavy,
        Label::ResourceIntensive,
    ];

    /// As Zoom writes it in `X-RateLimit-Category`.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Light => "Light",
            Label::Medium => "Medium",
            Label::Heavy => "Heavy",
            Label::ResourceIntensive => "Resource-intensive",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// The type of this crate of that name.
    Type(&'static str),
    /// A JSON object kept as a map (settings: Zoom has hundreds of them, checked against Zoom's schema).
    Object,
    /// A `multipart/form-data` body whose part of this name is an uploaded file.
    File(&'static str),
}

/// What a successful call answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Success {
    Json {
        status: u16,
        body: Body,
    },
    /// `204 No Content`.
    NoContent,
}

/// The operations localzoom serves, in the order of `OPERATIONS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationId {
    Users,
    UserCreate,
    BulkUpdateFeature,
    UserEmail,
    UserSummary,
    UserVanityName,
    UserZak,
    User,
    UserUpdate,
    UserDelete,
    UserStatus,
    UserPassword,
    UserEmailUpdate,
    UserPresenceStatus,
    UserPresenceStatusUpdate,
    UserSsoTokenDelete,
    UserToken,
    UserPermission,
    UserAssistants,
    UserAssistantCreate,
    UserAssistantsDelete,
    UserAssistantDelete,
    UserSchedulers,
    UserSchedulersDelete,
    UserSchedulerDelete,
    UserSettings,
    UserSettingsUpdate,
    UserPicture,
    UserPictureDelete,
    UserVirtualBackgroundUpload,
    UserVirtualBackgroundDelete,
    UserCollaborationDevices,
    UserCollaborationDevice,
    UserMeetingSummaryTemplates,
    UserMeetingTemplate,
    AccountSettings,
    AccountSettingsUpdate,
    ScimUsers,
    ScimUserCreate,
    ScimUser,
    ScimUserReplace,
    ScimUserDelete,
    ScimUserPatch,
}

impl OperationId {
    pub fn operation(self) -> &'static Operation {
        &OPERATIONS[self as usize]
    }
}

/// One operation: where it is, what it takes and answers, and who may call it.
#[derive(Debug, PartialEq, Eq)]
pub struct Operation {
    pub id: OperationId,
    /// Zoom's `operationId`.
    pub name: &'static str,
    pub method: Method,
    /// The path under the API's prefix, with Zoom's `{param}` placeholders, as Zoom's spec writes it.
    pub path: &'static str,
    pub api: Api,
    pub summary: &'static str,
    /// The quota a call spends (the spec's *Rate Limit Label*).
    pub label: Label,
    /// Classic scopes (`x-macro-scopes`); holding any one scope of either list suffices.
    pub classic: &'static [&'static str],
    /// Granular scopes (`x-granular-scopes`).
    pub granular: &'static [&'static str],
    /// The role permissions (`x-permissions`) the acting user needs when the app acts with account-level scopes.
    pub permissions: &'static [&'static str],
    /// The JSON body, for operations that take one.
    pub request: Option<Body>,
    pub success: Success,
}

impl Operation {
    /// The names of the path's `{param}`s, in order.
    pub fn path_params(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
    }
}

const READ_USER: &[&str] = &[
    "user:read",
    "user:write",
    "user:read:admin",
    "user:write:admin",
];
const WRITE_USER: &[&str] = &["user:write:admin", "user:write"];
const SCIM: &[&str] = &["scim2"];
const SCIM_GRANULAR: &[&str] = &["scim2:admin"];

pub const OPERATIONS: &[Operation] = &[
    Operation {
        id: OperationId::Users,
        name: "users",
        method: Method::Get,
        path: "/users",
        api: Api::V2,
        summary: "List users",
        label: Label::Medium,
        classic: READ_USER,
        granular: &["user:read:list_users:admin"],
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Type("UserList"),
        },
    },
    Operation {
        id: OperationId::UserCreate,
        name: "userCreate",
        method: Method::Post,
        path: "/users",
        api: Api::V2,
        summary: "Create users",
        label: Label::Light,
        classic: &["user:write", "user:write:admin"],
        granular: &["user:write:user:admin"],
        permissions: &["User:Edit"],
        request: Some(Body::Type("CreateUserRequest")),
        success: Success::Json {
            status: 201,
            body: Body::Type("CreatedUser"),
        },
    },
    Operation {
        id: OperationId::BulkUpdateFeature,
        name: "bulkUpdateFeature",
        method: Method::Post,
        path: "/users/features",
        api: Api::V2,
        summary: "Bulk update features for users",
        label: Label::Medium,
        classic: &["user:write", "user:write:admin"],
        granular: &["user:write:feature:admin"],
        permissions: &["User:Edit"],
        request: Some(Body::Type("FeatureUpdateRequest")),
        success: Success::Json {
            status: 201,
            body: Body::Type("FeatureUpdateResult"),
        },
    },
    Operation {
        id: OperationId::UserEmail,
        name: "userEmail",
        method: Method::Get,
        path: "/users/email",
        api: Api::V2,
        summary: "Check a user email",
        label: Label::Light,
        classic: READ_USER,
        granular: &["user:read:email", "user:read:email:admin"],
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Type("EmailCheck"),
        },
    },
    Operation {
        id: OperationId::UserSummary,
        name: "userSummary",
        method: Method::Get,
        path: "/users/summary",
        api: Api::V2,
        summary: "Get user summary",
        label: Label::Medium,
        classic: READ_USER,
        granular: &["user:read:summary:admin"],
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Type("UserSummary"),
        },
    },
    Operation {
        id: OperationId::UserVanityName,
        name: "userVanityName",
        method: Method::Get,
        path: "/users/vanity_name",
        api: Api::V2,
        summary: "Check a user's PM room",
        label: Label::Light,
        classic: READ_USER,
        granular: &["user:read:pm_room", "user:read:pm_room:admin"],
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Type("VanityNameCheck"),
        },
    },
    Operation {
        id: OperationId::UserZak,
        name: "userZak",
        method: Method::Get,
        path: "/users/me/zak",
        api: Api::V2,
        summary: "Get the user's ZAK",
        label: Label::Light,
        classic: &["user_zak:read"],
        granular: &["user:read:zak", "user:read:zak:admin"],
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Type("UserToken"),
        },
    },
    Operation {
        id: OperationId::User,
        name: "user",
        method: Method::Get,
        path: "/users/{userId}",
        api: Api::V2,
        summary: "Get a user",
        label: Label::Light,
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
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Type("User"),
        },
    },
    Operation {
        id: OperationId::UserUpdate,
        name: "userUpdate",
        method: Method::Patch,
        path: "/users/{userId}",
        api: Api::V2,
        summary: "Update a user",
        label: Label::Light,
        classic: WRITE_USER,
        granular: &["user:update:user", "user:update:user:admin"],
        permissions: &["User:Edit"],
        request: Some(Body::Type("UserUpdate")),
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserDelete,
        name: "userDelete",
        method: Method::Delete,
        path: "/users/{userId}",
        api: Api::V2,
        summary: "Delete a user",
        label: Label::Light,
        classic: WRITE_USER,
        granular: &["user:delete:user", "user:delete:user:admin"],
        permissions: &["User:Edit"],
        request: None,
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserStatus,
        name: "userStatus",
        method: Method::Put,
        path: "/users/{userId}/status",
        api: Api::V2,
        summary: "Update user status",
        label: Label::Light,
        classic: WRITE_USER,
        granular: &["user:update:status", "user:update:status:admin"],
        permissions: &["User:Edit"],
        request: Some(Body::Type("StatusRequest")),
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserPassword,
        name: "userPassword",
        method: Method::Put,
        path: "/users/{userId}/password",
        api: Api::V2,
        summary: "Update a user's password",
        label: Label::Medium,
        classic: WRITE_USER,
        granular: &["user:update:password", "user:update:password:admin"],
        permissions: &["User:Edit"],
        request: Some(Body::Type("PasswordRequest")),
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserEmailUpdate,
        name: "userEmailUpdate",
        method: Method::Put,
        path: "/users/{userId}/email",
        api: Api::V2,
        summary: "Update a user's email",
        label: Label::Light,
        classic: WRITE_USER,
        granular: &["user:update:email", "user:update:email:admin"],
        permissions: &["User:Edit"],
        request: Some(Body::Type("EmailUpdateRequest")),
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserPresenceStatus,
        name: "getUserPresenceStatus",
        method: Method::Get,
        path: "/users/{userId}/presence_status",
        api: Api::V2,
        summary: "Get a user presence status",
        label: Label::Medium,
        classic: &["user:read", "user:read:admin"],
        granular: &[
            "user:read:presence_status",
            "user:read:presence_status:admin",
        ],
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Type("PresenceStatusReply"),
        },
    },
    Operation {
        id: OperationId::UserPresenceStatusUpdate,
        name: "updatePresenceStatus",
        method: Method::Put,
        path: "/users/{userId}/presence_status",
        api: Api::V2,
        summary: "Update a user's presence status",
        label: Label::Medium,
        classic: &["user:write", "user:write:admin"],
        granular: &[
            "user:update:presence_status",
            "user:update:presence_status:admin",
        ],
        permissions: &["User:Edit"],
        request: Some(Body::Type("PresenceStatusUpdate")),
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserSsoTokenDelete,
        name: "userSSOTokenDelete",
        method: Method::Delete,
        path: "/users/{userId}/token",
        api: Api::V2,
        summary: "Revoke a user's SSO token",
        label: Label::Light,
        classic: WRITE_USER,
        granular: &["user:delete:token", "user:delete:token:admin"],
        permissions: &["User:Edit"],
        request: None,
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserToken,
        name: "userToken",
        method: Method::Get,
        path: "/users/{userId}/token",
        api: Api::V2,
        summary: "Get a user's token",
        label: Label::Light,
        classic: &[
            "user:read",
            "user:write",
            "user:read:admin",
            "user:write:admin",
            "user_profile",
        ],
        granular: &["user:read:token", "user:read:token:admin"],
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Type("UserToken"),
        },
    },
    Operation {
        id: OperationId::UserPermission,
        name: "userPermission",
        method: Method::Get,
        path: "/users/{userId}/permissions",
        api: Api::V2,
        summary: "Get user permissions",
        label: Label::Light,
        classic: &[
            "user:read",
            "user:write",
            "user:read:admin",
            "user:write:admin",
            "user_profile",
        ],
        granular: &[
            "user:read:list_permissions",
            "user:read:list_permissions:admin",
        ],
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Type("UserPermissions"),
        },
    },
    Operation {
        id: OperationId::UserAssistants,
        name: "userAssistants",
        method: Method::Get,
        path: "/users/{userId}/assistants",
        api: Api::V2,
        summary: "List user assistants",
        label: Label::Medium,
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
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Type("AssistantList"),
        },
    },
    Operation {
        id: OperationId::UserAssistantCreate,
        name: "userAssistantCreate",
        method: Method::Post,
        path: "/users/{userId}/assistants",
        api: Api::V2,
        summary: "Add assistants",
        label: Label::Medium,
        classic: WRITE_USER,
        granular: &["user:write:assistant", "user:write:assistant:admin"],
        permissions: &["User:Edit"],
        request: Some(Body::Type("AddAssistantsRequest")),
        success: Success::Json {
            status: 201,
            body: Body::Type("AddedAssistants"),
        },
    },
    Operation {
        id: OperationId::UserAssistantsDelete,
        name: "userAssistantsDelete",
        method: Method::Delete,
        path: "/users/{userId}/assistants",
        api: Api::V2,
        summary: "Delete user assistants",
        label: Label::Light,
        classic: WRITE_USER,
        granular: &["user:delete:assistant", "user:delete:assistant:admin"],
        permissions: &["User:Edit"],
        request: None,
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserAssistantDelete,
        name: "userAssistantDelete",
        method: Method::Delete,
        path: "/users/{userId}/assistants/{assistantId}",
        api: Api::V2,
        summary: "Delete a user assistant",
        label: Label::Light,
        classic: WRITE_USER,
        granular: &["user:delete:assistant", "user:delete:assistant:admin"],
        permissions: &["User:Edit"],
        request: None,
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserSchedulers,
        name: "userSchedulers",
        method: Method::Get,
        path: "/users/{userId}/schedulers",
        api: Api::V2,
        summary: "List user schedulers",
        label: Label::Medium,
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
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Type("SchedulerList"),
        },
    },
    Operation {
        id: OperationId::UserSchedulersDelete,
        name: "userSchedulersDelete",
        method: Method::Delete,
        path: "/users/{userId}/schedulers",
        api: Api::V2,
        summary: "Delete user schedulers",
        label: Label::Light,
        classic: WRITE_USER,
        granular: &["user:delete:scheduler", "user:delete:scheduler:admin"],
        permissions: &["User:Edit"],
        request: None,
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserSchedulerDelete,
        name: "userSchedulerDelete",
        method: Method::Delete,
        path: "/users/{userId}/schedulers/{schedulerId}",
        api: Api::V2,
        summary: "Delete a scheduler",
        label: Label::Light,
        classic: WRITE_USER,
        granular: &["user:delete:scheduler", "user:delete:scheduler:admin"],
        permissions: &["User:Edit"],
        request: None,
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserSettings,
        name: "userSettings",
        method: Method::Get,
        path: "/users/{userId}/settings",
        api: Api::V2,
        summary: "Get user settings",
        label: Label::Medium,
        classic: READ_USER,
        granular: &["user:read:settings", "user:read:settings:admin"],
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Object,
        },
    },
    Operation {
        id: OperationId::UserSettingsUpdate,
        name: "userSettingsUpdate",
        method: Method::Patch,
        path: "/users/{userId}/settings",
        api: Api::V2,
        summary: "Update user settings",
        label: Label::Medium,
        classic: WRITE_USER,
        granular: &["user:update:settings", "user:update:settings:admin"],
        permissions: &["User:Edit"],
        request: Some(Body::Object),
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserPicture,
        name: "userPicture",
        method: Method::Post,
        path: "/users/{userId}/picture",
        api: Api::V2,
        summary: "Upload a user's profile picture",
        label: Label::Medium,
        classic: WRITE_USER,
        granular: &[
            "user:write:profile_picture",
            "user:write:profile_picture:admin",
        ],
        permissions: &["User:Edit"],
        request: Some(Body::File("pic_file")),
        success: Success::Json {
            status: 201,
            body: Body::Object,
        },
    },
    Operation {
        id: OperationId::UserPictureDelete,
        name: "userPictureDelete",
        method: Method::Delete,
        path: "/users/{userId}/picture",
        api: Api::V2,
        summary: "Delete a user's profile picture",
        label: Label::Medium,
        classic: WRITE_USER,
        granular: &[],
        permissions: &[],
        request: None,
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserVirtualBackgroundUpload,
        name: "uploadVBuser",
        method: Method::Post,
        path: "/users/{userId}/settings/virtual_backgrounds",
        api: Api::V2,
        summary: "Upload Virtual Background files",
        label: Label::Medium,
        classic: WRITE_USER,
        granular: &[
            "user:write:virtual_background_files",
            "user:write:virtual_background_files:admin",
        ],
        permissions: &["User:Edit"],
        request: Some(Body::File("file")),
        success: Success::Json {
            status: 201,
            body: Body::Type("VirtualBackgroundFile"),
        },
    },
    Operation {
        id: OperationId::UserVirtualBackgroundDelete,
        name: "delUserVB",
        method: Method::Delete,
        path: "/users/{userId}/settings/virtual_backgrounds",
        api: Api::V2,
        summary: "Delete Virtual Background files",
        label: Label::Light,
        classic: WRITE_USER,
        granular: &[
            "user:delete:virtual_background_files",
            "user:delete:virtual_background_files:admin",
        ],
        permissions: &["User:Edit"],
        request: None,
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::UserCollaborationDevices,
        name: "listCollaborationDevices",
        method: Method::Get,
        path: "/users/{userId}/collaboration_devices",
        api: Api::V2,
        summary: "List a user's collaboration devices",
        label: Label::Medium,
        classic: READ_USER,
        granular: &[
            "user:read:list_collaboration_devices",
            "user:read:list_collaboration_devices:admin",
        ],
        permissions: &["MobileDeviceManagement:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Object,
        },
    },
    Operation {
        id: OperationId::UserCollaborationDevice,
        name: "getCollaborationDevice",
        method: Method::Get,
        path: "/users/{userId}/collaboration_devices/{collaborationDeviceId}",
        api: Api::V2,
        summary: "Get collaboration device detail",
        label: Label::Medium,
        classic: READ_USER,
        granular: &[
            "user:read:collaboration_device",
            "user:read:collaboration_device:admin",
        ],
        permissions: &["MobileDeviceManagement:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Object,
        },
    },
    Operation {
        id: OperationId::UserMeetingSummaryTemplates,
        name: "Getmeetingsummarytemplates",
        method: Method::Get,
        path: "/users/{userId}/meeting_summary_templates",
        api: Api::V2,
        summary: "Get meeting summary templates",
        label: Label::Medium,
        classic: &["user:read", "user:read:admin"],
        granular: &["user:read:settings", "user:read:settings:admin"],
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Object,
        },
    },
    Operation {
        id: OperationId::UserMeetingTemplate,
        name: "getUserMeetingTemplates",
        method: Method::Get,
        path: "/users/{userId}/meeting_templates/{meetingTemplateId}",
        api: Api::V2,
        summary: "Get meeting template detail",
        label: Label::Medium,
        classic: &["user:read:admin", "user:read"],
        granular: &[],
        permissions: &[],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Object,
        },
    },
    Operation {
        id: OperationId::AccountSettings,
        name: "accountSettings",
        method: Method::Get,
        path: "/accounts/{accountId}/settings",
        api: Api::V2,
        summary: "Get account settings",
        label: Label::Medium,
        classic: &["account:read:admin"],
        granular: &[
            "account:read:settings:admin",
            "account:read:settings:master",
        ],
        permissions: &["AccountSetting:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Object,
        },
    },
    Operation {
        id: OperationId::AccountSettingsUpdate,
        name: "accountSettingsUpdate",
        method: Method::Patch,
        path: "/accounts/{accountId}/settings",
        api: Api::V2,
        summary: "Update account settings",
        label: Label::Medium,
        classic: &["account:write:admin"],
        granular: &[
            "account:update:settings:admin",
            "account:update:settings:master",
        ],
        permissions: &["AccountProfile:Edit", "AccountSetting:Edit"],
        request: Some(Body::Object),
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::ScimUsers,
        name: "userSCIM2List",
        method: Method::Get,
        path: "/scim2/Users",
        api: Api::Scim2,
        summary: "List users",
        label: Label::Medium,
        classic: SCIM,
        granular: SCIM_GRANULAR,
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Object,
        },
    },
    Operation {
        id: OperationId::ScimUserCreate,
        name: "userScim2Create",
        method: Method::Post,
        path: "/scim2/Users",
        api: Api::Scim2,
        summary: "Create a user",
        label: Label::Light,
        classic: SCIM,
        granular: SCIM_GRANULAR,
        permissions: &["User:Edit"],
        request: Some(Body::Object),
        success: Success::Json {
            status: 201,
            body: Body::Object,
        },
    },
    Operation {
        id: OperationId::ScimUser,
        name: "userSCIM2Get",
        method: Method::Get,
        path: "/scim2/Users/{userId}",
        api: Api::Scim2,
        summary: "Get a user",
        label: Label::Light,
        classic: SCIM,
        granular: SCIM_GRANULAR,
        permissions: &["User:Read"],
        request: None,
        success: Success::Json {
            status: 200,
            body: Body::Object,
        },
    },
    Operation {
        id: OperationId::ScimUserReplace,
        name: "userSCIM2Update",
        method: Method::Put,
        path: "/scim2/Users/{userId}",
        api: Api::Scim2,
        summary: "Update a user",
        label: Label::Light,
        classic: SCIM,
        granular: SCIM_GRANULAR,
        permissions: &["User:Edit"],
        request: Some(Body::Object),
        success: Success::Json {
            status: 200,
            body: Body::Object,
        },
    },
    Operation {
        id: OperationId::ScimUserDelete,
        name: "userSCIM2Delete",
        method: Method::Delete,
        path: "/scim2/Users/{userId}",
        api: Api::Scim2,
        summary: "Delete a user",
        label: Label::Light,
        classic: SCIM,
        granular: SCIM_GRANULAR,
        permissions: &["User:Edit"],
        request: None,
        success: Success::NoContent,
    },
    Operation {
        id: OperationId::ScimUserPatch,
        name: "userADSCIM2Deactivate",
        method: Method::Patch,
        path: "/scim2/Users/{userId}",
        api: Api::Scim2,
        summary: "Activate or deactivate a user",
        label: Label::Light,
        classic: SCIM,
        granular: SCIM_GRANULAR,
        permissions: &["User:Edit"],
        request: Some(Body::Object),
        success: Success::Json {
            status: 200,
            body: Body::Object,
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_id_indexes_its_own_entry() {
        for (index, operation) in OPERATIONS.iter().enumerate() {
            assert_eq!(operation.id as usize, index, "{}", operation.name);
            assert_eq!(operation.id.operation().name, operation.name);
        }
    }

    /// Every `Body::Type` names a type of this crate.
    #[test]
    fn bodies_name_real_types() {
        use std::any::type_name;
        let types = [
            type_name::<crate::UserList>(),
            type_name::<crate::CreateUserRequest>(),
            type_name::<crate::CreatedUser>(),
            type_name::<crate::EmailCheck>(),
            type_name::<crate::User>(),
            type_name::<crate::UserUpdate>(),
            type_name::<crate::StatusRequest>(),
            type_name::<crate::PasswordRequest>(),
            type_name::<crate::AssistantList>(),
            type_name::<crate::AddAssistantsRequest>(),
            type_name::<crate::AddedAssistants>(),
            type_name::<crate::SchedulerList>(),
            type_name::<crate::UserSummary>(),
            type_name::<crate::UserToken>(),
            type_name::<crate::UserPermissions>(),
            type_name::<crate::VanityNameCheck>(),
            type_name::<crate::EmailUpdateRequest>(),
            type_name::<crate::PresenceStatusReply>(),
            type_name::<crate::PresenceStatusUpdate>(),
            type_name::<crate::FeatureUpdateRequest>(),
            type_name::<crate::FeatureUpdateResult>(),
            type_name::<crate::VirtualBackgroundFile>(),
        ];
        let bodies = OPERATIONS.iter().flat_map(|op| {
            let success = match op.success {
                Success::Json { body, .. } => Some(body),
                Success::NoContent => None,
            };
            op.request.into_iter().chain(success)
        });
        for body in bodies {
            if let Body::Type(name) = body {
                let suffix = format!("::{name}");
                assert!(types.iter().any(|t| t.ends_with(&suffix)), "no type {name}");
            }
        }
    }

    #[test]
    fn path_params_are_named_in_order() {
        let op = OperationId::UserAssistantDelete.operation();
        assert_eq!(
            op.path_params().collect::<Vec<_>>(),
            ["userId", "assistantId"]
        );
    }
}
