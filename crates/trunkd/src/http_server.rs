//! Serves the API router over HTTP/1.1, with time limits on slow clients.
//!
//! `axum::serve` gives hyper no timer, so hyper's header-read timeout never fires there and a
//! client that trickles its request line or headers (or sends nothing) holds its connection
//! and task for ever. This accept loop is `axum::serve` with that timer: a client gets
//! `client_timeout` to send a request's headers, for the first request on a connection and for
//! each later one. Bodies are bounded the same way where they are read (`api::body`, 408).
//!
//! Hyper has no write timeout either, so a client that asks for a large answer and never reads
//! it would hold the answer in memory, and its connection, for ever. The connection's socket is
//! wrapped in `tokio_io_timeout::TimeoutWriter`: a write (or flush) that makes no progress for
//! `client_timeout` fails with `TimedOut`, hyper abandons the answer and the connection is
//! closed. Progress of any size restarts the clock, so a slow but live reader is not cut off.
//!
//! Each request carries the address its connection was accepted on (`api::LocalAddr`), from
//! which links are built when no `network_link_prefix` is configured, never from the request's
//! `Host` header. On SIGINT/SIGTERM it stops accepting and lets requests in flight finish.

use std::future::Future;
use std::time::Duration;

use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_io_timeout::TimeoutWriter;

use crate::api::{LocalAddr, PeerAddr};

/// How long connections still serving a request get to finish once shutdown began.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after a failed accept (out of file descriptors, say), so the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    client_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, local, peer) = tokio::select! {
            accepted = listener.accept() => match accepted.and_then(|(stream, peer)| {
                let local = stream.local_addr()?;
                Ok((stream, local, peer))
            }) {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(
            tower::ServiceBuilder::new()
                .layer(Extension(LocalAddr(local)))
                .layer(Extension(PeerAddr(peer)))
                .service(router.clone()),
        );
        let mut stream = TimeoutWriter::new(stream);
        stream.set_timeout(Some(client_timeout));
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(client_timeout)
            .serve_connection(TokioIo::new(Box::pin(stream)), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // A client that went away or was too slow: its business, not an operator's.
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
}
