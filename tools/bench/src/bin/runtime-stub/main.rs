//! A Lambda Runtime API stub on 127.0.0.1 (std::net only) that starts bootstraps and measures them.
//!
//! ```text
//! runtime-stub cold --reps 30 [--warmup 1] --target NAME=BOOTSTRAP=EVENT… [--env K=V…] [--logs DIR]
//! runtime-stub rss --target NAME=BOOTSTRAP=EVENT… [--env K=V…] [--logs DIR] [--time /usr/bin/time]
//! runtime-stub init --reps 300 --target NAME=BOOTSTRAP=EVENT… [--env K=V…]
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
//! * `init`: runs each bootstrap `--reps` times, one after another, with the same environment but
//!   `AWS_LAMBDA_RUNTIME_API` at a closed port, so each run is the init alone (its first `GET …/next` is refused
//!   and the process exits). Nothing is timed: this is the workload `perf record` profiles (BENCHMARKS.md, cold
//!   start profile).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

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
        "usage: runtime-stub cold|rss|init --target NAME=BOOTSTRAP=EVENT... [--reps N] [--env K=V...] [--logs DIR] [--time PATH]"
    );
    std::process::exit(2);
}

fn options() -> Options {
    let mut args = std::env::args().skip(1);
    let mode = args.next().filter(|m| ["cold", "rss", "init"].contains(&m.as_str())).unwrap_or_else(|| usage());
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

mod server;

use server::{Note, Server};

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

/// `init` mode: each bootstrap `--reps` times, its runtime API a port nothing listens on.
fn init_only(o: &Options) {
    for target in &o.targets {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).unwrap_or_else(|e| {
            eprintln!("runtime-stub: no free port: {e}");
            std::process::exit(1)
        });
        let env = lambda_env(target, &o.env, closed);
        for _ in 0..o.reps {
            let status = Command::new(&target.bootstrap)
                .env_clear()
                .envs(&env)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Err(e) = status {
                eprintln!("runtime-stub: {} could not run: {e}", target.name);
                std::process::exit(1);
            }
        }
    }
}

fn main() {
    let o = options();
    if o.mode == "init" {
        return init_only(&o);
    }
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
