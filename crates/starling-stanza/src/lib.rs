//! # starling-stanza
//!
//! XMPP stanzas with typed meaning (RFC 6120 §8, RFC 6121): [`Message`],
//! [`Presence`] and [`Iq`] with their attributes typed with
//! [`starling_jid`], every stanza error condition of RFC 6120 §8.3.3
//! ([`StanzaError`]), and the payloads the core protocol needs: resource
//! binding ([`Bind`]), legacy [`Session`], the [`Roster`] with versioning,
//! [`Ping`] (XEP-0199), software [`Version`] (XEP-0092), service discovery
//! ([`DiscoInfo`], [`DiscoItems`], XEP-0030) and [`Delay`] (XEP-0203).
//!
//! The payloads of mobile and IM extensions, one module per XEP: Stream
//! Management nonzas with the wrapping counter [`H`] and the
//! unacknowledged-stanza queue [`AckQueue`] ([`SmNonza`], XEP-0198), Message
//! Carbons ([`CarbonsReceived`], [`CarbonsSent`], …, XEP-0280) around
//! [`Forwarded`] (XEP-0297), processing [`Hint`]s (XEP-0334), Client State
//! Indication ([`CsiState`], XEP-0352), the Blocking Command ([`BlockList`],
//! [`Block`], [`Unblock`], [`Blocked`], XEP-0191), [`DataForm`]s (XEP-0004),
//! Push Notifications ([`PushEnable`], [`PushDisable`],
//! [`PushNotification`], [`PushSummary`], XEP-0357), Publish-Subscribe
//! ([`PubSub`], [`PubSubOwner`], [`PubSubEvent`], [`NodeConfig`],
//! [`PubSubError`], XEP-0060) with what goes in PEP nodes: bookmarks
//! ([`Conference`], XEP-0402) and avatars ([`AvatarData`],
//! [`AvatarMetadata`], XEP-0084), and Entity Capabilities ([`Caps`],
//! [`caps_ver`], XEP-0115).
//!
//! Conversion goes both ways between a stanza and an
//! [`Element`](starling_xml::Element); every child the library does not model
//! is kept unchanged in `payloads`, so a server forwards extensions as they
//! came. Parsing an invalid stanza gives a [`ParseError`] whose condition is
//! the stanza error to answer with, and [`error_reply`] builds that answer.
//!
//! No I/O, no TLS, no async runtime: this crate works on elements.
//!
//! ```
//! use starling_stanza::{Stanza, StanzaErrorCondition, error_reply};
//! use starling_xml::Element;
//!
//! let el: Element = "<presence xmlns='jabber:client'><priority>300</priority></presence>".parse().unwrap();
//! let err = Stanza::from_element(&el).unwrap_err();
//! assert_eq!(err.condition, StanzaErrorCondition::BadRequest);
//! let reply = error_reply(&el, &err.to_stanza_error(), false).unwrap();
//! assert_eq!(reply.attr("type"), Some("error"));
//! ```
#![forbid(unsafe_code)]

mod envelope;
mod error;
mod ext;
pub mod ns;
mod payload;
mod stanza;

pub use envelope::{Envelope, IqType, StanzaKind};
pub use error::{Condition as StanzaErrorCondition, ErrorType, ParseError, StanzaError};
pub use ext::xep0004::{DataForm, FORM_TYPE, Field, FieldOption, FieldType, FormType};
pub use ext::xep0049::PrivateQuery;
pub use ext::xep0054::{Photo, PhotoData, VCard};
pub use ext::xep0060::{
    AccessModel, Affiliation, AffiliationInfo, Item, MaxItems, NodeConfig, PubSub, PubSubError,
    PubSubEvent, PubSubOwner, PublishModel, SendLastPublished, SubscriptionInfo, SubscriptionState,
};
pub use ext::xep0084::{AvatarData, AvatarInfo, AvatarMetadata};
pub use ext::xep0115::{
    Caps, CapsError, CapsHash, ver as caps_ver, verification_string as caps_verification_string,
    verify as caps_verify,
};
pub use ext::xep0153::VCardUpdate;
pub use ext::xep0172::Nick;
pub use ext::xep0191::{Block, BlockList, Blocked, Unblock};
pub use ext::xep0198::{
    AckQueue, H, HandledCountTooHigh, SmAck, SmEnable, SmEnabled, SmFailed, SmNonza, SmRequest,
    SmResume, SmResumed,
};
pub use ext::xep0280::{
    CarbonsDisable, CarbonsEnable, CarbonsPrivate, CarbonsReceived, CarbonsSent,
};
pub use ext::xep0297::Forwarded;
pub use ext::xep0334::{Hint, hints_in};
pub use ext::xep0352::{CsiActive, CsiFeature, CsiInactive, CsiState};
pub use ext::xep0357::{PushDisable, PushEnable, PushNotification, PushSummary};
pub use ext::xep0402::Conference;
pub use payload::{
    Bind, Delay, DiscoInfo, DiscoItem, DiscoItems, Identity, Payload, Ping, Roster, RosterItem,
    Session, Subscription, Version, format_datetime, parse_datetime,
};
pub use stanza::{
    Header, Iq, IqKind, LangText, Message, MessageType, Presence, PresenceType, Show, Stanza,
    Thread, error_reply, is_stanza,
};

pub(crate) use error::Condition;
