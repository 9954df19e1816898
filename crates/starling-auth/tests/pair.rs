//! The client and server negotiators run against each other in memory, over
//! real rustls sessions (sans-IO), including the failure paths.

use std::sync::Arc;
use std::time::{Duration, Instant};

use starling_auth::negotiate::{
    ClientEvent, ClientNegotiator, ClientSettings, NegotiationError, ServerEvent, ServerHooks,
    ServerNegotiator, ServerSettings,
};
use starling_auth::sasl::{
    ChannelBinding, ClientConfig, Condition as SaslCondition, Mechanism, MemoryStore,
};
use starling_auth::tls::{self, ClientTlsBuilder, Trust};
use starling_jid::{BareJid, DomainPart, FullJid};
use starling_stanza::{StanzaError, StanzaErrorCondition};
use starling_stream::Condition;
use starling_testkit::tls::SelfSigned;
use starling_testkit::tls::pump::{C2sTls, Pump};
use starling_xml::Element;

struct Hooks {
    taken: Vec<String>,
}

impl ServerHooks for Hooks {
    fn serves(&self, domain: &DomainPart) -> bool {
        domain.as_str() == "localhost"
    }
    fn bind(&mut self, user: &BareJid, requested: Option<&str>) -> Result<FullJid, StanzaError> {
        let r = requested.unwrap_or("generated-1");
        if self.taken.iter().any(|t| t == r) {
            return Err(StanzaError::new(StanzaErrorCondition::Conflict));
        }
        self.taken.push(r.to_owned());
        Ok(user.with_resource_str(r).unwrap())
    }
}

struct Certs {
    server: Arc<rustls::ServerConfig>,
    roots: Arc<rustls::RootCertStore>,
}

fn certs(versions_tls12_only: bool) -> Certs {
    let identity = SelfSigned::new("localhost");
    let server = if versions_tls12_only {
        let ck = tls::certified_key(identity.chain.clone(), identity.key.clone_key()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(ck)));
        Arc::new(cfg)
    } else {
        identity.server_config()
    };
    Certs {
        server,
        roots: identity.roots.clone(),
    }
}

fn store() -> Arc<MemoryStore> {
    let mut s = MemoryStore::new();
    s.add_user("juliet", "r0m30myr0m30", 4096).unwrap();
    Arc::new(s)
}

#[derive(Default, Debug)]
struct Outcome {
    client: Vec<ClientEvent>,
    server: Vec<ServerEvent>,
    client_tls_cb: bool,
}

/// An in-memory connection through rustls, and what the client learnt
/// from its TLS session.
struct Link {
    pump: Pump,
    tls: C2sTls,
}

impl Link {
    fn new(certs: &Certs) -> Link {
        let client_cfg = ClientTlsBuilder::new(Trust::Roots(certs.roots.clone()))
            .build()
            .unwrap();
        Link {
            pump: Pump::new(client_cfg, certs.server.clone()),
            tls: C2sTls::new("localhost"),
        }
    }
}

/// Starts the client and shuttles bytes until neither side moves.
fn run(
    client: &mut ClientNegotiator,
    server: &mut ServerNegotiator<Hooks>,
    certs: &Certs,
) -> Outcome {
    let mut link = Link::new(certs);
    client.start();
    pump(&mut link, client, server)
}

/// Shuttles bytes between the two machines until neither moves, doing the
/// TLS handshakes when asked.
fn pump(
    link: &mut Link,
    client: &mut ClientNegotiator,
    server: &mut ServerNegotiator<Hooks>,
) -> Outcome {
    let seen = link.pump.run(client, server, &mut link.tls);
    Outcome {
        client: seen.client,
        server: seen.server,
        client_tls_cb: link.tls.client_binding,
    }
}

fn server_with(certs: &Certs, taken: Vec<String>) -> ServerNegotiator<Hooks> {
    let mut settings = ServerSettings::new(store());
    settings.tls_available = true;
    let _ = &certs.server;
    ServerNegotiator::new(settings, Hooks { taken }, None, Instant::now())
}

fn client_with(jid: &str, password: &str) -> ClientNegotiator {
    ClientNegotiator::new(
        ClientSettings::new(jid.parse().unwrap()),
        ClientConfig::password("juliet", password),
        None,
        Instant::now(),
    )
}

#[test]
fn starttls_scram_plus_bind_and_a_stanza() {
    let certs = certs(false);
    let mut server = server_with(&certs, vec![]);
    let mut client = client_with("juliet@localhost/balcony", "r0m30myr0m30");
    let o = run(&mut client, &mut server, &certs);
    assert!(o.client_tls_cb, "TLS 1.3 gives tls-exporter");
    let bound: FullJid = "juliet@localhost/balcony".parse().unwrap();
    assert!(
        o.client.contains(&ClientEvent::Bound(bound.clone())),
        "{:?}",
        o.client
    );
    assert!(
        o.server.contains(&ServerEvent::Bound(bound)),
        "{:?}",
        o.server
    );
    let Some(ServerEvent::Authenticated(a)) = o
        .server
        .iter()
        .find(|e| matches!(e, ServerEvent::Authenticated(_)))
    else {
        panic!()
    };
    assert_eq!(a.mechanism, Mechanism::ScramSha256Plus);
    assert!(server.is_tls());
}

#[test]
fn the_bound_session_carries_stanzas_both_ways_over_tls() {
    let certs = certs(false);
    let mut server = server_with(&certs, vec![]);
    let mut client = client_with("juliet@localhost/balcony", "r0m30myr0m30");
    let mut link = Link::new(&certs);
    client.start();
    let o = pump(&mut link, &mut client, &mut server);
    assert!(o.client.iter().any(|e| matches!(e, ClientEvent::Bound(_))));
    let msg = Element::builder("message", "jabber:client")
        .attr("to", "romeo@localhost")
        .build();
    let pres = Element::builder("presence", "jabber:client")
        .attr("from", "romeo@localhost/orchard")
        .build();
    client.send(&msg);
    server.send(&pres);
    // A legacy session request is answered by the negotiator itself.
    client.send(&"<iq xmlns='jabber:client' type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>".parse().unwrap());
    let o = pump(&mut link, &mut client, &mut server);
    assert_eq!(o.server, vec![ServerEvent::Stanza(msg)]);
    assert_eq!(o.client.len(), 2, "{:?}", o.client);
    assert_eq!(o.client[0], ClientEvent::Stanza(pres));
    assert!(
        matches!(&o.client[1], ClientEvent::Stanza(e) if e.attr("type") == Some("result") && e.attr("id") == Some("s1"))
    );
    // A clean close from the client is answered.
    client.close();
    let o = pump(&mut link, &mut client, &mut server);
    assert_eq!(o.server, vec![ServerEvent::Closed { peer_error: None }]);
    assert_eq!(o.client, vec![ClientEvent::Closed { error: None }]);
}

#[test]
fn tls12_falls_back_to_scram_without_plus() {
    let certs = certs(true);
    let mut server = server_with(&certs, vec![]);
    let mut client = client_with("juliet@localhost", "r0m30myr0m30");
    let o = run(&mut client, &mut server, &certs);
    assert!(!o.client_tls_cb);
    let Some(ServerEvent::Authenticated(a)) = o
        .server
        .iter()
        .find(|e| matches!(e, ServerEvent::Authenticated(_)))
    else {
        panic!("{:?}", o.server)
    };
    assert_eq!(a.mechanism, Mechanism::ScramSha256);
    assert!(
        o.client
            .iter()
            .any(|e| matches!(e, ClientEvent::Bound(j) if j.resource() == "generated-1"))
    );
}

#[test]
fn wrong_password_is_not_authorized() {
    let certs = certs(false);
    let mut server = server_with(&certs, vec![]);
    let mut client = client_with("juliet@localhost", "wrong");
    let o = run(&mut client, &mut server, &certs);
    let failed = o.client.iter().find_map(|e| match e {
        ClientEvent::Failed(NegotiationError::AuthFailed(f)) => Some(f.condition),
        _ => None,
    });
    assert_eq!(failed, Some(SaslCondition::NotAuthorized), "{:?}", o.client);
}

#[test]
fn bind_conflict_is_reported() {
    let certs = certs(false);
    let mut server = server_with(&certs, vec!["balcony".into()]);
    let mut client = client_with("juliet@localhost/balcony", "r0m30myr0m30");
    let o = run(&mut client, &mut server, &certs);
    let failed = o.client.iter().find_map(|e| match e {
        ClientEvent::Failed(NegotiationError::BindFailed(err)) => Some(err.condition.clone()),
        _ => None,
    });
    assert_eq!(
        failed,
        Some(StanzaErrorCondition::Conflict),
        "{:?}",
        o.client
    );
}

#[test]
fn client_refuses_a_server_without_tls() {
    let certs = certs(false);
    let mut settings = ServerSettings::new(store());
    settings.tls_available = false;
    settings.tls_required = false;
    let mut server = ServerNegotiator::new(settings, Hooks { taken: vec![] }, None, Instant::now());
    let mut client = client_with("juliet@localhost", "r0m30myr0m30");
    let o = run(&mut client, &mut server, &certs);
    assert!(
        o.client
            .contains(&ClientEvent::Failed(NegotiationError::TlsUnavailable)),
        "{:?}",
        o.client
    );
}

#[test]
fn plaintext_when_both_allow_it_uses_scram_not_plain() {
    let certs = certs(false);
    let mut settings = ServerSettings::new(store());
    settings.tls_available = false;
    settings.tls_required = false;
    let mut server = ServerNegotiator::new(settings, Hooks { taken: vec![] }, None, Instant::now());
    let mut cs = ClientSettings::new("juliet@localhost".parse().unwrap());
    cs.require_tls = false;
    let mut client = ClientNegotiator::new(
        cs,
        ClientConfig::password("juliet", "r0m30myr0m30"),
        None,
        Instant::now(),
    );
    let o = run(&mut client, &mut server, &certs);
    let Some(ServerEvent::Authenticated(a)) = o
        .server
        .iter()
        .find(|e| matches!(e, ServerEvent::Authenticated(_)))
    else {
        panic!("{:?}", o.server)
    };
    assert_eq!(a.mechanism, Mechanism::ScramSha256);
}

/// Drives the server alone with raw client bytes.
fn raw_server(settings: ServerSettings, input: &str) -> (String, Vec<ServerEvent>) {
    let mut server = ServerNegotiator::new(settings, Hooks { taken: vec![] }, None, Instant::now());
    server.feed(input.as_bytes());
    let mut events = Vec::new();
    while let Some(e) = server.next_event() {
        events.push(e);
    }
    (String::from_utf8(server.take_output()).unwrap(), events)
}

const HEADER: &str = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' \
    xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

#[test]
fn auth_before_starttls_gets_encryption_required() {
    let (out, _) = raw_server(
        ServerSettings::new(store()),
        &format!(
            "{HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABy</auth>"
        ),
    );
    assert!(
        out.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"),
        "{out}"
    );
    assert!(
        !out.contains("<mechanisms"),
        "no SASL before TLS when TLS is required: {out}"
    );
    assert!(out.contains("<encryption-required/>"), "{out}");
}

#[test]
fn stanza_before_auth_gets_not_authorized() {
    let (out, events) = raw_server(
        ServerSettings::new(store()),
        &format!("{HEADER}<message to='x@localhost'/>"),
    );
    assert!(
        out.contains("<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"),
        "{out}"
    );
    assert!(out.ends_with("</stream:stream>"));
    assert!(
        matches!(&events[..], [ServerEvent::Failed(e)] if e.condition == Condition::NotAuthorized)
    );
}

#[test]
fn unknown_domain_gets_host_unknown() {
    let (out, events) = raw_server(
        ServerSettings::new(store()),
        &HEADER.replace("to='localhost'", "to='elsewhere.example'"),
    );
    assert!(out.contains("<host-unknown"), "{out}");
    assert!(
        matches!(&events[..], [ServerEvent::Failed(e)] if e.condition == Condition::HostUnknown)
    );
}

#[test]
fn old_version_gets_unsupported_version() {
    let (out, _) = raw_server(
        ServerSettings::new(store()),
        &HEADER.replace("to='localhost' version='1.0'", "to='localhost'"),
    );
    assert!(out.contains("<unsupported-version"), "{out}");
}

#[test]
fn plaintext_after_starttls_is_discarded() {
    let (out, events) = raw_server(
        ServerSettings::new(store()),
        &format!(
            "{HEADER}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message to='injected@localhost'/>"
        ),
    );
    assert!(
        out.ends_with("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
        "{out}"
    );
    assert_eq!(events, vec![ServerEvent::StartTls]);
}

#[test]
fn bad_xml_during_negotiation_gets_a_stream_error() {
    let (out, events) = raw_server(
        ServerSettings::new(store()),
        &format!("{HEADER}<!-- comment -->"),
    );
    assert!(out.contains("<restricted-xml"), "{out}");
    assert!(
        matches!(&events[..], [ServerEvent::Failed(e)] if e.condition == Condition::RestrictedXml)
    );
    // Before any header: the server opens a stream to send the error.
    let (out, _) = raw_server(
        ServerSettings::new(store()),
        "<?xml version='1.0'?><!DOCTYPE x>",
    );
    assert!(
        out.starts_with("<?xml version='1.0'?><stream:stream"),
        "{out}"
    );
    assert!(out.contains("<restricted-xml"), "{out}");
}

#[test]
fn negotiation_times_out() {
    let start = Instant::now();
    let mut server = ServerNegotiator::new(
        ServerSettings::new(store()),
        Hooks { taken: vec![] },
        None,
        start,
    );
    server.feed(HEADER.as_bytes());
    while server.next_event().is_some() {}
    let deadline = server.poll_timeout().unwrap();
    assert_eq!(deadline, start + Duration::from_secs(60));
    server.handle_timeout(deadline - Duration::from_secs(1));
    assert!(!server.is_closed());
    server.handle_timeout(deadline);
    assert!(
        matches!(server.next_event(), Some(ServerEvent::Failed(e)) if e.condition == Condition::ConnectionTimeout)
    );
    assert!(
        String::from_utf8(server.take_output())
            .unwrap()
            .contains("<connection-timeout")
    );
}

#[test]
fn too_many_failed_attempts_close_the_stream() {
    let mut settings = ServerSettings::new(store());
    settings.tls_required = false;
    settings.tls_available = false;
    let mut sasl = (*settings.sasl).clone();
    sasl.plain_without_tls = true;
    settings.sasl = Arc::new(sasl);
    // PLAIN with a wrong password, four times: "\0juliet\0nope".
    let bad =
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABub3Bl</auth>";
    let (out, events) = raw_server(settings, &format!("{HEADER}{bad}{bad}{bad}{bad}"));
    assert_eq!(out.matches("<not-authorized/>").count(), 3, "{out}");
    assert!(
        matches!(events.last(), Some(ServerEvent::Failed(e)) if e.condition == Condition::PolicyViolation)
    );
}

/// What a client on direct TLS (with a tls-exporter binding) sends for the
/// given features.
fn client_auth_for(features: &str) -> String {
    let cb = ChannelBinding::tls_exporter(vec![7; 32]);
    let mut client = ClientNegotiator::new(
        ClientSettings::new("juliet@localhost".parse().unwrap()),
        ClientConfig::password("juliet", "pw"),
        Some(Some(cb)),
        Instant::now(),
    );
    client.start();
    let _ = client.take_output();
    client.feed(
        format!(
            "<stream:stream from='localhost' id='1' version='1.0' xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams'><stream:features>{features}</stream:features>"
        )
        .as_bytes(),
    );
    while client.next_event().is_some() {}
    String::from_utf8(client.take_output()).unwrap()
}

#[test]
fn plus_only_with_a_channel_binding_the_server_advertises() {
    let mechs = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
        <mechanism>SCRAM-SHA-256-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism></mechanisms>";
    // No XEP-0440: plain SCRAM, and the gs2 flag `n` (base64 "biws" is
    // "n,,"), so a server that offered -PLUS sees no downgrade.
    let out = client_auth_for(mechs);
    assert!(out.contains("mechanism='SCRAM-SHA-256'>biws"), "{out}");
    // XEP-0440 naming another binding only: the same.
    let other = "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-unique'/></sasl-channel-binding>";
    let out = client_auth_for(&format!("{mechs}{other}"));
    assert!(out.contains("mechanism='SCRAM-SHA-256'>biws"), "{out}");
    // XEP-0440 naming tls-exporter: -PLUS with `p=tls-exporter`.
    let exporter = "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding>";
    let out = client_auth_for(&format!("{mechs}{exporter}"));
    assert!(
        out.contains("mechanism='SCRAM-SHA-256-PLUS'>cD10bHMtZXhwb3J0ZXIs"),
        "{out}"
    );
}
