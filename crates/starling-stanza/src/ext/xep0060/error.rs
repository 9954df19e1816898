//! The `http://jabber.org/protocol/pubsub#errors` conditions
//! (XEP-0060 §14.2), each with the stanza error XEP-0060 pairs it with.

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
