//! A TCP relay on a free loopback port in front of a real server (moto), which a test can cut
//! and restore: an outage of the AWS endpoint as the service sees it (connections refused and
//! open ones reset), without stopping the shared server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running relay; it stops with the test's runtime.
pub struct Relay {
    /// Where it listens.
    pub address: SocketAddr,
    cut: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl Relay {
    /// Relays `127.0.0.1:<free port>` to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0);
        let relay = Relay { address, cut: Arc::clone(&cut), cuts: cuts.clone() };
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if cut.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut_now = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_now.changed() => {}
                    }
                });
            }
        });
        relay
    }

    /// `http://ADDRESS`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Refuses new connections and drops the open ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|count| *count += 1);
    }

    /// Relays again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}
