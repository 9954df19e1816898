//! A probe machine that records how the driver calls it, and TLS
//! configurations for loopback.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use starling_auth::negotiate::Machine;
use starling_auth::tls::{self, ClientTlsBuilder, ServerTlsBuilder, Trust};

/// What the probe reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    /// This many bytes arrived.
    Data(usize),
    Eof,
    Timeout,
}

/// A machine that takes bytes and says so, with a settable deadline and
/// output.
#[derive(Debug, Default)]
pub struct Probe {
    /// Everything fed, in order.
    pub fed: Vec<u8>,
    /// Calls to `feed` (copies).
    pub copies: usize,
    /// `(len, capacity)` of each buffer handed over with `feed_bytes`.
    pub buffers: Vec<(usize, usize)>,
    pub out: Vec<u8>,
    pub events: VecDeque<Ev>,
    pub deadline: Option<Instant>,
    /// The times `handle_timeout` was given.
    pub timeouts: Vec<Instant>,
    pub eofs: usize,
    pub closed: bool,
    pub shrinks: usize,
}

impl Machine for Probe {
    type Event = Ev;

    fn feed(&mut self, data: &[u8]) {
        self.copies += 1;
        self.fed.extend_from_slice(data);
        self.events.push_back(Ev::Data(data.len()));
    }

    fn feed_bytes(&mut self, data: BytesMut) {
        self.buffers.push((data.len(), data.capacity()));
        self.fed.extend_from_slice(&data);
        self.events.push_back(Ev::Data(data.len()));
    }

    fn eof(&mut self) {
        self.eofs += 1;
        self.events.push_back(Ev::Eof);
    }

    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    fn output_len(&self) -> usize {
        self.out.len()
    }

    fn next_event(&mut self) -> Option<Ev> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) {
            self.deadline = None;
            self.timeouts.push(now);
            self.events.push_back(Ev::Timeout);
        }
    }

    fn is_closed(&self) -> bool {
        self.closed
    }

    fn shrink(&mut self) {
        self.shrinks += 1;
    }
}

/// TLS configurations for `localhost`: (server, client trusting it, the
/// server's certificate in DER).
pub fn tls_configs() -> (
    Arc<rustls::ServerConfig>,
    Arc<rustls::ClientConfig>,
    Vec<u8>,
) {
    let (cert, key) = tls::generate_self_signed("localhost").unwrap();
    let leaf = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(leaf.clone()).unwrap();
    let server = ServerTlsBuilder::new()
        .domain(
            "localhost",
            tls::certified_key(vec![leaf.clone()], key).unwrap(),
        )
        .build()
        .unwrap();
    let client = ClientTlsBuilder::new(Trust::Roots(Arc::new(roots)))
        .build()
        .unwrap();
    (server, client, leaf.to_vec())
}
