//! `rivulet watch` against `rivulet demo --tls-self-signed`, the real binaries
//! on loopback: the certificate the demo wrote is trusted with `--ca-file`,
//! `--insecure` skips verification, and without either the refusal says what
//! failed and what to do, in words.

use rivulet_testkit::{Demo, finish, watch, watch_command};

/// A demo over TLS whose certificate is in the returned file.
async fn tls_demo() -> (Demo, tempfile_path::TempPem) {
    let pem = tempfile_path::TempPem::new();
    let demo = Demo::start(&["--tls-self-signed", "--tls-self-signed-out", pem.path()]).await;
    (demo, pem)
}

/// A file name in the system's temporary folder, removed when dropped.
mod tempfile_path {
    pub(crate) struct TempPem(std::path::PathBuf);

    impl TempPem {
        pub(crate) fn new() -> TempPem {
            let name = format!(
                "rivulet-watch-tls-{}-{:x}.pem",
                std::process::id(),
                rand_suffix()
            );
            TempPem(std::env::temp_dir().join(name))
        }

        pub(crate) fn path(&self) -> &str {
            self.0.to_str().expect("a UTF-8 temporary path")
        }
    }

    fn rand_suffix() -> u64 {
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(std::time::SystemTime::now())
    }

    impl Drop for TempPem {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[tokio::test]
async fn the_demo_certificate_is_trusted_with_ca_file() {
    let (demo, pem) = tls_demo().await;
    let written = std::fs::read_to_string(pem.path()).unwrap();
    assert!(
        written.starts_with("-----BEGIN CERTIFICATE-----"),
        "{written}"
    );
    let url = format!("https://{}/stream/process?items=3&interval_ms=1", demo.addr);
    // Logs at their most verbose must not reach watch's stderr.
    let child = watch_command(&["--json", "--ca-file", pem.path(), &url])
        .env("RUST_LOG", "trace")
        .spawn()
        .unwrap();
    let run = finish(child).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.objects().last().unwrap()["type"], "done", "{run:?}");
    assert_eq!(run.stderr, "", "nothing but watch's own messages on stderr");
}

#[tokio::test]
async fn insecure_skips_verification() {
    let (demo, _pem) = tls_demo().await;
    let url = format!("https://{}/stream/status", demo.addr);
    let run = watch(&["--insecure", &url]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_in_words() {
    let (demo, _pem) = tls_demo().await;
    let url = format!("https://{}/stream/status", demo.addr);
    let run = watch(&[&url]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("the TLS handshake with {} failed", demo.addr)),
        "{run:?}"
    );
    assert!(run.stderr.contains("--ca-file"), "{run:?}");
    assert!(!run.stderr.contains("error sending request"), "{run:?}");
}

#[tokio::test]
async fn a_ca_file_without_certificates_is_bad_input() {
    let pem = tempfile_path::TempPem::new();
    std::fs::write(pem.path(), "not a certificate").unwrap();
    let run = watch(&["--ca-file", pem.path(), "https://127.0.0.1:1/stream"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("holds no PEM certificate"), "{run:?}");
}
