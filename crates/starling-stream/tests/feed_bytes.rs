//! The framer gives the same events whether its input is copied in
//! (`Framer::feed`) or handed over as read buffers (`Framer::feed_bytes`).

use starling_stream::{ContentNamespace, Event, Framer, FramerConfig};
use starling_xml::BytesMut;

const STREAM: &str = concat!(
    "<?xml version='1.0'?>",
    "<stream:stream to='example.com' version='1.0' xmlns='jabber:client' ",
    "xmlns:stream='http://etherx.jabber.org/streams'>",
    "<message to='romeo@example.net'><body>Art thou not Romeo?</body></message> ",
    "<presence><status>caf\u{e9}</status></presence>",
    "</stream:stream>",
);

fn events(chunk: usize, as_bytes: impl Fn(usize) -> bool) -> Vec<Event> {
    let mut framer = Framer::new(FramerConfig {
        expected: Some(ContentNamespace::Client),
        ..FramerConfig::default()
    });
    let mut out = Vec::new();
    for (i, piece) in STREAM.as_bytes().chunks(chunk).enumerate() {
        if as_bytes(i) {
            framer.feed_bytes(BytesMut::from(piece));
        } else {
            framer.feed(piece);
        }
        while let Some(e) = framer.next_event().unwrap() {
            out.push(e);
        }
    }
    out
}

#[test]
fn feed_and_feed_bytes_agree_for_every_chunk_size() {
    let expected = events(STREAM.len(), |_| false);
    assert_eq!(expected.len(), 5, "{expected:#?}");
    assert_eq!(expected.last(), Some(&Event::Closed));
    for chunk in 1..=STREAM.len() {
        assert_eq!(events(chunk, |_| true), expected, "chunk {chunk}");
        assert_eq!(events(chunk, |i| i % 2 == 0), expected, "chunk {chunk}");
        assert_eq!(events(chunk, |i| i % 3 == 1), expected, "chunk {chunk}");
    }
}
