//! The front door: API Gateway HTTP API events (payload format 2.0) in, their responses out. The request is made
//! from `rawPath`, `rawQueryString`, the method and the headers only — no URL with a host is parsed (an unusual
//! `Host` or domain name must not be able to fail a request), and a malformed path answers 400.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use http::{HeaderValue, Request, Response, StatusCode, header};
use shared::clock::Clock;
use shared::ports::ItemStore;

use crate::BoardService;

/// Answers one API Gateway event.
pub async fn answer<S: ItemStore, C: Clock>(
    service: &BoardService<S, C>,
    event: ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let response = match request(event) {
        Some(request) => service.respond(&request).await,
        None => {
            let mut r = Response::new(br#"{"error":"malformed request path"}"#.to_vec());
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
    };
    to_api_gateway(response)
}

/// The request an event describes, or `None` when its path and query do not make a request target.
pub fn request(event: ApiGatewayV2httpRequest) -> Option<Request<()>> {
    let path = event.raw_path.filter(|p| p.starts_with('/')).unwrap_or_else(|| "/".to_owned());
    let target = match event.raw_query_string.filter(|q| !q.is_empty()) {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut request = Request::builder().method(event.request_context.http.method).uri(target).body(()).ok()?;
    *request.headers_mut() = event.headers;
    Some(request)
}

/// A response as API Gateway takes it: compressed bodies base64-encoded, the rest as text, a 304 without a body.
pub fn to_api_gateway(response: Response<Vec<u8>>) -> ApiGatewayV2httpResponse {
    let (parts, bytes) = response.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    let binary = parts.headers.contains_key(header::CONTENT_ENCODING);
    out.headers = parts.headers;
    if !bytes.is_empty() {
        out.body = Some(if binary {
            Body::Binary(bytes)
        } else {
            match String::from_utf8(bytes) {
                Ok(text) => Body::Text(text),
                Err(e) => Body::Binary(e.into_bytes()),
            }
        });
        out.is_base64_encoded = matches!(out.body, Some(Body::Binary(_)));
    }
    out
}
