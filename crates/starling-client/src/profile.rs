//! What a user publishes about themselves and keeps on their server:
//! vCards (XEP-0054), private XML storage (XEP-0049) and the nickname
//! sent with a subscription request (XEP-0172).

use starling_jid::{BareJid, Jid};
use starling_stanza::{Iq, Nick, Payload, Presence, PresenceType, PrivateQuery, VCard};
use starling_xml::Element;

use crate::client::ClientHandle;
use crate::error::Error;

impl ClientHandle {
    /// The vCard of `jid` (XEP-0054 §3.1), or the account's own with
    /// `None`. A server that has none answers with an empty vCard or an
    /// `item-not-found` error (both allowed by §3.1); both come back as an
    /// empty [`VCard`].
    pub async fn vcard(&self, jid: Option<BareJid>) -> Result<VCard, Error> {
        let mut iq = Iq::get(self.new_id(), VCard::new());
        iq.header.to = jid.map(Jid::from);
        let reply = match self.request(iq).await {
            Ok(r) => r,
            Err(Error::Stanza(e))
                if e.condition == starling_stanza::StanzaErrorCondition::ItemNotFound =>
            {
                return Ok(VCard::new());
            }
            Err(e) => return Err(e),
        };
        match reply.payload_as::<VCard>() {
            Some(Ok(card)) => Ok(card),
            Some(Err(e)) => Err(Error::Invalid(e.to_string())),
            None => Ok(VCard::new()),
        }
    }

    /// Stores the account's vCard (XEP-0054 §3.2), replacing the old one.
    pub async fn set_vcard(&self, card: VCard) -> Result<(), Error> {
        self.request(Iq::set(self.new_id(), card)).await.map(|_| ())
    }

    /// The account's private element `name` in `ns` (XEP-0049); when
    /// nothing was stored the server answers with the empty element.
    pub async fn private_get(&self, name: &str, ns: &str) -> Result<Element, Error> {
        let reply = self
            .request(Iq::get(self.new_id(), PrivateQuery::get(name, ns)))
            .await?;
        match reply.payload_as::<PrivateQuery>() {
            Some(Ok(q)) => Ok(q.child),
            Some(Err(e)) => Err(Error::Invalid(e.to_string())),
            None => Err(Error::Invalid(
                "private storage answer without <query/>".to_owned(),
            )),
        }
    }

    /// Stores `el` in the account's private storage (XEP-0049), replacing
    /// the element of the same name and namespace.
    pub async fn private_set(&self, el: Element) -> Result<(), Error> {
        if PrivateQuery::is_reserved(el.ns()) {
            return Err(Error::Invalid(format!(
                "private storage: the namespace {:?} is reserved",
                el.ns()
            )));
        }
        self.request(Iq::set(self.new_id(), PrivateQuery::new(el)))
            .await
            .map(|_| ())
    }

    /// Asks `jid` for a presence subscription (RFC 6121 §3.1) with the
    /// user's nickname (XEP-0172 §4.1).
    pub async fn subscribe_with_nick(&self, jid: BareJid, nick: &str) -> Result<(), Error> {
        let mut p = Presence::new(PresenceType::Subscribe);
        p.header.to = Some(Jid::from(jid));
        p.payloads.push(Nick(nick.to_owned()).to_element());
        self.send_presence(p).await
    }
}
