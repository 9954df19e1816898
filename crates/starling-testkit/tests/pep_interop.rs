//! PEP and account storage with slixmpp's plugins, and OMEMO end to end
//! with `slixmpp-omemo`, against Prosody, ejabberd and the real `starling`
//! binary: the same script (`tests/slixmpp/pep.py`), one `#[test]` per
//! server, every scenario in each.
//!
//! A peer is started with [`Peer::start_pep`] (PEP, caps, vCard, private
//! storage, bookmarks); Starling with its default configuration. Each
//! scenario gets three new accounts (`alice-NAME`, `bob-NAME`,
//! `carol-NAME`), so none sees what another left. A scenario passes when
//! the script exits with 0 and every check it is expected to run passed
//! (see `starling_testkit::script`). A scenario a server cannot do is
//! listed in [`NOT_APPLICABLE`] with the reason, printed at each run.
//! Every scenario's outcome is printed (`--nocapture` shows them); the test
//! fails at the end with every failed scenario, its checks, the script's
//! standard error, the tail of slixmpp's log and the server's.
//!
//! `STARLING_PEP_SCENARIOS=omemo,caps` runs only those scenarios.
//!
//! When the server or Python cannot run here, the test prints why and
//! passes, unless `CI=true`.
//!
//! ```sh
//! cargo test -p starling-testkit --test pep_interop -- --nocapture prosody
//! STARLING_BIN=target/debug/starling cargo test -p starling-testkit --test pep_interop starling
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use starling_testkit::logs::{read_or_empty, tail};
use starling_testkit::peers::slixmpp::{self, ScriptTarget};
use starling_testkit::peers::{Kind, Peer};
use starling_testkit::process::run_with_limit;
use starling_testkit::script::{ScriptReport, exit_problem};
use starling_testkit::server::Server;

/// The scenarios.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/slixmpp/pep.py");

/// The script's limit for one wait or request.
const STEP_TIMEOUT_SECS: u32 = 20;
/// The script's limit for a whole scenario.
const SCENARIO_TIMEOUT_SECS: u32 = 150;
/// Ours for the script's process (after its own watchdog at +30 s).
const PROCESS_LIMIT: Duration = Duration::from_secs(240);
/// Lines of slixmpp's log shown with a failure.
const LOG_TAIL_LINES: usize = 80;

/// Each scenario with the checks it must run and pass.
const SCENARIOS: &[(&str, &[&str])] = &[
    (
        "pubsub",
        &[
            "online",
            "publish_result",
            "contact_gets_event",
            "own_resource_gets_event",
            "stranger_gets_nothing",
            "items_all",
            "items_by_id",
            "items_max",
            "precondition_not_met",
            "whitelist_not_readable",
            "whitelist_no_event",
        ],
    ),
    (
        "retract",
        &[
            "retract_result",
            "contact_gets_retract",
            "items_after_retract",
        ],
    ),
    (
        "last-item",
        &[
            "publish_last",
            "bob_logged_in_again",
            "last_item_on_presence",
        ],
    ),
    (
        "caps",
        &[
            "server_queries_new_ver",
            "contact_presence_has_caps",
            "contact_disco_by_caps",
            "ver_matches",
            "known_ver_not_asked_again",
        ],
    ),
    (
        "avatar",
        &[
            "data_published",
            "metadata_published",
            "contact_gets_metadata",
            "contact_gets_metadata_item",
            "contact_gets_data",
        ],
    ),
    ("bookmarks", &["bookmark_added", "bookmarks_retrieved"]),
    ("bookmarks-compat", &["bookmark_added", "legacy_view"]),
    (
        "private",
        &[
            "private_stored",
            "private_retrieved",
            "other_namespace_empty",
            "not_for_others",
        ],
    ),
    ("vcard", &["vcard_set", "own_vcard", "other_users_vcard"]),
    (
        "vcard-avatar",
        &["photo_set", "contact_sees_hash", "photo_matches_hash"],
    ),
    (
        "nick",
        &["nick_in_subscribe", "nick_published", "contact_gets_nick"],
    ),
    (
        "omemo",
        &[
            "alice_omemo_ready",
            "bob_omemo_ready",
            "device_lists_fetched",
            "device_lists_readable",
            "bundle_readable",
            "alice_to_bob_encrypted",
            "alice_to_bob_no_plaintext_on_wire",
            "alice_to_bob_decrypted",
            "bob_to_alice_encrypted",
            "bob_to_alice_decrypted",
        ],
    ),
];

/// `(server, scenario, why)`: scenarios a server cannot pass because it
/// lacks the feature (not because the script is wrong).
const NOT_APPLICABLE: &[(&str, &str, &str)] = &[
    (
        "ejabberd",
        "retract",
        "ejabberd 23.01 sends <retract/> notifications only to explicit XEP-0060 subscribers, \
         never to PEP contacts with +notify (mod_pubsub broadcast_retract_items)",
    ),
    (
        "ejabberd",
        "last-item",
        "with ejabberd 23.01 nothing arrives: its mod_pubsub sends a local contact the last \
         item on the presence probe, through the publisher's session, which filters by the caps \
         it has for the contact's resource and has none yet for a resource just online",
    ),
    (
        "ejabberd",
        "bookmarks-compat",
        "ejabberd 23.01's mod_private does not show XEP-0402 bookmarks as XEP-0048 \
         storage:bookmarks (it stays empty)",
    ),
];

#[test]
fn prosody() {
    run_peer(Kind::Prosody);
}

#[test]
fn ejabberd() {
    run_peer(Kind::Ejabberd);
}

#[test]
fn starling() {
    let Some(python) = venv_python() else {
        return;
    };
    let server = Server::start();
    let ca = server.cert_file(&server.domain);
    let target = Target {
        name: "starling",
        port: server.c2s_port,
        domain: server.domain.clone(),
        ca,
        dir: server.dir.clone(),
    };
    run_all(
        &python,
        &target,
        &|jid, password| {
            server.add_user(jid, password);
            Ok(())
        },
        &|| server.log_now(),
    );
}

/// Starts the peer with its PEP modules and runs every scenario.
fn run_peer(kind: Kind) {
    let Some(python) = venv_python() else {
        return;
    };
    // The peer is started (and dropped) on this thread: see `peers`.
    let Some(peer) = Peer::start_pep(kind).unwrap_or_else(|e| panic!("{e}")) else {
        return; // not installed and not in CI: the reason was printed
    };
    let target = Target {
        name: peer.name,
        port: peer.c2s_port,
        domain: peer.domain.clone(),
        ca: peer.ca_file.clone(),
        dir: peer.dir.clone(),
    };
    run_all(
        &python,
        &target,
        &|jid, password| {
            let user = jid.split('@').next().unwrap_or(jid);
            peer.register(user, password)
        },
        &|| peer.log_tail(),
    );
}

/// Where the script connects.
struct Target {
    name: &'static str,
    port: u16,
    domain: String,
    ca: PathBuf,
    dir: PathBuf,
}

/// Runs every scenario against `target`, prints each outcome and fails
/// with all failures at the end.
fn run_all(
    python: &Path,
    target: &Target,
    register: &dyn Fn(&str, &str) -> Result<(), String>,
    server_log: &dyn Fn() -> String,
) {
    let mut failures = Vec::new();
    let mut passed = 0;
    let only = std::env::var("STARLING_PEP_SCENARIOS").ok();
    let chosen = |name: &str| {
        only.as_deref()
            .is_none_or(|list| list.split(',').any(|s| s.trim() == name))
    };
    for (scenario, expected) in SCENARIOS.iter().filter(|(name, _)| chosen(name)) {
        if let Some((_, _, why)) = NOT_APPLICABLE
            .iter()
            .find(|(server, s, _)| *server == target.name && s == scenario)
        {
            eprintln!("{}: {scenario}: NOT APPLICABLE: {why}", target.name);
            continue;
        }
        match run_scenario(python, target, scenario, expected, register) {
            Ok(summary) => {
                passed += 1;
                eprintln!("{}: {scenario}: passed ({summary})", target.name);
            }
            Err(failure) => {
                eprintln!("{}: {scenario}: FAILED", target.name);
                failures.push(failure);
            }
        }
    }
    eprintln!(
        "{}: {passed} passed, {} failed",
        target.name,
        failures.len()
    );
    if !failures.is_empty() {
        panic!(
            "{} of {} PEP scenarios failed against {}:\n{}\n--- {}'s log ---\n{}",
            failures.len(),
            SCENARIOS.len(),
            target.name,
            failures.join("\n"),
            target.name,
            tail(&server_log(), LOG_TAIL_LINES),
        );
    }
}

/// Creates the scenario's accounts and runs it; the checks and facts on
/// success, a failure report otherwise.
fn run_scenario(
    python: &Path,
    target: &Target,
    scenario: &str,
    expected: &[&str],
    register: &dyn Fn(&str, &str) -> Result<(), String>,
) -> Result<String, String> {
    let tag: String = scenario
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let log = target.dir.join(format!("pep-{scenario}.log"));
    let script_target = ScriptTarget {
        port: target.port,
        domain: &target.domain,
        ca: &target.ca,
        log: &log,
        step_timeout_secs: STEP_TIMEOUT_SECS,
        timeout_secs: SCENARIO_TIMEOUT_SECS,
    };
    let mut command = slixmpp::script_command(python, SCRIPT, scenario, &script_target);
    for role in ["alice", "bob", "carol"] {
        let user = format!("{role}-{tag}");
        let password = format!("{role}-Pep-Secret-{tag}");
        register(&format!("{user}@{}", target.domain), &password)?;
        command
            .arg(format!("--{role}"))
            .arg(&user)
            .arg(format!("--{role}-password"))
            .arg(&password);
    }
    let finished = run_with_limit(&mut command, PROCESS_LIMIT)
        .map_err(|e| format!("running the script for {scenario}: {e}"))?;
    let report = ScriptReport::parse(&finished.stdout);
    let mut problems: Vec<String> = exit_problem(&finished).into_iter().collect();
    problems.extend(report.problems(true, expected));
    if problems.is_empty() {
        let facts = report
            .report
            .as_ref()
            .ok()
            .and_then(|r| r.get("facts"))
            .map(ToString::to_string)
            .unwrap_or_default();
        return Ok(format!("{} checks; facts {facts}", report.checks().len()));
    }
    let mut message = format!("=== scenario `{scenario}` against {}:\n", target.name);
    for p in &problems {
        let _ = writeln!(message, "  - {p}");
    }
    let _ = write!(
        message,
        "--- script stderr ---\n{}--- last {LOG_TAIL_LINES} lines of slixmpp's log ({}) ---\n{}",
        finished.stderr,
        log.display(),
        tail(&read_or_empty(&log), LOG_TAIL_LINES),
    );
    Err(message)
}

/// The venv's Python; `None` (after a note) when it cannot be made here
/// and this is not CI.
fn venv_python() -> Option<PathBuf> {
    slixmpp::python().unwrap_or_else(|e| panic!("slixmpp (CI=true): {e}"))
}
