//! Answering a refused upload: the rest of its body is read (up to a bound) and dropped
//! before the answer goes out, so that a client still sending sees the error, not a
//! connection cut under it. Beyond the bound the connection is closed: a client that
//! keeps sending forever gains nothing.

use axum::body::Bytes;
use futures_util::{Stream, StreamExt as _};

/// At most this much of a refused body is read (the uploads esxlcm takes are bundles: a
/// client refused early usually has little left to send).
pub const DRAIN_LIMIT: u64 = 256 * 1024 * 1024;

/// Read and drop what is left of `body`, up to [`DRAIN_LIMIT`] bytes.
pub async fn drain<S, E>(body: &mut S)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut drained = 0u64;
    while let Some(Ok(chunk)) = body.next().await {
        drained += chunk.len() as u64;
        if drained > DRAIN_LIMIT {
            break;
        }
    }
}
