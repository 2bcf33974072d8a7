//! S3 as the [`ObjectStore`]: conditional puts (`If-None-Match: *`) with a CRC32C checksum.

use std::sync::{Arc, OnceLock};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;

use super::sdk_error;
use crate::ports::*;

#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: S3Client,
    bucket: String,
}

/// The store's client: given, or built by the first call that needs it.
#[derive(Debug, Clone)]
enum S3Client {
    Ready(Client),
    OnFirstUse(Arc<(aws_config::SdkConfig, OnceLock<Client>)>),
}

impl S3ObjectStore {
    /// The bucket this store reads and writes (for messages).
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client: S3Client::Ready(client), bucket: bucket.into() }
    }

    /// A store whose client is built on its first call, for a store most processes never call: the quarantine of
    /// agent-state and supervisor-alerts, written only when a record is invalid. Building an S3 client parses the
    /// SDK's partition table and endpoint rules — about a tenth of such a bootstrap's init (BENCHMARKS.md, cold
    /// start) — so a process that never quarantines never pays for it.
    pub fn on_first_use(config: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        Self { client: S3Client::OnFirstUse(Arc::new((config.clone(), OnceLock::new()))), bucket: bucket.into() }
    }

    fn s3(&self) -> &Client {
        match &self.client {
            S3Client::Ready(client) => client,
            S3Client::OnFirstUse(lazy) => lazy.1.get_or_init(|| Self::client(&lazy.0)),
        }
    }

    /// A client for the configuration, path-style when a custom endpoint (an emulator) is set.
    pub fn client(config: &aws_config::SdkConfig) -> Client {
        let conf = aws_sdk_s3::config::Builder::from(config).force_path_style(super::custom_endpoint("S3")).build();
        Client::from_conf(conf)
    }
}

impl ObjectStore for S3ObjectStore {
    async fn put_if_absent(&self, object: PutObject) -> PortResult<PutOutcome> {
        let result = self
            .s3()
            .put_object()
            .bucket(&self.bucket)
            .key(&object.key)
            .body(ByteStream::from(object.body))
            .content_type(object.content_type)
            .set_content_encoding(object.content_encoding.map(str::to_owned))
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .if_none_match("*")
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Created),
            // 412: the key exists (an identical retry wrote it). 409: a concurrent conditional write is in
            // flight for the key; retrying later finds the object.
            Err(e) if status_of(&e) == Some(412) => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(sdk_error("s3", &e)),
        }
    }

    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        match self.s3().get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let bytes = out.body.collect().await.map_err(|e| PortError::transient("s3", e.to_string()))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(sdk_error("s3", &e)),
        }
    }

    async fn delete(&self, key: &str) -> PortResult<()> {
        self.s3()
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("s3", &e))
    }

    async fn list(&self, prefix: &str) -> PortResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .s3()
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| sdk_error("s3", &e))?;
            keys.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
            token = out.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        keys.sort();
        Ok(keys)
    }
}

/// The HTTP status of a failed call, when a response arrived.
fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}
