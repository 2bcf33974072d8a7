//! The producer's one AWS seam: [`super::PutRecords`] on the SDK's Kinesis client, and which whole-call errors are
//! worth retrying.

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{CallError, Entry, PutRecords};

/// [`PutRecords`] on the SDK's Kinesis client. A stream starting with `arn:` is passed as `StreamARN`, anything
/// else as `StreamName`.
#[derive(Debug, Clone)]
pub struct KinesisPutter {
    client: aws_sdk_kinesis::Client,
}

impl KinesisPutter {
    pub fn new(client: aws_sdk_kinesis::Client) -> Self {
        Self { client }
    }

    /// A client from the shared SDK configuration (the project's HTTPS client; `AWS_ENDPOINT_URL` for emulators).
    pub async fn from_env() -> Self {
        Self::new(aws_sdk_kinesis::Client::new(&shared::adapters::aws::sdk_config().await))
    }
}

impl PutRecords for KinesisPutter {
    async fn put_records(&self, stream: &str, entries: &[&Entry]) -> Result<Vec<Option<String>>, CallError> {
        let records = entries
            .iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(e.data.clone()))
                    .partition_key(&e.partition_key)
                    .build()
                    .map_err(|err| CallError { retryable: false, detail: err.to_string() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request = self.client.put_records().set_records(Some(records));
        let request = if stream.starts_with("arn:") { request.stream_arn(stream) } else { request.stream_name(stream) };
        let output = request.send().await.map_err(|e| call_error(&e))?;
        Ok(output.records().iter().map(|r| r.error_code().map(str::to_owned)).collect())
    }
}

/// Error codes of a whole call that are worth retrying (besides 5xx, timeouts and connection errors).
const RETRYABLE_CODES: [&str; 5] = [
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "KMSThrottlingException",
    "ThrottlingException",
    "InternalFailure",
];

fn call_error<E, R>(err: &SdkError<E, R>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("unknown");
            let message = ctx.err().message().unwrap_or("");
            CallError {
                retryable: RETRYABLE_CODES.contains(&code) || code.ends_with("ServiceUnavailable"),
                detail: format!("{code}: {message}"),
            }
        }
        SdkError::TimeoutError(_) => CallError { retryable: true, detail: "timeout".into() },
        SdkError::DispatchFailure(e) => CallError { retryable: true, detail: format!("connection: {e:?}") },
        SdkError::ResponseError(_) => CallError { retryable: true, detail: "unreadable response".into() },
        other => CallError { retryable: false, detail: format!("{other:?}") },
    }
}
