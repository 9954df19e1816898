//! What PEP and entity-capabilities tests do on [`Raw`] connections:
//! a mutual presence subscription, caps in presence (answering the
//! server's disco#info query, XEP-0115 §6.2), markers that prove what
//! did not arrive, and the events a connection received.

use starling_stanza::{CapsHash, DiscoInfo, Identity, Payload, caps_ver, ns};
use starling_xml::Element;

use crate::raw::Raw;

/// The caps node the test clients advertise.
pub const TEST_NODE: &str = "https://starling.example/testkit";

impl Raw {
    /// Waits until the server answered a ping: everything sent before is
    /// processed. Returns what arrived meanwhile.
    pub async fn sync(&mut self) -> Vec<Element> {
        let id = format!("sync-{}", crate::raw::next_id());
        self.iq("get", &id, None, "<ping xmlns='urn:xmpp:ping'/>")
            .await
            .0
    }

    /// Sends available presence with XEP-0115 caps for `features` (and
    /// identity `client/pc`), answers the server's disco#info query for
    /// them if one comes, and waits until the server has the answer.
    /// Returns the verification string and what else arrived meanwhile.
    pub async fn announce_caps(&mut self, features: &[&str]) -> (String, Vec<Element>) {
        let info = DiscoInfo {
            node: None,
            identities: vec![Identity {
                category: "client".to_owned(),
                identity_type: "pc".to_owned(),
                name: Some("testkit".to_owned()),
                lang: None,
            }],
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            extensions: Vec::new(),
        };
        let ver = caps_ver(&info, CapsHash::Sha1).expect("valid disco#info");
        self.send_str(&format!(
            "<presence><c xmlns='{}' hash='sha-1' node='{TEST_NODE}' ver='{ver}'/></presence>",
            ns::CAPS
        ))
        .await
        .expect("presence");
        let mut other = Vec::new();
        // The query may come before or after the ping's answer: answer
        // what came, until a round brings none.
        let mut answered = 0;
        for _ in 0..3 {
            let before = answered;
            for e in self.sync().await {
                let query = e
                    .get_child("query", ns::DISCO_INFO)
                    .filter(|_| e.name() == "iq" && e.attr("type") == Some("get"));
                match query {
                    Some(q) => {
                        let mut answer = info.clone();
                        answer.node = q.attr("node").map(str::to_owned);
                        let mut reply = Element::new("iq", ns::CLIENT);
                        reply.set_attr("type", Some("result"));
                        reply.set_attr("id", e.attr("id"));
                        reply.set_attr("to", e.attr("from"));
                        reply.append_child(answer.to_element());
                        self.send_str(&reply.to_string())
                            .await
                            .expect("disco#info answer");
                        answered += 1;
                    }
                    None => other.push(e),
                }
            }
            if answered == before && answered > 0 {
                break;
            }
        }
        (ver, other)
    }

    /// Makes `a` and `b` subscribed to each other's presence (both ways,
    /// RFC 6121 §3), and waits until the server processed it all.
    pub async fn befriend(a: &mut Raw, b: &mut Raw) {
        Raw::subscribe_to(a, b).await;
        Raw::subscribe_to(b, a).await;
    }

    /// `x` subscribes to `y`'s presence and `y` approves.
    async fn subscribe_to(x: &mut Raw, y: &mut Raw) {
        let (xb, yb) = (x.full_jid().bare(), y.full_jid().bare());
        x.send_str(&format!("<presence to='{yb}' type='subscribe'/>"))
            .await
            .expect("subscribe");
        x.sync().await;
        y.send_str(&format!("<presence to='{xb}' type='subscribed'/>"))
            .await
            .expect("subscribed");
        y.sync().await;
        x.sync().await;
    }

    /// Sends `to` a message with a fresh marker body from `self` and
    /// returns what `to` received before it.
    pub async fn marker_to(&mut self, to: &mut Raw) -> Vec<Element> {
        let marker = format!("marker-{}", crate::raw::next_id());
        self.send_str(&format!(
            "<message to='{}' type='chat'><body>{marker}</body></message>",
            to.full_jid()
        ))
        .await
        .expect("marker");
        to.until(&marker, |e| {
            crate::raw_wait::body_of(e).as_deref() == Some(&marker)
        })
        .await
        .0
    }
}

/// The `pubsub#event` payload of a message, if it is a notification.
pub fn event_of(e: &Element) -> Option<&Element> {
    (e.name() == "message")
        .then(|| e.get_child("event", ns::PUBSUB_EVENT))
        .flatten()
}
