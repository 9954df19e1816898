//! SCRAM (RFC 5802, RFC 7677): keys, credentials, messages, and the client
//! and server halves of one exchange.
//!
//! The exchange, with the names of RFC 5802 §3:
//!
//! ```text
//! client-first  = gs2-header client-first-bare     gs2-header = (n|y|p=cb-name) "," [a=authzid] ","
//! client-first-bare = n=username,r=c-nonce[,ext]
//! server-first  = r=c-nonce s-nonce,s=salt,i=count[,ext]
//! client-final  = c=base64(gs2-header [cb-data]),r=nonce[,ext],p=ClientProof
//! server-final  = v=ServerSignature | e=server-error
//!
//! SaltedPassword  = Hi(OpaqueString(password), salt, i)     (PBKDF2 with HMAC)
//! ClientKey       = HMAC(SaltedPassword, "Client Key")
//! StoredKey       = H(ClientKey)
//! ServerKey       = HMAC(SaltedPassword, "Server Key")
//! AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
//! ClientProof     = ClientKey XOR HMAC(StoredKey, AuthMessage)
//! ServerSignature = HMAC(ServerKey, AuthMessage)
//! ```

use std::borrow::Cow;
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::channel_binding::ChannelBinding;
use super::client::ClientError;
use super::condition::{Condition, Failure};
use super::random::{OsRandom, RandomError, RandomSource};
use super::saslprep::{PrepError, opaque_string};
use super::wire;

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramHash {
    /// SHA-1 (`SCRAM-SHA-1`, RFC 5802).
    Sha1,
    /// SHA-256 (`SCRAM-SHA-256`, RFC 7677).
    Sha256,
}

impl ScramHash {
    /// The hash's output length in bytes (20 or 32).
    pub fn output_len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }

    /// The hash's name as in the mechanism name (`SHA-1`, `SHA-256`).
    pub fn as_str(self) -> &'static str {
        match self {
            ScramHash::Sha1 => "SHA-1",
            ScramHash::Sha256 => "SHA-256",
        }
    }

    /// `H(data)`.
    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// `HMAC(key, parts[0] || parts[1] || …)`.
    pub(crate) fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => mac::<Hmac<Sha1>>(key, parts),
            ScramHash::Sha256 => mac::<Hmac<Sha256>>(key, parts),
        }
    }

    /// `Hi(password, salt, iterations)`: PBKDF2 with HMAC of this hash and
    /// an output of one hash length.
    pub(crate) fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_len()];
        match self {
            ScramHash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
            ScramHash::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
        }
        out
    }
}

fn mac<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Credentials could not be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The password is not acceptable to the `OpaqueString` profile.
    #[error(transparent)]
    Password(#[from] PrepError),
    /// The iteration count is zero.
    #[error("the iteration count must be at least 1")]
    ZeroIterations,
    /// No salt could be generated.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The user name is not a valid localpart (RFC 7622 §3.3).
    #[error("invalid user name: {0}")]
    Username(#[from] starling_jid::JidError),
}

/// What a server stores for one user and one SCRAM hash: the salt, the
/// iteration count, `StoredKey` and `ServerKey` (RFC 5802 §3). The
/// password itself is never stored; these values let the server verify a
/// SCRAM proof or a PLAIN password ([`verify_password`](Self::verify_password)).
///
/// ```
/// use starling_auth::sasl::{ScramCredentials, ScramHash};
///
/// let creds = ScramCredentials::derive("pencil", b"salt-of-16-bytes", 4096, ScramHash::Sha256)?;
/// assert_eq!(creds.stored_key.len(), 32);
/// assert!(creds.verify_password("pencil"));
/// assert!(!creds.verify_password("Pencil"));
///
/// // For a new account, with a random 16-byte salt:
/// let creds = ScramCredentials::generate("pencil", 4096, ScramHash::Sha1)?;
/// assert_eq!(creds.salt.len(), 16);
/// # Ok::<(), starling_auth::sasl::CredentialError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    /// The hash function these keys belong to.
    pub hash: ScramHash,
    /// The salt.
    pub salt: Vec<u8>,
    /// The iteration count of `Hi`.
    pub iterations: u32,
    /// `StoredKey = H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `ServerKey = HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl ScramCredentials {
    /// Derives the credentials of `password` (prepared with
    /// [`opaque_string`]) for the given salt and iteration count.
    pub fn derive(
        password: &str,
        salt: &[u8],
        iterations: u32,
        hash: ScramHash,
    ) -> Result<ScramCredentials, CredentialError> {
        if iterations == 0 {
            return Err(CredentialError::ZeroIterations);
        }
        let password = opaque_string(password)?;
        let salted = hash.hi(password.as_bytes(), salt, iterations);
        Ok(ScramCredentials::from_salted_password(
            hash,
            salt.to_vec(),
            iterations,
            &salted,
        ))
    }

    /// Derives the credentials of `password` with a fresh random 16-byte
    /// salt from the operating system's generator.
    pub fn generate(
        password: &str,
        iterations: u32,
        hash: ScramHash,
    ) -> Result<ScramCredentials, CredentialError> {
        ScramCredentials::generate_with(password, iterations, hash, &OsRandom)
    }

    /// As [`generate`](Self::generate), with the salt from `random`.
    pub fn generate_with(
        password: &str,
        iterations: u32,
        hash: ScramHash,
        random: &dyn RandomSource,
    ) -> Result<ScramCredentials, CredentialError> {
        let mut salt = [0u8; 16];
        random.fill(&mut salt)?;
        ScramCredentials::derive(password, &salt, iterations, hash)
    }

    pub(crate) fn from_salted_password(
        hash: ScramHash,
        salt: Vec<u8>,
        iterations: u32,
        salted: &[u8],
    ) -> ScramCredentials {
        let client_key = hash.hmac(salted, &[b"Client Key"]);
        ScramCredentials {
            hash,
            salt,
            iterations,
            stored_key: hash.hash(&client_key),
            server_key: hash.hmac(salted, &[b"Server Key"]),
        }
    }

    /// Whether `password` (prepared with [`opaque_string`]) is the
    /// password these credentials were derived from. This runs `Hi`, so it
    /// costs as much as the iteration count says; the keys are compared in
    /// constant time.
    pub fn verify_password(&self, password: &str) -> bool {
        let Ok(password) = opaque_string(password) else {
            return false;
        };
        if self.iterations == 0 {
            return false;
        }
        let salted = self
            .hash
            .hi(password.as_bytes(), &self.salt, self.iterations);
        let client_key = self.hash.hmac(&salted, &[b"Client Key"]);
        ct_eq(&self.hash.hash(&client_key), &self.stored_key)
    }

    /// Whether the key lengths fit the hash function.
    pub(crate) fn is_consistent(&self, hash: ScramHash) -> bool {
        self.hash == hash
            && self.iterations > 0
            && self.stored_key.len() == hash.output_len()
            && self.server_key.len() == hash.output_len()
    }
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("hash", &self.hash)
            .field("salt", &wire::encode(&self.salt))
            .field("iterations", &self.iterations)
            .field("stored_key", &"…")
            .field("server_key", &"…")
            .finish()
    }
}

/// A `server-error-value` of RFC 5802 §7 (`e=` in the server's final
/// message).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ScramServerError {
    /// `invalid-encoding`.
    InvalidEncoding,
    /// `extensions-not-supported`.
    ExtensionsNotSupported,
    /// `invalid-proof`.
    InvalidProof,
    /// `channel-bindings-dont-match`.
    ChannelBindingsDontMatch,
    /// `server-does-support-channel-binding`: the client sent `y` although
    /// the server offered a `-PLUS` mechanism (a downgrade).
    ServerDoesSupportChannelBinding,
    /// `channel-binding-not-supported`.
    ChannelBindingNotSupported,
    /// `unsupported-channel-binding-type`.
    UnsupportedChannelBindingType,
    /// `unknown-user`.
    UnknownUser,
    /// `invalid-username-encoding`.
    InvalidUsernameEncoding,
    /// `no-resources`.
    NoResources,
    /// `other-error`.
    OtherError,
    /// Any other value (`server-error-value-ext`).
    Other(String),
}

const SERVER_ERRORS: [(&str, ScramServerError); 11] = [
    ("invalid-encoding", ScramServerError::InvalidEncoding),
    (
        "extensions-not-supported",
        ScramServerError::ExtensionsNotSupported,
    ),
    ("invalid-proof", ScramServerError::InvalidProof),
    (
        "channel-bindings-dont-match",
        ScramServerError::ChannelBindingsDontMatch,
    ),
    (
        "server-does-support-channel-binding",
        ScramServerError::ServerDoesSupportChannelBinding,
    ),
    (
        "channel-binding-not-supported",
        ScramServerError::ChannelBindingNotSupported,
    ),
    (
        "unsupported-channel-binding-type",
        ScramServerError::UnsupportedChannelBindingType,
    ),
    ("unknown-user", ScramServerError::UnknownUser),
    (
        "invalid-username-encoding",
        ScramServerError::InvalidUsernameEncoding,
    ),
    ("no-resources", ScramServerError::NoResources),
    ("other-error", ScramServerError::OtherError),
];

impl ScramServerError {
    /// The error with value `value`.
    pub fn from_value(value: &str) -> ScramServerError {
        SERVER_ERRORS.iter().find(|(v, _)| *v == value).map_or_else(
            || ScramServerError::Other(value.to_owned()),
            |(_, e)| e.clone(),
        )
    }

    /// The value as written after `e=`.
    pub fn as_str(&self) -> &str {
        match self {
            ScramServerError::Other(v) => v,
            known => SERVER_ERRORS
                .iter()
                .find(|(_, e)| e == known)
                .map_or("other-error", |(v, _)| v),
        }
    }

    /// The RFC 6120 failure condition that corresponds to this error.
    pub fn condition(&self) -> Condition {
        match self {
            ScramServerError::InvalidEncoding
            | ScramServerError::ExtensionsNotSupported
            | ScramServerError::InvalidUsernameEncoding => Condition::MalformedRequest,
            ScramServerError::NoResources => Condition::TemporaryAuthFailure,
            _ => Condition::NotAuthorized,
        }
    }

    /// The failure with this error's condition and its value as text.
    pub fn to_failure(&self) -> Failure {
        Failure::new(self.condition()).with_text(self.as_str())
    }
}

impl fmt::Display for ScramServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Escapes a `saslname` (RFC 5802 §5.1): `=` becomes `=3D`, `,` becomes
/// `=2C`.
pub(crate) fn escape_saslname(name: &str) -> Cow<'_, str> {
    if name.contains([',', '=']) {
        Cow::Owned(name.replace('=', "=3D").replace(',', "=2C"))
    } else {
        Cow::Borrowed(name)
    }
}

/// Undoes [`escape_saslname`]; `None` if `name` is empty, contains NUL, or
/// has a `=` not followed by `2C` or `3D`.
pub(crate) fn unescape_saslname(name: &str) -> Option<String> {
    if name.is_empty() || name.contains('\0') {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3)?;
        out.push(match esc {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// `printable` (RFC 5802 §7): `%x21-2B / %x2D-7E`.
fn is_printable(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7E).contains(&b) && b != b',')
}

/// An extension attribute: `ALPHA "=" 1*value-char`.
fn is_extension(attr: &str) -> bool {
    let b = attr.as_bytes();
    b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b'=' && !attr.contains('\0')
}

/// The value of `attr` if it is `name=value`.
fn attr_value(attr: Option<&str>, name: char) -> Option<&str> {
    let attr = attr?;
    let mut chars = attr.chars();
    (chars.next() == Some(name) && chars.next() == Some('=')).then(|| &attr[2..])
}

/// The channel binding flag of a gs2 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gs2Flag {
    /// `n`: the client does not support channel binding.
    N,
    /// `y`: the client supports it but thinks the server does not.
    Y,
    /// `p=name`: the client uses channel binding of type `name`.
    P(String),
}

/// A parsed client-first message, for the server.
#[derive(Debug, Clone)]
pub(crate) struct ClientFirst {
    pub(crate) flag: Gs2Flag,
    pub(crate) authzid: Option<String>,
    pub(crate) gs2_header: String,
    pub(crate) bare: String,
    pub(crate) username: String,
    pub(crate) nonce: String,
}

fn malformed(e: ScramServerError) -> Failure {
    e.to_failure()
}

/// Parses a client-first message (RFC 5802 §7).
pub(crate) fn parse_client_first(data: &[u8]) -> Result<ClientFirst, Failure> {
    use ScramServerError as E;
    let msg = std::str::from_utf8(data).map_err(|_| malformed(E::InvalidEncoding))?;
    // gs2-cbind-flag
    let (flag, rest) = if let Some(r) = msg.strip_prefix("n,") {
        (Gs2Flag::N, r)
    } else if let Some(r) = msg.strip_prefix("y,") {
        (Gs2Flag::Y, r)
    } else if let Some(r) = msg.strip_prefix("p=") {
        let end = r.find(',').ok_or_else(|| malformed(E::InvalidEncoding))?;
        let name = &r[..end];
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(malformed(E::InvalidEncoding));
        }
        (Gs2Flag::P(name.to_owned()), &r[end + 1..])
    } else {
        return Err(malformed(E::InvalidEncoding));
    };
    // [ authzid ] ","
    let (authzid, bare) = if let Some(r) = rest.strip_prefix(',') {
        (None, r)
    } else if let Some(r) = rest.strip_prefix("a=") {
        let end = r.find(',').ok_or_else(|| malformed(E::InvalidEncoding))?;
        let authzid =
            unescape_saslname(&r[..end]).ok_or_else(|| malformed(E::InvalidUsernameEncoding))?;
        (Some(authzid), &r[end + 1..])
    } else {
        return Err(malformed(E::InvalidEncoding));
    };
    let gs2_header = msg[..msg.len() - bare.len()].to_owned();
    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    let mut attrs = bare.split(',');
    let first = attrs.next();
    if attr_value(first, 'm').is_some() {
        return Err(malformed(E::ExtensionsNotSupported));
    }
    let username = attr_value(first, 'n').ok_or_else(|| malformed(E::InvalidEncoding))?;
    let username =
        unescape_saslname(username).ok_or_else(|| malformed(E::InvalidUsernameEncoding))?;
    let nonce = attr_value(attrs.next(), 'r').ok_or_else(|| malformed(E::InvalidEncoding))?;
    if !is_printable(nonce) {
        return Err(malformed(E::InvalidEncoding));
    }
    if !attrs.all(is_extension) {
        return Err(malformed(E::InvalidEncoding));
    }
    Ok(ClientFirst {
        flag,
        authzid,
        gs2_header,
        bare: bare.to_owned(),
        username,
        nonce: nonce.to_owned(),
    })
}

/// The server's half of a SCRAM exchange after it has sent server-first.
pub(crate) struct ScramServerExchange {
    creds: ScramCredentials,
    known: bool,
    expected_cbind: Vec<u8>,
    nonce: String,
    /// `client-first-bare "," server-first`.
    auth_prefix: String,
}

impl ScramServerExchange {
    /// Starts the exchange: `creds` are the user's (or, with `known`
    /// false, made-up ones that no proof can match); `cb_data` is the
    /// channel binding data of the type the client named with `p=`.
    /// Returns the exchange and the server-first message.
    pub(crate) fn new(
        first: &ClientFirst,
        creds: ScramCredentials,
        known: bool,
        server_nonce: &str,
        cb_data: Option<&[u8]>,
    ) -> (ScramServerExchange, Vec<u8>) {
        let nonce = format!("{}{}", first.nonce, server_nonce);
        let server_first = format!(
            "r={},s={},i={}",
            nonce,
            wire::encode(&creds.salt),
            creds.iterations
        );
        let mut expected_cbind = first.gs2_header.clone().into_bytes();
        expected_cbind.extend_from_slice(cb_data.unwrap_or_default());
        let auth_prefix = format!("{},{}", first.bare, server_first);
        (
            ScramServerExchange {
                creds,
                known,
                expected_cbind,
                nonce,
                auth_prefix,
            },
            server_first.into_bytes(),
        )
    }

    /// Checks a client-final message; returns the server-final message
    /// (`v=…`) if the proof is right.
    pub(crate) fn client_final(&self, data: &[u8]) -> Result<Vec<u8>, Failure> {
        use ScramServerError as E;
        let msg = std::str::from_utf8(data).map_err(|_| malformed(E::InvalidEncoding))?;
        // client-final-message = client-final-message-without-proof "," proof
        let idx = msg
            .rfind(",p=")
            .ok_or_else(|| malformed(E::InvalidEncoding))?;
        let (without_proof, proof) = (&msg[..idx], &msg[idx + 3..]);
        if proof.contains(',') {
            return Err(malformed(E::InvalidEncoding));
        }
        let mut attrs = without_proof.split(',');
        let cbind = attr_value(attrs.next(), 'c').ok_or_else(|| malformed(E::InvalidEncoding))?;
        let nonce = attr_value(attrs.next(), 'r').ok_or_else(|| malformed(E::InvalidEncoding))?;
        if !attrs.all(is_extension) {
            return Err(malformed(E::InvalidEncoding));
        }
        let cbind = wire::decode(cbind).ok_or_else(|| {
            Failure::new(Condition::IncorrectEncoding).with_text("invalid-encoding")
        })?;
        let proof = wire::decode(proof).ok_or_else(|| {
            Failure::new(Condition::IncorrectEncoding).with_text("invalid-encoding")
        })?;
        if !ct_eq(&cbind, &self.expected_cbind) {
            return Err(E::ChannelBindingsDontMatch.to_failure());
        }
        if nonce != self.nonce {
            return Err(E::OtherError.to_failure());
        }
        let hash = self.creds.hash;
        if proof.len() != hash.output_len() {
            return Err(Failure::new(Condition::NotAuthorized));
        }
        let auth_message = format!("{},{}", self.auth_prefix, without_proof);
        let client_signature = hash.hmac(&self.creds.stored_key, &[auth_message.as_bytes()]);
        let client_key = xor(&proof, &client_signature);
        let matches = ct_eq(&hash.hash(&client_key), &self.creds.stored_key);
        if !(matches && self.known) {
            // The same answer for a wrong password and an unknown user.
            return Err(Failure::new(Condition::NotAuthorized));
        }
        let server_signature = hash.hmac(&self.creds.server_key, &[auth_message.as_bytes()]);
        Ok(format!("v={}", wire::encode(&server_signature)).into_bytes())
    }
}

/// The client's half of a SCRAM exchange.
pub(crate) struct ScramClient {
    hash: ScramHash,
    password: String,
    gs2_header: String,
    cb_data: Vec<u8>,
    client_nonce: String,
    client_first_bare: String,
    min_iterations: u32,
    max_iterations: u32,
    /// Set once client-final has been computed.
    server_signature: Option<Vec<u8>>,
}

/// How the client fills the channel binding flag.
pub(crate) enum ClientBinding {
    /// `n`.
    None,
    /// `y`.
    Supported,
    /// `p=` with this data.
    Use(ChannelBinding),
}

/// The limits a client puts on the server's iteration count.
#[derive(Clone, Copy)]
pub(crate) struct IterationLimits {
    pub(crate) min: u32,
    pub(crate) max: u32,
}

impl ScramClient {
    /// Starts an exchange; returns it and the client-first message.
    /// `password` must already be prepared.
    pub(crate) fn new(
        hash: ScramHash,
        username: &str,
        password: String,
        authzid: Option<&str>,
        binding: ClientBinding,
        client_nonce: String,
        limits: IterationLimits,
    ) -> (ScramClient, Vec<u8>) {
        let (flag, cb_data) = match binding {
            ClientBinding::None => ("n".to_owned(), Vec::new()),
            ClientBinding::Supported => ("y".to_owned(), Vec::new()),
            ClientBinding::Use(cb) => (format!("p={}", cb.kind()), cb.data().to_vec()),
        };
        let authzid = authzid
            .filter(|a| !a.is_empty())
            .map(|a| format!("a={}", escape_saslname(a)))
            .unwrap_or_default();
        let gs2_header = format!("{flag},{authzid},");
        let client_first_bare = format!("n={},r={}", escape_saslname(username), client_nonce);
        let message = format!("{gs2_header}{client_first_bare}").into_bytes();
        (
            ScramClient {
                hash,
                password,
                gs2_header,
                cb_data,
                client_nonce,
                client_first_bare,
                min_iterations: limits.min,
                max_iterations: limits.max,
                server_signature: None,
            },
            message,
        )
    }

    /// Whether client-final has been sent (the server-final is next).
    pub(crate) fn sent_final(&self) -> bool {
        self.server_signature.is_some()
    }

    /// Handles server-first; returns client-final.
    pub(crate) fn server_first(&mut self, data: &[u8]) -> Result<Vec<u8>, ClientError> {
        let malformed = |what: &'static str| ClientError::Malformed(what);
        let msg = std::str::from_utf8(data).map_err(|_| malformed("server-first is not UTF-8"))?;
        if let Some(e) = msg.strip_prefix("e=") {
            return Err(ClientError::ServerError(ScramServerError::from_value(e)));
        }
        let mut attrs = msg.split(',');
        let first = attrs.next();
        if attr_value(first, 'm').is_some() {
            return Err(ClientError::MandatoryExtension);
        }
        let nonce = attr_value(first, 'r').ok_or(malformed("server-first lacks r="))?;
        let salt = attr_value(attrs.next(), 's').ok_or(malformed("server-first lacks s="))?;
        let iterations = attr_value(attrs.next(), 'i').ok_or(malformed("server-first lacks i="))?;
        if !attrs.all(is_extension) {
            return Err(malformed("server-first has a malformed extension"));
        }
        if !is_printable(nonce) {
            return Err(malformed("the server nonce is not printable"));
        }
        if !(nonce.starts_with(&self.client_nonce) && nonce.len() > self.client_nonce.len()) {
            return Err(ClientError::NonceMismatch);
        }
        let salt = wire::decode(salt).ok_or(malformed("the salt is not base 64"))?;
        if salt.is_empty() {
            return Err(malformed("the salt is empty"));
        }
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("the iteration count is not a number"));
        }
        let iterations: u32 = iterations.parse().unwrap_or(u32::MAX);
        if iterations < self.min_iterations {
            return Err(ClientError::IterationsTooLow {
                iterations,
                minimum: self.min_iterations,
            });
        }
        if iterations > self.max_iterations {
            return Err(ClientError::IterationsTooHigh {
                iterations,
                maximum: self.max_iterations,
            });
        }
        let hash = self.hash;
        let mut cbind = self.gs2_header.clone().into_bytes();
        cbind.extend_from_slice(&self.cb_data);
        let without_proof = format!("c={},r={}", wire::encode(&cbind), nonce);
        let auth_message = format!("{},{},{}", self.client_first_bare, msg, without_proof);
        let salted = hash.hi(self.password.as_bytes(), &salt, iterations);
        let client_key = hash.hmac(&salted, &[b"Client Key"]);
        let stored_key = hash.hash(&client_key);
        let client_signature = hash.hmac(&stored_key, &[auth_message.as_bytes()]);
        let proof = xor(&client_key, &client_signature);
        let server_key = hash.hmac(&salted, &[b"Server Key"]);
        self.server_signature = Some(hash.hmac(&server_key, &[auth_message.as_bytes()]));
        Ok(format!("{},p={}", without_proof, wire::encode(&proof)).into_bytes())
    }

    /// Verifies server-final.
    pub(crate) fn server_final(&self, data: &[u8]) -> Result<(), ClientError> {
        let Some(expected) = &self.server_signature else {
            return Err(ClientError::Unexpected("server-final before server-first"));
        };
        let msg = std::str::from_utf8(data)
            .map_err(|_| ClientError::Malformed("server-final is not UTF-8"))?;
        let first = msg.split(',').next();
        if let Some(e) = attr_value(first, 'e') {
            return Err(ClientError::ServerError(ScramServerError::from_value(e)));
        }
        let v = attr_value(first, 'v').ok_or(ClientError::Malformed("server-final lacks v="))?;
        let v = wire::decode(v).ok_or(ClientError::Malformed(
            "the server signature is not base 64",
        ))?;
        if ct_eq(&v, expected) {
            Ok(())
        } else {
            Err(ClientError::ServerSignatureMismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saslname_escaping() {
        assert_eq!(escape_saslname("user"), "user");
        assert_eq!(escape_saslname("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(unescape_saslname("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(unescape_saslname("=3D=2C").as_deref(), Some("=,"));
        for bad in ["", "a=", "a=2", "a=2c", "a=41", "a=3d", "a\0b", "=="] {
            assert_eq!(unescape_saslname(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn client_first_parsing() {
        let f = parse_client_first(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL").unwrap();
        assert_eq!(f.flag, Gs2Flag::N);
        assert_eq!(f.authzid, None);
        assert_eq!(f.gs2_header, "n,,");
        assert_eq!(f.bare, "n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(f.username, "user");
        assert_eq!(f.nonce, "fyko+d2lbbFgONRv9qkxdawL");

        let f = parse_client_first(b"p=tls-exporter,a=juliet@example.com,n=ju=2Cliet,r=abc,x=ext")
            .unwrap();
        assert_eq!(f.flag, Gs2Flag::P("tls-exporter".into()));
        assert_eq!(f.authzid.as_deref(), Some("juliet@example.com"));
        assert_eq!(f.gs2_header, "p=tls-exporter,a=juliet@example.com,");
        assert_eq!(f.username, "ju,liet");

        let f = parse_client_first(b"y,,n=u,r=x").unwrap();
        assert_eq!(f.flag, Gs2Flag::Y);
    }

    #[test]
    fn client_first_errors() {
        let cases: &[(&[u8], Condition, &str)] = &[
            (b"", Condition::MalformedRequest, "invalid-encoding"),
            (
                b"x,,n=user,r=abc",
                Condition::MalformedRequest,
                "invalid-encoding",
            ),
            (
                b"n,n=user,r=abc",
                Condition::MalformedRequest,
                "invalid-encoding",
            ),
            (
                b"p=,,n=user,r=abc",
                Condition::MalformedRequest,
                "invalid-encoding",
            ),
            (
                b"p=tls_x,,n=user,r=abc",
                Condition::MalformedRequest,
                "invalid-encoding",
            ),
            (
                b"n,,r=abc,n=user",
                Condition::MalformedRequest,
                "invalid-encoding",
            ),
            (
                b"n,,n=user",
                Condition::MalformedRequest,
                "invalid-encoding",
            ),
            (
                b"n,,n=user,r=",
                Condition::MalformedRequest,
                "invalid-encoding",
            ),
            (
                b"n,,n=user,r=a\x7fb",
                Condition::MalformedRequest,
                "invalid-encoding",
            ),
            (
                b"n,,n=user,r=abc,,",
                Condition::MalformedRequest,
                "invalid-encoding",
            ),
            (
                b"n,,n=user,r=abc,1=x",
                Condition::MalformedRequest,
                "invalid-encoding",
            ),
            (
                b"n,,m=ext,n=user,r=abc",
                Condition::MalformedRequest,
                "extensions-not-supported",
            ),
            (
                b"n,,n=us=er,r=abc",
                Condition::MalformedRequest,
                "invalid-username-encoding",
            ),
            (
                b"n,,n=,r=abc",
                Condition::MalformedRequest,
                "invalid-username-encoding",
            ),
            (
                b"n,a=x=,n=user,r=abc",
                Condition::MalformedRequest,
                "invalid-username-encoding",
            ),
            (
                b"n,,n=\xff,r=abc",
                Condition::MalformedRequest,
                "invalid-encoding",
            ),
        ];
        for (msg, cond, text) in cases {
            let f = parse_client_first(msg).unwrap_err();
            assert_eq!(
                (f.condition, f.text.as_deref()),
                (*cond, Some(*text)),
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
    }

    #[test]
    fn server_error_values() {
        for (v, e) in SERVER_ERRORS.iter() {
            assert_eq!(&ScramServerError::from_value(v), e);
            assert_eq!(e.as_str(), *v);
        }
        let other = ScramServerError::from_value("too-many-cats");
        assert_eq!(other.as_str(), "too-many-cats");
        assert_eq!(other.condition(), Condition::NotAuthorized);
        assert_eq!(
            ScramServerError::NoResources.condition(),
            Condition::TemporaryAuthFailure
        );
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    /// RFC 6070 PBKDF2-HMAC-SHA1 vector (c = 4096).
    #[test]
    fn hi_matches_rfc6070() {
        let out = ScramHash::Sha1.hi(b"password", b"salt", 4096);
        assert_eq!(
            out,
            [
                0x4b, 0x00, 0x79, 0x01, 0xb7, 0x65, 0x48, 0x9a, 0xbe, 0xad, 0x49, 0xd9, 0x26, 0xf7,
                0x21, 0xd0, 0x65, 0xa4, 0x29, 0xc1
            ]
        );
    }
}
