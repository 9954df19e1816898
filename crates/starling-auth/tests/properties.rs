//! Properties: every mechanism's client and server agree for arbitrary
//! user names and passwords, wrong passwords never pass, and nothing the
//! client sends can make the server panic.

mod common;

use std::sync::Arc;

use common::*;
use proptest::prelude::*;
use starling_auth::sasl::{
    ChannelBinding, ClientConfig, ClientConnection, Condition, Mechanism, MemoryStore, SaslMessage,
    SaslServer, ServerConfig, ServerConnection, ServerStep, opaque_string,
};
use starling_jid::NodePart;
use starling_stream::ns;
use starling_xml::Element;

fn username() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9._=,+-]{1,16}", "[a-zà-ÿα-ωа-я0-9]{1,12}",]
        .prop_filter("a valid localpart", |u| NodePart::new(u).is_ok())
}

fn password() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{1,24}",
        "\\PC{1,16}",
        "[a-zé\u{3000}\u{00A0}\u{0301}€😀]{1,12}",
    ]
    .prop_filter("acceptable to OpaqueString", |p| opaque_string(p).is_ok())
}

const PASSWORD_MECHANISMS: [Mechanism; 5] = [
    Mechanism::ScramSha256Plus,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha256,
    Mechanism::ScramSha1,
    Mechanism::Plain,
];

fn setup(
    user: &str,
    stored_password: &str,
    iterations: u32,
) -> (ServerConfig, MemoryStore, ServerConnection) {
    let mut st = MemoryStore::new();
    st.add_user(user, stored_password, iterations).unwrap();
    let config = ServerConfig {
        scram_iterations: iterations,
        ..ServerConfig::default()
    };
    let conn = ServerConnection {
        tls: true,
        channel_bindings: vec![ChannelBinding::tls_exporter(vec![5; 32])],
        ..plain_conn()
    };
    (config, st, conn)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn password_mechanisms_agree(
        user in username(),
        pw in password(),
        m in proptest::sample::select(PASSWORD_MECHANISMS.to_vec()),
        iterations in 1u32..8,
        authzid in any::<bool>(),
    ) {
        let (config, st, conn) = setup(&user, &pw, iterations);
        let mut server = SaslServer::new(Arc::new(config), Arc::new(st), conn);
        let bare = format!("{}@example.com", NodePart::new(&user).unwrap());
        let config = ClientConfig {
            mechanisms: vec![m],
            min_iterations: 1,
            authzid: authzid.then(|| bare.clone()),
            ..ClientConfig::password(user.clone(), pw.clone())
        };
        let mut client = client(config, ClientConnection { tls: true, channel_binding: Some(ChannelBinding::tls_exporter(vec![5; 32])) });
        match run_all(&mut client, &mut server) {
            End::Success(a) => {
                prop_assert_eq!(a.mechanism, m);
                prop_assert_eq!(a.jid.as_str(), bare.as_str());
            }
            other => prop_assert!(false, "{m} {user:?} {pw:?}: {other:?}"),
        }
    }

    #[test]
    fn wrong_passwords_fail(
        user in username(),
        pw in password(),
        other in password(),
        m in proptest::sample::select(PASSWORD_MECHANISMS.to_vec()),
    ) {
        prop_assume!(opaque_string(&pw).unwrap() != opaque_string(&other).unwrap());
        let (config, st, conn) = setup(&user, &pw, 2);
        let mut server = SaslServer::new(Arc::new(config), Arc::new(st), conn);
        let config = ClientConfig { mechanisms: vec![m], min_iterations: 1, ..ClientConfig::password(user, other) };
        let mut client = client(config, ClientConnection { tls: true, channel_binding: Some(ChannelBinding::tls_exporter(vec![5; 32])) });
        match run_all(&mut client, &mut server) {
            End::ServerFailure(f) => prop_assert_eq!(f.condition, Condition::NotAuthorized),
            other => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn external_and_anonymous_agree(authzid in "[a-z]{1,8}", trace in "\\PC{0,40}", with_authzid in any::<bool>()) {
        let identity = format!("{authzid}@example.com");
        let mut conn = plain_conn();
        conn.tls = true;
        conn.external_identity = Some(identity.parse().unwrap());
        let config = ServerConfig { anonymous: true, scram_iterations: 2, ..ServerConfig::default() };
        let mut server = SaslServer::new(Arc::new(config.clone()), Arc::new(MemoryStore::new()), conn.clone());
        let cc = ClientConfig { authzid: with_authzid.then(|| identity.clone()), ..ClientConfig::external() };
        let mut c = client(cc, ClientConnection { tls: true, channel_binding: None });
        match run_all(&mut c, &mut server) {
            End::Success(a) => prop_assert_eq!(a.authorized_jid().to_string(), identity.clone()),
            other => prop_assert!(false, "{other:?}"),
        }
        let mut server = SaslServer::new(Arc::new(config), Arc::new(MemoryStore::new()), conn);
        let cc = ClientConfig { anonymous_trace: Some(trace.clone()), ..ClientConfig::anonymous() };
        let mut c = client(cc, ClientConnection::default());
        let valid = trace.chars().count() <= 255 && !trace.chars().any(char::is_control);
        match run_all(&mut c, &mut server) {
            End::Success(a) => {
                prop_assert!(valid);
                prop_assert_eq!(a.trace.unwrap_or_default(), trace);
            }
            End::ServerFailure(f) => {
                prop_assert!(!valid);
                prop_assert_eq!(f.condition, Condition::MalformedRequest);
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary messages, in any order, never make the server panic, and
    /// every answer is a well-formed SASL element.
    #[test]
    fn server_never_panics_on_messages(
        msgs in proptest::collection::vec((0u8..8, any::<u8>(), proptest::collection::vec(any::<u8>(), 0..80)), 1..8),
    ) {
        let (config, st, mut conn) = setup("juliet", "pw", 2);
        conn.external_identity = Some("juliet@example.com".parse().unwrap());
        let config = ServerConfig { anonymous: true, max_attempts: 5, ..config };
        let mut server = SaslServer::new(Arc::new(config), Arc::new(st), conn);
        for (kind, mech, data) in msgs {
            let names = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "EXTERNAL", "ANONYMOUS", "X"];
            let msg = match kind {
                0 | 1 => SaslMessage::Auth { mechanism: names[usize::from(mech) % names.len()].into(), initial_response: Some(data) },
                2 => SaslMessage::Auth { mechanism: names[usize::from(mech) % names.len()].into(), initial_response: None },
                3 | 4 => SaslMessage::Response(data),
                5 => SaslMessage::Abort,
                6 => SaslMessage::Success(Some(data)),
                _ => SaslMessage::Challenge(data),
            };
            match server.receive(&msg.to_element()) {
                Ok(step) => {
                    let xml = step.element().to_xml();
                    let el = Element::parse(xml.as_bytes()).unwrap();
                    prop_assert!(SaslMessage::from_element(&el).is_ok());
                    if let ServerStep::Success { authenticated, .. } = step {
                        // Only mechanisms that need no secret can succeed by chance.
                        prop_assert!(matches!(authenticated.mechanism, Mechanism::External | Mechanism::Anonymous | Mechanism::Plain));
                    }
                }
                Err(_) => prop_assert!(server.is_finished()),
            }
        }
    }

    /// Arbitrary element text (as a peer could send it) never makes the
    /// server panic.
    #[test]
    fn server_never_panics_on_elements(name in "(auth|response|abort|success|x)", text in "\\PC{0,60}", mech in "[A-Z0-9-]{0,20}") {
        let (config, st, conn) = setup("juliet", "pw", 2);
        let mut server = SaslServer::new(Arc::new(config), Arc::new(st), conn);
        let mut el = Element::new(&name, ns::SASL);
        el.set_attr("mechanism", Some(&mech));
        el.append_text(text.as_str());
        let _ = server.receive(&el);
        let _ = server.receive(&el);
    }
}
