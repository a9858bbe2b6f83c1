//! A real S3-compatible object store for tests: Garage (<https://garagehq.deuxfleurs.fr/>),
//! a distributed object store written in Rust and run in production by its authors. It is
//! published on crates.io (`cargo install garage`, which `.ci/run` does), so it installs
//! from the registries CI reaches; MinIO, Ceph RGW and SeaweedFS do not (no package there),
//! and moto, localstack or s3rver are mocks. Garage speaks the S3 protocol over real
//! storage (metadata in SQLite, data blocks on disk), with multipart uploads, paged
//! listings and ranged GETs as AWS documents them.
//!
//! [`S3Server::start`] runs one single-node cluster on free loopback ports with its data
//! in a temp directory, applies its layout, creates a bucket and a key allowed on it, and
//! stops (killing the process and removing the directory) on drop. [`S3Server::shared`]
//! is one per test process: the server runs under a shell that kills it when the test
//! process's end closes the shell's stdin, so no server outlives the tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The server binary: `$ESXLCM_GARAGE`, else `garage` on PATH.
pub const GARAGE_VAR: &str = "ESXLCM_GARAGE";
/// The region the server is configured with (clients must sign for it).
pub const REGION: &str = "garage";
const BUCKET: &str = "esxlcm-test";
// Fixed, throwaway credentials of a loopback-only server (Garage's key format: "GK" and 24
// hex digits; a 64-hex-digit secret).
const KEY_ID: &str = "GK0123456789abcdef01234567";
const SECRET: &str = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";

/// A running Garage with one bucket; see the module documentation.
pub struct S3Server {
    child: Child,
    dir: PathBuf,
    endpoint: String,
}

fn garage_binary() -> String {
    std::env::var(GARAGE_VAR).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| "garage".to_owned())
}

/// Whether the server binary runs.
pub fn available() -> bool {
    Command::new(garage_binary())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

impl S3Server {
    /// Start a server, or `None` with a printed reason when Garage is not installed —
    /// unless `CI` is set, where that fails the test.
    pub fn start_or_skip(test: &str) -> Option<S3Server> {
        skip_unless_available(test).then(S3Server::start)
    }

    /// The test process's one server (started on first use), or `None` as for
    /// [`Self::start_or_skip`]. Tests share it by using distinct prefixes.
    pub fn shared_or_skip(test: &str) -> Option<&'static S3Server> {
        static SHARED: OnceLock<S3Server> = OnceLock::new();
        skip_unless_available(test).then(|| SHARED.get_or_init(S3Server::start))
    }

    /// Start a single-node Garage; panics (naming its log) if it does not come up.
    /// Start a server on fresh loopback ports. A port picked free can be taken by another
    /// test's server before this one binds it: a start whose set-up fails is retried on
    /// other ports, twice.
    #[allow(clippy::print_stderr, reason = "a test harness telling why a start is retried")]
    pub fn start() -> S3Server {
        let mut attempt = 0;
        loop {
            let server = Self::spawn();
            match server.set_up() {
                Ok(()) => return server,
                Err(e) if attempt < 2 => {
                    eprintln!("garage set-up failed, retrying on other ports: {e}");
                    attempt += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn spawn() -> S3Server {
        let dir = std::env::temp_dir().join(format!("esxlcm-garage-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("server directory");
        let (s3_port, rpc_port) = (free_port(), free_port());
        let rpc_secret: String = (0..4).map(|i| format!("{:016x}", 0x6a09_e667_f3bc_c908u64 ^ (i * 0x9e37))).collect();
        let config = format!(
            r#"metadata_dir = "{dir}/meta"
data_dir = "{dir}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc_port}"
rpc_public_addr = "127.0.0.1:{rpc_port}"
rpc_secret = "{rpc_secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3_port}"
root_domain = ".s3.garage.localhost"
"#,
            dir = dir.display()
        );
        let config_path = dir.join("garage.toml");
        std::fs::write(&config_path, config).expect("garage.toml");
        let log = std::fs::File::create(dir.join("garage.log")).expect("garage.log");
        // `sh` reads its stdin until the test process (holding the other end) exits or
        // drops us, then kills the server and removes its directory: no orphan survives a
        // test run.
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" -c "$1" server & pid=$!; cat >/dev/null; kill "$pid" 2>/dev/null; wait "$pid"; rm -rf "$2""#)
            .arg(garage_binary())
            .arg(&config_path)
            .arg(&dir)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start garage under sh");
        S3Server { child, dir, endpoint: format!("http://127.0.0.1:{s3_port}") }
    }

    fn garage(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(garage_binary())
            .arg("-c")
            .arg(self.dir.join("garage.toml"))
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .map_err(|e| format!("garage {args:?}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("garage {args:?}: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr)))
        }
    }

    fn admin(&self, args: &[&str]) -> Result<String, String> {
        let log = fs_log(&self.dir);
        self.garage(args).map_err(|e| format!("{e}\n(server log: {log})"))
    }

    /// Layout (one node, one zone), bucket, key, permissions.
    fn set_up(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let node_id = loop {
            match self.garage(&["node", "id", "-q"]) {
                Ok(id) => break id.trim().to_owned(),
                Err(e) if Instant::now() > deadline => {
                    return Err(format!(
                        "garage did not come up within 60 s: {e}\n(server log: {})",
                        fs_log(&self.dir)
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let short_id = node_id.split('@').next().unwrap_or(&node_id).to_owned();
        self.admin(&["layout", "assign", "-z", "dc1", "-c", "1G", &short_id])?;
        self.admin(&["layout", "apply", "--version", "1"])?;
        self.admin(&["bucket", "create", BUCKET])?;
        self.admin(&["key", "import", "--yes", "-n", "esxlcm-test", KEY_ID, SECRET])?;
        self.admin(&["bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", KEY_ID])?;
        Ok(())
    }

    /// `s3://BUCKET/PREFIX` (the bucket alone when `prefix` is empty).
    pub fn url(&self, prefix: &str) -> String {
        if prefix.is_empty() { format!("s3://{BUCKET}") } else { format!("s3://{BUCKET}/{prefix}") }
    }

    pub fn bucket(&self) -> &str {
        BUCKET
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's directory (configuration, data, log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The standard variables a client needs (for a child process's environment, or an
    /// `S3Blobs` built with explicit variables).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET.to_owned()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }

    /// [`Self::env`] borrowed.
    pub fn env_refs(&self) -> Vec<(&str, &str)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_REGION", REGION),
            ("AWS_ALLOW_HTTP", "true"),
        ]
    }

    /// The secret key (tests check it never appears in messages).
    pub fn secret(&self) -> &str {
        SECRET
    }
}

/// The server log's path and its last lines, for a failure's message.
fn fs_log(dir: &Path) -> String {
    let path = dir.join("garage.log");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(5).collect();
    format!("{}: {}", path.display(), tail.into_iter().rev().collect::<Vec<_>>().join(" | "))
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // Closing stdin makes the shell kill the server and wait for it.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether Garage is installed; when not, print why the test is skipped, or fail in CI.
fn skip_unless_available(test: &str) -> bool {
    if available() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: the S3 server (garage) is missing and CI is set; install it (see .ci/run: cargo install garage)"
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!("SKIPPED {test}: garage (S3-compatible server) is not installed; `cargo install garage --locked`");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    #[test]
    fn a_server_listens_until_dropped_and_leaves_nothing_behind() {
        let Some(server) = S3Server::start_or_skip("a_server_listens_until_dropped_and_leaves_nothing_behind") else {
            return;
        };
        let addr = server.endpoint().trim_start_matches("http://").to_owned();
        let dir = server.dir().to_path_buf();
        assert!(TcpStream::connect(&addr).is_ok(), "the S3 endpoint {addr} answers");
        assert!(dir.join("garage.toml").is_file());
        assert!(server.url("p").starts_with("s3://esxlcm-test/p"));
        assert_eq!(server.env().len(), server.env_refs().len());
        drop(server);
        assert!(TcpStream::connect(&addr).is_err(), "nothing listens on {addr} after drop");
        assert!(!dir.exists(), "{} is removed", dir.display());
    }
}
