//! `demo --serve`: the board's page and API (agent-board's own service) over the local agent table, on 127.0.0.1,
//! while the day is replayed at a chosen speed. No login: loopback only.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use agent_board::BoardService;
use agent_board::config::PageConfig;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use shared::clock::Clock;
use shared::ports::ItemStore;
use tokio::net::TcpListener;

/// Binds 127.0.0.1:`port` (0: any free port). Only loopback: the local board has no login.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

/// The board service the local server answers with: the instance's agents, read fresh on every poll.
pub fn board_service<S: ItemStore, C: Clock>(
    store: S,
    clock: C,
    rate: f64,
    page: PageConfig,
    instance_arn: String,
) -> BoardService<S, C> {
    BoardService::new(store, clock, page, Some(instance_arn), Duration::ZERO).with_clock_rate(rate)
}

/// Serves `service` on `listener` until the process ends.
pub async fn serve<S, C>(listener: TcpListener, service: Arc<BoardService<S, C>>)
where
    S: ItemStore + 'static,
    C: Clock + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let service = Arc::clone(&service);
        tokio::spawn(async move {
            let answer = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let service = Arc::clone(&service);
                async move { Ok::<_, Infallible>(service.respond(&request).await.map(|b| Full::new(Bytes::from(b)))) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            // A client that goes away mid-answer is no error of ours.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, answer).await;
        });
    }
}
