//! The client's negotiator fed arbitrary server bytes: never a panic, and
//! whatever it writes back stays well-formed.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use starling_auth::negotiate::{ClientNegotiator, ClientSettings};
use starling_auth::sasl::ClientConfig;

const SERVER_HEADER: &[u8] =
    b"<stream:stream from='localhost' id='x' version='1.0' xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams'>";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut settings = ClientSettings::new("juliet@localhost/r".parse().expect("jid"));
    settings.require_tls = mode & 1 == 0;
    // The high bit: resume an XEP-0198 stream instead of binding.
    settings.resume = (mode & 0x80 != 0).then(|| starling_stanza::SmResume {
        h: starling_stanza::H(7),
        previd: "old".to_owned(),
    });
    let mut n = ClientNegotiator::new(
        settings,
        ClientConfig::password("juliet", "pw"),
        None,
        Instant::now(),
    );
    n.start();
    n.feed(SERVER_HEADER);
    for c in rest.chunks(usize::from((mode >> 1) & 0x3f).max(1)) {
        n.feed(c);
        while n.next_event().is_some() {}
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
