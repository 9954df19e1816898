//! A pending inbound subscription request as stored: only what RFC 6121
//! §3.1.3 needs to present it again at login — the requester, its
//! `<status/>` text and its XEP-0172 nickname, each cut to a small size —
//! instead of the request stanza (which can be as large as a stanza may
//! be, and would be sent again at every login).

use starling_jid::BareJid;
use starling_xml::Element;

/// The XEP-0172 namespace.
pub const NS_NICK: &str = "http://jabber.org/protocol/nick";

/// The `jabber:client` namespace of a rebuilt request.
const NS_CLIENT: &str = "jabber:client";

/// Bytes of `<status/>` text kept (cut on a character boundary).
pub const MAX_STATUS_BYTES: usize = 1024;

/// Bytes of XEP-0172 nickname kept (cut on a character boundary).
pub const MAX_NICK_BYTES: usize = 128;

/// A pending inbound subscription request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRequest {
    /// The requester.
    pub from: BareJid,
    /// The first `<status/>` text, at most [`MAX_STATUS_BYTES`].
    pub status: Option<String>,
    /// The XEP-0172 `<nick/>`, at most [`MAX_NICK_BYTES`].
    pub nick: Option<String>,
}

impl SubscriptionRequest {
    /// A request from `from`, with `status` and `nick` cut to their
    /// limits (empty texts are dropped).
    pub fn new(from: BareJid, status: Option<&str>, nick: Option<&str>) -> SubscriptionRequest {
        SubscriptionRequest {
            from,
            status: kept(status, MAX_STATUS_BYTES),
            nick: kept(nick, MAX_NICK_BYTES),
        }
    }

    /// A request with no status or nickname.
    pub fn bare(from: BareJid) -> SubscriptionRequest {
        SubscriptionRequest::new(from, None, None)
    }

    /// The record of a `<presence type='subscribe'/>` from `from`: its
    /// first `<status/>` child and its `<nick/>`, cut; everything else is
    /// dropped.
    pub fn from_presence(from: BareJid, presence: &Element) -> SubscriptionRequest {
        let status = presence
            .get_child("status", presence.ns())
            .map(Element::text);
        let nick = presence.get_child("nick", NS_NICK).map(Element::text);
        SubscriptionRequest::new(from, status.as_deref(), nick.as_deref())
    }

    /// The request as the `<presence type='subscribe'/>` sent to `owner`
    /// (`jabber:client`).
    pub fn to_presence(&self, owner: &BareJid) -> Element {
        let mut el = Element::builder("presence", NS_CLIENT)
            .attr("type", "subscribe")
            .attr("from", self.from.as_str())
            .attr("to", owner.as_str())
            .build();
        if let Some(s) = &self.status {
            el.append_child(Element::builder("status", NS_CLIENT).text(s).build());
        }
        if let Some(n) = &self.nick {
            el.append_child(Element::builder("nick", NS_NICK).text(n).build());
        }
        el
    }

    /// The requester's domain (what the per-domain cap counts).
    pub fn domain(&self) -> &str {
        self.from.domain()
    }
}

/// `text` cut to at most `max` bytes on a character boundary; `None` when
/// empty.
fn kept(text: Option<&str>, max: usize) -> Option<String> {
    let t = truncate_utf8(text?, max);
    (!t.is_empty()).then(|| t.to_owned())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        let table: &[(&str, usize, &str)] = &[
            ("", 4, ""),
            ("abc", 4, "abc"),
            ("abcd", 4, "abcd"),
            ("abcde", 4, "abcd"),
            // 'é' is 2 bytes, '€' 3, '𝄞' 4.
            ("aé", 2, "a"),
            ("aé", 3, "aé"),
            ("€€", 4, "€"),
            ("€€", 5, "€"),
            ("€€", 6, "€€"),
            ("𝄞x", 3, ""),
            ("𝄞x", 4, "𝄞"),
            ("x", 0, ""),
        ];
        for &(s, max, want) in table {
            assert_eq!(truncate_utf8(s, max), want, "{s:?} to {max}");
        }
    }

    #[test]
    fn record_of_a_big_request_is_small() {
        let status = "é".repeat(100_000);
        let nick = "n".repeat(1000);
        let xml = format!(
            "<presence xmlns='jabber:client' type='subscribe' to='juliet@capulet.lit'>\
             <status>{status}</status><status xml:lang='fr'>second</status>\
             <nick xmlns='{NS_NICK}'>{nick}</nick>\
             <x xmlns='urn:example'>{status}</x></presence>"
        );
        let el = Element::parse(xml.as_bytes()).unwrap();
        let r = SubscriptionRequest::from_presence(jid("romeo@montague.lit"), &el);
        let s = r.status.as_deref().unwrap();
        assert_eq!(s.len(), MAX_STATUS_BYTES);
        assert!(status.starts_with(s));
        assert_eq!(r.nick.as_deref(), Some(&nick[..MAX_NICK_BYTES]));
        let back = r.to_presence(&jid("juliet@capulet.lit")).to_xml();
        assert!(
            back.len() < MAX_STATUS_BYTES + MAX_NICK_BYTES + 300,
            "{back}"
        );
        assert!(!back.contains("urn:example"));
    }

    #[test]
    fn roundtrip_through_a_presence() {
        let owner = jid("juliet@capulet.lit");
        let cases = [
            SubscriptionRequest::bare(jid("romeo@montague.lit")),
            SubscriptionRequest::new(jid("montague.lit"), Some("hi <&> '\""), None),
            SubscriptionRequest::new(jid("a@b.lit"), None, Some("Romeo ❤")),
            SubscriptionRequest::new(jid("a@b.lit"), Some("s"), Some("n")),
        ];
        for r in cases {
            let el = r.to_presence(&owner);
            assert_eq!(el.attr("type"), Some("subscribe"));
            assert_eq!(el.attr("to"), Some(owner.as_str()));
            assert_eq!(el.attr("from"), Some(r.from.as_str()));
            let parsed = Element::parse(el.to_xml().as_bytes()).unwrap();
            let again = SubscriptionRequest::from_presence(r.from.clone(), &parsed);
            assert_eq!(again, r);
        }
        // Empty texts are not kept.
        let r = SubscriptionRequest::new(jid("a@b.lit"), Some(""), Some(""));
        assert_eq!(r, SubscriptionRequest::bare(jid("a@b.lit")));
        assert_eq!(r.domain(), "b.lit");
    }
}
