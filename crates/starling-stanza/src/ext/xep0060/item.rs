//! Items, subscriptions and affiliations: the pieces shared by the three
//! pubsub namespaces.

use starling_jid::Jid;
use starling_xml::Element;

/// A pubsub item (XEP-0060 §7.1): an id, the publisher (in
/// notifications, when the node says so) and at most one payload element.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Item {
    /// The item's id (absent in a publish request lets the service pick
    /// one).
    pub id: Option<String>,
    /// Who published it (`publisher` attribute).
    pub publisher: Option<Jid>,
    /// The payload (absent in requests by id, in retracts and in
    /// notifications without payload).
    pub payload: Option<Element>,
}

/// The state of a subscription (XEP-0060 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionState {
    /// `none`.
    None,
    /// `pending`: waiting for approval.
    Pending,
    /// `unconfigured`: subscription options must be configured.
    Unconfigured,
    /// `subscribed`.
    Subscribed,
}

/// A `<subscription/>` element: in a subscribe result, a subscriptions
/// list, or a notification.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriptionInfo {
    /// The node (absent inside a list scoped to one node).
    pub node: Option<String>,
    /// The subscriber.
    pub jid: Jid,
    /// The subscription id.
    pub subid: Option<String>,
    /// Its state (absent means `none` in a request).
    pub state: Option<SubscriptionState>,
}

/// An affiliation (XEP-0060 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Affiliation {
    /// `owner`.
    Owner,
    /// `publisher`.
    Publisher,
    /// `publish-only`.
    PublishOnly,
    /// `member`.
    Member,
    /// `none`.
    None,
    /// `outcast`.
    Outcast,
}

/// An `<affiliation/>` element.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AffiliationInfo {
    /// The node (in the entity's own list, `pubsub`).
    pub node: Option<String>,
    /// The affiliated entity (in the owner's list, `pubsub#owner`).
    pub jid: Option<Jid>,
    /// The affiliation.
    pub affiliation: Affiliation,
}

impl Item {
    /// An item with an id (or none: the service picks one) and a
    /// payload.
    ///
    /// ```
    /// use starling_stanza::Item;
    /// use starling_xml::Element;
    ///
    /// let item = Item::new(Some("current".into()), Element::new("tune", "http://jabber.org/protocol/tune"));
    /// assert_eq!(item.id.as_deref(), Some("current"));
    /// ```
    pub fn new(id: Option<String>, payload: Element) -> Self {
        Item {
            id,
            publisher: None,
            payload: Some(payload),
        }
    }

    /// An item named by id only (in an items request or a retract).
    pub fn with_id(id: impl Into<String>) -> Self {
        Item {
            id: Some(id.into()),
            ..Item::default()
        }
    }
}

macro_rules! keyword_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $s:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The attribute or field value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $s),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = crate::error::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok($ty::$variant),)+
                    _ => Err(crate::error::ParseError::bad_request(format!(
                        concat!("unknown ", $what, " {:?}"),
                        s
                    ))),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(super) use keyword_enum;

keyword_enum!(SubscriptionState, "subscription state", {
    None => "none",
    Pending => "pending",
    Unconfigured => "unconfigured",
    Subscribed => "subscribed",
});

keyword_enum!(Affiliation, "affiliation", {
    Owner => "owner",
    Publisher => "publisher",
    PublishOnly => "publish-only",
    Member => "member",
    None => "none",
    Outcast => "outcast",
});
