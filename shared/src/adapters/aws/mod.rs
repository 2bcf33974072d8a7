//! The AWS SDK adapters. Clients are built once in `main` from one `SdkConfig`; the endpoint comes from the
//! standard `AWS_ENDPOINT_URL` (and per-service variants), so moto works unchanged; S3 switches to path-style
//! addressing when an endpoint is set.

use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::ports::PortError;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "sns")]
pub mod sns;

/// Loads the SDK configuration from the environment (no network call happens here) with [`https_client`].
///
/// The default credential and region chains ask the environment variables first. Where those answer — always in
/// Lambda, which sets `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` and `AWS_REGION` — the
/// environment providers are given directly, so the same credentials and region result without building the
/// chains' other providers: the web-identity provider's STS client (which parses the SDK's partition table) and
/// the IMDS client were a fifth of a bootstrap's init CPU (BENCHMARKS.md, cold start profile). Elsewhere (a laptop
/// with a profile or SSO) the full chains run as before.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client());
    let from_env = FromEnvironment::read(|name| std::env::var(name).ok());
    if from_env.credentials {
        loader = loader.credentials_provider(aws_config::environment::EnvironmentVariableCredentialsProvider::new());
    }
    if from_env.region {
        loader = loader.region(aws_config::environment::EnvironmentVariableRegionProvider::new());
    }
    loader.load().await
}

/// Which of the SDK's default chains the environment variables alone answer (their first provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FromEnvironment {
    credentials: bool,
    region: bool,
}

impl FromEnvironment {
    fn read(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
        Self {
            credentials: set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"),
            region: set("AWS_REGION") || set("AWS_DEFAULT_REGION"),
        }
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls, proxy settings from the environment) with two changes.
///
/// * The crypto provider is ring, not aws-lc: the SDK crates are built without their `default-https-client`
///   feature, so aws-lc (1.5 MB of each bootstrap) is not linked.
/// * The trusted root certificates are loaded when a client's first request needs a connection, not while each
///   client is built in `main`. The SDK loads them eagerly (`validate_base_client_config`): reading and parsing the
///   platform's certificate store (and, where it is a hashed directory, every file in it) was most of the
///   functions' cold start before the first `GET /next` (figures: BENCHMARKS.md). The work is the same, on the first call of
///   each client (the file reading once per process).
pub fn https_client() -> SharedHttpClient {
    let client = aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
        let mut builder = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::Ring));
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    });
    SharedHttpClient::new(FirstUseTls(client))
}

/// Delegates everything but the eager certificate load (the trait's default `validate_base_client_config`).
#[derive(Debug)]
struct FirstUseTls(SharedHttpClient);

impl HttpClient for FirstUseTls {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// True when an emulator or custom endpoint is configured for `service` (e.g. "S3").
pub fn custom_endpoint(service_env: &str) -> bool {
    ["AWS_ENDPOINT_URL".to_owned(), format!("AWS_ENDPOINT_URL_{service_env}")]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()))
}

/// Maps an SDK error to a port error. Throttling and other 4xx are transient (nothing happened); timeouts,
/// connection failures and 5xx are ambiguous (retry, but it may have happened); so is everything else unless a
/// call site knows better (a misconfigured bucket or table must not turn good
/// records into poison: they are retried, then reach the on-failure destination).
pub(crate) fn sdk_error<E>(service: &'static str, err: &SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code().unwrap_or("unknown");
            let detail = format!("{code} (HTTP {status})");
            if status >= 500 { PortError::ambiguous(service, detail) } else { PortError::transient(service, detail) }
        }
        SdkError::TimeoutError(_) => PortError::ambiguous(service, "timeout"),
        SdkError::DispatchFailure(_) => PortError::ambiguous(service, "dispatch failure (connection)"),
        SdkError::ResponseError(_) => PortError::ambiguous(service, "unreadable response"),
        SdkError::ConstructionFailure(_) => PortError::permanent(service, "request construction failed"),
        _ => PortError::ambiguous(service, "unknown SDK error"),
    }
}

#[cfg(test)]
mod tests {
    use super::FromEnvironment;

    fn read(vars: &[(&str, &str)]) -> FromEnvironment {
        FromEnvironment::read(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn the_environment_answers_only_when_it_holds_the_whole_answer() {
        // What Lambda sets.
        let lambda = [("AWS_ACCESS_KEY_ID", "ASIA…"), ("AWS_SECRET_ACCESS_KEY", "s"), ("AWS_REGION", "eu-west-2")];
        assert_eq!(read(&lambda), FromEnvironment { credentials: true, region: true });
        // A key id without its secret (or blank values) is not credentials: the full chain decides.
        assert!(!read(&[("AWS_ACCESS_KEY_ID", "AKIA…")]).credentials);
        assert!(!read(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", " ")]).credentials);
        // A laptop with a profile: nothing in the environment, both chains run.
        assert_eq!(read(&[("AWS_PROFILE", "dev")]), FromEnvironment { credentials: false, region: false });
        assert!(read(&[("AWS_DEFAULT_REGION", "us-east-1")]).region);
    }
}
