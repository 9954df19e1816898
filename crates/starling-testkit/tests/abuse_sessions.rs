//! Sessions that do not keep up, against the real `starling` binary: a
//! client that stops reading is ended by the write deadline and what it
//! did not get is routed again (nothing lost), its senders are not held
//! up, and a remote server flooding a slowly reading user is slowed down
//! instead of getting the user disconnected.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{FedServerExt, ServerExt, body, send_marker, until_marker};
use starling_client::Client;
use starling_testkit::raw::{Got, Raw};
use starling_testkit::server::{FedServer, Options, Server};
use starling_testkit::stanzas::jid;
use starling_testkit::wait::{blocking, within};
use starling_xml::Element;

/// Messages of the floods, and the size of their bodies: 8 MB in all,
/// more than the kernel's socket buffers on loopback take (4 MiB of
/// send buffer at most, here), so that a client that does not read
/// really stops the server's writes.
const FLOOD: usize = 1000;
const PAD: usize = 8 * 1024;

fn flood_body(i: usize) -> String {
    format!("flood-{i:05}-{}", "x".repeat(PAD))
}

/// The sequence number of a flood message's body.
fn seq(body: &str) -> Option<usize> {
    body.strip_prefix("flood-")?.get(..5)?.parse().ok()
}

fn element_body(el: &Element) -> Option<String> {
    (el.name() == "message")
        .then(|| {
            el.children()
                .find(|c| c.name() == "body")
                .map(Element::text)
        })
        .flatten()
}

/// Every flood message a raw connection got before its end.
async fn read_all(raw: &mut Raw, per_read: Duration) -> Vec<usize> {
    let mut got = Vec::new();
    loop {
        match raw.next(per_read).await {
            Got::Element(el) => got.extend(element_body(&el).as_deref().and_then(seq)),
            Got::Eof | Got::Timeout | Got::Closed | Got::StreamError(_) | Got::Bad(_) => break,
            Got::Header | Got::Features(_) => {}
        }
    }
    got
}

/// The flood messages a client gets before the message `marker`, reading
/// all along (a client that does not read is a slow reader too).
async fn collect_until(c: &mut Client, marker: &str) -> Vec<usize> {
    let mut got = Vec::new();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(90), c.next_event())
            .await
            .unwrap_or_else(|_| panic!("{}: nothing for 90 s ({} so far)", c.jid(), got.len()))
            .unwrap_or_else(|| panic!("{}: the session ended", c.jid()));
        match body(&ev) {
            Some(b) if b == marker => return got,
            Some(b) => got.extend(seq(b)),
            None => {}
        }
    }
}

/// A raw session of `account` (password `pw-<user>`) with `resource`,
/// available (initial presence sent), that reads only when the test does.
async fn raw_available(port: u16, ca: &std::path::Path, account: &str, resource: &str) -> Raw {
    let user = account.split('@').next().unwrap_or(account);
    let mut raw = Raw::login(port, ca, account, &format!("pw-{user}"), Some(resource)).await;
    raw.send_str("<presence/>").await.expect("presence");
    raw
}

/// `a.fed.test` (with `extra_toml`) and `b.fed.test`, routed to each other
/// and started, with `local` on `a` and `remote` on `b`.
fn fed_pair(extra_toml: &str, local: &str, remote: &str) -> (FedServer, FedServer) {
    let mut a = FedServer::new("a.fed.test");
    let mut b = FedServer::new("b.fed.test");
    a.extra_toml = extra_toml.into();
    a.route_to(&b);
    b.route_to(&a);
    blocking(|| {
        a.start();
        b.start();
        a.add_user(local);
        b.add_user(remote);
    });
    (a, b)
}

/// How many times each sequence number was seen.
fn tally(parts: &[&[usize]]) -> BTreeMap<usize, usize> {
    let mut seen = BTreeMap::new();
    for part in parts {
        for &i in *part {
            *seen.entry(i).or_insert(0) += 1;
        }
    }
    seen
}

/// Waits until the server's log has a line with every one of `parts`.
async fn wait_log(server: &Server, parts: &[&str], what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let log = server.log_now();
        if log.lines().any(|l| parts.iter().all(|p| l.contains(p))) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: no log line with {parts:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `[limits] write_timeout`, `outbound_queue_bytes`: a client that logs
/// in, sends presence and never reads again is sent 8 MB. Its queue fills
/// (64 KiB), the sender waits for room at most the grace, then the reader
/// is closing and the rest goes to the account's other resource; its
/// socket writes stop making progress, and after the write timeout the
/// session ends and the stanzas it had not written are routed again. Every
/// message arrives (on the dead connection or at the other resource), the
/// sender and a bystander keep working throughout.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_is_ended_and_nothing_is_lost() {
    let server = Server::start_with(Options {
        extra_toml: "[limits]\noutbound_queue_bytes = 65536\nwrite_timeout = 3\n".into(),
        ..Options::default()
    });
    server.add_users(&["wedge", "alice", "bob"]);
    let mut wedge = raw_available(
        server.c2s_port,
        &server.cert_file("localhost"),
        "wedge@localhost",
        "w",
    )
    .await;
    let other = server
        .online("wedge@localhost", "pw-wedge", Some("other"), 0)
        .await;
    let other_jid = other.jid().clone();
    // The other resource reads all along, until the end marker.
    let reader = tokio::spawn(async move {
        let mut other = other;
        collect_until(&mut other, "flood-end").await
    });
    let alice = server
        .online("alice@localhost", "pw-alice", Some("a"), 0)
        .await;
    let mut bob = server.online("bob@localhost", "pw-bob", Some("b"), 0).await;
    let to = jid("wedge@localhost/w");
    let sender = tokio::spawn(async move {
        for i in 0..FLOOD {
            within(
                "a flood message",
                alice.send_message(to.clone(), &flood_body(i)),
            )
            .await
            .expect("sending");
        }
        alice
    });
    // A bystander is served while the flood goes on.
    for _ in 0..5 {
        within("bob's ping during the flood", bob.ping(None))
            .await
            .expect("bob is served");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let alice = within("the whole flood", sender)
        .await
        .expect("the sender task");
    // Processed in order: once this arrives, every message was routed.
    let done = send_marker(&alice, bob.jid()).await;
    until_marker(&mut bob, &done).await;
    wait_log(
        &server,
        &["wedge@localhost/w", "session ended"],
        "the wedged session",
    )
    .await;
    // What the dead connection had received before the server gave up,
    // and what went to the other resource.
    let on_socket = read_all(&mut wedge, Duration::from_secs(5)).await;
    within(
        "the end marker",
        alice.send_message(other_jid.into(), "flood-end"),
    )
    .await
    .expect("sending");
    let at_other = within("the other resource", reader).await.expect("reader");
    let seen = tally(&[&on_socket, &at_other]);
    let missing: Vec<usize> = (0..FLOOD).filter(|i| !seen.contains_key(i)).collect();
    assert!(
        missing.is_empty(),
        "lost {} of {FLOOD} (socket {}, other resource {}): first {:?}",
        missing.len(),
        on_socket.len(),
        at_other.len(),
        &missing[..missing.len().min(10)]
    );
    // At least once; twice only for the last write the server could not
    // finish (it may have reached the socket before the deadline).
    let twice = seen.values().filter(|&&n| n > 1).count();
    assert!(twice <= 16, "{twice} messages arrived twice");
    assert!(!on_socket.is_empty() && !at_other.is_empty());
    // (Not in order: those sent once the session was closing come
    // straight to the other resource, those it had queued when it ends.)
    within("a fresh ping", bob.ping(None))
        .await
        .expect("served");
}

/// A wedged session whose resource is taken over by a new login: the old
/// one is closing at once, and what it had not written (its queue, its
/// last unfinished write, what senders were holding for it) goes to the
/// new session.
#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_wedged_session_gives_its_stanzas_to_the_new_one() {
    let server = Server::start_with(Options {
        extra_toml: "[limits]\noutbound_queue_bytes = 65536\nwrite_timeout = 3\n".into(),
        ..Options::default()
    });
    server.add_users(&["wedge", "alice"]);
    let mut wedge = raw_available(
        server.c2s_port,
        &server.cert_file("localhost"),
        "wedge@localhost",
        "w",
    )
    .await;
    let alice = server
        .online("alice@localhost", "pw-alice", Some("a"), 0)
        .await;
    let to = jid("wedge@localhost/w");
    let sender = tokio::spawn(async move {
        for i in 0..FLOOD {
            within(
                "a flood message",
                alice.send_message(to.clone(), &flood_body(i)),
            )
            .await
            .expect("sending");
        }
        alice
    });
    // The same resource logs in again while the flood is stuck: it takes
    // the resource over (the default conflict rule), the old session is
    // closing, and what it had not written comes to the new one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fresh = server
        .online("wedge@localhost", "pw-wedge", Some("w"), 0)
        .await;
    let fresh_jid = fresh.jid().clone();
    let reader = tokio::spawn(async move {
        let mut fresh = fresh;
        collect_until(&mut fresh, "flood-end").await
    });
    let alice = within("the whole flood", sender).await.expect("sender");
    wait_log(
        &server,
        &["wedge@localhost/w", "session ended"],
        "the replaced session",
    )
    .await;
    let on_socket = read_all(&mut wedge, Duration::from_secs(5)).await;
    within(
        "the end marker",
        alice.send_message(fresh_jid.into(), "flood-end"),
    )
    .await
    .expect("sending");
    let at_fresh = within("the new session", reader).await.expect("reader");
    let seen = tally(&[&on_socket, &at_fresh]);
    let missing = (0..FLOOD).filter(|i| !seen.contains_key(i)).count();
    assert_eq!(
        missing,
        0,
        "lost messages (socket {}, new session {})",
        on_socket.len(),
        at_fresh.len()
    );
}

/// A remote server floods a local user who reads slowly: the incoming s2s
/// stream waits for room in the user's queue (it stops being read)
/// instead of getting the user disconnected; every message arrives, in
/// order.
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_flood_slows_the_stream_instead_of_evicting_the_user() {
    let (a, b) = fed_pair(
        "[limits]\noutbound_queue_bytes = 65536\n",
        "slow",
        "flooder",
    );
    let ca = a.login("slow").ca_file;
    let mut slow = raw_available(a.c2s_port, &ca, "slow@a.fed.test", "s").await;
    let flooder: Client = b.online("flooder", "f").await;
    let to = jid("slow@a.fed.test/s");
    let sender = tokio::spawn(async move {
        for i in 0..FLOOD {
            within(
                "a flood message",
                flooder.send_message(to.clone(), &flood_body(i)),
            )
            .await
            .expect("sending");
        }
        flooder
    });
    // Not reading for a while (shorter than the grace) fills the socket
    // buffers and then the queue; then reading at full speed.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut got = Vec::new();
    while got.len() < FLOOD {
        match slow.next(Duration::from_secs(60)).await {
            Got::Element(el) => {
                got.extend(element_body(&el).as_deref().and_then(seq));
            }
            Got::Header | Got::Features(_) => {}
            end => panic!(
                "the slow reader's stream ended after {} messages: {end:?}\n{}",
                got.len(),
                a.log()
            ),
        }
    }
    assert_eq!(got, (0..FLOOD).collect::<Vec<_>>(), "all, once, in order");
    let _flooder = within("the flood", sender).await.expect("sender");
    // The stream did wait, and the user was never closed as a slow
    // reader.
    let log = a.log();
    assert!(log.contains("waits for room"), "no backpressure happened");
    assert!(
        !log.contains("reads too slowly"),
        "the local user was closed"
    );
}

/// A remote server floods a local user who does not read at all (and
/// whose writes are given a long deadline): after the grace, the incoming
/// s2s stream is closed with `<resource-constraint/>` and the waiting
/// stanzas bounce to their sender with `resource-constraint`; the user is
/// not closed by the remote flood.
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_flood_on_a_stuck_user_costs_the_stream_not_the_user() {
    let (a, b) = fed_pair(
        "[limits]\noutbound_queue_bytes = 65536\nwrite_timeout = 600\n",
        "stuck",
        "flooder",
    );
    let ca = a.login("stuck").ca_file;
    let _stuck = raw_available(a.c2s_port, &ca, "stuck@a.fed.test", "s").await;
    let fl = b.login("flooder");
    let mut flooder = Raw::login(
        b.c2s_port,
        &fl.ca_file,
        "flooder@b.fed.test",
        "pw-flooder",
        Some("f"),
    )
    .await;
    for i in 0..FLOOD {
        let m = format!(
            "<message to='stuck@a.fed.test/s' type='chat' id='m{i}'><body>{}</body></message>",
            flood_body(i)
        );
        if flooder.send_str(&m).await.is_err() {
            break;
        }
    }
    // The first error that comes back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let condition = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match flooder.next(left).await {
            Got::Element(el) if el.attr("type") == Some("error") => {
                let e = el
                    .children()
                    .find(|c| c.name() == "error")
                    .expect("an error element");
                break e
                    .children()
                    .next()
                    .map(|c| c.name().to_owned())
                    .unwrap_or_default();
            }
            Got::Element(_) | Got::Header | Got::Features(_) => {}
            end => panic!("no error came back to the flooder: {end:?}"),
        }
    };
    assert_eq!(condition, "resource-constraint");
    let log = a.wait_log(&["closing an incoming s2s stream"]).await;
    assert!(
        !log.contains("reads too slowly"),
        "the local user was closed"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("session ended") && l.contains("stuck@a.fed.test/s")),
        "the stuck user's session ended"
    );
}
