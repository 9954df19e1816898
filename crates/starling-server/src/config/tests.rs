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
