//! Seeded generators of XMPP client streams, for benchmarks.
//!
//! Every function here is deterministic: the same `target_bytes` and `seed`
//! give the same bytes on every machine. The module has no dependencies, so
//! other crates' benchmarks can include it by path:
//!
//! ```ignore
//! #[path = "../../starling-xml/benches/corpus/mod.rs"]
//! mod corpus;
//! ```
//!
//! Both generators produce one complete stream: an XML declaration, the
//! `<stream:stream>` root (default namespace `jabber:client`), stanzas, and
//! `</stream:stream>`. The output is well-formed, namespace-well-formed XML
//! that uses only what RFC 6120 §11 allows (no comments, processing
//! instructions or DTD; only the predefined entities and character
//! references), so every XML parser must accept it.

// An including crate may use only part of this API, and in a benchmark
// binary these items cannot be reachable from outside.
#![allow(dead_code, unreachable_pub)]

/// The stream header that starts every corpus (after the XML declaration).
pub const STREAM_HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
     xmlns:stream='http://etherx.jabber.org/streams' from='example.com' \
     id='c2s-5c4e0f8a-0d61-4b8e-9a3f-1f2b3c4d5e6f' to='juliet@example.com' version='1.0' xml:lang='en'>";

/// The end tag that closes every corpus.
pub const STREAM_FOOTER: &str = "</stream:stream>";

/// Splits `data` into consecutive pieces of `size` bytes (the last one may
/// be shorter), as a socket would deliver them.
pub fn chunks(data: &[u8], size: usize) -> impl Iterator<Item = &[u8]> {
    data.chunks(size.max(1))
}

/// A realistic mix of client traffic of about `target_bytes` bytes (never
/// less, and at most one stanza more).
///
/// Messages with bodies of 20 to 2,000 bytes (English, accented European
/// text, CJK, Cyrillic, Greek, emoji; some with predefined entities and
/// character references, a few as CDATA) and their usual children (chat
/// states, receipts, markers, origin and stanza ids, delays); groupchat
/// messages; presence with entity capabilities, show, status, priority and
/// avatar hashes; MUC presence; roster pushes and the occasional full roster;
/// disco#info results with identities, many features and a data form;
/// pings; PEP notifications (one variant with a prefixed element name);
/// message carbons. `xml:lang` appears on some stanzas and elements, and
/// white space keepalives appear between some stanzas.
pub fn mixed_stream(target_bytes: usize, seed: u64) -> Vec<u8> {
    let mut g = Gen::new(target_bytes, seed);
    while g.out.len() + STREAM_FOOTER.len() < target_bytes {
        g.keepalive();
        match g.rng.below(100) {
            0..=37 => g.chat_message(),
            38..=47 => g.groupchat_message(),
            48..=55 => g.chat_state(),
            56..=62 => g.receipt_or_marker(),
            63..=80 => g.presence(),
            81..=84 => g.muc_presence(),
            85..=88 => g.roster_push(),
            89..=90 => g.disco_info(),
            91..=95 => g.ping_or_result(),
            96..=97 => g.pep_event(),
            _ => g.carbon(),
        }
    }
    g.finish()
}

/// Many very small stanzas, for the per-token overhead: `<presence/>`,
/// two-line chat messages, empty IQ results, stream management requests and
/// acknowledgements, with the odd white space keepalive.
pub fn tiny_stream(target_bytes: usize, seed: u64) -> Vec<u8> {
    let mut g = Gen::new(target_bytes, seed);
    while g.out.len() + STREAM_FOOTER.len() < target_bytes {
        let n = g.rng.below(1000);
        match g.rng.below(10) {
            0..=2 => g.raw("<presence/>"),
            3..=5 => {
                g.raw("<message to='a@b' type='chat'><body>");
                let word = g
                    .rng
                    .pick(&["hi", "ok", "yes", "no", "brb", "lol", "thx", "k"]);
                g.raw(word);
                g.raw("</body></message>");
            }
            6 | 7 => {
                g.raw("<iq type='result' id='x");
                g.num(n);
                g.raw("'/>");
            }
            8 => g.raw("<r xmlns='urn:xmpp:sm:3'/>"),
            _ => {
                g.raw("<a xmlns='urn:xmpp:sm:3' h='");
                g.num(n);
                g.raw("'/>");
            }
        }
        if g.rng.below(20) == 0 {
            g.raw(" ");
        }
    }
    g.finish()
}

/// A small, fast, seeded pseudo-random generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One element of `items` (not empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A length in `lo..=hi`, spread evenly over orders of magnitude (short
    /// lengths are common, long ones rare), like chat message bodies.
    pub fn log_range(&mut self, lo: usize, hi: usize) -> usize {
        let (l, h) = ((lo.max(1) as f64).ln(), (hi as f64).ln());
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((l + (h - l) * unit).exp() as usize).clamp(lo, hi)
    }
}

// Lists of short words are kept as space-separated strings (see `Lists`).
const LOCALPARTS: &str = "\
    romeo juliet nurse benvolio mercutio tybalt paris laurence alice bob carol dave eve \
    mallory trent peggy victor zoe li.wei hana olga dmitri ines joao francois anne-marie \
    o.brien support ops news";
const DOMAINS: &str = "\
    example.com example.net example.org capulet.lit montague.lit jabber.example im.test";
const RESOURCES: &str = "\
    balcony orchard Conversations.x7Yq Gajim.4f2a Dino.9bc1 Monal-iOS.33af laptop phone Psi+ \
    Cheogram.k2L0";
const ROOMS: &str = "\
    lobby dev ops-alerts book-club café random xsf prosody";
/// Display names; some hold characters that must be escaped in attributes.
const NAMES: &[&str] = &[
    "Romeo Montague",
    "Juliet",
    "Tom & Jerry",
    "O'Brien",
    "Zoë Saldaña",
    "François Dupont",
    "Jürgen Groß",
    "Łukasz Wróbel",
    "Dvořák",
    "王小明",
    "田中 花子",
    "김민수",
    "Дмитрий",
    "Αλέξανδρος",
    "Mum ❤️",
    "The \"A\" Team",
    "<script>",
    "Ops on-call 🚨",
];
const GROUPS: &[&str] = &[
    "Friends",
    "Family",
    "Work",
    "Coworkers & Co",
    "Famille",
    "友達",
    "Büro",
    "XSF",
];
const EN_WORDS: &str = "\
    the be to of and a in that have I it for not on with he as you do at this but his by from \
    they we say her she or an will my one all would there their what so up out if about who \
    get which go me when make can like time no just him know take people into year your good \
    some could them see other than then now look only come its over think also back after use \
    two how our work first well way even new want because any these give day most us meeting \
    tomorrow server deploy lunch tonight thanks! sure, ok. lol haha really? yes maybe later \
    call message sorry, great fine. build release";
const EU_WORDS: &str = "\
    café crème brûlée déjà vu naïve façade résumé über Straße Grüße schön mañana niño año \
    señor açaí coração não smørrebrød Ærø Łódź żółw Dvořák čeština très bien merci à bientôt \
    où est la gare garçon Noël qué tal está música Zürich Köln Málaga";
const CJK_WORDS: &str = "\
    你好 世界 今天 天气 很好 我们 明天 见面 谢谢 没问题 今日は ありがとう ございます 東京 \
    会議 よろしく お願いします 안녕하세요 감사합니다 내일 만나요 北京 上海 ， 。 ！ ？";
const OTHER_WORDS: &str = "\
    привет как дела спасибо хорошо до завтра καλημέρα ευχαριστώ φίλε γεια σου مرحبا شكرا שלום \
    नमस्ते";
const EMOJI: &str = "\
    😀 😂 🎉 👍 ❤️ 🚀 🙈 🔥 ✅ 🇫🇷 👩‍💻 ☕ 🍕 😅";
/// Words with characters that must be escaped in text.
const SPECIAL_WORDS: &[&str] = &[
    "Q&A",
    "R&D",
    "<3",
    "a<b",
    "x > y",
    "\"quoted\"",
    "it's",
    "AT&T",
    "->",
    "<-",
    "&",
    "[ok]",
    "5 > 3",
    "https://example.org/search?q=xmpp&lang=en",
];
/// Character references as written in the XML.
const CHAR_REFS: &[&str] = &[
    "&#x1F600;",
    "&#233;",
    "&#8217;",
    "&#x2014;",
    "&#169;",
    "&#x4E2D;",
    "&#60;",
    "&#38;",
];
/// CDATA contents (none contains `]]>`).
const CDATA_SNIPPETS: &[&str] = &[
    "if (a < b && c > d) { swap(&a, &b); }",
    "<message to='x@y'><body>nested & raw</body></message>",
    "for i in 0..n { v[i] = v[i] * 2; }",
    "SELECT * FROM t WHERE a < 10 AND b <> 'x';",
    "x = y & 0xFF; // mask <low> byte",
    "Ünïcödé <inside> CDATA 🚀 & more",
];
const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/disco#items",
    "http://jabber.org/protocol/muc",
    "http://jabber.org/protocol/muc#user",
    "http://jabber.org/protocol/nick",
    "http://jabber.org/protocol/nick+notify",
    "http://jabber.org/protocol/bytestreams",
    "http://jabber.org/protocol/si",
    "http://jabber.org/protocol/si/profile/file-transfer",
    "http://jabber.org/protocol/xhtml-im",
    "jabber:iq:last",
    "jabber:iq:version",
    "jabber:x:conference",
    "jabber:x:data",
    "jabber:x:oob",
    "urn:xmpp:avatar:metadata+notify",
    "urn:xmpp:bookmarks:1+notify",
    "urn:xmpp:carbons:2",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:delay",
    "urn:xmpp:eme:0",
    "urn:xmpp:hints",
    "urn:xmpp:idle:1",
    "urn:xmpp:jingle:1",
    "urn:xmpp:jingle:apps:rtp:1",
    "urn:xmpp:jingle:apps:rtp:audio",
    "urn:xmpp:jingle:apps:rtp:video",
    "urn:xmpp:jingle:transports:ice-udp:1",
    "urn:xmpp:jingle:apps:file-transfer:5",
    "urn:xmpp:jingle-message:0",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:message-retract:1",
    "urn:xmpp:omemo:2:devices+notify",
    "eu.siacs.conversations.axolotl.devicelist+notify",
    "urn:xmpp:ping",
    "urn:xmpp:receipts",
    "urn:xmpp:reply:0",
    "urn:xmpp:reactions:0",
    "urn:xmpp:sid:0",
    "urn:xmpp:time",
];
const CLIENTS: &[(&str, &str)] = &[
    ("Conversations", "https://conversations.im"),
    ("Gajim", "https://gajim.org"),
    ("Dino", "https://dino.im"),
    ("Monal", "https://monal-im.org"),
    ("Psi+", "https://psi-plus.com"),
    ("Cheogram", "https://cheogram.com"),
];
const SHOWS: &[&str] = &["away", "chat", "dnd", "xa"];
const STATUSES: &[&str] = &[
    "In a meeting",
    "On the phone & busy",
    "Travelling ✈️",
    "Ne pas déranger",
    "Im Urlaub bis Montag",
    "会議中",
    "Working from home 🏠",
    "brb",
    "Lunch <12:00-13:00>",
];
const LANGS: &[&str] = &["en", "fr", "de", "es", "ja", "zh-Hans", "ru", "en-GB"];
const CHAT_STATES: &[&str] = &["active", "composing", "paused", "inactive", "gone"];
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";

/// The word lists kept as space-separated strings, split.
struct Lists {
    localparts: Vec<&'static str>,
    domains: Vec<&'static str>,
    resources: Vec<&'static str>,
    rooms: Vec<&'static str>,
    en: Vec<&'static str>,
    eu: Vec<&'static str>,
    cjk: Vec<&'static str>,
    other: Vec<&'static str>,
    emoji: Vec<&'static str>,
}

impl Lists {
    fn new() -> Self {
        let split = |s: &'static str| s.split_whitespace().collect();
        Lists {
            localparts: split(LOCALPARTS),
            domains: split(DOMAINS),
            resources: split(RESOURCES),
            rooms: split(ROOMS),
            en: split(EN_WORDS),
            eu: split(EU_WORDS),
            cjk: split(CJK_WORDS),
            other: split(OTHER_WORDS),
            emoji: split(EMOJI),
        }
    }
}

/// The stream being written.
struct Gen {
    rng: Rng,
    lists: Lists,
    out: Vec<u8>,
    stamp: u64,
}

impl Gen {
    fn new(target_bytes: usize, seed: u64) -> Self {
        let mut out = Vec::with_capacity(target_bytes + 64 * 1024);
        out.extend_from_slice(STREAM_HEADER.as_bytes());
        out.extend_from_slice(
            b"<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
              <sm xmlns='urn:xmpp:sm:3'/><csi xmlns='urn:xmpp:csi:0'/>\
              <ver xmlns='urn:xmpp:features:rosterver'/></stream:features>",
        );
        Gen {
            rng: Rng::new(seed),
            lists: Lists::new(),
            out,
            stamp: 1_714_000_000,
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(STREAM_FOOTER.as_bytes());
        self.out
    }

    fn raw(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    fn num(&mut self, n: usize) {
        self.raw(&n.to_string());
    }

    /// Text content, escaped.
    fn text(&mut self, s: &str) {
        for c in s.chars() {
            match c {
                '&' => self.raw("&amp;"),
                '<' => self.raw("&lt;"),
                '>' => self.raw("&gt;"),
                c => {
                    let mut b = [0; 4];
                    self.raw(c.encode_utf8(&mut b));
                }
            }
        }
    }

    /// ` name='value'`, the value escaped for single quotes.
    fn attr(&mut self, name: &str, value: &str) {
        self.raw(" ");
        self.raw(name);
        self.raw("='");
        for c in value.chars() {
            match c {
                '&' => self.raw("&amp;"),
                '<' => self.raw("&lt;"),
                '\'' => self.raw("&apos;"),
                c => {
                    let mut b = [0; 4];
                    self.raw(c.encode_utf8(&mut b));
                }
            }
        }
        self.raw("'");
    }

    /// `<name>text</name>`.
    fn text_element(&mut self, name: &str, text: &str) {
        self.raw("<");
        self.raw(name);
        self.raw(">");
        self.text(text);
        self.raw("</");
        self.raw(name);
        self.raw(">");
    }

    fn random_string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| char::from(alphabet[self.rng.below(alphabet.len())]))
            .collect()
    }

    fn id(&mut self) -> String {
        let len = self.rng.range(8, 16);
        self.random_string(ALNUM, len)
    }

    fn uuid(&mut self) -> String {
        let s = self.random_string(HEX, 32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &s[..8],
            &s[8..12],
            &s[13..16],
            &s[17..20],
            &s[20..]
        )
    }

    fn bare_jid(&mut self) -> String {
        let local = self.rng.pick(&self.lists.localparts);
        let domain = self.rng.pick(&self.lists.domains);
        if self.rng.chance(30) {
            format!("{local}{}@{domain}", self.rng.below(100))
        } else {
            format!("{local}@{domain}")
        }
    }

    fn full_jid(&mut self) -> String {
        let bare = self.bare_jid();
        format!("{bare}/{}", self.rng.pick(&self.lists.resources))
    }

    fn own_jid(&mut self) -> String {
        format!(
            "juliet@example.com/{}",
            self.rng.pick(&self.lists.resources)
        )
    }

    fn timestamp(&mut self) -> String {
        self.stamp += self.rng.range(1, 90) as u64;
        let t = self.stamp;
        let (days, secs) = (t / 86_400, t % 86_400);
        // Civil date from days since 1970-01-01 (proleptic Gregorian).
        let z = days as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        let ms = self.rng.below(1000);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }

    /// White space between stanzas, now and then.
    fn keepalive(&mut self) {
        match self.rng.below(100) {
            0..=4 => self.raw(" "),
            5 | 6 => self.raw("\n"),
            _ => {}
        }
    }

    /// A message body of 20 to 2,000 bytes, as it stands in the XML.
    fn body(&mut self, lang: bool) {
        self.raw("<body");
        if lang {
            let l = self.rng.pick(LANGS);
            self.attr("xml:lang", l);
        }
        self.raw(">");
        let target = self.rng.log_range(20, 2000);
        if self.rng.chance(3) {
            self.raw("<![CDATA[");
            let start = self.out.len();
            while self.out.len() - start < target {
                let s = self.rng.pick(CDATA_SNIPPETS);
                self.raw(s);
                self.raw("\n");
            }
            self.raw("]]>");
        } else {
            let start = self.out.len();
            let (language, cjk) = match self.rng.below(100) {
                0..=59 => (0, false),
                60..=74 => (1, false),
                75..=86 => (2, true),
                _ => (3, false),
            };
            let emoji = self.rng.chance(25);
            let special = self.rng.chance(15);
            let multiline = self.rng.chance(10);
            let mut first = true;
            while self.out.len() - start < target {
                if !first && !cjk {
                    let sep = if multiline && self.rng.chance(8) {
                        "\n"
                    } else {
                        " "
                    };
                    self.raw(sep);
                }
                first = false;
                match self.rng.below(100) {
                    0..=5 if emoji => {
                        let e = self.rng.pick(&self.lists.emoji);
                        self.raw(e);
                    }
                    6..=9 if special => {
                        let w = self.rng.pick(SPECIAL_WORDS);
                        self.text(w);
                    }
                    10 if special => {
                        let r = self.rng.pick(CHAR_REFS);
                        self.raw(r);
                    }
                    11..=14 => {
                        let w = self.rng.pick(&self.lists.en);
                        self.text(w);
                    }
                    _ => {
                        let words = match language {
                            0 => &self.lists.en,
                            1 => &self.lists.eu,
                            2 => &self.lists.cjk,
                            _ => &self.lists.other,
                        };
                        let w = self.rng.pick(words);
                        self.text(w);
                    }
                }
            }
        }
        self.raw("</body>");
    }

    fn message_head(&mut self, from: &str, kind: &str) {
        self.raw("<message");
        self.attr("from", from);
        let to = self.own_jid();
        self.attr("to", &to);
        self.attr("type", kind);
        let id = self.id();
        self.attr("id", &id);
        if self.rng.chance(10) {
            let l = self.rng.pick(LANGS);
            self.attr("xml:lang", l);
        }
        self.raw(">");
    }

    fn chat_message(&mut self) {
        let from = self.full_jid();
        self.message_head(&from, "chat");
        let lang = self.rng.chance(5);
        self.body(lang);
        if self.rng.chance(70) {
            self.raw("<active xmlns='http://jabber.org/protocol/chatstates'/>");
        }
        if self.rng.chance(60) {
            self.raw("<request xmlns='urn:xmpp:receipts'/>");
        }
        if self.rng.chance(50) {
            self.raw("<markable xmlns='urn:xmpp:chat-markers:0'/>");
        }
        if self.rng.chance(65) {
            self.raw("<origin-id xmlns='urn:xmpp:sid:0'");
            let u = self.uuid();
            self.attr("id", &u);
            self.raw("/>");
        }
        if self.rng.chance(40) {
            self.raw("<stanza-id xmlns='urn:xmpp:sid:0' by='juliet@example.com'");
            let u = self.uuid();
            self.attr("id", &u);
            self.raw("/>");
        }
        if self.rng.chance(8) {
            self.raw("<delay xmlns='urn:xmpp:delay' from='example.com'");
            let t = self.timestamp();
            self.attr("stamp", &t);
            self.raw(">Offline Storage</delay>");
        }
        if self.rng.chance(5) {
            self.raw("<store xmlns='urn:xmpp:hints'/>");
        }
        self.raw("</message>");
    }

    fn groupchat_message(&mut self) {
        let room = self.rng.pick(&self.lists.rooms);
        let nick = self.rng.pick(NAMES);
        let from = format!("{room}@conference.example.org/{nick}");
        self.message_head(&from, "groupchat");
        self.body(false);
        self.raw("<occupant-id xmlns='urn:xmpp:occupant-id:0'");
        let o = self.random_string(BASE64, 43);
        self.attr("id", &o);
        self.raw("/><stanza-id xmlns='urn:xmpp:sid:0'");
        self.attr("by", &format!("{room}@conference.example.org"));
        let u = self.uuid();
        self.attr("id", &u);
        self.raw("/>");
        if self.rng.chance(30) {
            self.raw("<markable xmlns='urn:xmpp:chat-markers:0'/>");
        }
        self.raw("</message>");
    }

    fn chat_state(&mut self) {
        let from = self.full_jid();
        self.message_head(&from, "chat");
        let state = self.rng.pick(CHAT_STATES);
        self.raw("<");
        self.raw(state);
        self.raw(" xmlns='http://jabber.org/protocol/chatstates'/><no-store xmlns='urn:xmpp:hints'/></message>");
    }

    fn receipt_or_marker(&mut self) {
        let from = self.full_jid();
        self.message_head(&from, "chat");
        let id = self.id();
        if self.rng.chance(50) {
            self.raw("<received xmlns='urn:xmpp:receipts'");
        } else {
            self.raw("<displayed xmlns='urn:xmpp:chat-markers:0'");
        }
        self.attr("id", &id);
        self.raw("/>");
        self.raw("<store xmlns='urn:xmpp:hints'/></message>");
    }

    fn caps(&mut self) {
        let (_, node) = self.rng.pick(CLIENTS);
        self.raw("<c xmlns='http://jabber.org/protocol/caps' hash='sha-1'");
        self.attr("node", node);
        let mut ver = self.random_string(BASE64, 27);
        ver.push('=');
        self.attr("ver", &ver);
        self.raw("/>");
    }

    fn presence(&mut self) {
        self.raw("<presence");
        let from = self.full_jid();
        self.attr("from", &from);
        let to = self.own_jid();
        self.attr("to", &to);
        if self.rng.chance(10) {
            self.raw(" type='unavailable'/>");
            return;
        }
        if self.rng.chance(15) {
            let id = self.id();
            self.attr("id", &id);
        }
        self.raw(">");
        if self.rng.chance(40) {
            let show = self.rng.pick(SHOWS);
            self.text_element("show", show);
        }
        if self.rng.chance(35) {
            let status = self.rng.pick(STATUSES);
            if self.rng.chance(30) {
                self.raw("<status");
                let l = self.rng.pick(LANGS);
                self.attr("xml:lang", l);
                self.raw(">");
                self.text(status);
                self.raw("</status>");
            } else {
                self.text_element("status", status);
            }
        }
        if self.rng.chance(60) {
            let p = self.rng.range(0, 50);
            self.text_element("priority", &p.to_string());
        }
        self.caps();
        if self.rng.chance(50) {
            self.raw("<x xmlns='vcard-temp:x:update'><photo>");
            let h = self.random_string(HEX, 40);
            self.raw(&h);
            self.raw("</photo></x>");
        }
        if self.rng.chance(10) {
            self.raw("<idle xmlns='urn:xmpp:idle:1'");
            let t = self.timestamp();
            self.attr("since", &t);
            self.raw("/>");
        }
        if self.rng.chance(10) {
            self.raw("<delay xmlns='urn:xmpp:delay'");
            let from = self.bare_jid();
            self.attr("from", &from);
            let t = self.timestamp();
            self.attr("stamp", &t);
            self.raw("/>");
        }
        self.raw("</presence>");
    }

    fn muc_presence(&mut self) {
        let room = self.rng.pick(&self.lists.rooms);
        let nick = self.rng.pick(NAMES);
        self.raw("<presence");
        self.attr("from", &format!("{room}@conference.example.org/{nick}"));
        let to = self.own_jid();
        self.attr("to", &to);
        self.raw(">");
        self.caps();
        self.raw("<x xmlns='http://jabber.org/protocol/muc#user'><item");
        let (aff, role) = self.rng.pick(&[
            ("member", "participant"),
            ("none", "visitor"),
            ("owner", "moderator"),
        ]);
        self.attr("affiliation", aff);
        self.attr("role", role);
        if self.rng.chance(50) {
            let jid = self.full_jid();
            self.attr("jid", &jid);
        }
        self.raw("/>");
        if self.rng.chance(10) {
            self.raw("<status code='110'/>");
        }
        self.raw("</x></presence>");
    }

    fn roster_item(&mut self) {
        self.raw("<item");
        let jid = self.bare_jid();
        self.attr("jid", &jid);
        if self.rng.chance(80) {
            let name = self.rng.pick(NAMES);
            self.attr("name", name);
        }
        let sub = self
            .rng
            .pick(&["both", "both", "both", "to", "from", "none"]);
        self.attr("subscription", sub);
        if self.rng.chance(5) {
            self.raw(" ask='subscribe'");
        }
        let groups = self.rng.below(3);
        if groups == 0 {
            self.raw("/>");
            return;
        }
        self.raw(">");
        for _ in 0..groups {
            let g = self.rng.pick(GROUPS);
            self.text_element("group", g);
        }
        self.raw("</item>");
    }

    fn roster_push(&mut self) {
        self.raw("<iq");
        // Now and then the answer to a roster get: the whole roster.
        let full = self.rng.chance(3);
        self.attr("type", if full { "result" } else { "set" });
        let id = self.id();
        self.attr("id", &id);
        let to = self.own_jid();
        self.attr("to", &to);
        self.raw("><query xmlns='jabber:iq:roster'");
        let ver = format!("ver{}", self.rng.below(100_000));
        self.attr("ver", &ver);
        self.raw(">");
        let items = if full { self.rng.range(50, 200) } else { 1 };
        for _ in 0..items {
            self.roster_item();
        }
        self.raw("</query></iq>");
    }

    fn disco_info(&mut self) {
        let (client, node) = self.rng.pick(CLIENTS);
        self.raw("<iq type='result'");
        let from = self.full_jid();
        self.attr("from", &from);
        let to = self.own_jid();
        self.attr("to", &to);
        let id = self.id();
        self.attr("id", &id);
        self.raw("><query xmlns='http://jabber.org/protocol/disco#info'");
        let mut ver = self.random_string(BASE64, 27);
        ver.push('=');
        self.attr("node", &format!("{node}#{ver}"));
        self.raw("><identity category='client'");
        let kind = if self.rng.chance(50) { "pc" } else { "phone" };
        self.attr("type", kind);
        self.attr("name", client);
        self.raw("/>");
        if self.rng.chance(30) {
            self.raw("<identity category='client' type='pc' xml:lang='fr'");
            self.attr("name", &format!("{client} (édition de bureau)"));
            self.raw("/>");
        }
        let n = self.rng.range(20, FEATURES.len());
        let skip = self.rng.below(FEATURES.len() - n + 1);
        for f in &FEATURES[skip..skip + n] {
            self.raw("<feature");
            self.attr("var", f);
            self.raw("/>");
        }
        if self.rng.chance(50) {
            self.raw(
                "<x xmlns='jabber:x:data' type='result'>\
                 <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
                 <field var='os'><value>Linux</value></field>\
                 <field var='os_version'><value>6.8.0</value></field>",
            );
            self.raw("<field var='software'>");
            self.text_element("value", client);
            self.raw("</field><field var='software_version'>");
            let v = format!(
                "{}.{}.{}",
                self.rng.below(3),
                self.rng.below(20),
                self.rng.below(10)
            );
            self.text_element("value", &v);
            self.raw("</field></x>");
        }
        self.raw("</query></iq>");
    }

    fn ping_or_result(&mut self) {
        self.raw("<iq");
        let id = self.id();
        if self.rng.chance(50) {
            self.raw(" from='example.com' type='get'");
            self.attr("id", &id);
            let to = self.own_jid();
            self.attr("to", &to);
            self.raw("><ping xmlns='urn:xmpp:ping'/></iq>");
        } else {
            self.raw(" type='result'");
            self.attr("id", &id);
            let to = self.own_jid();
            self.attr("to", &to);
            if self.rng.chance(30) {
                self.raw("><time xmlns='urn:xmpp:time'><tzo>+02:00</tzo>");
                let t = self.timestamp();
                self.text_element("utc", &t);
                self.raw("</time></iq>");
            } else {
                self.raw("/>");
            }
        }
    }

    fn pep_event(&mut self) {
        self.raw("<message");
        let from = self.bare_jid();
        self.attr("from", &from);
        let to = self.own_jid();
        self.attr("to", &to);
        self.raw(" type='headline'>");
        let item = self.random_string(HEX, 40);
        match self.rng.below(3) {
            0 => {
                self.raw(
                    "<event xmlns='http://jabber.org/protocol/pubsub#event'>\
                     <items node='urn:xmpp:avatar:metadata'><item",
                );
                self.attr("id", &item);
                self.raw("><metadata xmlns='urn:xmpp:avatar:metadata'><info");
                let bytes = self.rng.range(1000, 90_000).to_string();
                self.attr("bytes", &bytes);
                self.attr("id", &item);
                self.raw(
                    " height='96' width='96' type='image/png'/></metadata></item></items></event>",
                );
            }
            1 => {
                let nick = self.rng.pick(NAMES);
                self.raw(
                    "<event xmlns='http://jabber.org/protocol/pubsub#event'>\
                     <items node='http://jabber.org/protocol/nick'><item id='current'>\
                     <nick xmlns='http://jabber.org/protocol/nick'>",
                );
                self.text(nick);
                self.raw("</nick></item></items></event>");
            }
            _ => {
                // The same with a prefixed element name.
                self.raw(
                    "<ps:event xmlns:ps='http://jabber.org/protocol/pubsub#event'>\
                     <ps:items node='urn:xmpp:omemo:2:devices'><ps:item id='current'>\
                     <devices xmlns='urn:xmpp:omemo:2'>",
                );
                for _ in 0..self.rng.range(1, 4) {
                    self.raw("<device");
                    let device = self.rng.range(1, 2_147_483_647).to_string();
                    self.attr("id", &device);
                    if self.rng.chance(50) {
                        let label = self.rng.pick(&self.lists.resources);
                        self.attr("label", label);
                    }
                    self.raw("/>");
                }
                self.raw("</devices></ps:item></ps:items></ps:event>");
            }
        }
        self.raw("</message>");
    }

    fn carbon(&mut self) {
        self.raw("<message from='juliet@example.com' type='chat'");
        let to = self.own_jid();
        self.attr("to", &to);
        self.raw(
            "><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client'",
        );
        let from = self.own_jid();
        self.attr("from", &from);
        let to = self.full_jid();
        self.attr("to", &to);
        self.raw(" type='chat'");
        let id = self.id();
        self.attr("id", &id);
        self.raw(">");
        self.body(false);
        self.raw("<active xmlns='http://jabber.org/protocol/chatstates'/></message></forwarded></sent></message>");
    }
}
