//! The Starling client's mobile features against the real `starling`
//! binary: the same scenarios (`mobile/`) as `client_mobile_peers` runs
//! against Prosody and ejabberd — XEP-0198 resumption after a cut
//! connection and a failed resumption, XEP-0280 carbons, XEP-0352 client
//! state indication, XEP-0191 blocking.
//!
//! ```sh
//! cargo test -p starling-testkit --test client_mobile
//! ```

mod common;
mod mobile;

use starling_testkit::server::{Login, Server};

fn server() -> Server {
    let s = Server::start();
    s.add_users(&["alice", "bob", "carol"]);
    s
}

fn login(s: &Server, user: &str, resource: &str) -> Login {
    s.login(
        &format!("{user}@{}/{resource}", s.domain),
        &format!("pw-{user}"),
    )
}

/// Runs a scenario; a failure shows the server's log.
fn check(s: &Server, outcome: mobile::Outcome) {
    if let Err(e) = outcome {
        panic!("{e}\n{}", s.log_now());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sm_resumption_after_a_cut() {
    let s = server();
    let outcome =
        mobile::sm_resumption(login(&s, "alice", "phone"), login(&s, "bob", "desk")).await;
    check(&s, outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sm_failed_resumption() {
    let s = server();
    let outcome =
        mobile::sm_resume_failed(login(&s, "alice", "tablet"), login(&s, "bob", "desk")).await;
    check(&s, outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carbons() {
    let s = server();
    let outcome = mobile::carbons(
        login(&s, "carol", "phone"),
        login(&s, "carol", "desktop"),
        login(&s, "bob", "laptop"),
    )
    .await;
    check(&s, outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csi() {
    let s = server();
    let outcome = mobile::csi(login(&s, "alice", "csi")).await;
    check(&s, outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocklist() {
    let s = server();
    let outcome = mobile::blocklist(login(&s, "alice", "one"), login(&s, "alice", "two")).await;
    check(&s, outcome);
}
