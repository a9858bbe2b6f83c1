//! `esxlcm host collect|agent-script`: hosts' installed state from the hosts themselves.
//! Arguments here; `collect.rs` runs one library operation; `render.rs` prints its report.

use std::path::PathBuf;

use clap::{Args, Subcommand};

pub mod collect;
pub mod render;

const COLLECT_LONG: &str = "\
Collect ESXi hosts' installed state (base image, add-on, components, VIBs, hardware) over
SSH, as the host-state document `image compliance --host-state` and the service read.

Runs read-only `esxcli --formatter=json` commands (software baseimage get, software addon
get, software component list, software vib list, hardware platform get, system version get)
in one session through your own OpenSSH client with BatchMode=yes: your ~/.ssh/config, keys,
agent, known_hosts and ProxyJump apply; no password is ever asked. The document keeps each
output verbatim (testdata/host-state/README.md) and is checked before it is written or posted.

One host: DESTINATION is what ssh takes (root@esx01, esx01, ssh://root@esx01:2222). The
document goes to --out FILE, to the service (--post), or to stdout.
Many hosts: --inventory FILE lists one destination per line, optionally followed by the
host's name (# comments); --jobs N hosts at a time; each host is reported as it finishes and
a summary lists failures by kind (unreachable, authentication, host key, esxcli error,
timeout) with what to do. With --out, DIR/<name>.json per host.

--post https://ESXLCM/ logs in as --user (password from --password-file, ESXLCM_PASSWORD,
or asked on the terminal), registers hosts it does not know by name, and sets each host's
posted state (PUT /api/esxlcm/hosts/{host}/state); the service's CA: --ca-file.";

const COLLECT_AFTER: &str = "\
Examples:
  esxlcm host collect root@esx01.example.com --out esx01.json
  esxlcm host collect root@esx01 --identity ~/.ssh/esx_ed25519 --post https://esxlcm.example.com/ \\
      --user collector --ca-file /etc/esxlcm/ca.pem
  esxlcm host collect --inventory hosts.txt --jobs 8 --out states/
  esxlcm image compliance --spec spec.json --depot depot.zip --host-state states/*.json

Exit status: 0 every host collected, 1 some host failed (the summary says which and why),
2 usage errors, an unreadable inventory, the service refusing the login.";

const AGENT_LONG: &str = "\
Print the on-host agent: a Python 3 script without dependencies for ESXi's own Python
(3.8+), for hosts where SSH is off. It runs the same read-only commands with localcli and
posts the document to the service (--post URL --user USER --password-file FILE, or --token
SESSION; --ca-file PEM for the service's CA) or writes it to a file (--out, e.g. on a
datastore, to collect later). `python3 esxlcm-agent.py --help` on the host lists its options.";

const AGENT_AFTER: &str = "\
Examples:
  esxlcm host agent-script > esxlcm-agent.py
  # copy it and the service's CA to a datastore (Datastore browser > Upload), then on the
  # host's console (DCUI > Troubleshooting > ESXi Shell) or from a scheduled job:
  python3 /vmfs/volumes/datastore1/esxlcm/esxlcm-agent.py --post https://esxlcm.example.com/ \\
      --user collector --password-file /vmfs/volumes/datastore1/esxlcm/password \\
      --ca-file /vmfs/volumes/datastore1/esxlcm/ca.pem
  python3 /vmfs/volumes/datastore1/esxlcm/esxlcm-agent.py --out /vmfs/volumes/datastore1/esxlcm/state.json";

#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Collect hosts' installed state over SSH (esxcli) into host-state documents or the service
    #[command(long_about = COLLECT_LONG, after_help = COLLECT_AFTER)]
    Collect(Box<CollectArgs>),
    /// Print the on-host agent (Python 3, localcli) for hosts where SSH is off
    #[command(long_about = AGENT_LONG, after_help = AGENT_AFTER)]
    AgentScript(AgentScriptArgs),
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// The host: an SSH destination (root@esx01, esx01, ssh://root@esx01:2222)
    #[arg(value_name = "DESTINATION", required_unless_present = "inventory", conflicts_with = "inventory")]
    pub destination: Option<String>,

    /// Collect every host listed in FILE (one `DESTINATION [NAME]` per line, # comments)
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,

    /// Hosts collected at the same time (with --inventory)
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// The host's name in the document and the service (default: DESTINATION's host part)
    #[arg(long, value_name = "NAME", conflicts_with = "inventory")]
    pub name: Option<String>,

    /// SSH private key (ssh -i); default: your ssh config and agent
    #[arg(long, value_name = "KEY")]
    pub identity: Option<PathBuf>,

    /// Extra ssh option, as for ssh -o (repeatable): 'Port=2222', 'ProxyJump=bastion'
    #[arg(long = "ssh-option", value_name = "NAME=VALUE")]
    pub ssh_options: Vec<String>,

    /// The ssh program
    #[arg(long, value_name = "PATH", default_value = "ssh")]
    pub ssh: PathBuf,

    /// Seconds allowed for one host's whole session
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub ssh_timeout: u64,

    /// Seconds allowed to connect to a host (ssh ConnectTimeout)
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub ssh_connect_timeout: u64,

    /// Write the document to FILE (one host) or DIR/<name>.json (--inventory)
    #[arg(long, value_name = "PATH", conflicts_with = "post")]
    pub out: Option<PathBuf>,

    /// Post the documents to the esxlcm service at URL (https://HOST[:PORT]/)
    #[arg(long, value_name = "URL")]
    pub post: Option<String>,

    /// The service user for --post (a role that may set host states)
    #[arg(long, value_name = "USER", env = "ESXLCM_USER")]
    pub user: Option<String>,

    /// File holding the user's password (else ESXLCM_PASSWORD, else asked on the terminal)
    #[arg(long, value_name = "FILE", requires = "post")]
    pub password_file: Option<PathBuf>,

    /// The report as JSON on stdout (with --out or --post)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AgentScriptArgs {}
