//! HTTP to the Licet server: reqwest with rustls (ring provider, the platform's trust store
//! plus an optional extra root for self-hosted servers), proxies from the environment, and a
//! timeout on every request. Built lazily, so offline checks never pay for it.
//!
//! Only bodies come out of here: no header of an answer (`Date` least of all) is trusted
//! for anything, since nothing signs it.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use licet_proto::ErrorBody;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct Transport {
    base: String,
    timeout: Duration,
    extra_root_pem: Option<Vec<u8>>,
    proxy: Option<String>,
    client: OnceLock<std::result::Result<reqwest::Client, String>>,
    runtime: OnceLock<std::result::Result<tokio::runtime::Runtime, String>>,
}

impl Transport {
    pub fn new(base: &str, timeout: Duration, extra_root_pem: Option<Vec<u8>>) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            timeout,
            extra_root_pem,
            proxy: None,
            client: OnceLock::new(),
            runtime: OnceLock::new(),
        }
    }

    /// Sends every request through `proxy` (none: whatever the environment says).
    pub fn with_proxy(mut self, proxy: Option<String>) -> Self {
        self.proxy = proxy;
        self
    }

    fn client(&self) -> Result<&reqwest::Client> {
        self.client
            .get_or_init(|| self.build_client())
            .as_ref()
            .map_err(|e| Error::Config(e.clone()))
    }

    fn build_client(&self) -> std::result::Result<reqwest::Client, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut extra = Vec::new();
        if let Some(pem) = &self.extra_root_pem {
            use rustls_pki_types::pem::PemObject;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                extra.push(cert.map_err(|e| format!("extra root certificate: {e}"))?);
            }
        }
        let verifier =
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
                .map_err(|e| format!("TLS trust store: {e}"))?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let builder = match &self.proxy {
            Some(url) => reqwest::Client::builder()
                .proxy(reqwest::Proxy::all(url.as_str()).map_err(|e| format!("proxy {url}: {e}"))?),
            // The usual environment variables (HTTPS_PROXY, NO_PROXY, …) apply.
            None => reqwest::Client::builder(),
        };
        builder
            .tls_backend_preconfigured(tls)
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .user_agent(concat!("licet-sdk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))
    }

    /// Why the server could not be reached, with its host and the innermost cause (reqwest's
    /// own message is only "error sending request"): TLS failures apart from the rest.
    fn unreachable(&self, e: reqwest::Error) -> Error {
        let host = e
            .url()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_owned(),
                })
            })
            .unwrap_or_else(|| self.base.clone());
        if e.is_timeout() {
            return Error::Network(format!(
                "{host} did not answer within {} s (timed out)",
                self.timeout.as_secs_f32()
            ));
        }
        let mut tls = false;
        let mut cause = None;
        let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
        while let Some(s) = source {
            let io_inner = s
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref());
            tls |= s.downcast_ref::<rustls::Error>().is_some()
                || io_inner.is_some_and(|i| i.downcast_ref::<rustls::Error>().is_some());
            cause = Some(s.to_string());
            source = s.source();
        }
        let connect = e.is_connect();
        let cause = cause.unwrap_or_else(|| e.without_url().to_string());
        // The connector may box the TLS error where a downcast cannot see it; rustls's own
        // messages say what it was.
        let lower = cause.to_ascii_lowercase();
        tls |= TLS_WORDS.iter().any(|w| lower.contains(w));
        if tls {
            Error::Tls(format!("TLS with {host} failed: {cause}"))
        } else if connect {
            Error::Network(format!("cannot connect to {host}: {cause}"))
        } else {
            Error::Network(format!("{host}: {cause}"))
        }
    }

    /// POSTs JSON to `path` and decodes a 2xx answer, or maps the error body to an [`Error`].
    pub async fn post<Req, Resp>(&self, path: &str, body: &Req) -> Result<Resp>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let url = format!("{}{path}", self.base);
        let res = self
            .client()?
            .post(&url)
            .json(body)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = res.status();
        let retry_after = retry_after(&res);
        let bytes = res.bytes().await.map_err(|e| self.unreachable(e))?;
        if status.is_success() {
            return decode_body(&bytes);
        }
        Err(error_of(status, retry_after, &bytes))
    }

    /// The URL of `path` on the server.
    pub fn url(&self, path: &str) -> Result<reqwest::Url> {
        reqwest::Url::parse(&format!("{}{path}", self.base))
            .map_err(|e| Error::Config(format!("server URL {}: {e}", self.base)))
    }

    /// GETs `url` with `headers` (sent as sensitive: never logged); `None` for `204`, the
    /// decoded body for another 2xx, else the error the body names.
    pub async fn get<Resp>(
        &self,
        url: reqwest::Url,
        headers: &[(&'static str, &str)],
    ) -> Result<Option<Resp>>
    where
        Resp: DeserializeOwned,
    {
        let mut req = self.client()?.get(url);
        for (name, value) in headers {
            let mut value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| Error::Config(format!("{name} is not a valid header value")))?;
            value.set_sensitive(true);
            req = req.header(*name, value);
        }
        let res = req.send().await.map_err(|e| self.unreachable(e))?;
        let status = res.status();
        let retry_after = retry_after(&res);
        let bytes = res.bytes().await.map_err(|e| self.unreachable(e))?;
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        if status.is_success() {
            return decode_body(&bytes).map(Some);
        }
        Err(error_of(status, retry_after, &bytes))
    }

    /// Starts downloading `url` from byte `from` (a `Range` request unless 0): the answer
    /// once its headers are in, whatever its status. The headers must come within the
    /// client's timeout; the body may take as long as it needs, as long as each read
    /// ([`Transport::next_chunk`]) brings bytes within the timeout.
    pub async fn download(&self, url: &str, from: u64) -> Result<reqwest::Response> {
        let mut req = self.client()?.get(url).timeout(DOWNLOAD_TIMEOUT);
        if from > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        match tokio::time::timeout(self.timeout, req.send()).await {
            Ok(sent) => sent.map_err(|e| self.unreachable(e)),
            Err(_) => Err(self.timed_out(url)),
        }
    }

    /// Reads the next chunk of a download: `None` at its end.
    pub async fn next_chunk(&self, res: &mut reqwest::Response) -> Result<Option<Bytes>> {
        match tokio::time::timeout(self.timeout, res.chunk()).await {
            Ok(chunk) => chunk.map_err(|e| self.unreachable(e)),
            Err(_) => Err(self.timed_out(res.url().as_str())),
        }
    }

    /// The error of a download answer that is not its bytes.
    pub async fn error_of(&self, res: reqwest::Response) -> Error {
        let status = res.status();
        let retry_after = retry_after(&res);
        match res.bytes().await {
            Ok(bytes) => error_of(status, retry_after, &bytes),
            Err(e) => self.unreachable(e),
        }
    }

    fn timed_out(&self, url: &str) -> Error {
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| self.base.clone());
        Error::Network(format!(
            "{host} sent nothing for {} s (timed out)",
            self.timeout.as_secs_f32()
        ))
    }

    /// Runs a future to completion from synchronous code, on a private runtime (created on
    /// first use). Inside an async runtime it runs on a scoped helper thread instead, since a
    /// runtime cannot block inside another.
    pub fn block_on<F>(&self, fut: F) -> Result<F::Output>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let rt = self
            .runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("licet-sdk")
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| Error::Config(format!("cannot start the SDK's runtime: {e}")))?;
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| rt.block_on(fut))
                    .join()
                    .map_err(|_| Error::Config("the SDK's worker thread panicked".into()))
            })
        } else {
            Ok(rt.block_on(fut))
        }
    }
}

/// The longest a download may take in all (each read has the client's timeout).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The `Retry-After` seconds of an answer, if any.
fn retry_after(res: &reqwest::Response) -> Option<u64> {
    res.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A 2xx body as `Resp`.
fn decode_body<Resp: DeserializeOwned>(bytes: &[u8]) -> Result<Resp> {
    serde_json::from_slice(bytes).map_err(|e| Error::Server {
        code: licet_proto::ErrorCode::Internal,
        message: format!("unexpected answer: {e}"),
    })
}

/// The error a non-2xx answer's Licet error body names.
fn error_of(status: reqwest::StatusCode, retry_after: Option<u64>, bytes: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(err) => Error::from_server(err.error.code, err.error.message, retry_after),
        Err(_) => Error::Server {
            code: licet_proto::ErrorCode::Internal,
            message: format!("HTTP {status} without a Licet error body"),
        },
    }
}

/// Words in the messages of failed TLS handshakes (rustls's `Error` texts).
const TLS_WORDS: [&str; 6] = [
    "certificate",
    "handshake",
    "received fatal alert",
    "corrupt message",
    "peer is incompatible",
    "peer misbehaved",
];
