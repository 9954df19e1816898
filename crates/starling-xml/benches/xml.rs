//! Throughput and allocations of the starling-xml tokenizer against
//! quick-xml and rxml on generated XMPP client streams.
//!
//! Two corpora (see `corpus/mod.rs`): `xml_mixed`, realistic traffic of
//! 24 MiB, and `xml_tiny`, 8 MiB of very small stanzas. Every implementation
//! reads the stream in 4 KiB pieces, resolves namespaces, decodes references
//! in text and normalises attribute values (except `quick_xml_raw`, a
//! reference point that does neither), and feeds each token to the same
//! consumer: a [`Tally`] of counts and name, namespace, value and text
//! lengths.
//!
//! ```text
//! cargo bench -p starling-xml --bench xml               # everything
//! cargo bench -p starling-xml --bench xml -- xml_mixed  # one group
//! cargo test -p starling-xml --benches                  # quick check, small corpora
//! ```
//!
//! Before the measurements the binary checks that all implementations agree
//! on the corpus and prints the allocations each one makes per token and per
//! MB (counted by a wrapper around the system allocator).
//!
//! For instruction counts, `--bench-one NAME` parses one corpus once with one
//! implementation and exits, without Criterion:
//!
//! ```text
//! valgrind --tool=callgrind --dump-instr=no target/release/deps/xml-<hash> \
//!     --bench-one starling [--corpus mixed|tiny] [--mb N] [--repeat N]
//! ```
//!
//! (`--bench-one none --write FILE` writes the corpus to a file instead.)

use std::alloc::System;
use std::hint::black_box;
use std::io::BufReader;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use quick_xml::events::Event as QEvent;
use quick_xml::name::ResolveResult;
use starling_xml::{Token, Tokenizer};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

mod corpus;

// The workspace forbids `unsafe` code, which a `GlobalAlloc` implementation
// needs, so the counting wrapper comes from a crate.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Size of the pieces the input arrives in.
const CHUNK: usize = 4096;
const SEED: u64 = 0x5EED_2024_0001;
const MIXED_BYTES: usize = 24 * 1024 * 1024;
const TINY_BYTES: usize = 8 * 1024 * 1024;
/// Corpus size when Criterion only checks that the benchmarks run.
const TEST_BYTES: usize = 256 * 1024;

/// What the consumer saw. Every implementation touches every token the
/// same way, so the fields must agree (`quick_xml_raw` sees raw names and
/// values, so only its counts of elements compare).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    /// Start tags (an empty-element tag counts as a start and an end).
    starts: u64,
    /// End tags.
    ends: u64,
    /// Text events as the implementation reports them (implementations split
    /// text differently, so this is not compared).
    texts: u64,
    /// Bytes of text after decoding.
    text_bytes: u64,
    /// Bytes of element and attribute local names and namespace names.
    name_bytes: u64,
    /// Bytes of attribute values after normalisation.
    value_bytes: u64,
}

impl Tally {
    fn logical_eq(&self, other: &Tally) -> bool {
        Tally { texts: 0, ..*self } == Tally { texts: 0, ..*other }
    }
}

/// One implementation: reads the whole corpus and tallies what it sees.
type ParseFn = fn(&[u8]) -> Tally;

/// The implementations, as named in the benchmark IDs.
const IMPLEMENTATIONS: &[(&str, ParseFn)] = &[
    ("starling", parse_starling),
    ("quick_xml_ns", parse_quick_xml_ns),
    ("quick_xml_raw", parse_quick_xml_raw),
    ("rxml", parse_rxml),
];

fn parse_starling(data: &[u8]) -> Tally {
    fn drain(tok: &mut Tokenizer, t: &mut Tally) {
        while let Some(token) = tok.next_token().expect("starling-xml rejected the corpus") {
            match token {
                Token::Start(s) => {
                    t.starts += 1;
                    t.name_bytes += (s.name.len() + s.namespace.len()) as u64;
                    for a in s.attributes {
                        t.name_bytes += (a.name.len() + a.namespace.len()) as u64;
                        t.value_bytes += a.value.len() as u64;
                    }
                }
                Token::End(_) => t.ends += 1,
                Token::Text(s) => {
                    t.texts += 1;
                    t.text_bytes += s.len() as u64;
                }
                Token::Declaration(_) => {}
            }
        }
    }
    let mut tok = Tokenizer::new();
    let mut t = Tally::default();
    for chunk in corpus::chunks(data, CHUNK) {
        tok.feed(chunk);
        drain(&mut tok, &mut t);
    }
    tok.finish();
    drain(&mut tok, &mut t);
    t
}

fn parse_quick_xml_ns(data: &[u8]) -> Tally {
    let mut reader = quick_xml::NsReader::from_reader(BufReader::with_capacity(CHUNK, data));
    let mut buf = Vec::new();
    let mut t = Tally::default();
    loop {
        let (ns, event) = reader
            .read_resolved_event_into(&mut buf)
            .expect("quick-xml rejected the corpus");
        let ns_len = match ns {
            ResolveResult::Bound(ns) => ns.0.len(),
            ResolveResult::Unbound => 0,
            ResolveResult::Unknown(p) => panic!("quick-xml: undeclared prefix {p}"),
        };
        match event {
            QEvent::Start(ref e) | QEvent::Empty(ref e) => {
                t.starts += 1;
                t.name_bytes += (e.local_name().as_ref().len() + ns_len) as u64;
                for a in e.attributes() {
                    let a = a.expect("quick-xml: bad attribute");
                    if a.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (ans, local) = reader.resolver().resolve_attribute(a.key);
                    let ans_len = match ans {
                        ResolveResult::Bound(ns) => ns.0.len(),
                        ResolveResult::Unbound => 0,
                        ResolveResult::Unknown(p) => panic!("quick-xml: undeclared prefix {p}"),
                    };
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                        .expect("quick-xml: bad attribute value");
                    t.name_bytes += (local.as_ref().len() + ans_len) as u64;
                    t.value_bytes += value.len() as u64;
                }
                if matches!(event, QEvent::Empty(_)) {
                    t.ends += 1;
                }
            }
            QEvent::End(_) => t.ends += 1,
            QEvent::Text(e) => {
                t.texts += 1;
                t.text_bytes += e.xml10_content().len() as u64;
            }
            QEvent::GeneralRef(r) => {
                t.texts += 1;
                let len = match r
                    .resolve_char_ref()
                    .expect("quick-xml: bad character reference")
                {
                    Some(c) => c.len_utf8(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .expect("quick-xml: unknown entity")
                        .len(),
                };
                t.text_bytes += len as u64;
            }
            QEvent::CData(e) => {
                t.texts += 1;
                t.text_bytes += e.xml10_content().len() as u64;
            }
            QEvent::Decl(_) => {}
            QEvent::Eof => break,
            other => panic!("quick-xml: unexpected {other:?}"),
        }
        buf.clear();
    }
    t
}

fn parse_quick_xml_raw(data: &[u8]) -> Tally {
    let mut reader = quick_xml::Reader::from_reader(BufReader::with_capacity(CHUNK, data));
    let mut buf = Vec::new();
    let mut t = Tally::default();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .expect("quick-xml rejected the corpus");
        match event {
            QEvent::Start(ref e) | QEvent::Empty(ref e) => {
                t.starts += 1;
                t.name_bytes += e.name().as_ref().len() as u64;
                for a in e.attributes() {
                    let a = a.expect("quick-xml: bad attribute");
                    t.name_bytes += a.key.as_ref().len() as u64;
                    t.value_bytes += a.value.len() as u64;
                }
                if matches!(event, QEvent::Empty(_)) {
                    t.ends += 1;
                }
            }
            QEvent::End(_) => t.ends += 1,
            QEvent::Text(e) => {
                t.texts += 1;
                t.text_bytes += e.len() as u64;
            }
            QEvent::GeneralRef(r) => {
                t.texts += 1;
                t.text_bytes += r.len() as u64;
            }
            QEvent::CData(e) => {
                t.texts += 1;
                t.text_bytes += e.len() as u64;
            }
            QEvent::Decl(_) => {}
            QEvent::Eof => break,
            other => panic!("quick-xml: unexpected {other:?}"),
        }
        buf.clear();
    }
    t
}

fn parse_rxml(data: &[u8]) -> Tally {
    use rxml::Parse;
    use rxml::error::EndOrError;

    fn consume(ev: rxml::Event, t: &mut Tally) {
        match ev {
            rxml::Event::StartElement(_, (ns, name), attrs) => {
                t.starts += 1;
                t.name_bytes += (name.len() + ns.len()) as u64;
                for ((ans, an), v) in attrs.iter() {
                    t.name_bytes += (an.len() + ans.len()) as u64;
                    t.value_bytes += v.len() as u64;
                }
            }
            rxml::Event::EndElement(_) => t.ends += 1,
            rxml::Event::Text(_, s) => {
                t.texts += 1;
                t.text_bytes += s.len() as u64;
            }
            rxml::Event::XmlDeclaration(..) => {}
        }
    }

    let mut parser = rxml::Parser::new();
    let mut t = Tally::default();
    for chunk in corpus::chunks(data, CHUNK) {
        let mut rest = chunk;
        loop {
            match parser.parse(&mut rest, false) {
                Ok(Some(ev)) => consume(ev, &mut t),
                Ok(None) => break,
                Err(EndOrError::NeedMoreData) => break,
                Err(EndOrError::Error(e)) => panic!("rxml rejected the corpus: {e}"),
            }
        }
        debug_assert!(rest.is_empty());
    }
    let mut rest: &[u8] = &[];
    loop {
        match parser.parse(&mut rest, true) {
            Ok(Some(ev)) => consume(ev, &mut t),
            Ok(None) => break,
            Err(e) => panic!("rxml rejected the end of the corpus: {e:?}"),
        }
    }
    t
}

/// Allocations (including reallocations) made by `f`.
fn count_allocations(f: impl FnOnce() -> Tally) -> (Tally, usize) {
    let region = Region::new(GLOBAL);
    let t = f();
    let change = region.change();
    (t, change.allocations + change.reallocations)
}

/// Checks that every implementation reads the whole corpus the same way and
/// reports the allocations each one makes.
#[allow(clippy::print_stdout, reason = "a benchmark reports to its terminal")]
fn check_and_count(group: &str, data: &[u8]) {
    let mut results = Vec::new();
    for &(name, parse) in IMPLEMENTATIONS {
        let (tally, allocs) = count_allocations(|| parse(data));
        results.push((name, tally, allocs));
    }
    let (_, reference, _) = results[0];
    assert!(
        reference.starts > 0 && reference.starts == reference.ends,
        "{group}: unbalanced {reference:?}"
    );
    for &(name, tally, _) in &results[1..] {
        if name == "quick_xml_raw" {
            assert_eq!(
                (tally.starts, tally.ends),
                (reference.starts, reference.ends),
                "{group}: {name} differs"
            );
        } else {
            assert!(
                tally.logical_eq(&reference),
                "{group}: {name} saw {tally:?}, starling saw {reference:?}"
            );
        }
    }
    // Tokens as starling reports them: start tags, end tags and text nodes.
    let tokens = (reference.starts + reference.ends + reference.texts) as f64;
    let mb = data.len() as f64 / 1e6;
    println!(
        "{group}: {:.2} MB, {} start tags, {:.0} tokens (start + end + text, as starling reports them)",
        mb, reference.starts, tokens
    );
    let line = |f: &dyn Fn(usize) -> String| {
        results
            .iter()
            .filter(|(name, ..)| *name != "quick_xml_raw")
            .map(|&(name, _, allocs)| format!("{name} {}", f(allocs)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "{group}: allocs per token: {}",
        line(&|a| format!("{:.4}", a as f64 / tokens))
    );
    println!(
        "{group}: allocs per MB: {}",
        line(&|a| format!("{:.1}", a as f64 / mb))
    );
}

fn bench_group(c: &mut Criterion, group: &str, data: &[u8]) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    for &(name, parse) in IMPLEMENTATIONS {
        g.bench_function(name, |b| b.iter(|| parse(black_box(data))));
    }
    g.finish();
}

/// The value following `flag` on the command line.
fn arg_value(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// `--bench-one NAME [--corpus mixed|tiny] [--mb N] [--repeat N] [--write FILE]`:
/// one parse (or `--repeat` parses), for instruction counting under
/// callgrind or sampling with perf. `NAME` `none` only generates the corpus
/// (and writes it to `FILE`, if given).
#[allow(clippy::print_stdout, reason = "a benchmark reports to its terminal")]
fn bench_one(args: &[String], name: &str) {
    let mb: usize =
        arg_value(args, "--mb").map_or(4, |s| s.parse().expect("--mb takes a whole number"));
    let kind = arg_value(args, "--corpus").unwrap_or_else(|| "mixed".to_owned());
    let data = match kind.as_str() {
        "mixed" => corpus::mixed_stream(mb * 1024 * 1024, SEED),
        "tiny" => corpus::tiny_stream(mb * 1024 * 1024, SEED),
        other => panic!("unknown corpus {other}"),
    };
    if let Some(path) = arg_value(args, "--write") {
        std::fs::write(&path, &data).expect("cannot write the corpus");
    }
    if name == "none" {
        println!("{kind}: {} bytes generated, nothing parsed", data.len());
        return;
    }
    let Some(&(_, parse)) = IMPLEMENTATIONS.iter().find(|(n, _)| *n == name) else {
        panic!(
            "unknown implementation {name}; try starling, quick_xml_ns, quick_xml_raw, rxml or none"
        );
    };
    let repeat: usize = arg_value(args, "--repeat")
        .map_or(1, |s| s.parse().expect("--repeat takes a whole number"));
    let mut t = Tally::default();
    for _ in 0..repeat {
        t = black_box(parse(black_box(&data)));
    }
    println!("{kind}: {} bytes, {name}: {t:?}", data.len());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(name) = arg_value(&args, "--bench-one") {
        bench_one(&args, &name);
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then Criterion runs each benchmark once: small corpora suffice.
    let measuring = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let (mixed_bytes, tiny_bytes) = if measuring {
        (MIXED_BYTES, TINY_BYTES)
    } else {
        (TEST_BYTES, TEST_BYTES)
    };
    let mixed = corpus::mixed_stream(mixed_bytes, SEED);
    let tiny = corpus::tiny_stream(tiny_bytes, SEED);
    check_and_count("xml_mixed", &mixed);
    check_and_count("xml_tiny", &tiny);

    let mut c = Criterion::default().configure_from_args();
    bench_group(&mut c, "xml_mixed", &mixed);
    bench_group(&mut c, "xml_tiny", &tiny);
    c.final_summary();
}
