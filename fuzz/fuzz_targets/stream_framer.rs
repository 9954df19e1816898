//! The stream framer on raw bytes after a valid header, with the chunking
//! oracle: the input cut at the boundaries chosen by its first bytes must
//! give the same events and the same error as the input fed whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starling_stream::{Event, Framer, FramerConfig, FramingError};
use starling_xml::Limits;

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream to='example.com' version='1.0' \
    xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

fn run(chunks: &[&[u8]]) -> (Vec<Event>, Option<FramingError>) {
    let limits = Limits {
        max_element_bytes: 16 * 1024,
        max_text_chunk: 512,
        ..Limits::default()
    };
    let mut f = Framer::new(FramerConfig {
        expected: None,
        limits,
    });
    let mut events = Vec::new();
    for c in chunks {
        f.feed(c);
        loop {
            match f.next_event() {
                Ok(Some(Event::Keepalive)) => {
                    // Keepalives may be split differently; count them once.
                    if events.last() != Some(&Event::Keepalive) {
                        events.push(Event::Keepalive);
                    }
                }
                Ok(Some(e)) => events.push(e),
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (cuts, body) = data.split_at(data.len().min(8));
    let mut input = HEADER.to_vec();
    input.extend_from_slice(body);
    let whole = run(&[&input]);
    let mut chunks = Vec::new();
    let mut rest = &input[..];
    let mut i = 0;
    while !rest.is_empty() {
        let n = (usize::from(cuts[i % cuts.len()]) % 61 + 1).min(rest.len());
        let (a, b) = rest.split_at(n);
        chunks.push(a);
        rest = b;
        i += 1;
    }
    let chunked = run(&chunks);
    assert_eq!(whole.0, chunked.0);
    assert_eq!(
        whole.1.map(|e| e.error.condition),
        chunked.1.map(|e| e.error.condition)
    );
});
