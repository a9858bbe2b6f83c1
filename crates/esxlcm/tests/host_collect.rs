//! `esxlcm host collect` and the agent script against a throwaway OpenSSH server on
//! loopback whose `esxcli` replays the recorded outputs of `testdata/host-state/esxcli/`:
//! one host, an inventory with hosts down, failures classified; the agent script run by
//! this machine's python3 with the same outputs as `localcli`; and compliance of the
//! collected state against an image, through the CLI and through the API after `--post`.

use std::io::{BufRead as _, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::mirror_support::{esxlcm, generate, run, start_serving};

const REPLAY: &str = "esxi-8.0.1";
const ADMIN: (&str, &str) = ("admin", "Adm1n!pass");

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/host-state/esxcli")
}

/// A tool this test needs; `None` (and the reason printed) skips the test, unless CI is set.
#[allow(clippy::print_stderr)] // the skip's reason goes where the test harness shows it
fn need(path: &str, package: &str) -> Option<PathBuf> {
    let found = if path.contains('/') {
        Path::new(path).exists().then(|| PathBuf::from(path))
    } else {
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(path)).find(|f| f.is_file()))
    };
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "{path} is missing and CI is set; install {package} (see .ci/run)");
        eprintln!("skipped: {path} is missing (apt install {package})");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn sh(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The fake esxcli/localcli: `--formatter=json software vib list` → `software-vib-list.json`
/// of the replay set; a `.stderr` + `.status` pair replays a failure.
fn fake_cli(bin: &Path, replay: &Path) {
    std::fs::create_dir_all(bin).unwrap();
    let script = format!(
        "#!/bin/sh\n[ \"$1\" = \"--formatter=json\" ] || {{ echo \"fake esxcli wants --formatter=json first\" >&2; exit 2; }}\n\
         shift\nname=$(echo \"$*\" | tr ' ' '-')\nd='{}'\n\
         if [ -f \"$d/$name.json\" ]; then cat \"$d/$name.json\"; exit 0; fi\n\
         if [ -f \"$d/$name.stderr\" ]; then cat \"$d/$name.stderr\" >&2; exit \"$(cat \"$d/$name.status\")\"; fi\n\
         echo \"Error: Unknown command or namespace $*\" >&2; exit 1\n",
        replay.display()
    );
    write_script(&bin.join("esxcli"), &script);
    write_script(&bin.join("localcli"), &script);
}

/// A throwaway sshd on a free loopback port, running as the current user, with a host key,
/// an authorized client key and a ForceCommand that puts the fake esxcli first on PATH.
struct Sshd {
    child: Child,
    port: u16,
    dir: PathBuf,
    user: String,
}

impl Sshd {
    fn start(dir: &Path) -> Option<Self> {
        let sshd = need("/usr/sbin/sshd", "openssh-server")?;
        need("ssh", "openssh-client")?;
        need("ssh-keygen", "openssh-client")?;
        std::fs::create_dir_all(dir).unwrap();
        for key in ["host_key", "client_key", "other_key"] {
            sh(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(dir.join(key)));
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
        fake_cli(&dir.join("bin"), &testdata().join(REPLAY));
        write_script(
            &dir.join("force.sh"),
            &format!(
                "#!/bin/sh\nPATH='{}':$PATH\nexport PATH\nexec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
                dir.join("bin").display()
            ),
        );
        // Debian's sshd refuses to start without its privilege separation directory.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\nPubkeyAuthentication yes\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\n\
             ForceCommand {d}/force.sh\nLogLevel ERROR\n",
            d = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        // Readiness only: the test's assertions do not depend on how long this takes.
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let key = host_pub.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        std::fs::write(dir.join("known_hosts"), format!("[127.0.0.1]:{port} {key}\n")).unwrap();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_owned();
        Some(Self { child, port, dir: dir.to_owned(), user })
    }

    fn destination(&self) -> String {
        format!("{}@127.0.0.1", self.user)
    }

    /// `host collect` options that reach this server with the authorized key.
    fn options(&self, key: &str) -> Vec<String> {
        vec![
            "--identity".into(),
            self.dir.join(key).display().to_string(),
            format!("--ssh-option=Port={}", self.port),
            "--ssh-option".into(),
            format!("UserKnownHostsFile={}", self.dir.join("known_hosts").display()),
            "--ssh-option".into(),
            "StrictHostKeyChecking=yes".into(),
            "--ssh-option".into(),
            "IdentitiesOnly=yes".into(),
            "--ssh-option".into(),
            "LogLevel=ERROR".into(),
        ]
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(args: &[String]) -> crate::mirror_support::Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args)
}

fn recorded(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(testdata().join(REPLAY).join(name)).unwrap()).unwrap()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// The document keeps every esxcli output verbatim.
fn assert_verbatim(doc: &Value) {
    assert_eq!(doc["vibs"], recorded("software-vib-list.json"));
    assert_eq!(doc["components"], recorded("software-component-list.json"));
    assert_eq!(doc["base_image"], recorded("software-baseimage-get.json"));
    assert_eq!(doc["hardware_platform"], recorded("hardware-platform-get.json"));
    assert_eq!(doc["system_version"], recorded("system-version-get.json"));
    assert_eq!(doc["add_on"], Value::Null, "the replayed `addon get` fails: no add-on");
}

#[test]
fn one_host_and_an_inventory_with_hosts_down() {
    let dir = tempfile::tempdir().unwrap();
    let Some(sshd) = Sshd::start(&dir.path().join("sshd")) else { return };

    // One host, to a file.
    let out = dir.path().join("esx-a.json");
    let mut args = strs(&["host", "collect"]);
    args.push(sshd.destination());
    args.extend(sshd.options("client_key"));
    args.extend(strs(&["--name", "esx-a", "--out", out.to_str().unwrap()]));
    let r = collect(&args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("[1/1] esx-a: collected (base image 8.0.1-0.0.21495797)"), "{}", r.stderr);
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_verbatim(&doc);
    assert_eq!(doc["collected"]["host"], "esx-a");
    assert_eq!(doc["collected"]["method"], "ssh");
    assert!(r.stdout.contains("software addon get"), "the absent add-on is a note: {}", r.stdout);

    // To stdout, named after the destination.
    let mut args = strs(&["host", "collect"]);
    args.push(sshd.destination());
    args.extend(sshd.options("client_key"));
    let r = collect(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(doc["collected"]["host"], "127.0.0.1");

    // A key the host does not accept: an authentication failure, with what to do.
    let mut args = strs(&["host", "collect"]);
    args.push(sshd.destination());
    args.extend(sshd.options("other_key"));
    args.extend(strs(&["--out", dir.path().join("never.json").to_str().unwrap()]));
    let r = collect(&args);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("authentication (1 host):"), "{}", r.stdout);
    assert!(r.stdout.contains("authorized_keys"), "{}", r.stdout);
    assert!(!dir.path().join("never.json").exists());

    // An inventory: the good host, a port where nothing listens, a name known_hosts lacks.
    let closed = free_port();
    let inventory = dir.path().join("hosts.txt");
    let u = &sshd.user;
    let p = sshd.port;
    std::fs::write(
        &inventory,
        format!(
            "# site A\nssh://{u}@127.0.0.1:{p} esx-a\nssh://{u}@127.0.0.1:{closed} esx-down  # powered off\n\
             ssh://{u}@localhost:{p} esx-unknown-key\n"
        ),
    )
    .unwrap();
    let states = dir.path().join("states");
    let mut args = strs(&["host", "collect", "--inventory", inventory.to_str().unwrap(), "--jobs", "3"]);
    args.extend(sshd.options("client_key").into_iter().filter(|o| !o.starts_with("--ssh-option=Port=")));
    args.extend(strs(&["--out", states.to_str().unwrap(), "--json"]));
    let r = collect(&args);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["collected"], 1, "{report}");
    assert_eq!(report["failed"], 2, "{report}");
    let hosts = report["hosts"].as_array().unwrap();
    let by_name = |n: &str| hosts.iter().find(|h| h["name"] == n).unwrap().clone();
    assert_eq!(by_name("esx-a")["status"], "collected");
    assert_eq!(by_name("esx-down")["failure"]["kind"], "unreachable", "{report}");
    assert_eq!(by_name("esx-unknown-key")["failure"]["kind"], "host_key", "{report}");
    assert!(by_name("esx-down")["failure"]["advice"].as_str().unwrap().contains("SSH is enabled"));
    let doc: Value = serde_json::from_slice(&std::fs::read(states.join("esx-a.json")).unwrap()).unwrap();
    assert_verbatim(&doc);
    assert!(!states.join("esx-down.json").exists() && !states.join("esx-unknown-key.json").exists());
    for n in ["esx-a", "esx-down", "esx-unknown-key"] {
        assert!(r.stderr.contains(&format!("{n}: ")), "a progress line per host: {}", r.stderr);
    }
}

/// `esxlcm serve` with an admin, on free loopback ports.
struct Service {
    child: Child,
    api: String,
    data: PathBuf,
    client: Client,
    token: String,
}

impl Service {
    fn start(data: &Path) -> Self {
        let mut child = esxlcm()
            .args(["serve", "--no-demo", "--data-dir", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(["--hosts-listen", "127.0.0.1:0"])
            .env("ESXLCM_ADMIN_USER", ADMIN.0)
            .env("ESXLCM_ADMIN_PASSWORD", ADMIN.1)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let api = first.trim().strip_prefix("listening on ").unwrap().trim_end_matches("/api").to_owned();
        let ca = reqwest::Certificate::from_pem(&std::fs::read(data.join("tls/ca.pem")).unwrap()).unwrap();
        let client = Client::builder().add_root_certificate(ca).build().unwrap();
        let resp = client.post(format!("{api}/api/session")).basic_auth(ADMIN.0, Some(ADMIN.1)).send().unwrap();
        assert_eq!(resp.status(), 201);
        let token: String = serde_json::from_str(&resp.text().unwrap()).unwrap();
        Self { child, api, data: data.to_owned(), client, token }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req =
            self.client.request(method, format!("{}{path}", self.api)).header("vmware-api-session-id", &self.token);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    fn run_task(&self, path: &str) -> Value {
        let (status, task) = self.call(reqwest::Method::POST, &format!("{path}&vmw-task=true"), None);
        assert_eq!(status, 202, "{task}");
        let id = task.as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (_, info) = self.call(reqwest::Method::GET, &format!("/api/cis/tasks/{id}"), None);
            if matches!(info["status"].as_str(), Some("SUCCEEDED" | "FAILED")) {
                return info;
            }
            assert!(Instant::now() < deadline, "task {id} did not end: {info}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn collected_states_reach_compliance_through_the_cli_the_api_and_the_agent() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let Some(sshd) = Sshd::start(&dir.path().join("sshd")) else { return };
    let Some(python) = need("python3", "python3") else { return };

    // An image: the newest base image of a generated depot.
    let tree = dir.path().join("depot");
    generate(2, &tree);
    let mut up = esxlcm();
    up.args(["serve", "--dir", tree.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    let upstream = start_serving(up);
    let s = Service::start(&dir.path().join("data"));
    let (st, depot) = s.call(
        Method::POST,
        "/api/esx/settings/depots/online",
        Some(json!({"location": format!("{}index.xml", upstream.base)})),
    );
    assert_eq!(st, 201, "{depot}");
    let info = s.run_task("/api/esx/settings/depots?action=sync");
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let (_, bases) = s.call(Method::GET, "/api/esx/settings/depot-content/base-images", None);
    let version = bases.as_array().unwrap().iter().filter_map(|b| b["version"].as_str()).max().unwrap().to_owned();
    let (st, cluster) = s.call(Method::POST, "/api/esxlcm/clusters", Some(json!({"name": "robo"})));
    assert_eq!(st, 201, "{cluster}");
    let cluster = cluster.as_str().unwrap().to_owned();
    let sw = format!("/api/esx/settings/clusters/{cluster}/software");
    let (_, draft) = s.call(Method::POST, &format!("{sw}/drafts"), None);
    let d = format!("{sw}/drafts/{}", draft.as_str().unwrap());
    let (st, e) = s.call(Method::PUT, &format!("{d}/software/base-image"), Some(json!({"version": version})));
    assert_eq!(st, 204, "{e}");
    let (st, task) =
        s.call(Method::POST, &format!("{d}?action=commit&vmw-task=true"), Some(json!({"message": "robo"})));
    assert_eq!(st, 202, "{task}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, info) = s.call(Method::GET, &format!("/api/cis/tasks/{}", task.as_str().unwrap()), None);
        if info["status"] == "SUCCEEDED" {
            break;
        }
        assert!(info["status"] != "FAILED" && Instant::now() < deadline, "{info}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // esx-a is declared in the cluster; esx-b is not known to the service yet.
    let (st, esx_a) = s.call(Method::POST, "/api/esxlcm/hosts", Some(json!({"name": "esx-a", "cluster": cluster})));
    assert_eq!(st, 201, "{esx_a}");
    let esx_a = esx_a.as_str().unwrap().to_owned();

    // The CLI: collect to a file, then `image compliance` against the same image.
    let state = dir.path().join("esx-a.json");
    let mut args = strs(&["host", "collect"]);
    args.push(sshd.destination());
    args.extend(sshd.options("client_key"));
    args.extend(strs(&["--name", "esx-a", "--out", state.to_str().unwrap()]));
    let r = collect(&args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let spec = dir.path().join("spec.json");
    std::fs::write(&spec, json!({"base_image": {"version": version}}).to_string()).unwrap();
    let r = run(&[
        "image",
        "compliance",
        "--spec",
        spec.to_str().unwrap(),
        "--depot",
        tree.to_str().unwrap(),
        "--host-state",
        state.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r.code, 1, "the host runs 8.0.1, not the image: {}\n{}", r.stdout, r.stderr);
    let cli: Value = serde_json::from_str(&r.stdout).unwrap();
    let cli_host = &cli["cluster"]["hosts"]["esx-a"];
    assert_eq!(cli_host["status"], "NON_COMPLIANT", "8.0.1 installed, the image's base image is newer: {cli}");
    assert_eq!(cli_host["base_image"]["current"]["version"], "8.0.1-0.0.21495797", "{cli_host}");

    // `--post`: logs in, finds esx-a by name, sets its state; registers esx-b.
    let password = dir.path().join("password");
    std::fs::write(&password, format!("{}\n", ADMIN.1)).unwrap();
    for name in ["esx-a", "esx-b"] {
        let mut args = strs(&["host", "collect"]);
        args.push(sshd.destination());
        args.extend(sshd.options("client_key"));
        args.extend(strs(&[
            "--name",
            name,
            "--post",
            &format!("{}/", s.api),
            "--user",
            ADMIN.0,
            "--password-file",
            password.to_str().unwrap(),
            "--ca-file",
            s.data.join("tls/ca.pem").to_str().unwrap(),
            "--json",
        ]));
        let r = collect(&args);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let report: Value = serde_json::from_str(&r.stdout).unwrap();
        let to = report["hosts"][0]["to"].as_str().unwrap();
        if name == "esx-a" {
            assert!(to.starts_with(&format!("{esx_a} at ")), "{to}");
        } else {
            assert!(to.contains("(registered)"), "{to}");
        }
    }
    let (_, h) = s.call(Method::GET, &format!("/api/esxlcm/hosts/{esx_a}"), None);
    assert_eq!(h["base_image"], "8.0.1-0.0.21495797", "{h}");
    assert!(h["state_time"].is_string(), "{h}");
    let (_, hosts) = s.call(Method::GET, "/api/esxlcm/hosts", None);
    assert_eq!(hosts.as_object().unwrap().len(), 2, "{hosts}");

    // The API's scan of the cluster reads the posted state: the same verdict as the CLI.
    let info = s.run_task(&format!("{sw}?action=scan"));
    assert_eq!(info["status"], "SUCCEEDED", "{info}");
    let api_host = &info["result"]["hosts"][&esx_a];
    assert_eq!(api_host["status"], cli_host["status"], "API {api_host}\nCLI {cli_host}");
    assert_eq!(api_host["base_image"]["status"], cli_host["base_image"]["status"], "{api_host}\n{cli_host}");
    assert_eq!(api_host["base_image"]["current"]["version"], "8.0.1-0.0.21495797", "{api_host}");
    assert_eq!(api_host["base_image"]["target"]["version"], version.as_str(), "{api_host}");
    assert_eq!(api_host["impact"], cli_host["impact"], "{api_host}\n{cli_host}");

    // A wrong password: the login is refused and nothing is posted.
    std::fs::write(&password, "wrong\n").unwrap();
    let mut args = strs(&["host", "collect"]);
    args.push(sshd.destination());
    args.extend(sshd.options("client_key"));
    args.extend(strs(&[
        "--post",
        &s.api,
        "--user",
        ADMIN.0,
        "--password-file",
        password.to_str().unwrap(),
        "--ca-file",
        s.data.join("tls/ca.pem").to_str().unwrap(),
    ]));
    let r = collect(&args);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("logging in to") && r.stderr.contains("401"), "{}", r.stderr);

    // The agent script: this machine's python3, the recorded outputs as localcli.
    let script = dir.path().join("esxlcm-agent.py");
    let r = run(&["host", "agent-script"]);
    assert_eq!(r.code, 0);
    std::fs::write(&script, &r.stdout).unwrap();
    let bin = dir.path().join("agent-bin");
    fake_cli(&bin, &testdata().join(REPLAY));
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let agent_out = dir.path().join("agent.json");
    let out = Command::new(&python)
        .arg(&script)
        .args(["--name", "esx-c", "--out", agent_out.to_str().unwrap()])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let agent_doc: Value = serde_json::from_slice(&std::fs::read(&agent_out).unwrap()).unwrap();
    assert_verbatim(&agent_doc);
    assert_eq!(
        (agent_doc["collected"]["method"].as_str(), agent_doc["collected"]["tool"].as_str()),
        (Some("agent"), Some("localcli"))
    );
    let r = run(&[
        "image",
        "compliance",
        "--spec",
        spec.to_str().unwrap(),
        "--depot",
        tree.to_str().unwrap(),
        "--host-state",
        agent_out.to_str().unwrap(),
        "--json",
    ]);
    let by_agent: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(by_agent["cluster"]["hosts"]["agent"]["status"], cli_host["status"], "{by_agent}");

    // The agent posts too (a session from the user and a password file, the service's CA).
    std::fs::write(&password, format!("{}\n", ADMIN.1)).unwrap();
    let out = Command::new(&python)
        .arg(&script)
        .args(["--name", "esx-a", "--post", &format!("{}/", s.api), "--user", ADMIN.0])
        .args(["--password-file", password.to_str().unwrap(), "--ca-file", s.data.join("tls/ca.pem").to_str().unwrap()])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("as {esx_a}")), "{said}");
    let (_, h) = s.call(Method::GET, &format!("/api/esxlcm/hosts/{esx_a}"), None);
    assert_eq!(h["base_image"], "8.0.1-0.0.21495797", "{h}");
    let info = s.run_task(&format!("{sw}?action=scan"));
    assert_eq!(info["result"]["hosts"][&esx_a]["status"], cli_host["status"], "{info}");
    // Without credentials the agent says what it needs.
    let out = Command::new(&python)
        .arg(&script)
        .args(["--post", &s.api])
        .env("PATH", &path)
        .env_remove("ESXLCM_PASSWORD")
        .env_remove("ESXLCM_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--post needs --user"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_host_that_never_answers_is_a_timeout() {
    if need("ssh", "openssh-client").is_none() {
        return;
    }
    // Takes the connection and never says a word: ssh waits for the server's banner.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || silent.accept().map(|(stream, _)| stream));
    let dir = tempfile::tempdir().unwrap();
    let r = run(&[
        "host",
        "collect",
        &format!("ssh://root@127.0.0.1:{port}"),
        "--ssh-timeout",
        "1",
        "--ssh-connect-timeout",
        "60",
        "--ssh-option",
        &format!("UserKnownHostsFile={}", dir.path().join("known_hosts").display()),
        "--out",
        dir.path().join("x.json").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["hosts"][0]["failure"]["kind"], "timeout", "{report}");
    assert!(report["hosts"][0]["failure"]["advice"].as_str().unwrap().contains("--ssh-timeout"), "{report}");
    drop(held);
}
