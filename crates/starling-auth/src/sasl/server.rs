//! The receiving entity's side of SASL negotiation (RFC 6120 §6.4).

use std::fmt;
use std::sync::Arc;

use starling_jid::{BareJid, DomainPart, Jid, NodePart};
use starling_xml::Element;

use super::channel_binding::{ChannelBinding, ChannelBindingType};
use super::condition::{Condition, Failure};
use super::mechanism::Mechanism;
use super::random::{OsRandom, RandomSource};
use super::scram::{
    self, Gs2Flag, ScramCredentials, ScramHash, ScramServerError, ScramServerExchange,
};
use super::simple;
use super::store::{AccountState, CredentialStore};
use super::wire::{SaslMessage, WireError};

mod claim;

/// Decides whether an authenticated identity may act as a different
/// authorization identity (`invalid-authzid` otherwise). It is asked only
/// when the requested authzid differs from the authenticated bare JID.
pub type AuthzPolicy = Arc<dyn Fn(&BareJid, &Jid) -> bool + Send + Sync>;

/// Server-side SASL policy, shared by all connections.
///
/// ```
/// use starling_auth::sasl::{Mechanism, ServerConfig};
///
/// let mut config = ServerConfig::default();
/// assert_eq!(config.scram_iterations, 4096);
/// assert!(!config.anonymous);
/// // Refuse SCRAM-SHA-1 and PLAIN.
/// config.mechanisms.retain(|m| !matches!(m, Mechanism::ScramSha1 | Mechanism::ScramSha1Plus | Mechanism::Plain));
/// ```
#[derive(Clone)]
pub struct ServerConfig {
    /// The mechanisms that may be offered, if the connection allows them.
    /// A mechanism this crate implements but this list leaves out is
    /// refused with `mechanism-too-weak`. Default: all of them.
    pub mechanisms: Vec<Mechanism>,
    /// Whether `ANONYMOUS` is offered (it must also be in
    /// [`mechanisms`](Self::mechanisms)). Default: `false`.
    pub anonymous: bool,
    /// Whether `PLAIN` is offered on a stream without TLS. Default:
    /// `false` (`encryption-required`).
    pub plain_without_tls: bool,
    /// The iteration count of the credentials made up for unknown users.
    /// Keep it equal to the count used for real accounts, or the count
    /// tells them apart. Default: 4096 (RFC 7677 §4).
    pub scram_iterations: u32,
    /// How many failed exchanges are allowed on one stream; after that the
    /// caller must close the stream (RFC 6120 §6.4.5). Default: 3.
    pub max_attempts: u32,
    /// The key from which the salts of unknown users are derived. Keep it
    /// secret, and the same across restarts, so that an unknown user's
    /// salt is as stable as a real one. Default: random.
    pub fake_salt_secret: [u8; 32],
    /// Who may act as whom; `None`: only as oneself.
    pub authz_policy: Option<AuthzPolicy>,
    /// Nonces and anonymous user names.
    pub random: Arc<dyn RandomSource>,
}

impl Default for ServerConfig {
    /// The defaults documented on each field.
    ///
    /// # Panics
    /// If the operating system's random number generator fails when the
    /// fake-salt secret is drawn.
    fn default() -> ServerConfig {
        let mut fake_salt_secret = [0u8; 32];
        OsRandom
            .fill(&mut fake_salt_secret)
            .expect("the operating system's random number generator failed");
        ServerConfig {
            mechanisms: Mechanism::ALL.to_vec(),
            anonymous: false,
            plain_without_tls: false,
            scram_iterations: 4096,
            max_attempts: 3,
            fake_salt_secret,
            authz_policy: None,
            random: Arc::new(OsRandom),
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("mechanisms", &self.mechanisms)
            .field("anonymous", &self.anonymous)
            .field("plain_without_tls", &self.plain_without_tls)
            .field("scram_iterations", &self.scram_iterations)
            .field("max_attempts", &self.max_attempts)
            .field("authz_policy", &self.authz_policy.as_ref().map(|_| "…"))
            .field("random", &self.random)
            .finish_non_exhaustive()
    }
}

/// What the server knows about one connection.
#[derive(Debug, Clone)]
pub struct ServerConnection {
    /// The domain the client authenticates to (the stream's `to`); user
    /// names become `username@domain`.
    pub domain: DomainPart,
    /// Whether the stream is protected by TLS.
    pub tls: bool,
    /// The channel bindings the TLS layer exported for this connection (at
    /// most one per type); `-PLUS` mechanisms are offered when there is
    /// one.
    pub channel_bindings: Vec<ChannelBinding>,
    /// The identity the TLS layer verified in the client's certificate;
    /// `EXTERNAL` is offered when there is one.
    pub external_identity: Option<BareJid>,
}

impl ServerConnection {
    /// A connection to `domain` without TLS.
    pub fn new(domain: DomainPart) -> ServerConnection {
        ServerConnection {
            domain,
            tls: false,
            channel_bindings: Vec::new(),
            external_identity: None,
        }
    }
}

/// The outcome of a successful exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// The mechanism used.
    pub mechanism: Mechanism,
    /// The authenticated identity: `username@domain`, the certificate's
    /// identity for `EXTERNAL`, or a random `…@domain` for `ANONYMOUS`.
    pub jid: BareJid,
    /// The authorization identity the client asked for and was allowed.
    pub authzid: Option<Jid>,
    /// The trace information of `ANONYMOUS` (RFC 4505), if any.
    pub trace: Option<String>,
}

impl Authenticated {
    /// The identity the session acts as: the authzid if one was given,
    /// else the authenticated identity.
    pub fn authorized_jid(&self) -> Jid {
        self.authzid
            .clone()
            .unwrap_or_else(|| Jid::from(self.jid.clone()))
    }
}

/// What to send after an element from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep {
    /// Send this `<challenge/>` and wait for the client's answer.
    Challenge(Element),
    /// Send this `<success/>` (it carries SCRAM's server-final message),
    /// then restart the stream (RFC 6120 §6.4.6).
    Success {
        /// The `<success/>` element.
        element: Element,
        /// Who authenticated.
        authenticated: Authenticated,
    },
    /// Send this `<failure/>`. If `retry` is false, the attempts are used
    /// up: close the stream after sending it.
    Failure {
        /// The `<failure/>` element.
        element: Element,
        /// The failure it carries.
        failure: Failure,
        /// Whether the client may try again on this stream.
        retry: bool,
    },
}

impl ServerStep {
    /// The element to send.
    pub fn element(&self) -> &Element {
        match self {
            ServerStep::Challenge(e) => e,
            ServerStep::Success { element, .. } | ServerStep::Failure { element, .. } => element,
        }
    }
}

/// An element the exchange cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    /// The element is not in the SASL namespace; the negotiation layer
    /// handles it (before authentication, usually with a `not-authorized`
    /// stream error).
    #[error("<{name}/> in namespace `{ns}` is not a SASL element")]
    NotSasl {
        /// Local name.
        name: String,
        /// Namespace name.
        ns: String,
    },
    /// The exchange is over: it succeeded, or the attempts are used up.
    #[error("the SASL exchange is over")]
    Finished,
}

enum State {
    Idle,
    /// `<auth/>` came without an initial response; an empty challenge was
    /// sent and the response is the mechanism's first message.
    AwaitInitial(Mechanism),
    /// SCRAM server-first was sent.
    ScramFinal(Box<ScramPending>),
    Succeeded,
    Exhausted,
}

struct ScramPending {
    mechanism: Mechanism,
    exchange: ScramServerExchange,
    user: Option<NodePart>,
    authzid: Option<String>,
}

enum Progress {
    Challenge(Vec<u8>, State),
    Success(Option<Vec<u8>>, Authenticated),
}

/// The receiving entity's SASL exchange on one stream, sans-IO.
///
/// Offer [`mechanisms`](Self::mechanisms) in the stream features, then
/// pass every element of the SASL namespace the client sends to
/// [`receive`](Self::receive) and send the element of the returned
/// [`ServerStep`]. Failed attempts may be retried until
/// [`ServerConfig::max_attempts`] is reached.
///
/// ```
/// use std::sync::Arc;
/// use starling_auth::sasl::{
///     MemoryStore, Mechanism, SaslServer, ServerConfig, ServerConnection, ServerStep,
/// };
///
/// let mut store = MemoryStore::new();
/// store.add_user("juliet", "r0m30myr0m30", 4096).unwrap();
/// let mut conn = ServerConnection::new("example.com".parse().unwrap());
/// conn.tls = true;
/// let mut server = SaslServer::new(Arc::new(ServerConfig::default()), Arc::new(store), conn);
/// assert_eq!(
///     server.mechanisms(),
///     [Mechanism::ScramSha256, Mechanism::ScramSha1, Mechanism::Plain]
/// );
///
/// let auth = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>\
///             AGp1bGlldAByMG0zMG15cjBtMzA=</auth>".parse().unwrap();
/// match server.receive(&auth).unwrap() {
///     ServerStep::Success { element, authenticated } => {
///         assert_eq!(element.to_xml(), "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
///         assert_eq!(authenticated.jid.as_str(), "juliet@example.com");
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
pub struct SaslServer {
    config: Arc<ServerConfig>,
    store: Arc<dyn CredentialStore>,
    conn: ServerConnection,
    state: State,
    failures: u32,
}

impl fmt::Debug for SaslServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle => "idle",
            State::AwaitInitial(_) => "awaiting initial response",
            State::ScramFinal(_) => "awaiting SCRAM client-final",
            State::Succeeded => "succeeded",
            State::Exhausted => "attempts exhausted",
        };
        f.debug_struct("SaslServer")
            .field("conn", &self.conn)
            .field("state", &state)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

fn malformed(text: &str) -> Failure {
    Failure::new(Condition::MalformedRequest).with_text(text)
}

impl SaslServer {
    /// An exchange on a new stream.
    pub fn new(
        config: Arc<ServerConfig>,
        store: Arc<dyn CredentialStore>,
        conn: ServerConnection,
    ) -> SaslServer {
        SaslServer {
            config,
            store,
            conn,
            state: State::Idle,
            failures: 0,
        }
    }

    /// The mechanisms to offer on this connection, `EXTERNAL` first and
    /// then from the strongest: those in the allow-list whose
    /// preconditions hold — `-PLUS` only with channel binding data, `PLAIN`
    /// only over TLS (unless [`ServerConfig::plain_without_tls`]),
    /// `EXTERNAL` only with a certificate identity, `ANONYMOUS` only if
    /// enabled.
    pub fn mechanisms(&self) -> Vec<Mechanism> {
        let mut out: Vec<Mechanism> = Vec::new();
        if self.available(Mechanism::External) {
            out.push(Mechanism::External);
        }
        out.extend(
            Mechanism::ALL
                .into_iter()
                .filter(|&m| m != Mechanism::External && self.available(m)),
        );
        out
    }

    /// The names of [`mechanisms`](Self::mechanisms), for
    /// `starling_stream::Features::mechanisms`.
    pub fn mechanism_names(&self) -> Vec<String> {
        self.mechanisms()
            .iter()
            .map(|m| m.as_str().to_owned())
            .collect()
    }

    /// The connection this exchange runs on.
    pub fn connection(&self) -> &ServerConnection {
        &self.conn
    }

    /// How many exchanges have failed so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether receiving `el` needs only what the exchange already holds:
    /// the SCRAM client-final message (the stored keys were loaded with the
    /// client-first message; the proof check is a few HMACs). Other steps
    /// may look up credentials or derive keys (PLAIN), which can block.
    pub fn step_is_light(&self, el: &Element) -> bool {
        matches!(self.state, State::ScramFinal(_)) && el.name() == "response"
    }

    /// Whether the exchange is over (succeeded, or attempts used up).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Succeeded | State::Exhausted)
    }

    fn available(&self, m: Mechanism) -> bool {
        self.unavailable(m).is_none()
    }

    /// Why `m` cannot be used on this connection, if it cannot.
    fn unavailable(&self, m: Mechanism) -> Option<Failure> {
        let config = &self.config;
        if m == Mechanism::Anonymous && !(config.anonymous && config.mechanisms.contains(&m)) {
            return Some(Failure::new(Condition::InvalidMechanism));
        }
        if !config.mechanisms.contains(&m) {
            return Some(Failure::new(Condition::MechanismTooWeak));
        }
        match m {
            Mechanism::Plain if !self.conn.tls && !config.plain_without_tls => {
                Some(Failure::new(Condition::EncryptionRequired))
            }
            _ if m.is_plus() && self.conn.channel_bindings.is_empty() => {
                Some(Failure::new(if self.conn.tls {
                    Condition::InvalidMechanism
                } else {
                    Condition::EncryptionRequired
                }))
            }
            Mechanism::External if self.conn.external_identity.is_none() => {
                Some(Failure::new(Condition::InvalidMechanism))
            }
            _ => None,
        }
    }

    /// Handles one element from the client.
    ///
    /// Errors only for elements outside the SASL namespace and after the
    /// exchange is over; everything else the client can send, however
    /// wrong, is answered with a `<failure/>`.
    pub fn receive(&mut self, element: &Element) -> Result<ServerStep, ServerError> {
        if self.is_finished() {
            return Err(ServerError::Finished);
        }
        match SaslMessage::from_element(element) {
            Ok(msg) => self.receive_message(msg),
            Err(WireError::NotSasl { name, ns }) => Err(ServerError::NotSasl { name, ns }),
            Err(e) => {
                self.state = State::Idle;
                Ok(self.fail(Failure::new(e.condition()).with_text(e.to_string())))
            }
        }
    }

    /// Handles one message from the client, already decoded.
    pub fn receive_message(&mut self, msg: SaslMessage) -> Result<ServerStep, ServerError> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        let result = match (state, msg) {
            (s @ (State::Succeeded | State::Exhausted), _) => {
                self.state = s;
                return Err(ServerError::Finished);
            }
            (_, SaslMessage::Abort) => Err(Failure::new(Condition::Aborted)),
            (
                State::Idle,
                SaslMessage::Auth {
                    mechanism,
                    initial_response,
                },
            ) => self.start(&mechanism, initial_response),
            (_, SaslMessage::Auth { .. }) => Err(malformed("<auth/> in the middle of an exchange")),
            (State::Idle, SaslMessage::Response(_)) => {
                Err(malformed("<response/> without <auth/>"))
            }
            (State::AwaitInitial(m), SaslMessage::Response(data)) => self.initial(m, &data),
            (State::ScramFinal(pending), SaslMessage::Response(data)) => {
                self.scram_final(*pending, &data)
            }
            (_, SaslMessage::Challenge(_) | SaslMessage::Success(_) | SaslMessage::Failure(_)) => {
                Err(malformed("only the receiving entity sends this element"))
            }
        };
        Ok(match result {
            Ok(Progress::Challenge(data, next)) => {
                self.state = next;
                ServerStep::Challenge(SaslMessage::Challenge(data).to_element())
            }
            Ok(Progress::Success(data, authenticated)) => {
                self.state = State::Succeeded;
                ServerStep::Success {
                    element: SaslMessage::Success(data).to_element(),
                    authenticated,
                }
            }
            Err(failure) => self.fail(failure),
        })
    }

    fn fail(&mut self, failure: Failure) -> ServerStep {
        self.failures = self.failures.saturating_add(1);
        let retry = self.failures < self.config.max_attempts;
        self.state = if retry { State::Idle } else { State::Exhausted };
        ServerStep::Failure {
            element: failure.to_element(),
            failure,
            retry,
        }
    }

    fn start(
        &mut self,
        name: &str,
        initial_response: Option<Vec<u8>>,
    ) -> Result<Progress, Failure> {
        let mechanism =
            Mechanism::from_name(name).ok_or_else(|| Failure::new(Condition::InvalidMechanism))?;
        if let Some(f) = self.unavailable(mechanism) {
            return Err(f);
        }
        match initial_response {
            // RFC 4422 §5: no initial response, so an empty challenge asks
            // for the client's first message.
            None => Ok(Progress::Challenge(
                Vec::new(),
                State::AwaitInitial(mechanism),
            )),
            Some(data) => self.initial(mechanism, &data),
        }
    }

    fn initial(&mut self, mechanism: Mechanism, data: &[u8]) -> Result<Progress, Failure> {
        match mechanism {
            Mechanism::Plain => self.plain(data),
            Mechanism::External => self.external(data),
            Mechanism::Anonymous => self.anonymous(data),
            m => match m.scram_hash() {
                Some(hash) => self.scram_first(m, hash, data),
                None => Err(Failure::new(Condition::InvalidMechanism)),
            },
        }
    }

    fn bare_jid(&self, user: &NodePart) -> BareJid {
        BareJid::from_parts(Some(user), &self.conn.domain)
    }

    /// Made-up credentials for an unknown user, derived from the user name
    /// and the server secret so that they are the same every time.
    fn fake_credentials(&self, username: &str, hash: ScramHash) -> ScramCredentials {
        let secret = &self.config.fake_salt_secret;
        let tag = |label: &[u8]| {
            ScramHash::Sha256.hmac(
                secret,
                &[
                    label,
                    b"\0",
                    hash.as_str().as_bytes(),
                    b"\0",
                    username.as_bytes(),
                ],
            )
        };
        let len = hash.output_len();
        ScramCredentials {
            hash,
            salt: tag(b"salt")[..16].to_vec(),
            iterations: self.config.scram_iterations.max(1),
            stored_key: tag(b"stored-key")[..len].to_vec(),
            server_key: tag(b"server-key")[..len].to_vec(),
        }
    }

    /// The stored credentials of `user` for `hash`, if any.
    fn lookup(
        &self,
        user: &NodePart,
        hash: ScramHash,
    ) -> Result<Option<ScramCredentials>, Failure> {
        match self.store.scram(&self.conn.domain, user.as_str(), hash) {
            Ok(Some(c)) if c.is_consistent(hash) => Ok(Some(c)),
            Ok(Some(_)) => Err(Failure::new(Condition::TemporaryAuthFailure)
                .with_text("inconsistent stored credentials")),
            Ok(None) => Ok(None),
            Err(_) => Err(Failure::new(Condition::TemporaryAuthFailure)),
        }
    }

    /// The user's credentials (`true`), or made-up ones (`false`).
    fn credentials(
        &self,
        user: Option<&NodePart>,
        username: &str,
        hashes: &[ScramHash],
    ) -> Result<(ScramCredentials, bool), Failure> {
        if let Some(user) = user {
            for &hash in hashes {
                if let Some(c) = self.lookup(user, hash)? {
                    return Ok((c, true));
                }
            }
        }
        let name = user.map_or(username, NodePart::as_str);
        let hash = hashes.first().copied().unwrap_or(ScramHash::Sha256);
        Ok((self.fake_credentials(name, hash), false))
    }

    /// The checks after the credentials: account state, then authzid.
    fn authorize(
        &self,
        mechanism: Mechanism,
        jid: BareJid,
        user: Option<&NodePart>,
        authzid: Option<&str>,
    ) -> Result<Authenticated, Failure> {
        if let Some(user) = user {
            match self.store.account_state(&self.conn.domain, user.as_str()) {
                Ok(AccountState::Active) => {}
                Ok(AccountState::Disabled) => return Err(Failure::new(Condition::AccountDisabled)),
                Ok(AccountState::CredentialsExpired) => {
                    return Err(Failure::new(Condition::CredentialsExpired));
                }
                Err(_) => return Err(Failure::new(Condition::TemporaryAuthFailure)),
            }
        }
        let authzid = match authzid.filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => {
                let requested = Jid::new(a).map_err(|_| Failure::new(Condition::InvalidAuthzid))?;
                let is_self = requested == jid;
                let allowed = is_self
                    || self
                        .config
                        .authz_policy
                        .as_ref()
                        .is_some_and(|p| p(&jid, &requested));
                if !allowed {
                    return Err(Failure::new(Condition::InvalidAuthzid));
                }
                Some(requested)
            }
        };
        Ok(Authenticated {
            mechanism,
            jid,
            authzid,
            trace: None,
        })
    }

    fn plain(&mut self, data: &[u8]) -> Result<Progress, Failure> {
        let msg = simple::parse_plain(data).map_err(|e| malformed(e.describe()))?;
        let user = NodePart::new(msg.authcid).ok();
        // The strongest stored hash first, so that a user with only SHA-1
        // credentials can still log in; unknown users get made-up SHA-256
        // credentials.
        let (creds, known) = self.credentials(
            user.as_ref(),
            msg.authcid,
            &[ScramHash::Sha256, ScramHash::Sha1],
        )?;
        // For an unknown user the made-up credentials are checked too, so
        // that the answer takes as long as for a known one.
        let matches = creds.verify_password(msg.password);
        let (true, true, Some(user)) = (matches, known, user) else {
            return Err(Failure::new(Condition::NotAuthorized));
        };
        let jid = self.bare_jid(&user);
        self.authorize(Mechanism::Plain, jid, Some(&user), Some(msg.authzid))
            .map(|a| Progress::Success(None, a))
    }

    fn external(&mut self, data: &[u8]) -> Result<Progress, Failure> {
        let authzid = simple::parse_external(data)
            .ok_or_else(|| malformed("the EXTERNAL authzid is not UTF-8"))?;
        let identity = self
            .conn
            .external_identity
            .clone()
            .ok_or_else(|| Failure::new(Condition::InvalidMechanism))?;
        let user = identity.node_part();
        self.authorize(Mechanism::External, identity, user.as_ref(), Some(authzid))
            .map(|a| Progress::Success(None, a))
    }

    fn anonymous(&mut self, data: &[u8]) -> Result<Progress, Failure> {
        let trace =
            simple::parse_anonymous(data).ok_or_else(|| malformed("invalid ANONYMOUS trace"))?;
        let mut bytes = [0u8; 16];
        self.config
            .random
            .fill(&mut bytes)
            .map_err(|_| Failure::new(Condition::TemporaryAuthFailure))?;
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let user =
            NodePart::new(&name).map_err(|_| Failure::new(Condition::TemporaryAuthFailure))?;
        Ok(Progress::Success(
            None,
            Authenticated {
                mechanism: Mechanism::Anonymous,
                jid: self.bare_jid(&user),
                authzid: None,
                trace: (!trace.is_empty()).then(|| trace.to_owned()),
            },
        ))
    }

    fn scram_first(
        &mut self,
        mechanism: Mechanism,
        hash: ScramHash,
        data: &[u8],
    ) -> Result<Progress, Failure> {
        let first = scram::parse_client_first(data)?;
        let cb_data = match (&first.flag, mechanism.is_plus()) {
            (Gs2Flag::P(name), true) => {
                let data = ChannelBindingType::from_name(name).and_then(|kind| {
                    self.conn
                        .channel_bindings
                        .iter()
                        .find(|cb| cb.kind() == kind)
                        .map(|cb| cb.data().to_vec())
                });
                Some(
                    data.ok_or_else(|| {
                        ScramServerError::UnsupportedChannelBindingType.to_failure()
                    })?,
                )
            }
            (_, true) => return Err(malformed("a -PLUS mechanism requires p= in the gs2 header")),
            (Gs2Flag::P(_), false) => {
                return Err(malformed("p= is only allowed with a -PLUS mechanism"));
            }
            (Gs2Flag::Y, false) if self.mechanisms().iter().any(|m| m.is_plus()) => {
                // The client supports channel binding and thinks the server
                // does not, but it was offered: the list was tampered with.
                return Err(ScramServerError::ServerDoesSupportChannelBinding.to_failure());
            }
            (Gs2Flag::N | Gs2Flag::Y, false) => None,
        };
        let user = NodePart::new(&first.username).ok();
        let (creds, known) = self.credentials(user.as_ref(), &first.username, &[hash])?;
        let server_nonce = self
            .config
            .random
            .nonce()
            .map_err(|_| Failure::new(Condition::TemporaryAuthFailure))?;
        let (exchange, server_first) =
            ScramServerExchange::new(&first, creds, known, &server_nonce, cb_data.as_deref());
        let pending = ScramPending {
            mechanism,
            exchange,
            user,
            authzid: first.authzid,
        };
        Ok(Progress::Challenge(
            server_first,
            State::ScramFinal(Box::new(pending)),
        ))
    }

    fn scram_final(&mut self, pending: ScramPending, data: &[u8]) -> Result<Progress, Failure> {
        let server_final = pending.exchange.client_final(data)?;
        // client_final only succeeds for known users.
        let user = pending
            .user
            .ok_or_else(|| Failure::new(Condition::NotAuthorized))?;
        let jid = self.bare_jid(&user);
        self.authorize(
            pending.mechanism,
            jid,
            Some(&user),
            pending.authzid.as_deref(),
        )
        .map(|a| Progress::Success(Some(server_final), a))
    }
}
