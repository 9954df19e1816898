//! The messages of the single-message mechanisms: PLAIN (RFC 4616),
//! EXTERNAL (RFC 4422 Appendix A) and ANONYMOUS (RFC 4505).

/// The longest ANONYMOUS trace, in characters (RFC 4505 §3).
pub(crate) const MAX_TRACE_CHARS: usize = 255;

/// A PLAIN message: `[authzid] NUL authcid NUL passwd` (RFC 4616 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlainMessage<'a> {
    pub(crate) authzid: &'a str,
    pub(crate) authcid: &'a str,
    pub(crate) password: &'a str,
}

/// Why a PLAIN message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlainError {
    /// Not UTF-8 (RFC 4616 §2: every field is UTF-8).
    NotUtf8,
    /// Not exactly two NUL separators.
    Separators,
    /// An empty authcid or password.
    Empty,
}

impl PlainError {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            PlainError::NotUtf8 => "the PLAIN message is not UTF-8",
            PlainError::Separators => "the PLAIN message must have exactly two NUL separators",
            PlainError::Empty => "the PLAIN authcid and password must not be empty",
        }
    }
}

/// Parses a PLAIN message.
pub(crate) fn parse_plain(data: &[u8]) -> Result<PlainMessage<'_>, PlainError> {
    let msg = std::str::from_utf8(data).map_err(|_| PlainError::NotUtf8)?;
    let mut parts = msg.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(PlainError::Separators);
    };
    if authcid.is_empty() || password.is_empty() {
        return Err(PlainError::Empty);
    }
    Ok(PlainMessage {
        authzid,
        authcid,
        password,
    })
}

/// Builds a PLAIN message.
pub(crate) fn build_plain(authzid: &str, authcid: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(authzid.len() + authcid.len() + password.len() + 2);
    out.extend_from_slice(authzid.as_bytes());
    out.push(0);
    out.extend_from_slice(authcid.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}

/// Parses an EXTERNAL message: an optional authorization identity in
/// UTF-8 (empty: derive it from the credentials).
pub(crate) fn parse_external(data: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(data).ok()?;
    (!s.contains('\0')).then_some(s)
}

/// Parses an ANONYMOUS message: optional trace information (RFC 4505 §3),
/// UTF-8 of at most 255 characters without control characters.
pub(crate) fn parse_anonymous(data: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(data).ok()?;
    (s.chars().count() <= MAX_TRACE_CHARS && !s.chars().any(char::is_control)).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of RFC 4616 §4.
    #[test]
    fn rfc4616_examples() {
        // "Tim" authenticates with password "tanstaaftanstaaf".
        assert_eq!(
            parse_plain(b"\0tim\0tanstaaftanstaaf"),
            Ok(PlainMessage {
                authzid: "",
                authcid: "tim",
                password: "tanstaaftanstaaf"
            })
        );
        // "Kurt" acts as "Ursel" with password "xipj3plmq".
        assert_eq!(
            parse_plain(b"Ursel\0Kurt\0xipj3plmq"),
            Ok(PlainMessage {
                authzid: "Ursel",
                authcid: "Kurt",
                password: "xipj3plmq"
            })
        );
        assert_eq!(
            build_plain("Ursel", "Kurt", "xipj3plmq"),
            b"Ursel\0Kurt\0xipj3plmq"
        );
    }

    #[test]
    fn plain_errors() {
        assert_eq!(parse_plain(b"\0tim\0\xff"), Err(PlainError::NotUtf8));
        assert_eq!(parse_plain(b"tim"), Err(PlainError::Separators));
        assert_eq!(parse_plain(b"\0tim"), Err(PlainError::Separators));
        assert_eq!(parse_plain(b"\0tim\0pw\0"), Err(PlainError::Separators));
        assert_eq!(parse_plain(b""), Err(PlainError::Separators));
        assert_eq!(parse_plain(b"\0\0pw"), Err(PlainError::Empty));
        assert_eq!(parse_plain(b"\0tim\0"), Err(PlainError::Empty));
    }

    #[test]
    fn external_and_anonymous() {
        assert_eq!(parse_external(b""), Some(""));
        assert_eq!(
            parse_external(b"juliet@example.com"),
            Some("juliet@example.com")
        );
        assert_eq!(parse_external(b"\xff"), None);
        assert_eq!(parse_external(b"a\0b"), None);
        assert_eq!(parse_anonymous(b""), Some(""));
        assert_eq!(parse_anonymous(b"sirhc"), Some("sirhc"));
        assert_eq!(
            parse_anonymous("é".repeat(255).as_bytes()),
            Some("é".repeat(255).as_str())
        );
        assert_eq!(parse_anonymous("é".repeat(256).as_bytes()), None);
        assert_eq!(parse_anonymous(b"a\nb"), None);
        assert_eq!(parse_anonymous(b"\xc3"), None);
    }
}
