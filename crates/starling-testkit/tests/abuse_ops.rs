//! Operator safety of the real `starling` binary (issue 14, findings 7, 9
//! and 10): the data directory and every file in it are private from
//! their creation and a directory or key open to other users is refused;
//! `user passwd` and `user remove` end the account's sessions at once
//! through the admin socket; passwords come from a file, standard input,
//! the environment or the terminal, and `--password` warns.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::ServerExt;
use starling_client::Error;
use starling_stream::Condition;
use starling_testkit::process::{Finished, run_with_limit};
use starling_testkit::raw::{Ending, Raw};
use starling_testkit::server::{Options, Server};
use starling_testkit::wait::{blocking, within};

/// How long a refused `starling serve` may run before the test calls it a
/// failure (a server that starts runs until killed at this limit).
const REFUSAL_LIMIT: Duration = Duration::from_secs(20);

/// How long a session may take to end once the command said it ended it
/// (the safety net that polls the database runs every 30 s, so an ending
/// within this time came from the notice).
const END: Duration = Duration::from_secs(10);

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).expect("chmod");
}

async fn login(server: &Server, user: &str, resource: &str) -> Raw {
    Raw::login(
        server.c2s_port,
        &server.cert_file("localhost"),
        &format!("{user}@localhost"),
        &format!("pw-{user}"),
        Some(resource),
    )
    .await
}

fn assert_ended(end: &Ending, condition: &Condition, what: &str) {
    assert_eq!(
        end.error.as_ref().map(|e| &e.condition),
        Some(condition),
        "{what}: expected <{}/>, got {} ({end:?})",
        condition.name(),
        end.condition()
    );
    assert!(end.eof, "{what}: the connection stays open ({end:?})");
}

/// Runs `starling ARGS…` with this server's config, `input` on standard
/// input, `env` added and `STARLING_PASSWORD` otherwise unset.
fn run_with_input(server: &Server, args: &[&str], input: &str, env: &[(&str, &str)]) -> Finished {
    let mut cmd = server.command();
    cmd.args(args)
        .env_remove("STARLING_PASSWORD")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("starting starling");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("waiting for starling");
    Finished {
        status: Some(out.status),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `starling serve` on the server's config, which must refuse to start.
fn serve_refused(server: &Server, what: &str) -> String {
    let out = run_with_limit(server.command().arg("serve"), REFUSAL_LIMIT).expect("running");
    assert!(
        out.status.is_some() && !out.success(),
        "{what}: the server must refuse to start: {}",
        out.describe()
    );
    out.stderr
}

/// Finding 7: the data directory (0700) and every file the server makes in
/// it (0600): the database with its `-wal` and `-shm`, `secret.key`,
/// `dialback.key`, the generated certificate and key, the admin socket.
#[tokio::test(flavor = "multi_thread")]
async fn data_directory_and_every_file_in_it_are_private() {
    let server = Server::start_with(Options {
        extra_toml: "[s2s]\nenabled = true\nlisten = []\nlisten_tls = []\n".into(),
        ..Options::default()
    });
    server.add_users(&["alice"]);
    let alice = server
        .online("alice@localhost", "pw-alice", Some("a"), 0)
        .await;
    let data = server.data_dir();
    assert_eq!(mode(&data), 0o700, "{}", data.display());
    assert_eq!(mode(&data.join("certs")), 0o700, "certs/");
    for f in [
        "starling.db",
        "starling.db-wal",
        "starling.db-shm",
        "secret.key",
        "dialback.key",
        "certs/localhost.key",
        "certs/localhost.crt",
        "admin.sock",
    ] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    within("ping", alice.ping(None))
        .await
        .expect("still served");
}

/// Finding 7: a data directory, a database or a key file open to other
/// users stops `serve` (and the `user` commands, and `check-config`) with
/// the path and the `chmod` to run; fixed, the server starts again.
#[tokio::test(flavor = "multi_thread")]
async fn a_data_directory_or_key_open_to_others_is_refused() {
    let mut server = Server::start();
    server.add_users(&["alice"]);
    let (status, _) = server.signal("TERM");
    assert!(status.is_some_and(|s| s.success()), "stopped");
    let data = server.data_dir();

    set_mode(&data, 0o755);
    let err = serve_refused(&server, "data directory 0755");
    let fix = format!("chmod 700 {}", data.display());
    assert!(err.contains(&fix), "the message says `{fix}`: {err}");
    assert!(err.contains("mode 0755"), "{err}");
    let out = blocking(|| server.admin(&["user", "list"]));
    assert!(
        !out.success() && out.stderr.contains(&fix),
        "user list: {}",
        out.describe()
    );
    let out = blocking(|| server.admin(&["check-config"]));
    assert!(
        !out.success() && out.stderr.contains(&fix),
        "check-config: {}",
        out.describe()
    );
    set_mode(&data, 0o700);

    for file in ["secret.key", "starling.db", "certs/localhost.key"] {
        let path = data.join(file);
        set_mode(&path, 0o644);
        let err = serve_refused(&server, file);
        let fix = format!("chmod 600 {}", path.display());
        assert!(
            err.contains(&fix),
            "{file}: the message says `{fix}`: {err}"
        );
        set_mode(&path, 0o600);
    }

    server.restart();
    server.assert_still_serving("alice").await;
}

/// Finding 9: `user passwd` ends every session of the account at once with
/// `<reset/>` (RFC 6120 §4.9.3.16: its credentials were revoked) and says
/// so; other accounts stay; the new password works and the old fails.
#[tokio::test(flavor = "multi_thread")]
async fn passwd_ends_the_accounts_sessions_with_reset() {
    let mut server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut a1 = login(&server, "alice", "one").await;
    let mut a2 = login(&server, "alice", "two").await;
    let bob = server.online("bob@localhost", "pw-bob", Some("b"), 0).await;

    // `--password` (which warns) so that this test needs nothing of
    // finding 10.
    let out = blocking(|| {
        server.admin(&[
            "user",
            "passwd",
            "alice@localhost",
            "--password",
            "alice-new",
        ])
    });
    assert!(out.success(), "passwd: {}", out.describe());
    assert!(
        out.stdout.contains("sessions ended: 2"),
        "the command reports the sessions it ended: {}",
        out.describe()
    );
    for (raw, what) in [(&mut a1, "alice/one"), (&mut a2, "alice/two")] {
        let end = raw.ending(END).await;
        assert_ended(&end, &Condition::Reset, what);
    }
    within("bob's ping", bob.ping(None))
        .await
        .expect("bob's session is unaffected");
    match within(
        "old password",
        server.client("alice@localhost", "pw-alice").connect(),
    )
    .await
    {
        Err(Error::Auth(_)) => {}
        other => panic!(
            "the old password must fail: {:?}",
            other.map(|c| c.jid().clone())
        ),
    }
    let c = within(
        "new password",
        server.client("alice@localhost", "alice-new").connect(),
    )
    .await
    .expect("the new password works");
    within("ping", c.ping(None)).await.expect("ping");
    let (_, log) = server.signal("TERM");
    assert!(
        log.contains("admin socket: sessions ended"),
        "the server logs the notice: {log}"
    );
}

/// Finding 9: `user remove` ends the account's sessions at once with
/// `<not-authorized/>` and says so (the slower safety net, every 30 s,
/// does not print anything in the command).
#[tokio::test(flavor = "multi_thread")]
async fn remove_ends_the_accounts_sessions_at_once() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut a = login(&server, "alice", "a").await;
    let bob = server.online("bob@localhost", "pw-bob", Some("b"), 0).await;
    let out = blocking(|| server.admin(&["user", "remove", "alice@localhost"]));
    assert!(out.success(), "remove: {}", out.describe());
    assert!(
        out.stdout.contains("sessions ended: 1"),
        "the command reports the session it ended: {}",
        out.describe()
    );
    let end = a.ending(END).await;
    assert_ended(&end, &Condition::NotAuthorized, "alice");
    within("bob's ping", bob.ping(None))
        .await
        .expect("bob's session is unaffected");

    // Bob's password changed from standard input: his session ends too.
    let out = blocking(|| server.admin(&["user", "passwd", "bob@localhost", "--password-stdin"]));
    assert!(
        !out.success(),
        "an empty password from a closed stdin is refused"
    );
    let out = run_with_input(
        &server,
        &["user", "passwd", "bob@localhost", "--password-stdin"],
        "bob-new\n",
        &[],
    );
    assert!(out.success(), "passwd: {}", out.describe());
    assert!(
        out.stdout.contains("sessions ended: 1"),
        "{}",
        out.describe()
    );
}

/// What, the arguments, standard input, the environment, the password.
type Case<'a> = (
    &'a str,
    Vec<String>,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a str,
);

/// Finding 10: the password from `--password-file`, `--password-file -`,
/// `--password-stdin`, `STARLING_PASSWORD` and standard input when it is
/// not a terminal; `--password` still works but warns, and so does a
/// password file other users can read; two sources at once are refused. Each account then logs in with its password.
#[tokio::test(flavor = "multi_thread")]
async fn passwords_come_from_files_stdin_and_the_environment() {
    let server = Server::start();
    let file = server.dir.join("pw-file");
    fs::write(&file, "file-pw\nsecond line ignored\n").expect("write");
    set_mode(&file, 0o600);
    let file = file.to_str().expect("utf-8").to_owned();
    let add = |jid: &str| vec!["user".to_owned(), "add".to_owned(), jid.to_owned()];
    let with = |mut v: Vec<String>, extra: &[&str]| {
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let cases: [Case<'_>; 6] = [
        (
            "file",
            with(add("f@localhost"), &["--password-file", &file]),
            "",
            &[],
            "file-pw",
        ),
        (
            "file -",
            with(add("d@localhost"), &["--password-file", "-"]),
            "dash-pw\n",
            &[],
            "dash-pw",
        ),
        (
            "stdin",
            with(add("s@localhost"), &["--password-stdin"]),
            "stdin-pw\r\n",
            &[],
            "stdin-pw",
        ),
        (
            "env",
            add("e@localhost"),
            "",
            &[("STARLING_PASSWORD", "env-pw")],
            "env-pw",
        ),
        ("piped", add("p@localhost"), "piped-pw\n", &[], "piped-pw"),
        (
            "argument",
            with(add("a@localhost"), &["--password", "arg-pw"]),
            "",
            &[],
            "arg-pw",
        ),
    ];
    for (what, args, input, env, password) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = blocking(|| run_with_input(&server, &args, input, env));
        assert!(out.success(), "{what}: {}", out.describe());
        let warned = out.stderr.contains("warning: --password");
        assert_eq!(
            warned,
            *what == "argument",
            "{what}: warning: {}",
            out.describe()
        );
        if warned {
            assert!(out.stderr.contains("process list"), "{}", out.stderr);
        }
        assert!(
            !out.stderr.contains("open to other users"),
            "{what}: {}",
            out.describe()
        );
        let jid = args[2];
        let c = within(what, server.client(jid, password).connect())
            .await
            .unwrap_or_else(|e| panic!("{what}: {jid} logs in with {password:?}: {e}"));
        within("close", c.close()).await.expect("close");
    }

    // A password file other users can read works, with a warning.
    let open = server.dir.join("open-pw");
    fs::write(&open, "open-pw\n").expect("write");
    set_mode(&open, 0o644);
    let open = open.to_str().expect("utf-8").to_owned();
    let out = blocking(|| server.admin(&["user", "add", "o@localhost", "--password-file", &open]));
    assert!(out.success(), "{}", out.describe());
    assert!(
        out.stderr
            .contains("holds passwords and is open to other users (mode 0644)")
            && out.stderr.contains(&format!("chmod 600 {open}")),
        "a readable password file warns: {}",
        out.describe()
    );

    let out = blocking(|| {
        run_with_input(
            &server,
            &[
                "user",
                "add",
                "x@localhost",
                "--password",
                "a",
                "--password-stdin",
            ],
            "b\n",
            &[],
        )
    });
    assert!(
        !out.success(),
        "two sources are refused: {}",
        out.describe()
    );
    let out = blocking(|| {
        server.admin(&[
            "user",
            "add",
            "y@localhost",
            "--password-file",
            "/nonexistent/pw",
        ])
    });
    assert!(
        !out.success() && out.stderr.contains("/nonexistent/pw"),
        "a missing file is named: {}",
        out.describe()
    );
}
