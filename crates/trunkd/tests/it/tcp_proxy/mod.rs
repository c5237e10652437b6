//! A TCP forwarder that a test can take down and bring back, to make a real service (the
//! RabbitMQ broker, a Keystone) unreachable for one process without stopping it for everybody
//! else; or make it hang: connections accepted and never answered.
#![allow(dead_code)]

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TcpProxy {
    pub port: u16,
    target: SocketAddr,
    /// The listener and every forwarded connection; aborted when the proxy goes down.
    tasks: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("address").port();
        let proxy = TcpProxy {
            port,
            target,
            tasks: Default::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target, self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let forward = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().expect("tasks").push(forward);
            }
        });
        self.tasks.lock().expect("tasks").push(accept);
    }

    /// Refuses new connections and cuts the open ones.
    pub fn down(&self) {
        for task in self.tasks.lock().expect("tasks").drain(..) {
            task.abort();
        }
    }

    /// The proxy's port again, once the aborted listener has let go of it.
    async fn bind_again(&self) -> TcpListener {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => return listener,
                Err(error) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "bind the proxy again: {error}"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Cuts the open connections, then accepts new ones and never answers them (a service
    /// that hangs).
    pub async fn stall(&self) {
        self.down();
        let listener = self.bind_again().await;
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((inbound, _)) = listener.accept().await {
                held.push(inbound);
            }
        });
        self.tasks.lock().expect("tasks").push(hold);
    }

    /// Accepts and forwards connections again, on the same port.
    pub async fn up(&self) {
        self.down();
        let listener = self.bind_again().await;
        self.serve(listener);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.down();
    }
}
