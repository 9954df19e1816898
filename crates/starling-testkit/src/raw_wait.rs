//! Waiting on a [`Raw`] connection for a particular element, keeping
//! what came before it (to check what did, or did not, arrive first).

use starling_xml::Element;

use crate::raw::{Got, Raw};
use crate::wait::WAIT;

impl Raw {
    /// Logs `account` (password `pw-<user>`) in with `resource` and sends
    /// initial presence, waiting until the server has processed it (a
    /// ping after it is answered).
    pub async fn available(port: u16, ca: &std::path::Path, account: &str, resource: &str) -> Raw {
        let mut raw = Raw::login_test_user(port, ca, account, resource).await;
        raw.send_str("<presence/>").await.expect("presence");
        raw.iq("get", "available", None, "<ping xmlns='urn:xmpp:ping'/>")
            .await;
        raw
    }

    /// Logs `account` (password `pw-<user>`, as the test servers create
    /// it) in with `resource`, sending nothing else.
    pub async fn login_test_user(
        port: u16,
        ca: &std::path::Path,
        account: &str,
        resource: &str,
    ) -> Raw {
        let user = account.split('@').next().unwrap_or(account);
        Raw::login(port, ca, account, &format!("pw-{user}"), Some(resource)).await
    }

    /// Reads until an element for which `pred` is true arrives (within
    /// [`WAIT`] each), and returns the elements that came before it and
    /// the element itself. `what` names it in the panic message.
    ///
    /// # Panics
    ///
    /// When the stream ends, or nothing matching comes in time.
    pub async fn until(
        &mut self,
        what: &str,
        pred: impl Fn(&Element) -> bool,
    ) -> (Vec<Element>, Element) {
        let mut before = Vec::new();
        loop {
            match self.next(WAIT).await {
                Got::Element(e) if pred(&e) => return (before, e),
                Got::Element(e) => before.push(e),
                Got::Header | Got::Features(_) => {}
                other => panic!(
                    "{:?}: waiting for {what}, got {other:?} after {before:?}",
                    self.jid
                ),
            }
        }
    }

    /// Sends an iq `set` or `get` with id `id` and `payload` (XML text)
    /// to `to` (none: the account), and waits for its answer; returns the
    /// answer and what came before it.
    ///
    /// # Panics
    ///
    /// When writing fails or no answer comes in time.
    pub async fn iq(
        &mut self,
        iq_type: &str,
        id: &str,
        to: Option<&str>,
        payload: &str,
    ) -> (Vec<Element>, Element) {
        let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
        self.send_str(&format!(
            "<iq type='{iq_type}' id='{id}'{to}>{payload}</iq>"
        ))
        .await
        .expect("writing an iq");
        self.until(&format!("the answer to iq {id}"), |e| {
            e.name() == "iq" && e.attr("id") == Some(id)
        })
        .await
    }
}

/// The text of the first `<body/>` of a message element.
pub fn body_of(el: &Element) -> Option<String> {
    if el.name() != "message" {
        return None;
    }
    el.children()
        .find(|c| c.name() == "body")
        .map(Element::text)
}

/// The message a carbon (`<sent/>` or `<received/>`, per `kind`, in
/// `urn:xmpp:carbons:2`) wraps, if `el` is one.
pub fn carbon_of<'a>(el: &'a Element, kind: &str) -> Option<&'a Element> {
    if el.name() != "message" {
        return None;
    }
    el.children()
        .find(|c| c.is(kind, "urn:xmpp:carbons:2"))?
        .children()
        .find(|c| c.is("forwarded", "urn:xmpp:forward:0"))?
        .children()
        .find(|c| c.name() == "message")
}
