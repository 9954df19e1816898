//! Deferred SASL (`ServerSettings::offload_sasl`): the server negotiator
//! hands its SASL steps out as jobs. Whole exchanges give the same bytes
//! and events as the inline steps, and input that arrives while a job is
//! out waits for its result.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{FixedNonce, Hooks};
use starling_auth::negotiate::{
    ClientEvent, ClientNegotiator, ClientSettings, ServerEvent, ServerNegotiator, ServerSettings,
};
use starling_auth::sasl::{ClientConfig, Mechanism, MemoryStore, ServerConfig};
use starling_stream::Condition;

fn store() -> Arc<MemoryStore> {
    let mut s = MemoryStore::new();
    s.add_user("juliet", "r0m30myr0m30", 4096).unwrap();
    Arc::new(s)
}

fn settings(store: &Arc<MemoryStore>, offload: bool) -> ServerSettings {
    let mut s = ServerSettings::new(store.clone());
    s.sasl = Arc::new(ServerConfig {
        max_attempts: 3,
        random: Arc::new(FixedNonce("server-nonce")),
        ..ServerConfig::default()
    });
    s.offload_sasl = offload;
    s
}

/// A server on a connection that is TLS from the start (XEP-0368), so
/// that PLAIN is allowed; the bytes travel unencrypted in memory.
fn server(store: &Arc<MemoryStore>, offload: bool) -> ServerNegotiator<Hooks> {
    ServerNegotiator::new(
        settings(store, offload),
        Hooks,
        Some(Vec::new()),
        Instant::now(),
    )
}

/// The server's events, running each SASL job inline as it appears.
fn server_events(server: &mut ServerNegotiator<Hooks>, jobs: &mut usize) -> Vec<ServerEvent> {
    let mut events = Vec::new();
    loop {
        while let Some(e) = server.next_event() {
            events.push(e);
        }
        match server.take_sasl_job() {
            Some(job) => {
                *jobs += 1;
                server.sasl_done(job.run());
            }
            None => return events,
        }
    }
}

/// Stream ids are random: every `id='…'` of 32 hex digits is blanked.
fn normalize(bytes: &[u8]) -> String {
    let s = String::from_utf8(bytes.to_vec()).unwrap();
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find("id='") {
        out.push_str(&rest[..i + 4]);
        rest = &rest[i + 4..];
        let hex = rest.len() >= 33
            && rest[..32].bytes().all(|b| b.is_ascii_hexdigit())
            && rest.as_bytes()[32] == b'\'';
        if hex {
            out.push('*');
            rest = &rest[32..];
        }
    }
    out.push_str(rest);
    out
}

#[derive(Debug, PartialEq)]
struct Transcript {
    /// What the server wrote, stream ids blanked.
    server_out: String,
    server: Vec<ServerEvent>,
    client: Vec<ClientEvent>,
    jobs: usize,
}

/// A client with `mechanisms` and `password` against the server, until
/// neither moves.
fn exchange(
    store: &Arc<MemoryStore>,
    mechanisms: &[Mechanism],
    password: &str,
    offload: bool,
) -> Transcript {
    let mut server = server(store, offload);
    let sasl = ClientConfig {
        mechanisms: mechanisms.to_vec(),
        random: Arc::new(FixedNonce("client-nonce")),
        ..ClientConfig::password("juliet", password)
    };
    let jid = "juliet@localhost/balcony".parse().unwrap();
    let mut client =
        ClientNegotiator::new(ClientSettings::new(jid), sasl, Some(None), Instant::now());
    client.start();
    let mut t = Transcript {
        server_out: String::new(),
        server: Vec::new(),
        client: Vec::new(),
        jobs: 0,
    };
    let mut server_bytes = Vec::new();
    for _ in 0..50 {
        let to_server = client.take_output();
        server.feed(&to_server);
        t.server.extend(server_events(&mut server, &mut t.jobs));
        let to_client = server.take_output();
        client.feed(&to_client);
        t.client.extend(std::iter::from_fn(|| client.next_event()));
        server_bytes.extend_from_slice(&to_client);
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
    }
    t.server_out = normalize(&server_bytes);
    t
}

/// Raw client input, fed to the server at once.
fn raw(store: &Arc<MemoryStore>, input: &str, offload: bool) -> Transcript {
    let mut server = server(store, offload);
    server.feed(input.as_bytes());
    let mut jobs = 0;
    let events = server_events(&mut server, &mut jobs);
    Transcript {
        server_out: normalize(&server.take_output()),
        server: events,
        client: Vec::new(),
        jobs,
    }
}

/// Runs `f` inline and offloaded, with the same accounts (and salts):
/// same transcript, and jobs only when offloaded.
fn same_either_way(f: impl Fn(&Arc<MemoryStore>, bool) -> Transcript) -> Transcript {
    let store = store();
    let inline = f(&store, false);
    let offloaded = f(&store, true);
    assert_eq!(inline.jobs, 0);
    assert!(offloaded.jobs > 0, "no job was handed out");
    assert_eq!(
        Transcript {
            jobs: 0,
            ..offloaded
        },
        inline
    );
    inline
}

const HEADER: &str = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' \
    xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";

fn bound(t: &Transcript) -> bool {
    t.client.iter().any(|e| matches!(e, ClientEvent::Bound(_)))
        && t.server.iter().any(|e| matches!(e, ServerEvent::Bound(_)))
}

#[test]
fn scram_sha_256_is_the_same_offloaded() {
    let t = same_either_way(|s, offload| {
        exchange(s, &[Mechanism::ScramSha256], "r0m30myr0m30", offload)
    });
    assert!(bound(&t), "{t:#?}");
    assert!(t.server_out.contains("<challenge"));
}

#[test]
fn plain_is_the_same_offloaded() {
    let t = same_either_way(|s, offload| exchange(s, &[Mechanism::Plain], "r0m30myr0m30", offload));
    assert!(bound(&t), "{t:#?}");
}

#[test]
fn a_wrong_password_is_the_same_offloaded() {
    for m in [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ] {
        let t = same_either_way(|s, offload| exchange(s, &[m], "wrong", offload));
        assert!(t.server_out.contains("<not-authorized/>"), "{m:?}: {t:#?}");
        assert!(!bound(&t));
    }
}

#[test]
fn retries_are_bounded_the_same_offloaded() {
    // Three attempts allowed: the third failure ends the stream.
    let wrong = format!("<auth xmlns='{SASL}' mechanism='PLAIN'>AGp1bGlldAB3cm9uZw==</auth>");
    let input = format!("{HEADER}{}", wrong.repeat(4));
    let t = same_either_way(|s, offload| raw(s, &input, offload));
    assert_eq!(t.server_out.matches("<failure").count(), 3, "{t:#?}");
    assert!(matches!(
        t.server.last(),
        Some(ServerEvent::Failed(e)) if e.condition == Condition::PolicyViolation
    ));
}

#[test]
fn malformed_and_unknown_steps_are_the_same_offloaded() {
    let input = format!(
        "{HEADER}<auth xmlns='{SASL}' mechanism='X-UNKNOWN'/>\
         <auth xmlns='{SASL}' mechanism='PLAIN'>!!not base64!!</auth>\
         <auth xmlns='{SASL}' mechanism='SCRAM-SHA-256'>biwsbj1qdWxpZXQscj1hYmM=</auth>\
         <response xmlns='{SASL}'>bm90IGEgY2xpZW50LWZpbmFs</response>\
         <abort xmlns='{SASL}'/>"
    );
    let t = same_either_way(|s, offload| raw(s, &input, offload));
    assert!(t.server_out.contains("<invalid-mechanism/>"), "{t:#?}");
}

#[test]
fn input_fed_while_a_job_is_out_is_processed_after_it() {
    let store = store();
    let mut server = server(&store, true);
    server.feed(
        format!(
            "{HEADER}<auth xmlns='{SASL}' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>"
        )
        .as_bytes(),
    );
    assert_eq!(server.next_event(), None);
    let features = server.take_output();
    assert!(features.ends_with(b"</stream:features>"));
    let job = server.take_sasl_job().expect("a job");
    assert!(server.sasl_job_pending());
    assert!(server.take_sasl_job().is_none(), "one job at a time");

    // The client pipelines its restart and binding meanwhile.
    server.feed(HEADER.as_bytes());
    server.feed(
        b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
          <resource>balcony</resource></bind></iq>",
    );
    assert_eq!(server.next_event(), None, "nothing before the job is done");
    assert!(!server.has_output());

    let done = std::thread::spawn(move || job.run()).join().unwrap();
    server.sasl_done(done);
    assert!(!server.sasl_job_pending());
    let mut jobs = 0;
    let events = server_events(&mut server, &mut jobs);
    assert_eq!(jobs, 0);
    assert!(
        matches!(&events[..], [ServerEvent::Authenticated(a), ServerEvent::Bound(j)]
        if a.jid.as_str() == "juliet@localhost" && j.as_str() == "juliet@localhost/balcony")
    );
    let out = String::from_utf8(server.take_output()).unwrap();
    let success = out.find("<success").unwrap();
    let header = out.find("<stream:stream").unwrap();
    let bind = out.find("<jid>juliet@localhost/balcony</jid>").unwrap();
    assert!(success < header && header < bind, "{out}");
}

#[test]
fn the_deadline_still_applies_while_a_job_is_out() {
    let store = store();
    let mut server = server(&store, true);
    server.feed(
        format!(
            "{HEADER}<auth xmlns='{SASL}' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>"
        )
        .as_bytes(),
    );
    assert_eq!(server.next_event(), None);
    let _ = server.take_output();
    let job = server.take_sasl_job().unwrap();
    let deadline = server.poll_timeout().expect("a negotiation deadline");
    server.handle_timeout(deadline);
    assert!(matches!(
        server.next_event(),
        Some(ServerEvent::Failed(e)) if e.condition == Condition::ConnectionTimeout
    ));
    assert!(server.is_closed());
    let _ = server.take_output();
    // The late result is dropped: nothing more is written.
    server.sasl_done(job.run());
    assert_eq!(server.next_event(), None);
    assert!(!server.has_output());
}

#[test]
fn no_jobs_without_offload() {
    let store = store();
    let mut server = server(&store, false);
    server.feed(
        format!(
            "{HEADER}<auth xmlns='{SASL}' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>"
        )
        .as_bytes(),
    );
    assert!(matches!(
        server.next_event(),
        Some(ServerEvent::Authenticated(_))
    ));
    assert!(server.take_sasl_job().is_none());
    assert!(!server.sasl_job_pending());
}

/// Only the steps that may block become jobs: SCRAM's client-first
/// message (the credential lookup) and PLAIN (lookup and key derivation);
/// SCRAM's client-final (a few HMACs with the keys already loaded) runs
/// inline.
#[test]
fn only_steps_that_may_block_are_jobs() {
    let store = store();
    for (m, jobs) in [
        (Mechanism::ScramSha256, 1),
        (Mechanism::ScramSha1, 1),
        (Mechanism::Plain, 1),
    ] {
        let t = exchange(&store, &[m], "r0m30myr0m30", true);
        assert!(bound(&t), "{m:?}: {t:#?}");
        assert_eq!(t.jobs, jobs, "{m:?}");
    }
}
