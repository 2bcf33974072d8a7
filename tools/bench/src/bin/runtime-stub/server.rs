//! The Runtime API side of the stub: a one-run HTTP/1.1 listener on 127.0.0.1 that serves the event, accepts the
//! response and tells the measuring side what happened ([`Note`]).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::*;

pub(crate) enum Note {
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

pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (Content-Length or chunked body). `None` at end of stream.
pub(crate) fn read_request(r: &mut impl BufRead) -> std::io::Result<Option<Request>> {
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

pub(crate) fn respond(
    w: &mut impl Write,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()
}

pub(crate) fn serve_connection(
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
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: Arc<AtomicBool>,
}

impl Target {
    pub(crate) fn function(&self) -> &str {
        self.name.split('@').next().unwrap_or(&self.name)
    }
}

impl Server {
    pub(crate) fn start(target: &Target, notes: Sender<Note>) -> std::io::Result<Self> {
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
