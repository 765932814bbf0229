//! The C API over the network: a vendor root CA for TLS, TLS failures as their own code,
//! a proxy, the machine name sent.

use crate::support::*;

/// Serves `upstream` (plain HTTP) over TLS with the test CA's server certificate
/// (`tests/fixtures`: a CA, and a certificate for 127.0.0.1 it signed); returns the port.
fn tls_front(rt: &tokio::runtime::Runtime, upstream: String) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![
        CertificateDer::from_pem_slice(include_bytes!("../fixtures/server.pem")).expect("cert"),
    ];
    let key =
        PrivateKeyDer::from_pem_slice(include_bytes!("../fixtures/server-key.pem")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    port
}

#[test]
fn the_c_api_trusts_a_vendor_root_ca_and_reports_tls_failures_as_such() {
    let env = Env::start(2, |_| {});
    let key = env.license();
    let port = tls_front(
        &env.rt,
        env.server.url.trim_start_matches("http://").to_owned(),
    );
    let url = format!("https://127.0.0.1:{port}");
    // Without the vendor's CA the certificate is not trusted: a TLS failure, not "offline".
    let (code, out) = env.run_with("licet-demo-shared", "t1", &["activate", &key], &url, None);
    assert_eq!(code, TLS, "{out}");
    assert!(
        out.contains(&format!("127.0.0.1:{port}")),
        "names the host: {out}"
    );
    // With it (licet_config_set_root_ca_pem), the same server is trusted.
    let ca = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ca.pem");
    let root = format!("LICET_ROOT_CA={}", ca.display());
    let wrapper = ["env", root.as_str()];
    let (code, out) = env.run_with(
        "licet-demo-shared",
        "t1",
        &["activate", &key],
        &url,
        Some(&wrapper),
    );
    assert_eq!(code, OK, "{out}");
}

#[test]
fn the_c_api_sends_through_a_proxy_and_names_the_machine() {
    let env = Env::start(2, |_| {});
    let key = env.license();
    // A relay that counts connections and pipes them to the server: a plain-HTTP proxy
    // receives absolute-form requests, which the server accepts as they are.
    let upstream = env.server.url.trim_start_matches("http://").to_owned();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let relayed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = relayed.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_read, mut s_write) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || std::io::copy(&mut c_read, &mut s_write));
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || std::io::copy(&mut s_read, &mut c_write));
        }
    });
    let proxy = format!("LICET_PROXY=http://127.0.0.1:{port}");
    let wrapper = ["env", proxy.as_str(), "LICET_MACHINE_NAME=Ada's laptop"];
    let (code, out) = env.run_with(
        "licet-demo-shared",
        "p1",
        &["activate", &key],
        &env.server.url,
        Some(&wrapper),
    );
    assert_eq!(code, OK, "{out}");
    assert!(
        relayed.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the request went through the proxy"
    );
    let (code, out) = env.run_with(
        "licet-demo-shared",
        "p1",
        &["whoami"],
        &env.server.url,
        Some(&wrapper),
    );
    assert_eq!(code, OK, "{out}");
    assert!(out.contains("machine: Ada's laptop"), "{out}");
    assert!(
        out.contains(&format!("platform: {}-", std::env::consts::OS)),
        "{out}"
    );
    let seat = env
        .rt
        .block_on(
            env.server
                .store()
                .license_with_activation_now(&key, "v1:p1"),
        )
        .expect("read")
        .expect("the license");
    assert_eq!(seat.act_name.as_deref(), Some("Ada's laptop"));
}
