//! What the rules refuse, in the domain's own words. Nothing here knows HTTP: `http/error.rs` is the one table
//! that turns each refusal into Zoom's status, code and message.

use localzoom_api::FieldError;

use super::password::PasswordRule;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("user not found: {0}")]
    UserNotFound(String),
    #[error("account not found: {0}")]
    AccountNotFound(String),
    /// The control API or a fixture names an app that is not there.
    #[error("app not found: {0}")]
    AppNotFound(String),
    #[error("event subscription not found: {0}")]
    SubscriptionNotFound(String),
    #[error("webhook delivery not found: {0}")]
    DeliveryNotFound(i64),
    /// Zoom allows an app 20 event subscriptions.
    #[error("too many event subscriptions")]
    TooManySubscriptions(usize),
    #[error("email taken: {0}")]
    EmailTaken(String),
    /// `PUT /users/{userId}/email` to an address another user holds (S1 documents no 409 there).
    #[error("new email taken: {0}")]
    NewEmailTaken(String),
    /// Fields that are missing or malformed.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("bad next_page_token")]
    BadPageToken,
    #[error("email is required")]
    EmailRequired,
    /// Zoom's generic code 300 with a specific message.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Zoom's generic code 200 ("no privilege / not allowed") with a specific message.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    #[error("admin or Zoom Room status change")]
    StatusProtected,
    #[error("user has upcoming Zoom Events")]
    UpcomingZoomEvents,
    #[error("basic user cap {0} reached")]
    BasicUserCap(u32),
    #[error("basic user cap {0} reached on create")]
    BasicUserCapOnCreate(u32),
    #[error("basic user cap {0} reached on type change")]
    BasicUserCapOnConvert(u32),
    #[error("password rule: {0:?}")]
    Password(PasswordRule),
    #[error("admin password")]
    AdminPassword,
    #[error("not a work-email user")]
    NotWorkEmailUser,
    #[error("admin cannot be disassociated")]
    DisassociateAdmin,
    #[error("managed-domain user cannot be disassociated")]
    DisassociateManagedDomain,
    /// Another user holds this personal meeting room name (Zoom's "Personal Link Name").
    #[error("vanity name taken")]
    VanityNameTaken,
    /// An admin changing another admin's (or the owner's) e-mail.
    #[error("admin changing another admin's email")]
    OtherAdminsEmail,
    /// The new e-mail is not on the account's managed domain (or it has none).
    #[error("email outside the managed domain")]
    EmailOutsideManagedDomain,
    /// Three e-mail changes in the last 24 hours.
    #[error("too many email changes")]
    TooManyEmailChanges,
    /// A second `POST /users/features` of the account within 10 seconds.
    #[error("feature updates too frequent")]
    FeatureUpdateTooFrequent,
    /// A presence update for a user signed in to no client.
    #[error("presence update failed")]
    PresenceUpdateFailed,
    /// A second presence update of one user within a minute.
    #[error("presence updated too often")]
    PresenceTooFrequent,
    /// Another user holds this Personal Meeting ID.
    #[error("PMI {0} taken")]
    PmiTaken(i64),
    /// Large meetings, webinars and Zoom Events need a Licensed (or On-prem) user.
    #[error("large meeting needs a licence")]
    LargeMeetingNeedsLicence,
    #[error("webinar needs a licence")]
    WebinarNeedsLicence,
    #[error("zoom events needs a licence")]
    ZoomEventsNeedsLicence,
    /// Webinar and Zoom Events exclude each other.
    #[error("webinar while zoom events is on")]
    WebinarWithZoomEvents,
    #[error("zoom events while webinar is on")]
    ZoomEventsWithWebinar,
    /// A SCIM request refused (Zoom's SCIM messages differ from the REST API's).
    #[error("SCIM: {0:?}")]
    Scim(ScimRefusal),
    /// `ssoCreate` on an account whose SSO is off.
    #[error("SSO not enabled")]
    SsoNotEnabled,
    /// A collaboration device the user does not have.
    #[error("collaboration device {0} not found")]
    CollaborationDeviceNotFound(String),
    /// A meeting template the user does not have.
    #[error("meeting template {0} not found")]
    MeetingTemplateNotFound(String),
    /// An uploaded file refused for its size, type or number.
    #[error("file refused: {0:?}")]
    File(FileRefusal),
    /// The account lets only admins change names and pictures (`security.admin_change_name_pic`).
    #[error("only an admin may change the picture")]
    PictureAdminOnly,
}

/// Why an uploaded file was refused (Zoom's error 120).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRefusal {
    /// No picture, or an empty one.
    Empty,
    /// No background file, or an empty one.
    NoBackgroundFile,
    PictureTooLarge,
    PictureType,
    BackgroundTooLarge,
    BackgroundType,
    TooManyBackgrounds,
}

impl From<FileRefusal> for DomainError {
    fn from(refusal: FileRefusal) -> Self {
        DomainError::File(refusal)
    }
}

impl DomainError {
    /// One field that is missing or malformed.
    pub fn field(field: &str, message: &str) -> DomainError {
        DomainError::Validation(vec![FieldError {
            field: field.to_string(),
            message: message.to_string(),
        }])
    }
}

/// Why a SCIM request was refused, in the words of Zoom's SCIM2 spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimRefusal {
    SsoNotEnabled,
    /// The filter (or its attribute) Zoom does not support.
    UnsupportedFilter(String),
    NotJson,
    EmptyBody,
    InvalidUserName,
    /// `POST`: the e-mail belongs to a user already.
    EmailInUse(String),
    /// `PUT`/`PATCH`: the new e-mail belongs to another user.
    EmailUsed(String),
    UserInactive,
    AdminEmail,
    /// Activating or deactivating an admin or a Zoom Room.
    StatusProtected,
    DeleteAdmin,
    /// A Zoom Room's user made Basic.
    ZoomRoomToFree,
    UserNotFound,
    /// An attribute of the wrong type or out of bounds.
    InvalidValue(String),
    /// A PATCH operation localzoom cannot apply (an unknown `op`, a path it cannot follow).
    InvalidPatch(String),
}

impl From<ScimRefusal> for DomainError {
    fn from(refusal: ScimRefusal) -> Self {
        DomainError::Scim(refusal)
    }
}
