//! Federation: server-to-server streams over tokio and rustls, driven by
//! the sans-IO negotiators of `starling-auth` (RFC 6120 s2s, XEP-0220
//! dialback with XEP-0185 keys, XEP-0368 direct TLS).
//!
//! * **Outgoing.** The first stanza from one of our domains to a remote
//!   domain starts a task for that domain pair: it finds the peer (the
//!   static host map, else `_xmpps-server._tcp` and `_xmpp-server._tcp`
//!   SRV records ordered by priority and weight, else the domain on port
//!   5269), connects, negotiates TLS, authenticates with SASL `EXTERNAL`
//!   when the peer accepts our certificate, else with dialback, and then
//!   sends the queued stanzas. Stanzas wait in a bounded queue meanwhile;
//!   if the stream cannot be set up they bounce with
//!   `remote-server-not-found` or `remote-server-timeout` (RFC 6120
//!   §10.4.3). An idle stream is closed after `s2s.idle_timeout`.
//! * **Incoming.** Each accepted connection runs the incoming negotiator:
//!   TLS, then `EXTERNAL` when the peer's certificate verifies for the
//!   domain it claims, or dialback, verified by connecting back to the
//!   sending domain's authoritative server. Stanzas are accepted only for
//!   the authenticated domain pairs and then follow the same delivery
//!   rules as local ones.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hickory_resolver::TokioResolver;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use starling_auth::negotiate::{
    InboundEvent, OutboundEvent, PeerTls, S2sError, S2sHooks, S2sInbound, S2sOutbound, S2sSettings,
};
use starling_auth::tls::{self, ClientAuth, ClientTlsBuilder, ServerTlsBuilder, Trust};
use starling_jid::{DomainPart, Jid};
use starling_net::discovery::{self, Service, Target};
use starling_stanza::{StanzaError, StanzaErrorCondition as Cond, ns};
use starling_stream::{Condition, StreamError};
use starling_xml::Element;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::core::Core;
use crate::net::Io;
use crate::server::StartError;

/// Read buffer per s2s connection.
const READ_CHUNK: usize = 8192;

type Pair = (DomainPart, DomainPart);

/// The federation part of a running server.
pub struct S2s {
    core: Weak<Core>,
    config: crate::config::S2sConfig,
    settings: S2sSettings,
    server_starttls: Arc<rustls::ServerConfig>,
    server_direct: Arc<rustls::ServerConfig>,
    client_starttls: HashMap<DomainPart, Arc<rustls::ClientConfig>>,
    client_direct: HashMap<DomainPart, Arc<rustls::ClientConfig>>,
    roots: Arc<RootCertStore>,
    resolver: TokioResolver,
    outgoing: DashMap<Pair, mpsc::Sender<Element>>,
    /// Pairs that must have a stream of their own (piggybacking on another
    /// pair's stream was refused).
    solo: dashmap::DashSet<Pair>,
    stop: watch::Receiver<bool>,
}

impl std::fmt::Debug for S2s {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S2s")
            .field("outgoing", &self.outgoing.len())
            .finish_non_exhaustive()
    }
}

/// A dialback secret kept in the data directory (made on first use).
fn dialback_secret(config: &Config) -> Result<Arc<[u8]>, StartError> {
    if let Some(s) = &config.s2s.dialback_secret {
        return Ok(Arc::from(s.as_bytes()));
    }
    let path = config.data_dir.join("dialback.key");
    if let Ok(bytes) = std::fs::read(&path) {
        if bytes.len() >= 16 {
            return Ok(Arc::from(bytes));
        }
    }
    let secret = starling_auth::dialback::random_secret().map_err(|e| StartError::Io {
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    std::fs::write(&path, &secret).map_err(|source| StartError::Io {
        path: path.clone(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(secret)
}

fn roots(ca_file: Option<&Path>) -> Result<Arc<RootCertStore>, StartError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(p) = ca_file {
        for c in tls::load_certs(p)? {
            roots
                .add(c)
                .map_err(|e| StartError::Tls(tls::TlsError::Rustls(e)))?;
        }
    }
    Ok(Arc::new(roots))
}

/// The domains a peer's certificate chain is valid for, among the names
/// it lists and `claimed`.
fn peer_tls(
    chain: &[CertificateDer<'static>],
    roots: &Arc<RootCertStore>,
    claimed: Option<&DomainPart>,
) -> PeerTls {
    let mut candidates: Vec<String> = Vec::new();
    if let Some(leaf) = chain.first() {
        if let Ok(ee) = webpki::EndEntityCert::try_from(leaf) {
            for n in ee.valid_dns_names() {
                if !n.starts_with('*') {
                    candidates.push(n.to_ascii_lowercase());
                }
            }
        }
    }
    if let Some(c) = claimed {
        candidates.push(c.as_str().to_owned());
    }
    candidates.sort();
    candidates.dedup();
    let mut verified = Vec::new();
    for c in candidates {
        if let Ok(d) = DomainPart::new(&c) {
            if tls::verify_peer(chain, roots, d.as_str()).is_ok() {
                verified.push(d);
            }
        }
    }
    PeerTls::new(verified)
}

struct Hooks(Weak<Core>);

impl S2sHooks for Hooks {
    fn serves(&self, domain: &DomainPart) -> bool {
        self.0
            .upgrade()
            .is_some_and(|c| c.config.serves(domain.as_str()))
    }
}

/// Why an outgoing stream could not carry stanzas.
struct Failure {
    condition: Cond,
    text: String,
}

impl Failure {
    fn new(condition: Cond, text: impl Into<String>) -> Failure {
        Failure {
            condition,
            text: text.into(),
        }
    }

    fn from_s2s(e: &S2sError) -> Failure {
        let cond = match e {
            S2sError::Timeout => Cond::RemoteServerTimeout,
            _ => Cond::RemoteServerNotFound,
        };
        Failure::new(cond, e.to_string())
    }
}

impl S2s {
    /// Sets up federation for `config` (TLS configurations, trust anchors,
    /// resolver, dialback secret).
    pub(crate) fn new(
        core: Weak<Core>,
        config: &Config,
        identities: &[(
            DomainPart,
            Vec<CertificateDer<'static>>,
            Arc<rustls::sign::CertifiedKey>,
            std::path::PathBuf,
        )],
        stop: watch::Receiver<bool>,
    ) -> Result<S2s, StartError> {
        let c = &config.s2s;
        let mut settings = S2sSettings::new(dialback_secret(config)?);
        settings.tls_required = c.require_tls;
        settings.dialback_allowed = c.dialback;
        settings.have_client_cert = true;
        settings.limits.max_element_bytes = config.limits.max_stanza_size;
        settings.timeout = c.connect_timeout;
        let mut starttls = ServerTlsBuilder::new().client_auth(ClientAuth::RequestAny);
        let mut direct = ServerTlsBuilder::new()
            .client_auth(ClientAuth::RequestAny)
            .alpn(tls::ALPN_XMPP_SERVER);
        let mut client_starttls = HashMap::new();
        let mut client_direct = HashMap::new();
        for (domain, chain, ck, key_path) in identities {
            starttls = starttls.domain(domain.as_str(), ck.clone());
            direct = direct.domain(domain.as_str(), ck.clone());
            let key = tls::load_key(key_path)?;
            let base = ClientTlsBuilder::new(Trust::InsecureAcceptAnything)
                .identity(chain.clone(), key.clone_key())
                .build()?;
            let alpn = ClientTlsBuilder::new(Trust::InsecureAcceptAnything)
                .identity(chain.clone(), key)
                .alpn(tls::ALPN_XMPP_SERVER)
                .build()?;
            client_starttls.insert(domain.clone(), base);
            client_direct.insert(domain.clone(), alpn);
        }
        let name_servers = (!c.name_servers.is_empty()).then_some(c.name_servers.as_slice());
        let resolver = discovery::resolver(name_servers).map_err(|e| StartError::Io {
            path: "/etc/resolv.conf".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(S2s {
            core,
            config: c.clone(),
            settings,
            server_starttls: starttls.build()?,
            server_direct: direct.build()?,
            client_starttls,
            client_direct,
            roots: roots(c.ca_file.as_deref())?,
            resolver,
            outgoing: DashMap::new(),
            solo: dashmap::DashSet::new(),
            stop,
        })
    }

    fn bounce(&self, el: &Element, f: &Failure) {
        if let Some(core) = self.core.upgrade() {
            core.bounce_error(
                el,
                StanzaError::new(f.condition.clone()).with_text(f.text.clone()),
            );
        }
    }

    /// Sends a stanza from one of our domains to a remote domain.
    pub fn send(self: &Arc<Self>, el: Element) {
        let (Some(from), Some(to)) = (
            el.attr("from").and_then(|f| Jid::new(f).ok()),
            el.attr("to").and_then(|t| Jid::new(t).ok()),
        ) else {
            return;
        };
        let pair = (from.domain_part(), to.domain_part());
        let mut el = el;
        for _ in 0..2 {
            // A stream from another of our domains to the same remote domain
            // can carry this pair too (XEP-0220 §2.5, by dialback).
            let shared = if self.config.dialback
                && !self.outgoing.contains_key(&pair)
                && !self.solo.contains(&pair)
            {
                self.outgoing
                    .iter()
                    .find(|e| e.key().1 == pair.1 && !e.value().is_closed())
                    .map(|e| e.value().clone())
            } else {
                None
            };
            let tx = self
                .outgoing
                .entry(pair.clone())
                .or_insert_with(|| {
                    if let Some(shared) = shared {
                        return shared;
                    }
                    let (tx, rx) = mpsc::channel(self.config.queue.max(1));
                    let me = self.clone();
                    let (l, r) = pair.clone();
                    tokio::spawn(async move { me.outbound(l, r, rx).await });
                    tx
                })
                .clone();
            match tx.try_send(el) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(e)) => {
                    self.bounce(
                        &e,
                        &Failure::new(
                            Cond::ResourceConstraint,
                            "too many stanzas waiting for this domain",
                        ),
                    );
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(e)) => {
                    // The stream just ended: start a new one.
                    self.outgoing.remove_if(&pair, |_, s| s.same_channel(&tx));
                    el = e;
                }
            }
        }
    }

    async fn outbound(
        self: Arc<Self>,
        local: DomainPart,
        remote: DomainPart,
        mut rx: mpsc::Receiver<Element>,
    ) {
        let mut waiting: HashMap<DomainPart, VecDeque<Element>> = HashMap::new();
        let result = self
            .run_outbound(&local, &remote, &mut rx, &mut waiting)
            .await;
        rx.close();
        // Every pair this stream carried (only our channel: a new stream
        // may already be registered for some of them).
        self.outgoing.retain(|_, s| !s.is_closed());
        let mut pending: Vec<Element> = waiting.into_values().flatten().collect();
        while let Ok(el) = rx.try_recv() {
            pending.push(el);
        }
        let stopping = *self.stop.borrow();
        match result {
            Err(f) => {
                warn!(%local, %remote, reason = %f.text, "s2s stream failed; bouncing {} stanzas", pending.len());
                for el in &pending {
                    self.bounce(el, &f);
                }
            }
            Ok(()) if !pending.is_empty() && !stopping => {
                debug!(%local, %remote, "s2s stream ended with stanzas waiting: reconnecting");
                for el in pending {
                    self.send(el);
                }
            }
            Ok(()) => {
                for el in &pending {
                    self.bounce(
                        el,
                        &Failure::new(Cond::RemoteServerTimeout, "the server is stopping"),
                    );
                }
            }
        }
    }

    /// Asks the peer to accept `l` as a further sending domain on this
    /// stream; if it cannot even be asked, the pair gets its own stream.
    fn add_pair(
        self: &S2s,
        neg: &mut S2sOutbound,
        l: &DomainPart,
        remote: &DomainPart,
        asked: &mut HashSet<DomainPart>,
        waiting: &mut HashMap<DomainPart, VecDeque<Element>>,
    ) {
        if asked.contains(l) {
            return;
        }
        if neg.authenticate_additional(l.clone(), Instant::now()) {
            asked.insert(l.clone());
        } else {
            self.fall_back(l, remote, waiting.remove(l).unwrap_or_default());
        }
    }

    /// Gives the pair (`l`, `remote`) a stream of its own and hands it
    /// the stanzas that waited here.
    fn fall_back(&self, l: &DomainPart, remote: &DomainPart, els: VecDeque<Element>) {
        let pair = (l.clone(), remote.clone());
        self.solo.insert(pair.clone());
        self.outgoing.remove(&pair);
        if let Some(me) = self.me() {
            for el in els {
                me.send(el);
            }
        }
    }

    /// This manager as an `Arc` (through the server core that owns it).
    fn me(&self) -> Option<Arc<S2s>> {
        self.core.upgrade().and_then(|c| c.s2s.get().cloned())
    }

    /// Connects to `remote`'s server: TCP, and TLS at once for direct TLS
    /// targets.
    async fn connect(
        &self,
        local: &DomainPart,
        remote: &DomainPart,
    ) -> Result<(Io, Option<PeerTls>), Failure> {
        let targets = match self.config.host_map.iter().find(|(d, _)| d == remote) {
            Some((_, addr)) => {
                let (host, port) = addr.rsplit_once(':').unwrap_or((addr.as_str(), "5269"));
                vec![Target {
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                    port: port.parse().unwrap_or(5269),
                    direct_tls: false,
                }]
            }
            None => discovery::discover_service(&self.resolver, remote.as_str(), Service::Server)
                .await
                .map_err(|e| Failure::new(Cond::RemoteServerNotFound, e.to_string()))?,
        };
        let mut last = Failure::new(
            Cond::RemoteServerNotFound,
            format!("no address found for {remote}"),
        );
        for t in targets {
            let addrs: Vec<SocketAddr> = match discovery::addresses(&self.resolver, &t).await {
                Ok(a) => a,
                Err(e) => {
                    last = Failure::new(Cond::RemoteServerNotFound, e.to_string());
                    continue;
                }
            };
            for a in addrs {
                match tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(a)).await
                {
                    Ok(Ok(tcp)) => {
                        let _ = tcp.set_nodelay(true);
                        if !t.direct_tls {
                            return Ok((Io::Plain(tcp), None));
                        }
                        match self.tls_connect(tcp, local, remote, true).await {
                            Ok((io, peer)) => return Ok((io, Some(peer))),
                            Err(f) => last = f,
                        }
                    }
                    Ok(Err(e)) => {
                        last = Failure::new(Cond::RemoteServerNotFound, format!("{a}: {e}"))
                    }
                    Err(_) => {
                        last = Failure::new(
                            Cond::RemoteServerTimeout,
                            format!("{a}: connection timed out"),
                        )
                    }
                }
            }
        }
        Err(last)
    }

    async fn tls_connect(
        &self,
        tcp: TcpStream,
        local: &DomainPart,
        remote: &DomainPart,
        direct: bool,
    ) -> Result<(Io, PeerTls), Failure> {
        let configs = if direct {
            &self.client_direct
        } else {
            &self.client_starttls
        };
        let Some(cfg) = configs.get(local) else {
            return Err(Failure::new(
                Cond::InternalServerError,
                format!("no certificate for {local}"),
            ));
        };
        let name = tls::server_name(remote.as_str())
            .map_err(|e| Failure::new(Cond::RemoteServerNotFound, e.to_string()))?;
        let connector = tokio_rustls::TlsConnector::from(cfg.clone());
        let s =
            match tokio::time::timeout(self.config.connect_timeout, connector.connect(name, tcp))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    return Err(Failure::new(
                        Cond::RemoteServerNotFound,
                        format!("TLS: {e}"),
                    ));
                }
                Err(_) => {
                    return Err(Failure::new(
                        Cond::RemoteServerTimeout,
                        "TLS handshake timed out",
                    ));
                }
            };
        let chain: Vec<CertificateDer<'static>> = s
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let verified = tls::verify_peer(&chain, &self.roots, remote.as_str()).is_ok();
        if !verified && !self.config.dialback {
            return Err(Failure::new(
                Cond::RemoteServerNotFound,
                format!("the certificate of {remote} does not verify and dialback is off"),
            ));
        }
        let peer = if verified {
            PeerTls::new(vec![remote.clone()])
        } else {
            PeerTls::default()
        };
        Ok((Io::ClientTls(Box::new(s)), peer))
    }

    /// The TLS upgrade after `<proceed/>` on an outgoing stream.
    async fn starttls(
        &self,
        io: &mut Io,
        neg: &mut S2sOutbound,
        local: &DomainPart,
        remote: &DomainPart,
    ) -> Result<(), Failure> {
        let out = neg.take_output();
        io.write_all(&out)
            .await
            .map_err(|e| Failure::new(Cond::RemoteServerNotFound, e.to_string()))?;
        let Some(tcp) = io.take_plain() else {
            return Err(Failure::new(Cond::InternalServerError, "STARTTLS twice"));
        };
        let (tls_io, peer) = self.tls_connect(tcp, local, remote, false).await?;
        *io = tls_io;
        neg.tls_established(peer);
        Ok(())
    }

    async fn run_outbound(
        &self,
        local: &DomainPart,
        remote: &DomainPart,
        rx: &mut mpsc::Receiver<Element>,
        waiting: &mut HashMap<DomainPart, VecDeque<Element>>,
    ) -> Result<(), Failure> {
        // Stanzas that arrive while we connect wait in the channel.
        let connect = self.connect(local, remote);
        let (mut io, tls) = tokio::time::timeout(self.config.connect_timeout * 2, connect)
            .await
            .map_err(|_| Failure::new(Cond::RemoteServerTimeout, "connecting took too long"))??;
        let mut neg = S2sOutbound::new(
            self.settings.clone(),
            local.clone(),
            remote.clone(),
            tls,
            Instant::now(),
        );
        let mut buf = vec![0u8; READ_CHUNK];
        let mut ready = false;
        // Our domains authenticated on this stream, and those asked for.
        let mut pairs: HashSet<DomainPart> = HashSet::new();
        let mut asked: HashSet<DomainPart> = HashSet::new();
        let mut last_activity = Instant::now();
        let mut stop = self.stop.clone();
        let mut closing = false;
        loop {
            while let Some(ev) = neg.next_event() {
                match ev {
                    OutboundEvent::StartTls => {
                        self.starttls(&mut io, &mut neg, local, remote).await?;
                    }
                    OutboundEvent::Ready { method, .. } => {
                        info!(%local, %remote, ?method, "s2s stream ready");
                        ready = true;
                        pairs.insert(local.clone());
                        for el in waiting.remove(local).unwrap_or_default() {
                            send_converted(&mut neg, el);
                        }
                        let others: Vec<DomainPart> = waiting.keys().cloned().collect();
                        for l in others {
                            self.add_pair(&mut neg, &l, remote, &mut asked, waiting);
                        }
                    }
                    OutboundEvent::PairReady { local: l, .. } => {
                        info!(local = %l, %remote, "s2s domain pair added to the stream (dialback)");
                        asked.remove(&l);
                        for el in waiting.remove(&l).unwrap_or_default() {
                            send_converted(&mut neg, el);
                        }
                        pairs.insert(l);
                    }
                    OutboundEvent::PairFailed {
                        local: l, error, ..
                    } => {
                        debug!(local = %l, %remote, %error, "piggybacking refused: a stream of its own");
                        asked.remove(&l);
                        self.fall_back(&l, remote, waiting.remove(&l).unwrap_or_default());
                    }
                    OutboundEvent::Closed { error } => {
                        debug!(%local, %remote, ?error, "s2s stream closed");
                    }
                    OutboundEvent::Failed(e) => {
                        if !ready {
                            return Err(Failure::from_s2s(&e));
                        }
                        debug!(%local, %remote, error = %e, "s2s stream failed");
                    }
                    other => debug!(%local, %remote, ?other, "s2s event"),
                }
            }
            let out = neg.take_output();
            if !out.is_empty() {
                if let Err(e) = io.write_all(&out).await {
                    if ready {
                        return Ok(());
                    }
                    return Err(Failure::new(Cond::RemoteServerNotFound, e.to_string()));
                }
            }
            if neg.is_closed() {
                io.shutdown().await;
                return if ready {
                    Ok(())
                } else {
                    Err(Failure::new(
                        Cond::RemoteServerNotFound,
                        "the stream closed during negotiation",
                    ))
                };
            }
            let deadline = match neg.poll_timeout() {
                Some(t) => t,
                None => last_activity + self.config.idle_timeout,
            };
            tokio::select! {
                r = io.read(&mut buf) => match r {
                    Ok(0) | Err(_) => neg.eof(),
                    Ok(n) => neg.feed(&buf[..n]),
                },
                m = rx.recv(), if !closing => match m {
                    Some(el) => {
                        last_activity = Instant::now();
                        let mut next = Some(el);
                        let mut n = 0;
                        while let Some(el) = next.take() {
                            let from = from_domain(&el).unwrap_or_else(|| local.clone());
                            if ready && pairs.contains(&from) {
                                send_converted(&mut neg, el);
                            } else {
                                waiting.entry(from.clone()).or_default().push_back(el);
                                if ready && !asked.contains(&from) {
                                    self.add_pair(&mut neg, &from, remote, &mut asked, waiting);
                                }
                            }
                            n += 1;
                            if n < 256 {
                                next = rx.try_recv().ok();
                            }
                        }
                    }
                    None => {
                        closing = true;
                        neg.close();
                    }
                },
                _ = stop.changed(), if !closing => {
                    closing = true;
                    neg.close_with(StreamError::new(Condition::SystemShutdown));
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    if neg.poll_timeout().is_some() {
                        neg.handle_timeout(Instant::now());
                    } else if last_activity.elapsed() >= self.config.idle_timeout {
                        debug!(%local, %remote, "closing idle s2s stream");
                        // Deregister first, so new stanzas open a new stream.
                        for l in &pairs {
                            self.outgoing.remove(&(l.clone(), remote.clone()));
                        }
                        closing = true;
                        neg.close();
                    }
                }
            }
        }
    }

    /// Asks `remote`'s authoritative server whether `key` is valid for a
    /// stream `stream_id` from `remote` to our `local` domain (XEP-0220
    /// §2.1.2).
    async fn verify_key(
        &self,
        local: DomainPart,
        remote: DomainPart,
        stream_id: String,
        key: String,
    ) -> Result<bool, Cond> {
        let work = async {
            let (mut io, tls) = self
                .connect(&local, &remote)
                .await
                .map_err(|f| f.condition)?;
            let mut neg = S2sOutbound::verifier(
                self.settings.clone(),
                local.clone(),
                remote.clone(),
                tls,
                Instant::now(),
            );
            neg.verify(&stream_id, &key, Instant::now());
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                while let Some(ev) = neg.next_event() {
                    match ev {
                        OutboundEvent::StartTls => {
                            self.starttls(&mut io, &mut neg, &local, &remote)
                                .await
                                .map_err(|f| f.condition)?;
                        }
                        OutboundEvent::Verified { valid, .. } => {
                            neg.close();
                            let out = neg.take_output();
                            let _ = io.write_all(&out).await;
                            io.shutdown().await;
                            return Ok(valid);
                        }
                        OutboundEvent::VerifyFailed { error, .. }
                        | OutboundEvent::Failed(error) => {
                            return Err(Failure::from_s2s(&error).condition);
                        }
                        _ => {}
                    }
                }
                let out = neg.take_output();
                if !out.is_empty() {
                    io.write_all(&out)
                        .await
                        .map_err(|_| Cond::RemoteServerNotFound)?;
                }
                if neg.is_closed() {
                    return Err(Cond::RemoteServerNotFound);
                }
                let deadline = neg
                    .poll_timeout()
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
                tokio::select! {
                    r = io.read(&mut buf) => match r {
                        Ok(0) | Err(_) => neg.eof(),
                        Ok(n) => neg.feed(&buf[..n]),
                    },
                    () = tokio::time::sleep_until(deadline.into()) => neg.handle_timeout(Instant::now()),
                }
            }
        };
        tokio::time::timeout(self.config.connect_timeout * 3, work)
            .await
            .unwrap_or(Err(Cond::RemoteServerTimeout))
    }

    /// Serves one accepted s2s connection.
    pub(crate) async fn inbound(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr, direct: bool) {
        let _ = tcp.set_nodelay(true);
        let deadline = Instant::now() + self.config.connect_timeout * 2;
        let (mut io, tls) = if direct {
            let acceptor = tokio_rustls::TlsAcceptor::from(self.server_direct.clone());
            match tokio::time::timeout_at(deadline.into(), acceptor.accept(tcp)).await {
                Ok(Ok(s)) => {
                    let chain = server_peer_chain(&s);
                    let p = peer_tls(&chain, &self.roots, None);
                    (Io::ServerTls(Box::new(s)), Some(p))
                }
                _ => {
                    debug!(%peer, "s2s direct TLS handshake failed");
                    return;
                }
            }
        } else {
            (Io::Plain(tcp), None)
        };
        let mut neg = S2sInbound::new(
            self.settings.clone(),
            Hooks(self.core.clone()),
            tls,
            Instant::now(),
        );
        let (vtx, mut vrx) = mpsc::channel::<(DomainPart, DomainPart, Result<bool, Cond>)>(16);
        let mut buf = vec![0u8; READ_CHUNK];
        let mut last_read = Instant::now();
        let mut stop = self.stop.clone();
        loop {
            while let Some(ev) = neg.next_event() {
                match ev {
                    InboundEvent::StartTls => {
                        let out = neg.take_output();
                        if io.write_all(&out).await.is_err() {
                            return;
                        }
                        let Some(tcp) = io.take_plain() else {
                            return;
                        };
                        let acceptor =
                            tokio_rustls::TlsAcceptor::from(self.server_starttls.clone());
                        match tokio::time::timeout_at(deadline.into(), acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => {
                                let chain = server_peer_chain(&s);
                                let p = peer_tls(&chain, &self.roots, neg.peer_domain());
                                io = Io::ServerTls(Box::new(s));
                                neg.tls_established(p);
                            }
                            _ => {
                                debug!(%peer, "s2s STARTTLS handshake failed");
                                return;
                            }
                        }
                    }
                    InboundEvent::Authenticated { from, to, method } => {
                        info!(%peer, %from, %to, ?method, "incoming s2s stream authenticated");
                    }
                    InboundEvent::DialbackRequest {
                        from,
                        to,
                        key,
                        stream_id,
                    } => {
                        let (me, vtx) = (self.clone(), vtx.clone());
                        tokio::spawn(async move {
                            let r = me
                                .verify_key(to.clone(), from.clone(), stream_id, key)
                                .await;
                            let _ = vtx.send((from, to, r)).await;
                        });
                    }
                    InboundEvent::VerifyAnswered {
                        from, to, valid, ..
                    } => {
                        debug!(%peer, %from, %to, valid, "answered a dialback verification");
                    }
                    InboundEvent::Stanza(mut el) => {
                        el.rename_namespace(ns::SERVER, ns::CLIENT);
                        if let (Some(core), Some(to)) = (
                            self.core.upgrade(),
                            el.attr("to").and_then(|t| Jid::new(t).ok()),
                        ) {
                            core.deliver_local(el, to);
                        }
                    }
                    InboundEvent::Closed { peer_error } => {
                        debug!(%peer, ?peer_error, "incoming s2s stream closed");
                    }
                    InboundEvent::Failed(e) => {
                        info!(%peer, condition = e.condition.name(), text = ?e.text, "s2s stream error sent");
                    }
                }
            }
            let out = neg.take_output();
            if !out.is_empty() && io.write_all(&out).await.is_err() {
                return;
            }
            if neg.is_closed() {
                io.shutdown().await;
                return;
            }
            let wake_at = neg
                .poll_timeout()
                .unwrap_or(last_read + self.config.idle_timeout);
            tokio::select! {
                r = io.read(&mut buf) => match r {
                    Ok(0) | Err(_) => neg.eof(),
                    Ok(n) => {
                        last_read = Instant::now();
                        neg.feed(&buf[..n]);
                    }
                },
                Some((from, to, r)) = vrx.recv() => {
                    match r {
                        Ok(valid) => {
                            if !valid {
                                warn!(%peer, %from, %to, "dialback key refused by the authoritative server");
                            }
                            neg.dialback_result(&from, &to, valid);
                        }
                        Err(c) => {
                            neg.dialback_error(&from, &to, c);
                        }
                    }
                }
                _ = stop.changed() => neg.close_with(StreamError::new(Condition::SystemShutdown)),
                () = tokio::time::sleep_until(wake_at.into()) => {
                    if neg.poll_timeout().is_some() {
                        neg.handle_timeout(Instant::now());
                    } else if last_read.elapsed() >= self.config.idle_timeout {
                        neg.close();
                    }
                }
            }
        }
    }
}

fn server_peer_chain(
    s: &tokio_rustls::server::TlsStream<TcpStream>,
) -> Vec<CertificateDer<'static>> {
    s.get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default()
}

/// The domain of a stanza's `from`.
fn from_domain(el: &Element) -> Option<DomainPart> {
    el.attr("from")
        .and_then(|f| Jid::new(f).ok())
        .map(|j| j.domain_part())
}

/// Writes a local stanza on an s2s stream, in `jabber:server`.
fn send_converted(neg: &mut S2sOutbound, mut el: Element) {
    el.rename_namespace(ns::CLIENT, ns::SERVER);
    neg.send(&el);
}
