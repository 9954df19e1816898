//! Reading a stream: bytes in, events out.

use starling_xml::{BytesMut, Element, Limits, Token, Tokenizer, TreeBuilder};

use crate::error::{Condition, FramingError, StreamError};
use crate::features::Features;
use crate::header::{ContentNamespace, StreamHeader};
use crate::ns;

/// Framer settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FramerConfig {
    /// The content namespace the peer must use; `None` accepts any of
    /// `jabber:client`, `jabber:server`, `jabber:component:accept`.
    pub expected: Option<ContentNamespace>,
    /// Tokenizer limits; `max_element_bytes` is the largest stanza (or
    /// other top-level element) accepted.
    pub limits: Limits,
}

/// What arrived on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer's stream header (once per stream, and again after a restart).
    Header(StreamHeader),
    /// `<stream:features/>`.
    Features(Features),
    /// A complete top-level element: a stanza or a negotiation element.
    Element(Element),
    /// White space between top-level elements (a keepalive, RFC 6120 §4.6.1).
    Keepalive,
    /// The peer sent `<stream:error/>`; the stream is over.
    Error(StreamError),
    /// The peer closed its stream with `</stream:stream>`.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitHeader,
    Open,
    Closed,
}

/// A sans-IO stream reader: [`feed`](Self::feed) it the bytes read from the
/// connection and take [`Event`]s with [`next_event`](Self::next_event).
///
/// Only the top-level element currently being received is built as a tree,
/// and the tokenizer's limits bound it. On a protocol violation the framer
/// returns a [`FramingError`] carrying the stream error to send; it stays
/// failed after that.
///
/// ```
/// use starling_stream::{ContentNamespace, Event, Framer, FramerConfig};
///
/// let mut framer = Framer::new(FramerConfig {
///     expected: Some(ContentNamespace::Client),
///     ..FramerConfig::default()
/// });
/// framer.feed(b"<?xml version='1.0'?><stream:stream to='example.com' version='1.0' \
///     xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
/// let Some(Event::Header(h)) = framer.next_event().unwrap() else { panic!() };
/// assert_eq!(h.to.unwrap().to_string(), "example.com");
/// framer.feed(b" <message to='romeo@example.net'><body>hi</body></message></stream:stream>");
/// assert_eq!(framer.next_event().unwrap(), Some(Event::Keepalive));
/// let Some(Event::Element(msg)) = framer.next_event().unwrap() else { panic!() };
/// assert!(msg.is("message", "jabber:client"));
/// assert_eq!(framer.next_event().unwrap(), Some(Event::Closed));
/// ```
#[derive(Debug)]
pub struct Framer {
    config: FramerConfig,
    tok: Tokenizer,
    tree: TreeBuilder,
    state: State,
    failed: Option<FramingError>,
}

impl Framer {
    /// A framer awaiting the peer's stream header.
    pub fn new(config: FramerConfig) -> Self {
        Framer {
            config,
            tok: Tokenizer::with_limits(config.limits),
            tree: TreeBuilder::new(),
            state: State::AwaitHeader,
            failed: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &FramerConfig {
        &self.config
    }

    /// Appends bytes read from the connection.
    pub fn feed(&mut self, data: &[u8]) {
        self.tok.feed(data);
    }

    /// Appends a buffer of bytes read from the connection, without copying
    /// it when nothing is buffered (see
    /// [`Tokenizer::feed_bytes`](starling_xml::Tokenizer::feed_bytes)).
    pub fn feed_bytes(&mut self, data: BytesMut) {
        self.tok.feed_bytes(data);
    }

    /// The connection reached end of file.
    pub fn finish(&mut self) {
        self.tok.finish();
    }

    /// Restarts the stream (after STARTTLS or SASL success, RFC 6120
    /// §4.3.3): the next event is a new header. Bytes already fed and not
    /// consumed are kept.
    pub fn restart(&mut self) {
        self.tok.restart();
        self.tree.clear();
        self.state = State::AwaitHeader;
        self.failed = None;
    }

    /// Bytes fed but not yet consumed (for example pipelined data after
    /// `<proceed/>`, which must not be read as plaintext).
    pub fn buffered(&self) -> usize {
        self.tok.buffered()
    }

    /// Frees buffer memory when nothing is pending (idle connections).
    pub fn shrink(&mut self) {
        if self.tree.depth() == 0 {
            self.tok.shrink();
            self.tree.shrink();
        }
    }

    /// Whether the peer's header has arrived and the stream is not closed.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// The next event, `Ok(None)` when more input is needed.
    pub fn next_event(&mut self) -> Result<Option<Event>, FramingError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.step();
        if let Err(e) = &r {
            self.failed = Some(e.clone());
        }
        r
    }

    fn step(&mut self) -> Result<Option<Event>, FramingError> {
        loop {
            if self.state == State::Closed {
                return Ok(None);
            }
            let token = match self.tok.next_token()? {
                Some(t) => t,
                None => return Ok(None),
            };
            match self.state {
                State::AwaitHeader => match token {
                    Token::Declaration(_) => continue,
                    Token::Start(s) => {
                        let header = StreamHeader::from_start(&s, self.config.expected)?;
                        self.state = State::Open;
                        return Ok(Some(Event::Header(header)));
                    }
                    _ => {
                        return Err(FramingError::new(
                            Condition::BadFormat,
                            "expected a stream header",
                        ));
                    }
                },
                State::Open if self.tree.depth() == 0 => match token {
                    Token::Text(t) => {
                        if t.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
                            return Ok(Some(Event::Keepalive));
                        }
                        return Err(FramingError::new(
                            Condition::NotWellFormed,
                            "character data is not allowed between stanzas",
                        ));
                    }
                    Token::End(_) => {
                        self.state = State::Closed;
                        return Ok(Some(Event::Closed));
                    }
                    t @ Token::Start(_) => {
                        self.tree.push(t);
                    }
                    Token::Declaration(_) => {}
                },
                State::Open => {
                    if let Some(el) = self.tree.push(token) {
                        return Ok(Some(classify(el)));
                    }
                }
                State::Closed => return Ok(None),
            }
        }
    }
}

fn classify(el: Element) -> Event {
    if el.ns() == ns::STREAM {
        match el.name() {
            "features" => return Event::Features(Features::from_element(&el)),
            "error" => {
                if let Some(e) = StreamError::from_element(&el) {
                    return Event::Error(e);
                }
            }
            _ => {}
        }
    }
    Event::Element(el)
}
