//! The incoming server-to-server negotiator fed arbitrary bytes after a
//! valid stream header (plaintext or direct TLS, and, when the first byte
//! says so, after a domain pair was authenticated by dialback): it must
//! never panic, its output must always be well-formed, and once it fails
//! it must stay closed.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use starling_auth::negotiate::{InboundEvent, PeerTls, S2sHooks, S2sInbound, S2sSettings};
use starling_jid::DomainPart;
use starling_stanza::StanzaErrorCondition;

struct Hooks;

impl S2sHooks for Hooks {
    fn serves(&self, domain: &DomainPart) -> bool {
        matches!(domain.as_str(), "b.example" | "muc.b.example")
    }
}

const HEADER: &[u8] = b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
    xmlns='jabber:server' xmlns:db='jabber:server:dialback' from='a.example' to='b.example' \
    version='1.0'>";
const RESULT: &[u8] = b"<db:result from='a.example' to='b.example'>key</db:result>";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let mut settings = S2sSettings::new(b"secret".to_vec());
    settings.tls_required = mode & 1 == 0;
    settings.verify_without_tls = mode & 2 == 0;
    settings.max_domain_pairs = 4;
    // Direct TLS with a certificate verified for the header's domain.
    let tls = (mode & 4 == 4).then(|| PeerTls::new(vec!["a.example".parse().expect("domain")]));
    let mut n = S2sInbound::new(settings, Hooks, tls, now);
    n.feed(HEADER);
    if mode & 8 == 8 {
        n.feed(RESULT);
    }
    let chunk = usize::from(mode >> 4).max(1);
    let mut answer = 0u8;
    let mut failed = false;
    for c in rest.chunks(chunk) {
        n.feed(c);
        while let Some(e) = n.next_event() {
            match e {
                InboundEvent::DialbackRequest { from, to, .. } => {
                    answer = answer.wrapping_add(1);
                    match answer % 3 {
                        0 => n.dialback_result(&from, &to, true),
                        1 => {
                            n.dialback_error(&from, &to, StanzaErrorCondition::RemoteServerTimeout)
                        }
                        _ => n.dialback_result(&from, &to, answer % 5 != 0),
                    };
                }
                InboundEvent::Failed(_) | InboundEvent::Closed { .. } => failed = true,
                _ => {}
            }
        }
        if failed {
            assert!(n.is_closed());
        }
    }
    n.handle_timeout(now + Duration::from_secs(3600));
    while n.next_event().is_some() {}
    assert!(n.poll_timeout().is_none());
    check_well_formed(&n.take_output());
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
