//! What the web console (`/_localzoom/ui`) shows and does. Its actions are an admin's in Zoom's web portal: they
//! run the same service functions as `/v2`, as the account's owner, so they decide, record and announce
//! (webhooks) exactly as the API calls do.

use crate::crypto;
use crate::domain::error::DomainError;
use crate::domain::principal::Principal;
use crate::domain::rate_limits::{AccountLimits, Plan};
use crate::domain::user::{LoginType, Role, Status, UserRecord, UserType};
use crate::error::ApiResult;
use crate::store::{AccountRecord, OutboxEmail, SessionRecord, Store, UserQuery};

/// Users per page of the users table.
pub const PAGE_SIZE: u64 = 50;
/// Users of the status a filtered page looks through at most: a filter few users match costs a bounded walk
/// per page (a few milliseconds), not one through every user of the account.
const SCAN: u64 = 10_000;

/// The owner of `account`, acting as an admin does in Zoom's portal. It holds no token: the console's session is
/// its authentication, and the service functions it calls check roles, not scopes.
pub async fn owner_principal(store: &Store, account: &AccountRecord) -> ApiResult<Principal> {
    let owner = store
        .user_by_email(&account.id, &account.owner_email)
        .await?
        .ok_or_else(|| DomainError::UserNotFound(account.owner_email.clone()))?;
    Ok(Principal {
        account_id: account.id.clone(),
        user_id: owner.id,
        client_id: "localzoom-console".into(),
        scopes: Vec::new(),
        token_sha256: crypto::sha256(b"localzoom-console"),
        role: Role::Owner,
        limits: AccountLimits {
            plan: Plan::of(account.plan),
            overrides: account.rate_limit_overrides.clone(),
        },
        // Read the subscriptions: the portal's changes announce themselves like the API's.
        account_listened: true,
        account_number: account.account_number,
    })
}

/// Which users the table shows.
#[derive(Debug, Clone)]
pub struct UserFilter {
    pub account_id: String,
    pub status: Status,
    pub role: Option<Role>,
    pub user_type: Option<UserType>,
    pub login_type: Option<LoginType>,
    /// An id or an e-mail: the one user it names (any status), if any.
    pub search: Option<String>,
    /// Keyset: users after this `seq`.
    pub after_seq: i64,
}

/// One page of the table, and where the next starts (`None`: the last page).
pub struct UserPage {
    pub users: Vec<UserRecord>,
    pub next_after: Option<i64>,
    /// With a role, type or login filter: how many users of the status the page looked through at most (a page
    /// short of full may have more after it).
    pub looked_through: Option<u64>,
}

pub async fn users(store: &Store, filter: &UserFilter) -> ApiResult<UserPage> {
    if let Some(search) = filter.search.as_deref() {
        let found = match search.contains('@') {
            true => store.user_by_email(&filter.account_id, search).await?,
            false => store.user_by_id(&filter.account_id, search).await?,
        };
        return Ok(UserPage {
            users: found.into_iter().collect(),
            next_after: None,
            looked_through: None,
        });
    }
    // One more than a page: whether another page follows, without counting.
    let query = UserQuery {
        account_id: filter.account_id.clone(),
        status: filter.status,
        role: filter.role,
        after_seq: filter.after_seq,
        offset: 0,
        limit: PAGE_SIZE + 1,
    };
    let narrowed =
        filter.role.is_some() || filter.user_type.is_some() || filter.login_type.is_some();
    let mut rows = match narrowed {
        true => {
            store
                .filtered_users(&query, (filter.user_type, filter.login_type), SCAN)
                .await?
        }
        false => store.list_users(&query).await?,
    };
    let full = rows.len() as u64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let next_after = match (full, narrowed) {
        (true, _) => rows.last().map(|(seq, _)| *seq),
        // The walk may have stopped before the last user: the next page goes on from there.
        (false, true) => store.scan_end(&query, SCAN).await?,
        (false, false) => None,
    };
    Ok(UserPage {
        next_after,
        looked_through: narrowed.then_some(SCAN),
        users: rows.into_iter().map(|(_, user)| user).collect(),
    })
}

/// Everything the user's page shows.
pub struct UserDetail {
    pub user: UserRecord,
    pub sessions: Vec<SessionRecord>,
    /// The user's assistants, and whether each may manage the user's private events.
    pub assistants: Vec<(UserRecord, bool)>,
    /// The users this one is an assistant of.
    pub schedulers: Vec<UserRecord>,
    /// Password changes in the last 24 hours, against the account's cap.
    pub password_changes: u64,
    pub password_changes_per_day: u32,
    pub emails: Vec<OutboxEmail>,
}

pub async fn user_detail(
    store: &Store,
    account: &AccountRecord,
    user_id: &str,
    now: i64,
) -> ApiResult<UserDetail> {
    let user = store
        .user_by_id(&account.id, user_id)
        .await?
        .ok_or_else(|| DomainError::UserNotFound(user_id.to_string()))?;
    Ok(UserDetail {
        sessions: store.sessions(&user.id).await?,
        assistants: store.assistants(&user.id).await?,
        schedulers: store.schedulers(&user.id).await?,
        password_changes: super::lifecycle::password_changes_today(store, &user.id, now).await?,
        password_changes_per_day: account.password_changes_per_day,
        emails: store.outbox(Some(&user.id)).await?,
        user,
    })
}
