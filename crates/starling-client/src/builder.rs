//! [`ClientBuilder`]: how a [`Client`] connects and behaves.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use starling_auth::sasl::Mechanism;
use starling_auth::tls::Trust;
use starling_jid::Jid;
use tokio::sync::mpsc;

use crate::client::{Client, ClientHandle, Events};
use crate::connection::{self, Config};
use crate::error::Error;
use crate::sm::{AckPolicy, SmStatus};
use crate::task::{Shared, Task};

/// Builds and connects a [`Client`].
///
/// ```no_run
/// # async fn run() -> Result<(), starling_client::Error> {
/// use std::time::Duration;
/// use starling_client::Client;
///
/// let client = Client::builder("juliet@example.com".parse().unwrap(), "secret")
///     .resource("balcony")
///     .timeout(Duration::from_secs(20))
///     .connect()
///     .await?;
/// client.send_message("romeo@example.net".parse().unwrap(), "Art thou not Romeo?").await?;
/// client.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    pub(crate) config: Config,
    pub(crate) reconnect: bool,
    pub(crate) iq_requests: bool,
    pub(crate) keepalive: Duration,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) stream_management: bool,
    pub(crate) ack_policy: AckPolicy,
    pub(crate) reconnect_delay: Option<Duration>,
    pub(crate) disco: crate::disco::OwnDisco,
}

impl ClientBuilder {
    /// Connect to `host:port` instead of discovering the server through DNS.
    pub fn server(mut self, addr: &str) -> Self {
        self.config.server = Some(addr.to_owned());
        self
    }

    /// Use direct TLS (XEP-0368) rather than STARTTLS for an explicit
    /// server.
    pub fn direct_tls(mut self, on: bool) -> Self {
        self.config.direct_tls = on;
        self
    }

    /// Trust only the CA certificates in this PEM file.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.config.trust = Trust::CaFile(path.as_ref().to_owned());
        self
    }

    /// Which certificates to trust (default: the webpki roots).
    pub fn trust(mut self, trust: Trust) -> Self {
        self.config.trust = trust;
        self
    }

    /// Accept any certificate. **For tests only.**
    pub fn insecure(mut self) -> Self {
        self.config.trust = Trust::InsecureAcceptAnything;
        self
    }

    /// Allow a server without TLS (default: refuse). For loopback tests.
    pub fn allow_plaintext(mut self, allow: bool) -> Self {
        self.config.require_tls = !allow;
        self
    }

    /// The resource to request (the server may assign another).
    ///
    /// # Panics
    /// If `resource` is not a valid resourcepart.
    pub fn resource(mut self, resource: &str) -> Self {
        let full = self
            .config
            .jid
            .with_resource_str(resource)
            .expect("a valid resourcepart");
        self.config.jid = Jid::from(full);
        self
    }

    /// Timeout for connecting, negotiating and each request (default 30 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.config.timeout = t;
        self
    }

    /// The SASL mechanisms allowed, strongest first (default: all that are
    /// safe on the connection).
    pub fn mechanisms(mut self, m: Vec<Mechanism>) -> Self {
        self.config.mechanisms = Some(m);
        self
    }

    /// Use these DNS servers instead of the system's.
    pub fn name_servers(mut self, servers: Vec<SocketAddr>) -> Self {
        self.config.name_servers = Some(servers);
        self
    }

    /// Reconnect with exponential backoff (1 s to 60 s) when the connection
    /// drops; [`Event::Reconnected`](crate::Event::Reconnected) reports
    /// each success. Off by default.
    pub fn reconnect(mut self, on: bool) -> Self {
        self.reconnect = on;
        self
    }

    /// How long to wait before the first reconnection attempt (default:
    /// none when the stream can be resumed, 1 s otherwise); later attempts
    /// back off exponentially up to 60 s.
    pub fn reconnect_delay(mut self, delay: Duration) -> Self {
        self.reconnect_delay = Some(delay);
        self
    }

    /// Deliver iq requests as [`Event::Iq`](crate::Event::Iq) instead of
    /// answering them with `service-unavailable`. Pings and disco#info
    /// requests to the client's full JID are always answered (see
    /// [`disco_info`](Self::disco_info)).
    pub fn handle_iq_requests(mut self, on: bool) -> Self {
        self.iq_requests = on;
        self
    }

    /// Interval of whitespace keepalives (default 60 s).
    pub fn keepalive(mut self, every: Duration) -> Self {
        self.keepalive = every;
        self
    }

    /// Ping the server (XEP-0199) at this interval and drop the connection
    /// when it does not answer within the timeout. Off by default.
    pub fn ping_interval(mut self, every: Option<Duration>) -> Self {
        self.ping_interval = every;
        self
    }

    /// Enable XEP-0198 stream management (`resume='true'`) when the
    /// server offers it: stanzas are counted and acknowledged, and with
    /// [`reconnect`](Self::reconnect) a broken connection is resumed
    /// ([`Event::Resumed`](crate::Event::Resumed)) without losing a stanza
    /// in either direction. The `location` the server may name in
    /// `<enabled/>` is tried first (the certificate must still match the
    /// account's domain). At most 4096 stanzas wait for acknowledgement: a server that stops
    /// acknowledging gets its connection dropped and resumed. Off by
    /// default.
    pub fn stream_management(mut self, on: bool) -> Self {
        self.stream_management = on;
        self
    }

    /// When to ask the server for acknowledgements (default: every 5
    /// stanzas or after 2 s).
    pub fn ack_policy(mut self, policy: AckPolicy) -> Self {
        self.ack_policy = policy;
        self
    }

    /// Connects, negotiates TLS, authenticates and binds.
    pub async fn connect(self) -> Result<Client, Error> {
        let session = connection::establish(&self.config, None).await?;
        let jid = session.jid.clone();
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let timeout = self.config.timeout;
        let shared = Arc::new(Mutex::new(Shared {
            jid: jid.clone(),
            sm: SmStatus::default(),
        }));
        let task = Task::new(self, jid.clone(), ev_tx, cmd_rx, Arc::clone(&shared));
        tokio::spawn(task.run(session));
        Ok(Client {
            handle: ClientHandle {
                jid,
                commands: cmd_tx,
                next_id: Arc::new(AtomicU64::new(1)),
                timeout,
                shared,
            },
            events: Events { rx: ev_rx },
        })
    }
}
