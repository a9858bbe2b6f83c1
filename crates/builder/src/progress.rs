//! Progress of a build, in bytes, stage by stage: the CLI draws a bar from it, the server
//! will turn it into task progress events.

use std::cell::RefCell;
use std::io::{self, Read};

/// What a build is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Writing the spec JSON.
    Json,
    /// Copying VIB files into the offline bundle.
    Bundle,
    /// Extracting boot payloads from VIBs into the staging directory.
    Payloads,
    /// Writing the ISO image.
    Iso,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Self::Json => "spec JSON",
            Self::Bundle => "offline bundle",
            Self::Payloads => "boot payloads",
            Self::Iso => "ISO image",
        }
    }
}

/// Receives progress. `done` never decreases within a stage and may fall short of `total`
/// when a size was only estimated.
pub trait Progress {
    /// A stage starts; `total` bytes are expected.
    fn start(&mut self, stage: Stage, total: u64);
    /// `done` bytes of the current stage are finished.
    fn advance(&mut self, done: u64);
}

/// Ignores progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _stage: Stage, _total: u64) {}
    fn advance(&mut self, _done: u64) {}
}

/// A reader that reports the bytes read through it to a shared progress sink, adding
/// to a running count (several readers in turn feed one stage).
pub(crate) struct ProgressReader<'a, 'p, R> {
    pub inner: R,
    pub progress: &'a RefCell<Counter<'p>>,
}

/// A stage's running byte count and where it goes.
pub(crate) struct Counter<'p> {
    pub progress: &'p mut dyn Progress,
    pub done: u64,
}

impl<R: Read> Read for ProgressReader<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            let mut c = self.progress.borrow_mut();
            c.done += n as u64;
            let done = c.done;
            c.progress.advance(done);
        }
        Ok(n)
    }
}
