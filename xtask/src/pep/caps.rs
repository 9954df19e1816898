//! The contacts' entity capabilities (XEP-0115): their disco#info, the
//! `ver` computed from it (§5.1, SHA-1), the presence that announces it
//! and the answer to the server's disco#info query.
//!
//! The harness computes the hash itself so that it depends on nothing the
//! server under test implements; the unit tests check it against the
//! specification's examples.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};
use starling_xml::Element;

/// The namespace of the caps element.
pub(crate) const CAPS_NS: &str = "http://jabber.org/protocol/caps";

/// The namespace of disco#info.
pub(crate) const DISCO_INFO_NS: &str = "http://jabber.org/protocol/disco#info";

/// The PEP node the publisher publishes to, and the contacts want
/// notifications of (`NODE+notify`).
pub(crate) const BENCH_NODE: &str = "urn:starling:bench:pep";

/// The caps `node` of the benchmark's client software.
pub(crate) const CLIENT_NODE: &str = "https://starling.example/bench-pep";

/// One identity: category, type, `xml:lang`, name.
type Identity = (&'static str, &'static str, &'static str, &'static str);

/// What one contact answers to disco#info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiscoSet {
    identities: Vec<Identity>,
    features: Vec<String>,
}

impl DiscoSet {
    /// The disco#info of variant `variant`: every variant wants the
    /// benchmark node's notifications; variants other than 0 have one
    /// feature of their own, so that each has its own `ver`.
    pub(crate) fn variant(variant: usize) -> DiscoSet {
        let mut features = vec![
            CAPS_NS.to_owned(),
            DISCO_INFO_NS.to_owned(),
            "http://jabber.org/protocol/disco#items".to_owned(),
            format!("{BENCH_NODE}+notify"),
            // Notifications of a node nobody publishes to, as real
            // clients ask for several.
            "http://jabber.org/protocol/tune+notify".to_owned(),
        ];
        if variant > 0 {
            features.push(format!("urn:starling:bench:variant:{variant}"));
        }
        DiscoSet {
            identities: vec![("client", "bot", "", "starling bench-pep")],
            features,
        }
    }

    /// The verification string of XEP-0115 §5.1 (no data forms).
    fn verification_string(&self) -> String {
        let mut identities = self.identities.clone();
        identities.sort_unstable();
        let mut features: Vec<&str> = self.features.iter().map(String::as_str).collect();
        features.sort_unstable();
        features.dedup();
        let mut s = String::new();
        for (category, kind, lang, name) in identities {
            s.push_str(&format!("{category}/{kind}/{lang}/{name}<"));
        }
        for feature in features {
            s.push_str(feature);
            s.push('<');
        }
        s
    }

    /// The `ver` attribute: base64 of the SHA-1 of the verification string.
    pub(crate) fn ver(&self) -> String {
        STANDARD.encode(Sha1::digest(self.verification_string().as_bytes()))
    }

    /// The initial presence announcing these capabilities.
    pub(crate) fn presence(&self) -> String {
        format!(
            "<presence><c xmlns='{CAPS_NS}' hash='sha-1' node='{CLIENT_NODE}' ver='{}'/></presence>",
            self.ver()
        )
    }

    /// The `<query/>` of a disco#info result, for the queried `node` (if
    /// any).
    pub(crate) fn query(&self, node: Option<&str>) -> Element {
        let mut query = Element::builder("query", DISCO_INFO_NS)
            .attr_opt("node", node)
            .build();
        for (category, kind, lang, name) in &self.identities {
            let identity = Element::builder("identity", DISCO_INFO_NS)
                .attr("category", category)
                .attr("type", kind)
                .attr_opt("xml:lang", (!lang.is_empty()).then_some(*lang))
                .attr("name", name)
                .build();
            query.append_child(identity);
        }
        for feature in &self.features {
            let feature = Element::builder("feature", DISCO_INFO_NS)
                .attr("var", feature)
                .build();
            query.append_child(feature);
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_examples() {
        // XEP-0115 §5.2 (simple) and §5.3 without the data form: the
        // identities are sorted before the features, features by octets.
        let cases: [(Vec<Identity>, Vec<&str>, &str); 2] = [
            (
                vec![("client", "pc", "", "Exodus 0.9.1")],
                vec![
                    "http://jabber.org/protocol/muc",
                    "http://jabber.org/protocol/disco#info",
                    "http://jabber.org/protocol/caps",
                    "http://jabber.org/protocol/disco#items",
                ],
                "QgayPKawpkPSDYmwT/WM94uAlu0=",
            ),
            (
                vec![("client", "pc", "", "Exodus 0.9.1")],
                vec![
                    "http://jabber.org/protocol/disco#items",
                    "http://jabber.org/protocol/caps",
                    "http://jabber.org/protocol/muc",
                    "http://jabber.org/protocol/disco#info",
                ],
                "QgayPKawpkPSDYmwT/WM94uAlu0=",
            ),
        ];
        for (identities, features, ver) in cases {
            let set = DiscoSet {
                identities,
                features: features.into_iter().map(str::to_owned).collect(),
            };
            assert_eq!(set.ver(), ver);
        }
    }

    #[test]
    fn variants_differ_and_want_the_node() {
        let (a, b, c) = (
            DiscoSet::variant(0),
            DiscoSet::variant(1),
            DiscoSet::variant(2),
        );
        assert_ne!(a.ver(), b.ver());
        assert_ne!(b.ver(), c.ver());
        assert_eq!(a.ver(), DiscoSet::variant(0).ver());
        let query = b.query(Some("n#v"));
        assert_eq!(query.attr("node"), Some("n#v"));
        let notify = format!("{BENCH_NODE}+notify");
        assert!(
            query
                .children()
                .any(|f| f.name() == "feature" && f.attr("var") == Some(notify.as_str()))
        );
        assert!(a.presence().contains(&format!("ver='{}'", a.ver())));
    }
}
