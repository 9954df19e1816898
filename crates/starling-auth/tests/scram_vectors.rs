//! The SCRAM examples of RFC 5802 §5 (SCRAM-SHA-1) and RFC 7677 §3
//! (SCRAM-SHA-256), byte for byte, on the client and on the server side.

mod common;

use std::sync::Arc;

use common::{FixedNonce, data, text};
use starling_auth::sasl::{
    ClientConfig, ClientConnection, ClientStep, Mechanism, MemoryStore, SaslClient, SaslMessage,
    SaslServer, ScramCredentials, ScramHash, ServerConfig, ServerConnection, ServerStep,
};

struct Vector {
    mechanism: Mechanism,
    client_nonce: &'static str,
    server_nonce: &'static str,
    salt: &'static str,
    client_first: &'static str,
    server_first: &'static str,
    client_final: &'static str,
    server_final: &'static str,
}

const RFC5802: Vector = Vector {
    mechanism: Mechanism::ScramSha1,
    client_nonce: "fyko+d2lbbFgONRv9qkxdawL",
    server_nonce: "3rfcNHYJY1ZVvWVs7j",
    salt: "QSXCR+Q6sek8bf92",
    client_first: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    server_first: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    client_final: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    server_final: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
};

const RFC7677: Vector = Vector {
    mechanism: Mechanism::ScramSha256,
    client_nonce: "rOprNGfwEbeRWgbNEkqO",
    server_nonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
    client_first: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    server_first: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    client_final: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    server_final: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
};

fn b64(s: &str) -> Vec<u8> {
    // Decode through the wire layer, which is what the server reads.
    let mut el = SaslMessage::Response(Vec::new()).to_element();
    el.append_text(s);
    data(&el)
}

fn client(v: &Vector) -> SaslClient {
    let config = ClientConfig {
        random: Arc::new(FixedNonce(v.client_nonce)),
        ..ClientConfig::password("user", "pencil")
    };
    SaslClient::new(config, ClientConnection::default())
}

fn server(v: &Vector) -> SaslServer {
    let hash = v.mechanism.scram_hash().unwrap();
    let mut store = MemoryStore::new();
    store
        .set_credentials(
            "user",
            ScramCredentials::derive("pencil", &b64(v.salt), 4096, hash).unwrap(),
        )
        .unwrap();
    let config = ServerConfig {
        random: Arc::new(FixedNonce(v.server_nonce)),
        ..ServerConfig::default()
    };
    SaslServer::new(
        Arc::new(config),
        Arc::new(store),
        ServerConnection::new("example.com".parse().unwrap()),
    )
}

/// The client, fed the RFC's server messages, writes the RFC's client
/// messages and accepts the server signature.
fn client_side(v: &Vector) {
    let mut c = client(v);
    let auth = c.start(&[v.mechanism.as_str()]).unwrap();
    assert_eq!(auth.attr("mechanism"), Some(v.mechanism.as_str()));
    assert_eq!(text(&auth), v.client_first);

    let challenge = SaslMessage::Challenge(v.server_first.as_bytes().to_vec()).to_element();
    let ClientStep::Response(resp) = c.receive(&challenge).unwrap() else {
        panic!("no response")
    };
    assert_eq!(text(&resp), v.client_final);

    let success = SaslMessage::Success(Some(v.server_final.as_bytes().to_vec())).to_element();
    assert_eq!(c.receive(&success).unwrap(), ClientStep::Success);
}

/// The server, fed the RFC's client messages, writes the RFC's server
/// messages and authenticates the user.
fn server_side(v: &Vector) {
    let mut s = server(v);
    let auth = SaslMessage::Auth {
        mechanism: v.mechanism.as_str().into(),
        initial_response: Some(v.client_first.as_bytes().to_vec()),
    }
    .to_element();
    let ServerStep::Challenge(ch) = s.receive(&auth).unwrap() else {
        panic!("no challenge")
    };
    assert_eq!(text(&ch), v.server_first);

    let resp = SaslMessage::Response(v.client_final.as_bytes().to_vec()).to_element();
    let ServerStep::Success {
        element,
        authenticated,
    } = s.receive(&resp).unwrap()
    else {
        panic!("no success")
    };
    assert_eq!(text(&element), v.server_final);
    assert_eq!(authenticated.jid.as_str(), "user@example.com");
    assert_eq!(authenticated.mechanism, v.mechanism);
}

#[test]
fn rfc5802_scram_sha1_client() {
    client_side(&RFC5802);
}

#[test]
fn rfc5802_scram_sha1_server() {
    server_side(&RFC5802);
}

#[test]
fn rfc7677_scram_sha256_client() {
    client_side(&RFC7677);
}

#[test]
fn rfc7677_scram_sha256_server() {
    server_side(&RFC7677);
}

/// Both sides against each other reproduce the same bytes.
#[test]
fn rfc_vectors_end_to_end() {
    for v in [&RFC5802, &RFC7677] {
        let mut c = client(v);
        let mut s = server(v);
        let auth = c.start(&s.mechanism_names()).unwrap();
        // The server offers SCRAM-SHA-256 too; pin the mechanism of the vector.
        let auth = if auth.attr("mechanism") == Some(v.mechanism.as_str()) {
            auth
        } else {
            c.start_mechanism(v.mechanism, false).unwrap()
        };
        assert_eq!(text(&auth), v.client_first);
        let ServerStep::Challenge(ch) = s.receive(&auth).unwrap() else {
            panic!()
        };
        assert_eq!(text(&ch), v.server_first);
        let ClientStep::Response(resp) = c.receive(&ch).unwrap() else {
            panic!()
        };
        assert_eq!(text(&resp), v.client_final);
        let ServerStep::Success { element, .. } = s.receive(&resp).unwrap() else {
            panic!()
        };
        assert_eq!(text(&element), v.server_final);
        assert_eq!(c.receive(&element).unwrap(), ClientStep::Success);
    }
}

/// The stored keys of the RFC 5802 example.
#[test]
fn rfc5802_credentials() {
    let creds =
        ScramCredentials::derive("pencil", &b64(RFC5802.salt), 4096, ScramHash::Sha1).unwrap();
    assert!(creds.verify_password("pencil"));
    assert_eq!(creds.iterations, 4096);
    assert_eq!(creds.stored_key.len(), 20);
}
