//! [`NodeConfig`] to and from a `pubsub#node_config` or
//! `pubsub#publish-options` data form (XEP-0060 §16.4.3, §7.1.5), laying
//! one configuration over another, and the publish-options precondition
//! check.

use std::str::FromStr;

use super::config::{AccessModel, MaxItems, NodeConfig, PublishModel, SendLastPublished};
use crate::error::ParseError;
use crate::ext::parse_bool;
use crate::ext::xep0004::{DataForm, FORM_TYPE, Field, FieldOption, FieldType, FormType};
use crate::ns;

const ACCESS_MODEL: &str = "pubsub#access_model";
const PUBLISH_MODEL: &str = "pubsub#publish_model";
const MAX_ITEMS: &str = "pubsub#max_items";
const PERSIST_ITEMS: &str = "pubsub#persist_items";
const DELIVER_NOTIFICATIONS: &str = "pubsub#deliver_notifications";
const DELIVER_PAYLOADS: &str = "pubsub#deliver_payloads";
const NOTIFY_RETRACT: &str = "pubsub#notify_retract";
const NOTIFY_DELETE: &str = "pubsub#notify_delete";
const NOTIFY_CONFIG: &str = "pubsub#notify_config";
const SEND_LAST: &str = "pubsub#send_last_published_item";
const ROSTER_GROUPS: &str = "pubsub#roster_groups_allowed";
const TITLE: &str = "pubsub#title";
const TYPE: &str = "pubsub#type";
const MAX_PAYLOAD_SIZE: &str = "pubsub#max_payload_size";

impl NodeConfig {
    /// The vars [`NodeConfig`] has a typed field for (`FORM_TYPE`
    /// aside); other vars go to [`other`](NodeConfig::other).
    pub const KNOWN_VARS: &'static [&'static str] = KNOWN_VARS;
}

const KNOWN_VARS: &[&str] = &[
    ACCESS_MODEL,
    PUBLISH_MODEL,
    MAX_ITEMS,
    PERSIST_ITEMS,
    DELIVER_NOTIFICATIONS,
    DELIVER_PAYLOADS,
    NOTIFY_RETRACT,
    NOTIFY_DELETE,
    NOTIFY_CONFIG,
    SEND_LAST,
    ROSTER_GROUPS,
    TITLE,
    TYPE,
    MAX_PAYLOAD_SIZE,
];

/// The first value of a field, parsed.
fn typed<T>(
    f: &Field,
    read: impl Fn(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, ParseError> {
    f.value().map(read).transpose()
}

fn keyword<T: FromStr<Err = ParseError>>(f: &Field) -> Result<Option<T>, ParseError> {
    typed(f, |v| v.trim().parse())
}

fn boolean(f: &Field) -> Result<Option<bool>, ParseError> {
    let var = f.var.as_deref().unwrap_or_default();
    typed(f, |v| parse_bool(var, v))
}

fn single(var: &str, t: FieldType, label: &str, value: String) -> Field {
    Field {
        label: Some(label.to_owned()),
        ..Field::new(var, t).with_value(value)
    }
}

fn options(field: Field, values: &[&str]) -> Field {
    Field {
        options: values
            .iter()
            .map(|v| FieldOption {
                label: None,
                value: (*v).to_owned(),
            })
            .collect(),
        ..field
    }
}

impl NodeConfig {
    /// Reads a configuration from a data form whose `FORM_TYPE` is
    /// `pubsub#node_config` or `pubsub#publish-options` (or absent, as
    /// some clients send). Booleans accept `1`/`0`/`true`/`false`;
    /// `pubsub#max_items` a count or `max`; a field without a value is
    /// not given. Vars the type does not know go to `other`, in order.
    /// Any other `FORM_TYPE`, or a value of the wrong shape, is
    /// `bad-request`.
    pub fn from_form(form: &DataForm) -> Result<NodeConfig, ParseError> {
        match form.form_type_value() {
            None | Some(ns::PUBSUB_NODE_CONFIG | ns::PUBSUB_PUBLISH_OPTIONS) => {}
            Some(other) => {
                return Err(ParseError::bad_request(format!(
                    "a node configuration form has FORM_TYPE {other:?}"
                )));
            }
        }
        let mut c = NodeConfig::default();
        for f in &form.fields {
            let Some(var) = f.var.as_deref() else {
                continue;
            };
            match var {
                FORM_TYPE => {}
                ACCESS_MODEL => c.access_model = keyword::<AccessModel>(f)?,
                PUBLISH_MODEL => c.publish_model = keyword::<PublishModel>(f)?,
                MAX_ITEMS => c.max_items = keyword::<MaxItems>(f)?,
                PERSIST_ITEMS => c.persist_items = boolean(f)?,
                DELIVER_NOTIFICATIONS => c.deliver_notifications = boolean(f)?,
                DELIVER_PAYLOADS => c.deliver_payloads = boolean(f)?,
                NOTIFY_RETRACT => c.notify_retract = boolean(f)?,
                NOTIFY_DELETE => c.notify_delete = boolean(f)?,
                NOTIFY_CONFIG => c.notify_config = boolean(f)?,
                SEND_LAST => c.send_last_published_item = keyword::<SendLastPublished>(f)?,
                ROSTER_GROUPS => c.roster_groups_allowed = Some(f.values.clone()),
                TITLE => c.title = f.value().map(str::to_owned),
                TYPE => c.payload_type = f.value().map(str::to_owned),
                MAX_PAYLOAD_SIZE => {
                    c.max_payload_size = typed(f, |v| crate::ext::parse_u32(var, v))?;
                }
                _ => c.other.push(f.clone()),
            }
        }
        Ok(c)
    }

    /// Writes the configuration as a data form of `form_type` with the
    /// hidden `FORM_TYPE` `form_type_ns` (`ns::PUBSUB_NODE_CONFIG` or
    /// `ns::PUBSUB_PUBLISH_OPTIONS`). Only the fields that are set are
    /// written, each typed as XEP-0060 §16.4.3 lists (boolean,
    /// list-single with its options, list-multi, text-single); a `form` or
    /// `result` also gets labels and options, a `submit` only values.
    /// The fields in `other` follow unchanged.
    pub fn to_form(&self, form_type: FormType, form_type_ns: &str) -> DataForm {
        let full = matches!(form_type, FormType::Form | FormType::Result);
        let mut fields = Vec::new();
        let mut push = |f: Field, opts: &[&str]| {
            fields.push(if full {
                options(f, opts)
            } else {
                Field { label: None, ..f }
            });
        };
        let list = FieldType::ListSingle;
        let text = FieldType::TextSingle;
        let b = |v: bool| if v { "1" } else { "0" }.to_owned();
        if let Some(v) = self.access_model {
            let all: Vec<&str> = AccessModel::ALL.iter().map(|m| m.as_str()).collect();
            push(
                single(ACCESS_MODEL, list, "Access model", v.as_str().into()),
                &all,
            );
        }
        if let Some(v) = self.publish_model {
            let all: Vec<&str> = PublishModel::ALL.iter().map(|m| m.as_str()).collect();
            push(
                single(PUBLISH_MODEL, list, "Publisher model", v.as_str().into()),
                &all,
            );
        }
        if let Some(v) = self.max_items {
            push(
                single(MAX_ITEMS, text, "Max # of items to persist", v.to_string()),
                &[],
            );
        }
        let bools = [
            (
                PERSIST_ITEMS,
                "Persist items to storage",
                self.persist_items,
            ),
            (
                DELIVER_NOTIFICATIONS,
                "Deliver event notifications",
                self.deliver_notifications,
            ),
            (
                DELIVER_PAYLOADS,
                "Deliver payloads with event notifications",
                self.deliver_payloads,
            ),
            (
                NOTIFY_RETRACT,
                "Notify subscribers when items are removed",
                self.notify_retract,
            ),
            (
                NOTIFY_DELETE,
                "Notify subscribers when the node is deleted",
                self.notify_delete,
            ),
            (
                NOTIFY_CONFIG,
                "Notify subscribers when the configuration changes",
                self.notify_config,
            ),
        ];
        for (var, label, v) in bools {
            if let Some(v) = v {
                push(single(var, FieldType::Boolean, label, b(v)), &[]);
            }
        }
        if let Some(v) = self.send_last_published_item {
            let all: Vec<&str> = SendLastPublished::ALL.iter().map(|m| m.as_str()).collect();
            push(
                single(
                    SEND_LAST,
                    list,
                    "When to send the last published item",
                    v.as_str().into(),
                ),
                &all,
            );
        }
        if let Some(groups) = &self.roster_groups_allowed {
            let mut f = Field::new(ROSTER_GROUPS, FieldType::ListMulti);
            f.label = Some("Roster groups allowed to subscribe".into());
            f.values.clone_from(groups);
            push(f, &[]);
        }
        if let Some(v) = &self.title {
            push(
                single(TITLE, text, "A friendly name for the node", v.clone()),
                &[],
            );
        }
        if let Some(v) = &self.payload_type {
            push(single(TYPE, text, "Payload type", v.clone()), &[]);
        }
        if let Some(v) = self.max_payload_size {
            push(
                single(
                    MAX_PAYLOAD_SIZE,
                    text,
                    "Max payload size in bytes",
                    v.to_string(),
                ),
                &[],
            );
        }
        let mut form = DataForm::new(form_type).with_form_type(form_type_ns);
        form.fields.extend(fields);
        form.fields.extend(self.other.iter().cloned());
        form
    }

    /// `self` with every field set in `over` replaced by `over`'s value
    /// (fields of `over` win); `other` fields are replaced by var, or
    /// appended.
    #[must_use]
    pub fn merged(&self, over: &NodeConfig) -> NodeConfig {
        let mut other = self.other.clone();
        for f in &over.other {
            match other.iter_mut().find(|g| g.var == f.var) {
                Some(g) => *g = f.clone(),
                None => other.push(f.clone()),
            }
        }
        NodeConfig {
            access_model: over.access_model.or(self.access_model),
            publish_model: over.publish_model.or(self.publish_model),
            max_items: over.max_items.or(self.max_items),
            persist_items: over.persist_items.or(self.persist_items),
            deliver_notifications: over.deliver_notifications.or(self.deliver_notifications),
            deliver_payloads: over.deliver_payloads.or(self.deliver_payloads),
            notify_retract: over.notify_retract.or(self.notify_retract),
            notify_delete: over.notify_delete.or(self.notify_delete),
            notify_config: over.notify_config.or(self.notify_config),
            send_last_published_item: over
                .send_last_published_item
                .or(self.send_last_published_item),
            roster_groups_allowed: over
                .roster_groups_allowed
                .clone()
                .or_else(|| self.roster_groups_allowed.clone()),
            title: over.title.clone().or_else(|| self.title.clone()),
            payload_type: over
                .payload_type
                .clone()
                .or_else(|| self.payload_type.clone()),
            max_payload_size: over.max_payload_size.or(self.max_payload_size),
            other,
        }
    }

    /// Whether this (effective) configuration meets the publish-options
    /// preconditions `wanted` (XEP-0060 §7.1.5): every field set in
    /// `wanted` must be set here to the same value. Booleans compare as
    /// booleans (`1` = `true`); `max_items` compares values (`max` equals
    /// only `max`, a count only the same count); roster groups compare as
    /// sets; a field in `wanted.other` needs a field with the same var
    /// and the same values here. A field `wanted` sets that is unset here
    /// is not met.
    pub fn satisfies(&self, wanted: &NodeConfig) -> bool {
        fn eq<T: PartialEq>(have: &Option<T>, want: &Option<T>) -> bool {
            want.is_none() || have == want
        }
        let groups = match (&self.roster_groups_allowed, &wanted.roster_groups_allowed) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(h), Some(w)) => {
                h.iter().all(|g| w.contains(g)) && w.iter().all(|g| h.contains(g))
            }
        };
        let others = wanted.other.iter().all(|w| {
            self.other
                .iter()
                .any(|h| h.var == w.var && h.values == w.values)
        });
        groups
            && others
            && eq(&self.access_model, &wanted.access_model)
            && eq(&self.publish_model, &wanted.publish_model)
            && eq(&self.max_items, &wanted.max_items)
            && eq(&self.persist_items, &wanted.persist_items)
            && eq(&self.deliver_notifications, &wanted.deliver_notifications)
            && eq(&self.deliver_payloads, &wanted.deliver_payloads)
            && eq(&self.notify_retract, &wanted.notify_retract)
            && eq(&self.notify_delete, &wanted.notify_delete)
            && eq(&self.notify_config, &wanted.notify_config)
            && eq(
                &self.send_last_published_item,
                &wanted.send_last_published_item,
            )
            && eq(&self.title, &wanted.title)
            && eq(&self.payload_type, &wanted.payload_type)
            && eq(&self.max_payload_size, &wanted.max_payload_size)
    }
}
