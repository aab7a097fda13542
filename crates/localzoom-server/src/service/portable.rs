//! `localzoom export` / `localzoom import`: the whole dataset as NDJSON — one JSON object per line, tagged by
//! `record` — so a deployment can move between backends (SQLite to PostgreSQL, or back) or be backed up in a form
//! any tool can read. Kept: accounts, apps (secret hashes), users (password hashes), tokens (as SHA-256, with
//! their revocation), authorization codes, sessions, assistants, password history, the server key (in `meta`:
//! password fingerprints and signed values stay valid), the outbox and users' settings. Not yet kept: uploaded
//! files (pictures, virtual backgrounds), presence and the e-mail change log. Users are numbered anew, so a
//! `next_page_token` from before a move does not carry over.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::domain::error::DomainError;
use crate::domain::user::UserRecord;
use crate::error::{ApiError, ApiResult};
use crate::store::{
    AccountRecord, AppRecord, AssistantLink, AuthCode, Database, OutboxEmail, PasswordEntry,
    SessionRecord, Store, TokenRecord,
};

pub const FORMAT: &str = "localzoom-export";
pub const VERSION: u32 = 1;
/// Users read per query while exporting, and records written per transaction while importing.
const BATCH: usize = 5_000;

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
}

/// Writes every record, in an order `import` can apply (what a record refers to comes before it), from one
/// consistent snapshot. Returns how many records were written.
pub fn export(db: &Database, out: &mut dyn Write) -> ApiResult<u64> {
    db.read(|store| {
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
        for (key, value) in store.all_meta()? {
            emit(Line::Meta { key, value })?;
        }
        for account in store.accounts()? {
            emit(Line::Account(account))?;
        }
        let mut after = 0;
        loop {
            let page = store.all_users(after, BATCH as u64)?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            for (_, user) in page {
                emit(Line::User(user))?;
            }
        }
        for app in store.all_apps()? {
            emit(Line::App(app))?;
        }
        for token in store.all_tokens()? {
            emit(Line::Token(token))?;
        }
        for code in store.all_codes()? {
            emit(Line::Code(code))?;
        }
        for session in store.all_sessions()? {
            emit(Line::Session(session))?;
        }
        for link in store.all_assistant_links()? {
            emit(Line::Assistant(link))?;
        }
        for entry in store.all_password_history()? {
            emit(Line::Password(entry))?;
        }
        for email in store.outbox()? {
            emit(Line::Email(email))?;
        }
        for (user_id, settings) in store.all_user_settings()? {
            emit(Line::Settings { user_id, settings })?;
        }
        out.flush().map_err(ApiError::internal)?;
        Ok(count - 1)
    })
}

fn apply(store: &Store, line: Line) -> ApiResult<()> {
    Ok(match line {
        Line::Header { .. } => {
            return Err(DomainError::Invalid("a second header line".into()).into());
        }
        Line::Meta { key, value } => store.meta_set(&key, &value),
        Line::Account(a) => store.insert_account(&a),
        Line::User(u) => store.insert_user(&u),
        Line::App(a) => store.insert_app(&a),
        Line::Token(t) => store.insert_token(&t),
        Line::Code(c) => store.insert_code(&c),
        Line::Session(s) => store.insert_session(&s),
        Line::Assistant(l) => store.add_assistant(
            &l.user_id,
            &l.assistant_id,
            l.can_manage_host_private_event,
            l.added_at,
        ),
        Line::Password(p) => {
            store.record_password(&p.user_id, &p.fingerprint, p.changed_at, p.initial)
        }
        Line::Email(e) => store.enqueue_email(&e),
        Line::Settings { user_id, settings } => store.set_user_settings(&user_id, &settings),
    }?)
}

/// Reads an export into an empty database, `BATCH` records per transaction. Returns how many were imported.
pub async fn import(db: &Database, input: &mut dyn BufRead) -> anyhow::Result<u64> {
    let empty = db
        .read(|store| store.accounts().map(|a| a.is_empty()))
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
        db.write(move |store| batch.into_iter().try_for_each(|line| apply(store, line)))
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
