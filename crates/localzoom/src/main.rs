//! The `localzoom` command: `serve` runs the Zoom-compatible server; the other subcommands manage its database or
//! drive Zoom's Users API. The flags and their variables are a stable contract (DESIGN.md §2).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod accounts;
mod ctl;
mod database;
mod log_writer;
mod output;
mod serve;
mod webhooks;
mod zoom;

use accounts::{AccountsCommand, AppsCommand, PortableArgs, SeedArgs};
use database::BootstrapArgs;
use serve::ServeArgs;

/// Many small allocations per request (JSON, rows, headers): mimalloc serves them faster than glibc's malloc.
/// `.cargo/config.toml` builds it without eager arena commits, which would add ~8 MB to an idle server's RSS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "localzoom",
    version,
    about = "A Zoom-compatible Users API server for tests and self-hosting"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Print a fresh access token of the bootstrap Server-to-Server app.
    Token(BootstrapArgs),
    /// Add N users to the bootstrap account quickly (for load tests), with a progress line on stderr.
    Seed(SeedArgs),
    /// Manage accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage OAuth apps.
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Zoom's Users API from the command line, against Zoom or localzoom (`--local`).
    #[command(subcommand)]
    Users(zoom::UsersCommand),
    /// For each user: revoke the SSO token, remove assistants, (optionally reset the password,) deactivate.
    Offboard(zoom::OffboardArgs),
    /// Write the whole dataset as NDJSON (to move between backends, or as a backup).
    Export(PortableArgs),
    /// Read an export into an empty database.
    Import(PortableArgs),
    /// The control API of a running server: reset, fixtures, the request journal, fault rules, the clock, the
    /// outbox (needs its admin key).
    Ctl(ctl::CtlArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await,
            Command::Token(args) => accounts::token(args).await,
            Command::Seed(args) => accounts::seed(args).await,
            Command::Accounts(AccountsCommand::SetLimits(args)) => accounts::set_limits(args).await,
            Command::Accounts(AccountsCommand::SetPlan(args)) => accounts::set_plan(args).await,
            Command::Accounts(AccountsCommand::Create(args)) => {
                accounts::create_account(args).await
            }
            Command::Accounts(AccountsCommand::List(args)) => accounts::list_accounts(args).await,
            Command::Apps(AppsCommand::Create(args)) => accounts::create_app(args).await,
            Command::Apps(AppsCommand::List(args)) => accounts::list_apps(args).await,
            Command::Apps(AppsCommand::Deactivate(args)) => accounts::deactivate_app(args).await,
            Command::Apps(AppsCommand::Webhooks(command)) => webhooks::run(command).await,
            Command::Users(command) => zoom::users(command).await.map_err(zoom::explain),
            Command::Offboard(args) => zoom::offboard(args).await.map_err(zoom::explain),
            Command::Export(args) => accounts::export(args).await,
            Command::Import(args) => accounts::import(args).await,
            Command::Ctl(args) => ctl::run(args).await.map_err(ctl::explain),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("localzoom: error: {error}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// `--help` is the first thing a newcomer reads: every subcommand and every flag says what it is about.
    #[test]
    fn every_subcommand_and_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in command.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(path.clone());
                }
                for arg in sub.get_arguments() {
                    let builtin = ["help", "version"].contains(&arg.get_id().as_str());
                    if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                        missing.push(format!("{path} <{}>", arg.get_id()));
                    }
                }
                walk(sub, &path, missing);
            }
        }
        let cli = Cli::command();
        cli.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cli, "localzoom", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }
}
