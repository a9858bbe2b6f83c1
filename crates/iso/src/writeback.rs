//! Early writeback: while the image is being written, a helper thread asks the kernel every
//! [`WRITEBACK_STEP`] bytes to write what is in the page cache so far (`fdatasync` on a
//! duplicate of the output's descriptor), so the disk works while the layout thread reads
//! and hashes. The fsync before the rename (`atomic.rs`) still makes the whole image durable;
//! it just finds little left to write. Without this the kernel starts writing a 1 GiB image
//! only when that fsync asks (its dirty-page thresholds are larger than the image), and the
//! write waited for the disk at the end: 1.87 s against 1.57 s with it, medians of nine
//! alternating runs (docs/PERFORMANCE.md, "Plain vs hybrid, and the 1.1× line").
//!
//! An `fdatasync` error is returned as the image's error: the descriptor is shared, so the
//! final fsync would not report it again.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use crate::IsoError;

/// Bytes between two writeback requests: large enough that the journal commit and disk
/// cache flush of each `fdatasync` stay cheap (16, 32 and 64 MiB measured the same).
pub(crate) const WRITEBACK_STEP: u64 = 64 << 20;

/// The writer's end: [`Writeback::written`] after each write.
pub(crate) struct Writeback {
    kick: Option<SyncSender<()>>,
    step: u64,
    next: u64,
}

impl Writeback {
    /// `written` bytes of the image are in the file (or its buffer): ask for writeback when
    /// another step has passed. Never blocks: a request while one runs is merged into it.
    pub(crate) fn written(&mut self, written: u64) {
        if written < self.next {
            return;
        }
        self.next = written.saturating_add(self.step);
        if let Some(kick) = &self.kick
            && let Err(TrySendError::Disconnected(())) = kick.try_send(())
        {
            // The thread stopped on an error, which `with_writeback` returns.
            self.kick = None;
        }
    }
}

/// Run `body` with a writeback thread on `out`; `body` gets the file and the handle to
/// report progress with. If the descriptor cannot be duplicated the image is written
/// without early writeback (durability does not depend on it).
pub(crate) fn with_writeback<T>(
    out: &mut File,
    step: u64,
    dest: &Path,
    body: impl FnOnce(&mut File, Writeback) -> Result<T, IsoError>,
) -> Result<T, IsoError> {
    let clone = match out.try_clone() {
        Ok(clone) => clone,
        Err(err) => {
            tracing::debug!(dest = %dest.display(), error = %err, "no early writeback: cannot duplicate the descriptor");
            return body(out, Writeback { kick: None, step, next: u64::MAX });
        }
    };
    std::thread::scope(|scope| {
        let (kick, kicks) = sync_channel::<()>(1);
        let thread = scope.spawn(move || flush(&clone, &kicks));
        // `body` owns the sender: when it returns, the thread's loop ends.
        let value = body(out, Writeback { kick: Some(kick), step, next: step });
        let flushed = thread.join().unwrap_or_else(|_| Err(io::Error::other("the writeback thread panicked")));
        let value = value?;
        flushed.map_err(|e| IsoError::io("fdatasync", dest, e))?;
        Ok(value)
    })
}

fn flush(file: &File, kicks: &Receiver<()>) -> io::Result<()> {
    while kicks.recv().is_ok() {
        file.sync_data()?;
    }
    Ok(())
}
