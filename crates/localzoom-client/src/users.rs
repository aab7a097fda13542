//! The Users API operations (and the account security settings they depend on), one method each.

use localzoom_api::{
    AddAssistantsRequest, AddedAssistants, Assistant, AssistantList, AssistantRef,
    CreateUserRequest, CreatedUser, EmailCheck, ListedUser, Scheduler, SchedulerList, User,
    UserList,
};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{Call, Client, Error};

const LIGHT: &str = "Light";
const MEDIUM: &str = "Medium";

/// `PUT /users/{userId}/status` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    Activate,
    Deactivate,
    ClockIn,
    ClockOut,
}

impl StatusAction {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusAction::Activate => "activate",
            StatusAction::Deactivate => "deactivate",
            StatusAction::ClockIn => "clock_in",
            StatusAction::ClockOut => "clock_out",
        }
    }
}

/// `DELETE /users/{userId}` actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteAction {
    /// Remove the user from the account; the user keeps a Basic Zoom account of their own.
    Disassociate,
    /// Delete the user permanently.
    Delete,
}

/// `GET /users` parameters (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListUsers {
    /// `active` (Zoom's default), `inactive` or `pending`.
    pub status: Option<String>,
    pub page_size: Option<u32>,
    pub role_id: Option<String>,
    pub next_page_token: Option<String>,
    pub page_number: Option<u32>,
}

/// `PATCH /users/{userId}` body: only the fields that are set are sent; `extra` carries any other field Zoom
/// accepts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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

fn call<'a>(
    operation: &'static str,
    method: Method,
    path: &'a [&'a str],
    category: &'static str,
) -> Call<'a> {
    Call {
        operation,
        method,
        path,
        query: Vec::new(),
        body: None,
        category,
    }
}

fn body(value: impl Serialize) -> Result<Option<Value>, Error> {
    serde_json::to_value(value)
        .map(Some)
        .map_err(|e| Error::Config(format!("request body: {e}")))
}

/// Every method that names a user takes its id, its e-mail or `me` (the user a user-level token acts for).
impl Client {
    /// `GET /users`: one page.
    pub async fn list_users(&self, params: &ListUsers) -> Result<UserList, Error> {
        let mut c = call("users", Method::GET, &["users"], MEDIUM);
        let pairs = [
            ("status", params.status.clone()),
            ("page_size", params.page_size.map(|n| n.to_string())),
            ("role_id", params.role_id.clone()),
            ("next_page_token", params.next_page_token.clone()),
            ("page_number", params.page_number.map(|n| n.to_string())),
        ];
        c.query = pairs
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        self.json(c).await
    }

    /// `GET /users`, following `next_page_token` to the end.
    pub async fn list_all_users(&self, status: Option<&str>) -> Result<Vec<ListedUser>, Error> {
        let mut params = ListUsers {
            status: status.map(str::to_string),
            page_size: Some(300),
            ..ListUsers::default()
        };
        let mut users = Vec::new();
        loop {
            let page = self.list_users(&params).await?;
            users.extend(page.users);
            if page.next_page_token.is_empty() {
                return Ok(users);
            }
            params.next_page_token = Some(page.next_page_token);
        }
    }

    /// `GET /users/{userId}`.
    pub async fn get_user(&self, user_id: &str) -> Result<User, Error> {
        self.json(call("user", Method::GET, &["users", user_id], LIGHT))
            .await
    }

    /// `POST /users`.
    pub async fn create_user(&self, request: &CreateUserRequest) -> Result<CreatedUser, Error> {
        let mut c = call("userCreate", Method::POST, &["users"], LIGHT);
        c.body = body(request)?;
        self.json(c).await
    }

    /// `PATCH /users/{userId}`.
    pub async fn update_user(&self, user_id: &str, update: &UserUpdate) -> Result<(), Error> {
        let path = ["users", user_id];
        let mut c = call("userUpdate", Method::PATCH, &path, LIGHT);
        c.body = body(update)?;
        self.empty(c).await
    }

    /// `DELETE /users/{userId}`.
    pub async fn delete_user(&self, user_id: &str, action: DeleteAction) -> Result<(), Error> {
        let path = ["users", user_id];
        let mut c = call("userDelete", Method::DELETE, &path, LIGHT);
        let action = match action {
            DeleteAction::Disassociate => "disassociate",
            DeleteAction::Delete => "delete",
        };
        c.query.push(("action", action.to_string()));
        self.empty(c).await
    }

    /// `GET /users/email`: whether a Zoom user has this e-mail.
    pub async fn email_exists(&self, email: &str) -> Result<bool, Error> {
        let mut c = call("userEmail", Method::GET, &["users", "email"], LIGHT);
        c.query.push(("email", email.to_string()));
        Ok(self.json::<EmailCheck>(c).await?.existed_email)
    }

    /// `PUT /users/{userId}/status`.
    pub async fn update_status(&self, user_id: &str, action: StatusAction) -> Result<(), Error> {
        let path = ["users", user_id, "status"];
        let mut c = call("userStatus", Method::PUT, &path, LIGHT);
        c.body = Some(json!({ "action": action.as_str() }));
        self.empty(c).await
    }

    /// `PUT /users/{userId}/password`.
    pub async fn update_password(&self, user_id: &str, password: &str) -> Result<(), Error> {
        let path = ["users", user_id, "password"];
        let mut c = call("userPassword", Method::PUT, &path, MEDIUM);
        c.body = Some(json!({ "password": password }));
        self.empty(c).await
    }

    /// `DELETE /users/{userId}/token`: revokes the user's SSO token (signs them out of SSO sessions).
    pub async fn revoke_sso_token(&self, user_id: &str) -> Result<(), Error> {
        let path = ["users", user_id, "token"];
        self.empty(call("userSSOTokenDelete", Method::DELETE, &path, LIGHT))
            .await
    }

    /// `GET /users/{userId}/assistants`.
    pub async fn list_assistants(&self, user_id: &str) -> Result<Vec<Assistant>, Error> {
        let path = ["users", user_id, "assistants"];
        let list: AssistantList = self
            .json(call("userAssistants", Method::GET, &path, MEDIUM))
            .await?;
        Ok(list.assistants)
    }

    /// `POST /users/{userId}/assistants`.
    pub async fn add_assistants(
        &self,
        user_id: &str,
        assistants: &[AssistantRef],
    ) -> Result<AddedAssistants, Error> {
        let path = ["users", user_id, "assistants"];
        let mut c = call("userAssistantCreate", Method::POST, &path, MEDIUM);
        c.body = body(AddAssistantsRequest {
            assistants: assistants.to_vec(),
        })?;
        self.json(c).await
    }

    /// `DELETE /users/{userId}/assistants`: removes all of the user's assistants.
    pub async fn delete_assistants(&self, user_id: &str) -> Result<(), Error> {
        let path = ["users", user_id, "assistants"];
        self.empty(call("userAssistantsDelete", Method::DELETE, &path, LIGHT))
            .await
    }

    /// `DELETE /users/{userId}/assistants/{assistantId}`.
    pub async fn delete_assistant(&self, user_id: &str, assistant_id: &str) -> Result<(), Error> {
        let path = ["users", user_id, "assistants", assistant_id];
        self.empty(call("userAssistantDelete", Method::DELETE, &path, LIGHT))
            .await
    }

    /// `GET /users/{userId}/schedulers`: the users this user is an assistant of.
    pub async fn list_schedulers(&self, user_id: &str) -> Result<Vec<Scheduler>, Error> {
        let path = ["users", user_id, "schedulers"];
        let list: SchedulerList = self
            .json(call("userSchedulers", Method::GET, &path, MEDIUM))
            .await?;
        Ok(list.schedulers)
    }

    /// `DELETE /users/{userId}/schedulers`.
    pub async fn delete_schedulers(&self, user_id: &str) -> Result<(), Error> {
        let path = ["users", user_id, "schedulers"];
        self.empty(call("userSchedulersDelete", Method::DELETE, &path, LIGHT))
            .await
    }

    /// `DELETE /users/{userId}/schedulers/{schedulerId}`.
    pub async fn delete_scheduler(&self, user_id: &str, scheduler_id: &str) -> Result<(), Error> {
        let path = ["users", user_id, "schedulers", scheduler_id];
        self.empty(call("userSchedulerDelete", Method::DELETE, &path, LIGHT))
            .await
    }

    /// `GET /accounts/{accountId}/settings?option=security` (`me` is the caller's account).
    pub async fn security_settings(&self, account_id: &str) -> Result<Value, Error> {
        let path = ["accounts", account_id, "settings"];
        let mut c = call("accountSettings", Method::GET, &path, MEDIUM);
        c.query.push(("option", "security".into()));
        self.json(c).await
    }

    /// `PATCH /accounts/{accountId}/settings?option=security`.
    pub async fn update_security_settings(
        &self,
        account_id: &str,
        settings: &Value,
    ) -> Result<(), Error> {
        let path = ["accounts", account_id, "settings"];
        let mut c = call("accountSettingsUpdate", Method::PATCH, &path, MEDIUM);
        c.query.push(("option", "security".into()));
        c.body = Some(settings.clone());
        self.empty(c).await
    }
}
