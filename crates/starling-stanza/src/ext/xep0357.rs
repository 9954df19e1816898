//! XEP-0357 Push Notifications (`urn:xmpp:push:0`).

use starling_jid::Jid;
use starling_xml::Element;

use super::{expect, parse_u32, req_jid, required};
use crate::error::ParseError;
use crate::ext::xep0004::{DataForm, Field, FieldType, FormType};
use crate::ns;
use crate::payload::Payload;

fn one_form(el: &Element) -> Result<Option<DataForm>, ParseError> {
    let mut forms = el.children().filter(|c| c.is(DataForm::NAME, DataForm::NS));
    match (forms.next(), forms.next()) {
        (None, _) => Ok(None),
        (Some(f), None) => DataForm::from_element(f).map(Some),
        (Some(_), Some(_)) => Err(ParseError::bad_request(format!(
            "<{}/> with more than one data form",
            el.name()
        ))),
    }
}

/// `<enable/>`: the client asks its server to send push notifications to
/// the app server `jid`, node `node` (XEP-0357 §5), optionally with
/// publish options (a submitted form, typically with a secret).
///
/// ```
/// use starling_stanza::{DataForm, Field, FieldType, FormType, Iq, PushEnable, ns};
///
/// let enable = PushEnable {
///     jid: "push-5.client.example".parse().unwrap(),
///     node: "yxs32uqsflafdk3iuqo".into(),
///     publish_options: Some(
///         DataForm::new(FormType::Submit)
///             .with_form_type(ns::PUBSUB_PUBLISH_OPTIONS)
///             .with_field(Field::new("secret", FieldType::TextSingle).with_value("eruio234vzxc2kla-91")),
///     ),
/// };
/// let iq = Iq::set("x42", enable.clone());
/// assert_eq!(iq.payload_as::<PushEnable>().unwrap().unwrap(), enable);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PushEnable {
    /// The app server.
    pub jid: Jid,
    /// The node on the app server (required).
    pub node: String,
    /// Publish options to send with each notification.
    pub publish_options: Option<DataForm>,
}

impl Payload for PushEnable {
    const NAME: &'static str = "enable";
    const NS: &'static str = ns::PUSH;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let jid = req_jid(el, "jid")?;
        let node = required(el, "node")?;
        if node.is_empty() {
            return Err(ParseError::bad_request("empty 'node'"));
        }
        Ok(PushEnable {
            jid,
            node: node.to_owned(),
            publish_options: one_form(el)?,
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        el.set_attr("jid", Some(self.jid.as_ref()));
        el.set_attr("node", Some(&self.node));
        if let Some(f) = &self.publish_options {
            el.append_child(f.to_element());
        }
        el
    }
}

/// `<disable/>`: stop notifications to the app server `jid`, for `node` or,
/// without one, for every node (XEP-0357 §6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PushDisable {
    /// The app server.
    pub jid: Jid,
    /// The node, or all of them.
    pub node: Option<String>,
}

impl Payload for PushDisable {
    const NAME: &'static str = "disable";
    const NS: &'static str = ns::PUSH;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        Ok(PushDisable {
            jid: req_jid(el, "jid")?,
            node: el.attr("node").map(str::to_owned),
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        el.set_attr("jid", Some(self.jid.as_ref()));
        if let Some(n) = &self.node {
            el.set_attr("node", Some(n));
        }
        el
    }
}

/// `<notification/>`: what the user's server publishes to the app server
/// (XEP-0357 §7), with an optional summary form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PushNotification {
    /// The summary form (see [`PushSummary`]).
    pub form: Option<DataForm>,
}

impl Payload for PushNotification {
    const NAME: &'static str = "notification";
    const NS: &'static str = ns::PUSH;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        Ok(PushNotification {
            form: one_form(el)?,
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        if let Some(f) = &self.form {
            el.append_child(f.to_element());
        }
        el
    }
}

/// The notification summary (`urn:xmpp:push:summary`, XEP-0357 §7): the
/// fields a server may put in a [`PushNotification`].
///
/// ```
/// use starling_stanza::{PushNotification, PushSummary};
///
/// let s = PushSummary {
///     message_count: Some(1),
///     last_message_sender: Some("juliet@capulet.example/balcony".parse().unwrap()),
///     last_message_body: Some("Wherefore art thou, Romeo?".into()),
/// };
/// let n = PushNotification { form: Some(s.to_form()) };
/// assert_eq!(PushSummary::from_form(n.form.as_ref().unwrap()).unwrap(), s);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PushSummary {
    /// Messages waiting (`message-count`).
    pub message_count: Option<u32>,
    /// Who sent the last one (`last-message-sender`).
    pub last_message_sender: Option<Jid>,
    /// Its body (`last-message-body`).
    pub last_message_body: Option<String>,
}

impl PushSummary {
    /// The summary as a `submit` form with `FORM_TYPE`
    /// `urn:xmpp:push:summary`; absent values are left out.
    pub fn to_form(&self) -> DataForm {
        let mut form = DataForm::new(FormType::Submit).with_form_type(ns::PUSH_SUMMARY);
        let text = |var: &str, v: String| Field {
            var: Some(var.into()),
            values: vec![v],
            ..Field::default()
        };
        if let Some(c) = self.message_count {
            form.fields.push(text("message-count", c.to_string()));
        }
        if let Some(j) = &self.last_message_sender {
            form.fields.push(Field {
                field_type: Some(FieldType::JidSingle),
                ..text("last-message-sender", j.to_string())
            });
        }
        if let Some(b) = &self.last_message_body {
            form.fields.push(text("last-message-body", b.clone()));
        }
        form
    }

    /// Reads a summary form; `bad-request` if its `FORM_TYPE` is not
    /// `urn:xmpp:push:summary` or the count is not a number,
    /// `jid-malformed` for a bad sender.
    pub fn from_form(form: &DataForm) -> Result<PushSummary, ParseError> {
        if form.form_type_value() != Some(ns::PUSH_SUMMARY) {
            return Err(ParseError::bad_request(format!(
                "the FORM_TYPE is not {:?}",
                ns::PUSH_SUMMARY
            )));
        }
        Ok(PushSummary {
            message_count: form
                .value("message-count")
                .map(|v| parse_u32("message-count", v))
                .transpose()?,
            last_message_sender: form
                .value("last-message-sender")
                .map(|v| {
                    v.parse()
                        .map_err(|e| ParseError::jid_malformed("last-message-sender", e))
                })
                .transpose()?,
            last_message_body: form.value("last-message-body").map(str::to_owned),
        })
    }
}
