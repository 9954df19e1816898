//! The `http://jabber.org/protocol/pubsub#errors` conditions
//! (XEP-0060 §14.2), each with the stanza error XEP-0060 pairs it with.

use starling_xml::Element;

use crate::error::{Condition, ErrorType, ParseError, StanzaError};
use crate::ns;

/// A pubsub-specific error condition; [`PubSubError::stanza_error`]
/// builds the full stanza error (general condition + this element).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PubSubError {
    /// `closed-node` (with `not-allowed`).
    ClosedNode,
    /// `configuration-required` (with `not-acceptable`).
    ConfigurationRequired,
    /// `invalid-jid` (with `bad-request`).
    InvalidJid,
    /// `invalid-options` (with `bad-request`).
    InvalidOptions,
    /// `invalid-payload` (with `bad-request`).
    InvalidPayload,
    /// `invalid-subid` (with `not-acceptable`).
    InvalidSubid,
    /// `item-forbidden` (with `bad-request`).
    ItemForbidden,
    /// `item-required` (with `bad-request`).
    ItemRequired,
    /// `jid-required` (with `bad-request`).
    JidRequired,
    /// `max-items-exceeded` (with `bad-request`).
    MaxItemsExceeded,
    /// `max-nodes-exceeded` (with `not-allowed`).
    MaxNodesExceeded,
    /// `nodeid-required` (with `bad-request`).
    NodeIdRequired,
    /// `not-in-roster-group` (with `not-authorized`).
    NotInRosterGroup,
    /// `not-subscribed` (with `unexpected-request`).
    NotSubscribed,
    /// `payload-too-big` (with `not-acceptable`).
    PayloadTooBig,
    /// `payload-required` (with `bad-request`).
    PayloadRequired,
    /// `pending-subscription` (with `not-authorized`).
    PendingSubscription,
    /// `precondition-not-met` (with `conflict`).
    PreconditionNotMet,
    /// `presence-subscription-required` (with `not-authorized`).
    PresenceSubscriptionRequired,
    /// `subid-required` (with `bad-request`).
    SubidRequired,
    /// `too-many-subscriptions` (with `not-allowed`).
    TooManySubscriptions,
    /// `unsupported` with the `feature` attribute (with
    /// `feature-not-implemented`).
    Unsupported(String),
}

/// The names of the conditions without a value, in declaration order.
const NAMES: &[(&str, PubSubError)] = &[
    ("closed-node", PubSubError::ClosedNode),
    ("configuration-required", PubSubError::ConfigurationRequired),
    ("invalid-jid", PubSubError::InvalidJid),
    ("invalid-options", PubSubError::InvalidOptions),
    ("invalid-payload", PubSubError::InvalidPayload),
    ("invalid-subid", PubSubError::InvalidSubid),
    ("item-forbidden", PubSubError::ItemForbidden),
    ("item-required", PubSubError::ItemRequired),
    ("jid-required", PubSubError::JidRequired),
    ("max-items-exceeded", PubSubError::MaxItemsExceeded),
    ("max-nodes-exceeded", PubSubError::MaxNodesExceeded),
    ("nodeid-required", PubSubError::NodeIdRequired),
    ("not-in-roster-group", PubSubError::NotInRosterGroup),
    ("not-subscribed", PubSubError::NotSubscribed),
    ("payload-too-big", PubSubError::PayloadTooBig),
    ("payload-required", PubSubError::PayloadRequired),
    ("pending-subscription", PubSubError::PendingSubscription),
    ("precondition-not-met", PubSubError::PreconditionNotMet),
    (
        "presence-subscription-required",
        PubSubError::PresenceSubscriptionRequired,
    ),
    ("subid-required", PubSubError::SubidRequired),
    ("too-many-subscriptions", PubSubError::TooManySubscriptions),
];

impl PubSubError {
    /// The element name of the condition.
    pub fn name(&self) -> &'static str {
        match self {
            PubSubError::Unsupported(_) => "unsupported",
            other => NAMES
                .iter()
                .find(|(_, e)| e == other)
                .map_or("unsupported", |(n, _)| n),
        }
    }

    /// The general stanza error condition and the error type XEP-0060
    /// sends with this condition (§6–§8 examples): `modify` for the
    /// request's own mistakes (`bad-request`, `not-acceptable`), `auth` for
    /// missing rights (`not-authorized`), `cancel` for what retrying does
    /// not cure (`not-allowed`, `conflict`, `unexpected-request`,
    /// `feature-not-implemented`), and `wait` for `too-many-subscriptions`
    /// (a limit that may be lifted later).
    pub fn condition(&self) -> (Condition, ErrorType) {
        use PubSubError as E;
        match self {
            E::ClosedNode | E::MaxNodesExceeded => (Condition::NotAllowed, ErrorType::Cancel),
            E::TooManySubscriptions => (Condition::NotAllowed, ErrorType::Wait),
            E::ConfigurationRequired | E::InvalidSubid | E::PayloadTooBig => {
                (Condition::NotAcceptable, ErrorType::Modify)
            }
            E::InvalidJid
            | E::InvalidOptions
            | E::InvalidPayload
            | E::ItemForbidden
            | E::ItemRequired
            | E::JidRequired
            | E::MaxItemsExceeded
            | E::NodeIdRequired
            | E::PayloadRequired
            | E::SubidRequired => (Condition::BadRequest, ErrorType::Modify),
            E::NotInRosterGroup | E::PendingSubscription | E::PresenceSubscriptionRequired => {
                (Condition::NotAuthorized, ErrorType::Auth)
            }
            E::NotSubscribed => (Condition::UnexpectedRequest, ErrorType::Cancel),
            E::PreconditionNotMet => (Condition::Conflict, ErrorType::Cancel),
            E::Unsupported(_) => (Condition::FeatureNotImplemented, ErrorType::Cancel),
        }
    }

    /// The application condition element, e.g.
    /// `<precondition-not-met xmlns='http://jabber.org/protocol/pubsub#errors'/>`
    /// or `<unsupported xmlns='…#errors' feature='publish-options'/>`.
    pub fn element(&self) -> Element {
        let mut el = Element::new(self.name(), ns::PUBSUB_ERRORS);
        if let PubSubError::Unsupported(feature) = self {
            el.set_attr("feature", Some(feature));
        }
        el
    }

    /// The full stanza error: general condition, type and this element.
    ///
    /// ```
    /// use starling_stanza::{ErrorType, PubSubError, StanzaErrorCondition};
    ///
    /// let e = PubSubError::PreconditionNotMet.stanza_error();
    /// assert_eq!(e.condition, StanzaErrorCondition::Conflict);
    /// assert_eq!(e.error_type, ErrorType::Cancel);
    /// assert_eq!(PubSubError::from_stanza_error(&e), Some(PubSubError::PreconditionNotMet));
    /// ```
    pub fn stanza_error(&self) -> StanzaError {
        let (condition, error_type) = self.condition();
        let mut e = StanzaError::new(condition).with_type(error_type);
        e.application = Some(Box::new(self.element()));
        e
    }

    /// A [`ParseError`] with this condition, for a request that cannot be
    /// read: its [`to_stanza_error`](ParseError::to_stanza_error) carries
    /// the pubsub element.
    pub fn parse_error(&self, reason: impl Into<String>) -> ParseError {
        ParseError::new(self.condition().0, reason).with_application(self.element())
    }

    /// Reads the application condition element (`None` outside
    /// `pubsub#errors` or for an unknown name).
    pub fn from_element(el: &Element) -> Option<PubSubError> {
        if el.ns() != ns::PUBSUB_ERRORS {
            return None;
        }
        if el.name() == "unsupported" {
            return Some(PubSubError::Unsupported(
                el.attr("feature").unwrap_or_default().to_owned(),
            ));
        }
        NAMES
            .iter()
            .find(|(n, _)| *n == el.name())
            .map(|(_, e)| e.clone())
    }

    /// The pubsub condition of a stanza error received, if it has one.
    pub fn from_stanza_error(e: &StanzaError) -> Option<PubSubError> {
        e.application.as_deref().and_then(PubSubError::from_element)
    }
}

impl std::fmt::Display for PubSubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PubSubError::Unsupported(feature) => write!(f, "unsupported ({feature})"),
            other => f.write_str(other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_round_trips_through_a_stanza_error() {
        let mut all: Vec<PubSubError> = NAMES.iter().map(|(_, e)| e.clone()).collect();
        all.push(PubSubError::Unsupported("publish-options".into()));
        for e in all {
            let se = e.stanza_error();
            let el = se.to_element();
            let back = StanzaError::from_element(&el).expect("an error element");
            assert_eq!(back, se, "{e}");
            assert_eq!(PubSubError::from_stanza_error(&back), Some(e.clone()));
        }
    }

    #[test]
    fn conditions_and_types_follow_xep0060() {
        let table: &[(PubSubError, Condition, ErrorType, &str)] = &[
            (
                PubSubError::PreconditionNotMet,
                Condition::Conflict,
                ErrorType::Cancel,
                "<error type='cancel'><conflict/><precondition-not-met/> (§7.1.5)",
            ),
            (
                PubSubError::NodeIdRequired,
                Condition::BadRequest,
                ErrorType::Modify,
                "§7.1.3.3",
            ),
            (
                PubSubError::NotSubscribed,
                Condition::UnexpectedRequest,
                ErrorType::Cancel,
                "§6.2.3.2",
            ),
            (
                PubSubError::PresenceSubscriptionRequired,
                Condition::NotAuthorized,
                ErrorType::Auth,
                "§6.1.3.2",
            ),
            (
                PubSubError::ClosedNode,
                Condition::NotAllowed,
                ErrorType::Cancel,
                "§6.1.3.4",
            ),
            (
                PubSubError::PayloadTooBig,
                Condition::NotAcceptable,
                ErrorType::Modify,
                "§7.1.3.4",
            ),
            (
                PubSubError::Unsupported("persistent-items".into()),
                Condition::FeatureNotImplemented,
                ErrorType::Cancel,
                "§6.5.9.4",
            ),
        ];
        for (e, c, t, why) in table {
            assert_eq!(e.condition(), (c.clone(), *t), "{why}");
        }
    }

    #[test]
    fn the_unsupported_element_names_its_feature() {
        let el = PubSubError::Unsupported("publish-options".into()).element();
        assert_eq!(
            el.to_xml(),
            "<unsupported xmlns='http://jabber.org/protocol/pubsub#errors' feature='publish-options'/>"
        );
        assert_eq!(
            PubSubError::from_element(&Element::new("closed-node", ns::PUBSUB)),
            None
        );
    }

    #[test]
    fn a_parse_error_carries_the_pubsub_element() {
        let se = PubSubError::NodeIdRequired
            .parse_error("no node")
            .to_stanza_error();
        assert_eq!(se.condition, Condition::BadRequest);
        assert_eq!(
            PubSubError::from_stanza_error(&se),
            Some(PubSubError::NodeIdRequired)
        );
    }
}
