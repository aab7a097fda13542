//! Scheduling privilege: a user's assistants and, in reverse, the users an assistant schedules for.

use localzoom_api::{
    AddedAssistants, Assistant, AssistantList, AssistantRef, Scheduler, SchedulerList,
};

use crate::clock::rfc3339;
use crate::domain::account::AccountPlan;
use crate::domain::error::DomainError;
use crate::domain::principal::Principal;
use crate::domain::user::{UserRecord, UserType};
use crate::error::ApiResult;
use crate::service::{resolve_user, users};
use crate::store::Store;

/// Zoom's limit of assistants per user.
pub const MAX_ASSISTANTS: usize = 30;

/// On-prem (legacy type 3) also qualifies.
fn licensed(user: &UserRecord) -> bool {
    matches!(user.user_type, UserType::Licensed | UserType::OnPrem)
}

pub async fn list(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
) -> ApiResult<AssistantList> {
    let user = resolve_user(store, principal, user_ref).await?;
    Ok(AssistantList {
        assistants: store
            .assistants(&user.id)
            .await?
            .into_iter()
            .map(|(a, can_manage)| Assistant {
                id: a.id,
                email: a.email,
                can_manage_host_private_event: can_manage,
            })
            .collect(),
    })
}

pub async fn add(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    refs: &[AssistantRef],
    now: i64,
) -> ApiResult<AddedAssistants> {
    let user = resolve_user(store, principal, user_ref).await?;
    let account = users::account(store, &principal.account_id).await?;
    if account.plan == AccountPlan::Free {
        return Err(DomainError::NotAllowed(format!(
            "Current account must be paid account: {user_ref}"
        ))
        .into());
    }
    if !licensed(&user) {
        return Err(DomainError::NotAllowed(format!(
            "The user must either be a Licensed user or an On-prem user : {user_ref}."
        ))
        .into());
    }
    let existing = store.assistants(&user.id).await?.len();
    if existing + refs.len() > MAX_ASSISTANTS {
        return Err(DomainError::NotAllowed(format!(
            "A user can have at most {MAX_ASSISTANTS} assistants."
        ))
        .into());
    }
    let mut ids = Vec::with_capacity(refs.len());
    for r in refs {
        // Zoom: "Must have id or email, if given id, the email is ignored."
        let (found, named) = match (&r.id, &r.email) {
            (Some(id), _) => (store.user_by_id(&account.id, id).await?, id.clone()),
            (None, Some(email)) => (
                store.user_by_email(&account.id, email).await?,
                email.clone(),
            ),
            (None, None) => return Err(DomainError::field("assistants", "Invalid field.").into()),
        };
        let assistant =
            found.ok_or_else(|| DomainError::NotAllowed(format!("Can't find user {named}.")))?;
        if assistant.id == user.id {
            return Err(DomainError::NotAllowed(
                "Can't assign scheduling privilege to yourself.".into(),
            )
            .into());
        }
        if !licensed(&assistant) {
            return Err(DomainError::NotAllowed(format!(
                "The user must either be a Licensed user or an On-prem user : {}.",
                assistant.email
            ))
            .into());
        }
        if ids.contains(&assistant.id)
            || store
                .assistants(&user.id)
                .await?
                .iter()
                .any(|(a, _)| a.id == assistant.id)
        {
            return Err(DomainError::NotAllowed(format!(
                "User {} has already granted scheduling privilege.",
                assistant.email
            ))
            .into());
        }
        store
            .add_assistant(
                &user.id,
                &assistant.id,
                r.can_manage_host_private_event.unwrap_or(false),
                now,
            )
            .await?;
        ids.push(assistant.id);
    }
    Ok(AddedAssistants {
        ids: ids.join(","),
        add_at: rfc3339(now),
    })
}

/// `DELETE /users/{userId}/assistants`: removes the relation both ways (the assistants' schedulers lists too).
pub async fn remove_all(store: &Store, principal: &Principal, user_ref: &str) -> ApiResult<u64> {
    let user = resolve_user(store, principal, user_ref).await?;
    Ok(store.remove_assistants(&user.id).await?)
}

/// `DELETE /users/{userId}/assistants/{assistantId}`. An assistant id that names no user of the account is a
/// 404; one that names a user who is not an assistant is already in the asked-for state.
pub async fn remove_one(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    assistant_ref: &str,
) -> ApiResult<()> {
    let user = resolve_user(store, principal, user_ref).await?;
    let assistant = resolve_user(store, principal, assistant_ref).await?;
    store.remove_assistant(&user.id, &assistant.id).await?;
    Ok(())
}

pub async fn schedulers(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
) -> ApiResult<SchedulerList> {
    let user = resolve_user(store, principal, user_ref).await?;
    Ok(SchedulerList {
        schedulers: store
            .schedulers(&user.id)
            .await?
            .into_iter()
            .map(|s| Scheduler {
                id: s.id,
                email: s.email,
                pmi: s.pmi,
            })
            .collect(),
    })
}

pub async fn remove_all_schedulers(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
) -> ApiResult<u64> {
    let user = resolve_user(store, principal, user_ref).await?;
    Ok(store.remove_schedulers(&user.id).await?)
}

pub async fn remove_scheduler(
    store: &Store,
    principal: &Principal,
    user_ref: &str,
    scheduler_ref: &str,
) -> ApiResult<()> {
    let user = resolve_user(store, principal, user_ref).await?;
    let scheduler = resolve_user(store, principal, scheduler_ref).await?;
    store.remove_assistant(&scheduler.id, &user.id).await?;
    Ok(())
}
