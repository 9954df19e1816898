//! Bytes to typed stanzas: starling-stream + starling-stanza against
//! xmpp-parsers (with xso, minidom and rxml) on the same generated client
//! stream, in the same run.
//!
//! The corpus is the mixed one of the XML benchmark
//! (`starling-xml/benches/corpus`): about 4 MiB of realistic client traffic.
//! The implementations read it in 4 KiB pieces, as a connection would, and
//! turn every top-level element into a typed message, presence or iq:
//!
//! - `starling`: [`Framer`] (expecting `jabber:client`) and
//!   [`Stanza::from_element`] on every [`Event::Element`].
//! - `xmpp_parsers`: an `rxml` parser whose events go, for each child of the
//!   stream root, to the `xso` builder of `Message`, `Presence` or `Iq`
//!   (`FromXml::from_events`, then `FromEventsBuilder::feed` until the end
//!   tag), tracking `xml:lang` with `rxml`'s `XmlLangStack`. This is how xso
//!   itself reads documents and streams: the stanza is built while its events
//!   arrive, without a minidom tree of the whole stanza; only the payloads
//!   the types do not model become `minidom::Element`s. It is faster, and
//!   allocates less, than building each stanza as a `minidom::Element` with
//!   minidom's `TreeBuilder` and converting it with `TryFrom`. The builder is
//!   chosen by a direct match on the element name, which is never slower
//!   than trying each type in turn.
//!
//! - `starling_envelope`: what the server's router reads — the framer and
//!   [`Envelope::from_element`] (same checks, no copy of the content).
//!
//! The consumers tally the same things (stanzas of each kind, stanzas the
//! library refused, body bytes, payload elements), and the binary checks
//! once, outside the measurements, that they saw the same stanzas. The two
//! libraries refuse a few different stanzas of the corpus, for their
//! addresses: starling-jid applies PRECIS (RFC 7622), which disallows
//! default-ignorable code points such as U+FE0F (variation selector) in a
//! resourcepart, while the `jid` crate applies stringprep (RFC 6122), which
//! maps U+FE0F away but refuses code points unassigned in Unicode 3.2, such
//! as most emoji. A refused stanza counts as read.
//!
//! ```text
//! cargo bench -p starling-stanza --bench stanzas   # measure
//! cargo test -p starling-stanza --benches          # quick check, small corpus
//! ```
//!
//! Before the measurements the binary prints the allocations each
//! implementation makes per stanza (counted by a wrapper around the system
//! allocator).

use std::alloc::System;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput};
use starling_stanza::{Envelope, IqKind, Stanza, StanzaKind};
use starling_stream::{ContentNamespace, Event, Framer, FramerConfig};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use xso::{FromEventsBuilder, FromXml};

#[path = "../../starling-xml/benches/corpus/mod.rs"]
mod corpus;

// The workspace forbids `unsafe` code, which a `GlobalAlloc` implementation
// needs, so the counting wrapper comes from a crate.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Size of the pieces the input arrives in.
const CHUNK: usize = 4096;
/// The seed of the XML benchmark's corpora.
const SEED: u64 = 0x5EED_2024_0001;
/// Corpus size when measuring.
const MIXED_BYTES: usize = 4 * 1024 * 1024;
/// Corpus size when Criterion only checks that the benchmarks run.
const TEST_BYTES: usize = 128 * 1024;

/// What the consumer saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    messages: u64,
    presences: u64,
    iqs: u64,
    /// Stanzas the library refused to type.
    rejected: u64,
    /// Bytes of message bodies (all languages), after decoding.
    body_bytes: u64,
    /// Child elements kept as unmodelled payloads, plus iq payloads.
    payloads: u64,
}

impl Tally {
    fn stanzas(&self) -> u64 {
        self.messages + self.presences + self.iqs + self.rejected
    }
}

/// One implementation: reads the whole stream and tallies the stanzas.
type ParseFn = fn(&[u8]) -> Tally;

/// The implementations, as named in the benchmark IDs.
const IMPLEMENTATIONS: &[(&str, ParseFn)] = &[
    ("starling", parse_starling),
    ("xmpp_parsers", parse_xmpp_parsers),
    ("starling_envelope", parse_starling_envelope),
];

/// Feeds `data` to a framer (expecting `jabber:client`) in 4 KiB chunks and
/// hands every top-level element to `on_element`.
fn frame_elements(data: &[u8], mut on_element: impl FnMut(starling_xml::Element)) {
    let mut framer = Framer::new(FramerConfig {
        expected: Some(ContentNamespace::Client),
        ..FramerConfig::default()
    });
    let mut drain = |framer: &mut Framer| {
        while let Some(event) = framer
            .next_event()
            .expect("starling-stream rejected the corpus")
        {
            if let Event::Element(el) = event {
                on_element(el);
            }
        }
    };
    for chunk in corpus::chunks(data, CHUNK) {
        framer.feed(chunk);
        drain(&mut framer);
    }
    framer.finish();
    drain(&mut framer);
}

fn parse_starling(data: &[u8]) -> Tally {
    let mut t = Tally::default();
    frame_elements(data, |el| match Stanza::from_element(&el) {
        Err(e) => {
            t.rejected += 1;
            black_box(e);
        }
        Ok(Stanza::Message(m)) => {
            t.messages += 1;
            t.body_bytes += m.bodies.iter().map(|b| b.text.len() as u64).sum::<u64>();
            t.payloads += m.payloads.len() as u64;
        }
        Ok(Stanza::Presence(p)) => {
            t.presences += 1;
            t.payloads += p.payloads.len() as u64;
        }
        Ok(Stanza::Iq(iq)) => {
            t.iqs += 1;
            t.payloads += u64::from(match &iq.kind {
                IqKind::Get(_) | IqKind::Set(_) => true,
                IqKind::Result(p) | IqKind::Error { payload: p, .. } => p.is_some(),
            });
        }
    });
    t
}

/// What a server's router reads: [`Framer`] and [`Envelope::from_element`]
/// (kind, type, addresses; the same checks as `Stanza::from_element`
/// without copying bodies or payloads). Only the kinds are tallied.
fn parse_starling_envelope(data: &[u8]) -> Tally {
    let mut t = Tally::default();
    frame_elements(data, |el| match Envelope::from_element(&el) {
        Err(e) => {
            t.rejected += 1;
            black_box(e);
        }
        Ok(env) => {
            match env.kind {
                StanzaKind::Message(_) => t.messages += 1,
                StanzaKind::Presence(..) => t.presences += 1,
                StanzaKind::Iq(_) => t.iqs += 1,
            }
            black_box((env, el));
        }
    });
    t
}

/// What is being done with the top-level element being received: the xso
/// builder of its type, or skipping it after xmpp-parsers refused it.
#[allow(
    clippy::large_enum_variant,
    reason = "boxing the builders would add an allocation per stanza to the peer"
)]
enum Building {
    Message(<xmpp_parsers::message::Message as FromXml>::Builder),
    Presence(<xmpp_parsers::presence::Presence as FromXml>::Builder),
    Iq(<xmpp_parsers::iq::Iq as FromXml>::Builder),
    Features(<xmpp_parsers::stream_features::StreamFeatures as FromXml>::Builder),
    Rejected,
}

/// Reads a stream with xmpp-parsers, one rxml event at a time.
struct XsoStream {
    languages: rxml::xml_lang::XmlLangStack,
    /// The stream header has been read.
    open: bool,
    /// The closing `</stream:stream>` has been read.
    closed: bool,
    /// Depth inside the stream root: 0 between top-level elements.
    depth: usize,
    building: Building,
    tally: Tally,
}

impl XsoStream {
    fn new() -> Self {
        XsoStream {
            languages: rxml::xml_lang::XmlLangStack::new(),
            open: false,
            closed: false,
            depth: 0,
            building: Building::Rejected,
            tally: Tally::default(),
        }
    }

    fn event(&mut self, ev: rxml::Event) {
        self.languages.handle_event(&ev);
        let ctx = xso::Context::empty().with_language(self.languages.current());
        if !self.open {
            match ev {
                rxml::Event::XmlDeclaration(..) => {}
                rxml::Event::StartElement(_, name, _) => {
                    assert!(
                        name.0.as_str() == xmpp_parsers::ns::STREAM && name.1.as_str() == "stream",
                        "not a stream header"
                    );
                    self.open = true;
                }
                _ => panic!("not a stream"),
            }
            return;
        }
        if self.depth == 0 {
            match ev {
                rxml::Event::StartElement(_, name, attrs) => {
                    self.depth = 1;
                    self.building = start(name, attrs, &ctx, &mut self.tally);
                }
                rxml::Event::Text(_, text) => {
                    assert!(
                        xso::is_xml_whitespace(text.as_bytes()),
                        "text between stanzas"
                    );
                }
                rxml::Event::EndElement(_) => self.closed = true,
                rxml::Event::XmlDeclaration(..) => panic!("XML declaration inside the stream"),
            }
            return;
        }
        match ev {
            rxml::Event::StartElement(..) => self.depth += 1,
            rxml::Event::EndElement(..) => self.depth -= 1,
            _ => {}
        }
        let t = &mut self.tally;
        let outcome = match &mut self.building {
            Building::Message(b) => b.feed(ev, &ctx).map(|m| {
                m.map(|m| {
                    t.messages += 1;
                    t.body_bytes += m.bodies.values().map(|b| b.len() as u64).sum::<u64>();
                    t.payloads += m.payloads.len() as u64;
                })
            }),
            Building::Presence(b) => b.feed(ev, &ctx).map(|p| {
                p.map(|p| {
                    t.presences += 1;
                    t.payloads += p.payloads.len() as u64;
                })
            }),
            Building::Iq(b) => b.feed(ev, &ctx).map(|iq| {
                iq.map(|iq| {
                    use xmpp_parsers::iq::Iq;
                    t.iqs += 1;
                    t.payloads += u64::from(match &iq {
                        Iq::Get { .. } | Iq::Set { .. } => true,
                        Iq::Result { payload, .. } | Iq::Error { payload, .. } => payload.is_some(),
                    });
                })
            }),
            Building::Features(b) => {
                let features = b
                    .feed(ev, &ctx)
                    .expect("xmpp-parsers rejected the stream features");
                Ok(features.map(|f| {
                    black_box(f);
                }))
            }
            Building::Rejected => Ok((self.depth == 0).then_some(())),
        };
        match outcome {
            Ok(done) => assert_eq!(
                done.is_some(),
                self.depth == 0,
                "xso ended the element early or late"
            ),
            Err(e) => {
                // The builder is unusable after an error: skip the rest.
                t.rejected += 1;
                black_box(e);
                self.building = Building::Rejected;
            }
        }
    }
}

/// The builder for a top-level element.
fn start(
    name: rxml::QName,
    attrs: rxml::AttrMap,
    ctx: &xso::Context<'_>,
    t: &mut Tally,
) -> Building {
    use xmpp_parsers::iq::Iq;
    use xmpp_parsers::message::Message;
    use xmpp_parsers::ns;
    use xmpp_parsers::presence::Presence;
    use xmpp_parsers::stream_features::StreamFeatures;

    let building = match (name.0.as_str(), name.1.as_str()) {
        (ns::DEFAULT_NS, "message") => {
            Message::from_events(name, attrs, ctx).map(Building::Message)
        }
        (ns::DEFAULT_NS, "presence") => {
            Presence::from_events(name, attrs, ctx).map(Building::Presence)
        }
        (ns::DEFAULT_NS, "iq") => Iq::from_events(name, attrs, ctx).map(Building::Iq),
        (ns::STREAM, "features") => {
            let b = StreamFeatures::from_events(name, attrs, ctx)
                .expect("xmpp-parsers rejected the stream features");
            return Building::Features(b);
        }
        (ns, local) => panic!("unexpected top-level element {{{ns}}}{local}"),
    };
    building.unwrap_or_else(|e| {
        // An attribute (an address, the type) was refused.
        t.rejected += 1;
        black_box(e);
        Building::Rejected
    })
}

fn parse_xmpp_parsers(data: &[u8]) -> Tally {
    use rxml::Parse;
    use rxml::error::EndOrError;

    let mut parser = rxml::Parser::new();
    let mut stream = XsoStream::new();
    for chunk in corpus::chunks(data, CHUNK) {
        let mut rest = chunk;
        loop {
            match parser.parse(&mut rest, false) {
                Ok(Some(ev)) => stream.event(ev),
                Ok(None) | Err(EndOrError::NeedMoreData) => break,
                Err(EndOrError::Error(e)) => panic!("rxml rejected the corpus: {e}"),
            }
        }
    }
    let mut rest: &[u8] = &[];
    loop {
        match parser.parse(&mut rest, true) {
            Ok(Some(ev)) => stream.event(ev),
            Ok(None) => break,
            Err(e) => panic!("rxml rejected the end of the corpus: {e:?}"),
        }
    }
    assert!(stream.closed, "the stream was not closed");
    stream.tally
}

/// Allocations (including reallocations) made by `f`.
fn count_allocations(f: impl FnOnce() -> Tally) -> (Tally, usize) {
    let region = Region::new(GLOBAL);
    let t = f();
    let change = region.change();
    (t, change.allocations + change.reallocations)
}

/// Checks that the implementations read the same stanzas, prints the
/// allocations each makes per stanza, and returns the number of stanzas.
///
/// The two libraries refuse a few different addresses (see the module
/// documentation), so only the number of stanzas must be equal; the counts
/// of each kind may differ by at most what the other side refused.
#[allow(clippy::print_stdout, reason = "a benchmark reports to its terminal")]
fn check_and_count(group: &str, data: &[u8]) -> u64 {
    let results: Vec<_> = IMPLEMENTATIONS
        .iter()
        .map(|&(name, parse)| {
            let (tally, allocs) = count_allocations(|| parse(data));
            (name, tally, allocs)
        })
        .collect();
    let (_, reference, _) = results[0];
    let stanzas = reference.stanzas();
    assert!(stanzas > 0, "{group}: no stanzas");
    for &(name, tally, _) in &results[1..] {
        assert_eq!(
            tally.stanzas(),
            stanzas,
            "{group}: {name} saw {tally:?}, starling {reference:?}"
        );
        let (a, b) = (reference, tally);
        for (x, y) in [
            (a.messages, b.messages),
            (a.presences, b.presences),
            (a.iqs, b.iqs),
        ] {
            assert!(
                x <= y + b.rejected && y <= x + a.rejected,
                "{group}: {name} saw {tally:?}, starling {reference:?}"
            );
        }
    }
    println!(
        "{group}: {:.2} MB, {stanzas} stanzas ({} messages, {} presences, {} iqs as starling reads them)",
        data.len() as f64 / 1e6,
        reference.messages,
        reference.presences,
        reference.iqs
    );
    let line = |f: &dyn Fn(&Tally, usize) -> String| {
        results
            .iter()
            .map(|(name, tally, allocs)| format!("{name} {}", f(tally, *allocs)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("rejected stanzas: {}", line(&|t, _| t.rejected.to_string()));
    println!(
        "allocs per stanza: {}",
        line(&|_, a| format!("{:.1}", a as f64 / stanzas as f64))
    );
    stanzas
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then Criterion runs each benchmark once: a small corpus suffices.
    let measuring = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let data = corpus::mixed_stream(if measuring { MIXED_BYTES } else { TEST_BYTES }, SEED);
    let group = "stanzas_mixed";
    let stanzas = check_and_count(group, &data);

    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(stanzas));
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    for &(name, parse) in IMPLEMENTATIONS {
        g.bench_function(name, |b| b.iter(|| parse(black_box(&data))));
    }
    g.finish();
    c.final_summary();
}
