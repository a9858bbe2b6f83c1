//! Running the collection over the admin's own OpenSSH client: `ssh` as a child process
//! with `BatchMode=yes` (never a password prompt), so `~/.ssh/config`, known_hosts, agents
//! and ProxyJump keep working. A deadline ends a hung session; output is capped; a failure
//! is classified from ssh's exit status 255 and its stderr, with what to do.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt as _;

use crate::commands::{Tool, remote_script};
use crate::document::excerpt;

/// How to reach hosts.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// The client program (`ssh`).
    pub program: PathBuf,
    /// `-i KEY`.
    pub identity: Option<PathBuf>,
    /// Extra `-o NAME=VALUE` options, in order (`UserKnownHostsFile=…`, `Port=…`).
    pub options: Vec<String>,
    /// `ConnectTimeout`.
    pub connect_timeout: Duration,
    /// The whole session's deadline.
    pub timeout: Duration,
    /// Bytes of stdout taken from one host (a real host prints a few hundred KiB).
    pub max_output: u64,
}

impl Default for SshOptions {
    fn default() -> Self {
        Self {
            program: PathBuf::from("ssh"),
            identity: None,
            options: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            max_output: 16 * 1024 * 1024,
        }
    }
}

/// What went wrong with one host, by what the admin can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// No connection: name resolution, refused, timed out, no route, closed.
    Unreachable,
    /// The host refused the key (or wanted a password: batch mode never asks).
    Authentication,
    /// The host key is unknown or changed.
    HostKey,
    /// Connected, but esxcli failed or printed what is not a host state.
    Esxcli,
    /// The session did not end within the deadline.
    Timeout,
    /// ssh itself failed otherwise (bad option, missing program).
    Ssh,
    /// Writing the document or posting it to the service failed.
    Delivery,
}

impl FailureKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Authentication => "authentication",
            Self::HostKey => "host key",
            Self::Esxcli => "esxcli error",
            Self::Timeout => "timeout",
            Self::Ssh => "ssh error",
            Self::Delivery => "delivery",
        }
    }

    /// What to do about it.
    pub fn advice(self) -> &'static str {
        match self {
            Self::Unreachable => {
                "check the host name, that the host is up and that SSH is enabled on it (Host > Actions > \
                 Services > Enable Secure Shell), and any ProxyJump in ~/.ssh/config"
            }
            Self::Authentication => {
                "add your public key to the host's /etc/ssh/keys-root/authorized_keys (or give --identity KEY); \
                 password logins are not used (BatchMode)"
            }
            Self::HostKey => {
                "verify the host's key fingerprint (on its console: /etc/ssh/ssh_host_*_key.pub) and add it to \
                 known_hosts, e.g. by one interactive `ssh root@HOST`"
            }
            Self::Esxcli => {
                "run the command shown on the host to see its error; on hosts with SSH off use `esxlcm host agent-script`"
            }
            Self::Timeout => "the host did not answer in time: retry, or raise --ssh-timeout",
            Self::Ssh => "check the ssh options given (--ssh-option) and that OpenSSH's ssh is installed",
            Self::Delivery => "check the output path, or the service URL, credentials and its CA (--ca-file)",
        }
    }
}

/// A failed collection from one host.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {message}", .kind.label())]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }
}

/// Classify an ssh failure (exit status 255) from its stderr.
pub fn classify(stderr: &str) -> FailureKind {
    let s = stderr.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
    if any(&[
        "host key verification failed",
        "remote host identification has changed",
        "host key for",
        "no matching host key type",
    ]) {
        FailureKind::HostKey
    } else if any(&["permission denied", "too many authentication failures", "no supported authentication methods"]) {
        FailureKind::Authentication
    } else if any(&[
        "could not resolve hostname",
        "name or service not known",
        "connection refused",
        "connection timed out",
        "operation timed out",
        "no route to host",
        "network is unreachable",
        "connection closed by",
        "connection reset",
        "kex_exchange_identification",
    ]) {
        FailureKind::Unreachable
    } else {
        FailureKind::Ssh
    }
}

/// The target as ssh takes it must not be read as an option.
fn check_target(target: &str) -> Result<(), Failure> {
    if target.is_empty() || target.starts_with('-') || target.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Failure::new(FailureKind::Ssh, format!("'{target}' is not a usable SSH destination")));
    }
    Ok(())
}

/// The arguments of the ssh child (without the program).
pub fn ssh_args(target: &str, options: &SshOptions, tool: Tool) -> Vec<String> {
    let mut args = vec![
        "-T".to_owned(),
        "-o".to_owned(),
        "BatchMode=yes".to_owned(),
        "-o".to_owned(),
        format!("ConnectTimeout={}", options.connect_timeout.as_secs().max(1)),
    ];
    if let Some(key) = &options.identity {
        args.push("-i".to_owned());
        args.push(key.display().to_string());
    }
    for o in &options.options {
        args.push("-o".to_owned());
        args.push(o.clone());
    }
    args.push("--".to_owned());
    args.push(target.to_owned());
    args.push(remote_script(tool));
    args
}

/// Run the collection script on `target`; its stdout (capped) when the session worked.
pub fn run(target: &str, options: &SshOptions) -> Result<Vec<u8>, Failure> {
    check_target(target)?;
    let args = ssh_args(target, options, Tool::Esxcli);
    tracing::debug!(target, program = %options.program.display(), "ssh");
    let mut child = Process::new(&options.program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::new(FailureKind::Ssh, format!("cannot run {}: {e}", options.program.display())))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        let _ = child.kill();
        return Err(Failure::new(FailureKind::Ssh, "the ssh child has no output pipes"));
    };
    let cap = options.max_output;
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut limited = stdout.take(cap.saturating_add(1));
        let r = limited.read_to_end(&mut buf);
        // Drain the rest so the child never blocks on a full pipe.
        let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        r.map(|_| buf)
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut limited = stderr.take(64 * 1024);
        let _ = limited.read_to_end(&mut buf);
        let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        buf
    });
    let status = match child.wait_timeout(options.timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Failure::new(
                FailureKind::Timeout,
                format!("no answer within {} s", options.timeout.as_secs()),
            ));
        }
        Err(e) => {
            let _ = child.kill();
            return Err(Failure::new(FailureKind::Ssh, format!("waiting for ssh: {e}")));
        }
    };
    let stdout = out_reader
        .join()
        .map_err(|_| Failure::new(FailureKind::Ssh, "reading ssh's output failed"))?
        .map_err(|e| Failure::new(FailureKind::Ssh, format!("reading ssh's output: {e}")))?;
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    if stdout.len() as u64 > cap {
        return Err(Failure::new(FailureKind::Esxcli, format!("the host printed more than {cap} bytes")));
    }
    match status.code() {
        Some(0) => Ok(stdout),
        Some(255) => {
            let kind = classify(&stderr);
            Err(Failure::new(kind, excerpt(&stderr, 400)))
        }
        Some(code) => Err(Failure::new(
            FailureKind::Esxcli,
            format!("the remote shell exited with status {code}: {}", excerpt(&stderr, 400)),
        )),
        None => Err(Failure::new(FailureKind::Ssh, format!("ssh was killed by a signal: {}", excerpt(&stderr, 400)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_failures_are_classified_from_stderr() {
        let cases = [
            ("ssh: Could not resolve hostname nohost: Name or service not known", FailureKind::Unreachable),
            ("ssh: connect to host 127.0.0.1 port 1: Connection refused", FailureKind::Unreachable),
            ("ssh: connect to host 10.0.0.1 port 22: Connection timed out", FailureKind::Unreachable),
            ("ssh: connect to host 10.0.0.1 port 22: No route to host", FailureKind::Unreachable),
            ("root@127.0.0.1: Permission denied (publickey,keyboard-interactive).", FailureKind::Authentication),
            (
                "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\r\nHost key verification failed.",
                FailureKind::HostKey,
            ),
            ("@@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@@", FailureKind::HostKey),
            ("command-line line 0: Bad configuration option: frobnicate", FailureKind::Ssh),
        ];
        for (stderr, kind) in cases {
            assert_eq!(classify(stderr), kind, "{stderr}");
        }
    }

    #[test]
    fn the_target_is_never_an_option() {
        assert!(check_target("-oProxyCommand=sh").is_err());
        assert!(check_target("root@host name").is_err());
        assert!(check_target("").is_err());
        assert!(check_target("ssh://root@esx01:2222").is_ok());
        let args = ssh_args("root@esx01", &SshOptions::default(), Tool::Esxcli);
        let dashdash = args.iter().position(|a| a == "--").unwrap();
        assert_eq!(args[dashdash + 1], "root@esx01");
        assert!(args.contains(&"BatchMode=yes".to_owned()));
    }

    #[test]
    fn a_missing_ssh_program_is_an_ssh_failure() {
        let options = SshOptions { program: "/nonexistent/ssh".into(), ..SshOptions::default() };
        let e = run("root@esx01", &options).unwrap_err();
        assert_eq!(e.kind, FailureKind::Ssh);
        assert!(e.message.contains("/nonexistent/ssh"), "{e}");
    }
}
