//! XEP-0115 Entity Capabilities on the client side: [`stamp`] adds to
//! an available broadcast presence a `<c/>` computed from the disco#info
//! the client answers (§4, §5.1), so that the server and contacts learn
//! its features (among them the `NODE+notify` interests of XEP-0163)
//! without asking each time.
//!
//! A presence that already carries a `<c/>` is left as it is, as are
//! directed presence and every other type. The client must answer
//! disco#info at `NODE#VER` with the same `info` (§6.2), or the server
//! will not accept the caps.

use starling_stanza::{Caps, CapsHash, DiscoInfo, Payload, ns};
use starling_xml::Element;

/// The node of Starling's caps (§4: a URI naming the software).
pub const CLIENT_NODE: &str = "https://starling.example/client";

/// `el` with a `<c/>` for `info` (node [`CLIENT_NODE`], sha-1) when it
/// is an available presence without `to` and without caps; `el`
/// unchanged otherwise.
///
/// ```
/// use starling_client::caps::stamp;
/// use starling_stanza::{DiscoInfo, ns};
/// use starling_xml::Element;
///
/// let info = DiscoInfo { features: vec![ns::DISCO_INFO.into()], ..DiscoInfo::default() };
/// let p: Element = "<presence xmlns='jabber:client'/>".parse().unwrap();
/// assert!(stamp(p, &info).get_child("c", ns::CAPS).is_some());
/// ```
pub fn stamp(mut el: Element, info: &DiscoInfo) -> Element {
    let broadcast = el.name() == "presence"
        && el.ns() == ns::CLIENT
        && el.attr("type").is_none()
        && el.attr("to").is_none();
    if !broadcast || el.get_child(Caps::NAME, Caps::NS).is_some() {
        return el;
    }
    // A disco#info with duplicates has no string (§5.4): no caps then.
    if let Ok(caps) = Caps::for_info(info, CLIENT_NODE, CapsHash::Sha1) {
        el.append_child(caps.to_element());
    }
    el
}

#[cfg(test)]
mod tests {
    use starling_stanza::{Identity, caps_ver};

    use super::*;

    fn own_info() -> DiscoInfo {
        DiscoInfo {
            node: None,
            identities: vec![Identity {
                category: "client".into(),
                identity_type: "pc".into(),
                name: None,
                lang: None,
            }],
            features: [ns::CAPS, ns::DISCO_INFO, ns::PING]
                .map(str::to_owned)
                .to_vec(),
            extensions: Vec::new(),
        }
    }

    fn el(s: &str) -> Element {
        s.parse().unwrap()
    }

    #[test]
    fn only_available_broadcast_presence_gets_caps() {
        let info = own_info();
        let ver = caps_ver(&info, CapsHash::Sha1).unwrap();
        let table = [
            ("<presence xmlns='jabber:client'/>", true),
            (
                "<presence xmlns='jabber:client'><show>away</show></presence>",
                true,
            ),
            (
                "<presence xmlns='jabber:client' type='unavailable'/>",
                false,
            ),
            ("<presence xmlns='jabber:client' to='a@b.example'/>", false),
            (
                "<presence xmlns='jabber:client' type='subscribe' to='a@b.example'/>",
                false,
            ),
            ("<message xmlns='jabber:client'/>", false),
        ];
        for (xml, want) in table {
            let out = stamp(el(xml), &info);
            let caps = out
                .get_child(Caps::NAME, Caps::NS)
                .map(|c| Caps::from_element(c).unwrap());
            assert_eq!(caps.is_some(), want, "{xml}");
            if let Some(c) = caps {
                assert_eq!((c.hash.as_str(), c.node.as_str()), ("sha-1", CLIENT_NODE));
                assert_eq!(c.ver, ver);
            }
        }
        // The caller's own caps are kept, not doubled.
        let own = "<presence xmlns='jabber:client'>\
            <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='mine' ver='v'/></presence>";
        let out = stamp(el(own), &info);
        assert_eq!(out, el(own));
        // No caps for a disco#info without a verification string.
        let mut dup = own_info();
        dup.features.push(ns::PING.to_owned());
        let out = stamp(el("<presence xmlns='jabber:client'/>"), &dup);
        assert!(out.get_child(Caps::NAME, Caps::NS).is_none());
    }
}
