//! The management commands, on the database directly (also while a server runs on it): `token`, `seed`,
//! `accounts`, `apps`, `export` and `import`.

use clap::{Args, Subcommand};
use localzoom_server::clock::{Clock, SystemClock};
use localzoom_server::domain::account::{AccountPlan, AppKind};
use localzoom_server::domain::rate_limits::{AccountLimits, Overrides, Plan};
use localzoom_server::error::ApiError;
use localzoom_server::service::accounts;
use localzoom_server::store::{AccountRecord, AppRecord, DEFAULT_POOL_SIZE, StoreError};

use crate::database::{
    BootstrapArgs, DatabaseArg, OutputArg, failed, mint_bootstrap_token, one_of, open_and_bootstrap,
};
use crate::output::{Progress, print_records};

#[derive(Args)]
pub(crate) struct PortableArgs {
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    /// The export file (default: standard output for export, standard input for import).
    #[arg(long)]
    pub(crate) file: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum AccountsCommand {
    /// Create an account and its owner.
    Create(CreateAccountArgs),
    /// List the accounts.
    List(ListArgs),
    /// Set an account's limits (Zoom keeps these per account; localzoom's defaults are in docs/fidelity.md).
    SetLimits(SetLimitsArgs),
    /// Change an account's plan (its rate limits follow it at once).
    SetPlan(SetPlanArgs),
}

#[derive(Subcommand)]
pub(crate) enum AppsCommand {
    /// Register an OAuth app in an account; prints its client id and (once) its client secret.
    Create(CreateAppArgs),
    /// List the apps.
    List(ListAppsArgs),
    /// Deactivate an app: its tokens stop working at once.
    Deactivate(DeactivateAppArgs),
    /// An app's event subscriptions (Zoom's webhooks) and their deliveries.
    #[command(subcommand)]
    Webhooks(crate::webhooks::WebhooksCommand),
}

#[derive(Args)]
pub(crate) struct CreateAccountArgs {
    /// The account's plan (sets its rate limits).
    #[arg(long, default_value = "pro", value_parser = one_of(AccountPlan::ALL, AccountPlan::as_str))]
    pub(crate) plan: AccountPlan,
    /// E-mail of the account's owner (its domain becomes the account's managed domain).
    #[arg(long)]
    pub(crate) owner_email: String,
    /// Id of the new account (generated when absent).
    #[arg(long)]
    pub(crate) account_id: Option<String>,
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

#[derive(Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

#[derive(Args)]
pub(crate) struct CreateAppArgs {
    /// The account the app belongs to.
    #[arg(long)]
    pub(crate) account: String,
    /// `s2s`: Server-to-Server (account credentials); `user`: user-managed (authorization code).
    #[arg(long = "type", value_parser = one_of(AppKind::ALL, AppKind::as_str))]
    pub(crate) kind: AppKind,
    /// Space-separated scopes (default: the classic admin set for s2s, the classic user set for user apps).
    #[arg(long)]
    pub(crate) scopes: Option<String>,
    /// Where the authorization-code flow sends the browser back (required for user apps).
    #[arg(long, required_if_eq("kind", "user"))]
    pub(crate) redirect_uri: Option<String>,
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

#[derive(Args)]
pub(crate) struct ListAppsArgs {
    /// Only this account's apps.
    #[arg(long)]
    pub(crate) account: Option<String>,
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

#[derive(Args)]
pub(crate) struct DeactivateAppArgs {
    /// The app's client id.
    pub(crate) client_id: String,
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

#[derive(Args)]
pub(crate) struct SetLimitsArgs {
    /// The account (default: the database's bootstrap account).
    #[arg(long)]
    pub(crate) account: Option<String>,
    /// Most active and pending Basic users (error 3412 beyond), or `unlimited`.
    #[arg(long)]
    pub(crate) max_basic_users: Option<String>,
    /// How many recent passwords a new one may not repeat (error 1129).
    #[arg(long)]
    pub(crate) password_history: Option<u32>,
    /// How many password changes a user may make in 24 hours.
    #[arg(long)]
    pub(crate) password_changes_per_day: Option<u32>,
    /// Replace one of the plan's rate limits: NAME=N, NAME=unlimited or NAME=default (repeatable). Names:
    /// light, medium, heavy, resource-intensive (per second; per minute for resource-intensive), their
    /// `-daily` forms, heavy-resource-intensive-daily, user-create-daily.
    #[arg(long = "rate-limit", value_name = "NAME=VALUE")]
    pub(crate) rate_limits: Vec<String>,
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
}

#[derive(Args)]
pub(crate) struct SetPlanArgs {
    /// The new plan.
    #[arg(id = "new_plan", value_name = "PLAN", value_parser = one_of(AccountPlan::ALL, AccountPlan::as_str))]
    pub(crate) plan: AccountPlan,
    /// The account (default: the database's bootstrap account).
    #[arg(long)]
    pub(crate) account: Option<String>,
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
}

#[derive(Args)]
pub(crate) struct SeedArgs {
    /// How many users to add.
    #[arg(long)]
    pub(crate) users: u64,
    #[command(flatten)]
    pub(crate) bootstrap: BootstrapArgs,
}

pub(crate) async fn token(args: BootstrapArgs) -> anyhow::Result<()> {
    let (token, outcome) = mint_bootstrap_token(&args).await?;
    if let Some(secret) = &outcome.generated_secret {
        eprintln!(
            "localzoom: bootstrapped account {} · client id {} · client secret {secret} (shown once)",
            outcome.account_id, outcome.client_id
        );
    }
    println!("{token}");
    Ok(())
}

pub(crate) async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    // Small transactions: every statement inside a savepoint pays for the pages the transaction has dirtied.
    const BATCH: u64 = 2_000;
    let now = SystemClock.now_ms();
    let (db, outcome) = open_and_bootstrap(&args.bootstrap).await?;
    let account = outcome.account_id.clone();
    // Continue numbering after earlier seeds so that running it twice adds more users.
    let first = db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;

            let mut n = 0;
            while store
                .email_exists(&format!("seed{}@seed.localzoom.test", n + BATCH))
                .await?
            {
                n += BATCH;
            }
            while store
                .email_exists(&format!("seed{n}@seed.localzoom.test"))
                .await?
            {
                n += 1;
            }
            Ok(n)
        })
        .await
        .map_err(|e: StoreError| anyhow::anyhow!("cannot read the database: {e}"))?;
    let started = std::time::Instant::now();
    let mut progress = Progress::new("seeding users", args.users);
    let mut done = 0;
    while done < args.users {
        let count = BATCH.min(args.users - done);
        let (account, from) = (account.clone(), first + done);
        db.write(move |tx| async move {
            let store = &tx;
            accounts::seed_users(store, &account, from, count, now).await
        })
        .await
        .map_err(|e| anyhow::anyhow!("cannot seed users: {}", e.cause()))?;
        done += count;
        progress.show(done);
    }
    println!(
        "seeded {} users into account {} in {:.1}s",
        args.users,
        outcome.account_id,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub(crate) async fn set_limits(args: SetLimitsArgs) -> anyhow::Result<()> {
    let max_basic_users = match args.max_basic_users.as_deref() {
        None => None,
        Some("unlimited") => Some(None),
        Some(n) => Some(Some(n.parse::<u32>().map_err(|_| {
            anyhow::anyhow!("--max-basic-users takes a number or `unlimited`, not {n:?}")
        })?)),
    };
    let rate_limits = args
        .rate_limits
        .iter()
        .map(|text| {
            Overrides::parse_assignment(text).map_err(|e| anyhow::anyhow!("--rate-limit {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (history, per_day) = (args.password_history, args.password_changes_per_day);
    let account = edit_account(&args.db, args.account, move |account| {
        if let Some(max) = max_basic_users {
            account.max_basic_users = max;
        }
        if let Some(n) = history {
            account.password_history_count = n;
        }
        if let Some(n) = per_day {
            account.password_changes_per_day = n;
        }
        for (limit, value) in rate_limits {
            account.rate_limit_overrides.set(limit, value);
        }
        Ok(())
    })
    .await?;
    println!(
        "account {}: max Basic users {}, password history {}, password changes per day {}",
        account.id,
        account
            .max_basic_users
            .map_or("unlimited".to_string(), |n| n.to_string()),
        account.password_history_count,
        account.password_changes_per_day
    );
    println!("rate limits: {}", limits_of(&account));
    Ok(())
}

pub(crate) async fn set_plan(args: SetPlanArgs) -> anyhow::Result<()> {
    let plan = args.plan;
    let account = edit_account(&args.db, args.account, move |account| {
        account.plan = plan;
        Ok(())
    })
    .await?;
    println!("account {}: plan {}", account.id, account.plan);
    println!("rate limits: {}", limits_of(&account));
    Ok(())
}

/// Changes an account (the bootstrap account unless `account` is given) in one transaction; a running server
/// sees the change on its next request.
pub(crate) async fn edit_account(
    db: &DatabaseArg,
    account: Option<String>,
    edit: impl FnOnce(&mut AccountRecord) -> Result<(), ApiError> + Send + 'static,
) -> anyhow::Result<AccountRecord> {
    let db = db.open(DEFAULT_POOL_SIZE).await?;
    let account_id = match account {
        Some(id) => id,
        None => db
            .read(|store| async move { accounts::bootstrap_account_id(&store).await }).await
            .map_err(failed)?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{} has no bootstrap account (`localzoom serve` makes one on its first start): name the \
                     account with --account ID (`localzoom accounts list` shows them)",
                    db.describe()
                )
            })?,
    };
    db.write(move |tx| async move {
        let store = &tx;
        let result: Result<_, ApiError> = {
            let mut account = localzoom_server::service::users::account(store, &account_id).await?;
            edit(&mut account)?;
            store.update_account(&account).await?;
            Ok(account)
        };
        result
    })
    .await
    .map_err(failed)
}

pub(crate) fn limits_of(account: &AccountRecord) -> AccountLimits {
    AccountLimits {
        plan: Plan::of(account.plan),
        overrides: account.rate_limit_overrides.clone(),
    }
}

pub(crate) async fn export(args: PortableArgs) -> anyhow::Result<()> {
    use localzoom_server::service::portable;
    let db = args.db.open(DEFAULT_POOL_SIZE).await?;
    let count = match &args.file {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
            portable::export(&db, &mut std::io::BufWriter::new(file)).await
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            portable::export(&db, &mut out).await
        }
    }
    .map_err(|e| anyhow::anyhow!("cannot export {}: {}", db.describe(), e.cause()))?;
    eprintln!("exported {count} records from {}", db.describe());
    Ok(())
}

pub(crate) async fn import(args: PortableArgs) -> anyhow::Result<()> {
    use localzoom_server::service::portable;
    let db = args.db.open(DEFAULT_POOL_SIZE).await?;
    let count = match &args.file {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
            portable::import(&db, &mut std::io::BufReader::new(file)).await?
        }
        None => portable::import(&db, &mut std::io::stdin().lock()).await?,
    };
    eprintln!("imported {count} records into {}", db.describe());
    Ok(())
}

pub(crate) fn account_json(a: &AccountRecord) -> serde_json::Value {
    serde_json::json!({
        "account_id": a.id, "plan": a.plan, "owner_email": a.owner_email,
        "max_basic_users": a.max_basic_users, "password_history": a.password_history_count,
        "password_changes_per_day": a.password_changes_per_day,
        "rate_limits": limits_of(a).to_string(),
    })
}

pub(crate) fn app_json(a: &AppRecord, secret: Option<&str>) -> serde_json::Value {
    let mut value = serde_json::json!({
        "client_id": a.client_id, "account_id": a.account_id, "type": a.kind, "scopes": a.scopes.join(" "),
        "redirect_uri": a.redirect_uri, "active": a.active,
    });
    if let Some(secret) = secret {
        value["client_secret"] = serde_json::Value::from(secret);
    }
    value
}

pub(crate) const ACCOUNT_COLUMNS: &[&str] =
    &["account_id", "plan", "owner_email", "max_basic_users"];
pub(crate) const APP_COLUMNS: &[&str] = &["client_id", "account_id", "type", "active", "scopes"];

pub(crate) async fn create_account(args: CreateAccountArgs) -> anyhow::Result<()> {
    let db = args.db.open(DEFAULT_POOL_SIZE).await?;
    let now = SystemClock.now_ms();
    let id = args
        .account_id
        .unwrap_or_else(localzoom_server::crypto::new_id);
    let (plan, email) = (args.plan, args.owner_email);
    let (account, _) = db
        .write(move |tx| async move {
            let store = &tx;
            accounts::create_account(store, &id, plan, &email, now).await
        })
        .await
        .map_err(failed)?;
    print_records(
        args.output.output,
        ACCOUNT_COLUMNS,
        vec![account_json(&account)],
        true,
    );
    Ok(())
}

pub(crate) async fn list_accounts(args: ListArgs) -> anyhow::Result<()> {
    let all = args
        .db
        .open(DEFAULT_POOL_SIZE)
        .await?
        .read(|store| async move { store.accounts().await })
        .await
        .map_err(failed)?;
    print_records(
        args.output.output,
        ACCOUNT_COLUMNS,
        all.iter().map(account_json).collect(),
        false,
    );
    Ok(())
}

pub(crate) async fn create_app(args: CreateAppArgs) -> anyhow::Result<()> {
    let db = args.db.open(DEFAULT_POOL_SIZE).await?;
    let now = SystemClock.now_ms();
    let kind = args.kind;
    let scopes = args
        .scopes
        .map(|s| s.split_whitespace().map(str::to_string).collect());
    let (account, redirect) = (args.account, args.redirect_uri);
    let (app, secret) = db
        .write(move |tx| async move {
            let store = &tx;
            accounts::create_app(store, &account, kind, scopes, redirect, now).await
        })
        .await
        .map_err(failed)?;
    let mut columns = APP_COLUMNS.to_vec();
    columns.push("client_secret");
    print_records(
        args.output.output,
        &columns,
        vec![app_json(&app, Some(&secret))],
        true,
    );
    Ok(())
}

pub(crate) async fn list_apps(args: ListAppsArgs) -> anyhow::Result<()> {
    let apps = args
        .db
        .open(DEFAULT_POOL_SIZE)
        .await?
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            match &args.account {
                Some(account) => store.apps(account).await,
                None => store.all_apps().await,
            }
        })
        .await
        .map_err(failed)?;
    print_records(
        args.output.output,
        APP_COLUMNS,
        apps.iter().map(|a| app_json(a, None)).collect(),
        false,
    );
    Ok(())
}

pub(crate) async fn deactivate_app(args: DeactivateAppArgs) -> anyhow::Result<()> {
    let client_id = args.client_id;
    let app = args
        .db
        .open(DEFAULT_POOL_SIZE)
        .await?
        .write(move |tx| async move {
            let store = &tx;
            accounts::deactivate_app(store, &client_id).await
        })
        .await
        .map_err(failed)?;
    print_records(
        args.output.output,
        APP_COLUMNS,
        vec![app_json(&app, None)],
        true,
    );
    Ok(())
}
