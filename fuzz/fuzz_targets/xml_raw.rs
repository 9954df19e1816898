//! Raw bytes fed whole to the XML tokenizer: every token is pulled, then the
//! input is finished. Nothing may panic, the tokenizer must advance, and an
//! error must be a clean, sticky stop at an offset inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starling_xml::{Token, Tokenizer};

fuzz_target!(|data: &[u8]| {
    let mut tok = Tokenizer::new();
    tok.feed(data);
    tok.finish();
    // Every token consumes input: more tokens than this means no progress.
    let mut budget = 2 * data.len() + 16;
    loop {
        match tok.next_token() {
            Ok(Some(t)) => {
                assert!(budget > 0, "the tokenizer does not advance");
                budget -= 1;
                if let Token::Text(s) = &t {
                    assert!(!s.is_empty(), "empty text token");
                }
                assert!(tok.offset() <= data.len() as u64);
            }
            Ok(None) => {
                // A clean end: the root closed and nothing is left over.
                assert_eq!(tok.buffered(), 0);
                assert_eq!(tok.depth(), 0);
                break;
            }
            Err(e) => {
                assert!(
                    e.offset <= data.len() as u64,
                    "{e} past the end of {} bytes",
                    data.len()
                );
                assert_eq!(tok.next_token(), Err(e), "the error is not sticky");
                break;
            }
        }
    }
});
