//! Tests of the configuration parser.

use super::*;

#[test]
fn defaults() {
    let c = Config::from_toml_str("", "x").unwrap();
    assert_eq!(c.hosts.len(), 1);
    assert_eq!(c.c2s.listen[0].port(), 5222);
    assert_eq!(c.c2s.listen_tls[0].port(), 5223);
    assert!(c.c2s.require_tls);
    assert_eq!(
        c.database_path(),
        PathBuf::from("./starling-data/starling.db")
    );
}

#[test]
fn full_file() {
    let text = r#"
data_dir = "/var/lib/starling"
[[hosts]]
domain = "example.org"
certificate = "/etc/x.crt"
key = "/etc/x.key"
[[hosts]]
domain = "Example.NET"
[c2s]
listen = ["0.0.0.0:5222"]
listen_tls = []
resource_conflict = "refuse"
scram_iterations = 10000
[limits]
max_stanza_size = 10000
read_rate = 2048
negotiation_timeout = 5
idle_timeout = 60
max_auth_failures = 2
max_resources_per_account = 3
max_connections_per_ip = 7
max_offline_messages = 0
outbound_queue = 64
[storage]
backend = "sqlite"
path = "/tmp/x.db"
[s2s]
enabled = true
listen = ["127.0.0.1:5269"]
listen_tls = ["127.0.0.1:5270"]
dialback = false
dialback_secret = "0123456789abcdef0123"
ca_file = "/etc/ca.pem"
connect_timeout = 5
idle_timeout = 60
queue = 10
name_servers = ["127.0.0.1:5353"]
[s2s.hosts]
"example.com" = "127.0.0.1:15269"
[log]
level = "debug,starling_server=trace"
format = "json"
"#;
    let c = Config::from_toml_str(text, "f").unwrap();
    assert_eq!(c.hosts[1].domain.as_str(), "example.net");
    assert!(c.c2s.listen_tls.is_empty());
    assert_eq!(c.c2s.resource_conflict, ConflictPolicy::Refuse);
    assert_eq!(c.limits.max_resources_per_account, 3);
    assert_eq!(c.limits.negotiation_timeout, Duration::from_secs(5));
    assert_eq!(c.limits.max_offline_messages, 0);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.database_path(), PathBuf::from("/tmp/x.db"));
    assert!(c.s2s.enabled && !c.s2s.dialback);
    assert_eq!(c.s2s.host_map[0].0.as_str(), "example.com");
    assert_eq!(c.s2s.host_map[0].1, "127.0.0.1:15269");
    assert_eq!(c.s2s.queue, 10);
}

fn err(text: &str) -> (usize, String) {
    match Config::from_toml_str(text, "f").unwrap_err() {
        ConfigError::Invalid { line, reason, .. } => (line, reason),
        e => panic!("{e}"),
    }
}

#[test]
fn errors_name_the_line() {
    assert_eq!(err("\n\n[c2s]\nlisten_tsl = []\n").0, 4);
    assert!(err("[c2s]\nlisten = [\"nope\"]\n").1.contains("invalid"));
    let (line, reason) = err("[limits]\n\nmax_stanza_size = 1\n");
    assert_eq!(line, 3);
    assert!(reason.contains("between"), "{reason}");
    assert_eq!(err("[[hosts]]\ndomain = \"a b\"\n").0, 2);
    assert_eq!(err("[storage]\nbackend = \"postgres\"\n").0, 2);
    assert_eq!(err("[log]\nformat = \"xml\"\n").0, 2);
    assert_eq!(err("[c2s]\nresource_conflict = \"maybe\"\n").0, 2);
    assert_eq!(err("x = 1\n").0, 1);
    assert!(
        err("[c2s]\nlisten = [\"0.0.0.0:5222\"]\nrequire_tls = false\n")
            .1
            .contains("loopback")
    );
    assert!(Config::from_toml_str("[c2s]\nrequire_tls = false\n", "f").is_ok());
    assert_eq!(
        err("[[hosts]]\ndomain = \"a\"\n[[hosts]]\ndomain = \"A\"\n").0,
        4
    );
    assert!(
        err("[[hosts]]\ndomain = \"a\"\nkey = \"k\"\n")
            .1
            .contains("together")
    );
    assert_eq!(err("[s2s]\n[s2s.hosts]\n\"x.org\" = \"nope\"\n").0, 3);
    assert_eq!(err("[s2s]\ndialback_secret = \"short\"\n").0, 2);
}

#[test]
fn module_sections() {
    let c = Config::from_toml_str("[modules.ping]\nenabled = false\n", "m").unwrap();
    assert!(!c.modules.ping.enabled);
    assert!(c.modules.roster.enabled && c.modules.version.enabled);
    // Unknown modules and keys are refused with their line.
    let (line, reason) = err("[modules]\n\n[modules.pong]\nenabled = true\n");
    assert_eq!(line, 3, "{reason}");
    assert!(reason.contains("pong"), "{reason}");
    let (line, reason) = err("[modules.ping]\nenabled = true\ninterval = 3\n");
    assert_eq!(line, 3, "{reason}");
    assert!(reason.contains("interval"), "{reason}");
    let (line, _) = err("[modules.disco]\nenabled = \"yes\"\n");
    assert_eq!(line, 2);
}

#[test]
fn ping_and_push_sections() {
    use std::time::Duration;
    let d = Config::from_toml_str("", "x").unwrap().modules;
    assert_eq!(d.ping.keepalive_interval, Some(Duration::from_secs(300)));
    assert_eq!(d.ping.keepalive_timeout, Duration::from_secs(60));
    assert!(d.push.enabled && !d.push.include_body);
    assert_eq!(d.push.max_registrations, 20);
    assert_eq!(d.push.min_interval, Duration::from_secs(10));
    let text = "[modules.ping]\nkeepalive_interval = 0\nkeepalive_timeout = 5\n\
                [modules.push]\nmax_registrations = 3\nmin_interval = 0\ninclude_body = true\n";
    let c = Config::from_toml_str(text, "x").unwrap().modules;
    assert_eq!(c.ping.keepalive_interval, None);
    assert_eq!(c.ping.keepalive_timeout, Duration::from_secs(5));
    assert_eq!(c.push.max_registrations, 3);
    assert_eq!(c.push.min_interval, Duration::ZERO);
    assert!(c.push.include_body);
    for (text, line, key) in [
        (
            "[modules.push]\nmax_registrations = 0\n",
            2,
            "max_registrations",
        ),
        (
            "[modules.push]\n\nmin_interval = 100000\n",
            3,
            "min_interval",
        ),
        (
            "[modules.ping]\nkeepalive_timeout = 0\n",
            2,
            "keepalive_timeout",
        ),
        ("[modules.push]\nsecret = 1\n", 2, "secret"),
    ] {
        let (l, reason) = err(text);
        assert_eq!(l, line, "{reason}");
        assert!(reason.contains(key), "{reason}");
    }
}

#[test]
fn queue_bytes_and_write_timeout() {
    let d = Config::from_toml_str("", "x").unwrap().limits;
    assert_eq!(d.outbound_queue_bytes, 4 * 1024 * 1024);
    assert_eq!(d.write_timeout, Duration::from_secs(60));
    let text = "[limits]\noutbound_queue_bytes = 1048576\nwrite_timeout = 5\n";
    let l = Config::from_toml_str(text, "f").unwrap().limits;
    assert_eq!(l.queue().bytes, 1 << 20);
    assert_eq!(l.queue().count, 1000);
    assert_eq!(l.write_timeout, Duration::from_secs(5));
    assert_eq!(err("[limits]\noutbound_queue_bytes = 1000\n").0, 2);
    assert_eq!(err("[limits]\n\nwrite_timeout = 0\n").0, 3);
}

#[test]
fn storage_limits_and_synchronous() {
    let c = Config::from_toml_str("", "x").unwrap();
    assert_eq!(c.limits.max_pending_subscriptions, 100);
    assert_eq!(c.limits.max_pending_subscriptions_per_domain, 20);
    assert_eq!(c.limits.max_offline_bytes, 4 * 1024 * 1024);
    assert_eq!(c.limits.max_offline_share, 25);
    assert_eq!(c.storage.synchronous, crate::storage::Synchronous::Normal);
    let text = "[limits]\nmax_pending_subscriptions = 7\nmax_pending_subscriptions_per_domain = 3\n\
                max_offline_bytes = 65536\nmax_offline_share = 50\nmax_offline_messages = 9\n\
                [storage]\nsynchronous = \"full\"\n";
    let c = Config::from_toml_str(text, "f").unwrap();
    assert_eq!(c.storage.synchronous, crate::storage::Synchronous::Full);
    let r = c.limits.subscription_requests();
    assert_eq!((r.max_pending, r.max_per_domain), (7, 3));
    let q = c.limits.offline_quota();
    assert_eq!(
        (q.max_messages, q.max_bytes, q.share_percent),
        (9, 65536, 50)
    );
    // Out of range values and unknown modes are refused with their line.
    for (text, line) in [
        ("[limits]\nmax_pending_subscriptions = 0\n", 2),
        ("[limits]\n\nmax_pending_subscriptions = 100001\n", 3),
        ("[limits]\nmax_pending_subscriptions_per_domain = 0\n", 2),
        ("[limits]\nmax_offline_bytes = 1023\n", 2),
        ("[limits]\nmax_offline_share = 0\n", 2),
        ("[limits]\nmax_offline_share = 101\n", 2),
    ] {
        let (l, reason) = err(text);
        assert_eq!(l, line, "{text}: {reason}");
        assert!(reason.contains("between"), "{text}: {reason}");
    }
    let (line, reason) = err("[storage]\nsynchronous = \"off\"\n");
    assert_eq!(line, 2);
    assert!(reason.contains("normal"), "{reason}");
    assert_eq!(err("[storage]\nsynchronous = \"FULL\"\n").0, 2);
}

#[test]
fn s2s_abuse_keys() {
    let c = Config::from_toml_str("", "x").unwrap();
    assert!(!c.s2s.allow_private_addresses);
    assert_eq!(c.s2s.max_verifications, 100);
    assert_eq!(c.s2s.max_verifications_per_domain, 4);
    assert_eq!(c.s2s.verify_timeout, Duration::from_secs(30));
    assert_eq!(c.s2s.verify_backoff, Duration::from_secs(5));
    assert_eq!(c.s2s.verify_backoff_max, Duration::from_secs(300));
    let text = "[s2s]\nallow_private_addresses = true\nmax_verifications = 7\n\
                max_verifications_per_domain = 2\nverify_timeout = 9\nverify_backoff = 3\n\
                verify_backoff_max = 40\n";
    let c = Config::from_toml_str(text, "f").unwrap();
    assert!(c.s2s.allow_private_addresses);
    assert_eq!(c.s2s.max_verifications, 7);
    assert_eq!(c.s2s.max_verifications_per_domain, 2);
    assert_eq!(c.s2s.verify_timeout, Duration::from_secs(9));
    assert_eq!(c.s2s.verify_backoff, Duration::from_secs(3));
    assert_eq!(c.s2s.verify_backoff_max, Duration::from_secs(40));
    // Out of range, with the line.
    let table: &[(&str, usize)] = &[
        ("[s2s]\nmax_verifications = 0\n", 2),
        ("[s2s]\n\nmax_verifications = 100001\n", 3),
        ("[s2s]\nmax_verifications_per_domain = 0\n", 2),
        ("[s2s]\nverify_timeout = 0\n", 2),
        ("[s2s]\nverify_timeout = 601\n", 2),
        ("[s2s]\nverify_backoff = 0\n", 2),
        ("[s2s]\nverify_backoff_max = 86401\n", 2),
        ("[s2s]\nallow_private_addresses = \"yes\"\n", 2),
    ];
    for (text, line) in table {
        assert_eq!(err(text).0, *line, "{text}");
    }
    // The maximum backoff is at least the first one, whichever key is set.
    let (line, reason) = err("[s2s]\nverify_backoff = 10\nverify_backoff_max = 5\n");
    assert_eq!(line, 3);
    assert!(reason.contains("at least"), "{reason}");
    assert_eq!(err("[s2s]\nverify_backoff = 301\n").0, 2);
}

#[test]
fn connection_and_login_limits() {
    let d = Config::from_toml_str("", "x").unwrap().limits;
    assert_eq!(d.max_unauthenticated_connections, 1000);
    assert_eq!(d.login_free_failures, 3);
    assert_eq!(d.login_delay, Duration::from_secs(1));
    assert_eq!(d.login_max_delay, Duration::from_secs(8));
    assert_eq!(d.login_refuse_after, 10);
    assert_eq!(d.login_failure_decay, Duration::from_secs(60));
    assert_eq!(d.login_throttle_entries, 10_000);
    let text = "[limits]\nmax_unauthenticated_connections = 20\nlogin_free_failures = 0\n\
                login_delay_ms = 250\nlogin_max_delay = 2\nlogin_refuse_after = 4\n\
                login_failure_decay = 600\nlogin_throttle_entries = 16\n";
    let l = Config::from_toml_str(text, "x").unwrap().limits;
    assert_eq!(l.max_unauthenticated_connections, 20);
    assert_eq!(l.login_free_failures, 0);
    assert_eq!(l.login_delay, Duration::from_millis(250));
    assert_eq!(l.login_max_delay, Duration::from_secs(2));
    assert_eq!(l.login_refuse_after, 4);
    assert_eq!(l.login_failure_decay, Duration::from_secs(600));
    assert_eq!(l.login_throttle_entries, 16);
    for bad in [
        "max_unauthenticated_connections = 0",
        "login_free_failures = 101",
        "login_delay_ms = 60001",
        "login_max_delay = 0",
        "login_refuse_after = 0",
        "login_failure_decay = 0",
        "login_throttle_entries = 15",
    ] {
        let (line, reason) = err(&format!("[limits]\n{bad}\n"));
        assert_eq!(line, 2, "{bad}: {reason}");
        assert!(reason.contains("between"), "{bad}: {reason}");
    }
}

#[test]
fn blocking_section() {
    let c = Config::from_toml_str("", "x").unwrap().modules.blocking;
    assert!(c.enabled);
    assert_eq!(c.max_items, 1000);
    let text = "[modules.blocking]\nenabled = false\nmax_items = 5\n";
    let c = Config::from_toml_str(text, "b").unwrap().modules.blocking;
    assert!(!c.enabled);
    assert_eq!(c.max_items, 5);
    for bad in ["0", "100001", "-1"] {
        let (line, reason) = err(&format!("[modules.blocking]\n\nmax_items = {bad}\n"));
        assert_eq!(line, 3, "{bad}: {reason}");
    }
    let (line, reason) = err("[modules.blocking]\nmax = 3\n");
    assert_eq!(line, 2, "{reason}");
}
