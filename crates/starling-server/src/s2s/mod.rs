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
//! * **Abuse.** Outgoing connections go only to public addresses unless
//!   `allow_private_addresses` is on (`address_policy.rs`); dialback
//!   verifications are capped, timed out and backed off
//!   (`verify_policy.rs`); bounces say what failed, never where or the OS
//!   error (that goes to the log).

mod address_policy;
mod backpressure;
mod certs;
mod connect;
mod inbound;
mod outbound;
mod verify;
mod verify_policy;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use dashmap::DashMap;
use hickory_resolver::TokioResolver;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use starling_auth::negotiate::{S2sError, S2sHooks, S2sOutbound, S2sSettings};
use starling_auth::tls::{self, ClientAuth, ClientTlsBuilder, ServerTlsBuilder, Trust};
use starling_jid::DomainPart;
use starling_net::discovery;
use starling_stanza::{StanzaError, StanzaErrorCondition as Cond, ns};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use crate::hub::Hub;
use crate::routed::Routed;
use crate::server::StartError;
use address_policy::AddressPolicy;
use verify_policy::{VerifyLimits, VerifyPolicy};

type Pair = (DomainPart, DomainPart);

/// The federation part of a running server.
pub struct S2s {
    /// The server this federation belongs to (set once it exists).
    hub: OnceLock<Weak<Hub>>,
    /// This manager (for the tasks it starts).
    this: Weak<S2s>,
    server: Arc<Config>,
    config: crate::config::S2sConfig,
    settings: S2sSettings,
    server_starttls: Arc<rustls::ServerConfig>,
    server_direct: Arc<rustls::ServerConfig>,
    client_starttls: HashMap<DomainPart, Arc<rustls::ClientConfig>>,
    client_direct: HashMap<DomainPart, Arc<rustls::ClientConfig>>,
    roots: Arc<RootCertStore>,
    resolver: TokioResolver,
    outgoing: DashMap<Pair, mpsc::Sender<Routed>>,
    /// Pairs that must have a stream of their own (piggybacking on another
    /// pair's stream was refused).
    solo: dashmap::DashSet<Pair>,
    /// Where outgoing connections may go.
    addresses: AddressPolicy,
    /// Which dialback verifications may run.
    verifications: Mutex<VerifyPolicy>,
    stop: watch::Receiver<bool>,
}

impl std::fmt::Debug for S2s {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S2s")
            .field("outgoing", &self.outgoing.len())
            .finish_non_exhaustive()
    }
}

/// What the s2s negotiators ask of the server.
struct Hooks(Arc<Config>);

impl S2sHooks for Hooks {
    fn serves(&self, domain: &DomainPart) -> bool {
        self.0.serves(domain.as_str())
    }
}

/// Why an outgoing stream could not carry stanzas.
pub(super) struct Failure {
    pub(super) condition: Cond,
    /// What happened, addresses and OS errors included: for the log only.
    pub(super) detail: String,
    /// What the sender of a bounced stanza is told.
    public: &'static str,
}

impl Failure {
    /// A failure whose bounce text is the generic one of `condition`.
    pub(super) fn new(condition: Cond, detail: impl Into<String>) -> Failure {
        let public = public_text(&condition);
        Failure {
            condition,
            detail: detail.into(),
            public,
        }
    }

    /// A failure whose `text` is safe to tell the sender.
    pub(super) fn stated(condition: Cond, text: &'static str) -> Failure {
        Failure {
            condition,
            detail: text.to_owned(),
            public: text,
        }
    }

    pub(super) fn from_s2s(e: &S2sError) -> Failure {
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
        config: Arc<Config>,
        identities: &[(
            DomainPart,
            Vec<CertificateDer<'static>>,
            Arc<rustls::sign::CertifiedKey>,
            std::path::PathBuf,
        )],
        stop: watch::Receiver<bool>,
    ) -> Result<Arc<S2s>, StartError> {
        let c = &config.s2s;
        let mut settings = S2sSettings::new(certs::dialback_secret(&config)?);
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
        let roots = certs::roots(c.ca_file.as_deref())?;
        let (server_starttls, server_direct) = (starttls.build()?, direct.build()?);
        Ok(Arc::new_cyclic(|this| S2s {
            hub: OnceLock::new(),
            this: this.clone(),
            server: config.clone(),
            config: c.clone(),
            settings,
            server_starttls,
            server_direct,
            client_starttls,
            client_direct,
            roots,
            resolver,
            outgoing: DashMap::new(),
            solo: dashmap::DashSet::new(),
            addresses: AddressPolicy {
                allow_private: c.allow_private_addresses,
            },
            verifications: Mutex::new(VerifyPolicy::new(VerifyLimits {
                max_total: c.max_verifications,
                max_per_domain: c.max_verifications_per_domain,
                backoff: c.verify_backoff,
                backoff_max: c.verify_backoff_max,
            })),
            stop,
        }))
    }

    /// Connects the manager to the server it delivers to.
    pub(crate) fn attach(&self, hub: Weak<Hub>) {
        let _ = self.hub.set(hub);
    }

    /// The server, while it runs.
    pub(super) fn hub(&self) -> Option<Arc<Hub>> {
        self.hub.get().and_then(Weak::upgrade)
    }

    /// Bounces a stanza that cannot be sent (in a task of its own: the
    /// bounce may itself need routing). The sender gets the condition and
    /// a generic text, never the failure's detail.
    pub(super) fn bounce(&self, st: Routed, f: &Failure) {
        let Some(hub) = self.hub() else { return };
        let err = StanzaError::new(f.condition.clone()).with_text(f.public);
        tokio::spawn(async move { hub.bounce(&st, err).await });
    }

    /// Sends a stanza from one of our domains to a remote domain.
    pub fn send(&self, st: Routed) {
        let (Some(from), Some(to)) = (st.from(), st.to()) else {
            return;
        };
        let pair = (from.domain_part(), to.domain_part());
        let mut el = st;
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
                    let me = self.this.upgrade();
                    let (l, r) = pair.clone();
                    if let Some(me) = me {
                        tokio::spawn(async move { me.outbound(l, r, rx).await });
                    }
                    tx
                })
                .clone();
            match tx.try_send(el) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(e)) => {
                    self.bounce(
                        e,
                        &Failure::stated(
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

    /// Gives the pair (`l`, `remote`) a stream of its own and hands it
    /// the stanzas that waited here.
    pub(super) fn fall_back(&self, l: &DomainPart, remote: &DomainPart, els: VecDeque<Routed>) {
        let pair = (l.clone(), remote.clone());
        self.solo.insert(pair.clone());
        self.outgoing.remove(&pair);
        for el in els {
            self.send(el);
        }
    }
}

/// The text a bounce for a remote failure carries (RFC 6120 §8.3.3.15,
/// §8.3.3.16): what failed, not where or why in the OS's words.
fn public_text(condition: &Cond) -> &'static str {
    match condition {
        Cond::RemoteServerTimeout => "the remote server did not answer in time",
        Cond::RemoteServerNotFound => "the remote server could not be reached",
        Cond::ResourceConstraint => "too many stanzas waiting for this domain",
        _ => "the stanza could not be sent to the remote server",
    }
}

/// The domain of a stanza's `from`.
pub(super) fn from_domain(st: &Routed) -> Option<DomainPart> {
    st.from().map(|j| j.domain_part())
}

/// Writes a local stanza on an s2s stream, in `jabber:server`.
pub(super) fn send_converted(neg: &mut S2sOutbound, mut st: Routed) {
    st.rename_namespace(ns::CLIENT, ns::SERVER);
    neg.send(st.element());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_texts_reveal_no_detail() {
        let detail = "127.0.0.2:5269: Connection refused (os error 111)";
        for c in [
            Cond::RemoteServerNotFound,
            Cond::RemoteServerTimeout,
            Cond::ResourceConstraint,
            Cond::InternalServerError,
        ] {
            let f = Failure::new(c.clone(), detail);
            assert_eq!(f.detail, detail);
            assert!(!f.public.is_empty(), "{c:?}");
            assert!(
                !f.public.chars().any(|ch| ch.is_ascii_digit() || ch == ':'),
                "{c:?}: {}",
                f.public
            );
        }
        let f = Failure::from_s2s(&S2sError::Timeout);
        assert_eq!(f.condition, Cond::RemoteServerTimeout);
        assert_eq!(f.public, "the remote server did not answer in time");
        let f = Failure::stated(Cond::RemoteServerTimeout, "the server is stopping");
        assert_eq!(f.public, "the server is stopping");
    }
}
