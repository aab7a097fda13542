//! `localzoom apps webhooks …`: an app's event subscriptions and their delivery logs, on the database directly
//! (also while a server runs on it: its sender picks up what changes here).

use std::sync::Arc;

use clap::{Args, Subcommand};
use localzoom_server::clock::SystemClock;
use localzoom_server::delivery::Sender;
use localzoom_server::domain::webhook::NewSubscription;
use localzoom_server::service::webhooks;
use localzoom_server::store::DEFAULT_POOL_SIZE;

use crate::database::{DatabaseArg, OutputArg, failed};
use crate::output::print_records;

#[derive(Subcommand)]
pub(crate) enum WebhooksCommand {
    /// Subscribe an app's endpoint to events; the endpoint is validated at once, as Zoom validates it.
    Add(AddArgs),
    /// List event subscriptions.
    List(ListArgs),
    /// Remove a subscription and its deliveries.
    Remove(IdArgs),
    /// Validate a subscription's endpoint again (a failed one gets events again once it passes).
    Validate(IdArgs),
    /// A subscription's delivery log, newest first.
    Deliveries(DeliveriesArgs),
    /// Send a recorded event again.
    Redeliver(RedeliverArgs),
}

#[derive(Args)]
pub(crate) struct AddArgs {
    /// The app's client id.
    pub(crate) client_id: String,
    /// The endpoint events are POSTed to.
    #[arg(long)]
    pub(crate) url: String,
    /// The app's secret token: it signs every event (`x-zm-signature`) and answers the URL validation.
    #[arg(long)]
    pub(crate) secret_token: String,
    /// An event to send (repeatable, or comma-separated): user.created, user.updated, user.deactivated, …
    #[arg(long = "event", value_delimiter = ',', required = true)]
    pub(crate) events: Vec<String>,
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

#[derive(Args)]
pub(crate) struct ListArgs {
    /// Only this app's subscriptions.
    #[arg(long)]
    pub(crate) client_id: Option<String>,
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

#[derive(Args)]
pub(crate) struct IdArgs {
    /// The subscription's id.
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

#[derive(Args)]
pub(crate) struct DeliveriesArgs {
    /// The subscription's id.
    pub(crate) id: String,
    /// The most entries shown.
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: u32,
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

#[derive(Args)]
pub(crate) struct RedeliverArgs {
    /// The delivery's id (from `deliveries`).
    pub(crate) delivery_id: i64,
    #[command(flatten)]
    pub(crate) db: DatabaseArg,
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

const SUBSCRIPTION_COLUMNS: &[&str] = &[
    "id",
    "client_id",
    "url",
    "events",
    "validation",
    "validation_detail",
    "deliveries",
];
const DELIVERY_COLUMNS: &[&str] = &[
    "id",
    "event",
    "state",
    "attempts",
    "last_status",
    "latency_ms",
    "next_attempt_at",
    "last_error",
];

pub(crate) async fn run(command: WebhooksCommand) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::Add(args) => add(args).await,
        WebhooksCommand::List(args) => {
            let db = args.db.open(DEFAULT_POOL_SIZE).await?;
            let client_id = args.client_id;
            let views = db
                .read(|store| async move {
                    let mut views = Vec::new();
                    for subscription in store.subscriptions(client_id.as_deref()).await? {
                        views.push(webhooks::subscription_view(&store, &subscription).await?);
                    }
                    Ok::<_, localzoom_server::error::ApiError>(views)
                })
                .await
                .map_err(failed)?;
            print_records(args.output.output, SUBSCRIPTION_COLUMNS, views, false);
            Ok(())
        }
        WebhooksCommand::Remove(args) => {
            let id = args.id;
            args.db
                .open(DEFAULT_POOL_SIZE)
                .await?
                .write(move |tx| async move {
                    let store = &tx;
                    webhooks::unsubscribe(store, &id).await
                })
                .await
                .map_err(failed)
        }
        WebhooksCommand::Validate(args) => {
            let db = Arc::new(args.db.open(DEFAULT_POOL_SIZE).await?);
            let subscription = db
                .read(|tx| async {
                    let tx = tx;
                    let store = &tx;
                    webhooks::subscription(store, &args.id).await
                })
                .await
                .map_err(failed)?;
            let validated = Sender::new(db.clone(), Arc::new(SystemClock))
                .validate(&subscription)
                .await
                .map_err(failed)?;
            print_subscription(&db, &validated, args.output).await
        }
        WebhooksCommand::Deliveries(args) => {
            let log = args
                .db
                .open(DEFAULT_POOL_SIZE)
                .await?
                .read(|tx| async {
                    let tx = tx;
                    let store = &tx;
                    webhooks::delivery_log(store, &args.id, args.limit).await
                })
                .await
                .map_err(failed)?;
            print_records(args.output.output, DELIVERY_COLUMNS, log, false);
            Ok(())
        }
        WebhooksCommand::Redeliver(args) => {
            let id = args.delivery_id;
            let copy = args
                .db
                .open(DEFAULT_POOL_SIZE)
                .await?
                .write(move |tx| async move {
                    let store = &tx;
                    webhooks::redeliver(store, id).await
                })
                .await
                .map_err(failed)?;
            print_records(
                args.output.output,
                DELIVERY_COLUMNS,
                vec![webhooks::delivery_view(&copy)],
                true,
            );
            Ok(())
        }
    }
}

async fn add(args: AddArgs) -> anyhow::Result<()> {
    let db = Arc::new(args.db.open(DEFAULT_POOL_SIZE).await?);
    let asked = NewSubscription {
        url: args.url,
        secret_token: args.secret_token,
        events: args.events,
    };
    let sender = Sender::new(db.clone(), Arc::new(SystemClock));
    let validated = sender
        .subscribe(args.client_id, asked)
        .await
        .map_err(failed)?;
    print_subscription(&db, &validated, args.output).await
}

async fn print_subscription(
    db: &localzoom_server::store::Database,
    subscription: &localzoom_server::store::SubscriptionRecord,
    output: OutputArg,
) -> anyhow::Result<()> {
    let view = db
        .read(|tx| async {
            let tx = tx;
            let store = &tx;
            webhooks::subscription_view(store, subscription).await
        })
        .await
        .map_err(failed)?;
    print_records(output.output, SUBSCRIPTION_COLUMNS, vec![view], true);
    Ok(())
}
