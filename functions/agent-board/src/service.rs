//! The routes: one request in, one response out, whatever the front door (API Gateway through [`crate::front`] in
//! Lambda, hyper in `connect-replay demo --serve`). Reads go through the agent table's indexes only (the
//! `by-instance` GSI for the board, a key-range Query on the agent's partition for its history); a warm function
//! answers repeated polls from the agents it read less than [`crate::config::Config::cache`] ago.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent_state::table::{AgentView, agent_history, agents_of_instance};
use base64::Engine;
use chrono::TimeDelta;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use sha2::{Digest, Sha256};
use shared::clock::Clock;
use shared::model::time::canonical;
use shared::ports::ItemStore;

use crate::board::{self, Filters};
use crate::config::{PageConfig, check_instance_arn};

/// The page, served verbatim at `GET /`.
pub const PAGE: &str = include_str!("page/index.html");

/// What a service has done, for the benchmarks and tests: table queries made and board requests answered.
#[derive(Debug, Default)]
pub struct Stats {
    pub queries: AtomicU64,
    pub board_requests: AtomicU64,
    pub cache_hits: AtomicU64,
}

/// An instance's agents and when they were read.
type Cached = (Instant, Arc<Vec<AgentView>>);

pub struct BoardService<S, C> {
    store: S,
    /// The board's "now": the wall clock in Lambda, the replay's clock locally (where an hour may pass in a
    /// minute); sent with every API answer (`X-Board-Clock`) with `rate` (`X-Board-Clock-Rate`, board seconds per
    /// real second).
    clock: C,
    rate: f64,
    /// The page's `Content-Security-Policy` ([`content_security_policy`]).
    csp: String,
    page: PageConfig,
    config_json: Vec<u8>,
    default_instance: Option<String>,
    cache_for: Duration,
    cache: tokio::sync::Mutex<HashMap<String, Cached>>,
    rendered: std::sync::Mutex<HashMap<String, Arc<Rendered>>>,
    pub stats: Stats,
}

type Answer = Response<Vec<u8>>;

impl<S: ItemStore, C: Clock> BoardService<S, C> {
    pub fn new(store: S, clock: C, page: PageConfig, default_instance: Option<String>, cache_for: Duration) -> Self {
        let config_json = serde_json::to_vec(&page).unwrap_or_default();
        Self {
            store,
            clock,
            rate: 1.0,
            csp: content_security_policy(PAGE),
            page,
            config_json,
            default_instance,
            cache_for,
            cache: tokio::sync::Mutex::new(HashMap::new()),
            rendered: std::sync::Mutex::new(HashMap::new()),
            stats: Stats::default(),
        }
    }

    /// A clock that runs `rate` times faster than real time (the replay's speed).
    pub fn with_clock_rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn page_config(&self) -> &PageConfig {
        &self.page
    }

    /// Answers one request. Never fails: every problem is an HTTP status with a JSON `{"error": …}` body.
    pub async fn respond<B>(&self, request: &Request<B>) -> Answer {
        let started = Instant::now();
        let path = request.uri().path();
        let (route, response) = self.route(request, path).await;
        tracing::info!(
            route,
            status = response.status().as_u16(),
            bytes = response.body().len(),
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
        response
    }

    async fn route<B>(&self, request: &Request<B>, path: &str) -> (&'static str, Answer) {
        if request.method() != Method::GET {
            return ("method", error(StatusCode::METHOD_NOT_ALLOWED, "only GET"));
        }
        let query = request.uri().query().unwrap_or("");
        let headers = request.headers();
        match path {
            "/" | "/index.html" => {
                let mut page = static_body(PAGE.as_bytes().to_vec(), "text/html; charset=utf-8", headers);
                page.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value(&self.csp));
                ("page", page)
            }
            "/config.json" => ("config", static_body(self.config_json.clone(), "application/json", headers)),
            "/api/board" => ("board", self.board(query, headers).await),
            _ => match path.strip_prefix("/api/agents/").and_then(|rest| rest.strip_suffix("/history")) {
                Some(id) if is_agent_id(id) => ("history", self.history(id, query, headers).await),
                Some(_) => ("history", error(StatusCode::BAD_REQUEST, "agent id: letters, digits and '-' only")),
                None => ("unknown", error(StatusCode::NOT_FOUND, "no such route")),
            },
        }
    }

    async fn board(&self, query: &str, headers: &HeaderMap) -> Answer {
        self.stats.board_requests.fetch_add(1, Ordering::Relaxed);
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let instance = match self.instance(&pairs) {
            Ok(i) => i,
            Err(e) => return e,
        };
        let agents = match self.agents(&instance).await {
            Ok(a) => a,
            Err(e) => return e,
        };
        let filters = Filters::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // Screens showing the same view of the same read share one rendering: body, tag and compressed body are
        // made once per read and view, so a cached poll costs a lookup (and a 304 not even a copy).
        let key = format!("{instance}\n{filters:?}");
        let rendered = {
            let mut cache = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get(&key) {
                Some(r) if Arc::ptr_eq(&r.agents, &agents) => Arc::clone(r),
                _ => {
                    let body = board::board(&instance, &agents, &filters);
                    let Ok(plain) = serde_json::to_vec(&body) else {
                        return error(StatusCode::INTERNAL_SERVER_ERROR, "the board could not be serialised");
                    };
                    let r = Arc::new(Rendered {
                        agents: Arc::clone(&agents),
                        etag: etag(&plain),
                        gzip: gzip(&plain),
                        plain,
                    });
                    if cache.len() >= 64 {
                        cache.clear();
                    }
                    cache.insert(key, Arc::clone(&r));
                    r
                }
            }
        };
        self.tagged(&rendered.etag, headers, || {
            if accepts_gzip(headers)
                && let Some(gz) = &rendered.gzip
            {
                compressed(gz.clone(), "application/json")
            } else {
                with_type(rendered.plain.clone(), "application/json")
            }
        })
    }

    async fn history(&self, agent_id: &str, query: &str, headers: &HeaderMap) -> Answer {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let instance = match self.instance(&pairs) {
            Ok(i) => i,
            Err(e) => return e,
        };
        let hours = match pairs.iter().find(|(k, _)| k == "hours").map(|(_, v)| v.parse::<u32>()) {
            None => 8,
            Some(Ok(h)) if (1..=24).contains(&h) => h,
            Some(_) => return error(StatusCode::BAD_REQUEST, "hours must be a whole number from 1 to 24"),
        };
        let agent_arn = format!("{instance}/agent/{agent_id}");
        let to = self.clock.now();
        let from = to - TimeDelta::hours(i64::from(hours));
        self.stats.queries.fetch_add(1, Ordering::Relaxed);
        let episodes = match agent_history(&self.store, &agent_arn, from, to).await {
            Ok(e) => e,
            Err(e) => return unreadable(&e),
        };
        // The agent's current item comes from the board's own read (the index), not a GetItem of its own.
        let agents = match self.agents(&instance).await {
            Ok(a) => a,
            Err(e) => return e,
        };
        let current = agents.iter().find(|a| a.agent_arn == agent_arn);
        if current.is_none() && episodes.is_empty() {
            return error(StatusCode::NOT_FOUND, "no such agent on this board");
        }
        let body = board::history(&agent_arn, current, episodes, canonical(&from), canonical(&to));
        self.json(&body, headers)
    }

    /// The instance a request names (`instance=`), or the configured one.
    #[allow(clippy::result_large_err)]
    fn instance(&self, pairs: &[(String, String)]) -> Result<String, Answer> {
        match pairs
            .iter()
            .find(|(k, _)| k == "instance")
            .map(|(_, v)| v.clone())
            .or_else(|| self.default_instance.clone())
        {
            None => Err(error(
                StatusCode::BAD_REQUEST,
                "instance: give the Connect instance ARN (no default is configured)",
            )),
            Some(arn) => match check_instance_arn(&arn) {
                Ok(()) => Ok(arn),
                Err(e) => Err(error(StatusCode::BAD_REQUEST, &format!("instance: {e}"))),
            },
        }
    }

    /// The agents of an instance: from the cache when read less than `cache_for` ago, else one index query. The
    /// lock is held across the query, so polls arriving together wait for one read instead of making their own.
    #[allow(clippy::result_large_err)]
    async fn agents(&self, instance: &str) -> Result<Arc<Vec<AgentView>>, Answer> {
        let mut cache = self.cache.lock().await;
        if let Some((at, agents)) = cache.get(instance)
            && at.elapsed() < self.cache_for
        {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Arc::clone(agents));
        }
        self.stats.queries.fetch_add(1, Ordering::Relaxed);
        let agents = Arc::new(agents_of_instance(&self.store, instance).await.map_err(|e| unreadable(&e))?);
        // A board names few instances; an unbounded map would let arbitrary `instance=` values grow it.
        if cache.len() >= 16 {
            cache.clear();
        }
        cache.insert(instance.to_owned(), (Instant::now(), Arc::clone(&agents)));
        Ok(agents)
    }

    fn json(&self, body: &impl serde::Serialize, headers: &HeaderMap) -> Answer {
        let bytes = match serde_json::to_vec(body) {
            Ok(b) => b,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &format!("serialising: {e}")),
        };
        self.tagged(&etag(&bytes), headers, || encoded(bytes, "application/json", headers))
    }

    /// 304 when `If-None-Match` names `etag`, else `body()`; with the tag, caching and board-clock headers.
    fn tagged(&self, etag: &str, headers: &HeaderMap, body: impl FnOnce() -> Answer) -> Answer {
        let mut response = if matches(headers, etag) {
            let mut r = Response::new(Vec::new());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            body()
        };
        let h = response.headers_mut();
        h.insert(header::ETAG, value(etag));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        h.insert("x-board-clock", value(&canonical(&self.clock.now())));
        h.insert("x-board-clock-rate", value(&self.rate.to_string()));
        response
    }
}

fn is_agent_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A strong entity tag: the first 16 bytes of the body's SHA-256, quoted.
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` names `etag` (or `*`); weak tags compare by their opaque part.
fn matches(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let t = t.trim();
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
    })
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused =
                parts.any(|p| matches!(p.trim().replace(' ', "").as_str(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        },
    )
}

/// A board as sent for one read and view.
struct Rendered {
    /// The read it was made from (compared by pointer: a new read is a new rendering).
    agents: Arc<Vec<AgentView>>,
    etag: String,
    plain: Vec<u8>,
    gzip: Option<Vec<u8>>,
}

/// `body` gzip-compressed, when it is worth it (1 KiB or more).
fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    if body.len() < 1024 {
        return None;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::default());
    gz.write_all(body).and_then(|()| gz.finish()).ok()
}

/// The body, gzip-compressed when the client accepts it and it is worth it.
fn encoded(body: Vec<u8>, content_type: &'static str, headers: &HeaderMap) -> Answer {
    match accepts_gzip(headers).then(|| gzip(&body)).flatten() {
        Some(gz) => compressed(gz, content_type),
        None => with_type(body, content_type),
    }
}

fn compressed(gz: Vec<u8>, content_type: &'static str) -> Answer {
    let mut r = with_type(gz, content_type);
    r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    r
}

fn with_type(body: Vec<u8>, content_type: &'static str) -> Answer {
    let mut r = Response::new(body);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn static_body(body: Vec<u8>, content_type: &'static str, headers: &HeaderMap) -> Answer {
    let mut response = encoded(body, content_type, headers);
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// A strict policy for `page`: its own inline `<script>` and `<style>` elements are allowed by their SHA-256 (no
/// `'unsafe-inline'`, so injected markup cannot run script), nothing is loaded from elsewhere, and the page may
/// connect to itself and to https origins (the OIDC issuer's discovery and token endpoints, known only at run time;
/// loopback for the local test provider). Hash: SHA-256 of the exact bytes between an element's opening tag and
/// its closing tag, base64 (standard alphabet, padded), as CSP Level 2 defines.
pub fn content_security_policy(page: &str) -> String {
    let hashes = |tag: &str| -> String {
        let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
        let mut out = Vec::new();
        let mut rest = page;
        while let Some(start) = rest.find(&open) {
            let after = &rest[start..];
            let (Some(body_start), Some(end)) = (after.find('>'), after.find(&close)) else { break };
            if body_start < end {
                let digest = Sha256::digest(&after.as_bytes()[body_start + 1..end]);
                out.push(format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest)));
            }
            rest = &after[end + close.len()..];
        }
        if out.is_empty() { "'none'".to_owned() } else { out.join(" ") }
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src 'self' data:; \
         connect-src 'self' https: http://127.0.0.1:* http://localhost:*; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
        hashes("script"),
        hashes("style")
    )
}

fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn error(status: StatusCode, message: &str) -> Answer {
    let mut r = Response::new(serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn unreadable(e: &shared::ports::PortError) -> Answer {
    tracing::error!(error = %e, "agent table unreadable");
    error(StatusCode::SERVICE_UNAVAILABLE, "the agent table cannot be read right now")
}
