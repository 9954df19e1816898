//! The server's negotiator fed arbitrary bytes after a valid stream header
//! (and, when the first byte says so, after a completed SASL exchange),
//! with XEP-0198 on (a `<resume/>` is accepted or refused as the mode byte
//! says): it must never panic, its output must always be well-formed, and
//! once it fails it must stay closed.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use starling_auth::negotiate::{ServerEvent, ServerHooks, ServerNegotiator, ServerSettings};
use starling_auth::sasl::{MemoryStore, ServerConfig};
use starling_jid::{BareJid, DomainPart, FullJid};
use starling_stanza::{Payload, SmFailed, SmResumed, StanzaError, StanzaErrorCondition};

struct Hooks;

impl ServerHooks for Hooks {
    fn serves(&self, domain: &DomainPart) -> bool {
        domain.as_str() == "localhost"
    }
    fn bind(&mut self, user: &BareJid, requested: Option<&str>) -> Result<FullJid, StanzaError> {
        match requested {
            Some("taken") => Err(StanzaError::new(StanzaErrorCondition::Conflict)),
            Some(r) => user
                .with_resource_str(r)
                .map_err(|_| StanzaError::new(StanzaErrorCondition::BadRequest)),
            None => user
                .with_resource_str("r1")
                .map_err(|_| StanzaError::new(StanzaErrorCondition::BadRequest)),
        }
    }
}

fn settings() -> ServerSettings {
    static STORE: OnceLock<Arc<MemoryStore>> = OnceLock::new();
    let store = STORE.get_or_init(|| {
        let mut s = MemoryStore::new();
        s.add_user("juliet", "pw", 4096).expect("user");
        Arc::new(s)
    });
    let mut settings = ServerSettings::new(store.clone());
    settings.tls_available = false;
    settings.tls_required = false;
    let mut sasl = ServerConfig {
        fake_salt_secret: [7; 32],
        ..ServerConfig::default()
    };
    sasl.plain_without_tls = true;
    settings.sasl = Arc::new(sasl);
    settings.stream_management = true;
    settings
}

const HEADER: &[u8] = b"<stream:stream to='localhost' version='1.0' xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams'>";
// PLAIN "\0juliet\0pw".
const AUTH: &[u8] =
    b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABwdw==</auth>";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut n = ServerNegotiator::new(settings(), Hooks, None, Instant::now());
    n.feed(HEADER);
    if mode & 1 == 1 {
        n.feed(AUTH);
        n.feed(HEADER);
    }
    let chunk = usize::from(mode >> 1).max(1);
    let mut failed = false;
    for c in rest.chunks(chunk) {
        n.feed(c);
        while let Some(e) = n.next_event() {
            match e {
                ServerEvent::Failed(_) | ServerEvent::Closed { .. } => failed = true,
                ServerEvent::Resume { user, request } => {
                    if mode & 0x80 != 0 {
                        let jid = user.with_resource_str("resumed").expect("a resource");
                        let resumed = SmResumed {
                            h: request.h,
                            previd: request.previd,
                        };
                        n.resume_accepted(jid, &resumed.to_element());
                    } else {
                        n.resume_refused(&SmFailed::default().to_element());
                    }
                }
                _ => {}
            }
        }
        if failed {
            assert!(n.is_closed());
        }
    }
    let out = n.take_output();
    check_well_formed(&out);
});

/// Each stream the negotiator opened (a stream restart writes a new XML
/// declaration and header) must parse without error.
fn check_well_formed(out: &[u8]) {
    const DECL: &[u8] = b"<?xml version='1.0'?>";
    let mut starts: Vec<usize> = out
        .windows(DECL.len())
        .enumerate()
        .filter(|(_, w)| *w == DECL)
        .map(|(i, _)| i)
        .collect();
    starts.push(out.len());
    for pair in starts.windows(2) {
        let mut f = starling_stream::Framer::new(starling_stream::FramerConfig::default());
        f.feed(&out[pair[0]..pair[1]]);
        loop {
            match f.next_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => panic!("malformed output: {e}: {}", String::from_utf8_lossy(out)),
            }
        }
    }
}
