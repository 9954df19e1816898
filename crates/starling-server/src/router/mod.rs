//! The delivery rules of RFC 6120 §10 and RFC 6121 §8 as a pure function.
//!
//! [`decide`] takes what a stanza is ([`StanzaKind`]), the form of its
//! address ([`Address`]) and the facts about the recipient ([`Facts`]:
//! its bound sessions, whether the account exists, whether federation is
//! on) and returns a [`Decision`]: deliver to these sessions, store
//! offline, bounce with this error, hand to federation, answer on the
//! server's or the account's behalf, or drop. It has no I/O, no clock and
//! no tokio: the table-driven tests in `tests.rs` cover every address form
//! for each stanza kind and recipient state. [`Hub`](crate::hub::Hub)
//! gathers the facts and carries the decision out.
//!
//! ```
//! use starling_jid::Jid;
//! use starling_server::router::{self, Address, Decision, Facts, Known, SessionInfo};
//! use starling_stanza::{MessageType, StanzaKind};
//!
//! let to: Jid = "juliet@example.com".parse().unwrap();
//! let addr = Address::classify(&to, |d| d == "example.com");
//! let phone = "juliet@example.com/phone".parse().unwrap();
//! let sessions = [SessionInfo { jid: &phone, available: true, priority: 5, closing: false }];
//! let facts = Facts { sessions: &sessions, account: Known::Unknown, federation: false };
//! let d = router::decide(StanzaKind::Message(MessageType::Chat), &addr, &facts);
//! assert!(matches!(d, Decision::Deliver(t) if t.iter().eq([0])));
//! ```

#[cfg(test)]
mod tests;

use starling_jid::{BareJid, DomainPart, FullJid, Jid};
use starling_stanza::{
    IqType, MessageType, PresenceType, StanzaErrorCondition as Cond, StanzaKind,
};

/// The form of a stanza's `to` (RFC 6120 §10.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A domain this server does not serve.
    Remote(DomainPart),
    /// One of our domains (`example.com`).
    Domain(DomainPart),
    /// A resource of one of our domains (`example.com/res`).
    DomainResource(DomainPart),
    /// An account (`user@example.com`).
    Bare(BareJid),
    /// A resource of an account (`user@example.com/res`).
    Full(FullJid),
}

impl Address {
    /// The form of `to`, given which domains are served here.
    pub fn classify(to: &Jid, serves: impl Fn(&str) -> bool) -> Address {
        if !serves(to.domain()) {
            return Address::Remote(to.domain_part());
        }
        match (to.node_part(), to.resource_part()) {
            (None, None) => Address::Domain(to.domain_part()),
            (None, Some(_)) => Address::DomainResource(to.domain_part()),
            (Some(_), None) => Address::Bare(to.bare()),
            (Some(_), Some(_)) => match to.clone().try_into_full() {
                Ok(full) => Address::Full(full),
                Err(bare) => Address::Bare(bare),
            },
        }
    }

    /// The account addressed (bare or full JID of a served domain).
    pub fn account(&self) -> Option<BareJid> {
        match self {
            Address::Bare(b) => Some(b.clone()),
            Address::Full(f) => Some(f.bare()),
            _ => None,
        }
    }
}

/// Whether something is known to be true, false, or not yet looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// It is.
    Yes,
    /// It is not.
    No,
    /// Not looked up yet.
    Unknown,
}

/// What the router sees of one bound session of the recipient account.
pub trait Recipient {
    /// Its full JID.
    fn jid(&self) -> &FullJid;
    /// It sent initial presence (and not since unavailable).
    fn available(&self) -> bool;
    /// Its presence priority.
    fn priority(&self) -> i32;
    /// It is being closed (a slow reader, a replaced or removed account):
    /// it receives nothing more, as if it were gone.
    fn closing(&self) -> bool {
        false
    }
}

/// A session as plain values (for tests and callers without handles).
#[derive(Debug, Clone, Copy)]
pub struct SessionInfo<'a> {
    /// Its full JID.
    pub jid: &'a FullJid,
    /// It sent initial presence (and not since unavailable).
    pub available: bool,
    /// Its presence priority.
    pub priority: i32,
    /// It is being closed.
    pub closing: bool,
}

impl Recipient for SessionInfo<'_> {
    fn jid(&self) -> &FullJid {
        self.jid
    }
    fn available(&self) -> bool {
        self.available
    }
    fn priority(&self) -> i32 {
        self.priority
    }
    fn closing(&self) -> bool {
        self.closing
    }
}

/// The sessions a stanza is delivered to: indexes into
/// [`Facts::sessions`], in increasing order, kept without allocating for
/// the first 64.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    low: u64,
    high: Vec<usize>,
}

impl Targets {
    /// Adds index `i` (indexes are added in increasing order).
    pub fn push(&mut self, i: usize) {
        if i < 64 {
            self.low |= 1 << i;
        } else {
            self.high.push(i);
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.low == 0 && self.high.is_empty()
    }

    /// The indexes, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        (0..64)
            .filter(|i| self.low & (1 << i) != 0)
            .chain(self.high.iter().copied())
    }
}

impl FromIterator<usize> for Targets {
    fn from_iter<I: IntoIterator<Item = usize>>(iter: I) -> Targets {
        let mut t = Targets::default();
        for i in iter {
            t.push(i);
        }
        t
    }
}

/// The facts about the recipient that the rules need.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a, S: Recipient = SessionInfo<'a>> {
    /// The bound sessions of the addressed account (empty for other
    /// address forms).
    pub sessions: &'a [S],
    /// Whether the addressed account exists. A bound session proves it;
    /// otherwise the router asks ([`Decision::NeedAccount`]).
    pub account: Known,
    /// Federation is on (stanzas for other domains can be sent).
    pub federation: bool,
}

/// What to do with a stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write it to these sessions.
    Deliver(Targets),
    /// A message for an account with no available resource: the offline
    /// hooks (store it, or bounce `service-unavailable`).
    Offline,
    /// Send the sender an error reply with this condition.
    Bounce(Cond),
    /// A subscription request to an account that does not exist: answer
    /// `unsubscribed` on its behalf (RFC 6121 §3.1.3).
    RefuseSubscription,
    /// An iq to one of our domains: the server's iq handlers.
    ServerIq,
    /// An iq to an account's bare JID: handled on its behalf
    /// (RFC 6121 §8.5.2.1.3).
    AccountIq,
    /// A subscription stanza or a probe for an account: the presence
    /// hooks (RFC 6121 §3, §4.3).
    AccountPresence,
    /// For another domain: federation.
    Remote,
    /// Look up whether the account exists, then decide again.
    NeedAccount,
    /// Nothing to do (errors are never answered, broadcasts to nobody).
    Drop,
}

/// Decides what happens to a stanza of `kind` addressed to `addr`.
pub fn decide<S: Recipient>(kind: StanzaKind, addr: &Address, facts: &Facts<'_, S>) -> Decision {
    match addr {
        Address::Remote(_) => remote(kind, facts),
        Address::Domain(_) => to_domain(kind),
        Address::DomainResource(_) => iq_unhandled(kind),
        Address::Bare(_) => to_bare(kind, facts),
        Address::Full(full) => to_full(kind, full, facts),
    }
}

/// RFC 6120 §10.4: another domain. Without federation, a stanza bounces
/// with `remote-server-not-found`, except presence broadcasts and probes.
fn remote<S: Recipient>(kind: StanzaKind, facts: &Facts<'_, S>) -> Decision {
    if facts.federation {
        return Decision::Remote;
    }
    match kind {
        StanzaKind::Presence(
            PresenceType::Available
            | PresenceType::Unavailable
            | PresenceType::Probe
            | PresenceType::Error,
            _,
        ) => Decision::Drop,
        k => bounce(k, Cond::RemoteServerNotFound),
    }
}

/// The error reply, except to errors (never answered) and iq results.
fn bounce(kind: StanzaKind, cond: Cond) -> Decision {
    match kind {
        k if k.is_error() => Decision::Drop,
        StanzaKind::Iq(IqType::Result) => Decision::Drop,
        _ => Decision::Bounce(cond),
    }
}

/// An iq nobody handles: requests get `service-unavailable`.
fn iq_unhandled(kind: StanzaKind) -> Decision {
    match kind {
        StanzaKind::Iq(t) if t.is_request() => Decision::Bounce(Cond::ServiceUnavailable),
        _ => Decision::Drop,
    }
}

/// RFC 6120 §10.5.1: the server's own domain.
fn to_domain(kind: StanzaKind) -> Decision {
    match kind {
        StanzaKind::Iq(_) => Decision::ServerIq,
        StanzaKind::Message(MessageType::Normal | MessageType::Chat) => {
            Decision::Bounce(Cond::ServiceUnavailable)
        }
        _ => Decision::Drop,
    }
}

/// Sessions that receive messages to the bare JID: available with a
/// non-negative priority.
fn candidates<'a, S: Recipient>(facts: &'a Facts<'a, S>) -> impl Iterator<Item = usize> + 'a {
    let s = facts.sessions;
    (0..s.len()).filter(move |&i| receives(&s[i]) && s[i].priority() >= 0)
}

/// Available and not closing.
fn receives<S: Recipient>(s: &S) -> bool {
    s.available() && !s.closing()
}

/// RFC 6121 §8.5.2: an account's bare JID.
fn to_bare<S: Recipient>(kind: StanzaKind, facts: &Facts<'_, S>) -> Decision {
    if facts.sessions.is_empty() {
        match facts.account {
            Known::Unknown => return Decision::NeedAccount,
            // RFC 6121 §8.5.1: no such account.
            Known::No => return no_account(kind),
            Known::Yes => {}
        }
    }
    match kind {
        StanzaKind::Message(t) => message_to_bare(t, facts),
        StanzaKind::Presence(t, _) => match t {
            PresenceType::Available | PresenceType::Unavailable | PresenceType::Error => {
                let s = facts.sessions;
                deliver_or_drop((0..s.len()).filter(|&i| receives(&s[i])).collect())
            }
            _ => Decision::AccountPresence,
        },
        StanzaKind::Iq(_) => Decision::AccountIq,
    }
}

fn no_account(kind: StanzaKind) -> Decision {
    match kind {
        StanzaKind::Presence(PresenceType::Subscribe, _) => Decision::RefuseSubscription,
        StanzaKind::Presence(..) => Decision::Drop,
        k => bounce(k, Cond::ServiceUnavailable),
    }
}

fn deliver_or_drop(targets: Targets) -> Decision {
    if targets.is_empty() {
        Decision::Drop
    } else {
        Decision::Deliver(targets)
    }
}

/// RFC 6121 §8.5.2.1.1, §8.5.2.2.1: a message to a bare JID.
fn message_to_bare<S: Recipient>(t: MessageType, facts: &Facts<'_, S>) -> Decision {
    match t {
        MessageType::Normal | MessageType::Chat => {
            let s = facts.sessions;
            let Some(top) = candidates(facts).map(|i| s[i].priority()).max() else {
                return Decision::Offline;
            };
            Decision::Deliver(
                candidates(facts)
                    .filter(|&i| s[i].priority() == top)
                    .collect(),
            )
        }
        MessageType::Headline => deliver_or_drop(candidates(facts).collect()),
        MessageType::Groupchat => Decision::Bounce(Cond::ServiceUnavailable),
        MessageType::Error => Decision::Drop,
    }
}

/// RFC 6121 §8.5.3: a full JID.
fn to_full<S: Recipient>(kind: StanzaKind, full: &FullJid, facts: &Facts<'_, S>) -> Decision {
    if let StanzaKind::Presence(t, _) = kind {
        if t.is_subscription() {
            // Subscription states belong to the bare JID (RFC 6121 §3).
            return to_bare(kind, facts);
        }
    }
    if let Some(i) = facts
        .sessions
        .iter()
        .position(|s| s.jid() == full && !s.closing())
    {
        return match kind {
            StanzaKind::Presence(PresenceType::Probe, _) => Decision::AccountPresence,
            _ => Decision::Deliver(std::iter::once(i).collect()),
        };
    }
    // RFC 6121 §8.5.3.2: no such resource.
    match kind {
        StanzaKind::Message(MessageType::Normal | MessageType::Chat) => to_bare(kind, facts),
        StanzaKind::Message(MessageType::Groupchat) => Decision::Bounce(Cond::ServiceUnavailable),
        StanzaKind::Presence(PresenceType::Probe, _) => to_bare(kind, facts),
        StanzaKind::Iq(_) => iq_unhandled(kind),
        _ => Decision::Drop,
    }
}
