use std::io::Read;

use starling_jid::FullJid;
use starling_stream::Condition;

use super::protocol::{MAX_LINE, parse_reply, parse_request, peer_allowed};
use super::*;
use crate::config::Config;
use crate::registry::SessionHandle;
use crate::storage::{SqliteStorage, Stores};

fn bare(s: &str) -> BareJid {
    BareJid::new(s).unwrap()
}

#[test]
fn requests_parse_or_are_refused() {
    let ok = [
        (
            "end-sessions password-changed juliet@capulet.lit\n",
            "juliet@capulet.lit",
            EndReason::PasswordChanged,
        ),
        (
            "end-sessions removed Romeo@Montague.lit\r\n",
            "romeo@montague.lit",
            EndReason::Removed,
        ),
        (
            "end-sessions removed juliet@capulet.lit",
            "juliet@capulet.lit",
            EndReason::Removed,
        ),
    ];
    for (line, jid, reason) in ok {
        let r = parse_request(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(
            r,
            Request::EndSessions {
                account: bare(jid),
                reason
            },
            "{line:?}"
        );
        assert_eq!(parse_request(&r.to_line()).unwrap(), r, "round trip");
    }
    let long = format!("end-sessions removed {}@x", "a".repeat(MAX_LINE));
    let bad: [(&str, ProtocolError); 9] = [
        ("", ProtocolError::UnknownCommand(String::new())),
        (
            "shutdown\n",
            ProtocolError::UnknownCommand("shutdown".into()),
        ),
        (
            "END-SESSIONS removed a@b",
            ProtocolError::UnknownCommand("END-SESSIONS".into()),
        ),
        ("end-sessions removed", ProtocolError::Arity),
        ("end-sessions removed a@b extra", ProtocolError::Arity),
        ("end-sessions  removed a@b", ProtocolError::Arity),
        (
            "end-sessions banned a@b",
            ProtocolError::UnknownReason("banned".into()),
        ),
        (&long, ProtocolError::TooLong),
        (
            "end-sessions removed capulet.lit",
            ProtocolError::BadAccount("capulet.lit has no localpart".into()),
        ),
    ];
    for (line, want) in bad {
        assert_eq!(parse_request(line), Err(want), "{line:?}");
    }
    assert!(matches!(
        parse_request("end-sessions removed a@b@c"),
        Err(ProtocolError::BadAccount(_))
    ));
}

#[test]
fn replies_round_trip() {
    for r in [Reply::Ended(0), Reply::Ended(17), Reply::Error("no".into())] {
        assert_eq!(parse_reply(&r.to_line()).unwrap(), r);
    }
    assert_eq!(
        Reply::Error("two\nlines".into()).to_line(),
        "error two lines\n"
    );
    for bad in ["", "ok", "ok x", "ok -1", "fine 2"] {
        assert!(parse_reply(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn reasons_choose_the_stream_error() {
    assert_eq!(
        EndReason::PasswordChanged.stream_error().condition,
        Condition::Reset
    );
    assert_eq!(
        EndReason::Removed.stream_error().condition,
        Condition::NotAuthorized
    );
}

#[test]
fn only_the_owner_and_root_may_connect() {
    let cases = [
        (1000, 1000, true),
        (0, 1000, true),
        (1001, 1000, false),
        (1000, 0, false),
    ];
    for (peer, owner, want) in cases {
        assert_eq!(peer_allowed(peer, owner), want, "{peer} {owner}");
    }
}

fn hub() -> Arc<Hub> {
    let config = Arc::new(Config::default());
    let stores = Stores::sqlite(Arc::new(SqliteStorage::open_in_memory().unwrap()), 2);
    let modules = crate::modules::build(&config, &stores, None);
    Arc::new(Hub::new(config, stores, modules))
}

fn session(hub: &Hub, jid: &str, id: u64) -> Arc<SessionHandle> {
    let full: FullJid = jid.parse().unwrap();
    let (h, rx) = SessionHandle::new(
        full,
        id,
        crate::registry::QueueLimits {
            bytes: 1 << 20,
            count: 4,
        },
    );
    std::mem::forget(rx);
    hub.sessions().insert(h.clone(), false, 10);
    h
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The command line's notice reaches the running server: the account's
/// sessions (and only those) are asked to close with the stream error of
/// the reason; bad requests get an error line; without a server the
/// notice is `NotRunning`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_end_the_sessions_of_one_account() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let d = dir.clone();
    let none = tokio::task::spawn_blocking(move || {
        notify(
            &d,
            &Request::EndSessions {
                account: bare("juliet@localhost"),
                reason: EndReason::Removed,
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(none, Notified::NotRunning);

    let hub = hub();
    let j1 = session(&hub, "juliet@localhost/a", 1);
    let j2 = session(&hub, "juliet@localhost/b", 2);
    let r = session(&hub, "romeo@localhost/a", 3);
    let path = socket_path(&dir);
    let socket = bind(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert!(matches!(bind(&path), Err(BindError::InUse(_))));
    let (stop, stop_rx) = watch::channel(false);
    let server = tokio::spawn(serve(socket, hub.clone(), stop_rx));

    let d = dir.clone();
    let got = tokio::task::spawn_blocking(move || {
        notify(
            &d,
            &Request::EndSessions {
                account: bare("juliet@localhost"),
                reason: EndReason::PasswordChanged,
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(got, Notified::Ended(2));
    for s in [&j1, &j2] {
        assert_eq!(s.take_close().map(|e| e.condition), Some(Condition::Reset));
    }
    assert!(r.take_close().is_none(), "another account is untouched");

    let p = path.clone();
    let replies = tokio::task::spawn_blocking(move || {
        let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
        s.write_all(b"hello\nend-sessions removed nobody@localhost\n")
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert_eq!(replies, "error unknown command \"hello\"\nok 0\n");

    let _ = stop.send(true);
    server.await.unwrap();
}

/// A socket file left by a server that died is replaced.
#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let path = socket_path(tmp.path());
    drop(bind(&path).unwrap());
    assert!(path.exists(), "the file stays after the listener is gone");
    let _again = bind(&path).unwrap();
    assert_eq!(mode(&path), 0o600);
}
