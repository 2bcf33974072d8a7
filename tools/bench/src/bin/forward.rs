//! The stream-forwarder's throughput per shard and what a failing endpoint costs a healthy one: a generated day's
//! agent events and contact records through `connect_replay::forward::run` (the function's code over the
//! event-source-mapping simulator: one shard, 100 records per invocation) to a local receiver that answers every
//! request after 20 ms. Prints a Markdown table.
//!
//! ```text
//! cargo run --release -p bench --bin forward [-- --agents 50]
//! ```

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use tokio::net::TcpListener;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let agents = args
        .iter()
        .position(|a| a == "--agents")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(50usize);
    // SAFETY: set before the runtime starts any thread.
    unsafe { std::env::set_var("BENCH_WEBHOOK_SECRET", SECRET) };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(receiver(listener));
        let base = format!("http://127.0.0.1:{port}");
        let day: Vec<_> = connect_replay::sources::days(connect_replay::generate::DayConfig { agents, seed: 3, ..Default::default() }, Some(1))
            .filter(|r| r.stream != connect_replay::generate::Stream::Segments)
            .collect();
        println!("A day of {agents} agents: {} agent events and contact records, one shard, 100 records per invocation, a receiver answering every request after 20 ms.\n", day.len());
        println!("| subscriptions | records/s per shard | requests | run s |");
        println!("|---|---:|---:|---:|");
        let sub = |name: &str, path: &str, extra: &str| {
            format!(r#"{{"name": "{name}", "url": "{base}{path}", "kinds": ["agent_event", "contact_record"], "secret_arn": "env:BENCH_WEBHOOK_SECRET"{extra}}}"#)
        };
        let cases = [
            ("one, a message per request", vec![sub("single", "/ok", "")]),
            ("one, batches of up to 100", vec![sub("batched", "/ok", r#", "batch": {"max_messages": 100}"#)]),
            (
                "one a message per request + one whose endpoint never answers (timeout 5 s)",
                vec![sub("single", "/ok", ""), sub("dead", "/hang", r#", "timeout_ms": 5000"#)],
            ),
        ];
        for (label, subs) in cases {
            let doc = format!(r#"{{"subscriptions": [{}]}}"#, subs.join(","));
            let subscriptions = stream_forwarder::config::subscriptions(&doc).expect("subscriptions");
            let out = tempfile::tempdir().expect("tempdir");
            REQUESTS.store(0, std::sync::atomic::Ordering::Relaxed);
            let started = Instant::now();
            let done = connect_replay::forward::run(day.clone().into_iter(), subscriptions, out.path(), Duration::from_secs(20), 100)
                .await
                .expect("forward run");
            let secs = started.elapsed().as_secs_f64();
            println!(
                "| {label} | {:.0} | {} | {secs:.1} |",
                done.records as f64 / secs,
                REQUESTS.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
    });
}

static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Answers `/ok` after 20 ms and never answers `/hang`.
async fn receiver(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
                if request.uri().path() == "/hang" {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok::<_, Infallible>(
                    hyper::Response::builder().status(204).body(Full::new(Bytes::new())).expect("response"),
                )
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
