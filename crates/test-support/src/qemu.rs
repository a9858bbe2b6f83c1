//! Boot tests under QEMU (TCG, no KVM): run a VM with its serial console on stdout until a
//! marker shows or a bound passes. The bound only ends a boot that hangs; a good boot
//! returns as soon as the marker is on the console, so timing never decides the result.
#![allow(clippy::print_stderr)]

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Emulated boots crawl when the machine is busy (CI builds beside them): this bounds a
/// hang, nothing else.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

pub use crate::have;

/// Run `qemu-system-x86_64 -nographic -no-reboot -m 256 -serial mon:stdio <args>` until
/// `marker` appears on the console (escape sequences removed) or [`BOOT_TIMEOUT`] passes.
/// Returns whether it appeared, and the console text.
pub fn boot_until<I, S>(args: I, marker: &str) -> (bool, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-nographic", "-no-reboot", "-m", "256", "-serial", "mon:stdio", "-nic", "none"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start qemu-system-x86_64: {e}"));
    let Some(mut stdout) = child.stdout.take() else { panic!("qemu has no stdout pipe") };
    let (tx, rx) = mpsc::channel();
    // Read the console on a thread so the wait below can time out.
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut console = Vec::new();
    let found = loop {
        if without_escapes(&String::from_utf8_lossy(&console)).contains(marker) {
            break true;
        }
        let Some(left) = BOOT_TIMEOUT.checked_sub(start.elapsed()) else { break false };
        match rx.recv_timeout(left) {
            Ok(bytes) => console.extend_from_slice(&bytes),
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    (found, without_escapes(&String::from_utf8_lossy(&console)).replace('\r', ""))
}

/// The console text without ANSI escape sequences: firmware mirrors the screen onto the
/// serial line with cursor moves, which can land inside a loader's own output.
pub fn without_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            while let Some(&p) = chars.peek() {
                chars.next();
                if ('@'..='~').contains(&p) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_removed() {
        assert_eq!(without_escapes("MARK\u{1b}[17;14H\u{1b}[17;15HER"), "MARKER");
        assert_eq!(without_escapes("\u{1b}[?7l\u{1b}[2J\u{1b}[0mSeaBIOS"), "SeaBIOS");
    }
}
