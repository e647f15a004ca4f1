//! HTTPS on the real binary: the listener serves the configured certificate, and after the
//! files change a SIGHUP makes it serve the new one without a restart (a broken pair is
//! refused and the old certificate kept).

use std::path::Path;
use std::time::Duration;

use orchestra_tests::binary::ServerProcess;

fn openssl(args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is needed for this test (apt-get install openssl)");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA (its PEM is what clients trust) and a server certificate for localhost it signed:
/// returns (ca, cert, key) paths.
pub(crate) fn make_cert(dir: &Path, name: &str) -> (String, String, String) {
    let p = |ext: &str| dir.join(format!("{name}.{ext}")).display().to_string();
    let (ca, ca_key, cert, key, csr, ext) =
        (p("ca"), p("ca-key"), p("crt"), p("key"), p("csr"), p("ext"));
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    let ca_subject = format!("/CN={name} test CA");
    args.extend([
        "-days",
        "1",
        "-subj",
        &ca_subject,
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    openssl(&args);
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend(["-subj", "/CN=localhost", "-keyout", &key, "-out", &csr]);
    openssl(&args);
    std::fs::write(
        &ext,
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ]);
    (ca, cert, key)
}

/// The DER certificate the server presented, over a client that trusts `ca_pem`.
async fn served_cert(port: u16, ca_pem: &[u8]) -> Vec<u8> {
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap())
        .tls_info(true)
        .build()
        .unwrap();
    let res = client
        .get(format!("https://localhost:{port}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate().map(<[u8]>::to_vec))
        .expect("the peer certificate")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_and_the_certificate_is_reloaded_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (first_ca, first_cert, first_key) = make_cert(dir.path(), "first");
    let (second_ca, second_cert, second_key) = make_cert(dir.path(), "second");
    let live_cert = dir.path().join("live.crt");
    let live_key = dir.path().join("live.key");
    std::fs::copy(&first_cert, &live_cert).unwrap();
    std::fs::copy(&first_key, &live_key).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = ServerProcess::start_tls(
        dir.path(),
        port,
        &[
            ("ORCHESTRA__SERVER__PORT", &port.to_string()),
            (
                "ORCHESTRA__SERVER__TLS_CERT_FILE",
                &live_cert.display().to_string(),
            ),
            (
                "ORCHESTRA__SERVER__TLS_KEY_FILE",
                &live_key.display().to_string(),
            ),
        ],
    )
    .await;
    let first_pem = std::fs::read(&first_ca).unwrap();
    let second_pem = std::fs::read(&second_ca).unwrap();
    let before = served_cert(port, &first_pem).await;

    // A broken pair (the second certificate with the first key) is refused on SIGHUP.
    std::fs::copy(&second_cert, &live_cert).unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(server.child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server.log_text().contains("TLS certificate not reloaded") {
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal logged: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        served_cert(port, &first_pem).await,
        before,
        "the old certificate stays"
    );

    // The right pair is taken.
    std::fs::copy(&second_key, &live_key).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server.log_text().contains("TLS certificate reloaded") {
        assert!(
            std::time::Instant::now() < deadline,
            "no reload logged: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = served_cert(port, &second_pem).await;
    assert_ne!(after, before, "the new certificate is served");
    server.terminate().await;
}
