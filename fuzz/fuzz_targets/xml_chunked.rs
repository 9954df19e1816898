//! The XML tokenizer fed in chunks must give what it gives fed whole: the
//! same tokens (adjacent text merged, as text may be cut into pieces
//! differently) and the same error at the same offset.
//!
//! The chunks are handed over by copy (`Tokenizer::feed`), as owned buffers
//! (`Tokenizer::feed_bytes`, adopted without a copy when nothing is
//! buffered), or a mix of both.
//!
//! Input layout: one byte of settings (low 4 bits: how many chunk sizes
//! follow; bit 4: the smallest text chunk size; bit 5: small limits; bits 6
//! and 7: how chunks are handed over — copied, as buffers, alternating, or
//! as buffers when their size byte is odd), the chunk sizes (one byte each,
//! used in turn, 0 meaning 1), then the document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starling_xml::{BytesMut, Error, Limits, Token, Tokenizer};

/// A token reduced to something comparable; text is kept apart so that
/// adjacent pieces can be merged.
#[derive(Debug, PartialEq, Eq)]
enum Tok {
    Text(String),
    Other(String),
}

/// How chunks are handed to the tokenizer.
#[derive(Debug, Clone, Copy)]
enum Feed {
    Copy,
    Buffers,
    Alternate,
    OddSizes,
}

impl Feed {
    fn from_bits(settings: u8) -> Feed {
        match settings >> 6 {
            0 => Feed::Copy,
            1 => Feed::Buffers,
            2 => Feed::Alternate,
            _ => Feed::OddSizes,
        }
    }

    /// Whether chunk number `i`, of size byte `size`, goes as a buffer.
    fn as_buffer(self, i: usize, size: u8) -> bool {
        match self {
            Feed::Copy => false,
            Feed::Buffers => true,
            Feed::Alternate => i % 2 == 1,
            Feed::OddSizes => size % 2 == 1,
        }
    }
}

fn run(doc: &[u8], sizes: &[u8], limits: Limits, feed: Feed) -> (Vec<Tok>, Option<Error>) {
    let mut tok = Tokenizer::with_limits(limits);
    let mut out: Vec<Tok> = Vec::new();
    let mut budget = 2 * doc.len() + 16;
    let mut rest = doc;
    let mut i = 0;
    let mut pull = |tok: &mut Tokenizer, out: &mut Vec<Tok>| -> Option<Error> {
        loop {
            match tok.next_token() {
                Ok(Some(t)) => {
                    assert!(budget > 0, "the tokenizer does not advance");
                    budget -= 1;
                    match (t, out.last_mut()) {
                        (Token::Text(s), Some(Tok::Text(prev))) => prev.push_str(&s),
                        (Token::Text(s), _) => out.push(Tok::Text(s.to_string())),
                        (t, _) => out.push(Tok::Other(format!("{t:?}"))),
                    }
                }
                Ok(None) => return None,
                Err(e) => return Some(e),
            }
        }
    };
    loop {
        if rest.is_empty() {
            tok.finish();
            let error = pull(&mut tok, &mut out);
            return (out, error);
        }
        let size = if sizes.is_empty() {
            0
        } else {
            sizes[i % sizes.len()]
        };
        let n = if sizes.is_empty() {
            rest.len()
        } else {
            usize::from(size).max(1)
        };
        let (piece, r) = rest.split_at(n.min(rest.len()));
        rest = r;
        if feed.as_buffer(i, size) {
            tok.feed_bytes(BytesMut::from(piece));
        } else {
            tok.feed(piece);
        }
        i += 1;
        if let Some(e) = pull(&mut tok, &mut out) {
            return (out, Some(e));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&settings, data)) = data.split_first() else {
        return;
    };
    let n = usize::from(settings & 0x0f).min(data.len());
    let (sizes, doc) = data.split_at(n);
    let mut limits = Limits::default();
    if settings & 0x10 != 0 {
        limits.max_text_chunk = 0;
    }
    if settings & 0x20 != 0 {
        limits = Limits {
            max_name_len: 8,
            max_attributes: 4,
            max_namespace_decls: 2,
            max_depth: 4,
            max_element_bytes: 200,
            ..limits
        };
    }
    let whole = run(doc, &[], limits, Feed::Copy);
    let feed = Feed::from_bits(settings);
    let chunked = run(doc, sizes, limits, feed);
    assert_eq!(whole, chunked, "sizes {sizes:?}, {feed:?}");
});
