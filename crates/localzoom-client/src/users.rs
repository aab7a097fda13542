//! The Users API operations (and the account security settings they depend on), one method each.

use localzoom_api::operations::OperationId;
use localzoom_api::{
    AddAssistantsRequest, AddedAssistants, Assistant, AssistantList, AssistantRef,
    CreateUserRequest, CreatedUser, DeleteAction, EmailCheck, ListedUser, Scheduler, SchedulerList,
    StatusAction, User, UserList, UserPermissions, UserSummary, UserToken, UserTokenType,
    UserUpdate,
};
use localzoom_api::{
    EmailUpdateRequest, PasswordRequest, PresenceStatus, PresenceStatusReply, PresenceStatusUpdate,
    StatusRequest, VirtualBackgroundFile,
};
use serde::Serialize;
use serde_json::Value;

use crate::{Call, Client, Error};

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

/// A call of the operation, with the values of its path's `{param}`s in order.
fn call<'a>(operation: OperationId, path_values: &[&'a str]) -> Call<'a> {
    Call {
        operation: operation.operation(),
        path_values: path_values.to_vec(),
        query: Vec::new(),
        body: None,
        file: None,
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
        let mut c = call(OperationId::Users, &[]);
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
        self.json(call(OperationId::User, &[user_id])).await
    }

    /// `GET /users/summary`: the account's users by licence.
    pub async fn user_summary(&self) -> Result<UserSummary, Error> {
        self.json(call(OperationId::UserSummary, &[])).await
    }

    /// `GET /users/{userId}/permissions`: the privileges of the user's role.
    pub async fn user_permissions(&self, user_id: &str) -> Result<Vec<String>, Error> {
        let found: UserPermissions = self
            .json(call(OperationId::UserPermission, &[user_id]))
            .await?;
        Ok(found.permissions)
    }

    /// `GET /users/{userId}/token?type=…`: a ZAK or an on-behalf token (Zoom's legacy `token` is refused).
    pub async fn user_token(&self, user_id: &str, kind: UserTokenType) -> Result<String, Error> {
        let mut c = call(OperationId::UserToken, &[user_id]);
        c.query.push(("type", kind.as_str().to_string()));
        Ok(self.json::<UserToken>(c).await?.token)
    }

    /// `GET /users/me/zak`: a ZAK of the token's own user.
    pub async fn zak(&self) -> Result<String, Error> {
        Ok(self
            .json::<UserToken>(call(OperationId::UserZak, &[]))
            .await?
            .token)
    }

    /// `POST /users`.
    pub async fn create_user(&self, request: &CreateUserRequest) -> Result<CreatedUser, Error> {
        let mut c = call(OperationId::UserCreate, &[]);
        c.body = body(request)?;
        self.json(c).await
    }

    /// `PATCH /users/{userId}`.
    pub async fn update_user(&self, user_id: &str, update: &UserUpdate) -> Result<(), Error> {
        let mut c = call(OperationId::UserUpdate, &[user_id]);
        c.body = body(update)?;
        self.empty(c).await
    }

    /// `DELETE /users/{userId}`.
    pub async fn delete_user(&self, user_id: &str, action: DeleteAction) -> Result<(), Error> {
        let mut c = call(OperationId::UserDelete, &[user_id]);
        c.query.push(("action", action.as_str().to_string()));
        self.empty(c).await
    }

    /// `GET /users/email`: whether a Zoom user has this e-mail.
    pub async fn email_exists(&self, email: &str) -> Result<bool, Error> {
        let mut c = call(OperationId::UserEmail, &[]);
        c.query.push(("email", email.to_string()));
        Ok(self.json::<EmailCheck>(c).await?.existed_email)
    }

    /// `PUT /users/{userId}/status`.
    pub async fn update_status(&self, user_id: &str, action: StatusAction) -> Result<(), Error> {
        let mut c = call(OperationId::UserStatus, &[user_id]);
        c.body = body(StatusRequest { action })?;
        self.empty(c).await
    }

    /// `PUT /users/{userId}/email`: needs the account's managed domain; 3 changes in any 24 hours.
    pub async fn update_email(&self, user_id: &str, email: &str) -> Result<(), Error> {
        let mut c = call(OperationId::UserEmailUpdate, &[user_id]);
        c.body = body(EmailUpdateRequest {
            email: email.to_string(),
        })?;
        self.empty(c).await
    }

    /// `GET /users/{userId}/presence_status`.
    pub async fn presence_status(&self, user_id: &str) -> Result<PresenceStatusReply, Error> {
        self.json(call(OperationId::UserPresenceStatus, &[user_id]))
            .await
    }

    /// `PUT /users/{userId}/presence_status`: once a minute per user, for a user signed in to a client;
    /// `dnd_minutes` only with `Do_Not_Disturb`.
    pub async fn update_presence_status(
        &self,
        user_id: &str,
        status: PresenceStatus,
        dnd_minutes: Option<u32>,
    ) -> Result<(), Error> {
        let mut c = call(OperationId::UserPresenceStatusUpdate, &[user_id]);
        c.body = body(PresenceStatusUpdate {
            status: status.as_str().to_string(),
            duration: dnd_minutes,
        })?;
        self.empty(c).await
    }

    /// `PUT /users/{userId}/password`.
    pub async fn update_password(&self, user_id: &str, password: &str) -> Result<(), Error> {
        let mut c = call(OperationId::UserPassword, &[user_id]);
        c.body = body(PasswordRequest {
            password: password.to_string(),
        })?;
        self.empty(c).await
    }

    /// `DELETE /users/{userId}/token`: revokes the user's SSO token (signs them out of SSO sessions).
    pub async fn revoke_sso_token(&self, user_id: &str) -> Result<(), Error> {
        self.empty(call(OperationId::UserSsoTokenDelete, &[user_id]))
            .await
    }

    /// `GET /users/{userId}/assistants`.
    pub async fn list_assistants(&self, user_id: &str) -> Result<Vec<Assistant>, Error> {
        let list: AssistantList = self
            .json(call(OperationId::UserAssistants, &[user_id]))
            .await?;
        Ok(list.assistants)
    }

    /// `POST /users/{userId}/assistants`.
    pub async fn add_assistants(
        &self,
        user_id: &str,
        assistants: &[AssistantRef],
    ) -> Result<AddedAssistants, Error> {
        let mut c = call(OperationId::UserAssistantCreate, &[user_id]);
        c.body = body(AddAssistantsRequest {
            assistants: assistants.to_vec(),
        })?;
        self.json(c).await
    }

    /// `DELETE /users/{userId}/assistants`: removes all of the user's assistants.
    pub async fn delete_assistants(&self, user_id: &str) -> Result<(), Error> {
        self.empty(call(OperationId::UserAssistantsDelete, &[user_id]))
            .await
    }

    /// `DELETE /users/{userId}/assistants/{assistantId}`.
    pub async fn delete_assistant(&self, user_id: &str, assistant_id: &str) -> Result<(), Error> {
        self.empty(call(
            OperationId::UserAssistantDelete,
            &[user_id, assistant_id],
        ))
        .await
    }

    /// `GET /users/{userId}/schedulers`: the users this user is an assistant of.
    pub async fn list_schedulers(&self, user_id: &str) -> Result<Vec<Scheduler>, Error> {
        let list: SchedulerList = self
            .json(call(OperationId::UserSchedulers, &[user_id]))
            .await?;
        Ok(list.schedulers)
    }

    /// `DELETE /users/{userId}/schedulers`.
    pub async fn delete_schedulers(&self, user_id: &str) -> Result<(), Error> {
        self.empty(call(OperationId::UserSchedulersDelete, &[user_id]))
            .await
    }

    /// `DELETE /users/{userId}/schedulers/{schedulerId}`.
    pub async fn delete_scheduler(&self, user_id: &str, scheduler_id: &str) -> Result<(), Error> {
        self.empty(call(
            OperationId::UserSchedulerDelete,
            &[user_id, scheduler_id],
        ))
        .await
    }

    /// `GET /users/{userId}/settings`: all groups (`option` `None`) or one option's shape
    /// (`meeting_authentication`, `recording_authentication`, `meeting_security`); `fields` keeps only the named
    /// settings (`custom_query_fields`).
    pub async fn user_settings(
        &self,
        user_id: &str,
        option: Option<&str>,
        fields: &[&str],
    ) -> Result<Value, Error> {
        let mut c = call(OperationId::UserSettings, &[user_id]);
        if let Some(option) = option {
            c.query.push(("option", option.into()));
        }
        if !fields.is_empty() {
            c.query.push(("custom_query_fields", fields.join(",")));
        }
        self.json(c).await
    }

    /// `PATCH /users/{userId}/settings`: `settings` in the shape of `option` (see `user_settings`).
    pub async fn update_user_settings(
        &self,
        user_id: &str,
        option: Option<&str>,
        settings: &Value,
    ) -> Result<(), Error> {
        let mut c = call(OperationId::UserSettingsUpdate, &[user_id]);
        if let Some(option) = option {
            c.query.push(("option", option.into()));
        }
        c.body = Some(settings.clone());
        self.empty(c).await
    }

    /// `POST /users/{userId}/picture`: a JPEG or PNG of at most 2 MB.
    pub async fn upload_picture(
        &self,
        user_id: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<(), Error> {
        let mut c = call(OperationId::UserPicture, &[user_id]);
        c.file = Some(("pic_file", file_name.to_string(), bytes));
        self.empty(c).await
    }

    /// `DELETE /users/{userId}/picture`.
    pub async fn delete_picture(&self, user_id: &str) -> Result<(), Error> {
        self.empty(call(OperationId::UserPictureDelete, &[user_id]))
            .await
    }

    /// `POST /users/{userId}/settings/virtual_backgrounds`: an image or video of at most 15 MB; ten per user.
    pub async fn upload_virtual_background(
        &self,
        user_id: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<VirtualBackgroundFile, Error> {
        let mut c = call(OperationId::UserVirtualBackgroundUpload, &[user_id]);
        c.file = Some(("file", file_name.to_string(), bytes));
        self.json(c).await
    }

    /// `DELETE /users/{userId}/settings/virtual_backgrounds?file_ids=…`.
    pub async fn delete_virtual_backgrounds(
        &self,
        user_id: &str,
        file_ids: &[&str],
    ) -> Result<(), Error> {
        let mut c = call(OperationId::UserVirtualBackgroundDelete, &[user_id]);
        c.query.push(("file_ids", file_ids.join(",")));
        self.empty(c).await
    }

    /// `GET /accounts/{accountId}/settings?option=security` (`me` is the caller's account).
    pub async fn security_settings(&self, account_id: &str) -> Result<Value, Error> {
        let mut c = call(OperationId::AccountSettings, &[account_id]);
        c.query.push(("option", "security".into()));
        self.json(c).await
    }

    /// `PATCH /accounts/{accountId}/settings?option=security`.
    pub async fn update_security_settings(
        &self,
        account_id: &str,
        settings: &Value,
    ) -> Result<(), Error> {
        let mut c = call(OperationId::AccountSettingsUpdate, &[account_id]);
        c.query.push(("option", "security".into()));
        c.body = Some(settings.clone());
        self.empty(c).await
    }

    /// `GET /scim2/Users` (SCIM 2.0): a page of users as SCIM resources, `filter` as Zoom takes it
    /// (`userName eq "a@b.c"`, `externalId eq {userId}`); `start_index` is 1-based, `count` at most 100.
    pub async fn scim_users(
        &self,
        filter: Option<&str>,
        start_index: u64,
        count: u64,
    ) -> Result<Value, Error> {
        let mut c = call(OperationId::ScimUsers, &[]);
        if let Some(filter) = filter {
            c.query.push(("filter", filter.into()));
        }
        c.query.push(("startIndex", start_index.to_string()));
        c.query.push(("count", count.to_string()));
        self.json(c).await
    }

    /// `GET /scim2/Users/{userId}`.
    pub async fn scim_user(&self, user_id: &str) -> Result<Value, Error> {
        self.json(call(OperationId::ScimUser, &[user_id])).await
    }

    /// `POST /scim2/Users`: `user` is a SCIM User resource (`userName`, `name`, …).
    pub async fn scim_create_user(&self, user: &Value) -> Result<Value, Error> {
        let mut c = call(OperationId::ScimUserCreate, &[]);
        c.body = Some(user.clone());
        self.json(c).await
    }

    /// `PUT /scim2/Users/{userId}`: changes the attributes `user` names.
    pub async fn scim_replace_user(&self, user_id: &str, user: &Value) -> Result<Value, Error> {
        let mut c = call(OperationId::ScimUserReplace, &[user_id]);
        c.body = Some(user.clone());
        self.json(c).await
    }

    /// `PATCH /scim2/Users/{userId}`: `patch` is a SCIM PatchOp (`{"Operations":[…]}`).
    pub async fn scim_patch_user(&self, user_id: &str, patch: &Value) -> Result<Value, Error> {
        let mut c = call(OperationId::ScimUserPatch, &[user_id]);
        c.body = Some(patch.clone());
        self.json(c).await
    }

    /// `DELETE /scim2/Users/{userId}`.
    pub async fn scim_delete_user(&self, user_id: &str) -> Result<(), Error> {
        self.empty(call(OperationId::ScimUserDelete, &[user_id]))
            .await
    }
}
