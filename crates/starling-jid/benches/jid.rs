//! Parsing throughput of starling-jid against the `jid` crate, on an
//! ASCII-heavy realistic mix and on a Unicode mix, both generated from a
//! fixed seed. Allocations per parsed JID are counted first and printed.
//!
//! Run with `cargo bench -p starling-jid --bench jid`.

use std::alloc::System;
use std::hint::black_box;

use criterion::{Criterion, Throughput};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Number of JIDs in each corpus.
const N: usize = 1000;

/// xorshift64: a small deterministic generator, so both libraries see the
/// same inputs on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn word(&mut self, alphabet: &[u8], min: usize, max: usize) -> String {
        let n = min + self.below(max - min + 1);
        (0..n)
            .map(|_| char::from(alphabet[self.below(alphabet.len())]))
            .collect()
    }
}

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

const DOMAINS: &[&str] = &[
    "example.com",
    "jabber.org",
    "conference.example.org",
    "xmpp.company-name.net",
    "chat.university.edu",
    "pubsub.montague.lit",
    "muc.capulet.lit",
    "upload.example.com",
];
const CLIENTS: &[&str] = &[
    "Conversations",
    "gajim",
    "Psi+",
    "dino",
    "Monal",
    "profanity",
];

/// Realistic everyday addresses: mostly full and bare user JIDs, some
/// service (domain-only) addresses, random-looking resources, and about a
/// fifth with upper case to fold.
fn ascii_corpus(rng: &mut Rng) -> Vec<String> {
    (0..N)
        .map(|_| {
            let mut user = rng.word(LOWER, 3, 10);
            if rng.chance(30) {
                user.push(if rng.chance(50) { '.' } else { '_' });
                user.push_str(&rng.word(LOWER, 2, 8));
            }
            if rng.chance(20) {
                user = user.to_ascii_uppercase();
            }
            let mut domain = rng.pick(DOMAINS).to_string();
            if rng.chance(10) {
                domain = domain.to_ascii_uppercase();
            }
            let resource = format!("{}.{}", rng.pick(CLIENTS), rng.word(ALNUM, 6, 12));
            match rng.below(100) {
                0..50 => format!("{user}@{domain}/{resource}"),
                50..80 => format!("{user}@{domain}"),
                80..90 => domain,
                _ => format!("{domain}/{}", rng.word(ALNUM, 8, 16)),
            }
        })
        .collect()
}

const U_USERS: &[&str] = &[
    "jos\u{E9}",
    "J\u{DC}RGEN",
    "fran\u{E7}ois",
    "\u{3A3}\u{3C9}\u{3BA}\u{3C1}\u{3AC}\u{3C4}\u{3B7}\u{3C2}",
    "\u{41F}\u{451}\u{442}\u{440}",
    "\u{43C}\u{430}\u{440}\u{438}\u{44F}",
    "\u{5F20}\u{4F1F}",
    "\u{3055}\u{304F}\u{3089}",
    "\u{AE40}\u{CCA0}\u{C218}",
    "\u{5D3}\u{5D5}\u{5D3}",
    "\u{645}\u{62D}\u{645}\u{62F}",
    "\u{E2A}\u{E21}\u{E0A}\u{E32}\u{E22}",
    "\u{926}\u{947}\u{935}",
    "zo\u{EB}",
];
const U_DOMAINS: &[&str] = &[
    "b\u{FC}cher.example",
    "m\u{FC}nchen.de",
    "\u{43F}\u{440}\u{438}\u{43C}\u{435}\u{440}.\u{440}\u{444}",
    "\u{4F8B}\u{3048}.jp",
    "xn--bcher-kva.example",
    "example.com",
    "jabber.org",
    "\u{3B5}\u{3BB}\u{3BB}\u{3AC}\u{3B4}\u{3B1}.gr",
];
const U_RESOURCES: &[&str] = &[
    "t\u{E9}l\u{E9}phone",
    "Caf\u{E9} \u{2615}",
    "\u{624B}\u{673A}",
    "laptop\u{2003}home",
    "\u{1F4F1} phone",
    "B\u{FC}ro",
    "Conversations.x7Yq",
];

/// Internationalized addresses: localparts in several scripts (with upper
/// case to fold), U-labels and A-labels, resources with accents, symbols,
/// emoji and non-ASCII spaces.
fn unicode_corpus(rng: &mut Rng) -> Vec<String> {
    (0..N)
        .map(|_| {
            let user = rng.pick(U_USERS);
            let domain = rng.pick(U_DOMAINS);
            let resource = rng.pick(U_RESOURCES);
            match rng.below(100) {
                0..60 => format!("{user}@{domain}/{resource}"),
                60..90 => format!("{user}@{domain}"),
                _ => format!("{domain}/{resource}"),
            }
        })
        .collect()
}

fn starling(s: &str) -> bool {
    starling_jid::Jid::new(s).is_ok()
}

fn jid_crate(s: &str) -> bool {
    jid::Jid::new(s).is_ok()
}

/// Allocations per parsed JID (allocation calls, not bytes), including
/// dropping the result.
fn allocs_per_jid(corpus: &[String], parse: fn(&str) -> bool) -> f64 {
    let region = Region::new(GLOBAL);
    for s in corpus {
        black_box(parse(black_box(s)));
    }
    let stats = region.change();
    stats.allocations as f64 / corpus.len() as f64
}

#[allow(clippy::print_stdout)]
fn report_allocations(name: &str, corpus: &[String]) {
    println!(
        "{name}: allocs per JID: starling {:.2}, jid {:.2}",
        allocs_per_jid(corpus, starling),
        allocs_per_jid(corpus, jid_crate)
    );
}

fn bench(c: &mut Criterion, group: &str, corpus: &[String]) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(corpus.len() as u64));
    g.bench_function("starling", |b| {
        b.iter(|| {
            for s in corpus {
                black_box(starling_jid::Jid::new(black_box(s)).ok());
            }
        })
    });
    g.bench_function("jid", |b| {
        b.iter(|| {
            for s in corpus {
                black_box(jid::Jid::new(black_box(s)).ok());
            }
        })
    });
    g.finish();
}

/// Cloning every JID of the corpus: a reference-count increment here, a
/// `String` copy (allocation) in the `jid` crate.
fn bench_clone(c: &mut Criterion, corpus: &[String]) {
    let ours: Vec<starling_jid::Jid> = corpus.iter().filter_map(|s| s.parse().ok()).collect();
    let theirs: Vec<jid::Jid> = corpus.iter().filter_map(|s| s.parse().ok()).collect();
    let mut g = c.benchmark_group("jid_clone");
    g.throughput(Throughput::Elements(corpus.len() as u64));
    g.bench_function("starling", |b| {
        b.iter(|| {
            for j in &ours {
                black_box(j.clone());
            }
        })
    });
    g.bench_function("jid", |b| {
        b.iter(|| {
            for j in &theirs {
                black_box(j.clone());
            }
        })
    });
    g.finish();
}

fn main() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Keep only inputs both libraries accept, so both do the full work.
    let keep = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .filter(|s| starling(s) && jid_crate(s))
            .collect()
    };
    let ascii = keep(ascii_corpus(&mut rng));
    let unicode = keep(unicode_corpus(&mut rng));
    assert!(ascii.len() > N * 9 / 10 && unicode.len() > N / 2);

    report_allocations("jid_ascii", &ascii);
    report_allocations("jid_unicode", &unicode);

    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, "jid_ascii", &ascii);
    bench(&mut c, "jid_unicode", &unicode);
    bench_clone(&mut c, &ascii);
    c.final_summary();
}
