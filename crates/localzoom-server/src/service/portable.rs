//! `localzoom export` / `localzoom import`: the whole dataset as NDJSON — one JSON object per line, tagged by
//! `record` — so a deployment can move between backends (SQLite to PostgreSQL, or back) or be backed up in a form
//! any tool can read. Kept: accounts, apps (secret hashes), users (password hashes), tokens (as SHA-256, with
//! their revocation), authorization codes, sessions, assistants, password history, the server key (in `meta`:
//! password fingerprints and signed values stay valid), the outbox, users' settings, loaded resources
//! (devices, templates), pictures and virtual backgrounds (base64). Not kept: presence and the e-mail change log (both expire within a day). Users are
//! numbered anew, so a `next_page_token` from before a move does not carry over.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::domain::error::DomainError;
use crate::domain::media::{BackgroundKind, VirtualBackground};
use crate::domain::user::UserRecord;
use crate::domain::user_resources::ResourceKind;
use crate::error::{ApiError, ApiResult};
use crate::store::{
    AccountRecord, AppRecord, AssistantLink, AuthCode, Database, OutboxEmail, PasswordEntry,
    SessionRecord, Store, TokenRecord,
};

pub const FORMAT: &str = "localzoom-export";
pub const VERSION: u32 = 1;
/// Users read per query while exporting, and records written per transaction while importing.
const BATCH: usize = 5_000;
/// Pictures or background files read per query while exporting (each up to 2 or 15 MB).
const FILES_BATCH: u64 = 8;

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Line {
    Header {
        format: String,
        version: u32,
    },
    Meta {
        key: String,
        value: String,
    },
    Account(AccountRecord),
    User(UserRecord),
    App(AppRecord),
    Token(TokenRecord),
    Code(AuthCode),
    Session(SessionRecord),
    Assistant(AssistantLink),
    Password(PasswordEntry),
    Email(OutboxEmail),
    /// What a user changed of their settings.
    Settings {
        user_id: String,
        settings: serde_json::Map<String, serde_json::Value>,
    },
    /// A collaboration device, meeting summary template or meeting template loaded for a user.
    Resource {
        user_id: String,
        kind: ResourceKind,
        id: String,
        body: serde_json::Value,
    },
    /// A user's profile picture; `bytes` in standard base64.
    Picture {
        user_id: String,
        content_type: String,
        version: i64,
        bytes: String,
    },
    /// A virtual background file; `bytes` in standard base64.
    Background {
        user_id: String,
        id: String,
        name: String,
        kind: BackgroundKind,
        size: i64,
        is_default: bool,
        created_at: i64,
        bytes: String,
    },
}

/// Writes every record, in an order `import` can apply (what a record refers to comes before it), from one
/// consistent snapshot. Returns how many records were written.
pub async fn export(db: &Database, out: &mut dyn Write) -> ApiResult<u64> {
    db.read(|tx| async {
        let tx = tx;
        let store = &tx;

        let mut count = 0u64;
        let mut emit = |line: Line| -> ApiResult<()> {
            serde_json::to_writer(&mut *out, &line).map_err(ApiError::internal)?;
            out.write_all(b"\n").map_err(ApiError::internal)?;
            count += 1;
            Ok(())
        };
        emit(Line::Header {
            format: FORMAT.into(),
            version: VERSION,
        })?;
        for (key, value) in store.all_meta().await? {
            emit(Line::Meta { key, value })?;
        }
        for account in store.accounts().await? {
            emit(Line::Account(account))?;
        }
        let mut after = 0;
        loop {
            let page = store.all_users(after, BATCH as u64).await?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            for (_, user) in page {
                emit(Line::User(user))?;
            }
        }
        for app in store.all_apps().await? {
            emit(Line::App(app))?;
        }
        for token in store.all_tokens().await? {
            emit(Line::Token(token))?;
        }
        for code in store.all_codes().await? {
            emit(Line::Code(code))?;
        }
        for session in store.all_sessions().await? {
            emit(Line::Session(session))?;
        }
        for link in store.all_assistant_links().await? {
            emit(Line::Assistant(link))?;
        }
        for entry in store.all_password_history().await? {
            emit(Line::Password(entry))?;
        }
        for email in store.outbox(None).await? {
            emit(Line::Email(email))?;
        }
        for (user_id, settings) in store.all_user_settings().await? {
            emit(Line::Settings { user_id, settings })?;
        }
        for (user_id, kind, id, body) in store.all_user_resources().await? {
            emit(Line::Resource {
                user_id,
                kind,
                id,
                body,
            })?;
        }
        // Files a few at a time: they are large.
        let mut after = String::new();
        loop {
            let page = store.pictures_after(&after, FILES_BATCH).await?;
            let Some(last) = page.last().map(|(user_id, _)| user_id.clone()) else {
                break;
            };
            for (user_id, picture) in page {
                emit(Line::Picture {
                    user_id,
                    content_type: picture.content_type,
                    version: picture.version,
                    bytes: BASE64.encode(&picture.bytes),
                })?;
            }
            after = last;
        }
        let mut after = String::new();
        loop {
            let page = store.backgrounds_after(&after, FILES_BATCH).await?;
            let Some(last) = page.last().map(|b| b.file.id.clone()) else {
                break;
            };
            for b in page {
                emit(Line::Background {
                    user_id: b.user_id,
                    id: b.file.id,
                    name: b.file.name,
                    kind: b.file.kind,
                    size: b.file.size,
                    is_default: b.file.is_default,
                    created_at: b.created_at,
                    bytes: BASE64.encode(&b.bytes),
                })?;
            }
            after = last;
        }
        out.flush().map_err(ApiError::internal)?;
        Ok(count - 1)
    })
    .await
}

async fn apply(store: &Store, line: Line) -> ApiResult<()> {
    Ok(match line {
        Line::Header { .. } => {
            return Err(DomainError::Invalid("a second header line".into()).into());
        }
        Line::Meta { key, value } => store.meta_set(&key, &value).await,
        Line::Account(a) => store.insert_account(&a).await,
        Line::User(u) => store.insert_user(&u).await,
        Line::App(a) => store.insert_app(&a).await,
        Line::Token(t) => store.insert_token(&t).await,
        Line::Code(c) => store.insert_code(&c).await,
        Line::Session(s) => store.insert_session(&s).await,
        Line::Assistant(l) => {
            store
                .add_assistant(
                    &l.user_id,
                    &l.assistant_id,
                    l.can_manage_host_private_event,
                    l.added_at,
                )
                .await
        }
        Line::Password(p) => {
            store
                .record_password(&p.user_id, &p.fingerprint, p.changed_at, p.initial)
                .await
        }
        Line::Email(e) => store.enqueue_email(&e).await,
        Line::Settings { user_id, settings } => store.set_user_settings(&user_id, &settings).await,
        Line::Resource {
            user_id,
            kind,
            id,
            body,
        } => store.put_user_resource(&user_id, (kind, &id), &body).await,
        Line::Picture {
            user_id,
            content_type,
            version,
            bytes,
        } => {
            store
                .set_picture(&user_id, (&content_type, version), &decoded(&bytes)?)
                .await
        }
        Line::Background {
            user_id,
            id,
            name,
            kind,
            size,
            is_default,
            created_at,
            bytes,
        } => {
            let file = VirtualBackground {
                id,
                name,
                kind,
                size,
                is_default,
            };
            store
                .add_virtual_background(&user_id, &file, &decoded(&bytes)?, created_at)
                .await
        }
    }?)
}

fn decoded(bytes: &str) -> ApiResult<Vec<u8>> {
    BASE64
        .decode(bytes)
        .map_err(|e| DomainError::Invalid(format!("a file's bytes are not base64: {e}")).into())
}

/// Reads an export into an empty database, `BATCH` records per transaction. Returns how many were imported.
pub async fn import(db: &Database, input: &mut dyn BufRead) -> anyhow::Result<u64> {
    let empty = db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            store.accounts().await.map(|a| a.is_empty())
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the target database: {e}"))?;
    anyhow::ensure!(
        empty,
        "the target database already holds accounts: import only into an empty one"
    );
    let mut lines = input.lines();
    let header = lines
        .next()
        .transpose()?
        .ok_or_else(|| anyhow::anyhow!("the input is empty"))?;
    match serde_json::from_str::<Line>(&header) {
        Ok(Line::Header { format, version }) if format == FORMAT && version <= VERSION => {}
        Ok(Line::Header { format, version }) => {
            anyhow::bail!("not a localzoom export this version can read ({format} v{version})")
        }
        _ => anyhow::bail!("the first line is not a localzoom export header"),
    }
    let mut imported = 0u64;
    let mut number = 1;
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        for line in lines.by_ref().take(BATCH) {
            number += 1;
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let record: Line =
                serde_json::from_str(&line).map_err(|e| anyhow::anyhow!("line {number}: {e}"))?;
            batch.push(record);
        }
        if batch.is_empty() {
            return Ok(imported);
        }
        let n = batch.len() as u64;
        db.write(move |store| async move {
            for line in batch {
                apply(&store, line).await?;
            }
            Ok::<_, ApiError>(())
        })
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "import stopped near line {number} after {imported} records: {} (the target now holds a \
                     partial import: empty it before trying again)",
                    e.cause()
                )
            })?;
        imported += n;
    }
}
