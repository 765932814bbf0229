//! Why the server could not be reached: the host and the cause, and TLS failures apart from
//! being offline (an app retries the one and asks for a fix of the other).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::*;

/// A well-shaped key, so the request is really sent.
const KEY: &str = "PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB";

fn activate_at(h: &Harness, url: &str) -> licet::Error {
    let dir = tempfile::tempdir().expect("dir");
    let client = h
        .builder_at(url, dir.path(), "v1:m", &clock())
        .build()
        .expect("client");
    client.activate(KEY).expect_err("unreachable")
}

#[test]
fn a_refused_connection_names_the_host_and_the_cause() {
    let h = Harness::start(1);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    // The listener is gone: nothing accepts on that port now.
    let e = activate_at(&h, &format!("http://127.0.0.1:{port}"));
    let licet::Error::Network(detail) = &e else {
        panic!("expected a network error, got {e:?}");
    };
    assert_eq!(e.code(), "NETWORK");
    assert!(detail.contains(&format!("127.0.0.1:{port}")), "{detail}");
    assert!(detail.to_lowercase().contains("refused"), "{detail}");
    assert!(!detail.contains("error sending request"), "{detail}");
}

#[test]
fn an_unknown_host_names_the_host_and_the_lookup() {
    let h = Harness::start(1);
    let e = activate_at(&h, "http://licet-test.invalid");
    let licet::Error::Network(detail) = &e else {
        panic!("expected a network error, got {e:?}");
    };
    assert!(detail.contains("licet-test.invalid"), "{detail}");
    let lower = detail.to_lowercase();
    assert!(
        ["dns", "lookup", "resolve", "name"]
            .iter()
            .any(|w| lower.contains(w)),
        "{detail}"
    );
}

#[test]
fn a_self_signed_server_is_a_tls_error_not_a_network_one() {
    let h = Harness::start(1);
    let certs = vec![
        CertificateDer::from_pem_slice(include_bytes!("fixtures/self-signed-cert.pem"))
            .expect("cert"),
    ];
    let key =
        PrivateKeyDer::from_pem_slice(include_bytes!("fixtures/self-signed-key.pem")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // The client refuses the certificate: the handshake fails on this side too.
            let _ = acceptor.accept(stream).await;
        }
    });

    let e = activate_at(&h, &format!("https://127.0.0.1:{port}"));
    let licet::Error::Tls(detail) = &e else {
        panic!("expected a TLS error, got {e:?}");
    };
    assert_eq!(e.code(), "TLS");
    assert!(!e.is_verdict());
    assert!(detail.contains(&format!("127.0.0.1:{port}")), "{detail}");
    assert!(detail.to_lowercase().contains("certificate"), "{detail}");
}
