//! XEP-0198 Stream Management on the client side, sans-IO: what to count,
//! what to answer and what to resend. The session task feeds it the
//! stanzas it writes and reads and the nonzas it receives; it returns the
//! nonzas (and resent stanzas) to write. No socket, no clock of its own.

use std::time::{Duration, Instant};

use starling_stanza::{
    AckQueue, H, HandledCountTooHigh, SmAck, SmEnable, SmFailed, SmNonza, SmRequest, SmResume,
};
use starling_xml::Element;

use starling_stanza::Payload;

/// At most this many stanzas wait for an acknowledgement: a server that
/// stops acknowledging gets its connection dropped (and resumed) before the
/// queue grows further.
pub(crate) const MAX_UNACKED: usize = 4096;

/// When the client asks the server to acknowledge what it sent (`<r/>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckPolicy {
    /// Ask after this many stanzas sent since the last request (at least 1).
    pub every: u32,
    /// Ask when a stanza has waited this long without a request.
    pub after: Duration,
}

impl Default for AckPolicy {
    /// Every 5 stanzas, or after 2 seconds.
    fn default() -> Self {
        AckPolicy {
            every: 5,
            after: Duration::from_secs(2),
        }
    }
}

/// The state of stream management, as [`ClientHandle::sm_status`](crate::ClientHandle::sm_status) reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmStatus {
    /// Whether stream management is on for the current stream (`<enabled/>`
    /// arrived).
    pub enabled: bool,
    /// The stream id to resume with, when the server allows resumption.
    pub id: Option<String>,
    /// Stanzas received and handled on the stream (`h` of our `<a/>`).
    pub inbound: H,
    /// Stanzas sent on the stream (counted from `<enable/>`).
    pub sent: H,
    /// The last `h` the server acknowledged.
    pub acked: H,
    /// Stanzas sent and not acknowledged yet.
    pub unacked: usize,
}

/// Stream management went wrong in a way that ends the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmError {
    /// The server acknowledged more stanzas than were sent (XEP-0198 §4):
    /// the stream must end with `undefined-condition`.
    #[error(transparent)]
    HandledCountTooHigh(#[from] HandledCountTooHigh),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Off,
    /// `<enable/>` sent, no answer yet.
    Enabling,
    /// `<enabled/>` received; `id` when resumable, and where the server
    /// prefers the client to reconnect to resume (`location`).
    Enabled {
        id: Option<String>,
        location: Option<String>,
    },
}

/// The client's stream management state machine.
#[derive(Debug)]
pub(crate) struct Sm {
    policy: AckPolicy,
    phase: Phase,
    inbound: H,
    queue: AckQueue<Element>,
    /// Stanzas sent since the last `<r/>`.
    since_request: u32,
    /// When the oldest stanza sent since the last `<r/>` went out.
    unrequested_since: Option<Instant>,
}

impl Sm {
    pub(crate) fn new(policy: AckPolicy) -> Self {
        Sm {
            policy: AckPolicy {
                every: policy.every.max(1),
                ..policy
            },
            phase: Phase::Off,
            inbound: H(0),
            queue: AckQueue::new(),
            since_request: 0,
            unrequested_since: None,
        }
    }

    /// Whether stanzas are being counted (`<enable/>` was sent).
    pub(crate) fn is_on(&self) -> bool {
        self.phase != Phase::Off
    }

    /// Starts a new stream-management session: the `<enable/>` to write.
    /// Nothing may be queued (resend the old stanzas after this).
    pub(crate) fn enable(&mut self, resume: bool) -> Element {
        self.enable_at(resume, H(0))
    }

    fn enable_at(&mut self, resume: bool, start: H) -> Element {
        self.phase = Phase::Enabling;
        self.inbound = start;
        self.queue = AckQueue::starting_at(start);
        self.since_request = 0;
        self.unrequested_since = None;
        SmEnable { resume, max: None }.to_element()
    }

    /// A stanza was written: queue it; the `<r/>` to write when the policy
    /// asks for one.
    pub(crate) fn on_sent(&mut self, stanza: Element, now: Instant) -> Option<Element> {
        if !self.is_on() {
            return None;
        }
        self.queue.push(stanza);
        self.since_request += 1;
        self.unrequested_since.get_or_insert(now);
        (self.since_request >= self.policy.every).then(|| self.request())
    }

    fn request(&mut self) -> Element {
        self.since_request = 0;
        self.unrequested_since = None;
        SmRequest.to_element()
    }

    /// Whether the queue of unacknowledged stanzas reached
    /// [`MAX_UNACKED`].
    pub(crate) fn is_full(&self) -> bool {
        self.queue.len() >= MAX_UNACKED
    }

    /// A stanza from the server was handled.
    pub(crate) fn on_received(&mut self) {
        if matches!(self.phase, Phase::Enabled { .. }) {
            self.inbound = self.inbound.next();
        }
    }

    /// A nonza from the server: what to answer, if anything.
    pub(crate) fn on_nonza(&mut self, nonza: SmNonza) -> Result<Option<Element>, SmError> {
        match nonza {
            SmNonza::Enabled(e) if self.phase == Phase::Enabling => {
                let id = e.id.filter(|_| e.resume);
                let location = e.location.filter(|_| id.is_some());
                self.phase = Phase::Enabled { id, location };
                Ok(None)
            }
            SmNonza::Failed(_) if self.phase == Phase::Enabling => {
                // Not enabled: nothing is counted on this stream.
                self.phase = Phase::Off;
                self.queue = AckQueue::new();
                self.since_request = 0;
                self.unrequested_since = None;
                Ok(None)
            }
            SmNonza::Request if self.is_on() => Ok(Some(SmAck { h: self.inbound }.to_element())),
            SmNonza::Ack(a) if self.is_on() => {
                self.queue.ack(a.h)?;
                Ok(None)
            }
            // Out of place: ignored.
            _ => Ok(None),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.unrequested_since
            .and_then(|t| t.checked_add(self.policy.after))
    }

    /// The `<r/>` to write when a stanza has waited long enough.
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<Element> {
        let due = self.poll_timeout().is_some_and(|t| now >= t);
        (due && self.is_on()).then(|| self.request())
    }

    /// The `<resume/>` for a new connection, when the stream is resumable.
    pub(crate) fn resume_request(&self) -> Option<SmResume> {
        match &self.phase {
            Phase::Enabled { id: Some(id), .. } => Some(SmResume {
                h: self.inbound,
                previd: id.clone(),
            }),
            _ => None,
        }
    }

    /// Where to reconnect to resume (`host:port`), when the server said.
    pub(crate) fn location(&self) -> Option<&str> {
        match &self.phase {
            Phase::Enabled {
                id: Some(_),
                location,
            } => location.as_deref(),
            _ => None,
        }
    }

    /// `<resumed h/>`: drops what the server handled; the stanzas to
    /// resend, oldest first (they keep their place in the count), followed
    /// by an `<r/>` when there are any.
    pub(crate) fn on_resumed(&mut self, h: H) -> Result<Vec<Element>, SmError> {
        self.queue.ack(h)?;
        let mut out: Vec<Element> = self.queue.iter().cloned().collect();
        self.since_request = 0;
        self.unrequested_since = None;
        if !out.is_empty() {
            out.push(self.request());
        }
        Ok(out)
    }

    /// The old stream is gone (resumption failed, or was not possible):
    /// stream management is off, and the unacknowledged stanzas are
    /// returned, oldest first, without those the server says (`h`) it
    /// handled. The caller enables stream management on the new stream
    /// and sends them again.
    pub(crate) fn on_lost(&mut self, failed: Option<&SmFailed>) -> Vec<Element> {
        if let Some(h) = failed.and_then(|f| f.h) {
            // An `h` out of range tells nothing reliable: resend all.
            let _ = self.queue.ack(h);
        }
        let rest = self.queue.drain();
        self.phase = Phase::Off;
        self.inbound = H(0);
        self.queue = AckQueue::new();
        self.since_request = 0;
        self.unrequested_since = None;
        rest
    }

    /// The current state.
    pub(crate) fn status(&self) -> SmStatus {
        SmStatus {
            enabled: matches!(self.phase, Phase::Enabled { .. }),
            id: match &self.phase {
                Phase::Enabled { id, .. } => id.clone(),
                _ => None,
            },
            inbound: self.inbound,
            sent: self.queue.sent(),
            acked: self.queue.acked(),
            unacked: self.queue.len(),
        }
    }
}

/// Whether a top-level element is a stanza (counted by XEP-0198).
pub(crate) fn is_stanza(el: &Element) -> bool {
    matches!(el.name(), "message" | "presence" | "iq")
}

#[cfg(test)]
#[path = "sm_tests.rs"]
mod tests;
