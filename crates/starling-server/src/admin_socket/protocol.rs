//! The admin socket's line protocol, as pure functions: one request per
//! line, one reply line per request.
//!
//! ```text
//! end-sessions password-changed juliet@example.org   ->  ok 2
//! end-sessions removed juliet@example.org            ->  ok 0
//! anything else                                      ->  error <why>
//! ```

use starling_jid::BareJid;
use starling_stream::{Condition, StreamError};

/// The longest request line accepted, without its newline (the longest
/// bare JID is 2047 bytes).
pub const MAX_LINE: usize = 2200;

/// Why an account's sessions are ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Its password was changed (`starling user passwd`).
    PasswordChanged,
    /// It was removed (`starling user remove`).
    Removed,
}

impl EndReason {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::PasswordChanged => "password-changed",
            EndReason::Removed => "removed",
        }
    }

    /// The stream error the sessions get.
    ///
    /// * A changed password revokes the credentials the stream was
    ///   authenticated with: `<reset/>` (RFC 6120 §4.9.3.16: the security
    ///   context of the stream was revoked during its life and
    ///   authentication has to be negotiated again, here with the new
    ///   password).
    /// * A removed account can no longer authenticate at all:
    ///   `<not-authorized/>` (RFC 6120 §4.9.3.12), as Prosody does too.
    pub fn stream_error(self) -> StreamError {
        match self {
            EndReason::PasswordChanged => StreamError::new(Condition::Reset)
                .with_text("the password was changed: log in again"),
            EndReason::Removed => {
                StreamError::new(Condition::NotAuthorized).with_text("the account was removed")
            }
        }
    }
}

/// A request to the running server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Close every session of `account` with the stream error of `reason`.
    EndSessions {
        /// The account.
        account: BareJid,
        /// Why.
        reason: EndReason,
    },
}

impl Request {
    /// The request line, with its newline.
    pub fn to_line(&self) -> String {
        match self {
            Request::EndSessions { account, reason } => {
                format!("end-sessions {} {account}\n", reason.as_str())
            }
        }
    }
}

/// The reply to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Done: this many sessions were asked to close.
    Ended(usize),
    /// Refused, with the reason.
    Error(String),
}

impl Reply {
    /// The reply line, with its newline.
    pub fn to_line(&self) -> String {
        match self {
            Reply::Ended(n) => format!("ok {n}\n"),
            Reply::Error(why) => format!("error {}\n", why.replace(['\r', '\n'], " ")),
        }
    }
}

/// A line that is not a request or a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Longer than [`MAX_LINE`].
    #[error("line too long")]
    TooLong,
    /// Not a known command.
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// Not a known reason for `end-sessions`.
    #[error("unknown reason {0:?} (expected password-changed or removed)")]
    UnknownReason(String),
    /// A missing or extra word.
    #[error("expected `end-sessions REASON user@domain`")]
    Arity,
    /// Not an account address.
    #[error("not an account address: {0}")]
    BadAccount(String),
    /// A reply that is neither `ok N` nor `error …`.
    #[error("unexpected reply {0:?}")]
    BadReply(String),
}

/// Parses one request line (the newline already removed or not).
pub fn parse_request(line: &str) -> Result<Request, ProtocolError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.len() > MAX_LINE {
        return Err(ProtocolError::TooLong);
    }
    let mut words = line.split(' ');
    let command = words.next().unwrap_or_default();
    if command != "end-sessions" {
        return Err(ProtocolError::UnknownCommand(command.to_owned()));
    }
    let (Some(reason), Some(jid), None) = (words.next(), words.next(), words.next()) else {
        return Err(ProtocolError::Arity);
    };
    let reason = match reason {
        "password-changed" => EndReason::PasswordChanged,
        "removed" => EndReason::Removed,
        other => return Err(ProtocolError::UnknownReason(other.to_owned())),
    };
    let account = BareJid::new(jid).map_err(|e| ProtocolError::BadAccount(e.to_string()))?;
    if account.node().is_none() {
        return Err(ProtocolError::BadAccount(format!("{jid} has no localpart")));
    }
    Ok(Request::EndSessions { account, reason })
}

/// Parses one reply line.
pub fn parse_reply(line: &str) -> Result<Reply, ProtocolError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if let Some(n) = line.strip_prefix("ok ") {
        return n
            .parse()
            .map(Reply::Ended)
            .map_err(|_| ProtocolError::BadReply(line.to_owned()));
    }
    match line.strip_prefix("error ") {
        Some(why) => Ok(Reply::Error(why.to_owned())),
        None => Err(ProtocolError::BadReply(line.to_owned())),
    }
}

/// Whether a peer with user id `peer` may use the socket of a server
/// running as `owner`: the same user, or root (who can read the database
/// anyway).
pub fn peer_allowed(peer: u32, owner: u32) -> bool {
    peer == owner || peer == 0
}
