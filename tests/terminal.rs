//! The terminal socket against a real workstation container: what a browser sees.

mod common;

use common::{plain, refused_status, start_docker};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn typed_command_runs_in_the_learners_container() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut term = server.terminal(&cookie, "?tab=0&cols=200&rows=50").await;
    let ready = term.expect_control("ready").await;
    assert_eq!(ready["backend"], "docker");
    assert!(ready["expires_in"].as_u64().unwrap() > 3600);
    let prompt = plain(&term.read_until("$ ").await);
    assert!(
        prompt.ends_with("learner@berth:~$ "),
        "prompt was {prompt:?}"
    );
    assert_eq!(term.run("echo hello from berth").await, "hello from berth");
    assert_eq!(term.run("whoami").await, "learner");
    server.stop().await;
}

#[tokio::test]
async fn resize_reaches_the_shell() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "?cols=100&rows=30").await;
    assert_eq!(term.run("stty size").await, "30 100");
    term.send_control(r#"{"type":"resize","cols":132,"rows":43}"#)
        .await;
    assert_eq!(term.run("stty size").await, "43 132");
    server.stop().await;
}

#[tokio::test]
async fn korean_text_round_trips_intact() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "?cols=200&rows=50").await;
    let text = "안녕하세요 도커 컨테이너 🐳";
    assert_eq!(term.run(&format!("echo '{text}'")).await, text);
    // Many Korean characters in one burst: every binary frame must be whole UTF-8 on its own.
    term.send("printf '한글%.0s' $(seq 1 3000); echo; echo KO-DONE\r")
        .await;
    let mut frames = 0;
    let mut seen = String::new();
    while !seen.contains("\nKO-DONE") {
        if let Message::Binary(bytes) = term.ws_frame().await {
            frames += 1;
            let text = std::str::from_utf8(&bytes)
                .unwrap_or_else(|_| panic!("frame {frames} splits a character"));
            seen.push_str(text);
        }
    }
    assert!(seen.contains(&"한글".repeat(3000)));
    server.stop().await;
}

#[tokio::test]
async fn reconnecting_replays_recent_output_of_the_same_shell() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "?cols=200&rows=50").await;
    term.run("export REMEMBER_ME=42; echo before-reload").await;
    let pid = term.run("echo $$").await;
    term.close().await;

    let mut again = server.terminal(&cookie, "?cols=200&rows=50").await;
    again.expect_control("ready").await;
    let replay = again.read_until("before-reload").await;
    assert!(replay.contains("before-reload"));
    assert_eq!(again.run("echo $REMEMBER_ME $$").await, format!("42 {pid}"));
    server.stop().await;
}

#[tokio::test]
async fn two_tabs_are_two_shells_in_one_workstation() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut first = server.shell(&cookie, "?tab=0&cols=200&rows=50").await;
    let mut second = server.shell(&cookie, "?tab=1&cols=200&rows=50").await;
    let first_pid = first.run("echo $$").await;
    let second_pid = second.run("echo $$").await;
    assert_ne!(first_pid, second_pid);
    first.run("echo shared > /tmp/between-tabs").await;
    assert_eq!(second.run("cat /tmp/between-tabs").await, "shared");
    assert_eq!(first.run("hostname").await, second.run("hostname").await);
    server.stop().await;
}

#[tokio::test]
async fn closing_a_tab_ends_its_shell_and_what_it_started() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut first = server.shell(&cookie, "?tab=0&cols=200&rows=50").await;
    let mut second = server.shell(&cookie, "?tab=1&cols=200&rows=50").await;
    let pid = second.run("echo $$").await;
    // Started in the background and left behind by its parent, as a learner's server would be.
    let job = second
        .run("sh -c 'sleep 600 > /dev/null 2>&1 & echo $!'")
        .await;
    second.send_control(r#"{"type":"close"}"#).await;
    let alive = |pid: &str| format!("kill -0 {pid} 2>/dev/null && echo alive || echo gone");
    let mut gone = String::new();
    for _ in 0..50 {
        gone = first
            .run(&format!("{}; {}", alive(&pid), alive(&job)))
            .await;
        if gone.lines().map(str::trim).eq(["gone", "gone"]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        gone.lines().map(str::trim).collect::<Vec<_>>(),
        ["gone", "gone"]
    );
    // The first tab is untouched, and tab 1 opens again with a fresh shell.
    assert_eq!(first.run("echo still here").await, "still here");
    let mut again = server.shell(&cookie, "?tab=1&cols=200&rows=50").await;
    assert_ne!(again.run("echo $$").await, pid);
    server.stop().await;
}

#[tokio::test]
async fn no_cookie_is_401_and_a_foreign_origin_is_403() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let url = server.ws_url("?tab=0");
    assert_eq!(refused_status(&url, &[("origin", &server.base)]).await, 401);
    assert_eq!(
        refused_status(
            &url,
            &[("cookie", &cookie), ("origin", "http://evil.example")]
        )
        .await,
        403
    );
    assert_eq!(
        refused_status(
            &url,
            &[("cookie", "berth_session=forged"), ("origin", &server.base)]
        )
        .await,
        401
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_control_messages_get_an_error_and_the_socket_stays() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "?cols=200&rows=50").await;
    for bad in [
        "{not json",
        r#"{"type":"explode"}"#,
        r#"{"type":"resize","cols":"wide","rows":2}"#,
        r#"{"type":"resize","cols":0,"rows":0}"#,
    ] {
        term.send_control(bad).await;
        let error = term.expect_control("error").await;
        assert!(!error["message"].as_str().unwrap().is_empty(), "{bad}");
    }
    term.send_control(&format!(
        r#"{{"type":"resize","cols":80,"rows":24,"pad":"{}"}}"#,
        "x".repeat(5000)
    ))
    .await;
    let error = term.expect_control("error").await;
    assert!(error["message"].as_str().unwrap().contains("too large"));
    assert_eq!(term.run("echo still here").await, "still here");
    server.stop().await;
}

#[tokio::test]
async fn a_bad_tab_number_is_explained() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    for query in ["?tab=99", "?tab=two"] {
        let mut term = server.terminal(&cookie, query).await;
        let error = term.expect_control("error").await;
        assert!(
            error["message"].as_str().unwrap().contains("tab must be"),
            "{query}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn exit_ends_the_tab_and_the_next_socket_gets_a_fresh_shell() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "?cols=200&rows=50").await;
    let pid = term.run("echo $$").await;
    term.send("exit 3\r").await;
    let exit = term.expect_control("exit").await;
    assert_eq!(exit["code"], 3);
    let mut fresh = server.shell(&cookie, "?cols=200&rows=50").await;
    assert_ne!(fresh.run("echo $$").await, pid);
    server.stop().await;
}

#[tokio::test]
async fn output_that_looks_like_a_stream_header_does_not_stall_the_terminal() {
    // Docker's multiplexed streams start frames with [0|1|2, 0, 0, 0, len32]. With a TTY the
    // stream is raw, so a learner printing such bytes must see them pass, not a hung terminal.
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "?cols=200&rows=50").await;
    term.send("printf '\\001\\000\\000\\000\\177\\377\\377\\377'; echo; echo after-header\r")
        .await;
    term.read_until("\nafter-header").await;
    assert_eq!(term.run("echo still responsive").await, "still responsive");
    server.stop().await;
}

#[tokio::test]
async fn opening_a_tab_in_a_second_window_takes_it_over_and_says_so() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut first = server.shell(&cookie, "?cols=200&rows=50").await;
    first.run("echo first-window").await;
    let mut second = server.terminal(&cookie, "?cols=200&rows=50").await;
    second.expect_control("ready").await;
    let error = first.expect_control("error").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("another window")
    );
    // The first window is closed with a code that tells the page not to take the shell back.
    let close = loop {
        match first.next_frame().await {
            Some(Message::Close(frame)) => break frame,
            Some(_) => continue,
            None => panic!("closed without a close frame"),
        }
    };
    assert_eq!(u16::from(close.unwrap().code), 4000);
    assert_eq!(second.run("echo second-window").await, "second-window");
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_message_closes_the_socket_but_not_the_shell() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "?cols=200&rows=50").await;
    let pid = term.run("echo $$").await;
    use futures_util::SinkExt;
    let _ = term
        .ws
        .send(Message::Binary(vec![b'x'; 2 * 1024 * 1024].into()))
        .await;
    // The browser hears why before the connection drops.
    while term.next_frame().await.is_some() {}
    let error = term.expect_control("error").await;
    assert!(
        error["message"].as_str().unwrap().contains("too long"),
        "{error}"
    );
    let mut again = server.shell(&cookie, "?cols=200&rows=50").await;
    assert_eq!(again.run("echo $$").await, pid);
    server.stop().await;
}
