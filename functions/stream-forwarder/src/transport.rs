//! One HTTP POST to a subscription's endpoint: HTTPS with certificate verification against the platform's roots
//! (plain HTTP only to loopback, which the subscription's validation already enforces), HTTP/1.1, no redirect
//! followed (a 3xx is an answer like any other), a timeout per request. A trait, so the delivery logic is tested
//! against scripted endpoints and the real client against a local receiver.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};

/// What an endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    /// `Retry-After`, in seconds (a number, or an HTTP date turned into seconds from now).
    pub retry_after: Option<Duration>,
}

/// Why there was no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoAnswer {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connection(String),
}

pub trait Transport: Send + Sync {
    fn post(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
        timeout: Duration,
    ) -> impl Future<Output = Result<Answer, NoAnswer>> + Send;
}

type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// The real client (hyper + rustls, ring, the platform's root certificates).
#[derive(Clone)]
pub struct HttpTransport {
    client: Client,
}

impl HttpTransport {
    pub fn new() -> Result<Self, String> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("no root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Self { client })
    }
}

impl Transport for HttpTransport {
    async fn post(&self, url: &str, headers: HeaderMap, body: Bytes, timeout: Duration) -> Result<Answer, NoAnswer> {
        let mut request =
            Request::post(url).body(Full::new(body)).map_err(|e| NoAnswer::Connection(format!("request: {e}")))?;
        *request.headers_mut() = headers;
        let call = async {
            let response = self.client.request(request).await.map_err(|e| NoAnswer::Connection(e.to_string()))?;
            let status = response.status();
            let retry_after = retry_after(response.headers());
            // Read (and drop) the body so the connection can be reused; its content is not ours to log.
            let _ = response.into_body().collect().await;
            Ok(Answer { status, retry_after })
        };
        tokio::time::timeout(timeout, call).await.map_err(|_| NoAnswer::Timeout(timeout))?
    }
}

/// `Retry-After` as a duration: delay-seconds, or an HTTP date (IMF-fixdate) counted from now.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = chrono::Utc::now() + chrono::TimeDelta::seconds(30);
        h.insert(http::header::RETRY_AFTER, later.format("%a, %d %b %Y %H:%M:%S GMT").to_string().parse().unwrap());
        let d = retry_after(&h).unwrap();
        assert!(d <= Duration::from_secs(30) && d >= Duration::from_secs(28), "{d:?}");
        h.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}
