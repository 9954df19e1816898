//! The initiating entity's side of SASL negotiation (RFC 6120 §6.4).

use std::fmt;
use std::sync::Arc;

use starling_stream::ns;
use starling_xml::Element;

use super::channel_binding::ChannelBinding;
use super::condition::Failure;
use super::mechanism::Mechanism;
use super::random::{OsRandom, RandomError, RandomSource};
use super::saslprep::{PrepError, opaque_string};
use super::scram::{ClientBinding, IterationLimits, ScramClient, ScramServerError};
use super::simple;
use super::wire::{SaslMessage, WireError};

/// Client-side SASL settings: who to log in as, and what to accept.
///
/// ```
/// use starling_auth::sasl::{ClientConfig, Mechanism};
///
/// let mut config = ClientConfig::password("juliet", "r0m30myr0m30");
/// assert_eq!(config.min_iterations, 4096);
/// // Never send the password itself, even over TLS.
/// config.mechanisms.retain(|m| *m != Mechanism::Plain);
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    /// The user name (the localpart of the account's JID, RFC 6120
    /// §6.3.7). Not used by `EXTERNAL` and `ANONYMOUS`.
    pub username: String,
    /// The password, for SCRAM and PLAIN; prepared with the
    /// `OpaqueString` profile before use.
    pub password: Option<String>,
    /// The authorization identity to request, if different from the
    /// authenticated one (rarely needed).
    pub authzid: Option<String>,
    /// Whether the TLS layer presents a client certificate; `EXTERNAL` is
    /// then preferred when the server offers it.
    pub client_certificate: bool,
    /// The trace information sent with `ANONYMOUS` (RFC 4505).
    pub anonymous_trace: Option<String>,
    /// The mechanisms that may be used. Default: all but `ANONYMOUS`.
    pub mechanisms: Vec<Mechanism>,
    /// Whether `PLAIN` may be used on a stream without TLS. Default: `false`.
    pub plain_without_tls: bool,
    /// The lowest SCRAM iteration count accepted from the server. Default:
    /// 4096 (RFC 7677 §4).
    pub min_iterations: u32,
    /// The highest SCRAM iteration count accepted, which bounds the work a
    /// server can ask for. Default: 1 000 000.
    pub max_iterations: u32,
    /// Where SCRAM client nonces come from.
    pub random: Arc<dyn RandomSource>,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            username: String::new(),
            password: None,
            authzid: None,
            client_certificate: false,
            anonymous_trace: None,
            mechanisms: Mechanism::ALL
                .into_iter()
                .filter(|&m| m != Mechanism::Anonymous)
                .collect(),
            plain_without_tls: false,
            min_iterations: 4096,
            max_iterations: 1_000_000,
            random: Arc::new(OsRandom),
        }
    }
}

impl ClientConfig {
    /// Logs in with a user name and password.
    pub fn password(username: impl Into<String>, password: impl Into<String>) -> ClientConfig {
        ClientConfig {
            username: username.into(),
            password: Some(password.into()),
            ..ClientConfig::default()
        }
    }

    /// Logs in with the client certificate (`EXTERNAL` only).
    pub fn external() -> ClientConfig {
        ClientConfig {
            client_certificate: true,
            mechanisms: vec![Mechanism::External],
            ..ClientConfig::default()
        }
    }

    /// Logs in anonymously (`ANONYMOUS` only).
    pub fn anonymous() -> ClientConfig {
        ClientConfig {
            mechanisms: vec![Mechanism::Anonymous],
            ..ClientConfig::default()
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("authzid", &self.authzid)
            .field("client_certificate", &self.client_certificate)
            .field("anonymous_trace", &self.anonymous_trace)
            .field("mechanisms", &self.mechanisms)
            .field("plain_without_tls", &self.plain_without_tls)
            .field("min_iterations", &self.min_iterations)
            .field("max_iterations", &self.max_iterations)
            .field("random", &self.random)
            .finish()
    }
}

/// What the client knows about its connection.
#[derive(Debug, Clone, Default)]
pub struct ClientConnection {
    /// Whether the stream is protected by TLS.
    pub tls: bool,
    /// The channel binding the TLS layer exported, if any; `-PLUS`
    /// mechanisms are used only with it.
    pub channel_binding: Option<ChannelBinding>,
}

/// Picks the mechanism to use among those the server `offered`: the
/// strongest one both sides have and the configuration allows.
///
/// 1. `EXTERNAL`, if a client certificate is configured;
/// 2. with a password: `SCRAM-SHA-256-PLUS`, `SCRAM-SHA-1-PLUS` (only with
///    channel binding data), `SCRAM-SHA-256`, `SCRAM-SHA-1`, then `PLAIN`
///    (only over TLS unless [`ClientConfig::plain_without_tls`]);
/// 3. `ANONYMOUS`, if allowed.
///
/// ```
/// use starling_auth::sasl::{select_mechanism, ClientConfig, ClientConnection, Mechanism};
///
/// let config = ClientConfig::password("juliet", "r0m30myr0m30");
/// let tls = ClientConnection { tls: true, channel_binding: None };
/// let offered = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"];
/// assert_eq!(select_mechanism(&config, &tls, &offered), Some(Mechanism::ScramSha1));
/// assert_eq!(select_mechanism(&config, &tls, &["PLAIN"]), Some(Mechanism::Plain));
/// assert_eq!(select_mechanism(&config, &ClientConnection::default(), &["PLAIN"]), None);
/// ```
pub fn select_mechanism<S: AsRef<str>>(
    config: &ClientConfig,
    conn: &ClientConnection,
    offered: &[S],
) -> Option<Mechanism> {
    let offered: Vec<Mechanism> = offered
        .iter()
        .filter_map(|m| Mechanism::from_name(m.as_ref()))
        .collect();
    let usable = |m: Mechanism| config.mechanisms.contains(&m) && offered.contains(&m);
    if config.client_certificate && usable(Mechanism::External) {
        return Some(Mechanism::External);
    }
    if config.password.is_some() {
        let mut candidates = Vec::with_capacity(5);
        if conn.channel_binding.is_some() {
            candidates.extend([Mechanism::ScramSha256Plus, Mechanism::ScramSha1Plus]);
        }
        candidates.extend([Mechanism::ScramSha256, Mechanism::ScramSha1]);
        if conn.tls || config.plain_without_tls {
            candidates.push(Mechanism::Plain);
        }
        if let Some(m) = candidates.into_iter().find(|&m| usable(m)) {
            return Some(m);
        }
    }
    usable(Mechanism::Anonymous).then_some(Mechanism::Anonymous)
}

/// What went wrong on the client's side of the exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// None of the offered mechanisms is usable.
    #[error("no usable SASL mechanism among those offered ({offered})")]
    NoMechanism {
        /// The offered names, comma-separated.
        offered: String,
    },
    /// The mechanism needs a password and none is configured.
    #[error("{0} needs a password")]
    MissingPassword(Mechanism),
    /// A `-PLUS` mechanism was asked for without channel binding data.
    #[error("{0} needs channel binding data")]
    MissingChannelBinding(Mechanism),
    /// The password is not acceptable to the `OpaqueString` profile.
    #[error(transparent)]
    Password(#[from] PrepError),
    /// No nonce could be generated.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// An element arrived before [`SaslClient::start`].
    #[error("the SASL exchange has not started")]
    NotStarted,
    /// An element arrived after the exchange succeeded.
    #[error("the SASL exchange is over")]
    Finished,
    /// The element is not in the SASL namespace.
    #[error("<{name}/> in namespace `{ns}` is not a SASL element")]
    NotSasl {
        /// Local name.
        name: String,
        /// Namespace name.
        ns: String,
    },
    /// The server sent an element that is not SASL data.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The server sent something the exchange does not expect now.
    #[error("unexpected from the server: {0}")]
    Unexpected(&'static str),
    /// A SCRAM message from the server breaks RFC 5802 §7.
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The server requires a SCRAM extension (`m=`).
    #[error("the server requires an unsupported SCRAM extension")]
    MandatoryExtension,
    /// The server's nonce does not extend the client's.
    #[error("the server nonce does not start with the client nonce")]
    NonceMismatch,
    /// The server's iteration count is below [`ClientConfig::min_iterations`].
    #[error("the server asked for {iterations} iterations, fewer than the minimum {minimum}")]
    IterationsTooLow {
        /// The server's count.
        iterations: u32,
        /// The configured minimum.
        minimum: u32,
    },
    /// The server's iteration count is above [`ClientConfig::max_iterations`].
    #[error("the server asked for {iterations} iterations, more than the maximum {maximum}")]
    IterationsTooHigh {
        /// The server's count.
        iterations: u32,
        /// The configured maximum.
        maximum: u32,
    },
    /// The server sent a SCRAM error (`e=`); its condition is
    /// [`ScramServerError::condition`].
    #[error("the server reported a SCRAM error: {0}")]
    ServerError(ScramServerError),
    /// The server's signature is wrong: it does not know the password (or
    /// the channel is not the one it claims). The server must not be
    /// trusted: close the stream.
    #[error("the server signature is wrong")]
    ServerSignatureMismatch,
    /// The server reported success without proving that it knows the
    /// credentials. Close the stream.
    #[error("the server reported success without a server signature")]
    ServerSignatureMissing,
}

/// What to do after an element from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientStep {
    /// Send this `<response/>` and wait for the server.
    Response(Element),
    /// The server sent something unacceptable in the middle of the
    /// exchange: send this `<abort/>` and wait for the server's
    /// `<failure/>` (RFC 6120 §6.4.4).
    Abort {
        /// The `<abort/>` element.
        element: Element,
        /// What was wrong.
        error: ClientError,
    },
    /// Authenticated (and, for SCRAM, the server proved it knows the
    /// credentials): restart the stream.
    Success,
    /// The server refused. Another attempt may follow with
    /// [`SaslClient::start`].
    Failure(Failure),
}

enum State {
    Idle,
    Scram(Box<ScramClient>),
    /// SCRAM's server-final came in a challenge and was verified.
    ScramVerified,
    /// A single-message mechanism's message was sent.
    AwaitOutcome,
    /// `<abort/>` was sent.
    Aborting,
    Succeeded,
}

/// The initiating entity's SASL exchange on one stream, sans-IO.
///
/// [`start`](Self::start) picks a mechanism from the server's
/// `<mechanisms/>` and returns the `<auth/>` to send; then every SASL
/// element from the server goes to [`receive`](Self::receive), which says
/// what to send next or how the exchange ended. An `Err` from `receive`
/// means the server cannot be trusted or broke the protocol: close the
/// stream.
///
/// ```
/// use std::sync::Arc;
/// use starling_auth::sasl::{
///     ClientConfig, ClientConnection, ClientStep, MemoryStore, SaslClient, SaslServer,
///     ServerConfig, ServerConnection, ServerStep,
/// };
///
/// let mut store = MemoryStore::new();
/// store.add_user("juliet", "r0m30myr0m30", 4096).unwrap();
/// let mut server = SaslServer::new(
///     Arc::new(ServerConfig::default()),
///     Arc::new(store),
///     ServerConnection::new("example.com".parse().unwrap()),
/// );
///
/// let mut client = SaslClient::new(ClientConfig::password("juliet", "r0m30myr0m30"), ClientConnection::default());
/// let mut to_server = client.start(&server.mechanism_names()).unwrap();
/// loop {
///     match server.receive(&to_server).unwrap() {
///         ServerStep::Challenge(el) => match client.receive(&el).unwrap() {
///             ClientStep::Response(el) => to_server = el,
///             other => panic!("{other:?}"),
///         },
///         ServerStep::Success { element, authenticated } => {
///             assert_eq!(client.receive(&element).unwrap(), ClientStep::Success);
///             assert_eq!(authenticated.jid.as_str(), "juliet@example.com");
///             break;
///         }
///         ServerStep::Failure { failure, .. } => panic!("{failure}"),
///     }
/// }
/// ```
pub struct SaslClient {
    config: ClientConfig,
    conn: ClientConnection,
    state: State,
    mechanism: Option<Mechanism>,
}

impl fmt::Debug for SaslClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle => "idle",
            State::Scram(_) => "SCRAM in progress",
            State::ScramVerified => "SCRAM verified",
            State::AwaitOutcome => "awaiting outcome",
            State::Aborting => "aborting",
            State::Succeeded => "succeeded",
        };
        f.debug_struct("SaslClient")
            .field("config", &self.config)
            .field("conn", &self.conn)
            .field("state", &state)
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

impl SaslClient {
    /// A client exchange on a connection.
    pub fn new(config: ClientConfig, conn: ClientConnection) -> SaslClient {
        SaslClient {
            config,
            conn,
            state: State::Idle,
            mechanism: None,
        }
    }

    /// The configuration (for example to change the password before
    /// another attempt).
    pub fn config_mut(&mut self) -> &mut ClientConfig {
        &mut self.config
    }

    /// The mechanism of the current or last exchange.
    pub fn mechanism(&self) -> Option<Mechanism> {
        self.mechanism
    }

    /// Whether the exchange succeeded.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Succeeded)
    }

    /// The `<abort/>` element.
    pub fn abort_element() -> Element {
        Element::new("abort", ns::SASL)
    }

    /// Starts an exchange with the best mechanism among those the server
    /// `offered` ([`select_mechanism`]); returns the `<auth/>` to send.
    pub fn start<S: AsRef<str>>(&mut self, offered: &[S]) -> Result<Element, ClientError> {
        let Some(mechanism) = select_mechanism(&self.config, &self.conn, offered) else {
            let names: Vec<&str> = offered.iter().map(AsRef::as_ref).collect();
            return Err(ClientError::NoMechanism {
                offered: names.join(", "),
            });
        };
        let server_offers_plus = offered
            .iter()
            .filter_map(|m| Mechanism::from_name(m.as_ref()))
            .any(Mechanism::is_plus);
        self.start_mechanism(mechanism, server_offers_plus)
    }

    /// Starts an exchange with `mechanism`; `server_offers_plus` says
    /// whether the server offered any `-PLUS` mechanism (it decides between
    /// the `y` and `n` channel binding flags of a SCRAM without `-PLUS`).
    /// Returns the `<auth/>` to send.
    pub fn start_mechanism(
        &mut self,
        mechanism: Mechanism,
        server_offers_plus: bool,
    ) -> Result<Element, ClientError> {
        self.state = State::Idle;
        self.mechanism = Some(mechanism);
        let authzid = self.config.authzid.as_deref().unwrap_or_default();
        let (initial, state) = match mechanism {
            Mechanism::Plain => {
                let password = self.prepared_password(mechanism)?;
                let msg = simple::build_plain(authzid, &self.config.username, &password);
                (msg, State::AwaitOutcome)
            }
            Mechanism::External => (authzid.as_bytes().to_vec(), State::AwaitOutcome),
            Mechanism::Anonymous => {
                let trace = self.config.anonymous_trace.as_deref().unwrap_or_default();
                (trace.as_bytes().to_vec(), State::AwaitOutcome)
            }
            m => {
                let Some(hash) = m.scram_hash() else {
                    return Err(ClientError::Unexpected("not a SCRAM mechanism"));
                };
                let password = self.prepared_password(m)?;
                let binding = if m.is_plus() {
                    match &self.conn.channel_binding {
                        Some(cb) => ClientBinding::Use(cb.clone()),
                        None => return Err(ClientError::MissingChannelBinding(m)),
                    }
                } else if self.conn.channel_binding.is_some()
                    && !server_offers_plus
                    && self.config.mechanisms.iter().any(|m| m.is_plus())
                {
                    ClientBinding::Supported
                } else {
                    ClientBinding::None
                };
                let nonce = self.config.random.nonce()?;
                let limits = IterationLimits {
                    min: self.config.min_iterations,
                    max: self.config.max_iterations,
                };
                let (client, first) = ScramClient::new(
                    hash,
                    &self.config.username,
                    password,
                    Some(authzid),
                    binding,
                    nonce,
                    limits,
                );
                (first, State::Scram(Box::new(client)))
            }
        };
        self.state = state;
        Ok(SaslMessage::Auth {
            mechanism: mechanism.as_str().to_owned(),
            initial_response: Some(initial),
        }
        .to_element())
    }

    fn prepared_password(&self, mechanism: Mechanism) -> Result<String, ClientError> {
        let password = self
            .config
            .password
            .as_deref()
            .ok_or(ClientError::MissingPassword(mechanism))?;
        Ok(opaque_string(password)?.into_owned())
    }

    /// Handles one element from the server.
    pub fn receive(&mut self, element: &Element) -> Result<ClientStep, ClientError> {
        match SaslMessage::from_element(element) {
            Ok(msg) => self.receive_message(msg),
            Err(WireError::NotSasl { name, ns }) => Err(ClientError::NotSasl { name, ns }),
            Err(e) => Err(ClientError::Wire(e)),
        }
    }

    fn abort(&mut self, error: ClientError) -> ClientStep {
        self.state = State::Aborting;
        ClientStep::Abort {
            element: SaslClient::abort_element(),
            error,
        }
    }

    /// Handles one message from the server, already decoded.
    pub fn receive_message(&mut self, msg: SaslMessage) -> Result<ClientStep, ClientError> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        match (state, msg) {
            (State::Succeeded, _) => {
                self.state = State::Succeeded;
                Err(ClientError::Finished)
            }
            (State::Idle, _) => Err(ClientError::NotStarted),
            (_, SaslMessage::Failure(f)) => Ok(ClientStep::Failure(f)),
            (State::Scram(mut scram), SaslMessage::Challenge(data)) => {
                if scram.sent_final() {
                    // Some servers send server-final in a challenge and an
                    // empty success after it.
                    match scram.server_final(&data) {
                        Ok(()) => {
                            self.state = State::ScramVerified;
                            Ok(ClientStep::Response(
                                SaslMessage::Response(Vec::new()).to_element(),
                            ))
                        }
                        Err(e) => Ok(self.abort(e)),
                    }
                } else {
                    match scram.server_first(&data) {
                        Ok(answer) => {
                            self.state = State::Scram(scram);
                            Ok(ClientStep::Response(
                                SaslMessage::Response(answer).to_element(),
                            ))
                        }
                        Err(e) => Ok(self.abort(e)),
                    }
                }
            }
            (State::Scram(scram), SaslMessage::Success(data)) => {
                if !scram.sent_final() {
                    return Err(ClientError::ServerSignatureMissing);
                }
                let data = data
                    .filter(|d| !d.is_empty())
                    .ok_or(ClientError::ServerSignatureMissing)?;
                scram.server_final(&data)?;
                self.state = State::Succeeded;
                Ok(ClientStep::Success)
            }
            (State::ScramVerified, SaslMessage::Success(data)) => {
                if data.is_some_and(|d| !d.is_empty()) {
                    return Err(ClientError::Unexpected(
                        "additional data after server-final",
                    ));
                }
                self.state = State::Succeeded;
                Ok(ClientStep::Success)
            }
            (State::AwaitOutcome, SaslMessage::Success(_)) => {
                self.state = State::Succeeded;
                Ok(ClientStep::Success)
            }
            (State::AwaitOutcome | State::ScramVerified, SaslMessage::Challenge(_)) => Ok(self
                .abort(ClientError::Unexpected(
                    "a challenge the mechanism has no answer to",
                ))),
            (State::Aborting, SaslMessage::Success(_) | SaslMessage::Challenge(_)) => {
                Err(ClientError::Unexpected("the server went on after <abort/>"))
            }
            (_, SaslMessage::Auth { .. } | SaslMessage::Response(_) | SaslMessage::Abort) => Err(
                ClientError::Unexpected("only the initiating entity sends this element"),
            ),
        }
    }
}
