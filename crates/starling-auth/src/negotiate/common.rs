//! The lifecycle every negotiator shares: the framer that reads the peer's
//! stream, the writer and output buffer of ours, the event queue, the
//! phase with its closed and TLS-pending states, stream errors, restarts.
//!
//! Each negotiator keeps its protocol logic and holds one [`Common`]; the
//! parts that are the same for all four live here once.

use std::collections::VecDeque;

use starling_stream::{
    ContentNamespace, Event, Features, Framer, FramerConfig, StreamError, StreamHeader,
    StreamWriter,
};
use starling_xml::{BytesMut, Element, Limits};

/// The phases of a negotiator that [`Common`] must know about.
pub(crate) trait Lifecycle: Copy + Eq {
    /// The stream is over.
    const CLOSED: Self;
    /// `<proceed/>` went one way or the other and the TLS handshake is the
    /// caller's: input is discarded until `tls_established`.
    const TLS_PENDING: Self;
}

/// What [`Common::next`] found.
pub(crate) enum Next<E> {
    /// A queued event for the caller.
    Event(E),
    /// A framed event for the negotiator to act on.
    Input(Event),
    /// The peer's stream is broken: this is the stream error to send.
    Broken(StreamError),
    /// Nothing until more input (or TLS, or a deferred step) arrives.
    Wait,
}

/// The state every negotiator shares.
pub(crate) struct Common<P, E> {
    /// The negotiator's phase.
    pub(crate) phase: P,
    config: FramerConfig,
    framer: Framer,
    writer: StreamWriter,
    out: Vec<u8>,
    events: VecDeque<E>,
    /// Buffered input stays unprocessed (a deferred step is outstanding).
    held: bool,
}

impl<P: Lifecycle, E> Common<P, E> {
    /// A fresh stream of `content` in `phase`.
    pub(crate) fn new(content: ContentNamespace, limits: Limits, phase: P) -> Self {
        let config = FramerConfig {
            expected: Some(content),
            limits,
        };
        Common {
            phase,
            config,
            framer: Framer::new(config),
            writer: StreamWriter::new(),
            out: Vec::new(),
            events: VecDeque::new(),
            held: false,
        }
    }

    /// Whether the stream is over.
    pub(crate) fn is_closed(&self) -> bool {
        self.phase == P::CLOSED
    }

    fn accepts_input(&self) -> bool {
        self.phase != P::CLOSED && self.phase != P::TLS_PENDING
    }

    /// Appends bytes read from the connection (dropped while TLS is
    /// pending and once closed).
    pub(crate) fn feed(&mut self, data: &[u8]) {
        if self.accepts_input() {
            self.framer.feed(data);
        }
    }

    /// [`feed`](Self::feed) with a buffer handed over, adopted without a
    /// copy when nothing is buffered.
    pub(crate) fn feed_bytes(&mut self, data: BytesMut) {
        if self.accepts_input() {
            self.framer.feed_bytes(data);
        }
    }

    /// The bytes to write, taken.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// How many bytes of output are waiting.
    pub(crate) fn output_len(&self) -> usize {
        self.out.len()
    }

    /// Whether output is waiting.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Frees the input buffer when nothing is pending, and the output
    /// buffer when it is empty.
    pub(crate) fn shrink(&mut self) {
        self.framer.shrink();
        if self.out.is_empty() {
            self.out = Vec::new();
        }
    }

    /// Queues an event for the caller.
    pub(crate) fn push(&mut self, event: E) {
        self.events.push_back(event);
    }

    /// Keeps buffered input unprocessed (`true`) or lets it flow again.
    pub(crate) fn hold(&mut self, held: bool) {
        self.held = held;
    }

    /// The next queued event, else the next framed event, else why not.
    pub(crate) fn next(&mut self) -> Next<E> {
        if let Some(e) = self.events.pop_front() {
            return Next::Event(e);
        }
        if !self.accepts_input() || self.held {
            return Next::Wait;
        }
        match self.framer.next_event() {
            Ok(None) => Next::Wait,
            Ok(Some(ev)) => Next::Input(ev),
            Err(e) => Next::Broken(e.error),
        }
    }

    /// Whether our stream header is out and the stream not closed.
    pub(crate) fn is_open(&self) -> bool {
        self.writer.is_open()
    }

    /// Writes our stream header.
    pub(crate) fn open(&mut self, header: &StreamHeader) {
        self.writer.open(header, &mut self.out);
    }

    /// Writes `<stream:features/>`.
    pub(crate) fn features(&mut self, features: &Features) {
        self.writer.features(features, &mut self.out);
    }

    /// Writes a top-level element.
    pub(crate) fn send(&mut self, el: &Element) {
        self.writer.element(el, &mut self.out);
    }

    /// Writes a whitespace keepalive.
    pub(crate) fn keepalive(&mut self) {
        self.writer.keepalive(&mut self.out);
    }

    /// Writes `</stream:stream>` if our stream is open.
    pub(crate) fn end_stream(&mut self) {
        if self.writer.is_open() {
            self.writer.close(&mut self.out);
        }
    }

    /// Writes a stream error and the close (our stream must be open).
    pub(crate) fn error(&mut self, error: &StreamError) {
        self.writer.error(error, &mut self.out);
    }

    /// Ends our stream and closes.
    pub(crate) fn close(&mut self) {
        self.end_stream();
        self.phase = P::CLOSED;
    }

    /// Sends a stream error and closes, opening our stream with `header`
    /// first if it is not open (RFC 6120 §4.9.1.3); false if the stream
    /// was already closed.
    pub(crate) fn write_error(
        &mut self,
        header: impl FnOnce() -> StreamHeader,
        error: &StreamError,
    ) -> bool {
        if self.is_closed() {
            return false;
        }
        if !self.writer.is_open() {
            self.writer.open(&header(), &mut self.out);
        }
        self.writer.error(error, &mut self.out);
        self.phase = P::CLOSED;
        true
    }

    /// `<proceed/>`: whatever followed it in plaintext must not be read as
    /// if TLS protected it, so the input is dropped; the caller runs the
    /// handshake when it takes `event`.
    pub(crate) fn start_tls(&mut self, event: E) {
        self.framer = Framer::new(self.config);
        self.phase = P::TLS_PENDING;
        self.events.push_back(event);
    }

    /// TLS is on: a new stream on both sides, with nothing read yet. The
    /// caller sets the phase.
    pub(crate) fn tls_established(&mut self) {
        self.framer = Framer::new(self.config);
        self.writer.restart();
    }

    /// A restart after SASL success (RFC 6120 §6.4.6): both streams start
    /// over; bytes already received (a pipelined header) are kept.
    pub(crate) fn restart(&mut self) {
        self.framer.restart();
        self.writer.restart();
    }
}

/// What a negotiator adds to [`Common`] to process its input.
pub(crate) trait Negotiator {
    type Phase: Lifecycle;
    type Event;

    /// The shared state.
    fn common(&mut self) -> &mut Common<Self::Phase, Self::Event>;

    /// Acts on one framed event.
    fn on_event(&mut self, ev: Event);

    /// The peer's stream is broken: send `error` and close.
    fn on_broken(&mut self, error: StreamError);
}

/// The next event of `n`, processing buffered input as far as needed.
pub(crate) fn next_event<N: Negotiator>(n: &mut N) -> Option<N::Event> {
    loop {
        match n.common().next() {
            Next::Event(e) => return Some(e),
            Next::Wait => return None,
            Next::Input(ev) => n.on_event(ev),
            Next::Broken(error) => n.on_broken(error),
        }
    }
}

/// Implements [`Machine`](super::Machine) for a negotiator whose inherent
/// methods `eof`, `poll_timeout` and `handle_timeout` do the work, and
/// whose shared state is the field `c`.
macro_rules! machine {
    (impl[$($g:tt)*] $ty:ty => $event:ty) => {
        impl<$($g)*> $crate::negotiate::Machine for $ty {
            type Event = $event;

            fn feed(&mut self, data: &[u8]) {
                self.c.feed(data);
            }

            fn feed_bytes(&mut self, data: ::starling_xml::BytesMut) {
                self.c.feed_bytes(data);
            }

            fn eof(&mut self) {
                <$ty>::eof(self);
            }

            fn take_output(&mut self) -> Vec<u8> {
                self.c.take_output()
            }

            fn has_output(&self) -> bool {
                self.c.has_output()
            }

            fn output_len(&self) -> usize {
                self.c.output_len()
            }

            fn next_event(&mut self) -> Option<$event> {
                $crate::negotiate::common::next_event(self)
            }

            fn poll_timeout(&self) -> Option<::std::time::Instant> {
                <$ty>::poll_timeout(self)
            }

            fn handle_timeout(&mut self, now: ::std::time::Instant) {
                <$ty>::handle_timeout(self, now);
            }

            fn is_closed(&self) -> bool {
                self.c.is_closed()
            }

            fn shrink(&mut self) {
                self.c.shrink();
            }
        }
    };
}

pub(crate) use machine;
