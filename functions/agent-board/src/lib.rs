//! agent-board: the live agent board people look at — a wallboard page and its JSON API over the agent-state
//! table. API.md beside this crate is the contract between the API and the page.
//!
//! * [`board`] — the board as served: agents as tiles, filters, counts; an agent's history. Pure.
//! * [`service`] — the routes, the short-lived cache, ETags and compression, independent of the front door.
//! * [`config`] — configuration from the environment (and the local server's page settings file).

pub mod board;
pub mod config;
pub mod service;
#[cfg(feature = "testing")]
pub mod testing;

pub use service::BoardService;

/// The function's name: package, binary and log field.
pub const NAME: &str = "agent-board";

/// A response as lambda_http sends it through API Gateway: compressed bodies as binary (base64 on the wire), the
/// rest as text, an empty body (304) as none.
pub fn to_lambda(response: http::Response<Vec<u8>>) -> lambda_http::Response<lambda_http::Body> {
    use lambda_http::Body;
    let (parts, bytes) = response.into_parts();
    let body = if bytes.is_empty() {
        Body::Empty
    } else if parts.headers.contains_key(http::header::CONTENT_ENCODING) {
        Body::Binary(bytes)
    } else {
        match String::from_utf8(bytes) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    lambda_http::Response::from_parts(parts, body)
}
