//! The server side of SASL negotiation on arbitrary input: elements parsed
//! from the bytes, or raw mechanism data in `<auth/>` and `<response/>`.
//! The server must answer every element with a well-formed SASL element,
//! stop after its attempts are used up, and never let a SCRAM exchange
//! succeed without the password.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use starling_auth::sasl::{
    ChannelBinding, Mechanism, MemoryStore, RandomError, RandomSource, SaslMessage, SaslServer,
    ServerConfig, ServerConnection, ServerError, ServerStep,
};
use starling_xml::Element;

/// Deterministic "randomness", so that every input replays exactly.
#[derive(Debug)]
struct Fixed;

impl RandomSource for Fixed {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        buf.fill(0x5A);
        Ok(())
    }

    fn nonce(&self) -> Result<String, RandomError> {
        Ok("c2VydmVybm9uY2U".to_owned())
    }
}

const MECHANISMS: [&str; 8] = [
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "PLAIN",
    "EXTERNAL",
    "ANONYMOUS",
    "DIGEST-MD5",
];

fn shared() -> &'static (Arc<ServerConfig>, Arc<MemoryStore>) {
    static SHARED: OnceLock<(Arc<ServerConfig>, Arc<MemoryStore>)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let mut store = MemoryStore::new();
        store
            .add_user("juliet", "r0m30myr0m30", 2)
            .expect("a valid user");
        store
            .add_user("romeo", "j\u{00FC}l\u{00EF}et", 2)
            .expect("a valid user");
        let config = ServerConfig {
            anonymous: true,
            scram_iterations: 2,
            max_attempts: 4,
            fake_salt_secret: [7; 32],
            random: Arc::new(Fixed),
            ..ServerConfig::default()
        };
        (Arc::new(config), Arc::new(store))
    })
}

fn server(selector: u8) -> SaslServer {
    let (config, store) = shared();
    let mut conn = ServerConnection::new("example.com".parse().expect("a valid domain"));
    conn.tls = selector & 1 != 0;
    if selector & 2 != 0 {
        conn.channel_bindings = vec![ChannelBinding::tls_exporter(vec![9; 32])];
    }
    if selector & 4 != 0 {
        conn.external_identity = Some("juliet@example.com".parse().expect("a valid JID"));
    }
    SaslServer::new(config.clone(), store.clone(), conn)
}

fn check(server: &mut SaslServer, el: &Element) {
    match server.receive(el) {
        Ok(step) => {
            let xml = step.element().to_xml();
            let reparsed =
                Element::parse(xml.as_bytes()).expect("the server writes well-formed XML");
            let msg =
                SaslMessage::from_element(&reparsed).expect("the server writes SASL elements");
            match (&step, msg) {
                (ServerStep::Challenge(_), SaslMessage::Challenge(_)) => {}
                (ServerStep::Success { authenticated, .. }, SaslMessage::Success(_)) => {
                    assert!(
                        authenticated.mechanism.scram_hash().is_none(),
                        "a SCRAM exchange succeeded without the password"
                    );
                    assert!(server.is_finished());
                }
                (ServerStep::Failure { failure, retry, .. }, SaslMessage::Failure(f)) => {
                    assert_eq!(&f, failure);
                    assert_eq!(!retry, server.is_finished());
                }
                (step, msg) => panic!("{step:?} was written as {msg:?}"),
            }
        }
        Err(ServerError::Finished) => assert!(server.is_finished()),
        Err(ServerError::NotSasl { .. }) => assert_ne!(el.ns(), starling_stream::ns::SASL),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut server = server(selector);
    if selector & 0x80 == 0 {
        // Elements, as a client could write them.
        let mut doc = b"<wrap xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>".to_vec();
        doc.extend_from_slice(rest);
        doc.extend_from_slice(b"</wrap>");
        let Ok(wrap) = Element::parse(&doc) else {
            return;
        };
        for el in wrap.children().take(16) {
            check(&mut server, el);
        }
    } else {
        // Raw mechanism data: messages separated by 0xFF, each led by a
        // byte that picks the element (and the mechanism of an <auth/>).
        for chunk in rest.split(|&b| b == 0xFF).take(16) {
            let Some((&kind, payload)) = chunk.split_first() else {
                continue;
            };
            let mechanism = MECHANISMS[usize::from(kind >> 4) % MECHANISMS.len()].to_owned();
            let msg = match kind & 0x0F {
                0..=5 => SaslMessage::Response(payload.to_vec()),
                6..=10 => SaslMessage::Auth {
                    mechanism,
                    initial_response: Some(payload.to_vec()),
                },
                11 | 12 => SaslMessage::Auth {
                    mechanism,
                    initial_response: None,
                },
                13 => SaslMessage::Abort,
                _ => SaslMessage::Success(Some(payload.to_vec())),
            };
            check(&mut server, &msg.to_element());
        }
    }
    // The mechanisms offered are a subset of those implemented.
    assert!(
        server
            .mechanisms()
            .iter()
            .all(|m| Mechanism::ALL.contains(m))
    );
});
