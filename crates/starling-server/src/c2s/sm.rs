//! XEP-0198 stream management of one client session, sans-IO: the count
//! of stanzas handled from the client, the stanzas sent and not yet
//! acknowledged, when to ask for an acknowledgement, and work that waits
//! for one (deleting offline messages once the client has them).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use starling_stanza::{AckQueue, H, HandledCountTooHigh};
use starling_xml::Element;

use crate::config::StreamManagementConfig;
use crate::queue::weight;
use crate::routed::{Journal, Routed};

/// A stanza sent on a managed stream and kept until acknowledged.
#[derive(Debug, Clone)]
pub(crate) enum Sent {
    /// From the session's queue: routed again if never acknowledged.
    Routed(Arc<Routed>),
    /// Written by a module or the session (replies, pushes): a message
    /// among them is routed again if never acknowledged.
    Element(Element),
    /// Held by a store until acknowledged (an offline message): never
    /// routed again, the store still has it.
    Stored(Element),
    /// Answered by the negotiator itself (a legacy session result): there
    /// is nothing to resend.
    Reply,
}

impl Sent {
    /// The element to write again on resumption.
    pub(crate) fn element(&self) -> Option<&Element> {
        match self {
            Sent::Routed(st) => Some(st.element()),
            Sent::Element(el) | Sent::Stored(el) => Some(el),
            Sent::Reply => None,
        }
    }

    /// What to route again when the session ends without this stanza
    /// acknowledged: a stanza from the queue, or a message written
    /// directly; not a stored one (the store keeps it) nor a reply.
    pub(crate) fn into_reroute(self) -> Option<Arc<Routed>> {
        match self {
            Sent::Routed(st) => Some(st),
            Sent::Element(el) if el.name() == "message" => {
                let st = Routed::parse(el).ok()?;
                (st.from().is_some() && st.to().is_some()).then(|| Arc::new(st))
            }
            Sent::Element(_) | Sent::Stored(_) | Sent::Reply => None,
        }
    }

    /// Its size, counted once when it is sent.
    fn weight(&self) -> usize {
        self.element().map_or(0, weight)
    }
}

pub(crate) use crate::module::AckAction;

/// What an acknowledgement released.
pub(crate) struct Acked {
    /// Actions now due, in order.
    pub(crate) actions: Vec<AckAction>,
    /// Journal rows of the acknowledged messages.
    pub(crate) rows: Vec<i64>,
}

/// The session has more unacknowledged stanzas than it may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManyUnacked;

/// The stream management state of a session.
pub(crate) struct Sm {
    /// The resumption id, when the session may be resumed.
    pub(crate) id: Option<String>,
    /// How long the session waits for a resumption after a break.
    pub(crate) resume_for: Duration,
    /// Stanzas handled from the client (the `h` we report).
    inbound: H,
    /// The unacknowledged stanzas with their weights.
    out: AckQueue<(Sent, usize)>,
    bytes: usize,
    /// Sent since our last `<r/>`.
    since_request: u32,
    /// Our `<r/>` waits for its `<a/>`.
    requested: bool,
    /// When the first stanza not covered by a request was sent.
    unrequested_since: Option<Instant>,
    /// Actions and the count of sent stanzas they wait for.
    actions: VecDeque<(H, AckAction)>,
    request_every: u32,
    request_interval: Duration,
    max_unacked: usize,
    max_unacked_bytes: usize,
}

impl std::fmt::Debug for Sm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sm")
            .field("id", &self.id)
            .field("inbound", &self.inbound)
            .field("sent", &self.out.sent())
            .field("acked", &self.out.acked())
            .field("unacked", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl Sm {
    /// Stream management just enabled, with resumption id `id`.
    pub(crate) fn new(
        config: &StreamManagementConfig,
        id: Option<String>,
        resume_for: Duration,
    ) -> Sm {
        Sm {
            id,
            resume_for,
            inbound: H(0),
            out: AckQueue::new(),
            bytes: 0,
            since_request: 0,
            requested: false,
            unrequested_since: None,
            actions: VecDeque::new(),
            request_every: config.request_every,
            request_interval: config.request_interval,
            max_unacked: config.max_unacked,
            max_unacked_bytes: config.max_unacked_bytes,
        }
    }

    /// The client sent a stanza, handled now.
    pub(crate) fn handled(&mut self) {
        self.inbound = self.inbound.next();
    }

    /// Stanzas handled from the client.
    pub(crate) fn inbound(&self) -> H {
        self.inbound
    }

    /// Stanzas sent (the count the client's `h` acknowledges).
    #[cfg(test)]
    pub(crate) fn sent_count(&self) -> H {
        self.out.sent()
    }

    /// How many stanzas are unacknowledged.
    pub(crate) fn unacked_len(&self) -> usize {
        self.out.len()
    }

    /// A stanza was written at `now`; an error when the session now keeps
    /// more than it may (it is kept all the same, to be routed again).
    pub(crate) fn sent(&mut self, s: Sent, now: Instant) -> Result<(), TooManyUnacked> {
        let w = s.weight();
        self.bytes += w;
        self.out.push((s, w));
        self.since_request = self.since_request.saturating_add(1);
        self.unrequested_since.get_or_insert(now);
        if self.out.len() > self.max_unacked || self.bytes > self.max_unacked_bytes {
            return Err(TooManyUnacked);
        }
        Ok(())
    }

    /// The client acknowledged `h` stanzas: the acknowledged ones are
    /// forgotten; the actions now due are returned, in order, with the
    /// journal rows of the acknowledged messages.
    pub(crate) fn ack(&mut self, h: H) -> Result<Acked, HandledCountTooHigh> {
        let mut rows = Vec::new();
        for (s, w) in self.out.ack(h)? {
            self.bytes = self.bytes.saturating_sub(w);
            if let Sent::Routed(st) = &s {
                if let Journal::Row(id) = st.journal() {
                    rows.push(id);
                }
            }
        }
        self.requested = false;
        let acked = self.out.acked();
        let mut due = Vec::new();
        // An action waits for the count at its registration: due when the
        // acknowledged count has reached it (distance within the unacked
        // window, across the wrap).
        while let Some((at, _)) = self.actions.front() {
            let outstanding = at.distance_to(self.out.sent());
            let waiting = acked.distance_to(self.out.sent());
            if outstanding < waiting {
                break;
            }
            if let Some((_, a)) = self.actions.pop_front() {
                due.push(a);
            }
        }
        Ok(Acked { actions: due, rows })
    }

    /// Runs `action` once everything sent so far is acknowledged: given
    /// back when that is already the case.
    pub(crate) fn after_ack(&mut self, action: AckAction) -> Option<AckAction> {
        if self.out.is_empty() {
            return Some(action);
        }
        self.actions.push_back((self.out.sent(), action));
        None
    }

    /// Whether to send `<r/>` now (then it counts as sent).
    pub(crate) fn should_request(&mut self, now: Instant) -> bool {
        if self.requested || self.out.is_empty() {
            return false;
        }
        let due = self.since_request >= self.request_every
            || self
                .unrequested_since
                .is_some_and(|t| now.duration_since(t) >= self.request_interval);
        if due {
            self.requested = true;
            self.since_request = 0;
            self.unrequested_since = None;
        }
        due
    }

    /// When [`should_request`](Self::should_request) turns true by time
    /// alone.
    pub(crate) fn request_deadline(&self) -> Option<Instant> {
        if self.requested || self.out.is_empty() {
            return None;
        }
        self.unrequested_since.map(|t| t + self.request_interval)
    }

    /// The unacknowledged stanzas, oldest first (written again on
    /// resumption).
    pub(crate) fn unacked(&self) -> impl Iterator<Item = &Sent> {
        self.out.iter().map(|(s, _)| s)
    }

    /// The stream was resumed: a request is due again when the policy
    /// says so.
    pub(crate) fn resumed(&mut self) {
        self.requested = false;
        self.since_request = u32::try_from(self.out.len()).unwrap_or(u32::MAX);
        self.unrequested_since = None;
    }

    /// The session ends: what was never acknowledged, and the actions that
    /// waited (never run).
    pub(crate) fn end(&mut self) -> Vec<Sent> {
        self.actions.clear();
        self.bytes = 0;
        self.out.drain().into_iter().map(|(s, _)| s).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn config(every: u32) -> StreamManagementConfig {
        StreamManagementConfig {
            request_every: every,
            max_unacked: 10,
            ..StreamManagementConfig::default()
        }
    }

    fn el(n: usize) -> Sent {
        Sent::Element(Element::new(&format!("m{n}"), "jabber:client"))
    }

    #[test]
    fn requests_follow_the_count_and_the_clock() {
        let t0 = Instant::now();
        let mut sm = Sm::new(&config(3), None, Duration::from_secs(1));
        assert!(!sm.should_request(t0), "nothing unacked");
        for i in 0..2 {
            sm.sent(el(i), t0).unwrap();
            assert!(!sm.should_request(t0));
        }
        assert_eq!(sm.request_deadline(), Some(t0 + Duration::from_secs(30)));
        assert!(sm.should_request(t0 + Duration::from_secs(30)), "by time");
        sm.sent(el(3), t0).unwrap();
        assert!(!sm.should_request(t0), "one request outstanding at a time");
        sm.ack(H(1)).unwrap();
        for i in 0..2 {
            sm.sent(el(i), t0).unwrap();
        }
        assert!(sm.should_request(t0), "three sent since the request");
    }

    #[test]
    fn acks_release_actions_in_order_and_too_high_counts_change_nothing() {
        let t0 = Instant::now();
        let mut sm = Sm::new(&config(5), None, Duration::from_secs(1));
        let ran = Arc::new(AtomicUsize::new(0));
        let action = |n: usize| -> AckAction {
            let ran = ran.clone();
            Box::new(move || {
                ran.fetch_add(n, Ordering::SeqCst);
            })
        };
        assert!(sm.after_ack(action(100)).is_some(), "nothing to wait for");
        sm.sent(el(1), t0).unwrap();
        sm.sent(el(2), t0).unwrap();
        assert!(sm.after_ack(action(1)).is_none());
        sm.sent(el(3), t0).unwrap();
        assert!(sm.after_ack(action(10)).is_none());
        assert_eq!(
            sm.ack(H(4)).err(),
            Some(HandledCountTooHigh {
                h: H(4),
                sent: H(3)
            })
        );
        assert_eq!(sm.unacked_len(), 3);
        assert!(sm.ack(H(1)).unwrap().actions.is_empty());
        let due = sm.ack(H(2)).unwrap().actions;
        assert_eq!(due.len(), 1);
        due.into_iter().for_each(|a| a());
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        sm.ack(H(3)).unwrap().actions.into_iter().for_each(|a| a());
        assert_eq!(ran.load(Ordering::SeqCst), 11);
        assert_eq!(sm.unacked_len(), 0);
    }

    #[test]
    fn counts_wrap_at_two_to_the_thirty_second() {
        let t0 = Instant::now();
        let mut sm = Sm::new(&config(5), None, Duration::from_secs(1));
        sm.inbound = H(u32::MAX);
        sm.handled();
        assert_eq!(sm.inbound(), H(0));
        sm.out = AckQueue::starting_at(H(u32::MAX - 1));
        for i in 0..3 {
            sm.sent(el(i), t0).unwrap();
        }
        assert_eq!(sm.sent_count(), H(1));
        assert!(sm.after_ack(Box::new(|| {})).is_none());
        assert!(sm.ack(H(u32::MAX)).unwrap().actions.is_empty());
        assert_eq!(sm.ack(H(1)).unwrap().actions.len(), 1);
        assert_eq!(sm.unacked_len(), 0);
    }

    #[test]
    fn the_bound_is_reported_and_nothing_is_dropped() {
        let t0 = Instant::now();
        let mut sm = Sm::new(&config(5), None, Duration::from_secs(1));
        for i in 0..10 {
            sm.sent(el(i), t0).unwrap();
        }
        assert_eq!(sm.sent(el(10), t0), Err(TooManyUnacked));
        assert_eq!(sm.end().len(), 11);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// What happens on a managed stream.
        #[derive(Debug, Clone)]
        enum Op {
            /// The server writes this many stanzas.
            Send(u8),
            /// The client reads this many of those in flight.
            Read(u8),
            /// The client acknowledges what it read (`behind` fewer), or
            /// more than was sent (`too_many`).
            Ack { behind: u8, too_many: bool },
            /// The server asks for an acknowledgement.
            Request,
            /// The connection breaks: what is in flight is lost; the
            /// client resumes with its count.
            Break,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (1u8..20).prop_map(Op::Send),
                any::<u8>().prop_map(Op::Read),
                (any::<u8>(), proptest::bool::weighted(0.1))
                    .prop_map(|(behind, too_many)| Op::Ack { behind, too_many }),
                Just(Op::Request),
                Just(Op::Break),
            ]
        }

        /// The stanza number of a test element (`m<n>`).
        fn num(s: &Sent) -> usize {
            s.element()
                .and_then(|e| e.name().strip_prefix('m')?.parse().ok())
                .unwrap_or(usize::MAX)
        }

        /// Resumption: the server forgets what the client counted and
        /// writes the rest again.
        fn resume(
            sm: &mut Sm,
            client_h: H,
            in_flight: &mut Vec<usize>,
        ) -> Result<(), TestCaseError> {
            in_flight.clear();
            prop_assert!(sm.ack(client_h).is_ok());
            sm.resumed();
            in_flight.extend(sm.unacked().map(num));
            Ok(())
        }

        proptest! {
            /// Over any sequence of writes, partial reads, late and too
            /// high acknowledgements, requests and broken connections with
            /// resumption, starting anywhere near the 2^32 wrap: the client
            /// reads every stanza exactly once and in order, and the
            /// server keeps exactly those not acknowledged.
            #[test]
            fn nothing_lost_nothing_twice(
                start in prop_oneof![Just(0u32), Just(u32::MAX - 30), any::<u32>()],
                ops in proptest::collection::vec(op(), 1..80),
            ) {
                let t0 = Instant::now();
                let mut sm = Sm::new(&config(7), None, Duration::from_secs(1));
                sm.out = AckQueue::starting_at(H(start));
                let mut next = 0usize;
                let mut in_flight: Vec<usize> = Vec::new();
                let mut received: Vec<usize> = Vec::new();
                let mut client_h = H(start);
                for op in ops {
                    match op {
                        Op::Send(n) => {
                            for _ in 0..n {
                                let _ = sm.sent(el(next), t0);
                                in_flight.push(next);
                                next += 1;
                            }
                        }
                        Op::Read(k) => {
                            let k = usize::from(k).min(in_flight.len());
                            for i in in_flight.drain(..k) {
                                received.push(i);
                                client_h = client_h.next();
                            }
                        }
                        Op::Ack { behind, too_many } => {
                            let before = sm.unacked_len();
                            if too_many {
                                let h = sm.out.sent().wrapping_add(1 + u32::from(behind));
                                prop_assert!(sm.ack(h).is_err());
                                prop_assert_eq!(sm.unacked_len(), before);
                            } else {
                                let lag = u32::from(behind).min(sm.out.acked().distance_to(client_h));
                                let h = H(client_h.0.wrapping_sub(lag));
                                prop_assert!(sm.ack(h).is_ok());
                                prop_assert_eq!(sm.out.acked(), h);
                            }
                        }
                        Op::Request => {
                            let _ = sm.should_request(t0);
                        }
                        Op::Break => resume(&mut sm, client_h, &mut in_flight)?,
                    }
                    // The unacknowledged are exactly those after the last
                    // acknowledged count, in order.
                    let kept: Vec<usize> = sm.unacked().map(num).collect();
                    let first = next - kept.len();
                    prop_assert_eq!(kept, (first..next).collect::<Vec<_>>());
                }
                // A last break and a full read: the client has everything.
                resume(&mut sm, client_h, &mut in_flight)?;
                received.append(&mut in_flight);
                prop_assert_eq!(received, (0..next).collect::<Vec<_>>());
            }
        }
    }
}
