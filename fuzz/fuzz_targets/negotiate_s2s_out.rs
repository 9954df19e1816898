//! The outgoing server-to-server negotiator (authenticating, or a
//! dialback verifier) fed arbitrary peer bytes after a valid response
//! header: never a panic, whatever it writes stays well-formed, and once
//! closed it stays closed.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use starling_auth::negotiate::{OutboundEvent, PeerTls, S2sOutbound, S2sSettings};

const PEER_HEADER: &[u8] = b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
    xmlns='jabber:server' xmlns:db='jabber:server:dialback' from='b.example' to='a.example' \
    id='s2s-1' version='1.0'>";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let mut settings = S2sSettings::new(b"secret".to_vec());
    settings.tls_required = mode & 1 == 0;
    settings.verify_without_tls = mode & 2 == 0;
    settings.have_client_cert = mode & 4 == 4;
    let tls = (mode & 8 == 8).then(|| PeerTls::new(vec!["b.example".parse().expect("domain")]));
    let (local, remote) = (
        "a.example".parse().expect("domain"),
        "b.example".parse().expect("domain"),
    );
    let verifier = mode & 16 == 16;
    let mut n = if verifier {
        S2sOutbound::verifier(settings, local, remote, tls, now)
    } else {
        S2sOutbound::new(settings, local, remote, tls, now)
    };
    n.verify("s2s-in-1", "key", now);
    // Some peer bytes may be ignored before the header: start with one.
    if mode & 32 == 32 {
        n.feed(PEER_HEADER);
    }
    let chunk = usize::from(mode >> 6).max(1) * 7;
    let mut closed = false;
    for c in rest.chunks(chunk) {
        n.feed(c);
        while let Some(e) = n.next_event() {
            match e {
                OutboundEvent::StartTls => n.tls_established(PeerTls::default()),
                OutboundEvent::Ready { .. } => {
                    n.authenticate_additional("chat.a.example".parse().expect("domain"), now);
                }
                OutboundEvent::Failed(_) | OutboundEvent::Closed { .. } => closed = true,
                _ => {}
            }
        }
        if closed {
            assert!(n.is_closed());
            assert!(!n.send(&starling_xml::Element::new("message", "jabber:server")));
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
