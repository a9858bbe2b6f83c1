//! `esxlcm`: one binary for ESXi depots — inspect, check, generate and serve them.
//!
//! Errors are rendered here, at the edge: the message and its causes, one per line, and
//! an exit code of 0 (success), 1 (findings in the content) or 2 (usage, I/O, network).

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};
use tracing_subscriber::EnvFilter;

mod cli;
mod cmd;
mod demo;
mod fetch;
mod output;

use cli::{Cli, Command, DepotCommand, ImageCommand};
use cmd::host::HostCommand;
use cmd::{Context, Status, exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = output::Ui::detect(cli.color, cli.no_progress, cli.quiet);
    output::set_ui(ui);
    init_logging(&cli, ui);
    let ctx = Context::new(cli.network.to_options());
    let result = match &cli.command {
        Command::Depot(DepotCommand::Inspect(args)) => cmd::inspect::run(args, &ctx),
        Command::Depot(DepotCommand::Check(args)) => cmd::check::run(args, &ctx),
        Command::Depot(DepotCommand::Export(args)) => cmd::export::run(args, &ctx),
        Command::Depot(DepotCommand::Generate(args)) => cmd::generate::run(args, &ctx),
        Command::Image(ImageCommand::Resolve(args)) => cmd::image::run(args, &ctx),
        Command::Image(ImageCommand::Compliance(args)) => cmd::image::run_compliance(args, &ctx),
        Command::Image(ImageCommand::Build(args)) => cmd::image_build::run(args, &ctx),
        Command::Image(ImageCommand::Inspect(args)) => cmd::image_inspect::run(args, &ctx),
        Command::Serve(args) => cmd::serve::run(args, &ctx),
        Command::Mirror(args) => cmd::mirror::run(args, &cli.network),
        Command::Store(args) => cmd::store::run(args),
        Command::Host(HostCommand::Collect(args)) => cmd::host::collect::run(args, &ctx),
        Command::Host(HostCommand::AgentScript(args)) => cmd::host::collect::agent_script(args),
        Command::Users(args) => cmd::users::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Completions(args) => cmd::completions::completions(args, Cli::command()),
        Command::Man(args) => cmd::completions::man(args, Cli::command()),
    };
    match result {
        Ok(Status::Success) => ExitCode::from(exit::OK),
        Ok(Status::Findings) => ExitCode::from(exit::FINDINGS),
        Err(e) if cmd::is_broken_pipe(&e) => ExitCode::from(exit::OK),
        Err(e) => {
            let mut err = std::io::stderr().lock();
            for (i, line) in cmd::render_error(&e).iter().enumerate() {
                let _ = if i == 0 { writeln!(err, "error: {line}") } else { writeln!(err, "  caused by: {line}") };
            }
            ExitCode::from(cmd::exit_code_of(&e))
        }
    }
}

/// Logs go to stderr, as text (coloured per [`output::Ui`]) or JSON lines. `RUST_LOG` wins;
/// otherwise `-v`/`-q` pick the level. The server logs its requests at info, so `serve`
/// starts there.
fn init_logging(cli: &Cli, ui: output::Ui) {
    let default = match (cli.quiet, cli.verbose, &cli.command) {
        (true, _, _) => "error",
        (false, 0, Command::Serve(_)) => "info",
        (false, 0, _) => "warn",
        (false, 1, _) => "info",
        (false, 2, _) => "debug",
        _ => "trace",
    };
    // The TLS verifier logs its own failures at error level; esxlcm reports them with a hint.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},rustls_platform_verifier=off")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match cli.log_format {
        output::LogFormat::Text => builder.with_ansi(ui.color).with_target(false).init(),
        // Targets stay in JSON: collectors filter on them.
        output::LogFormat::Json => builder.json().with_ansi(false).with_current_span(false).init(),
    }
}
