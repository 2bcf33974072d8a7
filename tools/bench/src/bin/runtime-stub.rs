//! A Lambda Runtime API stub on 127.0.0.1 (std::net only) that starts bootstraps and measures them.
//!
//! ```text
//! runtime-stub cold --reps 30 [--warmup 1] --target NAME=BOOTSTRAP=EVENT… [--env K=V…] [--logs DIR]
//! runtime-stub rss --target NAME=BOOTSTRAP=EVENT… [--env K=V…] [--logs DIR] [--time /usr/bin/time]
//! ```
//!
//! Each run: a fresh listener on a free port; the bootstrap is spawned with `AWS_LAMBDA_RUNTIME_API` pointing at
//! it, the Lambda environment variables, and only the `--env` variables given (the environment is cleared).
//! The first `GET /2018-06-01/runtime/invocation/next` gets the event file with the `Lambda-Runtime-Aws-Request-Id`,
//! `-Deadline-Ms`, `-Invoked-Function-Arn` and `-Trace-Id` headers; `POST …/{id}/response` and `…/{id}/error`
//! are answered `202 Accepted`; the next `GET …/next` is held while the bootstrap's peak RSS (`VmHWM`) is read,
//! then its connection is closed, which ends the runtime loop with an error and the process exits.
//!
//! * `cold`: the time from spawning the bootstrap to its first `GET …/next`, `--reps` times per target, targets
//!   interleaved (so machine noise hits them alike), after `--warmup` untimed runs per target (default 1: the
//!   binary in the page cache, as it is in a sandbox that has it mapped); prints one JSON line per target with
//!   the median.
//! * `rss`: one run per target under `/usr/bin/time -v`; prints its "Maximum resident set size" and `VmHWM`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(120);

struct Target {
    /// `FUNCTION` or `FUNCTION@LABEL`; the function name is what the bootstrap sees in its environment.
    name: String,
    bootstrap: PathBuf,
    event: Arc<Vec<u8>>,
}

struct Options {
    mode: String,
    reps: usize,
    warmup: usize,
    targets: Vec<Target>,
    env: Vec<(String, String)>,
    logs: Option<PathBuf>,
    time: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: runtime-stub cold|rss --target NAME=BOOTSTRAP=EVENT... [--reps N] [--env K=V...] [--logs DIR] [--time PATH]"
    );
    std::process::exit(2);
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mode = args.next().filter(|m| m == "cold" || m == "rss").unwrap_or_else(|| usage());
    let mut o = Options {
        mode,
        reps: 30,
        warmup: 1,
        targets: Vec::new(),
        env: Vec::new(),
        logs: None,
        time: "/usr/bin/time".into(),
    };
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--reps" => o.reps = value.parse().unwrap_or_else(|_| usage()),
            "--warmup" => o.warmup = value.parse().unwrap_or_else(|_| usage()),
            "--target" => {
                let mut parts = value.splitn(3, '=');
                let (Some(name), Some(bootstrap), Some(event)) = (parts.next(), parts.next(), parts.next()) else {
                    usage()
                };
                let event = std::fs::read(event).unwrap_or_else(|e| {
                    eprintln!("runtime-stub: cannot read {event}: {e}");
                    std::process::exit(1)
                });
                o.targets.push(Target { name: name.into(), bootstrap: bootstrap.into(), event: Arc::new(event) });
            }
            "--env" => {
                let Some((k, v)) = value.split_once('=') else { usage() };
                o.env.push((k.into(), v.into()));
            }
            "--logs" => o.logs = Some(value.into()),
            "--time" => o.time = value.into(),
            _ => usage(),
        }
    }
    if o.targets.is_empty() {
        usage();
    }
    o
}

// ---------------------------------------------------------------------------------------------------------------
// The server side.

enum Note {
    /// A `GET …/next`. The first one is served the event; later ones carry a sender the main thread drops (or
    /// uses) when it is done looking at the process, and their connection is then closed.
    Next {
        at: Instant,
        release: Option<Sender<()>>,
    },
    Response {
        at: Instant,
        error: bool,
        path: String,
        body: Vec<u8>,
    },
    InitError {
        body: Vec<u8>,
    },
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body). `None` at end of stream.
fn read_request(r: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if size == 0 {
                // Trailers end with an empty line.
                loop {
                    line.clear();
                    if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?;
        }
    } else {
        body.resize(length, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Some(Request { method, path, body }))
}

fn respond(w: &mut impl Write, status: &str, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

fn serve_connection(
    stream: TcpStream,
    event: Arc<Vec<u8>>,
    served: Arc<AtomicBool>,
    notes: Sender<Note>,
    name: String,
) {
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(req)) = read_request(&mut reader) {
        let at = Instant::now();
        let result = match (req.method.as_str(), req.path.as_str()) {
            ("GET", NEXT) if !served.swap(true, Ordering::SeqCst) => {
                let _ = notes.send(Note::Next { at, release: None });
                let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + FUNCTION_TIMEOUT;
                let headers = [
                    ("Lambda-Runtime-Aws-Request-Id", REQUEST_ID.to_owned()),
                    ("Lambda-Runtime-Deadline-Ms", deadline.as_millis().to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
                    ),
                    (
                        "Lambda-Runtime-Trace-Id",
                        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".to_owned(),
                    ),
                ];
                respond(&mut writer, "200 OK", &headers, &event)
            }
            ("GET", NEXT) => {
                let (release, held) = mpsc::channel();
                let _ = notes.send(Note::Next { at, release: Some(release) });
                let _ = held.recv_timeout(Duration::from_secs(30));
                return; // closing the connection ends the bootstrap's runtime loop
            }
            ("POST", p) if p.ends_with("/response") || p.ends_with("/error") => {
                let _ =
                    notes.send(Note::Response { at, error: p.ends_with("/error"), path: p.to_owned(), body: req.body });
                respond(&mut writer, "202 Accepted", &[], br#"{"status":"OK"}"#)
            }
            ("POST", "/2018-06-01/runtime/init/error") => {
                let _ = notes.send(Note::InitError { body: req.body });
                respond(&mut writer, "202 Accepted", &[], br#"{"status":"OK"}"#)
            }
            _ => respond(&mut writer, "404 Not Found", &[], br#"{"errorType":"NotFound"}"#),
        };
        if result.is_err() {
            return;
        }
    }
}

/// A listener for one run; dropping it stops the accept loop.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Target {
    fn function(&self) -> &str {
        self.name.split('@').next().unwrap_or(&self.name)
    }
}

impl Server {
    fn start(target: &Target, notes: Sender<Note>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicBool::new(false));
        let (event, name, flag) = (Arc::clone(&target.event), target.function().to_owned(), Arc::clone(&stop));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_nodelay(true);
                let (event, served, notes, name) =
                    (Arc::clone(&event), Arc::clone(&served), notes.clone(), name.clone());
                std::thread::spawn(move || serve_connection(stream, event, served, notes, name));
            }
        });
        Ok(Self { addr, stop })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The process side.

/// The environment Lambda gives a `provided.al2023` function, plus `--env`.
fn lambda_env(target: &Target, extra: &[(String, String)], addr: SocketAddr) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = [
        ("AWS_LAMBDA_RUNTIME_API", addr.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", target.function().to_owned()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", target.function())),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/02/[$LATEST]bench".into()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".into()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_SESSION_TOKEN", "testing".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("_HANDLER", "bootstrap".into()),
        ("LANG", "en_US.UTF-8".into()),
        ("TZ", ":UTC".into()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        env.insert(k.clone(), v.clone());
    }
    env
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The bootstrap's pid: the child itself, or the child of `/usr/bin/time`.
fn bootstrap_pid(child: &Child, under_time: bool) -> Option<u32> {
    if !under_time {
        return Some(child.id());
    }
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

fn stop(child: &mut Child, pid: Option<u32>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Only the processes this run started: the bootstrap (by pid) and the direct child.
    if let Some(pid) = pid.filter(|p| *p != child.id()) {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[derive(Default)]
struct Run {
    cold: Option<Duration>,
    invocation: Option<Duration>,
    accepted: bool,
    error: bool,
    init_error: Option<String>,
    response: String,
    batch_item_failures: Option<usize>,
    vm_hwm_kb: Option<u64>,
    max_rss_kb: Option<u64>,
    problem: Option<String>,
}

fn run_once(o: &Options, target: &Target, under_time: bool) -> std::io::Result<Run> {
    let (tx, notes): (Sender<Note>, Receiver<Note>) = mpsc::channel();
    let server = Server::start(target, tx)?;
    let env = lambda_env(target, &o.env, server.addr);
    let time_out = std::env::temp_dir().join(format!("runtime-stub-{}-{}.time", std::process::id(), target.name));
    let mut cmd = if under_time {
        let mut c = Command::new(&o.time);
        c.arg("-v").arg("-o").arg(&time_out).arg(&target.bootstrap);
        c
    } else {
        Command::new(&target.bootstrap)
    };
    let (stdout, stderr) = match &o.logs {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let f = std::fs::File::create(dir.join(format!("{}-{}.log", target.name, o.mode)))?;
            (Stdio::from(f.try_clone()?), Stdio::from(f))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    cmd.env_clear().envs(&env).stdin(Stdio::null()).stdout(stdout).stderr(stderr);

    let mut run = Run::default();
    let spawned = Instant::now();
    let mut child = cmd.spawn()?;
    let mut first_next = None;
    let deadline = spawned + FUNCTION_TIMEOUT + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let note = match notes.recv_timeout(left) {
            Ok(n) => n,
            Err(_) => {
                run.problem =
                    Some(if first_next.is_none() { "no GET /next".into() } else { "no second GET /next".into() });
                break;
            }
        };
        match note {
            Note::Next { at, release: None } => {
                run.cold = Some(at - spawned);
                first_next = Some(at);
            }
            Note::Response { at, error, path, body } => {
                run.invocation = first_next.map(|f| at - f);
                run.accepted = !error && path.contains(REQUEST_ID);
                run.error = error;
                run.batch_item_failures = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("batchItemFailures").and_then(Value::as_array).map(Vec::len));
                run.response = String::from_utf8_lossy(&body).chars().take(400).collect();
            }
            Note::InitError { body } => {
                run.init_error = Some(String::from_utf8_lossy(&body).chars().take(400).collect());
                break;
            }
            Note::Next { release: Some(release), .. } => {
                // The invocation is over and the process waits for the next one: its peak is final.
                run.vm_hwm_kb = bootstrap_pid(&child, under_time).and_then(vm_hwm_kb);
                drop(release);
                break;
            }
        }
    }
    let pid = bootstrap_pid(&child, under_time);
    stop(&mut child, pid);
    drop(server);
    if under_time {
        let report = std::fs::read_to_string(&time_out).unwrap_or_default();
        run.max_rss_kb = report
            .lines()
            .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
            .and_then(|v| v.trim().parse().ok());
        let _ = std::fs::remove_file(&time_out);
    }
    Ok(run)
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    Some(if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn main() {
    let o = options();
    if o.mode == "rss" && !Path::new(&o.time).exists() {
        eprintln!("runtime-stub: {} not found (GNU time is needed for rss)", o.time.display());
        std::process::exit(1);
    }
    let (reps, warmup) = if o.mode == "cold" { (o.reps.max(1), o.warmup) } else { (1, 0) };
    for _ in 0..warmup {
        for target in &o.targets {
            let _ = run_once(&o, target, false);
        }
    }
    let mut runs: Vec<Vec<Run>> = o.targets.iter().map(|_| Vec::new()).collect();
    for rep in 0..reps {
        for (t, target) in o.targets.iter().enumerate() {
            let run = run_once(&o, target, o.mode == "rss")
                .unwrap_or_else(|e| Run { problem: Some(format!("could not run: {e}")), ..Run::default() });
            if let Some(p) = run.problem.as_ref().or(run.init_error.as_ref()) {
                eprintln!("runtime-stub: {} rep {rep}: {p}", target.name);
            }
            runs[t].push(run);
        }
    }
    for (target, runs) in o.targets.iter().zip(runs) {
        let cold: Vec<f64> = runs.iter().filter_map(|r| r.cold.map(ms)).collect();
        let last = runs.last();
        let mut out = json!({
            "target": target.name,
            "bootstrap": target.bootstrap.display().to_string(),
            "event_bytes": target.event.len(),
            "runs": runs.len(),
            "accepted": runs.iter().filter(|r| r.accepted).count(),
            "error_responses": runs.iter().filter(|r| r.error).count(),
            "init_errors": runs.iter().filter(|r| r.init_error.is_some()).count(),
            "problems": runs.iter().filter_map(|r| r.problem.clone()).collect::<Vec<_>>(),
            "response": last.map(|r| r.response.clone()),
            "batch_item_failures": last.and_then(|r| r.batch_item_failures),
            "invocation_ms": median(runs.iter().filter_map(|r| r.invocation.map(ms)).collect()),
        });
        if o.mode == "cold" {
            out["cold_ms"] = json!(cold);
            out["median_ms"] = json!(median(cold.clone()));
            out["min_ms"] = json!(cold.iter().copied().reduce(f64::min));
            out["max_ms"] = json!(cold.iter().copied().reduce(f64::max));
        } else {
            out["max_rss_kb"] = json!(last.and_then(|r| r.max_rss_kb));
            out["vm_hwm_kb"] = json!(last.and_then(|r| r.vm_hwm_kb));
        }
        println!("{out}");
    }
}
