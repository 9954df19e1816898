//! The typed view of a node configuration form (XEP-0060 §16.4.3,
//! `http://jabber.org/protocol/pubsub#node_config`), also used for
//! publish options (§7.1.5).

use std::fmt;
use std::str::FromStr;

use super::item::keyword_enum;
use crate::error::ParseError;
use crate::ext::parse_u32;
use crate::ext::xep0004::Field;

/// `pubsub#access_model` (XEP-0060 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessModel {
    /// `open`: anyone.
    Open,
    /// `presence`: those subscribed to the owner's presence (PEP's
    /// default).
    Presence,
    /// `roster`: contacts in the allowed roster groups.
    Roster,
    /// `authorize`: the owner approves each subscriber.
    Authorize,
    /// `whitelist`: only those the owner lists (XEP-0223 private data).
    Whitelist,
}

/// `pubsub#publish_model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublishModel {
    /// `publishers`: owners and publishers.
    Publishers,
    /// `subscribers`: also subscribers.
    Subscribers,
    /// `open`: anyone.
    Open,
}

/// `pubsub#max_items`: a count or `max` (the service's limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaxItems {
    /// At most this many.
    Count(u32),
    /// As many as the service allows.
    Max,
}

/// `pubsub#send_last_published_item`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendLastPublished {
    /// `never`.
    Never,
    /// `on_sub`.
    OnSub,
    /// `on_sub_and_presence` (PEP's default).
    OnSubAndPresence,
}

/// A node configuration, or the preconditions of a publish: every field
/// is optional (absent = not given / not constrained). Fields the type
/// does not know are kept in `other` (in order).
///
/// Read from and written to a data form with
/// [`from_form`](Self::from_form) and [`to_form`](Self::to_form);
/// [`merged`](Self::merged) lays one configuration over another and
/// [`satisfies`](Self::satisfies) checks publish-options preconditions.
///
/// ```
/// use starling_stanza::{AccessModel, DataForm, FormType, MaxItems, NodeConfig, Payload, ns};
///
/// // The publish-options of a XEP-0402 bookmark.
/// let el = "<x xmlns='jabber:x:data' type='submit'>\
///     <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
///     <field var='pubsub#persist_items'><value>true</value></field>\
///     <field var='pubsub#max_items'><value>max</value></field>\
///     <field var='pubsub#access_model'><value>whitelist</value></field>\
///     </x>".parse().unwrap();
/// let wanted = NodeConfig::from_form(&DataForm::from_element(&el).unwrap()).unwrap();
/// assert_eq!(wanted.max_items, Some(MaxItems::Max));
///
/// // A node whose effective configuration has those values satisfies it.
/// let node = NodeConfig { access_model: Some(AccessModel::Presence), ..NodeConfig::default() }
///     .merged(&wanted);
/// assert!(node.satisfies(&wanted));
/// let open = NodeConfig { access_model: Some(AccessModel::Open), ..NodeConfig::default() };
/// assert!(!node.merged(&open).satisfies(&wanted));
///
/// let form = node.to_form(FormType::Form, ns::PUBSUB_NODE_CONFIG);
/// assert_eq!(NodeConfig::from_form(&form).unwrap(), node);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NodeConfig {
    /// `pubsub#access_model`.
    pub access_model: Option<AccessModel>,
    /// `pubsub#publish_model`.
    pub publish_model: Option<PublishModel>,
    /// `pubsub#max_items`.
    pub max_items: Option<MaxItems>,
    /// `pubsub#persist_items`.
    pub persist_items: Option<bool>,
    /// `pubsub#deliver_notifications`.
    pub deliver_notifications: Option<bool>,
    /// `pubsub#deliver_payloads`.
    pub deliver_payloads: Option<bool>,
    /// `pubsub#notify_retract`.
    pub notify_retract: Option<bool>,
    /// `pubsub#notify_delete`.
    pub notify_delete: Option<bool>,
    /// `pubsub#notify_config`.
    pub notify_config: Option<bool>,
    /// `pubsub#send_last_published_item`.
    pub send_last_published_item: Option<SendLastPublished>,
    /// `pubsub#roster_groups_allowed`.
    pub roster_groups_allowed: Option<Vec<String>>,
    /// `pubsub#title`.
    pub title: Option<String>,
    /// `pubsub#type`: the payload namespace.
    pub payload_type: Option<String>,
    /// `pubsub#max_payload_size` in bytes.
    pub max_payload_size: Option<u32>,
    /// Fields not listed above (the `FORM_TYPE` field excluded).
    pub other: Vec<Field>,
}

keyword_enum!(AccessModel, "access model", {
    Open => "open",
    Presence => "presence",
    Roster => "roster",
    Authorize => "authorize",
    Whitelist => "whitelist",
});

keyword_enum!(PublishModel, "publish model", {
    Publishers => "publishers",
    Subscribers => "subscribers",
    Open => "open",
});

keyword_enum!(SendLastPublished, "send_last_published_item value", {
    Never => "never",
    OnSub => "on_sub",
    OnSubAndPresence => "on_sub_and_presence",
});

impl fmt::Display for MaxItems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxItems::Count(n) => write!(f, "{n}"),
            MaxItems::Max => f.write_str("max"),
        }
    }
}

impl FromStr for MaxItems {
    type Err = ParseError;
    /// A decimal count or `max`.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        if s.trim() == "max" {
            Ok(MaxItems::Max)
        } else {
            parse_u32("pubsub#max_items", s).map(MaxItems::Count)
        }
    }
}
