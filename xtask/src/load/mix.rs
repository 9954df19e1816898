//! What the load generator's users do besides chat messages, and what it
//! counts of it: the "mixed traffic" of `cargo xtask soak`.
//!
//! `cargo xtask load` uses [`Mix::default`]: messages only. The soak adds,
//! on each user's message tick, a presence change or a roster get now and
//! then, and sends a share of the messages to one JID (the never-reading
//! abuser) while it is online. Whatever the mix, a user approves a
//! subscription request from its own domain and leaves any other pending,
//! and counts both.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use starling_jid::Jid;

use super::stats::Histogram;

/// The prefix of the `id` of a roster get; the rest is its send time in
/// microseconds since the generator's origin.
pub(crate) const ROSTER_ID_PREFIX: &str = "roster-";

/// What each user does on its message tick, besides its message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mix {
    /// Share of ticks (0–1) on which the user also changes its presence.
    pub(crate) presence: f64,
    /// Share of ticks (0–1) on which the user also asks for its roster.
    pub(crate) roster: f64,
    /// A JID that gets this share (0–1) of the messages while it is online
    /// (see [`MixCounters::sink_online`]); those are counted apart.
    pub(crate) sink: Option<(Jid, f64)>,
    /// Mixed into each user's random number generator: the same seed
    /// gives every user the same sequence of choices.
    pub(crate) seed: u64,
    /// Every user enables XEP-0198 stream management (with resumption),
    /// answers the server's `<r/>` and asks for an acknowledgement after
    /// every [`SM_REQUEST_EVERY`] stanzas it sends.
    pub(crate) sm: bool,
}

/// With [`Mix::sm`], a user asks for an acknowledgement after this many
/// stanzas.
pub(crate) const SM_REQUEST_EVERY: u32 = 5;

/// A user's XEP-0198 counts (with [`Mix::sm`]).
#[derive(Debug, Default)]
pub(crate) struct SmCounts {
    /// `<enabled/>` came: stanzas are counted from here.
    pub(crate) enabled: bool,
    /// Stanzas handled from the server.
    pub(crate) handled: u32,
    /// Stanzas sent since the last `<r/>`.
    pub(crate) since_request: u32,
}

impl SmCounts {
    /// An element from the server: counted, or answered (`<r/>`) into
    /// `out`; true when it was a stream management element.
    pub(crate) fn incoming(&mut self, el: &starling_xml::Element, out: &mut Vec<u8>) -> bool {
        if el.ns() != starling_stanza::ns::SM {
            if self.enabled {
                self.handled = self.handled.wrapping_add(1);
            }
            return false;
        }
        match el.name() {
            "enabled" => self.enabled = true,
            "r" => {
                let _ = std::io::Write::write_fmt(
                    out,
                    format_args!("<a xmlns='urn:xmpp:sm:3' h='{}'/>", self.handled),
                );
            }
            _ => {}
        }
        true
    }

    /// A stanza was sent: asks for an acknowledgement every
    /// [`SM_REQUEST_EVERY`].
    pub(crate) fn sent(&mut self, out: &mut Vec<u8>) {
        if !self.enabled {
            return;
        }
        self.since_request += 1;
        if self.since_request >= SM_REQUEST_EVERY {
            self.since_request = 0;
            out.extend_from_slice(b"<r xmlns='urn:xmpp:sm:3'/>");
        }
    }
}

/// Counters of the mixed traffic, shared by every user.
#[derive(Debug, Default)]
pub(crate) struct MixCounters {
    /// Presence changes sent.
    pub(crate) presence_sent: AtomicU64,
    /// Roster gets sent.
    pub(crate) roster_sent: AtomicU64,
    /// Roster gets answered (result or error).
    pub(crate) roster_answered: AtomicU64,
    /// Time from a roster get to its answer.
    pub(crate) roster_latency: Histogram,
    /// Messages addressed to the sink.
    pub(crate) sent_to_sink: AtomicU64,
    /// Error replies from the sink's address.
    pub(crate) sink_bounces: AtomicU64,
    /// Whether the sink is online (set by whoever drives it).
    pub(crate) sink_online: AtomicBool,
    /// Subscription requests from the users' own domain, approved.
    pub(crate) local_subscriptions_approved: AtomicU64,
    /// Subscription requests from other domains (left pending).
    pub(crate) remote_subscription_requests: AtomicU64,
    /// Ticks on which nothing was sent because the user's earlier output
    /// had not been written yet (the server was not reading it).
    pub(crate) write_blocked: AtomicU64,
}

impl MixCounters {
    /// Adds one to a counter.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The extra actions of one tick, decided from two random fractions in
/// `[0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Extras {
    /// Change presence.
    pub(crate) presence: bool,
    /// Ask for the roster.
    pub(crate) roster: bool,
}

impl Mix {
    /// The extra actions for a tick.
    pub(crate) fn extras(&self, presence_draw: f64, roster_draw: f64) -> Extras {
        Extras {
            presence: presence_draw < self.presence,
            roster: roster_draw < self.roster,
        }
    }

    /// Whether a message goes to the sink, for a random `draw` in `[0, 1)`.
    pub(crate) fn to_sink(&self, draw: f64, sink_online: bool) -> bool {
        sink_online && self.sink.as_ref().is_some_and(|(_, share)| draw < *share)
    }
}

/// The presence a user sends on its `n`th presence change: away and back.
pub(crate) fn presence_change(n: u64) -> &'static str {
    if n % 2 == 0 {
        "<presence><show>away</show><status>soak</status></presence>"
    } else {
        "<presence/>"
    }
}

/// A roster get stamped with its send time.
pub(crate) fn roster_get(now_micros: u64) -> String {
    format!(
        "<iq type='get' id='{ROSTER_ID_PREFIX}{now_micros}'><query xmlns='jabber:iq:roster'/></iq>"
    )
}

/// The send time in a roster get's `id`.
pub(crate) fn roster_sent_at(id: &str) -> Option<u64> {
    id.strip_prefix(ROSTER_ID_PREFIX)?.parse().ok()
}

/// The bare JID and the domain of a JID string (no validation: the server
/// stamped it).
pub(crate) fn bare_and_domain(jid: &str) -> (&str, &str) {
    let bare = jid.split_once('/').map_or(jid, |(bare, _)| bare);
    let domain = bare.split_once('@').map_or(bare, |(_, domain)| domain);
    (bare, domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_follow_the_shares() {
        let mix = Mix {
            presence: 0.1,
            roster: 0.05,
            ..Mix::default()
        };
        let table = [
            (0.0, 0.0, true, true),
            (0.09, 0.06, true, false),
            (0.1, 0.049, false, true),
            (0.99, 0.99, false, false),
        ];
        for (p, r, presence, roster) in table {
            assert_eq!(
                mix.extras(p, r),
                Extras { presence, roster },
                "draws {p} {r}"
            );
        }
        assert_eq!(Mix::default().extras(0.0, 0.0), Extras::default());
    }

    #[test]
    fn sink_only_when_online_and_drawn() {
        let mut mix = Mix::default();
        assert!(!mix.to_sink(0.0, true));
        mix.sink = Some(("sink@localhost".parse().unwrap(), 0.2));
        assert!(mix.to_sink(0.1, true));
        assert!(!mix.to_sink(0.1, false));
        assert!(!mix.to_sink(0.2, true));
    }

    #[test]
    fn stanzas_and_ids() {
        assert_eq!(presence_change(0), presence_change(2));
        assert_ne!(presence_change(0), presence_change(1));
        let get = roster_get(1234);
        assert!(get.contains("id='roster-1234'"), "{get}");
        assert_eq!(roster_sent_at("roster-1234"), Some(1234));
        assert_eq!(roster_sent_at("other-1"), None);
        assert_eq!(roster_sent_at("roster-x"), None);
        assert_eq!(
            bare_and_domain("a@b.example/res/x"),
            ("a@b.example", "b.example")
        );
        assert_eq!(bare_and_domain("b.example"), ("b.example", "b.example"));
    }

    #[test]
    fn stream_management_counts_answers_and_requests() {
        let el = |xml: &str| -> starling_xml::Element { xml.parse().unwrap() };
        let mut sm = SmCounts::default();
        let mut out = Vec::new();
        // Nothing counted or requested before <enabled/>.
        assert!(!sm.incoming(&el("<message xmlns='jabber:client'/>"), &mut out));
        sm.sent(&mut out);
        assert!(sm.incoming(&el("<enabled xmlns='urn:xmpp:sm:3'/>"), &mut out));
        for _ in 0..3 {
            sm.incoming(&el("<message xmlns='jabber:client'/>"), &mut out);
        }
        assert!(sm.incoming(&el("<r xmlns='urn:xmpp:sm:3'/>"), &mut out));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "<a xmlns='urn:xmpp:sm:3' h='3'/>"
        );
        out.clear();
        for _ in 0..SM_REQUEST_EVERY {
            sm.sent(&mut out);
        }
        assert_eq!(String::from_utf8_lossy(&out), "<r xmlns='urn:xmpp:sm:3'/>");
    }
}
