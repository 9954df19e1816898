//! XEP-0198 Stream Management (`urn:xmpp:sm:3`): the nonzas, the wrapping
//! `h` counter and the queue of unacknowledged stanzas.

use std::collections::VecDeque;
use std::fmt;

use starling_xml::Element;

use super::{expect, opt_bool, opt_u32, req_u32, required};
use crate::error::{Condition, ParseError};
use crate::ns;
use crate::payload::Payload;

/// A stanza count `h` (XEP-0198 §4): an unsigned 32-bit number that wraps
/// to 0 after 2^32 − 1.
///
/// ```
/// use starling_stanza::H;
///
/// let h = H(u32::MAX);
/// assert_eq!(h.next(), H(0));
/// assert_eq!(h.wrapping_add(3), H(2));
/// // Three stanzas were acknowledged between h = 2^32 - 1 and h = 2.
/// assert_eq!(h.distance_to(H(2)), 3);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct H(pub u32);

impl H {
    /// `self + n` modulo 2^32.
    #[must_use]
    pub fn wrapping_add(self, n: u32) -> H {
        H(self.0.wrapping_add(n))
    }

    /// The count after one more stanza.
    #[must_use]
    pub fn next(self) -> H {
        self.wrapping_add(1)
    }

    /// How many stanzas were counted from `self` to `later`:
    /// `later − self` modulo 2^32.
    pub fn distance_to(self, later: H) -> u32 {
        later.0.wrapping_sub(self.0)
    }
}

impl fmt::Display for H {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u32> for H {
    fn from(v: u32) -> H {
        H(v)
    }
}

/// The peer acknowledged more stanzas than were sent (XEP-0198 §4): also
/// the `<handled-count-too-high/>` element that reports it.
///
/// ```
/// use starling_stanza::{AckQueue, H, HandledCountTooHigh};
///
/// let mut q = AckQueue::new();
/// q.push("one");
/// assert_eq!(q.ack(H(2)), Err(HandledCountTooHigh { h: H(2), sent: H(1) }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("the peer acknowledged {h} stanzas but only {sent} were sent")]
pub struct HandledCountTooHigh {
    /// The `h` received.
    pub h: H,
    /// The number of stanzas sent (`send-count`).
    pub sent: H,
}

impl Payload for HandledCountTooHigh {
    const NAME: &'static str = "handled-count-too-high";
    const NS: &'static str = ns::SM;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        Ok(HandledCountTooHigh {
            h: H(req_u32(el, "h")?),
            sent: H(req_u32(el, "send-count")?),
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        el.set_attr("h", Some(&self.h.to_string()));
        el.set_attr("send-count", Some(&self.sent.to_string()));
        el
    }
}

/// The stanzas sent and not yet acknowledged, numbered by the wrapping
/// count of stanzas sent (XEP-0198 §4). Pure bookkeeping, no I/O.
///
/// ```
/// use starling_stanza::{AckQueue, H};
///
/// let mut q = AckQueue::new();
/// assert_eq!(q.push("a"), H(1));
/// assert_eq!(q.push("b"), H(2));
/// assert_eq!(q.push("c"), H(3));
/// assert_eq!(q.ack(H(2)).unwrap(), ["a", "b"]);
/// assert_eq!(q.ack(H(2)).unwrap(), Vec::<&str>::new()); // repeated: nothing new
/// assert_eq!(q.iter().collect::<Vec<_>>(), [&"c"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckQueue<T> {
    queue: VecDeque<T>,
    /// The last `h` the peer acknowledged.
    acked: H,
}

impl<T> Default for AckQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> AckQueue<T> {
    /// An empty queue, counting from 0 (after `<enable/>`/`<enabled/>`).
    pub fn new() -> Self {
        Self::starting_at(H(0))
    }

    /// An empty queue whose count starts at `h` (for example the `h` of a
    /// `<resumed/>`).
    pub fn starting_at(h: H) -> Self {
        AckQueue {
            queue: VecDeque::new(),
            acked: h,
        }
    }

    /// Queues a sent stanza and returns its sequence number: the count of
    /// stanzas sent including it.
    pub fn push(&mut self, stanza: T) -> H {
        self.queue.push_back(stanza);
        self.sent()
    }

    /// The count of stanzas sent.
    pub fn sent(&self) -> H {
        // The queue holds fewer than 2^32 stanzas in any real session; the
        // count wraps like `h` anyway.
        #[allow(clippy::cast_possible_truncation)]
        self.acked.wrapping_add(self.queue.len() as u32)
    }

    /// The last `h` acknowledged.
    pub fn acked(&self) -> H {
        self.acked
    }

    /// Takes the peer's `h`: removes and returns, oldest first, the stanzas
    /// it newly acknowledges. An `h` beyond the stanzas sent (or one that
    /// goes backwards) changes nothing and is an error.
    pub fn ack(&mut self, h: H) -> Result<Vec<T>, HandledCountTooHigh> {
        let n = self.acked.distance_to(h);
        if usize::try_from(n).map_or(true, |n| n > self.queue.len()) {
            return Err(HandledCountTooHigh {
                h,
                sent: self.sent(),
            });
        }
        self.acked = h;
        Ok(self.queue.drain(..n as usize).collect())
    }

    /// The unacknowledged stanzas, oldest first (to resend after a
    /// resumption).
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.queue.iter()
    }

    /// How many stanzas are unacknowledged.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether every sent stanza is acknowledged.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Removes and returns every unacknowledged stanza (when the session
    /// ends and they must be bounced or stored).
    pub fn drain(&mut self) -> Vec<T> {
        let n = self.queue.len();
        #[allow(clippy::cast_possible_truncation)]
        {
            self.acked = self.acked.wrapping_add(n as u32);
        }
        self.queue.drain(..).collect()
    }
}

/// `<enable/>`: the client asks to enable stream management (XEP-0198 §3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SmEnable {
    /// Asks for resumption (`resume='true'`).
    pub resume: bool,
    /// Preferred maximum resumption time, in seconds.
    pub max: Option<u32>,
}

impl Payload for SmEnable {
    const NAME: &'static str = "enable";
    const NS: &'static str = ns::SM;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        Ok(SmEnable {
            resume: opt_bool(el, "resume")?,
            max: opt_u32(el, "max")?,
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        if self.resume {
            el.set_attr("resume", Some("true"));
        }
        if let Some(m) = self.max {
            el.set_attr("max", Some(&m.to_string()));
        }
        el
    }
}

/// `<enabled/>`: the server enabled stream management (XEP-0198 §3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SmEnabled {
    /// The stream id to resume with (`previd`).
    pub id: Option<String>,
    /// Resumption is allowed.
    pub resume: bool,
    /// Maximum resumption time, in seconds.
    pub max: Option<u32>,
    /// Where to reconnect to resume (`host:port` or `[IPv6]:port`).
    pub location: Option<String>,
}

impl Payload for SmEnabled {
    const NAME: &'static str = "enabled";
    const NS: &'static str = ns::SM;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        Ok(SmEnabled {
            id: el.attr("id").map(str::to_owned),
            resume: opt_bool(el, "resume")?,
            max: opt_u32(el, "max")?,
            location: el.attr("location").map(str::to_owned),
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        if let Some(id) = &self.id {
            el.set_attr("id", Some(id));
        }
        if self.resume {
            el.set_attr("resume", Some("true"));
        }
        if let Some(m) = self.max {
            el.set_attr("max", Some(&m.to_string()));
        }
        if let Some(l) = &self.location {
            el.set_attr("location", Some(l));
        }
        el
    }
}

fn previd_payload(el: &Element) -> Result<(H, String), ParseError> {
    let h = H(req_u32(el, "h")?);
    let previd = required(el, "previd")?;
    if previd.is_empty() {
        return Err(ParseError::bad_request("empty 'previd'"));
    }
    Ok((h, previd.to_owned()))
}

fn write_previd(name: &str, h: H, previd: &str) -> Element {
    let mut el = Element::new(name, ns::SM);
    el.set_attr("h", Some(&h.to_string()));
    el.set_attr("previd", Some(previd));
    el
}

/// `<resume/>`: the client asks to resume stream `previd`, having handled
/// `h` stanzas from the server (XEP-0198 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmResume {
    /// Stanzas the client handled on the old stream.
    pub h: H,
    /// The `id` of the old stream's `<enabled/>`.
    pub previd: String,
}

impl Payload for SmResume {
    const NAME: &'static str = "resume";
    const NS: &'static str = ns::SM;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let (h, previd) = previd_payload(el)?;
        Ok(SmResume { h, previd })
    }
    fn to_element(&self) -> Element {
        write_previd(Self::NAME, self.h, &self.previd)
    }
}

/// `<resumed/>`: the server resumed stream `previd`, having handled `h`
/// stanzas from the client (XEP-0198 §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmResumed {
    /// Stanzas the server handled on the old stream.
    pub h: H,
    /// The resumed stream's id.
    pub previd: String,
}

impl Payload for SmResumed {
    const NAME: &'static str = "resumed";
    const NS: &'static str = ns::SM;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let (h, previd) = previd_payload(el)?;
        Ok(SmResumed { h, previd })
    }
    fn to_element(&self) -> Element {
        write_previd(Self::NAME, self.h, &self.previd)
    }
}

/// `<failed/>`: enabling or resuming failed (XEP-0198 §3, §5, §6).
///
/// ```
/// use starling_stanza::{Payload, SmFailed, StanzaErrorCondition, H};
///
/// let f = SmFailed { h: Some(H(7)), condition: Some(StanzaErrorCondition::ItemNotFound), handled_count_too_high: None };
/// assert_eq!(SmFailed::from_element(&f.to_element()).unwrap(), f);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SmFailed {
    /// Stanzas the server handled on the old stream, when it still knows.
    pub h: Option<H>,
    /// The stanza error condition (`urn:ietf:params:xml:ns:xmpp-stanzas`),
    /// e.g. `item-not-found` or `unexpected-request`.
    pub condition: Option<Condition>,
    /// The handled count was too high.
    pub handled_count_too_high: Option<HandledCountTooHigh>,
}

impl SmFailed {
    /// `<failed/>` with only a stanza error condition.
    ///
    /// ```
    /// use starling_stanza::{SmFailed, StanzaErrorCondition};
    ///
    /// let f = SmFailed::with_condition(StanzaErrorCondition::ItemNotFound);
    /// assert_eq!(f.condition, Some(StanzaErrorCondition::ItemNotFound));
    /// assert_eq!((f.h, f.handled_count_too_high), (None, None));
    /// ```
    pub fn with_condition(condition: Condition) -> SmFailed {
        SmFailed {
            h: None,
            condition: Some(condition),
            handled_count_too_high: None,
        }
    }
}

impl Payload for SmFailed {
    const NAME: &'static str = "failed";
    const NS: &'static str = ns::SM;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let mut failed = SmFailed {
            h: opt_u32(el, "h")?.map(H),
            ..SmFailed::default()
        };
        for c in el.children() {
            if c.ns() == ns::STANZAS && c.name() != "text" {
                if failed.condition.is_some() {
                    return Err(ParseError::bad_request(
                        "<failed/> with more than one condition",
                    ));
                }
                let t = c.text();
                let uri = (!t.trim().is_empty()).then(|| t.trim().to_owned());
                failed.condition = Some(match c.name() {
                    "gone" => Condition::Gone(uri),
                    "redirect" => Condition::Redirect(uri),
                    n => n.parse().unwrap_or(Condition::UndefinedCondition),
                });
            } else if c.is(HandledCountTooHigh::NAME, ns::SM) {
                if failed.handled_count_too_high.is_some() {
                    return Err(ParseError::bad_request(
                        "more than one <handled-count-too-high/>",
                    ));
                }
                failed.handled_count_too_high = Some(HandledCountTooHigh::from_element(c)?);
            }
        }
        Ok(failed)
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        if let Some(h) = self.h {
            el.set_attr("h", Some(&h.to_string()));
        }
        if let Some(c) = &self.condition {
            let mut e = Element::new(c.name(), ns::STANZAS);
            if let Condition::Gone(Some(u)) | Condition::Redirect(Some(u)) = c {
                e.append_text(u.as_str());
            }
            el.append_child(e);
        }
        if let Some(t) = &self.handled_count_too_high {
            el.append_child(t.to_element());
        }
        el
    }
}

/// `<r/>`: a request for an acknowledgement (XEP-0198 §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SmRequest;

super::empty_payload!(SmRequest, "r", ns::SM);

/// `<a h/>`: an acknowledgement of `h` stanzas handled (XEP-0198 §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SmAck {
    /// Stanzas handled so far.
    pub h: H,
}

impl Payload for SmAck {
    const NAME: &'static str = "a";
    const NS: &'static str = ns::SM;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        Ok(SmAck {
            h: H(req_u32(el, "h")?),
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        el.set_attr("h", Some(&self.h.to_string()));
        el
    }
}

/// Any Stream Management nonza (a top-level element in `urn:xmpp:sm:3`).
///
/// ```
/// use starling_stanza::{SmNonza, SmAck, H};
/// use starling_xml::Element;
///
/// let el: Element = "<a xmlns='urn:xmpp:sm:3' h='4294967295'/>".parse().unwrap();
/// let n = SmNonza::from_element(&el).unwrap();
/// assert_eq!(n, SmNonza::Ack(SmAck { h: H(u32::MAX) }));
/// assert_eq!(n.to_element(), el);
/// let bad: Element = "<a xmlns='urn:xmpp:sm:3' h='4294967296'/>".parse().unwrap();
/// assert!(SmNonza::from_element(&bad).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SmNonza {
    /// `<enable/>`
    Enable(SmEnable),
    /// `<enabled/>`
    Enabled(SmEnabled),
    /// `<resume/>`
    Resume(SmResume),
    /// `<resumed/>`
    Resumed(SmResumed),
    /// `<failed/>`
    Failed(SmFailed),
    /// `<r/>`
    Request,
    /// `<a/>`
    Ack(SmAck),
}

impl SmNonza {
    /// Whether the element is in the Stream Management namespace.
    pub fn is_sm(el: &Element) -> bool {
        el.ns() == ns::SM
    }

    /// Reads a nonza. An element outside `urn:xmpp:sm:3`, or one with an
    /// unknown name, gives `feature-not-implemented`.
    pub fn from_element(el: &Element) -> Result<SmNonza, ParseError> {
        if el.ns() != ns::SM {
            return Err(ParseError::new(
                Condition::FeatureNotImplemented,
                format!(
                    "<{}/> in {:?} is not a stream management nonza",
                    el.name(),
                    el.ns()
                ),
            ));
        }
        Ok(match el.name() {
            "enable" => SmNonza::Enable(SmEnable::from_element(el)?),
            "enabled" => SmNonza::Enabled(SmEnabled::from_element(el)?),
            "resume" => SmNonza::Resume(SmResume::from_element(el)?),
            "resumed" => SmNonza::Resumed(SmResumed::from_element(el)?),
            "failed" => SmNonza::Failed(SmFailed::from_element(el)?),
            "r" => SmNonza::Request,
            "a" => SmNonza::Ack(SmAck::from_element(el)?),
            other => {
                return Err(ParseError::new(
                    Condition::FeatureNotImplemented,
                    format!("unknown stream management element <{other}/>"),
                ));
            }
        })
    }

    /// The nonza's element.
    pub fn to_element(&self) -> Element {
        match self {
            SmNonza::Enable(e) => e.to_element(),
            SmNonza::Enabled(e) => e.to_element(),
            SmNonza::Resume(e) => e.to_element(),
            SmNonza::Resumed(e) => e.to_element(),
            SmNonza::Failed(e) => e.to_element(),
            SmNonza::Request => SmRequest.to_element(),
            SmNonza::Ack(e) => e.to_element(),
        }
    }
}
