//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use starling_auth::negotiate::ServerHooks;
use starling_auth::sasl::{
    ClientConfig, ClientConnection, ClientStep, CredentialStore, Failure, MemoryStore, RandomError,
    RandomSource, SaslClient, SaslMessage, SaslServer, ServerConfig, ServerConnection, ServerStep,
};
use starling_jid::{BareJid, DomainPart, FullJid};
use starling_stanza::{StanzaError, StanzaErrorCondition};
use starling_xml::Element;

/// Server hooks for `localhost` that bind the requested resource, or
/// `generated`.
pub struct Hooks;

impl ServerHooks for Hooks {
    fn serves(&self, domain: &DomainPart) -> bool {
        domain.as_str() == "localhost"
    }
    fn bind(&mut self, user: &BareJid, requested: Option<&str>) -> Result<FullJid, StanzaError> {
        user.with_resource_str(requested.unwrap_or("generated"))
            .map_err(|_| StanzaError::new(StanzaErrorCondition::BadRequest))
    }
}

/// A "random" source that always gives the same nonce, to replay the
/// RFC examples. Never use such a thing outside tests.
#[derive(Debug)]
pub struct FixedNonce(pub &'static str);

impl RandomSource for FixedNonce {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        buf.fill(0x42);
        Ok(())
    }

    fn nonce(&self) -> Result<String, RandomError> {
        Ok(self.0.to_owned())
    }
}

/// The SASL data of an element.
pub fn data(el: &Element) -> Vec<u8> {
    match SaslMessage::from_element(el).unwrap() {
        SaslMessage::Auth {
            initial_response, ..
        } => initial_response.unwrap_or_default(),
        SaslMessage::Challenge(d) | SaslMessage::Response(d) => d,
        SaslMessage::Success(d) => d.unwrap_or_default(),
        other => panic!("no data in {other:?}"),
    }
}

pub fn text(el: &Element) -> String {
    String::from_utf8(data(el)).unwrap()
}

pub fn auth(mechanism: &str, initial: Option<&[u8]>) -> Element {
    SaslMessage::Auth {
        mechanism: mechanism.into(),
        initial_response: initial.map(<[u8]>::to_vec),
    }
    .to_element()
}

pub fn response(d: &[u8]) -> Element {
    SaslMessage::Response(d.to_vec()).to_element()
}

pub fn abort() -> Element {
    SaslMessage::Abort.to_element()
}

pub const ITERATIONS: u32 = 16;

/// A store with juliet/r0m30myr0m30 and romeo/j4l13t.
pub fn store() -> MemoryStore {
    let mut s = MemoryStore::new();
    s.add_user("juliet", "r0m30myr0m30", ITERATIONS).unwrap();
    s.add_user("romeo", "j4l13t", ITERATIONS).unwrap();
    s
}

pub fn server_config() -> ServerConfig {
    ServerConfig {
        scram_iterations: ITERATIONS,
        ..ServerConfig::default()
    }
}

pub fn client_config(user: &str, password: &str) -> ClientConfig {
    ClientConfig {
        min_iterations: 1,
        ..ClientConfig::password(user, password)
    }
}

pub fn plain_conn() -> ServerConnection {
    ServerConnection::new("example.com".parse().unwrap())
}

pub fn tls_conn() -> ServerConnection {
    ServerConnection {
        tls: true,
        ..plain_conn()
    }
}

pub fn server_with(
    config: ServerConfig,
    store: impl CredentialStore + 'static,
    conn: ServerConnection,
) -> SaslServer {
    SaslServer::new(Arc::new(config), Arc::new(store), conn)
}

pub fn server(conn: ServerConnection) -> SaslServer {
    server_with(server_config(), store(), conn)
}

/// The failure of a step, or a panic.
pub fn failure(step: ServerStep) -> (Failure, bool) {
    match step {
        ServerStep::Failure {
            failure,
            retry,
            element,
        } => {
            assert_eq!(Failure::from_element(&element).as_ref(), Some(&failure));
            (failure, retry)
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// How a whole exchange ended.
#[derive(Debug)]
pub enum End {
    Success(starling_auth::sasl::Authenticated),
    ServerFailure(Failure),
    ClientAbort(starling_auth::sasl::ClientError, Failure),
}

/// Runs a client against a server until one side is done.
pub fn run(client: &mut SaslClient, server: &mut SaslServer, offered: &[String]) -> End {
    let mut to_server = client.start(offered).unwrap();
    for _ in 0..10 {
        match server.receive(&to_server).unwrap() {
            ServerStep::Challenge(el) => match client.receive(&el).unwrap() {
                ClientStep::Response(el) => to_server = el,
                ClientStep::Abort { element, error } => {
                    let (f, _) = failure(server.receive(&element).unwrap());
                    return End::ClientAbort(error, f);
                }
                other => panic!("unexpected client step {other:?}"),
            },
            ServerStep::Success {
                element,
                authenticated,
            } => {
                assert_eq!(client.receive(&element).unwrap(), ClientStep::Success);
                assert!(client.is_authenticated());
                return End::Success(authenticated);
            }
            ServerStep::Failure {
                element, failure, ..
            } => {
                assert_eq!(
                    client.receive(&element).unwrap(),
                    ClientStep::Failure(failure.clone())
                );
                return End::ServerFailure(failure);
            }
        }
    }
    panic!("the exchange did not end");
}

pub fn client(config: ClientConfig, conn: ClientConnection) -> SaslClient {
    SaslClient::new(config, conn)
}

/// [`run`] with the mechanisms the server offers.
pub fn run_all(client: &mut SaslClient, server: &mut SaslServer) -> End {
    let offered = server.mechanism_names();
    run(client, server, &offered)
}
