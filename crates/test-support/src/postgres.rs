//! A throwaway PostgreSQL cluster for tests, from Debian's `postgresql` package (the
//! binaries under `/usr/lib/postgresql/<major>/bin/`, the newest major installed).
//!
//! [`PgCluster::start`] runs `initdb` on a temporary directory and `postgres` on it,
//! listening on a free loopback port (retried on a collision) and a Unix socket in that
//! directory; [`PgCluster::database`] makes a fresh database per test, owned by a role
//! that logs in over TCP with a password (SCRAM), as a deployment does. The cluster stops
//! when dropped; the shared one ([`shared`], one per test binary, in a static that is
//! never dropped) is stopped by a small watchdog process when the test process exits,
//! however it exits (`kill -9` included), and its directory removed.
//!
//! The server also speaks TLS, with a certificate for `127.0.0.1` from a throwaway CA
//! ([`PgCluster::ca_file`]), so clients can test `sslmode=verify-full`.
//!
//! `initdb` and `postgres` refuse to run as root, and tests run as root here and in CI:
//! then the directory is handed to the `postgres` system user (made by the Debian
//! package) and both run as that user.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The role tests connect as, over TCP with [`PASSWORD`].
pub const ROLE: &str = "esxlcm";
/// Its password: tests check it never shows in an error.
pub const PASSWORD: &str = "s3cret-test-pw";

/// How long a starting server may take to accept connections before the start fails (a
/// loaded 2-core CI machine takes a second or two).
const READY_DEADLINE: Duration = Duration::from_secs(120);

/// A running throwaway cluster.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    postmaster: Option<Child>,
    watchdog: Option<Child>,
    run_as: Option<(u32, u32)>,
}

/// The `bin/` directory of the newest PostgreSQL major installed, or why there is none.
pub fn bin_dir() -> Result<PathBuf, String> {
    let root = Path::new("/usr/lib/postgresql");
    let entries = fs::read_dir(root).map_err(|e| format!("{}: {e} (apt-get install postgresql)", root.display()))?;
    let mut majors: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("postgres").is_file()).then_some((major, bin))
        })
        .collect();
    majors.sort();
    majors
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| format!("no PostgreSQL server under {} (apt-get install postgresql)", root.display()))
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The uid and gid of the `postgres` system user.
fn postgres_user() -> Result<(u32, u32), String> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(|e| format!("/etc/passwd: {e}"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"postgres"))
        .and_then(|f| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))
        .ok_or_else(|| "running as root and there is no 'postgres' user to run PostgreSQL as".to_owned())
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("finding a free port: {e}"))
}

fn output(cmd: &mut Command, what: &str) -> Result<Output, String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{what}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl PgCluster {
    /// Initialises and starts a cluster (see the module documentation).
    pub fn start() -> Result<PgCluster, String> {
        let bin = bin_dir()?;
        let run_as = if is_root() { Some(postgres_user()?) } else { None };
        let dir = tempfile::Builder::new()
            .prefix("esxlcm-pg-")
            .tempdir()
            .map_err(|e| format!("making the cluster's directory: {e}"))?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("{}: handing it to postgres: {e}", dir.path().display()))?;
        }
        let data = dir.path().join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8"])
            .args(["--locale=C.UTF-8", "--no-sync", "--no-instructions"]);
        let mut cluster = PgCluster { dir, bin, port: 0, postmaster: None, watchdog: None, run_as };
        output(cluster.as_user(&mut initdb), "initdb")?;
        cluster.make_tls_files()?;
        cluster.serve(&data)?;
        cluster.psql("postgres", &format!("CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'"))?;
        cluster.watchdog = cluster.spawn_watchdog().ok();
        Ok(cluster)
    }

    /// Starts `postgres` on a free port, retrying when another process took it first.
    fn serve(&mut self, data: &Path) -> Result<(), String> {
        let log = self.dir.path().join("postgres.log");
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let log_file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
            if let Some((uid, gid)) = self.run_as {
                std::os::unix::fs::chown(&log, Some(uid), Some(gid)).map_err(|e| format!("{}: {e}", log.display()))?;
            }
            let stderr = log_file.try_clone().map_err(|e| e.to_string())?;
            let mut cmd = Command::new(self.bin.join("postgres"));
            cmd.arg("-D")
                .arg(data)
                .arg("-k")
                .arg(self.dir.path())
                .args(["-c", "listen_addresses=127.0.0.1", "-p", &port.to_string()])
                // A throwaway cluster: durability off, room for many test pools and leases.
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
                .args(["-c", "max_connections=400", "-c", "shared_buffers=32MB"])
                .args(["-c", "ssl=on", "-c"])
                .arg(format!("ssl_cert_file={}", self.dir.path().join("server.crt").display()))
                .arg("-c")
                .arg(format!("ssl_key_file={}", self.dir.path().join("server.key").display()))
                .stdin(Stdio::null())
                .stdout(Stdio::from(log_file))
                .stderr(Stdio::from(stderr));
            let mut child = self.as_user(&mut cmd).spawn().map_err(|e| format!("starting postgres: {e}"))?;
            self.port = port;
            match self.wait_ready(&mut child) {
                Ok(()) => {
                    self.postmaster = Some(child);
                    return Ok(());
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last = format!("{e}\n{}", fs::read_to_string(&log).unwrap_or_default());
                    if !last.contains("could not bind") && !last.contains("already in use") {
                        return Err(last);
                    }
                }
            }
        }
        Err(format!("postgres found no free port in 5 tries: {last}"))
    }

    fn wait_ready(&self, postmaster: &mut Child) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = postmaster.try_wait() {
                return Err(format!("postgres exited: {status}"));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .arg("-h")
                .arg(self.dir.path())
                .args(["-p", &self.port.to_string(), "-U", "postgres", "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if start.elapsed() > READY_DEADLINE {
                return Err(format!("postgres did not accept connections within {READY_DEADLINE:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A throwaway CA (`ca.pem`) and the server's certificate for 127.0.0.1 signed by it
    /// (`server.crt`, `server.key`: the key readable by the server's user only, as
    /// PostgreSQL demands).
    fn make_tls_files(&self) -> Result<(), String> {
        let fail = |e: rcgen::Error| format!("making the test TLS certificates: {e}");
        let ca_key = rcgen::KeyPair::generate().map_err(fail)?;
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        ca.distinguished_name.push(rcgen::DnType::CommonName, "esxlcm test PostgreSQL CA");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).map_err(fail)?;
        let key = rcgen::KeyPair::generate().map_err(fail)?;
        let mut server =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).map_err(fail)?;
        server.distinguished_name.push(rcgen::DnType::CommonName, "127.0.0.1");
        let server_cert = server.signed_by(&key, &rcgen::Issuer::from_params(&ca, &ca_key)).map_err(fail)?;
        let dir = self.dir.path();
        let write = |name: &str, text: &str, mode: u32| -> Result<(), String> {
            use std::os::unix::fs::PermissionsExt as _;
            let path = dir.join(name);
            fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if let Some((uid, gid)) = self.run_as {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Ok(())
        };
        write("ca.pem", &ca_cert.pem(), 0o644)?;
        write("server.crt", &server_cert.pem(), 0o644)?;
        write("server.key", &key.serialize_pem(), 0o600)
    }

    /// The CA (PEM) that issued the server's certificate: `sslrootcert=` for clients.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A process that outlives this one only to stop the server (immediate shutdown) and
    /// remove its directory once this process is gone.
    fn spawn_watchdog(&self) -> Result<Child, String> {
        let postmaster = self.postmaster.as_ref().map(Child::id).ok_or("postgres is not running")?;
        let script = r#"while kill -0 "$0" 2>/dev/null; do sleep 1; done
kill -QUIT "$1" 2>/dev/null
i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
rm -rf "$2""#;
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(std::process::id().to_string())
            .arg(postmaster.to_string())
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the cluster's watchdog: {e}"))
    }

    fn as_user<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.current_dir(self.dir.path());
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    /// The loopback TCP port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs SQL as the superuser (over the Unix socket) in database `db`; its output
    /// (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.arg("-h").arg(self.dir.path()).args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db]).args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ]);
        let out = output(self.as_user(&mut cmd), &format!("psql: {sql}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// A new empty database owned by [`ROLE`], named from `label` and a counter; its URL
    /// (`postgres://esxlcm:PASSWORD@127.0.0.1:PORT/NAME`).
    pub fn database(&self, label: &str) -> Result<String, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let clean: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .take(40)
            .collect();
        let name = format!("t{}_{clean}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name} OWNER {ROLE}"))?;
        Ok(self.url(&name))
    }

    /// The URL of database `name` for [`ROLE`].
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{ROLE}:{PASSWORD}@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let mut stop = Command::new(self.bin.join("pg_ctl"));
        stop.arg("stop").arg("-D").arg(self.dir.path().join("data")).args(["-m", "immediate", "-w"]);
        stop.stdout(Stdio::null()).stderr(Stdio::null());
        let stopped = self.as_user(&mut stop).status().is_ok_and(|s| s.success());
        if let Some(mut postmaster) = self.postmaster.take() {
            if !stopped {
                let _ = postmaster.kill();
            }
            let _ = postmaster.wait();
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        // The TempDir removes the directory after this.
    }
}

/// The cluster shared by the tests of this test binary, started on first use.
pub fn shared() -> Result<&'static PgCluster, String> {
    static CLUSTER: OnceLock<Result<PgCluster, String>> = OnceLock::new();
    CLUSTER.get_or_init(PgCluster::start).as_ref().map_err(Clone::clone)
}

/// The shared cluster for test `test`; `None` (with the reason printed) when PostgreSQL is
/// not installed. With `CI` set a missing PostgreSQL fails the test instead; a PostgreSQL
/// that is installed but does not start always fails it.
#[allow(clippy::print_stderr)]
pub fn cluster_or_skip(test: &str) -> Option<&'static PgCluster> {
    if let Err(why) = bin_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: {why}; CI is set, so this fails (.ci/run installs postgresql)"
        );
        eprintln!("SKIPPED {test}: {why}");
        return None;
    }
    match shared() {
        Ok(cluster) => Some(cluster),
        Err(e) => panic!("{test}: the throwaway PostgreSQL cluster did not start: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_serves_the_role_over_tcp_and_goes_away() {
        let Ok(bin) = bin_dir() else {
            assert!(std::env::var_os("CI").is_none(), "PostgreSQL is missing and CI is set");
            return;
        };
        let cluster = PgCluster::start().unwrap();
        let url = cluster.database("harness").unwrap();
        let dir = cluster.dir.path().to_path_buf();
        // Over TCP with the role's password (SCRAM), as the store connects.
        let mut psql = Command::new(bin.join("psql"));
        psql.args([url.as_str(), "-X", "-A", "-t", "-c", "SELECT current_user || ' ' || current_database()"]);
        let out = output(cluster.as_user(&mut psql), "psql over TCP").unwrap();
        let db = url.rsplit('/').next().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("{ROLE} {db}"));
        let mut wrong = Command::new(bin.join("psql"));
        wrong.args([url.replace(PASSWORD, "wrong").as_str(), "-X", "-c", "SELECT 1"]);
        assert!(output(cluster.as_user(&mut wrong), "psql").is_err(), "a wrong password is refused");
        let port = cluster.port();
        drop(cluster);
        assert!(!dir.exists(), "the directory is removed");
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the server is stopped");
    }
}
