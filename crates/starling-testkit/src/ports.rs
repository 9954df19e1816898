//! Loopback ports for servers under test: reserved, closed, and waited
//! for.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::dirs::unique;

/// `count` distinct ports of 127.0.0.1 that were free a moment ago, from the
/// kernel's ephemeral range (prefer [`reserve_ports`] for servers that the
/// tests start).
///
/// # Errors
///
/// When no port can be had.
pub fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    // Hold every listener until all are chosen, so the ports differ.
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("finding a free port: {e}"))?;
    listeners
        .iter()
        .map(|listener| listener.local_addr().map(|address| address.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("finding a free port: {e}"))
}

/// The kernel's range of ephemeral ports (`ip_local_port_range`).
fn ephemeral_range() -> (u16, u16) {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(str::parse::<u16>);
            Some((it.next()?.ok()?, it.next()?.ok()?))
        })
        .unwrap_or((32768, 60999))
}

/// Ports reserved by [`reserve_ports`]: the numbers, and the listeners
/// holding them until [`Reserved::release`] or drop.
#[derive(Debug)]
pub struct Reserved {
    /// The ports, in the order asked for.
    pub ports: Vec<u16>,
    holds: Vec<TcpListener>,
}

impl Reserved {
    /// Frees the ports for the server that will use them (just before it
    /// starts).
    pub fn release(&mut self) {
        self.holds.clear();
    }
}

/// `count` distinct free ports of 127.0.0.1 outside the ephemeral range,
/// each held by a listener of ours until the caller releases them (just
/// before the server that will use them starts).
///
/// A port that a listener bound to port 0 got comes from the ephemeral
/// range, where any outgoing connection of this busy machine (s2s, c2s,
/// DNS, other tests) may take it as its source port before the server
/// binds it; and servers under test are often configured with each other's
/// ports before they start. So: ports where the kernel never hands out
/// source ports, never twice in this process, and held until needed.
///
/// # Panics
///
/// When `count` free ports cannot be found.
pub fn reserve_ports(count: usize) -> Reserved {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let (low, high) = ephemeral_range();
    let (from, to) = if low > 12_000 {
        (10_000u32, u32::from(low) - 1)
    } else {
        (u32::from(high) + 1, 65_000)
    };
    assert!(from + 1000 < to, "no room for ports outside {low}-{high}");
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ u64::from(unique()).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut held = Vec::new();
    for _ in 0..10_000 {
        if held.len() == count {
            break;
        }
        // xorshift64*
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let r = seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let port = u16::try_from(from + (r >> 33) as u32 % (to - from)).expect("a port");
        if given.contains(&port) {
            continue;
        }
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            given.push(port);
            held.push((port, listener));
        }
    }
    assert_eq!(held.len(), count, "cannot find {count} free ports");
    let (ports, holds) = held.into_iter().unzip();
    Reserved { ports, holds }
}

/// A port of 127.0.0.1 where nothing listens and nothing else can: a socket
/// bound to it without listening (connections get refused), held as long
/// as the returned socket lives.
///
/// # Panics
///
/// When no port can be had.
pub fn closed_port() -> (u16, tokio::net::TcpSocket) {
    let port = reserve_ports(1).ports[0];
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .expect("binding the reserved port");
    (port, socket)
}

/// Waits until each of `ports` on 127.0.0.1 accepts a TCP connection.
///
/// # Errors
///
/// When `exited` reports the process gone (with its description of how),
/// or `limit` passes; the error ends with what `log` returns.
pub fn wait_for_ports(
    ports: &[u16],
    limit: Duration,
    mut exited: impl FnMut() -> Option<String>,
    log: impl Fn() -> String,
) -> Result<(), String> {
    let started = Instant::now();
    for &port in ports {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Some(status) = exited() {
                return Err(format!(
                    "the process exited ({status}) before listening on {addr}\n{}",
                    log()
                ));
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "nothing listening on {addr} after {limit:?}\n{}",
                    log()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_ports_are_distinct_outside_the_ephemeral_range_and_held() {
        let (low, high) = ephemeral_range();
        let mut reserved = reserve_ports(3);
        let mut again = reserve_ports(3);
        for port in reserved.ports.iter().chain(&again.ports) {
            assert!(!(low..=high).contains(port), "{port} in {low}-{high}");
        }
        assert!(reserved.ports.iter().all(|p| !again.ports.contains(p)));
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, reserved.ports[0])).is_err());
        reserved.release();
        again.release();
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, reserved.ports[0])).is_ok());
    }

    #[test]
    fn waiting_ends_when_the_process_is_gone() {
        let port = reserve_ports(1).ports[0];
        let error = wait_for_ports(
            &[port],
            Duration::from_secs(30),
            || Some("exit status: 1".to_owned()),
            || "the log".to_owned(),
        )
        .unwrap_err();
        assert!(error.contains("exited (exit status: 1)") && error.ends_with("the log"));
    }
}
