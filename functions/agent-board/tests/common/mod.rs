//! Test support: the fleet (agent_board::testing), requests and response helpers.

#![allow(dead_code)]

use std::io::Read;

pub use agent_board::testing::*;
use http::{Request, Response};
use serde_json::Value;

pub fn get(uri: &str) -> Request<()> {
    Request::builder().uri(uri).body(()).expect("request")
}

pub fn get_with(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder().uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).expect("request")
}

/// The body as JSON, decompressed when it is gzip.
pub fn json_of(response: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(&body_of(response))
        .unwrap_or_else(|e| panic!("JSON body ({e}): {:?}", String::from_utf8_lossy(response.body())))
}

pub fn body_of(response: &Response<Vec<u8>>) -> Vec<u8> {
    if response.headers().get("content-encoding").is_some_and(|v| v == "gzip") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(response.body().as_slice()).read_to_end(&mut out).expect("gzip");
        out
    } else {
        response.body().clone()
    }
}

pub fn header<'a>(response: &'a Response<Vec<u8>>, name: &str) -> &'a str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("header {name} missing"))
}
