//! `esxlcm users`: the service's local accounts (rows of the store's database: SQLite in
//! DATA_DIR/store, or the PostgreSQL of `--database`). The logic is
//! `esxlcm_server::api::users`; this module parses, reads the password and renders.
//! Passwords are never taken as arguments (they would show in `ps` and shell history):
//! asked for on the terminal without echo, or read from stdin with `--password-stdin`.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use esxlcm_server::api::users::{self, Role};
use esxlcm_store::Store;

use super::Status;
use super::common::BackendArgs;
use crate::output::{self, Table};

const AFTER_HELP: &str = "\
Users live in the store's database with Argon2id password hashes: SQLite in DATA_DIR/store,
or with --database the PostgreSQL every replica shares (one `esxlcm users` reaches them all).
Each change is one transaction. A running `esxlcm serve` sees it at the next login, and at
the next call within a second: a removed user's sessions end, a changed role applies to open
sessions. The last administrator cannot be removed or demoted. Users typed into
DATA_DIR/config.json (as older versions kept them) move into the database at the server's
next start or login.

Examples:
  esxlcm users add alice --role admin                      # asks for the password twice
  printf '%s\\n' \"$PW\" | esxlcm users add ci --role read-only --password-stdin
  esxlcm users list --json          # {\"schema\": \"esxlcm.users.list/1\", \"users\": [...]}
  esxlcm users passwd alice
  esxlcm users role alice read-only
  esxlcm users remove ci";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct UsersArgs {
    #[command(subcommand)]
    pub command: UsersCommand,

    /// The service's data directory (as for `esxlcm serve`)
    #[arg(long, value_name = "DATA_DIR", default_value = "esxlcm-data", env = "ESXLCM_DATA_DIR", global = true)]
    pub data_dir: PathBuf,

    /// Write one JSON object instead of text (esxlcm.users.list/1 for list, esxlcm.users.change/1
    /// for the others)
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    pub backends: BackendArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum UsersCommand {
    /// Add a user
    Add {
        name: String,
        /// What the user may do: admin (everything) or read-only (every read operation)
        #[arg(long, value_enum, default_value = "read-only")]
        role: RoleArg,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// List the users and their roles
    List,
    /// Set a user's password
    Passwd {
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Remove a user
    Remove { name: String },
    /// Change a user's role
    Role {
        name: String,
        #[arg(value_enum)]
        role: RoleArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    #[value(name = "read-only", alias = "read_only")]
    ReadOnly,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => Self::Admin,
            RoleArg::ReadOnly => Self::ReadOnly,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct PasswordArgs {
    /// Read the password from stdin (one line) instead of asking on the terminal
    #[arg(long)]
    pub password_stdin: bool,
}

/// The store whose database keeps the users (made, with the data directory, when missing:
/// the first user may come before the first start).
fn open_store(args: &UsersArgs) -> anyhow::Result<Store> {
    let location = args.backends.location(&esxlcm_server::api::store_dir(&args.data_dir))?;
    if location.is_local() && !args.data_dir.is_dir() {
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    }
    Store::open_location(&location).with_context(|| format!("opening the store {location}"))
}

pub fn run(args: &UsersArgs) -> anyhow::Result<Status> {
    let store = open_store(args)?;
    let place = store.location().to_string();
    let mut out = output::stdout();
    match &args.command {
        UsersCommand::Add { name, role, password } => {
            let pw = read_password(password, name)?;
            let role = Role::from(*role);
            users::add_user(&store, name, role, &pw).with_context(|| format!("adding user '{name}'"))?;
            if args.json {
                change_json(&mut out, "add", name, Some(role), None)?;
            } else {
                writeln!(out, "added user {name} ({}) to the users of {place}", role.as_str())?;
            }
        }
        UsersCommand::List => {
            let list = users::list_users(&store).with_context(|| format!("reading the users of {place}"))?;
            if args.json {
                output::write_json(&mut out, &serde_json::json!({ "schema": "esxlcm.users.list/1", "users": list }))?;
            } else if list.is_empty() {
                writeln!(out, "no users in {place}")?;
            } else {
                let mut table = Table::new(["NAME", "ROLE"]);
                for u in &list {
                    table.row([u.name.clone(), u.role.as_str().to_owned()]);
                }
                table.write(&mut out, "")?;
            }
        }
        UsersCommand::Passwd { name, password } => {
            // Refuse an unknown name before asking for a password.
            let known = users::list_users(&store).with_context(|| format!("reading the users of {place}"))?;
            if !known.iter().any(|u| &u.name == name) {
                bail!("no user named '{name}' in {place}");
            }
            let pw = read_password(password, name)?;
            users::set_password(&store, name, &pw).with_context(|| format!("setting the password of '{name}'"))?;
            if args.json {
                change_json(&mut out, "passwd", name, None, None)?;
            } else {
                writeln!(out, "password of {name} changed")?;
            }
        }
        UsersCommand::Remove { name } => {
            users::remove_user(&store, name).with_context(|| format!("removing user '{name}'"))?;
            if args.json {
                change_json(&mut out, "remove", name, None, None)?;
            } else {
                writeln!(out, "removed user {name}")?;
            }
        }
        UsersCommand::Role { name, role } => {
            let role = Role::from(*role);
            let before =
                users::set_role(&store, name, role).with_context(|| format!("changing the role of '{name}'"))?;
            if args.json {
                change_json(&mut out, "role", name, Some(role), Some(before))?;
            } else {
                writeln!(out, "{name}: {} → {}", before.as_str(), role.as_str())?;
            }
        }
    }
    out.flush()?;
    Ok(Status::Success)
}

/// `esxlcm.users.change/1`: what `users add|passwd|remove|role` did (never a password).
fn change_json(
    out: &mut dyn std::io::Write,
    action: &str,
    name: &str,
    role: Option<Role>,
    previous_role: Option<Role>,
) -> std::io::Result<()> {
    output::write_json(
        out,
        &serde_json::json!({
            "schema": "esxlcm.users.change/1",
            "action": action,
            "user": name,
            "role": role.map(Role::as_str),
            "previous_role": previous_role.map(Role::as_str),
        }),
    )
}

/// The password: from stdin with `--password-stdin` (the first line), else asked twice on
/// the terminal without echo.
fn read_password(args: &PasswordArgs, name: &str) -> anyhow::Result<String> {
    if args.password_stdin {
        let mut text = String::new();
        // One line of a sane length: a file piped in by mistake is not a password.
        std::io::stdin().take(64 * 1024).read_to_string(&mut text).context("reading the password from stdin")?;
        let line = text.lines().next().unwrap_or_default().to_owned();
        if line.is_empty() {
            bail!("no password on stdin");
        }
        return Ok(line);
    }
    if !std::io::stdin().is_terminal() {
        bail!("stdin is not a terminal: give the password on stdin with --password-stdin");
    }
    let first = rpassword::prompt_password(format!("password for {name}: ")).context("reading the password")?;
    let again = rpassword::prompt_password("again: ").context("reading the password")?;
    if first != again {
        bail!("the passwords do not match");
    }
    Ok(first)
}
