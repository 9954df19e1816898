//! The push module's decisions, without I/O or clock (time is passed in):
//! when a registration is notified (the rate limit), which notification
//! an iq response answers, which errors disable a registration, and the
//! notification stanza itself.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use starling_jid::{BareJid, Jid};
use starling_stanza::{
    ErrorType, Payload, PushNotification, PushSummary, StanzaError, StanzaErrorCondition as Cond,
    ns,
};
use starling_xml::Element;

/// Registrations whose counts are kept in memory at most; past it, those
/// not notified within the interval are forgotten first (their count
/// restarts).
pub(super) const MAX_TRACKED: usize = 100_000;

/// Accounts remembered as having no registration at most (past it the
/// memory starts over).
pub(super) const MAX_KNOWN_EMPTY: usize = 100_000;

/// Notifications awaiting their reply at most; past it, a notification
/// is still sent but its reply is not looked at.
pub(super) const MAX_OUTSTANDING: usize = 10_000;

/// How long a notification's reply is waited for.
pub(super) const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// The longest body put in a notification, in bytes (cut at a character
/// boundary).
pub(super) const MAX_BODY: usize = 1024;

/// A registration: the account, the app server and the node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct RegKey {
    /// The account.
    pub owner: BareJid,
    /// The app server.
    pub app_server: Jid,
    /// The node on it.
    pub node: String,
}

#[derive(Debug, Default)]
struct RegState {
    /// Messages since the account was last online.
    count: u32,
    last_sent: Option<Instant>,
}

/// Rate limits and outstanding notifications of every registration.
#[derive(Debug)]
pub(super) struct Tracker {
    min_interval: Duration,
    regs: HashMap<RegKey, RegState>,
    outstanding: HashMap<String, (RegKey, Instant)>,
    next_id: u64,
    /// Accounts whose registrations were last read empty: most accounts
    /// have none, and their offline messages then cost no store read.
    /// Enabling (the only way in, through this module) takes the account
    /// out.
    empty: HashSet<BareJid>,
    /// Counts registrations being made (see [`Tracker::mark_empty`]).
    epoch: u64,
}

impl Tracker {
    /// A tracker sending at most one notification per registration per
    /// `min_interval`.
    pub(super) fn new(min_interval: Duration) -> Tracker {
        Tracker {
            min_interval,
            regs: HashMap::new(),
            outstanding: HashMap::new(),
            next_id: 0,
            empty: HashSet::new(),
            epoch: 0,
        }
    }

    /// A message for `key` arrived at `now`: it is counted, and the count
    /// to notify now is returned, or `None` while the last notification
    /// is more recent than the interval (the count goes in the next one).
    pub(super) fn on_message(&mut self, key: &RegKey, now: Instant) -> Option<u32> {
        if !self.regs.contains_key(key) && self.regs.len() >= MAX_TRACKED {
            let interval = self.min_interval;
            self.regs.retain(|_, s| {
                s.last_sent
                    .is_some_and(|t| now.duration_since(t) < interval)
            });
            if self.regs.len() >= MAX_TRACKED {
                self.regs.clear();
            }
        }
        let st = self.regs.entry(key.clone()).or_default();
        st.count = st.count.saturating_add(1);
        let due = st
            .last_sent
            .is_none_or(|t| now.duration_since(t) >= self.min_interval);
        if !due {
            return None;
        }
        st.last_sent = Some(now);
        Some(st.count)
    }

    /// Records a notification for `key` sent at `now`; returns the iq id
    /// to send it with.
    pub(super) fn sent(&mut self, key: RegKey, now: Instant) -> String {
        self.next_id = self.next_id.wrapping_add(1);
        let id = format!("push-{}", self.next_id);
        if self.outstanding.len() >= MAX_OUTSTANDING {
            self.outstanding
                .retain(|_, (_, t)| now.duration_since(*t) < REPLY_TIMEOUT);
        }
        if self.outstanding.len() < MAX_OUTSTANDING {
            self.outstanding.insert(id.clone(), (key, now));
        }
        id
    }

    /// The registration a response with `id` from `from` to `to` answers
    /// (taken off the outstanding list); `None` if it answers no
    /// notification of ours (unknown id, another sender or account, or
    /// too late).
    pub(super) fn answered(
        &mut self,
        id: &str,
        from: &Jid,
        to: &BareJid,
        now: Instant,
    ) -> Option<RegKey> {
        let (key, sent) = self.outstanding.get(id)?;
        if key.app_server != *from || key.owner != *to {
            return None;
        }
        let late = now.duration_since(*sent) >= REPLY_TIMEOUT;
        let (key, _) = self.outstanding.remove(id)?;
        (!late).then_some(key)
    }

    /// `None` when `owner` is known to have no registration; otherwise
    /// the epoch to pass to [`mark_empty`](Tracker::mark_empty) after
    /// reading the store.
    pub(super) fn lookup(&self, owner: &BareJid) -> Option<u64> {
        (!self.empty.contains(owner)).then_some(self.epoch)
    }

    /// Remembers that `owner` had no registration when read in `epoch`;
    /// ignored if a registration was made since (the read may predate
    /// it).
    pub(super) fn mark_empty(&mut self, owner: &BareJid, epoch: u64) {
        if epoch != self.epoch {
            return;
        }
        if self.empty.len() >= MAX_KNOWN_EMPTY {
            self.empty.clear();
        }
        self.empty.insert(owner.clone());
    }

    /// A registration is being made for `owner` (called before the store
    /// write and again after it).
    pub(super) fn registering(&mut self, owner: &BareJid) {
        self.epoch = self.epoch.wrapping_add(1);
        self.empty.remove(owner);
    }

    /// The account came online: its counts restart.
    pub(super) fn reset(&mut self, owner: &BareJid) {
        self.regs.retain(|k, _| k.owner != *owner);
    }

    /// Forgets the registrations of `owner` at `app_server` (one node, or
    /// all), with their outstanding notifications.
    pub(super) fn forget(&mut self, owner: &BareJid, app_server: &Jid, node: Option<&str>) {
        let hit = |k: &RegKey| {
            k.owner == *owner && k.app_server == *app_server && node.is_none_or(|n| k.node == n)
        };
        self.regs.retain(|k, _| !hit(k));
        self.outstanding.retain(|_, (k, _)| !hit(k));
    }

    /// Registrations with counts in memory.
    #[cfg(test)]
    pub(super) fn tracked(&self) -> usize {
        self.regs.len()
    }
}

/// Whether an error answering a notification disables its registration
/// (XEP-0357 §7.1: the server SHOULD, unless the error is transient):
/// every error but those of type `wait` and the ones our own server makes
/// when the app server's domain cannot be reached for now.
pub(super) fn disables(err: &StanzaError) -> bool {
    if err.error_type == ErrorType::Wait {
        return false;
    }
    !matches!(
        err.condition,
        Cond::RemoteServerNotFound | Cond::RemoteServerTimeout | Cond::InternalServerError
    )
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Summary {
    /// Messages since the account was last online.
    pub count: u32,
    /// The last message's sender.
    pub sender: Option<Jid>,
    /// The last message's body (only with `include_body`).
    pub body: Option<String>,
}

/// `body` cut to at most [`MAX_BODY`] bytes at a character boundary.
pub(super) fn clip_body(body: &str) -> String {
    let mut end = body.len().min(MAX_BODY);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_owned()
}

/// The notification iq (XEP-0357 §7): a pubsub publish to `node` at the
/// app server, from the account's bare JID, with the summary form and the
/// registration's publish options.
pub(super) fn notification_iq(
    key: &RegKey,
    id: &str,
    summary: &Summary,
    publish_options: Option<Element>,
) -> Element {
    let form = PushSummary {
        message_count: Some(summary.count),
        last_message_sender: summary.sender.clone(),
        last_message_body: summary.body.clone(),
    }
    .to_form();
    let notification = PushNotification { form: Some(form) }.to_element();
    let mut item = Element::new("item", ns::PUBSUB);
    item.append_child(notification);
    let mut publish = Element::new("publish", ns::PUBSUB);
    publish.set_attr("node", Some(&key.node));
    publish.append_child(item);
    let mut pubsub = Element::new("pubsub", ns::PUBSUB);
    pubsub.append_child(publish);
    if let Some(form) = publish_options {
        let mut opts = Element::new("publish-options", ns::PUBSUB);
        opts.append_child(form);
        pubsub.append_child(opts);
    }
    let mut iq = Element::new("iq", ns::CLIENT);
    iq.set_attr("type", Some("set"));
    iq.set_attr("id", Some(id));
    iq.set_attr("from", Some(key.owner.as_str()));
    iq.set_attr("to", Some(key.app_server.as_str()));
    iq.append_child(pubsub);
    iq
}

/// The summary form of a notification iq, if it is one.
pub(super) fn summary_of(iq: &Element) -> Option<PushSummary> {
    let n = iq
        .get_child("pubsub", ns::PUBSUB)?
        .get_child("publish", ns::PUBSUB)?
        .get_child("item", ns::PUBSUB)?
        .get_child(PushNotification::NAME, PushNotification::NS)?;
    let form = PushNotification::from_element(n).ok()?.form?;
    PushSummary::from_form(&form).ok()
}

#[cfg(test)]
mod tests {
    //! The tracker's rules alone, with time passed in.

    use super::*;
    use starling_stanza::ErrorType;

    const APP: &str = "app@localhost/srv";

    fn bare(s: &str) -> BareJid {
        s.parse().unwrap()
    }

    fn key(node: &str) -> RegKey {
        RegKey {
            owner: bare("user@localhost"),
            app_server: Jid::new(APP).unwrap(),
            node: node.to_owned(),
        }
    }

    #[test]
    fn rate_limit_counts_between_notifications() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut t = Tracker::new(Duration::from_secs(10));
        let k = key("n");
        let got: Vec<_> = [0, 1, 5, 10, 11, 25]
            .iter()
            .map(|&s| t.on_message(&k, at(s)))
            .collect();
        assert_eq!(got, [Some(1), None, None, Some(4), None, Some(6)]);
        // Another registration has its own limit; coming online resets.
        assert_eq!(t.on_message(&key("m"), at(25)), Some(1));
        t.reset(&bare("user@localhost"));
        assert_eq!(t.tracked(), 0);
        assert_eq!(t.on_message(&k, at(26)), Some(1));
    }

    #[test]
    fn accounts_without_registrations_are_remembered_within_a_bound() {
        let mut t = Tracker::new(Duration::ZERO);
        let u = bare("user@localhost");
        let epoch = t.lookup(&u).unwrap();
        t.mark_empty(&u, epoch);
        assert_eq!(t.lookup(&u), None);
        // A registration forgets it; a read from before it is not kept.
        t.registering(&u);
        t.mark_empty(&u, epoch);
        assert!(t.lookup(&u).is_some());
        let epoch = t.lookup(&u).unwrap();
        for i in 0..=MAX_KNOWN_EMPTY {
            t.mark_empty(&bare(&format!("u{i}@localhost")), epoch);
        }
        let last = bare(&format!("u{}@localhost", MAX_KNOWN_EMPTY));
        assert_eq!(t.lookup(&last), None);
        assert!(
            t.lookup(&bare("u0@localhost")).is_some(),
            "the memory started over"
        );
    }

    #[test]
    fn replies_match_id_sender_account_and_time() {
        let t0 = Instant::now();
        let mut t = Tracker::new(Duration::ZERO);
        let app = Jid::new(APP).unwrap();
        let user = bare("user@localhost");
        let id = t.sent(key("n"), t0);
        let other = Jid::new("eve@localhost").unwrap();
        assert!(t.answered(&id, &other, &user, t0).is_none());
        assert!(t.answered(&id, &app, &bare("eve@localhost"), t0).is_none());
        assert_eq!(t.answered(&id, &app, &user, t0), Some(key("n")));
        assert!(t.answered(&id, &app, &user, t0).is_none(), "answered once");
        let late = t.sent(key("n"), t0);
        assert!(t.answered(&late, &app, &user, t0 + REPLY_TIMEOUT).is_none());
        let forgotten = t.sent(key("n"), t0);
        t.forget(&user, &app, None);
        assert!(t.answered(&forgotten, &app, &user, t0).is_none());
    }

    #[test]
    fn which_errors_disable() {
        let cases = [
            (StanzaError::new(Cond::ItemNotFound), true),
            (StanzaError::new(Cond::NotAuthorized), true),
            (StanzaError::new(Cond::Forbidden), true),
            (StanzaError::new(Cond::ServiceUnavailable), true),
            (StanzaError::new(Cond::FeatureNotImplemented), true),
            (StanzaError::new(Cond::ResourceConstraint), false),
            (
                StanzaError::new(Cond::ItemNotFound).with_type(ErrorType::Wait),
                false,
            ),
            (StanzaError::new(Cond::RemoteServerNotFound), false),
            (StanzaError::new(Cond::RemoteServerTimeout), false),
            (StanzaError::new(Cond::InternalServerError), false),
        ];
        for (err, want) in cases {
            assert_eq!(disables(&err), want, "{err}");
        }
    }

    #[test]
    fn bodies_are_clipped_at_a_char_boundary() {
        let long = "é".repeat(MAX_BODY);
        let clipped = clip_body(&long);
        assert!(clipped.len() <= MAX_BODY);
        assert!(long.starts_with(&clipped));
        assert_eq!(clip_body("short"), "short");
    }
}
