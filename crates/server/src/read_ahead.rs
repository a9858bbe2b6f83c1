//! A blocking reader (a file, or a blob streamed from the bucket) read on a blocking thread,
//! in chunks sent through a bounded channel: large files go out at the client's pace with a
//! few chunks in memory, never the whole file, and reading stops when the client goes away.
//! Shared by the store's row-served files and the API's export downloads.

use std::io::{self, Read};

use axum::body::Bytes;
use tokio::sync::mpsc;

/// The size of one chunk.
const CHUNK: usize = 256 * 1024;
/// Chunks read ahead of the client at most.
const CHUNKS_AHEAD: usize = 4;

/// Open with `open` and read to the end on a blocking thread; the chunks (or the first
/// error, opening included) arrive on the receiver, which ends with the reader.
pub(crate) fn read_ahead(
    open: impl FnOnce() -> io::Result<Box<dyn Read + Send>> + Send + 'static,
) -> mpsc::Receiver<io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut reader = match open() {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        loop {
            let mut buf = vec![0u8; CHUNK];
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    // The client went away (the receiver is dropped): stop reading.
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

/// [`read_ahead`]'s chunks as a stream, for a response body.
pub(crate) fn stream(
    rx: mpsc::Receiver<io::Result<Bytes>>,
) -> impl futures_util::Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_arrive_in_order_and_an_opening_error_is_the_only_item() {
        let data: Vec<u8> = (0..(CHUNK * 2 + 17)).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let mut rx = read_ahead(move || Ok(Box::new(io::Cursor::new(data))));
        let mut got = Vec::new();
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= CHUNK);
            got.extend_from_slice(&chunk);
        }
        assert_eq!(got, expected);

        let mut rx = read_ahead(|| Err(io::Error::other("no such blob")));
        assert_eq!(rx.recv().await.unwrap().unwrap_err().to_string(), "no such blob");
        assert!(rx.recv().await.is_none());
    }
}
