//! The Starling client's mobile features against real servers: XEP-0198
//! stream management with resumption after a cut connection, XEP-0280
//! carbons, XEP-0352 client state indication and XEP-0191 blocking, against
//! Prosody and ejabberd started with those modules
//! ([`Peer::start_mobile`]). The scenarios are in `mobile/` and take only
//! logins, so that they run against any server.
//!
//! A server that is not installed makes its test print why and pass,
//! unless `CI=true`, where it is a failure.
//!
//! ```sh
//! cargo test -p starling-testkit --test client_mobile_peers -- --nocapture
//! ```

mod common;
mod mobile;

use std::future::Future;

use starling_testkit::peers::{Kind, Peer};

#[test]
fn prosody() {
    run(Kind::Prosody);
}

#[test]
fn ejabberd() {
    run(Kind::Ejabberd);
}

/// Starts the server with the mobile modules and runs every scenario.
fn run(kind: Kind) {
    // The peer is started (and dropped) on this thread: see `peers`.
    let Some(peer) = Peer::start_mobile(kind).unwrap_or_else(|e| panic!("{e}")) else {
        return; // not installed and not in CI: the reason was printed
    };
    peer.register_test_users().unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let mut failures = Vec::new();
    let mut check = |name: &str,
                     fut: &mut dyn FnMut() -> std::pin::Pin<
        Box<dyn Future<Output = mobile::Outcome>>,
    >| {
        let outcome = runtime.block_on(fut());
        match &outcome {
            Ok(()) => eprintln!("{}: {name}: ok", peer.name),
            Err(e) => {
                eprintln!("{}: {name}: FAILED: {e}", peer.name);
                failures.push(format!("{name}: {e}"));
            }
        }
    };
    let p = &peer;
    check("XEP-0198 resumption after a cut", &mut || {
        Box::pin(mobile::sm_resumption(
            p.login("alice", "phone"),
            p.login("bob", "desk"),
        ))
    });
    check("XEP-0198 failed resumption", &mut || {
        Box::pin(mobile::sm_resume_failed(
            p.login("alice", "tablet"),
            p.login("bob", "desk2"),
        ))
    });
    check("XEP-0280 carbons", &mut || {
        Box::pin(mobile::carbons(
            p.login("carol", "phone"),
            p.login("carol", "desktop"),
            p.login("bob", "laptop"),
        ))
    });
    check("XEP-0352 CSI", &mut || {
        Box::pin(mobile::csi(p.login("alice", "csi")))
    });
    check("XEP-0191 blocklist", &mut || {
        Box::pin(mobile::blocklist(
            p.login("alice", "one"),
            p.login("alice", "two"),
        ))
    });
    if !failures.is_empty() {
        panic!(
            "{}: {} scenario(s) failed:\n{}\n--- logs ---\n{}",
            peer.name,
            failures.len(),
            failures.join("\n"),
            peer.log_tail()
        );
    }
}
