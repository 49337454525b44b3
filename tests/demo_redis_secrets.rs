//! The demo never prints the password of its `--redis` URL: not when Redis
//! cannot be reached, not when the URL is malformed, not in its logs. It
//! names the host and port instead.

use rivulet_testkit::{PATIENCE, binary_command, free_port};

const SECRET: &str = "s3cret-hunter2";

/// Runs the demo with `--redis url` (and debug logs) until it gives up.
async fn demo_with_redis(url: &str) -> (Option<i32>, String) {
    let mut command = binary_command(&["demo", "--addr", "127.0.0.1:0", "--redis", url]);
    command.env("RUST_LOG", "debug");
    let output = tokio::time::timeout(PATIENCE, command.output())
        .await
        .expect("the demo gives up on an unreachable Redis")
        .expect("the demo runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_unreachable_redis_is_named_by_host_and_port_without_the_password() {
    // A free port: nothing listens there.
    let port = free_port();
    let (code, stderr) =
        demo_with_redis(&format!("redis://admin:{SECRET}@127.0.0.1:{port}/0")).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains(SECRET), "the password leaked: {stderr}");
    assert!(
        stderr.contains(&format!("redis://127.0.0.1:{port}")),
        "the demo names where Redis was looked for: {stderr}"
    );
}

#[tokio::test]
async fn a_malformed_redis_url_is_refused_without_quoting_the_password() {
    for url in [
        format!("http://:{SECRET}@127.0.0.1:6379"),
        format!("redis://:{SECRET}@127.0.0.1:port"),
        format!("redis://:{SECRET}@a:1,b:2"),
        format!("redis+sentinel://:{SECRET}@a:1,b:2"),
    ] {
        let (code, stderr) = demo_with_redis(&url).await;
        assert_eq!(code, Some(2), "{stderr}");
        assert!(!stderr.contains(SECRET), "the password leaked: {stderr}");
        assert!(stderr.contains("--redis"), "{stderr}");
    }
}

#[tokio::test]
async fn unreachable_sentinels_are_named_by_host_and_port_without_the_password() {
    let (a, b) = (free_port(), free_port());
    let (code, stderr) = demo_with_redis(&format!(
        "redis+sentinel://admin:{SECRET}@127.0.0.1:{a},127.0.0.1:{b}/cache"
    ))
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains(SECRET), "the password leaked: {stderr}");
    assert!(
        stderr.contains(&format!(
            "redis+sentinel://127.0.0.1:{a},127.0.0.1:{b}/cache"
        )),
        "the demo names the sentinels it asked: {stderr}"
    );
}
