//! `demo --serve`: a paced replay delivers nothing before its board time, and the local server answers the board
//! API and page over loopback HTTP while the day advances.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use connect_replay::app::{self, Local};
use connect_replay::generate::{self, DayConfig, DayGenerator};
use connect_replay::replay::{Pace, ReplayClock, ReplayOptions};
use connect_replay::serve;
use shared::clock::Clock;

/// A day of `agents`, its first record's time, and a pace of `speed` with one-second windows.
fn day(agents: usize, speed: f64) -> (Vec<generate::GenRecord>, Pace) {
    let records: Vec<_> = DayGenerator::new(DayConfig { seed: 5, agents, ..DayConfig::default() }).collect();
    let first = records.iter().map(|r| r.at).min().expect("records");
    let clock = ReplayClock::new(first, speed);
    let tick = chrono::TimeDelta::milliseconds((speed * 250.0) as i64);
    (records, Pace { clock, tick })
}

#[tokio::test]
async fn a_paced_replay_delivers_each_window_once_its_board_time_has_come() {
    let dir = tempfile::tempdir().unwrap();
    let local = Local::open(dir.path(), true).unwrap();
    // An 8-hour day in about 4 s of real time.
    let (records, pace) = day(4, 8.0 * 3600.0 / 4.0);
    let total = records.len();
    let early = Arc::new(Mutex::new(Vec::new()));
    let windows = Arc::new(Mutex::new(0usize));
    let options = ReplayOptions { pace: Some(pace), ..ReplayOptions::default() };
    let outcome = {
        let (early, windows) = (Arc::clone(&early), Arc::clone(&windows));
        let hosts = app::host(
            app::Stores {
                archive: local.archive.clone(),
                quarantine: local.archive.clone(),
                agent_table: local.agent_table.clone(),
                alert_table: local.alert_table.clone(),
                publisher: shared::adapters::memory::MemoryPublisher::new(),
            },
            contact_archiver::config::ArchiveFormat::Ndjson,
            contact_archiver::config::ArchiveKinds::ALL,
            (app::load_rules(None).unwrap(), supervisor_alerts::config::Lateness::EventTime),
            shared::clock::SystemClock,
        );
        connect_replay::replay::replay(records.into_iter(), hosts.functions(), &options, move |window| {
            let now = pace.clock.now();
            *windows.lock().unwrap() += 1;
            early.lock().unwrap().extend(window.iter().filter(|r| r.at > now).map(|r| (r.at, now)));
        })
        .await
    };
    assert_eq!(outcome.total(), total, "every record delivered");
    assert!(early.lock().unwrap().is_empty(), "records delivered before their time: {:?}", early.lock().unwrap());
    assert!(*windows.lock().unwrap() >= 8, "the day is spread over many windows, not one");
}

/// One HTTP/1.1 GET over loopback: status, headers (lower-case names) and body.
fn get(address: std::net::SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    (status, head, raw[split + 4..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_server_answers_the_page_and_the_board_as_the_day_advances() {
    let dir = tempfile::tempdir().unwrap();
    let local = Local::open(dir.path(), true).unwrap();
    let (records, pace) = day(12, 8.0 * 3600.0 / 6.0);
    let page = agent_board::config::PageConfig::from_json(app::DEMO_BOARD).unwrap();
    let listener = serve::bind(0).await.unwrap();
    let address = listener.local_addr().unwrap();
    assert!(address.ip().is_loopback(), "the local board has no login: loopback only");
    let service =
        serve::board_service(local.agent_table.clone(), pace.clock, pace.clock.speed, page, generate::instance_arn());
    tokio::spawn(serve::serve(listener, Arc::new(service)));

    let options = ReplayOptions { pace: Some(pace), ..ReplayOptions::default() };
    let replay = tokio::spawn(async move {
        let rules = app::load_rules(None).unwrap();
        local.run(records.into_iter(), rules, &options, None, false, true).await.map(|_| ()).map_err(|e| e.to_string())
    });

    let seen = tokio::task::spawn_blocking(move || {
        let (status, head, body) = get(address, "/");
        assert_eq!(status, 200);
        assert!(head.contains("content-type: text/html"), "{head}");
        assert_eq!(body, agent_board::service::PAGE.as_bytes());
        let (status, _, body) = get(address, "/config.json");
        assert_eq!(status, 200);
        let config: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(config["thresholds"]["Break"]["red_minutes"], 15.0);

        let mut boards = Vec::new();
        let mut clocks = Vec::new();
        for _ in 0..8 {
            let (status, head, body) = get(address, "/api/board");
            assert_eq!(status, 200);
            assert!(head.contains("x-board-clock-rate: 4800"), "{head}");
            let clock = head.lines().find_map(|l| l.strip_prefix("x-board-clock: ")).expect("clock").to_owned();
            clocks.push(clock);
            let board: serde_json::Value = serde_json::from_slice(&body).unwrap();
            boards.push(
                board["agents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| (a["username"].to_string(), a["activity"].to_string()))
                    .collect::<Vec<_>>(),
            );
            std::thread::sleep(std::time::Duration::from_millis(400));
        }
        (boards, clocks)
    })
    .await
    .unwrap();
    replay.await.unwrap().unwrap();
    let (boards, clocks) = seen;
    assert!(clocks.windows(2).all(|w| w[0] < w[1]), "the board clock runs: {clocks:?}");
    assert!(boards.last().is_some_and(|b| b.len() == 12), "every agent appears: {:?}", boards.last());
    let distinct: std::collections::BTreeSet<_> = boards.iter().collect();
    assert!(distinct.len() >= 3, "activities change as the day advances: {distinct:?}");
}
