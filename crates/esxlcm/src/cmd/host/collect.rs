//! `esxlcm host collect`: targets and delivery from the arguments, one library call
//! (`esxlcm_collect::collect_all`), the report rendered by `render`.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use esxlcm_collect::post::Service;
use esxlcm_collect::{Document, Failure, FailureKind, SshOptions, Target, collect_all, parse_inventory};

use super::render;
use super::{AgentScriptArgs, CollectArgs};
use crate::cmd::{Context, Status};
use crate::output;

/// An inventory of hosts is a small text file.
const MAX_INVENTORY_BYTES: u64 = 1024 * 1024;

/// Where documents go.
enum Sink {
    Stdout,
    File(PathBuf),
    Dir(PathBuf),
    Service(Service),
}

fn read_inventory(path: &Path) -> anyhow::Result<Vec<Target>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read inventory {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_INVENTORY_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read inventory {}", path.display()))?;
    if text.len() as u64 > MAX_INVENTORY_BYTES {
        bail!("inventory {} is larger than {MAX_INVENTORY_BYTES} bytes", path.display());
    }
    parse_inventory(&text).with_context(|| format!("inventory {}", path.display()))
}

fn password(args: &CollectArgs) -> anyhow::Result<String> {
    if let Some(file) = &args.password_file {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
    }
    if let Ok(p) = std::env::var("ESXLCM_PASSWORD") {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("service password: ").context("cannot read the password");
    }
    bail!("--post needs a password: --password-file FILE or ESXLCM_PASSWORD")
}

/// A host name as a file name: path separators and control characters replaced.
fn file_name(name: &str) -> String {
    let clean: String =
        name.chars().map(|c| if c == '/' || c == '\\' || c.is_control() || c == ':' { '_' } else { c }).collect();
    if clean.is_empty() || clean.starts_with('.') { format!("_{clean}.json") } else { format!("{clean}.json") }
}

fn deliver(sink: &Sink, target: &Target, doc: &Document) -> Result<String, Failure> {
    let write = |path: &Path| {
        doc.write_to(path)
            .map(|()| path.display().to_string())
            .map_err(|e| Failure::new(FailureKind::Delivery, format!("cannot write {}: {e}", path.display())))
    };
    match sink {
        Sink::Stdout => {
            let mut out = output::stdout();
            out.write_all(&doc.to_bytes())
                .and_then(|()| out.flush())
                .map(|()| "stdout".to_owned())
                .map_err(|e| Failure::new(FailureKind::Delivery, format!("stdout: {e}")))
        }
        Sink::File(path) => write(path),
        Sink::Dir(dir) => write(&dir.join(file_name(&target.name))),
        Sink::Service(service) => service
            .put_state(&target.name, &doc.value)
            .map(|p| {
                let registered = if p.created { " (registered)" } else { "" };
                format!("{}{registered} at {}", p.host_id, service.address())
            })
            .map_err(|e| Failure::new(FailureKind::Delivery, e.to_string())),
    }
}

pub fn run(args: &CollectArgs, ctx: &Context) -> anyhow::Result<Status> {
    let many = args.inventory.is_some();
    let targets = match (&args.inventory, &args.destination) {
        (Some(file), _) => read_inventory(file)?,
        (None, Some(dest)) => {
            let mut t = Target::new(dest);
            if let Some(name) = &args.name {
                t.name = name.clone();
            }
            vec![t]
        }
        (None, None) => bail!("give a DESTINATION or --inventory FILE"),
    };
    if many && args.out.is_none() && args.post.is_none() {
        bail!("--inventory needs --out DIR or --post URL (where each host's document goes)");
    }
    if args.json && args.out.is_none() && args.post.is_none() {
        bail!("--json reports on documents written with --out or posted with --post");
    }
    let sink = if let Some(url) = &args.post {
        let user = args.user.as_deref().context("--post needs --user USER (or ESXLCM_USER)")?;
        let password = password(args)?;
        Sink::Service(Service::login(ctx.fetch()?, url, user, &password)?)
    } else if let Some(out) = &args.out {
        if many {
            std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
            Sink::Dir(out.clone())
        } else {
            Sink::File(out.clone())
        }
    } else {
        Sink::Stdout
    };
    let options = SshOptions {
        program: args.ssh.clone(),
        identity: args.identity.clone(),
        options: args.ssh_options.clone(),
        connect_timeout: Duration::from_secs(args.ssh_connect_timeout),
        timeout: Duration::from_secs(args.ssh_timeout),
        ..SshOptions::default()
    };
    let show_progress = !output::ui().quiet;
    let outcomes = collect_all(
        &targets,
        &options,
        usize::from(args.jobs),
        |t, d| deliver(&sink, t, d),
        |o, done, total| {
            if show_progress {
                let _ = writeln!(std::io::stderr().lock(), "{}", render::progress_line(o, done, total));
            }
        },
    );
    if let Sink::Service(service) = sink {
        service.logout();
    }
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &render::report_json(&outcomes))?;
    } else if args.out.is_some() || args.post.is_some() {
        render::report_text(&mut out, &outcomes)?;
    } else {
        // The document went to stdout; the outcome goes to stderr.
        let mut err = std::io::stderr().lock();
        render::failures_text(&mut err, &outcomes)?;
    }
    out.flush()?;
    Ok(if failed == 0 { Status::Success } else { Status::Findings })
}

pub fn agent_script(_args: &AgentScriptArgs) -> anyhow::Result<Status> {
    let mut out = output::stdout();
    out.write_all(esxlcm_collect::agent::script().as_bytes())?;
    out.flush()?;
    Ok(Status::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_make_safe_file_names() {
        assert_eq!(file_name("esx01.example.com"), "esx01.example.com.json");
        assert_eq!(file_name("../etc/x"), "_.._etc_x.json");
        assert_eq!(file_name("fe80::1"), "fe80__1.json");
    }
}
