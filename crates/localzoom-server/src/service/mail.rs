//! The e-mails Zoom sends users, kept in the outbox (nothing leaves the machine): a test reads them through the
//! control API (`GET /_localzoom/v1/outbox`).

use crate::clock::rfc3339;
use crate::domain::user::UserRecord;
use crate::store::{OutboxEmail, Store, StoreResult};

/// Why an e-mail is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mail {
    /// `POST /users` with `action=create`: the invitation whose link activates the account.
    Invitation,
    /// `PUT /users/{userId}/password`.
    PasswordChanged,
}

pub async fn send(store: &Store, user: &UserRecord, mail: Mail, now: i64) -> StoreResult<()> {
    let greeting = if user.first_name.is_empty() {
        &user.email
    } else {
        &user.first_name
    };
    let (subject, body) = match mail {
        Mail::Invitation => (
            "Please activate your Zoom account",
            format!(
                "Hi {greeting},\n\nYou have been invited to join a Zoom account as {}.\nActivate your account \
                 with the link in this e-mail; until then the account is pending.\n",
                user.email
            ),
        ),
        Mail::PasswordChanged => (
            "Your Zoom password has been changed",
            format!(
                "Hi {greeting},\n\nThe password of your Zoom account {} was changed on {}.\nIf you did not make \
                 this change, contact your account administrator.\n",
                user.email,
                rfc3339(now)
            ),
        ),
    };
    store
        .enqueue_email(&OutboxEmail {
            user_id: Some(user.id.clone()),
            account_id: Some(user.account_id.clone()),
            to_address: user.email.clone(),
            subject: subject.into(),
            body,
            created_at: now,
        })
        .await
}
