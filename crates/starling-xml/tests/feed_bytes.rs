//! Handing input over as owned buffers (`Tokenizer::feed_bytes`) gives the
//! same tokens and errors as copying it in (`Tokenizer::feed`), however
//! the two are mixed and wherever the input is cut.

mod common;

use common::{run_cuts, run_cuts_with};
use proptest::prelude::*;
use proptest::sample::select;
use starling_xml::Limits;

/// Pieces of XMPP streams, valid and not, to be strung together.
const PIECES: &[&str] = &[
    "<?xml version='1.0'?>",
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>",
    "<message to='romeo@example.net' type='chat'><body>Art thou not Romeo?</body></message>",
    "<presence><show>away</show><status>caf\u{e9} &amp; cr\u{e8}me</status></presence>",
    "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
    "<a:x xmlns:a='urn:a' a:k=\"v&lt;\"><![CDATA[<raw>]]></a:x>",
    " \r\n\t",
    "text between",
    "&#x1F600;&#38;",
    "</stream:stream>",
    "<!-- comment -->",
    "<?pi?>",
    "<unclosed",
    "\u{0}\u{1}",
    "\u{fffe}",
];

fn input() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(select(PIECES), 0..12),
        prop::option::of((any::<prop::sample::Index>(), any::<u8>())),
    )
        .prop_map(|(pieces, edit)| {
            let mut bytes: Vec<u8> = pieces.concat().into_bytes();
            if let Some((at, byte)) = edit {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
            }
            bytes
        })
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        3 => Just(Limits::default()),
        1 => (0usize..40).prop_map(|n| Limits { max_text_chunk: n, ..Limits::default() }),
        1 => (16usize..200).prop_map(|n| Limits { max_element_bytes: n, max_depth: 4, ..Limits::default() }),
    ]
}

/// The input, sorted cut positions, and for each piece whether it is handed
/// over as a buffer.
fn case() -> impl Strategy<Value = (Vec<u8>, Vec<usize>, Vec<bool>, Limits)> {
    (input(), limits()).prop_flat_map(|(bytes, limits)| {
        let n = bytes.len();
        (
            Just(bytes),
            prop::collection::vec(0..=n, 0..20).prop_map(|mut c| {
                c.sort_unstable();
                c.dedup();
                c
            }),
            prop::collection::vec(any::<bool>(), 1..24),
            Just(limits),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn feed_bytes_feed_and_a_mix_agree((bytes, cuts, mix, limits) in case()) {
        let copied = run_cuts(&bytes, &cuts, limits, true);
        let handed = run_cuts_with(&bytes, &cuts, limits, true, |_| true);
        let mixed = run_cuts_with(&bytes, &cuts, limits, true, |i| mix[i % mix.len()]);
        let shown = String::from_utf8_lossy(&bytes);
        for (name, run) in [("feed_bytes", &handed), ("mixed", &mixed)] {
            prop_assert_eq!(
                copied.merged(), run.merged(),
                "{} tokens differ for {:?} cut at {:?}", name, shown, cuts
            );
            prop_assert_eq!(
                &copied.error, &run.error,
                "{} errors differ for {:?} cut at {:?}", name, shown, cuts
            );
        }
    }
}

#[test]
fn a_whole_stream_handed_over_in_one_buffer() {
    let doc = [&PIECES[..5], &["</stream:stream>"][..]].concat().concat();
    let copied = run_cuts(doc.as_bytes(), &[], Limits::default(), true);
    let handed = run_cuts_with(doc.as_bytes(), &[], Limits::default(), true, |_| true);
    assert_eq!(copied, handed);
    assert!(copied.error.is_none(), "{:?}", copied.error);
    assert!(copied.tokens.len() > 10);
}
