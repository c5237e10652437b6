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
//!
//! With TLS (`tls_cert_file`/`tls_key_file`) each connection is a TLS one: the handshake runs in
//! the connection's own task (a slow client never holds up the accept loop) and gets
//! `client_timeout` too, over the same write-timed socket. SIGHUP reads the pair again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_io_timeout::TimeoutWriter;

use crate::api::{LocalAddr, PeerAddr, Scheme};
use crate::tls::ServerTls;

/// How long connections still serving a request get to finish once shutdown began.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after a failed accept (out of file descriptors, say), so the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    client_timeout: Duration,
    tls: Option<Arc<ServerTls>>,
    shutdown: impl Future<Output = ()>,
) {
    let reloader = tls.clone().map(|tls| tokio::spawn(reload_on_hangup(tls)));
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
        let router = router.clone();
        let mut stream = TimeoutWriter::new(stream);
        stream.set_timeout(Some(client_timeout));
        let stream = Box::pin(stream);
        let watcher = graceful.watcher();
        match &tls {
            None => {
                let connection = (local, peer, Scheme::Http);
                tokio::spawn(serve_connection(
                    stream,
                    router,
                    connection,
                    client_timeout,
                    watcher,
                ));
            }
            Some(tls) => {
                let acceptor = tls.acceptor();
                tokio::spawn(async move {
                    match tokio::time::timeout(client_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let connection = (local, peer, Scheme::Https);
                            serve_connection(stream, router, connection, client_timeout, watcher)
                                .await;
                        }
                        // A client that cannot or will not speak TLS: its business.
                        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
}

/// Serves one connection's requests, with hyper's header-read timer.
async fn serve_connection<S>(
    stream: S,
    router: Router,
    (local, peer, scheme): (std::net::SocketAddr, std::net::SocketAddr, Scheme),
    client_timeout: Duration,
    watcher: Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(
        tower::ServiceBuilder::new()
            .layer(Extension(LocalAddr(local)))
            .layer(Extension(PeerAddr(peer)))
            .layer(Extension(scheme))
            .service(router),
    );
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(client_timeout)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(error) = watcher.watch(connection).await {
        // A client that went away or was too slow: its business, not an operator's.
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// Reads the certificate and key again on each SIGHUP; a pair that cannot be used is logged
/// and the one in use stays.
async fn reload_on_hangup(tls: Arc<ServerTls>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP: TLS files will not be reloaded");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            match tls.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate and key reloaded"),
                Err(error) => {
                    tracing::error!(%error, "SIGHUP: TLS files not reloaded; still serving the previous pair")
                }
            }
        }
    }
    #[cfg(not(unix))]
    drop(tls);
}
