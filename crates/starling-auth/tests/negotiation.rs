//! Whole exchanges through the element API: every RFC 6120 §6.5 failure
//! condition where it applies, out-of-order elements, channel binding,
//! downgrade detection, and the client's checks of the server.

mod common;

use std::sync::Arc;

use common::*;
use starling_auth::sasl::{
    AccountState, ChannelBinding, ChannelBindingType, ClientConfig, ClientConnection, ClientError,
    ClientStep, Condition, CredentialStore, Failure, Mechanism, MemoryStore, SaslMessage,
    ScramCredentials, ScramHash, ScramServerError, ServerConfig, ServerError, ServerStep,
    StoreError,
};
use starling_jid::DomainPart;
use starling_xml::Element;

fn cond(step: ServerStep) -> Condition {
    failure(step).0.condition
}

fn names(ms: &[Mechanism]) -> Vec<String> {
    ms.iter().map(|m| m.as_str().to_owned()).collect()
}

fn exporter(byte: u8) -> ChannelBinding {
    ChannelBinding::tls_exporter(vec![byte; ChannelBinding::TLS_EXPORTER_LEN])
}

fn cb_conn(cbs: Vec<ChannelBinding>) -> starling_auth::ServerConnection {
    starling_auth::ServerConnection {
        channel_bindings: cbs,
        ..tls_conn()
    }
}

fn client_tls(cb: Option<ChannelBinding>) -> ClientConnection {
    ClientConnection {
        tls: true,
        channel_binding: cb,
    }
}

/// Runs a SCRAM exchange up to the server's answer to client-final.
fn scram_to_final(
    server: &mut starling_auth::SaslServer,
    client: &mut starling_auth::SaslClient,
    mechanism: Mechanism,
    server_offers_plus: bool,
) -> ServerStep {
    let auth = client
        .start_mechanism(mechanism, server_offers_plus)
        .unwrap();
    let ServerStep::Challenge(ch) = server.receive(&auth).unwrap() else {
        panic!("no challenge")
    };
    let ClientStep::Response(resp) = client.receive(&ch).unwrap() else {
        panic!("no response")
    };
    server.receive(&resp).unwrap()
}

// ---------------------------------------------------------------------------
// Mechanism offers and selection

#[test]
fn offered_mechanisms_follow_the_connection() {
    let s = server(plain_conn());
    assert_eq!(
        s.mechanisms(),
        [Mechanism::ScramSha256, Mechanism::ScramSha1]
    );
    let s = server(tls_conn());
    assert_eq!(
        s.mechanisms(),
        [
            Mechanism::ScramSha256,
            Mechanism::ScramSha1,
            Mechanism::Plain
        ]
    );
    let mut conn = cb_conn(vec![exporter(1)]);
    conn.external_identity = Some("juliet@example.com".parse().unwrap());
    let s = server(conn.clone());
    assert_eq!(
        s.mechanisms(),
        [
            Mechanism::External,
            Mechanism::ScramSha256Plus,
            Mechanism::ScramSha1Plus,
            Mechanism::ScramSha256,
            Mechanism::ScramSha1,
            Mechanism::Plain
        ]
    );
    let config = ServerConfig {
        anonymous: true,
        ..server_config()
    };
    let s = server_with(config, store(), plain_conn());
    assert_eq!(
        s.mechanism_names(),
        ["SCRAM-SHA-256", "SCRAM-SHA-1", "ANONYMOUS"]
    );
    let config = ServerConfig {
        plain_without_tls: true,
        mechanisms: vec![Mechanism::Plain],
        ..server_config()
    };
    let s = server_with(config, store(), plain_conn());
    assert_eq!(s.mechanisms(), [Mechanism::Plain]);
}

#[test]
fn client_picks_the_strongest_usable_mechanism() {
    use starling_auth::sasl::select_mechanism;
    let all = names(&Mechanism::ALL);
    let pw = ClientConfig::password("juliet", "pw");
    let cb = client_tls(Some(exporter(1)));
    assert_eq!(
        select_mechanism(&pw, &cb, &all),
        Some(Mechanism::ScramSha256Plus)
    );
    assert_eq!(
        select_mechanism(
            &pw,
            &cb,
            &names(&[Mechanism::ScramSha1Plus, Mechanism::ScramSha256])
        ),
        Some(Mechanism::ScramSha1Plus)
    );
    // No channel binding data: no -PLUS.
    assert_eq!(
        select_mechanism(
            &pw,
            &client_tls(None),
            &names(&[Mechanism::ScramSha1Plus, Mechanism::ScramSha1])
        ),
        Some(Mechanism::ScramSha1)
    );
    // PLAIN only over TLS.
    assert_eq!(
        select_mechanism(&pw, &client_tls(None), &["PLAIN"]),
        Some(Mechanism::Plain)
    );
    assert_eq!(
        select_mechanism(&pw, &ClientConnection::default(), &["PLAIN"]),
        None
    );
    let lax = ClientConfig {
        plain_without_tls: true,
        ..pw.clone()
    };
    assert_eq!(
        select_mechanism(&lax, &ClientConnection::default(), &["PLAIN"]),
        Some(Mechanism::Plain)
    );
    // The allow-list.
    let no_sha1 = ClientConfig {
        mechanisms: vec![Mechanism::ScramSha256, Mechanism::Plain],
        ..pw.clone()
    };
    assert_eq!(
        select_mechanism(&no_sha1, &client_tls(None), &["SCRAM-SHA-1", "PLAIN"]),
        Some(Mechanism::Plain)
    );
    // EXTERNAL with a client certificate, before any password mechanism.
    let cert = ClientConfig {
        client_certificate: true,
        ..pw.clone()
    };
    assert_eq!(
        select_mechanism(&cert, &cb, &all),
        Some(Mechanism::External)
    );
    assert_eq!(
        select_mechanism(&cert, &cb, &["SCRAM-SHA-1"]),
        Some(Mechanism::ScramSha1)
    );
    assert_eq!(
        select_mechanism(&ClientConfig::external(), &cb, &["SCRAM-SHA-1"]),
        None
    );
    // ANONYMOUS only when asked for.
    assert_eq!(select_mechanism(&pw, &cb, &["ANONYMOUS"]), None);
    assert_eq!(
        select_mechanism(&ClientConfig::anonymous(), &cb, &["ANONYMOUS"]),
        Some(Mechanism::Anonymous)
    );
    // Unknown names are ignored.
    assert_eq!(
        select_mechanism(&pw, &cb, &["DIGEST-MD5", "X-OAUTH2"]),
        None
    );
    let mut c = client(pw, cb);
    assert_eq!(
        c.start(&["DIGEST-MD5"]).unwrap_err(),
        ClientError::NoMechanism {
            offered: "DIGEST-MD5".into()
        }
    );
}

// ---------------------------------------------------------------------------
// Successful exchanges of every mechanism

#[test]
fn every_password_mechanism_succeeds() {
    for m in [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ] {
        let mut s = server(cb_conn(vec![exporter(7)]));
        let config = ClientConfig {
            mechanisms: vec![m],
            ..client_config("juliet", "r0m30myr0m30")
        };
        let mut c = client(config, client_tls(Some(exporter(7))));
        match run_all(&mut c, &mut s) {
            End::Success(a) => {
                assert_eq!(a.mechanism, m);
                assert_eq!(a.jid.as_str(), "juliet@example.com");
                assert_eq!(a.authzid, None);
                assert_eq!(a.authorized_jid().as_str(), "juliet@example.com");
            }
            other => panic!("{m}: {other:?}"),
        }
        assert_eq!(c.mechanism(), Some(m));
    }
}

#[test]
fn tls_server_end_point_binding() {
    let der = [0x30, 0x03, 0x02, 0x01, 0x05];
    let cb = ChannelBinding::tls_server_end_point(
        &der,
        Some(starling_auth::sasl::SignatureHash::Sha256),
    )
    .unwrap();
    assert_eq!(cb.kind(), ChannelBindingType::TlsServerEndPoint);
    // The server has both types; the client uses the one it has.
    let mut s = server(cb_conn(vec![exporter(1), cb.clone()]));
    let mut c = client(
        client_config("juliet", "r0m30myr0m30"),
        client_tls(Some(cb)),
    );
    let auth = c.start(&s.mechanism_names()).unwrap();
    assert!(text(&auth).starts_with("p=tls-server-end-point,,n=juliet,r="));
    let ServerStep::Challenge(ch) = s.receive(&auth).unwrap() else {
        panic!()
    };
    let ClientStep::Response(resp) = c.receive(&ch).unwrap() else {
        panic!()
    };
    assert!(matches!(
        s.receive(&resp).unwrap(),
        ServerStep::Success { .. }
    ));
}

#[test]
fn username_escaping_end_to_end() {
    // ',' and '=' are allowed in a localpart and must be escaped in SCRAM.
    let mut store = MemoryStore::new();
    store.add_user("a=b,c", "pw", ITERATIONS).unwrap();
    let mut s = server_with(server_config(), store, plain_conn());
    let mut c = client(client_config("a=b,c", "pw"), ClientConnection::default());
    let auth = c.start(&s.mechanism_names()).unwrap();
    assert!(
        text(&auth).starts_with("n,,n=a=3Db=2Cc,r="),
        "{}",
        text(&auth)
    );
    let ServerStep::Challenge(ch) = s.receive(&auth).unwrap() else {
        panic!()
    };
    let ClientStep::Response(resp) = c.receive(&ch).unwrap() else {
        panic!()
    };
    let ServerStep::Success { authenticated, .. } = s.receive(&resp).unwrap() else {
        panic!()
    };
    assert_eq!(authenticated.jid.as_str(), "a=b,c@example.com");
}

#[test]
fn user_names_are_prepared_as_localparts() {
    let mut s = server(tls_conn());
    let mut c = client(client_config("JULIET", "r0m30myr0m30"), client_tls(None));
    let End::Success(a) = run_all(&mut c, &mut s) else {
        panic!()
    };
    assert_eq!(a.jid.as_str(), "juliet@example.com");
}

#[test]
fn scram_without_initial_response() {
    let mut s = server(plain_conn());
    let mut c = client(
        client_config("juliet", "r0m30myr0m30"),
        ClientConnection::default(),
    );
    let auth = c.start(&["SCRAM-SHA-1"]).unwrap();
    let first = data(&auth);
    // Send <auth/> without the initial response; the server asks for it.
    let ServerStep::Challenge(empty) = s.receive(&common::auth("SCRAM-SHA-1", None)).unwrap()
    else {
        panic!()
    };
    assert_eq!(data(&empty), b"");
    assert_eq!(empty.text(), "");
    let ServerStep::Challenge(ch) = s.receive(&response(&first)).unwrap() else {
        panic!()
    };
    let ClientStep::Response(resp) = c.receive(&ch).unwrap() else {
        panic!()
    };
    assert!(matches!(
        s.receive(&resp).unwrap(),
        ServerStep::Success { .. }
    ));
}

#[test]
fn plain_vectors() {
    let mut s = server(tls_conn());
    let ServerStep::Success {
        element,
        authenticated,
    } = s
        .receive(&auth("PLAIN", Some(b"\0juliet\0r0m30myr0m30")))
        .unwrap()
    else {
        panic!()
    };
    // RFC 6120 §6.4.6: no additional data, so an empty <success/>.
    assert_eq!(element.text(), "");
    assert_eq!(authenticated.mechanism, Mechanism::Plain);
    // With an authzid equal to the user's bare JID.
    let mut s = server(tls_conn());
    let ServerStep::Success { authenticated, .. } = s
        .receive(&auth(
            "PLAIN",
            Some(b"juliet@example.com\0juliet\0r0m30myr0m30"),
        ))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        authenticated.authzid.unwrap().as_str(),
        "juliet@example.com"
    );
    // Malformed messages.
    for bad in [
        &b"\0juliet\0\xff\xfe"[..],
        b"juliet",
        b"\0juliet",
        b"\0juliet\0pw\0",
        b"\0\0pw",
        b"\0juliet\0",
        b"",
    ] {
        let mut s = server(tls_conn());
        let (f, _) = failure(s.receive(&auth("PLAIN", Some(bad))).unwrap());
        assert_eq!(f.condition, Condition::MalformedRequest, "{bad:?}");
    }
    // The client writes the RFC 4616 format.
    let config = ClientConfig {
        authzid: Some("juliet@example.com".into()),
        ..client_config("juliet", "pw")
    };
    let mut c = client(config, client_tls(None));
    let auth = c.start(&["PLAIN"]).unwrap();
    assert_eq!(data(&auth), b"juliet@example.com\0juliet\0pw");
}

#[test]
fn plain_verifies_against_sha1_only_credentials() {
    let mut store = MemoryStore::new();
    store
        .set_credentials(
            "juliet",
            ScramCredentials::derive("pw", b"0123456789abcdef", ITERATIONS, ScramHash::Sha1)
                .unwrap(),
        )
        .unwrap();
    let mut s = server_with(server_config(), store, tls_conn());
    assert!(matches!(
        s.receive(&auth("PLAIN", Some(b"\0juliet\0pw"))).unwrap(),
        ServerStep::Success { .. }
    ));
}

#[test]
fn external() {
    let mut conn = tls_conn();
    conn.external_identity = Some("juliet@example.com".parse().unwrap());
    // Empty initial response ("="): the identity of the certificate.
    let mut s = server(conn.clone());
    let a = auth("EXTERNAL", Some(b""));
    assert_eq!(a.text(), "=");
    let ServerStep::Success { authenticated, .. } = s.receive(&a).unwrap() else {
        panic!()
    };
    assert_eq!(authenticated.jid.as_str(), "juliet@example.com");
    assert_eq!(authenticated.mechanism, Mechanism::External);
    // No initial response: an empty challenge, then the response.
    let mut s = server(conn.clone());
    assert!(matches!(
        s.receive(&auth("EXTERNAL", None)).unwrap(),
        ServerStep::Challenge(_)
    ));
    let ServerStep::Success { authenticated, .. } =
        s.receive(&response(b"juliet@example.com")).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        authenticated.authzid.unwrap().as_str(),
        "juliet@example.com"
    );
    // Another authzid is refused by the default policy...
    let mut s = server(conn.clone());
    assert_eq!(
        cond(
            s.receive(&auth("EXTERNAL", Some(b"romeo@example.com")))
                .unwrap()
        ),
        Condition::InvalidAuthzid
    );
    // ...and the client end.
    let mut s = server(conn.clone());
    let mut c = client(ClientConfig::external(), client_tls(None));
    let End::Success(a) = run_all(&mut c, &mut s) else {
        panic!()
    };
    assert_eq!(a.jid.as_str(), "juliet@example.com");
    // A disabled account cannot log in with its certificate either.
    let mut st = store();
    st.set_state("juliet", AccountState::Disabled);
    let mut s = server_with(server_config(), st, conn);
    assert_eq!(
        cond(s.receive(&auth("EXTERNAL", Some(b""))).unwrap()),
        Condition::AccountDisabled
    );
}

#[test]
fn anonymous() {
    let config = || ServerConfig {
        anonymous: true,
        ..server_config()
    };
    let mut s = server_with(config(), store(), plain_conn());
    let ServerStep::Success { authenticated, .. } =
        s.receive(&auth("ANONYMOUS", Some(b"sirhc"))).unwrap()
    else {
        panic!()
    };
    assert_eq!(authenticated.mechanism, Mechanism::Anonymous);
    assert_eq!(authenticated.trace.as_deref(), Some("sirhc"));
    assert_eq!(authenticated.jid.domain(), "example.com");
    assert_eq!(authenticated.jid.node().unwrap().len(), 32);
    // Two anonymous logins get different names.
    let mut s1 = server_with(config(), store(), plain_conn());
    let mut s2 = server_with(config(), store(), plain_conn());
    let get =
        |s: &mut starling_auth::SaslServer| match s.receive(&auth("ANONYMOUS", Some(b""))).unwrap()
        {
            ServerStep::Success { authenticated, .. } => authenticated,
            other => panic!("{other:?}"),
        };
    let (a1, a2) = (get(&mut s1), get(&mut s2));
    assert_ne!(a1.jid, a2.jid);
    assert_eq!(a1.trace, None);
    // Bad traces.
    for bad in [&b"\xff"[..], b"a\0b", "x".repeat(256).as_bytes()] {
        let mut s = server_with(config(), store(), plain_conn());
        assert_eq!(
            cond(s.receive(&auth("ANONYMOUS", Some(bad))).unwrap()),
            Condition::MalformedRequest
        );
    }
    // The client end.
    let mut s = server_with(config(), store(), plain_conn());
    let mut c = client(
        ClientConfig {
            anonymous_trace: Some("trace".into()),
            ..ClientConfig::anonymous()
        },
        ClientConnection::default(),
    );
    let End::Success(a) = run_all(&mut c, &mut s) else {
        panic!()
    };
    assert_eq!(a.trace.as_deref(), Some("trace"));
}

// ---------------------------------------------------------------------------
// RFC 6120 §6.5 conditions

#[test]
fn condition_aborted() {
    let mut s = server(plain_conn());
    let mut c = client(
        client_config("juliet", "r0m30myr0m30"),
        ClientConnection::default(),
    );
    let a = c.start(&["SCRAM-SHA-1"]).unwrap();
    assert!(matches!(s.receive(&a).unwrap(), ServerStep::Challenge(_)));
    let (f, retry) = failure(
        s.receive(&starling_auth::SaslClient::abort_element())
            .unwrap(),
    );
    assert_eq!(f.condition, Condition::Aborted);
    assert!(retry);
    // The client hears of it.
    assert_eq!(c.receive(&f.to_element()).unwrap(), ClientStep::Failure(f));
    // An abort outside an exchange is answered the same way.
    let mut s = server(plain_conn());
    assert_eq!(cond(s.receive(&abort()).unwrap()), Condition::Aborted);
}

#[test]
fn condition_account_disabled_and_credentials_expired() {
    for (state, condition) in [
        (AccountState::Disabled, Condition::AccountDisabled),
        (
            AccountState::CredentialsExpired,
            Condition::CredentialsExpired,
        ),
    ] {
        for m in [Mechanism::ScramSha256, Mechanism::Plain] {
            let mut st = store();
            st.set_state("juliet", state);
            let mut s = server_with(server_config(), st.clone(), tls_conn());
            let mut c = client(
                ClientConfig {
                    mechanisms: vec![m],
                    ..client_config("juliet", "r0m30myr0m30")
                },
                client_tls(None),
            );
            let End::ServerFailure(f) = run_all(&mut c, &mut s) else {
                panic!()
            };
            assert_eq!(f.condition, condition, "{m}");
            // With a wrong password the state is not revealed.
            let mut s = server_with(server_config(), st, tls_conn());
            let mut c = client(
                ClientConfig {
                    mechanisms: vec![m],
                    ..client_config("juliet", "wrong")
                },
                client_tls(None),
            );
            let End::ServerFailure(f) = run_all(&mut c, &mut s) else {
                panic!()
            };
            assert_eq!(f.condition, Condition::NotAuthorized, "{m}");
        }
    }
}

#[test]
fn condition_encryption_required() {
    let mut s = server(plain_conn());
    assert_eq!(
        cond(
            s.receive(&auth("PLAIN", Some(b"\0juliet\0r0m30myr0m30")))
                .unwrap()
        ),
        Condition::EncryptionRequired
    );
    // -PLUS without TLS.
    let mut s = server(plain_conn());
    assert_eq!(
        cond(s.receive(&auth("SCRAM-SHA-256-PLUS", None)).unwrap()),
        Condition::EncryptionRequired
    );
}

#[test]
fn condition_incorrect_encoding() {
    let mut s = server(plain_conn());
    let mut bad = Element::new("auth", starling_stream::ns::SASL);
    bad.set_attr("mechanism", Some("SCRAM-SHA-1"));
    bad.append_text("not base64!");
    assert_eq!(cond(s.receive(&bad).unwrap()), Condition::IncorrectEncoding);
    // In a response too, and whitespace is not tolerated.
    let mut c = client(
        client_config("juliet", "r0m30myr0m30"),
        ClientConnection::default(),
    );
    let a = c.start(&["SCRAM-SHA-1"]).unwrap();
    assert!(matches!(s.receive(&a).unwrap(), ServerStep::Challenge(_)));
    let mut bad = Element::new("response", starling_stream::ns::SASL);
    bad.append_text(" Yz1iaXdz ");
    assert_eq!(cond(s.receive(&bad).unwrap()), Condition::IncorrectEncoding);
    // Base 64 inside SCRAM (c=, p=).
    let mut s = server(plain_conn());
    let a = c.start(&["SCRAM-SHA-1"]).unwrap();
    let ServerStep::Challenge(ch) = s.receive(&a).unwrap() else {
        panic!()
    };
    let nonce = text(&ch).split(',').next().unwrap().to_owned();
    let resp = response(format!("c=b!ws,{nonce},p=AAAA").as_bytes());
    assert_eq!(
        cond(s.receive(&resp).unwrap()),
        Condition::IncorrectEncoding
    );
}

#[test]
fn condition_invalid_authzid() {
    // Not a JID.
    let mut s = server(tls_conn());
    assert_eq!(
        cond(
            s.receive(&auth("PLAIN", Some(b"@@\0juliet\0r0m30myr0m30")))
                .unwrap()
        ),
        Condition::InvalidAuthzid
    );
    // Someone else, in PLAIN and in SCRAM's a=.
    let mut s = server(tls_conn());
    assert_eq!(
        cond(
            s.receive(&auth(
                "PLAIN",
                Some(b"romeo@example.com\0juliet\0r0m30myr0m30")
            ))
            .unwrap()
        ),
        Condition::InvalidAuthzid
    );
    let mut s = server(tls_conn());
    let config = ClientConfig {
        authzid: Some("romeo@example.com".into()),
        ..client_config("juliet", "r0m30myr0m30")
    };
    let mut c = client(config.clone(), client_tls(None));
    assert!(
        text(&c.start(&["SCRAM-SHA-256"]).unwrap()).starts_with("n,a=romeo@example.com,n=juliet,")
    );
    let mut c = client(config.clone(), client_tls(None));
    let End::ServerFailure(f) = run(&mut c, &mut s, &["SCRAM-SHA-256".to_owned()]) else {
        panic!()
    };
    assert_eq!(f.condition, Condition::InvalidAuthzid);
    // A policy that lets juliet act as romeo.
    let policy: starling_auth::sasl::AuthzPolicy = Arc::new(|who, as_whom| {
        who.as_str() == "juliet@example.com" && as_whom.as_str() == "romeo@example.com"
    });
    let sc = ServerConfig {
        authz_policy: Some(policy),
        ..server_config()
    };
    let mut s = server_with(sc, store(), tls_conn());
    let mut c = client(config, client_tls(None));
    let End::Success(a) = run(&mut c, &mut s, &["SCRAM-SHA-256".to_owned()]) else {
        panic!()
    };
    assert_eq!(a.jid.as_str(), "juliet@example.com");
    assert_eq!(a.authorized_jid().as_str(), "romeo@example.com");
}

#[test]
fn condition_invalid_mechanism() {
    let mut conn = tls_conn();
    conn.channel_bindings.clear();
    for m in [
        "DIGEST-MD5",
        "scram-sha-1",
        "SCRAM-SHA-256-PLUS",
        "EXTERNAL",
        "ANONYMOUS",
    ] {
        let mut s = server(conn.clone());
        assert_eq!(
            cond(s.receive(&auth(m, Some(b"x"))).unwrap()),
            Condition::InvalidMechanism,
            "{m}"
        );
    }
    // No mechanism attribute at all.
    let mut s = server(conn);
    let el: Element = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>AA==</auth>"
        .parse()
        .unwrap();
    assert_eq!(cond(s.receive(&el).unwrap()), Condition::InvalidMechanism);
}

#[test]
fn condition_malformed_request() {
    let scram_first = b"n,,n=juliet,r=abcdef";
    let cases: Vec<(&str, Vec<Element>)> = vec![
        ("response before auth", vec![response(b"x")]),
        (
            "second auth",
            vec![
                auth("SCRAM-SHA-1", Some(scram_first)),
                auth("SCRAM-SHA-1", Some(scram_first)),
            ],
        ),
        (
            "auth after empty challenge",
            vec![
                auth("SCRAM-SHA-1", None),
                auth("SCRAM-SHA-1", Some(scram_first)),
            ],
        ),
        (
            "client sends success",
            vec![SaslMessage::Success(None).to_element()],
        ),
        (
            "client sends challenge",
            vec![SaslMessage::Challenge(vec![]).to_element()],
        ),
        (
            "client sends failure",
            vec![Failure::new(Condition::Aborted).to_element()],
        ),
        (
            "unknown element",
            vec![
                "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
                    .parse()
                    .unwrap(),
            ],
        ),
        (
            "child element",
            vec![
                "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><x/></response>"
                    .parse()
                    .unwrap(),
            ],
        ),
        ("scram garbage", vec![auth("SCRAM-SHA-1", Some(b"hello"))]),
        (
            "scram m=",
            vec![auth("SCRAM-SHA-1", Some(b"n,,m=x,n=juliet,r=abc"))],
        ),
        (
            "scram bad username escape",
            vec![auth("SCRAM-SHA-1", Some(b"n,,n=ju=liet,r=abc"))],
        ),
        (
            "scram attribute order",
            vec![auth("SCRAM-SHA-1", Some(b"n,,r=abc,n=juliet"))],
        ),
        (
            "scram p= without PLUS",
            vec![auth("SCRAM-SHA-1", Some(b"p=tls-exporter,,n=juliet,r=abc"))],
        ),
        (
            "scram PLUS without p=",
            vec![auth("SCRAM-SHA-1-PLUS", Some(scram_first))],
        ),
        (
            "scram final out of order",
            vec![
                auth("SCRAM-SHA-1", Some(scram_first)),
                response(b"r=abcdef,c=biws,p=AAAA"),
            ],
        ),
        (
            "scram final without proof",
            vec![
                auth("SCRAM-SHA-1", Some(scram_first)),
                response(b"c=biws,r=abcdef"),
            ],
        ),
        (
            "scram final with attribute after proof",
            vec![
                auth("SCRAM-SHA-1", Some(scram_first)),
                response(b"c=biws,r=abcdef,p=AAAA,x=y"),
            ],
        ),
    ];
    for (what, elements) in cases {
        let mut s = server(cb_conn(vec![exporter(1)]));
        let (last, init) = elements.split_last().unwrap();
        for el in init {
            assert!(
                matches!(s.receive(el).unwrap(), ServerStep::Challenge(_)),
                "{what}"
            );
        }
        assert_eq!(
            cond(s.receive(last).unwrap()),
            Condition::MalformedRequest,
            "{what}"
        );
    }
}

#[test]
fn condition_mechanism_too_weak() {
    let config = ServerConfig {
        mechanisms: vec![Mechanism::ScramSha256Plus, Mechanism::ScramSha256],
        ..server_config()
    };
    for m in ["SCRAM-SHA-1", "PLAIN"] {
        let mut s = server_with(config.clone(), store(), tls_conn());
        assert!(!s.mechanism_names().contains(&m.to_owned()));
        assert_eq!(
            cond(s.receive(&auth(m, None)).unwrap()),
            Condition::MechanismTooWeak,
            "{m}"
        );
    }
}

#[test]
fn condition_not_authorized_wrong_password_and_unknown_user_alike() {
    for m in [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ] {
        let mut s = server(tls_conn());
        let mut c = client(
            ClientConfig {
                mechanisms: vec![m],
                ..client_config("juliet", "wrong")
            },
            client_tls(None),
        );
        let End::ServerFailure(wrong) = run_all(&mut c, &mut s) else {
            panic!()
        };
        let mut s = server(tls_conn());
        let mut c = client(
            ClientConfig {
                mechanisms: vec![m],
                ..client_config("nobody", "wrong")
            },
            client_tls(None),
        );
        let End::ServerFailure(unknown) = run_all(&mut c, &mut s) else {
            panic!()
        };
        assert_eq!(wrong, Failure::new(Condition::NotAuthorized), "{m}");
        assert_eq!(unknown, wrong, "{m}");
        assert_eq!(unknown.to_element(), wrong.to_element());
    }
    // A user name that is not even a localpart fails the same way.
    let mut s = server(plain_conn());
    let mut c = client(client_config("a@b", "pw"), ClientConnection::default());
    let End::ServerFailure(f) = run_all(&mut c, &mut s) else {
        panic!()
    };
    assert_eq!(f, Failure::new(Condition::NotAuthorized));
}

/// The server-first message of an exchange for `user`.
fn server_first_for(config: &ServerConfig, st: &MemoryStore, user: &str) -> String {
    let mut s = server_with(config.clone(), st.clone(), plain_conn());
    let first = format!("n,,n={user},r=clientnonce");
    let ServerStep::Challenge(ch) = s
        .receive(&auth("SCRAM-SHA-256", Some(first.as_bytes())))
        .unwrap()
    else {
        panic!()
    };
    text(&ch)
}

fn salt_of(server_first: &str) -> &str {
    server_first
        .split(',')
        .find_map(|a| a.strip_prefix("s="))
        .unwrap()
}

#[test]
fn unknown_users_get_a_plausible_stable_challenge() {
    let config = server_config();
    let st = store();
    let server_first_for = |config: &ServerConfig, user: &str| server_first_for(config, &st, user);
    let known = server_first_for(&config, "juliet");
    let unknown = server_first_for(&config, "nobody");
    // Same shape: same salt length, same iteration count.
    assert_eq!(salt_of(&known).len(), salt_of(&unknown).len());
    assert!(known.ends_with(&format!(",i={ITERATIONS}")));
    assert!(unknown.ends_with(&format!(",i={ITERATIONS}")));
    // The same salt every time for the same name (as for a real user)...
    assert_eq!(
        salt_of(&unknown),
        salt_of(&server_first_for(&config, "nobody"))
    );
    assert_eq!(
        salt_of(&known),
        salt_of(&server_first_for(&config, "juliet"))
    );
    // ...the same for the prepared name...
    assert_eq!(
        salt_of(&unknown),
        salt_of(&server_first_for(&config, "NOBODY"))
    );
    // ...different for another name or another server secret.
    assert_ne!(
        salt_of(&unknown),
        salt_of(&server_first_for(&config, "nobody2"))
    );
    let other = ServerConfig {
        fake_salt_secret: [9; 32],
        ..server_config()
    };
    assert_ne!(
        salt_of(&unknown),
        salt_of(&server_first_for(&other, "nobody"))
    );
}

#[derive(Debug)]
struct BrokenStore {
    scram_fails: bool,
}

impl CredentialStore for BrokenStore {
    fn scram(
        &self,
        domain: &DomainPart,
        username: &str,
        hash: ScramHash,
    ) -> Result<Option<ScramCredentials>, StoreError> {
        if self.scram_fails {
            return Err(StoreError("database unavailable".into()));
        }
        store().scram(domain, username, hash)
    }

    fn account_state(
        &self,
        _domain: &DomainPart,
        _username: &str,
    ) -> Result<AccountState, StoreError> {
        Err(StoreError("database unavailable".into()))
    }
}

#[test]
fn condition_temporary_auth_failure() {
    for scram_fails in [true, false] {
        for m in [Mechanism::ScramSha1, Mechanism::Plain] {
            let mut s = server_with(server_config(), BrokenStore { scram_fails }, tls_conn());
            let mut c = client(
                ClientConfig {
                    mechanisms: vec![m],
                    ..client_config("juliet", "r0m30myr0m30")
                },
                client_tls(None),
            );
            let End::ServerFailure(f) = run_all(&mut c, &mut s) else {
                panic!()
            };
            assert_eq!(
                f.condition,
                Condition::TemporaryAuthFailure,
                "{m} {scram_fails}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Retries, foreign elements, the end of the exchange

#[test]
fn attempts_are_bounded() {
    let mut s = server(tls_conn());
    let bad = auth("PLAIN", Some(b"\0juliet\0wrong"));
    assert_eq!(
        failure(s.receive(&bad).unwrap()),
        (Failure::new(Condition::NotAuthorized), true)
    );
    assert_eq!(
        failure(s.receive(&bad).unwrap()),
        (Failure::new(Condition::NotAuthorized), true)
    );
    assert_eq!(
        failure(s.receive(&bad).unwrap()),
        (Failure::new(Condition::NotAuthorized), false)
    );
    assert!(s.is_finished());
    assert_eq!(s.failures(), 3);
    assert_eq!(
        s.receive(&auth("PLAIN", Some(b"\0juliet\0r0m30myr0m30"))),
        Err(ServerError::Finished)
    );
    // A retry after a failure can succeed.
    let mut s = server(tls_conn());
    assert!(failure(s.receive(&bad).unwrap()).1);
    assert!(matches!(
        s.receive(&auth("PLAIN", Some(b"\0juliet\0r0m30myr0m30")))
            .unwrap(),
        ServerStep::Success { .. }
    ));
    assert_eq!(s.receive(&abort()), Err(ServerError::Finished));
    // max_attempts = 1.
    let mut s = server_with(
        ServerConfig {
            max_attempts: 1,
            ..server_config()
        },
        store(),
        tls_conn(),
    );
    assert!(!failure(s.receive(&abort()).unwrap()).1);
}

#[test]
fn non_sasl_elements_are_handed_back() {
    let mut s = server(tls_conn());
    let el: Element = "<iq xmlns='jabber:client' type='get' id='1'/>"
        .parse()
        .unwrap();
    assert_eq!(
        s.receive(&el),
        Err(ServerError::NotSasl {
            name: "iq".into(),
            ns: "jabber:client".into()
        })
    );
    assert_eq!(s.failures(), 0);
    let mut c = client(client_config("juliet", "pw"), client_tls(None));
    c.start(&["PLAIN"]).unwrap();
    assert!(matches!(c.receive(&el), Err(ClientError::NotSasl { .. })));
}

// ---------------------------------------------------------------------------
// Channel binding

#[test]
fn channel_binding_mismatch() {
    let mut s = server(cb_conn(vec![exporter(1)]));
    let mut c = client(
        client_config("juliet", "r0m30myr0m30"),
        client_tls(Some(exporter(2))),
    );
    let step = scram_to_final(&mut s, &mut c, Mechanism::ScramSha256Plus, true);
    let (f, _) = failure(step);
    assert_eq!(f.condition, Condition::NotAuthorized);
    assert_eq!(f.text.as_deref(), Some("channel-bindings-dont-match"));
}

#[test]
fn unsupported_channel_binding_type() {
    let mut s = server(cb_conn(vec![exporter(1)]));
    let cb = ChannelBinding::new(ChannelBindingType::TlsServerEndPoint, vec![1; 32]);
    let mut c = client(
        client_config("juliet", "r0m30myr0m30"),
        client_tls(Some(cb)),
    );
    let a = c.start_mechanism(Mechanism::ScramSha256Plus, true).unwrap();
    let (f, _) = failure(s.receive(&a).unwrap());
    assert_eq!(f.condition, Condition::NotAuthorized);
    assert_eq!(f.text.as_deref(), Some("unsupported-channel-binding-type"));
    // An unregistered name too.
    let mut s = server(cb_conn(vec![exporter(1)]));
    let (f, _) = failure(
        s.receive(&auth(
            "SCRAM-SHA-1-PLUS",
            Some(b"p=tls-unique,,n=juliet,r=abc"),
        ))
        .unwrap(),
    );
    assert_eq!(f.text.as_deref(), Some("unsupported-channel-binding-type"));
}

#[test]
fn downgrade_is_detected() {
    // The server offers -PLUS; an attacker strips it from the list, and the
    // client, which has channel binding data, says "y".
    let mut s = server(cb_conn(vec![exporter(1)]));
    let mut c = client(
        client_config("juliet", "r0m30myr0m30"),
        client_tls(Some(exporter(1))),
    );
    let stripped = names(&[Mechanism::ScramSha256, Mechanism::ScramSha1]);
    let a = c.start(&stripped).unwrap();
    assert!(text(&a).starts_with("y,,"));
    let (f, _) = failure(s.receive(&a).unwrap());
    assert_eq!(f.condition, Condition::NotAuthorized);
    assert_eq!(
        f.text.as_deref(),
        Some(ScramServerError::ServerDoesSupportChannelBinding.as_str())
    );
    // Without channel binding on the server, "y" is fine.
    let mut s = server(tls_conn());
    let mut c = client(
        client_config("juliet", "r0m30myr0m30"),
        client_tls(Some(exporter(1))),
    );
    let End::Success(_) = run(&mut c, &mut s, &stripped) else {
        panic!()
    };
    // A client that may not use -PLUS says "n", which is honest.
    let config = ClientConfig {
        mechanisms: vec![Mechanism::ScramSha256],
        ..client_config("juliet", "r0m30myr0m30")
    };
    let mut s = server(cb_conn(vec![exporter(1)]));
    let mut c = client(config, client_tls(Some(exporter(1))));
    let a = c.start(&s.mechanism_names()).unwrap();
    assert!(text(&a).starts_with("n,,"));
    assert!(matches!(s.receive(&a).unwrap(), ServerStep::Challenge(_)));
}

#[test]
fn plus_is_used_when_offered() {
    let mut s = server(cb_conn(vec![exporter(3)]));
    let mut c = client(
        client_config("juliet", "r0m30myr0m30"),
        client_tls(Some(exporter(3))),
    );
    let a = c.start(&s.mechanism_names()).unwrap();
    assert_eq!(a.attr("mechanism"), Some("SCRAM-SHA-256-PLUS"));
    assert!(text(&a).starts_with("p=tls-exporter,,n=juliet,r="));
    let ServerStep::Challenge(ch) = s.receive(&a).unwrap() else {
        panic!()
    };
    let ClientStep::Response(resp) = c.receive(&ch).unwrap() else {
        panic!()
    };
    // c= carries the gs2 header and the channel binding data.
    let c_attr = text(&resp).split(',').next().unwrap().to_owned();
    let mut expected = b"p=tls-exporter,,".to_vec();
    expected.extend_from_slice(&[3; 32]);
    let mut el = SaslMessage::Response(vec![]).to_element();
    el.append_text(c_attr.strip_prefix("c=").unwrap());
    assert_eq!(data(&el), expected);
    assert!(matches!(
        s.receive(&resp).unwrap(),
        ServerStep::Success { .. }
    ));
}

// ---------------------------------------------------------------------------
// The client's checks of the server

#[test]
fn client_refuses_too_few_iterations() {
    let mut s = server(plain_conn()); // credentials with 16 iterations
    let mut c = client(
        ClientConfig::password("juliet", "r0m30myr0m30"),
        ClientConnection::default(),
    );
    let End::ClientAbort(e, f) = run_all(&mut c, &mut s) else {
        panic!()
    };
    assert_eq!(
        e,
        ClientError::IterationsTooLow {
            iterations: ITERATIONS,
            minimum: 4096
        }
    );
    assert_eq!(f.condition, Condition::Aborted);
    // And too many.
    let mut s = server(plain_conn());
    let config = ClientConfig {
        max_iterations: 8,
        ..client_config("juliet", "r0m30myr0m30")
    };
    let mut c = client(config, ClientConnection::default());
    let End::ClientAbort(e, _) = run_all(&mut c, &mut s) else {
        panic!()
    };
    assert_eq!(
        e,
        ClientError::IterationsTooHigh {
            iterations: ITERATIONS,
            maximum: 8
        }
    );
}

fn client_after_first(mechanism: Mechanism) -> (starling_auth::SaslClient, String) {
    let config = ClientConfig {
        random: Arc::new(FixedNonce("cnonce")),
        ..ClientConfig::password("juliet", "pw")
    };
    let mut c = client(config, ClientConnection::default());
    c.start_mechanism(mechanism, false).unwrap();
    (c, "r=cnonceSNONCE,s=c2FsdA==,i=4096".to_owned())
}

fn challenge(s: &str) -> Element {
    SaslMessage::Challenge(s.as_bytes().to_vec()).to_element()
}

fn success(s: Option<&str>) -> Element {
    SaslMessage::Success(s.map(|s| s.as_bytes().to_vec())).to_element()
}

#[test]
fn client_checks_the_server_signature() {
    // A server that does not know the password.
    let mut st = MemoryStore::new();
    st.add_user("juliet", "not the password", ITERATIONS)
        .unwrap();
    let mut s = server_with(server_config(), st, plain_conn());
    let mut c = client(
        client_config("juliet", "r0m30myr0m30"),
        ClientConnection::default(),
    );
    let a = c.start(&["SCRAM-SHA-1"]).unwrap();
    let ServerStep::Challenge(ch) = s.receive(&a).unwrap() else {
        panic!()
    };
    let ClientStep::Response(_) = c.receive(&ch).unwrap() else {
        panic!()
    };
    // It claims success with a made-up signature.
    assert_eq!(
        c.receive(&success(Some("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="))),
        Err(ClientError::ServerSignatureMismatch)
    );
    assert!(!c.is_authenticated());

    // Success without the signature.
    let (mut c, first) = client_after_first(Mechanism::ScramSha1);
    let ClientStep::Response(_) = c.receive(&challenge(&first)).unwrap() else {
        panic!()
    };
    assert_eq!(
        c.receive(&success(None)),
        Err(ClientError::ServerSignatureMissing)
    );
    // Success before the proof.
    let (mut c, _) = client_after_first(Mechanism::ScramSha1);
    assert_eq!(
        c.receive(&success(Some("v=AAAA"))),
        Err(ClientError::ServerSignatureMissing)
    );
    // e= in the final message.
    let (mut c, first) = client_after_first(Mechanism::ScramSha1);
    let ClientStep::Response(_) = c.receive(&challenge(&first)).unwrap() else {
        panic!()
    };
    assert_eq!(
        c.receive(&success(Some("e=invalid-proof"))),
        Err(ClientError::ServerError(ScramServerError::InvalidProof))
    );
}

#[test]
fn client_checks_server_first() {
    let cases: &[(&str, ClientError)] = &[
        ("r=othernonce,s=c2FsdA==,i=4096", ClientError::NonceMismatch),
        ("r=cnonce,s=c2FsdA==,i=4096", ClientError::NonceMismatch),
        (
            "m=ext,r=cnonceS,s=c2FsdA==,i=4096",
            ClientError::MandatoryExtension,
        ),
        (
            "r=cnonceS,s=c2FsdA==,i=4095",
            ClientError::IterationsTooLow {
                iterations: 4095,
                minimum: 4096,
            },
        ),
        (
            "r=cnonceS,s=c2FsdA==,i=0",
            ClientError::IterationsTooLow {
                iterations: 0,
                minimum: 4096,
            },
        ),
        (
            "r=cnonceS,s=c2FsdA==,i=99999999999",
            ClientError::IterationsTooHigh {
                iterations: u32::MAX,
                maximum: 1_000_000,
            },
        ),
        (
            "r=cnonceS,s=c2FsdA==,i=-1",
            ClientError::Malformed("the iteration count is not a number"),
        ),
        (
            "r=cnonceS,s=c2FsdA==",
            ClientError::Malformed("server-first lacks i="),
        ),
        (
            "s=c2FsdA==,r=cnonceS,i=4096",
            ClientError::Malformed("server-first lacks r="),
        ),
        (
            "r=cnonceS,s=!!,i=4096",
            ClientError::Malformed("the salt is not base 64"),
        ),
        (
            "r=cnonceS,s=,i=4096",
            ClientError::Malformed("the salt is empty"),
        ),
        (
            "e=other-error",
            ClientError::ServerError(ScramServerError::OtherError),
        ),
    ];
    for (msg, expected) in cases {
        let (mut c, _) = client_after_first(Mechanism::ScramSha256);
        match c.receive(&challenge(msg)).unwrap() {
            ClientStep::Abort { element, error } => {
                assert_eq!(&error, expected, "{msg}");
                assert_eq!(element, starling_auth::SaslClient::abort_element());
            }
            other => panic!("{msg}: {other:?}"),
        }
        // The server's answer to the abort is passed on.
        let f = Failure::new(Condition::Aborted);
        assert_eq!(c.receive(&f.to_element()).unwrap(), ClientStep::Failure(f));
    }
}

#[test]
fn client_maps_scram_errors_to_conditions() {
    for (value, condition) in [
        ("invalid-proof", Condition::NotAuthorized),
        ("invalid-encoding", Condition::MalformedRequest),
        ("no-resources", Condition::TemporaryAuthFailure),
        (
            "server-does-support-channel-binding",
            Condition::NotAuthorized,
        ),
        ("something-new", Condition::NotAuthorized),
    ] {
        let (mut c, _) = client_after_first(Mechanism::ScramSha1);
        let ClientStep::Abort {
            error: ClientError::ServerError(e),
            ..
        } = c.receive(&challenge(&format!("e={value}"))).unwrap()
        else {
            panic!()
        };
        assert_eq!(e.condition(), condition);
        assert_eq!(e.to_failure().text.as_deref(), Some(value));
    }
}

#[test]
fn server_final_in_a_challenge_is_accepted() {
    let mut s = server(plain_conn());
    let mut c = client(
        client_config("juliet", "r0m30myr0m30"),
        ClientConnection::default(),
    );
    let a = c.start(&["SCRAM-SHA-1"]).unwrap();
    let ServerStep::Challenge(ch) = s.receive(&a).unwrap() else {
        panic!()
    };
    let ClientStep::Response(resp) = c.receive(&ch).unwrap() else {
        panic!()
    };
    let ServerStep::Success { element, .. } = s.receive(&resp).unwrap() else {
        panic!()
    };
    // Replay the server-final as a challenge, then an empty success.
    let ClientStep::Response(empty) = c.receive(&challenge(&text(&element))).unwrap() else {
        panic!()
    };
    assert_eq!(data(&empty), b"");
    assert_eq!(c.receive(&success(None)).unwrap(), ClientStep::Success);
    assert_eq!(c.receive(&success(None)), Err(ClientError::Finished));
}

#[test]
fn client_out_of_order() {
    let mut c = client(client_config("juliet", "pw"), client_tls(None));
    assert_eq!(c.receive(&success(None)), Err(ClientError::NotStarted));
    c.start(&["PLAIN"]).unwrap();
    assert!(matches!(
        c.receive(&challenge("x")).unwrap(),
        ClientStep::Abort { .. }
    ));
    assert!(matches!(
        c.receive(&success(None)),
        Err(ClientError::Unexpected(_))
    ));
    c.start(&["PLAIN"]).unwrap();
    assert!(matches!(
        c.receive(&response(b"x")),
        Err(ClientError::Unexpected(_))
    ));
    c.start(&["PLAIN"]).unwrap();
    let bad: Element = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>!!</success>"
        .parse()
        .unwrap();
    assert!(matches!(c.receive(&bad), Err(ClientError::Wire(_))));
    // Missing password or channel binding.
    let mut c = client(ClientConfig::external(), client_tls(None));
    assert_eq!(
        c.start_mechanism(Mechanism::Plain, false),
        Err(ClientError::MissingPassword(Mechanism::Plain))
    );
    let mut c = client(client_config("juliet", "pw"), client_tls(None));
    assert_eq!(
        c.start_mechanism(Mechanism::ScramSha1Plus, true),
        Err(ClientError::MissingChannelBinding(Mechanism::ScramSha1Plus))
    );
    // A password OpaqueString rejects.
    let mut c = client(client_config("juliet", "a\u{0}b"), client_tls(None));
    assert!(matches!(
        c.start(&["SCRAM-SHA-1"]),
        Err(ClientError::Password(_))
    ));
}

#[test]
fn passwords_are_prepared_on_both_sides() {
    // Stored with an ideographic space and a decomposed é; typed with an
    // ASCII space and a precomposed é.
    let mut st = MemoryStore::new();
    st.add_user("juliet", "caf\u{0065}\u{0301}\u{3000}noir", ITERATIONS)
        .unwrap();
    for m in [Mechanism::ScramSha256, Mechanism::Plain] {
        let mut s = server_with(server_config(), st.clone(), tls_conn());
        let mut c = client(
            ClientConfig {
                mechanisms: vec![m],
                ..client_config("juliet", "caf\u{00E9} noir")
            },
            client_tls(None),
        );
        assert!(matches!(run_all(&mut c, &mut s), End::Success(_)), "{m}");
    }
    // A soft hyphen is not dropped as SASLprep did: no account can have it.
    let mut st = MemoryStore::new();
    assert!(st.add_user("juliet", "I\u{00AD}X", ITERATIONS).is_err());
}
