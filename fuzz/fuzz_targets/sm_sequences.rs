//! XEP-0198 bookkeeping driven by arbitrary sequences: stanzas sent,
//! `<a h/>` and `<r/>` parsed from arbitrary bytes or built from arbitrary
//! counts, partial reads and broken connections with resumption, starting
//! anywhere in the 32-bit count. Oracles: an acknowledgement above the
//! count sent is refused and changes nothing; the unacknowledged queue is
//! always exactly the stanzas after the acknowledged count, in order; after
//! a final resumption the peer has read every stanza once, in order.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use starling_stanza::{AckQueue, H, Payload, SmAck, SmNonza};
use starling_xml::Element;

#[derive(Debug, Arbitrary)]
enum Op {
    Send(u8),
    Read(u8),
    /// An acknowledgement `behind` the peer's count.
    Ack(u8),
    /// An acknowledgement with an arbitrary count.
    AckAny(u32),
    /// Arbitrary bytes offered as a stream management element.
    Nonza(Vec<u8>),
    Break,
}

#[derive(Debug, Arbitrary)]
struct Input {
    start: u32,
    ops: Vec<Op>,
}

struct Model {
    queue: AckQueue<usize>,
    next: usize,
    in_flight: Vec<usize>,
    received: Vec<usize>,
    peer_h: H,
}

impl Model {
    /// An acknowledgement from an honest peer, or one above the count
    /// sent: one of stanzas the peer never read is a lie no bookkeeping
    /// can survive, so it is not sent.
    fn ack_unless_lie(&mut self, h: H) {
        let acked = self.queue.acked();
        let asked = acked.distance_to(h);
        let read = acked.distance_to(self.peer_h);
        let unacked = acked.distance_to(self.queue.sent());
        if asked > read && asked <= unacked {
            return;
        }
        self.ack(h);
    }

    fn ack(&mut self, h: H) {
        let before: Vec<usize> = self.queue.iter().copied().collect();
        let unacked = self.queue.acked().distance_to(self.queue.sent());
        let asked = self.queue.acked().distance_to(h);
        match self.queue.ack(h) {
            Ok(popped) => {
                assert!(asked <= unacked, "an ack above the count sent was taken");
                assert_eq!(
                    popped[..],
                    before[..popped.len()],
                    "acks pop the oldest, in order"
                );
            }
            Err(_) => {
                assert!(asked > unacked, "a valid ack was refused");
                assert!(
                    self.queue.iter().copied().eq(before),
                    "a refused ack changed the queue"
                );
            }
        }
    }

    fn resume(&mut self) {
        self.in_flight.clear();
        let h = self.peer_h;
        self.ack(h);
        self.in_flight.extend(self.queue.iter().copied());
    }

    fn check(&self) {
        let kept: Vec<usize> = self.queue.iter().copied().collect();
        let first = self.next - kept.len();
        assert!(
            kept.iter().copied().eq(first..self.next),
            "unacked is a suffix: {kept:?}"
        );
    }
}

fuzz_target!(|input: Input| {
    let mut m = Model {
        queue: AckQueue::starting_at(H(input.start)),
        next: 0,
        in_flight: Vec::new(),
        received: Vec::new(),
        peer_h: H(input.start),
    };
    for op in input.ops.into_iter().take(500) {
        match op {
            Op::Send(n) => {
                for _ in 0..n {
                    m.queue.push(m.next);
                    m.in_flight.push(m.next);
                    m.next += 1;
                }
            }
            Op::Read(k) => {
                let k = usize::from(k).min(m.in_flight.len());
                for i in m.in_flight.drain(..k) {
                    m.received.push(i);
                    m.peer_h = m.peer_h.next();
                }
            }
            Op::Ack(behind) => {
                let lag = u32::from(behind).min(m.queue.acked().distance_to(m.peer_h));
                let h = H(m.peer_h.0.wrapping_sub(lag));
                // Through the wire form, as a server reads it.
                let el = SmAck { h }.to_element();
                let Ok(SmNonza::Ack(a)) = SmNonza::from_element(&el) else {
                    panic!("<a/> did not read back: {el:?}");
                };
                m.ack(a.h);
            }
            Op::AckAny(h) => m.ack_unless_lie(H(h)),
            Op::Nonza(bytes) => {
                if let Ok(el) = Element::parse(&bytes) {
                    if let Ok(SmNonza::Ack(a)) = SmNonza::from_element(&el) {
                        m.ack_unless_lie(a.h);
                    }
                }
            }
            Op::Break => m.resume(),
        }
        m.check();
    }
    m.resume();
    m.received.append(&mut m.in_flight);
    assert!(
        m.received.iter().copied().eq(0..m.next),
        "every stanza once, in order"
    );
});
