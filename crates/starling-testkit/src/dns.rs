//! A DNS responder on UDP loopback answering from a table, for SRV
//! discovery tests, the server's `s2s.name_servers` and Prosody's resolver.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// DNS record type A.
pub const TYPE_A: u16 = 1;
/// DNS record type SRV.
pub const TYPE_SRV: u16 = 33;

type Records = HashMap<(String, u16), Vec<Vec<u8>>>;

/// A DNS responder on UDP 127.0.0.1 answering from a table: the records
/// of a known name and type; no records (NOERROR) for another type of a
/// known name or for a name above one (an empty non-terminal); NXDOMAIN
/// for other names. Runs in its own thread until dropped.
///
/// ```
/// use std::net::Ipv4Addr;
///
/// use starling_testkit::dns::Dns;
///
/// let dns = Dns::start();
/// dns.srv("_xmpp-server._tcp.b.test", 10, 0, 5269, "xmpp.b.test");
/// dns.a("xmpp.b.test", Ipv4Addr::LOCALHOST);
/// // Give `dns.addr` to the resolver under test (`s2s.name_servers`, …).
/// assert!(dns.addr.ip().is_loopback());
/// ```
#[derive(Debug)]
pub struct Dns {
    /// Where it answers.
    pub addr: SocketAddr,
    records: Arc<Mutex<Records>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Dns {
    /// Starts a responder with no records.
    ///
    /// # Panics
    ///
    /// When no UDP socket can be bound.
    pub fn start() -> Dns {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a UDP socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("a read timeout");
        let addr = sock.local_addr().expect("its address");
        let records = Arc::new(Mutex::new(Records::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (records, stop) = (records.clone(), stop.clone());
            thread::spawn(move || serve(&sock, &records, &stop))
        };
        Dns {
            addr,
            records,
            stop,
            thread: Some(thread),
        }
    }

    fn add(&self, name: &str, rtype: u16, rdata: Vec<u8>) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((name, rtype))
            .or_default()
            .push(rdata);
    }

    /// An SRV record: `name` (e.g. `_xmpp-server._tcp.b.example`) points
    /// to `target:port`.
    pub fn srv(&self, name: &str, priority: u16, weight: u16, port: u16, target: &str) {
        let mut v = Vec::new();
        v.extend_from_slice(&priority.to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(&wire_name(target));
        self.add(name, TYPE_SRV, v);
    }

    /// An A record.
    pub fn a(&self, name: &str, ip: Ipv4Addr) {
        self.add(name, TYPE_A, ip.octets().to_vec());
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers queries until `stop` is set.
fn serve(sock: &UdpSocket, records: &Mutex<Records>, stop: &AtomicBool) {
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, peer)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let answer = {
            let records = records.lock().unwrap_or_else(PoisonError::into_inner);
            answer(&buf[..n], &records)
        };
        if let Some(a) = answer {
            let _ = sock.send_to(&a, peer);
        }
    }
}

/// A name in DNS wire format.
fn wire_name(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in name.trim_end_matches('.').split('.') {
        if l.is_empty() {
            continue;
        }
        v.push(u8::try_from(l.len()).expect("a short label"));
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v
}

/// The answer to the DNS query `q`, if it is one.
fn answer(q: &[u8], records: &Records) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    while i < q.len() && q[i] != 0 {
        let l = q[i] as usize;
        if l > 63 || i + 1 + l > q.len() {
            return None;
        }
        labels.push(String::from_utf8_lossy(&q[i + 1..i + 1 + l]).to_ascii_lowercase());
        i += 1 + l;
    }
    let qend = i + 5;
    if qend > q.len() {
        return None;
    }
    let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
    let name = labels.join(".");
    // A name with records, or an empty non-terminal above one (resolvers
    // that minimise query names ask those first): NOERROR.
    let suffix = format!(".{name}");
    let known = records
        .keys()
        .any(|(n, _)| *n == name || n.ends_with(&suffix) || name.is_empty());
    let answers = records.get(&(name, qtype)).cloned().unwrap_or_default();
    let mut r = Vec::new();
    r.extend_from_slice(&q[0..2]); // id
    r.push(0x84 | (q[2] & 0x01)); // response, authoritative, RD copied
    r.push(if known { 0x80 } else { 0x83 }); // RA; NOERROR or NXDOMAIN
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&u16::try_from(answers.len()).unwrap_or(0).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&q[12..qend]);
    for rdata in answers {
        r.extend_from_slice(&[0xC0, 12]); // the question's name
        r.extend_from_slice(&qtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 5]); // IN, TTL 5 s
        r.extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(0).to_be_bytes());
        r.extend_from_slice(&rdata);
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` and `qtype`, id 0x1234, recursion desired.
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend(wire_name(name));
        q.extend(qtype.to_be_bytes());
        q.extend([0, 1]);
        q
    }

    #[test]
    fn answers_from_the_table() {
        let mut records = Records::new();
        records.insert(("xmpp.b.test".into(), TYPE_A), vec![vec![127, 0, 0, 1]]);
        let r = answer(&query("XMPP.b.test", TYPE_A), &records).unwrap();
        assert_eq!(&r[..4], &[0x12, 0x34, 0x85, 0x80]);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 1, "one answer");
        assert!(r.ends_with(&[0, 4, 127, 0, 0, 1]));
        // Another type of a known name, and an empty non-terminal: NOERROR.
        for (name, qtype) in [("xmpp.b.test", TYPE_SRV), ("b.test", TYPE_A)] {
            let r = answer(&query(name, qtype), &records).unwrap();
            assert_eq!((r[3], r[7]), (0x80, 0), "{name}");
        }
        // Unknown: NXDOMAIN.
        let r = answer(&query("c.test", TYPE_A), &records).unwrap();
        assert_eq!(r[3], 0x83);
        // Not a query.
        assert!(answer(&[0; 5], &records).is_none());
    }

    #[test]
    fn srv_records_go_over_the_wire() {
        let dns = Dns::start();
        dns.srv("_xmpp-server._tcp.b.test", 10, 0, 5269, "xmpp.b.test");
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        sock.send_to(&query("_xmpp-server._tcp.b.test", TYPE_SRV), dns.addr)
            .unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        let mut rdata = vec![0, 10, 0, 0, 0x14, 0x95];
        rdata.extend(wire_name("xmpp.b.test"));
        assert!(buf[..n].ends_with(&rdata));
    }
}
