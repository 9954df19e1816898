//! XEP-0402 PEP Native Bookmarks (`urn:xmpp:bookmarks:1`): one
//! `<conference/>` per room, each the payload of the item whose id is the
//! room's JID, in the account's `urn:xmpp:bookmarks:1` PEP node.

use starling_xml::Element;

use super::{expect, opt_bool, text_el};
use crate::error::ParseError;
use crate::ext::xep0004::{DataForm, FormType};
use crate::ext::xep0060::{AccessModel, MaxItems, NodeConfig, SendLastPublished};
use crate::ns;
use crate::payload::Payload;

/// A bookmarked room (XEP-0402 §3): the room's JID is the item id.
///
/// ```
/// use starling_stanza::{Conference, Payload};
///
/// let el = "<conference xmlns='urn:xmpp:bookmarks:1' name='The Play&apos;s the Thing' autojoin='true'>\
///     <nick>JC</nick></conference>".parse().unwrap();
/// let c = Conference::from_element(&el).unwrap();
/// assert!(c.autojoin);
/// assert_eq!(c.nick.as_deref(), Some("JC"));
/// assert_eq!(Conference::from_element(&c.to_element()).unwrap(), c);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Conference {
    /// A friendly name (`name`).
    pub name: Option<String>,
    /// Join the room when the client starts (`autojoin`, default false).
    pub autojoin: bool,
    /// The nickname to use (`<nick/>`).
    pub nick: Option<String>,
    /// The room's password (`<password/>`), unencrypted.
    pub password: Option<String>,
    /// `<extensions/>`: elements other clients stored, kept unchanged.
    pub extensions: Option<Element>,
}

impl Conference {
    /// The publish options XEP-0402 §4 (and XEP-0223) requires: persisted,
    /// as many items as the service allows, never sent on its own, private.
    pub fn publish_options() -> NodeConfig {
        NodeConfig {
            persist_items: Some(true),
            max_items: Some(MaxItems::Max),
            send_last_published_item: Some(SendLastPublished::Never),
            access_model: Some(AccessModel::Whitelist),
            ..NodeConfig::default()
        }
    }

    /// [`publish_options`](Self::publish_options) as the form that goes
    /// in `<publish-options/>`.
    pub fn publish_options_form() -> DataForm {
        Self::publish_options().to_form(FormType::Submit, ns::PUBSUB_PUBLISH_OPTIONS)
    }
}

impl Payload for Conference {
    const NAME: &'static str = "conference";
    const NS: &'static str = ns::BOOKMARKS2;

    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let one = |name: &str| -> Result<Option<String>, ParseError> {
            let mut it = el.children().filter(|c| c.is(name, Self::NS));
            let first = it.next().map(Element::text);
            if it.next().is_some() {
                return Err(ParseError::bad_request(format!(
                    "<conference/> with more than one <{name}/>"
                )));
            }
            Ok(first)
        };
        Ok(Conference {
            name: el.attr("name").map(str::to_owned),
            autojoin: opt_bool(el, "autojoin")?,
            nick: one("nick")?,
            password: one("password")?,
            extensions: el.get_child("extensions", Self::NS).cloned(),
        })
    }

    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        if let Some(n) = &self.name {
            el.set_attr("name", Some(n));
        }
        if self.autojoin {
            el.set_attr("autojoin", Some("true"));
        }
        if let Some(n) = &self.nick {
            el.append_child(text_el("nick", Self::NS, n));
        }
        if let Some(p) = &self.password {
            el.append_child(text_el("password", Self::NS, p));
        }
        if let Some(x) = &self.extensions {
            el.append_child(x.clone());
        }
        el
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_and_invalid_input() {
        let table: &[(&str, Option<Conference>)] = &[
            (
                "<conference xmlns='urn:xmpp:bookmarks:1' name='Council of Oberon' autojoin='1'><nick>Puck</nick><password>b</password></conference>",
                Some(Conference {
                    name: Some("Council of Oberon".into()),
                    autojoin: true,
                    nick: Some("Puck".into()),
                    password: Some("b".into()),
                    extensions: None,
                }),
            ),
            (
                "<conference xmlns='urn:xmpp:bookmarks:1'/>",
                Some(Conference::default()),
            ),
            (
                "<conference xmlns='urn:xmpp:bookmarks:1' autojoin='perhaps'/>",
                None,
            ),
            (
                "<conference xmlns='urn:xmpp:bookmarks:1'><nick>a</nick><nick>b</nick></conference>",
                None,
            ),
            ("<conference xmlns='storage:bookmarks'/>", None),
        ];
        for (xml, want) in table {
            let el: Element = xml.parse().expect("xml");
            let got = Conference::from_element(&el).ok();
            assert_eq!(&got, want, "{xml}");
            if let Some(c) = got {
                let back = Element::parse(c.to_element().to_xml().as_bytes()).expect("bytes");
                assert_eq!(Conference::from_element(&back).expect("parses"), c);
            }
        }
    }

    #[test]
    fn extensions_are_kept() {
        let el: Element = "<conference xmlns='urn:xmpp:bookmarks:1'><extensions><state xmlns='http://myclient.example/bookmark/state' minimized='true'/></extensions></conference>"
            .parse()
            .expect("xml");
        let c = Conference::from_element(&el).expect("parses");
        assert_eq!(c.to_element(), el);
    }

    #[test]
    fn publish_options_follow_section_4() {
        let form = Conference::publish_options_form();
        assert_eq!(form.form_type_value(), Some(ns::PUBSUB_PUBLISH_OPTIONS));
        assert_eq!(form.value("pubsub#persist_items"), Some("1"));
        assert_eq!(form.value("pubsub#max_items"), Some("max"));
        assert_eq!(form.value("pubsub#send_last_published_item"), Some("never"));
        assert_eq!(form.value("pubsub#access_model"), Some("whitelist"));
    }
}
