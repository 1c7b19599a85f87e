//! Per-address bounds on berth's HTTP port, from clients at several addresses of this machine
//! (127.0.0.1, 127.0.0.2, …): none of them can be used against another learner.

mod common;

use std::time::Duration;

use common::{WAIT, start_docker_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_starts_are_limited_per_address_and_only_a_trusted_proxy_names_the_address() {
    let server = start_docker_with(|config| {
        config.sandboxes_per_address = 1;
        config.client_ip_header = Some("x-forwarded-for".parse().unwrap());
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let mut learners = Vec::new();
    for _ in 0..5 {
        learners.push(server.new_learner().await);
    }
    let via_proxy = |client: &'static str| [("x-forwarded-for", client)];

    // Behind the proxy, 203.0.113.1 starts one learner's sandbox; its next learner is told.
    let mut first = server
        .terminal_from(
            "127.0.0.1",
            &learners[0],
            "?lesson=en/01-first-container",
            &via_proxy("203.0.113.1"),
        )
        .await;
    first.expect_control("ready").await;
    let mut second = server
        .terminal_from(
            "127.0.0.1",
            &learners[1],
            "?lesson=ko/01-first-container",
            &via_proxy("203.0.113.1"),
        )
        .await;
    let error = second.expect_control("error").await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("60분 뒤에 다시 시도하세요"), "{message}");
    assert_eq!(second.close_code().await, Some(1013));
    // Another client behind the same proxy has a count of its own.
    let mut third = server
        .terminal_from("127.0.0.1", &learners[2], "", &via_proxy("203.0.113.2"))
        .await;
    third.expect_control("ready").await;

    // A client that is not the trusted proxy cannot choose its address with the header.
    let mut fourth = server
        .terminal_from("127.0.0.2", &learners[3], "", &via_proxy("203.0.113.3"))
        .await;
    fourth.expect_control("ready").await;
    let mut fifth = server
        .terminal_from("127.0.0.2", &learners[4], "", &via_proxy("203.0.113.4"))
        .await;
    let error = fifth.expect_control("error").await;
    assert!(
        error["message"].as_str().unwrap().contains("Try again in"),
        "{error}"
    );
    assert_eq!(fifth.close_code().await, Some(1013));

    // A learner whose sandbox runs is never refused: a second tab opens.
    let mut again = server
        .terminal_from(
            "127.0.0.1",
            &learners[0],
            "?tab=1",
            &via_proxy("203.0.113.1"),
        )
        .await;
    again.expect_control("ready").await;
    assert_eq!(server.state().sandboxes.stats().alive, 3);
    let metrics = server
        .client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("berth_sandbox_starts_limited_total 2")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_requests_from_one_address_stop_no_one_else() {
    let header_timeout = Duration::from_secs(5);
    let server = start_docker_with(|config| config.header_timeout = header_timeout).await;
    let per_address = server.state().config.connections_per_address;
    let cookie = server.new_learner().await;
    let mut term = server.terminal_from("127.0.0.2", &cookie, "", &[]).await;
    term.expect_control("ready").await;
    term.read_until("$ ").await;

    // 1,100 requests from 127.0.0.1 that never finish their headers.
    let mut flood = Vec::new();
    for _ in 0..1100 {
        let mut stream = server.connect_from("127.0.0.1").await;
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: berth\r\nX-Slow: ")
            .await
            .unwrap();
        flood.push(stream);
    }

    // Meanwhile the learner at 127.0.0.2 types on, and 127.0.0.3 is served.
    assert_eq!(term.run("echo still typing").await, "still typing");
    let other = server.client_from("127.0.0.3");
    let health = tokio::time::timeout(WAIT, other.get(server.url("/healthz")).send())
        .await
        .expect("healthz answers during the flood")
        .unwrap();
    assert_eq!(health.status(), 200);
    let newcomer = server.new_learner_via(&other).await;
    let mut fresh = server.terminal_from("127.0.0.3", &newcomer, "", &[]).await;
    fresh.expect_control("ready").await;

    // The flood: its address's share held until the header timeout, the rest refused at once
    // with a 429 that says when to come back.
    let answers = futures_util::future::join_all(flood.into_iter().map(|mut stream| async move {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            header_timeout + Duration::from_secs(5),
            stream.read_to_end(&mut answer),
        )
        .await;
        assert!(
            read.is_ok(),
            "berth kept an unfinished request past the header timeout"
        );
        String::from_utf8_lossy(&answer).into_owned()
    }))
    .await;
    let refused = answers
        .iter()
        .filter(|answer| answer.starts_with("HTTP/1.1 429") && answer.contains("Retry-After: 5"))
        .count();
    assert!(
        refused >= 1100 - per_address,
        "{refused} refused with 429 of {} over the cap",
        1100 - per_address
    );
    // And its address is served again once they are gone.
    let health = server
        .client()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(term.run("echo after").await, "after");
    server.stop().await;
}
