//! What the client says about itself (XEP-0030 disco#info): the identity
//! `client/pc` and its features, among them the `NODE+notify` interests
//! of XEP-0163 §4 that make the server send PEP notifications of `NODE`.
//! XEP-0115 caps are computed from the same [`DiscoInfo`].

use starling_jid::FullJid;
use starling_stanza::{
    DiscoInfo, Identity, Iq, IqKind, Payload, StanzaError, StanzaErrorCondition, ns,
};

use crate::builder::ClientBuilder;

/// The features and identity the client advertises.
#[derive(Debug, Clone, Default)]
pub(crate) struct OwnDisco {
    /// Features besides the built-in ones, in the order added.
    pub(crate) features: Vec<String>,
    /// The identity's name.
    pub(crate) name: Option<String>,
}

/// At most this many features (and `+notify` interests) are advertised;
/// more are ignored, so a runaway caller cannot grow the disco answer
/// without bound.
pub const MAX_FEATURES: usize = 256;

/// The features every Starling client has.
const BUILT_IN: &[&str] = &[ns::CAPS, ns::DISCO_INFO, ns::PING];

impl ClientBuilder {
    /// Declares interest in the PEP node `node` (XEP-0163 §4): the client
    /// advertises `NODE+notify`, so the server sends the contacts'
    /// notifications of that node as [`Event::PubSub`](crate::Event::PubSub).
    ///
    /// ```
    /// use starling_client::Client;
    ///
    /// let b = Client::builder("juliet@example.com".parse().unwrap(), "secret")
    ///     .notify("http://jabber.org/protocol/tune")
    ///     .notify("urn:xmpp:bookmarks:1");
    /// assert!(b.disco_info().features.contains(&"urn:xmpp:bookmarks:1+notify".to_owned()));
    /// ```
    pub fn notify(self, node: &str) -> Self {
        self.feature(&format!("{node}+notify"))
    }

    /// Advertises a feature in the client's disco#info (duplicates and
    /// anything past [`MAX_FEATURES`] are ignored).
    pub fn feature(mut self, var: &str) -> Self {
        let f = &mut self.disco.features;
        if f.len() < MAX_FEATURES && !f.iter().any(|v| v == var) && !BUILT_IN.contains(&var) {
            f.push(var.to_owned());
        }
        self
    }

    /// The name in the client's identity (default: none).
    pub fn client_name(mut self, name: &str) -> Self {
        self.disco.name = Some(name.to_owned());
        self
    }

    /// What the client answers to disco#info: identity `client/pc`, the
    /// built-in features (caps, disco#info, ping) and the ones added with
    /// [`feature`](Self::feature) and [`notify`](Self::notify), sorted.
    pub fn disco_info(&self) -> DiscoInfo {
        let mut features: Vec<String> = BUILT_IN.iter().map(|s| (*s).to_owned()).collect();
        features.extend(self.disco.features.iter().cloned());
        features.sort();
        features.dedup();
        DiscoInfo {
            node: None,
            identities: vec![Identity {
                category: "client".into(),
                identity_type: "pc".into(),
                name: self.disco.name.clone(),
                lang: None,
            }],
            features,
            extensions: Vec::new(),
        }
    }
}

/// The answer to a disco#info request sent to the client, if `iq` is one
/// addressed to its full JID (or with no `to`): the disco#info for no
/// node or for a caps node (`…#ver`, XEP-0115 §6.2, which echoes the node);
/// `item-not-found` for another node.
pub(crate) fn answer(builder: &ClientBuilder, own: &FullJid, iq: &Iq) -> Option<Iq> {
    let IqKind::Get(p) = &iq.kind else {
        return None;
    };
    if !p.is(DiscoInfo::NAME, DiscoInfo::NS) {
        return None;
    }
    if iq
        .header
        .to
        .as_ref()
        .is_some_and(|t| t.as_str() != own.as_str())
    {
        return None;
    }
    let node = p.attr("node");
    if node.is_some_and(|n| !n.contains('#')) {
        return Some(iq.error_reply(StanzaError::new(StanzaErrorCondition::ItemNotFound)));
    }
    let mut info = builder.disco_info();
    info.node = node.map(str::to_owned);
    Some(iq.result(Some(info.to_element())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Client;
    use crate::pep::tests::iq;

    #[test]
    fn answers_disco_info_to_the_full_jid_only() {
        let b = Client::builder("juliet@capulet.example".parse().expect("jid"), "x")
            .notify("urn:xmpp:avatar:metadata")
            .notify("urn:xmpp:avatar:metadata")
            .client_name("Starling");
        let own: FullJid = "juliet@capulet.example/balcony".parse().expect("jid");
        let q = "<query xmlns='http://jabber.org/protocol/disco#info'";
        let table: &[(String, Option<&str>)] = &[
            (
                format!(
                    "<iq xmlns='jabber:client' type='get' id='a' from='romeo@montague.example/g' to='juliet@capulet.example/balcony'>{q}/></iq>"
                ),
                Some("result"),
            ),
            (
                format!("<iq xmlns='jabber:client' type='get' id='b'>{q}/></iq>"),
                Some("result"),
            ),
            (
                format!(
                    "<iq xmlns='jabber:client' type='get' id='c' to='juliet@capulet.example/balcony'>{q} node='https://starling.example#QgayPKawpkPSDYmwT/WM94uAlu0='/></iq>"
                ),
                Some("result"),
            ),
            (
                format!(
                    "<iq xmlns='jabber:client' type='get' id='d' to='juliet@capulet.example/balcony'>{q} node='other'/></iq>"
                ),
                Some("error"),
            ),
            (
                format!(
                    "<iq xmlns='jabber:client' type='get' id='e' to='juliet@capulet.example'>{q}/></iq>"
                ),
                None,
            ),
            (
                format!("<iq xmlns='jabber:client' type='set' id='f'>{q}/></iq>"),
                None,
            ),
            (
                "<iq xmlns='jabber:client' type='get' id='g'><ping xmlns='urn:xmpp:ping'/></iq>"
                    .to_owned(),
                None,
            ),
        ];
        for (xml, want) in table {
            let got = answer(&b, &own, &iq(xml)).map(|r| r.to_element());
            assert_eq!(got.as_ref().and_then(|e| e.attr("type")), *want, "{xml}");
            if *want == Some("result") {
                let r = Iq::from_element(got.as_ref().expect("reply")).expect("iq");
                let info = r
                    .payload_as::<DiscoInfo>()
                    .expect("payload")
                    .expect("disco");
                assert_eq!(info.identities[0].category, "client");
                assert_eq!(info.identities[0].identity_type, "pc");
                assert_eq!(
                    info.features,
                    [
                        ns::CAPS,
                        ns::DISCO_INFO,
                        "urn:xmpp:avatar:metadata+notify",
                        ns::PING
                    ]
                );
            }
        }
    }

    #[test]
    fn features_are_bounded() {
        let mut b = Client::builder("a@b.example".parse().expect("jid"), "x");
        for i in 0..MAX_FEATURES + 10 {
            b = b.feature(&format!("urn:example:{i}"));
        }
        assert_eq!(b.disco_info().features.len(), MAX_FEATURES + BUILT_IN.len());
    }
}
