//! Interop with a third-party client: slixmpp (Python) against the real
//! `starling` binary.
//!
//! Each test starts its own server (`starling_testkit::server::Server`),
//! creates `alice` and `bob` with `starling user add`, and runs one scenario
//! of `tests/slixmpp/interop.py` with the virtualenv's Python. The script
//! connects over STARTTLS to 127.0.0.1, verifies the server's generated
//! self-signed certificate (`certs/localhost.crt`, the only CA it trusts)
//! for the name `localhost`, and prints one JSON object: named checks (each
//! with what was expected, the RFC or XEP section, and what happened) and
//! facts. A test passes when the script exits with 0 and every check it
//! names passed; otherwise the failure shows the failed checks, the
//! script's standard error, the tail of slixmpp's debug log (every stanza)
//! and the server's log.
//!
//! The client comes from PyPI, pinned and installed into a virtualenv by
//! `starling_testkit::peers::slixmpp` (`STARLING_PYTHON` picks another
//! interpreter than `python3`). When Python, venv or pip is missing, or the
//! install fails, the tests print why and pass, unless `CI=true`: then they
//! fail.
//!
//! ```sh
//! cargo test -p starling-testkit --test slixmpp
//! ```

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use starling_testkit::logs::{read_or_empty, tail};
use starling_testkit::peers::slixmpp::{self, ScriptTarget};
use starling_testkit::process::{Finished, run_with_limit};
use starling_testkit::script::{ScriptReport, exit_problem};
use starling_testkit::server::Server;

/// The scenarios.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/slixmpp/interop.py");

/// Passwords of the two accounts every scenario gets.
const ALICE_PASSWORD: &str = "alice-Interop-Secret-1";
const BOB_PASSWORD: &str = "bob-Interop-Secret-2";

/// The script's limit for one wait or request (the machine is shared and
/// small, so this is generous; it is never a measured duration).
const STEP_TIMEOUT_SECS: u32 = 20;
/// The script's limit for a whole scenario.
const SCENARIO_TIMEOUT_SECS: u32 = 150;
/// Ours for the script's process (after its own watchdog at +30 s).
const PROCESS_LIMIT: Duration = Duration::from_secs(240);

/// Lines of slixmpp's log shown with a failure.
const LOG_TAIL_LINES: usize = 150;

// ---------------------------------------------------------------------------
// The tests

/// Default mechanism choice: slixmpp takes the strongest it can do, which
/// must be SCRAM-SHA-256 (its -PLUS forms need channel-binding data that
/// Python's ssl module cannot give on TLS 1.3, so slixmpp skips them).
#[test]
fn login_starttls_scram_sha256() {
    let Some(run) = Scenario::new("login").run() else {
        return;
    };
    run.assert_checks(&LOGIN_CHECKS);
    let mechanism = run.fact_str("mechanism");
    assert!(
        mechanism.is_some_and(|m| m == "SCRAM-SHA-256" || m == "SCRAM-SHA-256-PLUS"),
        "mechanism used: {mechanism:?}"
    );
    let tls = run.fact_str("tls_version");
    assert!(
        tls.is_some_and(|v| v.starts_with("TLSv1.")),
        "TLS version: {tls:?}"
    );
}

#[test]
fn login_starttls_scram_sha1() {
    let Some(run) = Scenario::new("login")
        .args(&["--mech", "SCRAM-SHA-1"])
        .run()
    else {
        return;
    };
    run.assert_checks(&LOGIN_CHECKS);
    assert_eq!(run.fact_str("mechanism"), Some("SCRAM-SHA-1"));
}

const LOGIN_CHECKS: [&str; 8] = [
    "logged_in",
    "tls_in_use",
    "mechanism_used",
    "scram_mechanisms_offered",
    "server_signature_verified",
    "bound_jid",
    "ping_after_login",
    "stream_close_acknowledged",
];

#[test]
fn wrong_password_fails_auth() {
    let Some(run) = Scenario::new("wrong-password").run() else {
        return;
    };
    run.assert_checks(&[
        "login_refused",
        "failed_auth_event",
        "failure_not_authorized",
        "no_session",
        "right_password_still_works",
    ]);
}

#[test]
fn roster_get_add_update_remove() {
    let Some(run) = Scenario::new("roster").run() else {
        return;
    };
    run.assert_checks(&[
        "logged_in",
        "initial_roster_empty",
        "add_push_result",
        "add_push",
        "roster_after_add",
        "update_push_result",
        "update_push",
        "roster_after_update",
        "remove_push_result",
        "remove_push",
        "roster_after_remove",
        "roster_versioning",
    ]);
}

#[test]
fn subscription_alice_bob_both() {
    let Some(run) = Scenario::new("subscription").run() else {
        return;
    };
    let mut checks = vec![
        "alice_logged_in",
        "bob_logged_in",
        "alice_online",
        "bob_online",
    ];
    checks.extend(SUBSCRIPTION_STEPS);
    checks.extend(["alice_roster_both", "bob_roster_both"]);
    run.assert_checks(&checks);
}

/// The checks of the script's `befriend` (a mutual subscription).
const SUBSCRIPTION_STEPS: [&str; 11] = [
    "a_push_pending_out",
    "b_gets_subscribe",
    "b_push_from",
    "a_gets_subscribed",
    "a_push_to",
    "a_gets_contact_presence",
    "b_push_from_pending_out",
    "a_gets_subscribe",
    "a_push_both",
    "b_push_both",
    "b_gets_contact_presence",
];

#[test]
fn presence_broadcast() {
    let Some(run) = Scenario::new("presence").run() else {
        return;
    };
    let setup: Vec<String> = SUBSCRIPTION_STEPS
        .iter()
        .map(|step| format!("setup_{step}"))
        .collect();
    let mut checks = vec![
        "alice_logged_in",
        "bob_logged_in",
        "alice_online",
        "bob_online",
    ];
    checks.extend(setup.iter().map(String::as_str));
    checks.extend([
        "bob_sees_away",
        "bob_sees_available",
        "bob_sees_unavailable",
        "bob_sees_available_again",
        "alice_gets_probe_answer",
        "bob_sees_unavailable_on_disconnect",
    ]);
    run.assert_checks(&checks);
}

#[test]
fn messages_both_ways() {
    let Some(run) = Scenario::new("messages").run() else {
        return;
    };
    run.assert_checks(&[
        "alice_logged_in",
        "bob_logged_in",
        "alice_online",
        "bob_online",
        "alice_to_bob_bare",
        "bob_to_alice_full",
        "alice_to_bob_full",
        "bob_to_alice_bare_normal",
    ]);
}

#[test]
fn offline_delivery_with_delay() {
    let Some(run) = Scenario::new("offline").run() else {
        return;
    };
    run.assert_checks(&[
        "alice_logged_in",
        "alice_online",
        "messages_sent",
        "bob_logged_in",
        "not_before_presence",
        "offline_chat_delivered",
        "delay_stamp",
        "offline_normal_delivered",
        "bob_logged_in_again",
        "delivered_once",
    ]);
    assert!(run.fact_str("delay_stamp").is_some(), "no delay stamp");
}

#[test]
fn disco_info_of_the_server() {
    let Some(run) = Scenario::new("disco-info").run() else {
        return;
    };
    run.assert_checks(&[
        "logged_in",
        "disco_info_result",
        "disco_features",
        "disco_identity",
    ]);
    let features = run.fact_strings("features");
    for feature in [
        "urn:xmpp:ping",
        "jabber:iq:version",
        "http://jabber.org/protocol/disco#info",
    ] {
        assert!(
            features.iter().any(|f| f == feature),
            "{feature} missing from {features:?}"
        );
    }
}

#[test]
fn disco_items_of_the_server_and_account() {
    let Some(run) = Scenario::new("disco-items").run() else {
        return;
    };
    run.assert_checks(&[
        "logged_in",
        "server_items_result",
        "account_info_result",
        "account_items_result",
    ]);
}

#[test]
fn ping_the_server() {
    let Some(run) = Scenario::new("ping").run() else {
        return;
    };
    run.assert_checks(&["logged_in", "ping_result"]);
}

#[test]
fn software_version_of_the_server() {
    let Some(run) = Scenario::new("version").run() else {
        return;
    };
    run.assert_checks(&[
        "logged_in",
        "version_result",
        "version_name",
        "version_version",
    ]);
    assert_eq!(run.fact_str("name"), Some("starling"));
}

#[test]
fn unknown_iq_payload_is_service_unavailable() {
    let Some(run) = Scenario::new("error-iq").run() else {
        return;
    };
    run.assert_checks(&[
        "logged_in",
        "unknown_get_service_unavailable",
        "unknown_set_service_unavailable",
    ]);
}

#[test]
fn messages_nobody_can_receive_bounce() {
    let Some(run) = Scenario::new("error-message").run() else {
        return;
    };
    run.assert_checks(&[
        "logged_in",
        "nonexistent_user_service_unavailable",
        "remote_domain_not_found",
        "nonexistent_user_iq_service_unavailable",
    ]);
}

/// XEP-0198 with slixmpp's `xep_0198` plugin: enabled with resumption
/// after binding, the TCP connection broken without `</stream>`, five
/// messages sent meanwhile, the session resumed on a new connection with
/// all five, once each, in order.
#[test]
fn stream_management_resumption() {
    let Some(run) = Scenario::new("sm-resume").run() else {
        return;
    };
    run.assert_checks(&[
        "alice_logged_in",
        "sm_enabled",
        "bob_logged_in",
        "before_break",
        "sm_resumed",
        "messages_after_resumption",
    ]);
}

// ---------------------------------------------------------------------------
// Running a scenario

/// One run of the script against a new server.
struct Scenario {
    name: &'static str,
    args: Vec<String>,
}

impl Scenario {
    fn new(name: &'static str) -> Scenario {
        Scenario {
            name,
            args: Vec::new(),
        }
    }

    fn args(mut self, args: &[&str]) -> Scenario {
        self.args.extend(args.iter().map(|&a| a.to_owned()));
        self
    }

    /// Starts a server with the two accounts and runs the scenario; `None`
    /// when the client cannot be installed here (outside CI; the reason was
    /// printed).
    fn run(self) -> Option<Outcome> {
        let python = venv_python()?;
        let server = Server::start();
        server.add_user(&format!("alice@{}", server.domain), ALICE_PASSWORD);
        server.add_user(&format!("bob@{}", server.domain), BOB_PASSWORD);
        let ca = server.cert_file(&server.domain);
        assert!(
            ca.is_file(),
            "the server did not write its certificate to {}",
            ca.display()
        );
        let log = server.dir.join(format!("slixmpp-{}.log", self.name));
        let target = ScriptTarget {
            port: server.c2s_port,
            domain: &server.domain,
            ca: &ca,
            log: &log,
            step_timeout_secs: STEP_TIMEOUT_SECS,
            timeout_secs: SCENARIO_TIMEOUT_SECS,
        };
        let mut command = slixmpp::script_command(&python, SCRIPT, self.name, &target);
        command
            .arg("--alice-password")
            .arg(ALICE_PASSWORD)
            .arg("--bob-password")
            .arg(BOB_PASSWORD)
            .args(&self.args);
        let finished = run_with_limit(&mut command, PROCESS_LIMIT)
            .unwrap_or_else(|e| panic!("running the slixmpp script: {e}"));
        let report = ScriptReport::parse(&finished.stdout);
        Some(Outcome {
            scenario: self.name,
            finished,
            report,
            log,
            server,
        })
    }
}

/// What a scenario printed, with its server (kept running until the
/// outcome is dropped, so that a failure prints the server's log too).
struct Outcome {
    scenario: &'static str,
    finished: Finished,
    report: ScriptReport,
    log: PathBuf,
    server: Server,
}

impl Outcome {
    /// Asserts that the script succeeded and that each of `expected` was
    /// checked and passed (so a scenario that silently skipped a check
    /// fails too).
    fn assert_checks(&self, expected: &[&str]) {
        let mut problems: Vec<String> = exit_problem(&self.finished).into_iter().collect();
        problems.extend(self.report.problems(true, expected));
        if problems.is_empty() {
            return;
        }
        let mut message = format!(
            "slixmpp scenario `{}` against starling failed:\n",
            self.scenario
        );
        for p in &problems {
            let _ = writeln!(message, "  - {p}");
        }
        let _ = write!(
            message,
            "--- script stdout ---\n{}--- script stderr ---\n{}--- last {LOG_TAIL_LINES} lines of slixmpp's log ({}) ---\n{}",
            self.finished.stdout,
            self.finished.stderr,
            self.log.display(),
            tail(&read_or_empty(&self.log), LOG_TAIL_LINES),
        );
        let _ = writeln!(message, "(server data in {})", self.server.dir.display());
        panic!("{message}");
    }

    fn fact_str(&self, key: &str) -> Option<&str> {
        self.report.fact_str(key)
    }

    fn fact_strings(&self, key: &str) -> Vec<String> {
        self.report.fact_strings(key)
    }
}

/// The venv's Python; `None` (after a note) when it cannot be made here
/// and this is not CI.
fn venv_python() -> Option<PathBuf> {
    slixmpp::python().unwrap_or_else(|e| panic!("slixmpp interop (CI=true): {e}"))
}

// ---------------------------------------------------------------------------
// XEP-0280 carbons and XEP-0352 client state indication

/// slixmpp's `xep_0280` enables carbons on two resources, gets sent and
/// received carbons, and none after disabling.
#[test]
fn carbons_enable_and_copies() {
    let Some(run) = Scenario::new("carbons").run() else {
        return;
    };
    run.assert_checks(&[
        "alice1_logged_in",
        "alice2_logged_in",
        "bob_logged_in",
        "carbons_enabled",
        "sent_carbon",
        "received_carbon",
        "carbons_disabled",
    ]);
}

/// slixmpp's `xep_0352` sees the feature and goes inactive, then active.
#[test]
fn csi_inactive_then_active() {
    let Some(run) = Scenario::new("csi").run() else {
        return;
    };
    run.assert_checks(&[
        "alice_logged_in",
        "bob_logged_in",
        "csi_offered",
        "held_presence_first",
        "inactive_holds",
        "active_flushes",
    ]);
}

// ---------------------------------------------------------------------------
// XEP-0357 push notifications

/// slixmpp 1.17 (the pinned client) has no `xep_0357` plugin: the
/// scenario writes `<enable/>` and `<disable/>` itself and uses slixmpp
/// for everything else (login, disco, the app server's iq handler).
#[test]
fn push_enable_notify_disable() {
    let Some(run) = Scenario::new("push").run() else {
        return;
    };
    run.assert_checks(&[
        "app_logged_in",
        "bob_logged_in",
        "push_feature",
        "push_enabled",
        "notification_received",
        "no_body",
        "bob_logged_in_again",
        "push_disabled",
        "no_notification_after_disable",
    ]);
}

// ---------------------------------------------------------------------------
// XEP-0191 blocking command

/// XEP-0191 with slixmpp's `xep_0191` plugin: get, block (with its push),
/// a blocked message each way, unblock.
#[test]
fn blocking_command() {
    let Some(run) = Scenario::new("blocking").run() else {
        return;
    };
    run.assert_checks(&[
        "alice_logged_in",
        "bob_logged_in",
        "blocklist_empty",
        "block_result",
        "blocklist_has_bob",
        "blocked_sender_service_unavailable",
        "message_to_blocked_not_acceptable",
        "block_push",
        "unblock_result",
        "delivered_after_unblock",
    ]);
}
