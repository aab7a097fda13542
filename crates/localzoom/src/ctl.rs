//! `localzoom ctl …`: the control API of a running server (`/_localzoom/v1`) from the command line — reset,
//! fixtures, the request journal, fault rules, the clock, the outbox.

use clap::{Args, Subcommand};
use localzoom_client::control::{ControlClient, RecordedCall, RequestFilter};
use serde_json::{Value, json};

use crate::output::{Output, print_records};

#[derive(Args)]
pub struct CtlArgs {
    /// The server's root URL [default: http:// and LOCALZOOM_LISTEN, or http://127.0.0.1:9800].
    #[arg(long, env = "LOCALZOOM_URL", global = true)]
    url: Option<String>,
    /// The server's admin key (its --admin-key).
    #[arg(
        long,
        env = "LOCALZOOM_ADMIN_KEY",
        hide_env_values = true,
        global = true
    )]
    admin_key: Option<String>,
    /// How results are printed.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Subcommand)]
enum CtlCommand {
    /// Put everything back to the bootstrap account and app (and the --fixtures document), or one account.
    Reset {
        /// Reset only this account.
        #[arg(long)]
        account: Option<String>,
    },
    /// Fixture documents.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// The request journal: the calls made to Zoom's API.
    #[command(subcommand)]
    Requests(RequestsCommand),
    /// Fault rules: make chosen calls fail, slow down or lose their connection.
    #[command(subcommand)]
    Faults(FaultsCommand),
    /// The server's clock.
    #[command(subcommand)]
    Clock(ClockCommand),
    /// The e-mails localzoom recorded instead of sending.
    #[command(subcommand)]
    Outbox(OutboxCommand),
}

#[derive(Subcommand)]
enum FixturesCommand {
    /// Load a fixture document (YAML, or JSON for a .json file; see docs/fixtures.md).
    Load {
        /// The document.
        file: std::path::PathBuf,
    },
}

#[derive(Args, Clone)]
struct FilterArgs {
    /// Only calls of this Zoom operation id (userStatus, userSSOTokenDelete, …).
    #[arg(long)]
    operation: Option<String>,
    /// Only calls of this account.
    #[arg(long)]
    account: Option<String>,
    /// Only calls answered with this HTTP status.
    #[arg(long)]
    status: Option<u16>,
    /// Only calls naming this user in their path (id or e-mail, as the call gave it).
    #[arg(long)]
    user: Option<String>,
    /// Only calls after the one with this tracking id.
    #[arg(long)]
    since: Option<String>,
}

impl From<FilterArgs> for RequestFilter {
    fn from(args: FilterArgs) -> Self {
        RequestFilter {
            operation: args.operation,
            account_id: args.account,
            status: args.status,
            user: args.user,
            since: args.since,
            ..RequestFilter::default()
        }
    }
}

#[derive(Subcommand)]
enum RequestsCommand {
    /// List the recorded calls, oldest first.
    List(FilterArgs),
    /// Count the recorded calls.
    Count(FilterArgs),
    /// Forget every recorded call.
    Clear,
}

#[derive(Subcommand)]
enum FaultsCommand {
    /// Add a rule; prints its id.
    Add(Box<FaultArgs>),
    /// List the rules, in the order they are tried.
    List,
    /// Delete one rule, or all with --all.
    Delete {
        /// The rule's id (fault-1, …).
        id: Option<String>,
        /// Delete every rule.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

#[derive(Args)]
struct FaultArgs {
    /// Match calls of this Zoom operation id.
    #[arg(long)]
    operation: Option<String>,
    /// Match calls whose path matches this glob (`*` is any run of characters).
    #[arg(long)]
    path: Option<String>,
    /// Match calls of this account.
    #[arg(long)]
    account: Option<String>,
    /// Match calls through this app (client id).
    #[arg(long)]
    client: Option<String>,
    /// Fire on a matching call with this chance (0 to 1).
    #[arg(long)]
    probability: Option<f64>,
    /// Fire on the next N matching calls only.
    #[arg(long)]
    times: Option<u64>,
    /// Answer with this HTTP status (400–599; 429 carries Zoom's rate-limit headers).
    #[arg(long)]
    status: Option<u16>,
    /// The Zoom error code of the answer [default: the status].
    #[arg(long)]
    code: Option<i64>,
    /// The message of the answer [default: Zoom's for the status].
    #[arg(long)]
    message: Option<String>,
    /// Wait this many milliseconds first.
    #[arg(long, conflicts_with_all = ["latency_min_ms", "latency_max_ms"])]
    latency_ms: Option<u64>,
    /// Wait between --latency-min-ms and --latency-max-ms milliseconds, uniformly.
    #[arg(long, requires = "latency_max_ms")]
    latency_min_ms: Option<u64>,
    /// See --latency-min-ms.
    #[arg(long, requires = "latency_min_ms")]
    latency_max_ms: Option<u64>,
    /// Drop the connection instead of answering.
    #[arg(long)]
    reset_connection: bool,
    /// The seed of the rule's random source (to replay a run).
    #[arg(long)]
    seed: Option<u64>,
}

impl FaultArgs {
    fn rule(&self) -> Value {
        let latency = match (self.latency_ms, self.latency_min_ms, self.latency_max_ms) {
            (Some(ms), _, _) => json!(ms),
            (None, Some(min), Some(max)) => json!({ "min": min, "max": max }),
            _ => Value::Null,
        };
        let mut rule = json!({
            "operation": self.operation, "path": self.path, "account_id": self.account,
            "client_id": self.client, "probability": self.probability, "times": self.times,
            "status": self.status, "code": self.code, "message": self.message, "latency_ms": latency,
            "seed": self.seed,
        });
        if self.reset_connection {
            rule["reset_connection"] = json!(true);
        }
        // Absent, not null: the server reads a null as given.
        if let Value::Object(map) = &mut rule {
            map.retain(|_, value| !value.is_null());
        }
        rule
    }
}

#[derive(Subcommand)]
enum ClockCommand {
    /// Print the server's time.
    Get,
    /// Move the clock forward by SECONDS.
    Advance {
        /// Seconds forward.
        seconds: u64,
    },
    /// Move the clock forward to a time (RFC 3339, e.g. 2026-01-02T00:00:00Z).
    Set {
        /// The time.
        now: String,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// List the e-mails, oldest first.
    List {
        /// Only those to this user (id or e-mail).
        #[arg(long)]
        user: Option<String>,
    },
    /// Forget the e-mails (of one user).
    Clear {
        /// Only those to this user (id or e-mail).
        #[arg(long)]
        user: Option<String>,
    },
}

/// A failure as a person at a terminal needs it: where nothing listens, or the control API's refusal.
pub fn explain(error: anyhow::Error) -> anyhow::Error {
    match error.downcast_ref::<localzoom_client::Error>() {
        Some(e @ localzoom_client::Error::Transport(_)) => {
            anyhow::anyhow!(crate::zoom::describe(e))
        }
        _ => error,
    }
}

const CALL_COLUMNS: &[&str] = &[
    "time",
    "tracking_id",
    "method",
    "path",
    "operation",
    "status",
    "code",
    "fault",
];

fn call_row(call: &RecordedCall) -> Value {
    serde_json::to_value(call).unwrap_or_default()
}

pub async fn run(args: CtlArgs) -> anyhow::Result<()> {
    let url = args.url.unwrap_or_else(|| {
        let listen = std::env::var("LOCALZOOM_LISTEN").unwrap_or_else(|_| "127.0.0.1:9800".into());
        format!("http://{listen}")
    });
    let key = args
        .admin_key
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| {
            anyhow::anyhow!("give the server's admin key: --admin-key KEY or LOCALZOOM_ADMIN_KEY")
        })?;
    let control = ControlClient::new(&url, &key)?;
    let output = args.output;
    let done = |what: &str| print_records(output, &["done"], vec![json!({ "done": what })], true);
    match args.command {
        CtlCommand::Reset { account } => {
            control.reset(account.as_deref()).await?;
            done("reset");
        }
        CtlCommand::Fixtures(FixturesCommand::Load { file }) => {
            let document = std::fs::read(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let yaml = file.extension().and_then(|e| e.to_str()) != Some("json");
            control.load_fixture(document, yaml).await?;
            done("loaded");
        }
        CtlCommand::Requests(RequestsCommand::List(filter)) => {
            let (calls, dropped) = control.requests(&filter.into()).await?;
            if output == Output::Json {
                let listing = json!({ "requests": calls, "dropped": dropped });
                println!("{}", serde_json::to_string_pretty(&listing)?);
            } else {
                print_records(
                    output,
                    CALL_COLUMNS,
                    calls.iter().map(call_row).collect(),
                    false,
                );
                if dropped > 0 {
                    eprintln!("({dropped} older calls were dropped for room: --journal-size)");
                }
            }
        }
        CtlCommand::Requests(RequestsCommand::Count(filter)) => {
            let count = control.count(&filter.into()).await?;
            print_records(output, &["count"], vec![json!({ "count": count })], true);
        }
        CtlCommand::Requests(RequestsCommand::Clear) => {
            control.clear_requests().await?;
            done("cleared");
        }
        CtlCommand::Faults(FaultsCommand::Add(fault)) => {
            let rule = control.add_fault(fault.rule()).await?;
            print_records(output, &["id", "seed"], vec![rule], true);
        }
        CtlCommand::Faults(FaultsCommand::List) => {
            let rules = control.faults().await?;
            let columns = [
                "id",
                "operation",
                "path",
                "account_id",
                "client_id",
                "probability",
                "remaining",
                "fired",
                "status",
                "latency_ms",
                "reset_connection",
                "seed",
            ];
            print_records(output, &columns, rules, false);
        }
        CtlCommand::Faults(FaultsCommand::Delete { id, all }) => {
            if id.is_none() && !all {
                anyhow::bail!("name the rule to delete (fault-1, …) or give --all");
            }
            control.delete_faults(id.as_deref()).await?;
            done("deleted");
        }
        CtlCommand::Clock(command) => {
            let now = match command {
                ClockCommand::Get => control.now().await?,
                ClockCommand::Advance { seconds } => control.advance_clock(seconds).await?,
                ClockCommand::Set { now } => control.set_clock_to(&now).await?,
            };
            print_records(output, &["now"], vec![json!({ "now": now })], true);
        }
        CtlCommand::Outbox(OutboxCommand::List { user }) => {
            let emails = control.outbox(user.as_deref()).await?;
            let rows = emails
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or_default())
                .collect();
            print_records(output, &["sent_at", "to", "subject"], rows, false);
        }
        CtlCommand::Outbox(OutboxCommand::Clear { user }) => {
            control.clear_outbox(user.as_deref()).await?;
            done("cleared");
        }
    }
    Ok(())
}
