//! The stream header (RFC 6120 §4.7).

use starling_jid::Jid;
use starling_xml::{Element, StartTag, names::XML_NS};

use crate::error::{Condition, FramingError};
use crate::ns;

/// The content namespace of a stream (RFC 6120 §4.8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentNamespace {
    /// `jabber:client`: client-to-server streams.
    Client,
    /// `jabber:server`: server-to-server streams.
    Server,
    /// `jabber:component:accept`: external components (XEP-0114).
    Component,
}

impl ContentNamespace {
    /// The namespace name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentNamespace::Client => ns::CLIENT,
            ContentNamespace::Server => ns::SERVER,
            ContentNamespace::Component => ns::COMPONENT,
        }
    }

    /// The content namespace with this name.
    pub fn from_ns(s: &str) -> Option<Self> {
        match s {
            ns::CLIENT => Some(ContentNamespace::Client),
            ns::SERVER => Some(ContentNamespace::Server),
            ns::COMPONENT => Some(ContentNamespace::Component),
            _ => None,
        }
    }
}

/// A stream header: the attributes of `<stream:stream>` (RFC 6120 §4.7).
///
/// ```
/// use starling_stream::{ContentNamespace, StreamHeader};
///
/// let h = StreamHeader::initial(ContentNamespace::Client, "im.example.com".parse().unwrap())
///     .with_from("juliet@im.example.com".parse().unwrap());
/// assert_eq!(h.version, Some((1, 0)));
/// assert!(h.id.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHeader {
    /// The content namespace.
    pub content: ContentNamespace,
    /// `to`: the entity the stream is meant for.
    pub to: Option<Jid>,
    /// `from`: the entity that opened it.
    pub from: Option<Jid>,
    /// `id`: set by the responding entity.
    pub id: Option<String>,
    /// `version` as (major, minor); `None` when absent (a pre-1.0 peer).
    pub version: Option<(u32, u32)>,
    /// `xml:lang`.
    pub lang: Option<String>,
    /// Whether the header declares the dialback prefix (`xmlns:db`,
    /// XEP-0220) — server streams.
    pub dialback: bool,
}

impl StreamHeader {
    /// The header an initiating entity sends: `to`, version 1.0.
    pub fn initial(content: ContentNamespace, to: Jid) -> Self {
        StreamHeader {
            content,
            to: Some(to),
            from: None,
            id: None,
            version: Some((1, 0)),
            lang: None,
            dialback: content == ContentNamespace::Server,
        }
    }

    /// The header a receiving entity answers `incoming` with (RFC 6120
    /// §4.7): `from` our domain, `to` the initiator's `from`, a fresh `id`,
    /// version 1.0, the same content namespace.
    pub fn response(incoming: &StreamHeader, from: Jid, id: String) -> Self {
        StreamHeader {
            content: incoming.content,
            to: incoming.from.clone(),
            from: Some(from),
            id: Some(id),
            version: Some((1, 0)),
            lang: incoming.lang.clone().or_else(|| Some("en".to_owned())),
            dialback: incoming.dialback,
        }
    }

    /// Sets `from`.
    #[must_use]
    pub fn with_from(mut self, from: Jid) -> Self {
        self.from = Some(from);
        self
    }

    /// Sets `xml:lang`.
    #[must_use]
    pub fn with_lang(mut self, lang: impl Into<String>) -> Self {
        self.lang = Some(lang.into());
        self
    }

    /// Whether the peer speaks XMPP 1.0 or a later 1.x.
    pub fn is_v1(&self) -> bool {
        matches!(self.version, Some((1, _)))
    }

    /// Reads and checks a stream header start tag.
    pub(crate) fn from_start(
        tag: &StartTag<'_>,
        expected: Option<ContentNamespace>,
    ) -> Result<StreamHeader, FramingError> {
        if tag.namespace != ns::STREAM {
            return Err(FramingError::new(
                Condition::InvalidNamespace,
                format!("the stream element must be in the {} namespace", ns::STREAM),
            ));
        }
        if tag.name != "stream" {
            return Err(FramingError::new(
                Condition::BadFormat,
                "the root element must be <stream:stream/>",
            ));
        }
        let default = tag
            .namespace_decls
            .iter()
            .find(|d| d.prefix.is_empty())
            .map(|d| &*d.namespace);
        let content = match default.and_then(ContentNamespace::from_ns) {
            Some(c) => c,
            None => {
                return Err(FramingError::new(
                    Condition::InvalidNamespace,
                    "the content namespace must be jabber:client or jabber:server",
                ));
            }
        };
        if let Some(e) = expected {
            if e != content {
                return Err(FramingError::new(
                    Condition::InvalidNamespace,
                    format!("this stream must use the {} content namespace", e.as_str()),
                ));
            }
        }
        let dialback = tag
            .namespace_decls
            .iter()
            .any(|d| !d.prefix.is_empty() && d.namespace == ns::DIALBACK);
        let to = match tag.attr("to") {
            None => None,
            Some(s) => Some(s.parse::<Jid>().map_err(|_| {
                FramingError::new(
                    Condition::HostUnknown,
                    "the 'to' address is not a valid JID",
                )
            })?),
        };
        let from = match tag.attr("from") {
            None => None,
            Some(s) => Some(s.parse::<Jid>().map_err(|_| {
                FramingError::new(
                    Condition::InvalidFrom,
                    "the 'from' address is not a valid JID",
                )
            })?),
        };
        let version = match tag.attr("version") {
            None => None,
            Some(v) => Some(parse_version(v).ok_or_else(|| {
                FramingError::new(
                    Condition::UnsupportedVersion,
                    format!("malformed version {v:?}"),
                )
            })?),
        };
        if let Some((major, _)) = version {
            if major != 1 {
                return Err(FramingError::new(
                    Condition::UnsupportedVersion,
                    "only XMPP 1.x is supported",
                ));
            }
        }
        Ok(StreamHeader {
            content,
            to,
            from,
            id: tag.attr("id").map(str::to_owned),
            version,
            lang: tag.attr_ns(XML_NS, "lang").map(str::to_owned),
            dialback,
        })
    }

    /// The header as an element (its attributes; the writer adds the
    /// namespace declarations).
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("stream", ns::STREAM);
        if let Some(f) = &self.from {
            el.set_attr("from", Some(f.as_ref()));
        }
        if let Some(t) = &self.to {
            el.set_attr("to", Some(t.as_ref()));
        }
        if let Some(id) = &self.id {
            el.set_attr("id", Some(id));
        }
        if let Some((major, minor)) = self.version {
            el.set_attr("version", Some(&format!("{major}.{minor}")));
        }
        if let Some(l) = &self.lang {
            el.set_attr_ns(XML_NS, "lang", Some(l));
        }
        el
    }
}

/// Parses `major.minor` (RFC 6120 §4.7.5: each an integer, leading zeros
/// ignored).
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    let num = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let t = s.trim_start_matches('0');
        if t.is_empty() {
            Some(0)
        } else {
            t.parse().ok()
        }
    };
    Some((num(a)?, num(b)?))
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions() {
        assert_eq!(parse_version("1.0"), Some((1, 0)));
        assert_eq!(parse_version("01.010"), Some((1, 10)));
        assert_eq!(parse_version("1"), None);
        assert_eq!(parse_version("1.x"), None);
        assert_eq!(parse_version(".1"), None);
    }
}
