//! Tests of the client's stream management state machine.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use starling_stanza::{H, Message, SmAck, SmEnabled, SmFailed, SmNonza};
use starling_xml::Element;

use super::{AckPolicy, Sm, SmError};

fn msg(i: u32) -> Element {
    let mut m = Message::chat("bob@example.net".parse().unwrap(), "x");
    m.header.id = Some(i.to_string());
    m.to_element()
}

fn id(el: &Element) -> u32 {
    el.attr("id")
        .and_then(|v| v.parse().ok())
        .unwrap_or(u32::MAX)
}

fn enabled(resume: bool) -> SmNonza {
    SmNonza::Enabled(SmEnabled {
        id: Some("s1".into()),
        resume,
        ..SmEnabled::default()
    })
}

fn policy(every: u32) -> AckPolicy {
    AckPolicy {
        every,
        after: Duration::from_secs(10),
    }
}

/// One step of a scripted exchange and what the machine must write.
enum Step {
    Send(u32),
    Receive,
    Nonza(SmNonza),
}

#[test]
fn scripted_exchanges() {
    let r = || Some("r");
    let a = |h| Some(format!("a{h}"));
    #[allow(clippy::type_complexity)]
    let table: Vec<(&str, u32, Vec<(Step, Option<String>)>)> = vec![
        (
            "<r/> after every 2 stanzas",
            2,
            vec![
                (Step::Send(1), None),
                (Step::Send(2), r().map(String::from)),
                (Step::Send(3), None),
            ],
        ),
        (
            "inbound counted only after <enabled/>; <r/> answered with h",
            10,
            vec![
                (Step::Receive, None),
                (Step::Nonza(SmNonza::Request), a(0)),
                (Step::Nonza(enabled(true)), None),
                (Step::Receive, None),
                (Step::Receive, None),
                (Step::Nonza(SmNonza::Request), a(2)),
            ],
        ),
        (
            "an ack of what was sent is fine, repeated too",
            10,
            vec![
                (Step::Nonza(enabled(true)), None),
                (Step::Send(1), None),
                (Step::Nonza(SmNonza::Ack(SmAck { h: H(1) })), None),
                (Step::Nonza(SmNonza::Ack(SmAck { h: H(1) })), None),
            ],
        ),
    ];
    for (name, every, steps) in table {
        let now = Instant::now();
        let mut sm = Sm::new(policy(every));
        let _ = sm.enable(true);
        for (i, (step, want)) in steps.into_iter().enumerate() {
            let got = match step {
                Step::Send(n) => sm.on_sent(msg(n), now),
                Step::Receive => {
                    sm.on_received();
                    None
                }
                Step::Nonza(n) => sm.on_nonza(n).unwrap(),
            };
            let got = got.map(|el| match el.name() {
                "a" => format!("a{}", el.attr("h").unwrap_or("?")),
                other => other.to_owned(),
            });
            assert_eq!(got, want, "{name}: step {i}");
        }
    }
}

#[test]
fn too_high_ack_is_an_error() {
    let mut sm = Sm::new(policy(10));
    let _ = sm.enable(true);
    sm.on_nonza(enabled(true)).unwrap();
    let _ = sm.on_sent(msg(1), Instant::now());
    let err = sm.on_nonza(SmNonza::Ack(SmAck { h: H(2) })).unwrap_err();
    assert!(matches!(err, SmError::HandledCountTooHigh(e) if e.h == H(2) && e.sent == H(1)));
    assert_eq!(sm.status().unacked, 1, "nothing dropped");
}

#[test]
fn the_queue_is_bounded() {
    let mut sm = Sm::new(policy(u32::MAX));
    let _ = sm.enable(true);
    sm.on_nonza(enabled(true)).unwrap();
    for i in 0..super::MAX_UNACKED {
        assert!(!sm.is_full(), "after {i}");
        let _ = sm.on_sent(msg(0), Instant::now());
    }
    assert!(sm.is_full());
    sm.on_nonza(SmNonza::Ack(SmAck { h: H(1) })).unwrap();
    assert!(!sm.is_full());
}

#[test]
fn timer_asks_for_an_ack() {
    let t0 = Instant::now();
    let mut sm = Sm::new(AckPolicy {
        every: 100,
        after: Duration::from_secs(2),
    });
    let _ = sm.enable(true);
    assert_eq!(sm.poll_timeout(), None);
    let _ = sm.on_sent(msg(1), t0);
    let _ = sm.on_sent(msg(2), t0 + Duration::from_secs(1));
    assert_eq!(sm.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    assert!(sm.handle_timeout(t0 + Duration::from_secs(1)).is_none());
    let r = sm.handle_timeout(t0 + Duration::from_secs(2)).unwrap();
    assert_eq!(r.name(), "r");
    assert_eq!(sm.poll_timeout(), None);
}

#[test]
fn resumable_only_with_id_and_resume() {
    for (resume, want) in [(true, true), (false, false)] {
        let mut sm = Sm::new(policy(10));
        let _ = sm.enable(true);
        assert!(sm.resume_request().is_none(), "not before <enabled/>");
        sm.on_nonza(enabled(resume)).unwrap();
        sm.on_received();
        let r = sm.resume_request();
        assert_eq!(r.is_some(), want);
        if let Some(r) = r {
            assert_eq!((r.h, r.previd.as_str()), (H(1), "s1"));
        }
    }
}

#[test]
fn location_only_for_a_resumable_stream() {
    // (resume, location given) -> location kept
    for (resume, want) in [(true, Some("[2001:db8::1]:5222")), (false, None)] {
        let mut sm = Sm::new(policy(10));
        let _ = sm.enable(true);
        assert_eq!(sm.location(), None);
        sm.on_nonza(SmNonza::Enabled(SmEnabled {
            id: Some("s1".into()),
            resume,
            location: Some("[2001:db8::1]:5222".into()),
            ..SmEnabled::default()
        }))
        .unwrap();
        assert_eq!(sm.location(), want);
        let _ = sm.on_lost(None);
        assert_eq!(sm.location(), None);
    }
}

#[test]
fn enable_failed_turns_counting_off() {
    let mut sm = Sm::new(policy(1));
    let _ = sm.enable(true);
    assert!(sm.on_sent(msg(1), Instant::now()).is_some());
    sm.on_nonza(SmNonza::Failed(SmFailed::default())).unwrap();
    assert!(!sm.is_on());
    assert!(sm.on_sent(msg(2), Instant::now()).is_none());
    assert_eq!(sm.status().unacked, 0);
}

#[test]
fn h_wraps_around_2_pow_32() {
    // (start, sent, server handled) -> resent ids
    let table: [(u32, u32, u32, Vec<u32>); 4] = [
        (u32::MAX, 3, 1, vec![1, 2]),
        (u32::MAX - 1, 4, 4, vec![]),
        (u32::MAX, 2, 0, vec![0, 1]),
        (0, 3, 2, vec![2]),
    ];
    for (start, sent, handled, want) in table {
        let mut sm = Sm::new(policy(100));
        let _ = sm.enable_at(true, H(start));
        sm.on_nonza(enabled(true)).unwrap();
        for i in 0..sent {
            let _ = sm.on_sent(msg(i), Instant::now());
        }
        let got: Vec<u32> = sm
            .on_resumed(H(start).wrapping_add(handled))
            .unwrap()
            .iter()
            .filter(|e| e.name() == "message")
            .map(id)
            .collect();
        assert_eq!(got, want, "start {start}");
        assert_eq!(sm.status().sent, H(start).wrapping_add(sent));
    }
}

#[derive(Debug, Clone)]
enum Op {
    Send,
    Deliver(u8),
    Ack,
    Resume,
    FailWithH,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Send),
        3 => (1u8..5).prop_map(Op::Deliver),
        2 => Just(Op::Ack),
        1 => Just(Op::Resume),
        1 => Just(Op::FailWithH),
    ]
}

proptest! {
    /// Over any sequence of sends, deliveries, acks, resumptions and failed
    /// resumptions (with `h`), the server ends up with every stanza exactly
    /// once, in order — also across the 2^32 wrap.
    #[test]
    fn never_loses_or_duplicates(ops in proptest::collection::vec(op(), 0..120), start in prop_oneof![Just(0u32), Just(u32::MAX - 20), any::<u32>()]) {
        let now = Instant::now();
        let mut sm = Sm::new(policy(3));
        let _ = sm.enable_at(true, H(start));
        sm.on_nonza(enabled(true)).unwrap();
        let mut server_h = H(start);
        let mut wire: std::collections::VecDeque<u32> = Default::default();
        let mut received: Vec<u32> = Vec::new();
        let mut next = 0u32;
        for op in ops {
            match op {
                Op::Send => {
                    let _ = sm.on_sent(msg(next), now);
                    wire.push_back(next);
                    next += 1;
                }
                Op::Deliver(n) => {
                    for _ in 0..n {
                        if let Some(i) = wire.pop_front() {
                            received.push(i);
                            server_h = server_h.next();
                        }
                    }
                }
                Op::Ack => {
                    let answer = sm.on_nonza(SmNonza::Ack(SmAck { h: server_h })).unwrap();
                    prop_assert!(answer.is_none());
                }
                Op::Resume => {
                    wire.clear();
                    prop_assert!(sm.resume_request().is_some());
                    let resent = sm.on_resumed(server_h).unwrap();
                    wire.extend(resent.iter().filter(|e| e.name() == "message").map(id));
                }
                Op::FailWithH => {
                    wire.clear();
                    let failed = SmFailed { h: Some(server_h), ..SmFailed::default() };
                    let rest = sm.on_lost(Some(&failed));
                    let _ = sm.enable(true);
                    sm.on_nonza(enabled(true)).unwrap();
                    server_h = H(0);
                    for el in rest {
                        wire.push_back(id(&el));
                        let _ = sm.on_sent(el, now);
                    }
                }
            }
        }
        while let Some(i) = wire.pop_front() {
            received.push(i);
            server_h = server_h.next();
        }
        sm.on_nonza(SmNonza::Ack(SmAck { h: server_h })).unwrap();
        prop_assert_eq!(received, (0..next).collect::<Vec<_>>());
        prop_assert_eq!(sm.status().unacked, 0);
    }
}
