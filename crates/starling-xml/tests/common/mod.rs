//! Helpers shared by the integration tests: owned tokens, and running a
//! tokenizer over an input fed whole or in chunks.

// Each test file uses a different part of this module.
#![allow(dead_code, unreachable_pub)]

use starling_xml::{Error, Limits, Token, Tokenizer, XmlDecl};

/// A start tag with everything owned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Start {
    pub prefix: String,
    pub name: String,
    pub ns: String,
    /// `(namespace, local name, value)`.
    pub attrs: Vec<(String, String, String)>,
    /// `(prefix, namespace)`.
    pub decls: Vec<(String, String)>,
    pub empty: bool,
}

/// A token with everything owned, so that runs can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Decl(XmlDecl),
    Start(Start),
    End { name: String, ns: String },
    Text(String),
}

impl Tok {
    pub fn from_token(t: &Token<'_>) -> Tok {
        match t {
            Token::Declaration(d) => Tok::Decl(d.clone()),
            Token::Start(s) => Tok::Start(Start {
                prefix: s.prefix.to_string(),
                name: s.name.to_string(),
                ns: s.namespace.to_string(),
                attrs: s
                    .attributes
                    .iter()
                    .map(|a| {
                        (
                            a.namespace.to_string(),
                            a.name.to_string(),
                            a.value.to_string(),
                        )
                    })
                    .collect(),
                decls: s
                    .namespace_decls
                    .iter()
                    .map(|d| (d.prefix.to_string(), d.namespace.to_string()))
                    .collect(),
                empty: s.self_closing,
            }),
            Token::End(e) => Tok::End {
                name: e.name.to_string(),
                ns: e.namespace.to_string(),
            },
            Token::Text(t) => Tok::Text(t.to_string()),
        }
    }

    /// A start tag in namespace `ns` without attributes or declarations.
    pub fn start(name: &str, ns: &str) -> Tok {
        Tok::Start(Start {
            name: name.into(),
            ns: ns.into(),
            ..Start::default()
        })
    }

    fn edit(self, f: impl FnOnce(&mut Start)) -> Tok {
        match self {
            Tok::Start(mut s) => {
                f(&mut s);
                Tok::Start(s)
            }
            other => panic!("not a start tag: {other:?}"),
        }
    }

    /// The start tag, self-closing.
    pub fn empty(self) -> Tok {
        self.edit(|s| s.empty = true)
    }

    pub fn prefix(self, p: &str) -> Tok {
        self.edit(|s| s.prefix = p.into())
    }

    pub fn attrs(self, attrs: &[(&str, &str, &str)]) -> Tok {
        self.edit(|s| {
            s.attrs = attrs
                .iter()
                .map(|(n, l, v)| (n.to_string(), l.to_string(), v.to_string()))
                .collect()
        })
    }

    pub fn decls(self, decls: &[(&str, &str)]) -> Tok {
        self.edit(|s| {
            s.decls = decls
                .iter()
                .map(|(p, n)| (p.to_string(), n.to_string()))
                .collect()
        })
    }

    pub fn end(name: &str, ns: &str) -> Tok {
        Tok::End {
            name: name.into(),
            ns: ns.into(),
        }
    }

    pub fn text(s: &str) -> Tok {
        Tok::Text(s.into())
    }
}

/// What a run produced: the tokens, then the error that stopped it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub tokens: Vec<Tok>,
    pub error: Option<Error>,
    /// The length of every text piece, in decoded bytes.
    pub text_pieces: Vec<usize>,
    /// The most bytes the tokenizer held at once (checked after each pull).
    pub max_buffered: usize,
}

impl Run {
    /// The tokens with adjacent text pieces merged.
    pub fn merged(&self) -> Vec<Tok> {
        merge_text(&self.tokens)
    }
}

/// Merges adjacent `Text` tokens (text may be cut into pieces differently).
pub fn merge_text(tokens: &[Tok]) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(tokens.len());
    for t in tokens {
        if let (Tok::Text(new), Some(Tok::Text(prev))) = (t, out.last_mut()) {
            prev.push_str(new);
        } else {
            out.push(t.clone());
        }
    }
    out
}

/// Pulls every token available; returns `false` once an error stopped the
/// tokenizer.
fn drain(tok: &mut Tokenizer, run: &mut Run, budget: &mut usize) -> bool {
    loop {
        run.max_buffered = run.max_buffered.max(tok.buffered());
        match tok.next_token() {
            Ok(Some(t)) => {
                // Every token consumes input, so there cannot be more tokens
                // than this; more means the tokenizer is stuck.
                assert!(
                    *budget > 0,
                    "too many tokens: the tokenizer does not advance"
                );
                *budget -= 1;
                if let Token::Text(s) = &t {
                    assert!(!s.is_empty(), "empty text token");
                    run.text_pieces.push(s.len());
                }
                run.tokens.push(Tok::from_token(&t));
            }
            Ok(None) => return true,
            Err(e) => {
                // The error is sticky.
                assert_eq!(tok.next_token(), Err(e.clone()), "error not repeated");
                run.error = Some(e);
                return false;
            }
        }
    }
}

/// Feeds `input` cut at the sorted positions `cuts`, pulling all tokens
/// after each feed, then finishes if `finish`.
pub fn run_cuts(input: &[u8], cuts: &[usize], limits: Limits, finish: bool) -> Run {
    run_cuts_with(input, cuts, limits, finish, |_| false)
}

/// [`run_cuts`], handing piece `i` over with `Tokenizer::feed_bytes` when
/// `as_bytes(i)` is true and with `Tokenizer::feed` otherwise.
pub fn run_cuts_with(
    input: &[u8],
    cuts: &[usize],
    limits: Limits,
    finish: bool,
    as_bytes: impl Fn(usize) -> bool,
) -> Run {
    let mut tok = Tokenizer::with_limits(limits);
    let mut run = Run {
        tokens: Vec::new(),
        error: None,
        text_pieces: Vec::new(),
        max_buffered: 0,
    };
    let mut budget = 2 * input.len() + 16;
    let mut prev = 0;
    let ends = cuts
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < input.len())
        .chain(std::iter::once(input.len()));
    for (i, c) in ends.enumerate() {
        if c < prev {
            continue;
        }
        if as_bytes(i) {
            tok.feed_bytes(starling_xml::BytesMut::from(&input[prev..c]));
        } else {
            tok.feed(&input[prev..c]);
        }
        prev = c;
        if !drain(&mut tok, &mut run, &mut budget) {
            return run;
        }
    }
    if finish {
        tok.finish();
        drain(&mut tok, &mut run, &mut budget);
    }
    run
}

/// Feeds `input` whole, then finishes.
pub fn run_whole(input: &[u8], limits: Limits) -> Run {
    run_cuts(input, &[], limits, true)
}

/// Feeds `input` in pieces of `size` bytes, then finishes.
pub fn run_sized(input: &[u8], size: usize, limits: Limits) -> Run {
    let cuts: Vec<usize> = (size..input.len()).step_by(size.max(1)).collect();
    run_cuts(input, &cuts, limits, true)
}

/// Asserts that feeding in any way gives the same merged tokens and error as
/// feeding whole.
pub fn assert_invariant(input: &[u8], cuts: &[usize], limits: Limits) {
    let whole = run_whole(input, limits);
    let chunked = run_cuts(input, cuts, limits, true);
    assert_eq!(
        whole.merged(),
        chunked.merged(),
        "tokens differ for {:?} cut at {cuts:?}",
        String::from_utf8_lossy(input)
    );
    assert_eq!(
        whole.error,
        chunked.error,
        "errors differ for {:?} cut at {cuts:?}",
        String::from_utf8_lossy(input)
    );
}
