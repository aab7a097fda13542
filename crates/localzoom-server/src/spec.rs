//! Zoom's own OpenAPI files, vendored in `spec/` (see `spec/SOURCE.md`): the served OpenAPI document is built
//! from them, and tests check the operation table against them.

use localzoom_api::operations::{Api, Operation};

pub const USERS: &str = include_str!("../spec/zoom-users-api.endpoints.json");
pub const ACCOUNTS: &str = include_str!("../spec/zoom-accounts-api.endpoints.json");
pub const SCIM2: &str = include_str!("../spec/zoom-scim2-api.endpoints.json");

/// Which of Zoom's files documents the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFile {
    Users,
    Accounts,
    Scim2,
}

impl SpecFile {
    pub const ALL: [SpecFile; 3] = [SpecFile::Users, SpecFile::Accounts, SpecFile::Scim2];

    pub fn of(operation: &Operation) -> SpecFile {
        match operation.api {
            Api::Scim2 => SpecFile::Scim2,
            Api::V2 if operation.path.starts_with("/accounts") => SpecFile::Accounts,
            Api::V2 => SpecFile::Users,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            SpecFile::Users => USERS,
            SpecFile::Accounts => ACCOUNTS,
            SpecFile::Scim2 => SCIM2,
        }
    }
}
