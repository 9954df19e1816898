//! Node configuration forms (XEP-0060 §16.4.3): reading, writing,
//! merging and the publish-options precondition check (§7.1.5).

use starling_xml::Element;

use super::*;
use crate::error::Condition;
use crate::ext::xep0004::{DataForm, FormType};
use crate::ns;
use crate::payload::Payload;

fn el(s: &str) -> Element {
    s.parse().unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn node_config_forms() {
    let form = DataForm::from_element(&el(
        "<x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>\
         <field var='pubsub#title'><value>Princely Musings (Atom)</value></field>\
         <field var='pubsub#deliver_notifications'><value>1</value></field>\
         <field var='pubsub#persist_items'><value>false</value></field>\
         <field var='pubsub#max_items'><value>max</value></field>\
         <field var='pubsub#access_model'><value>open</value></field>\
         <field var='pubsub#publish_model'><value>publishers</value></field>\
         <field var='pubsub#send_last_published_item'><value>never</value></field>\
         <field var='pubsub#roster_groups_allowed' type='list-multi'><value>friends</value><value>servants</value></field>\
         <field var='pubsub#max_payload_size'><value>1028</value></field>\
         <field var='pubsub#type'><value>http://www.w3.org/2005/Atom</value></field>\
         <field var='pubsub#itemreply'><value>owner</value></field></x>",
    ))
    .expect("form");
    let c = NodeConfig::from_form(&form).expect("config");
    assert_eq!(c.title.as_deref(), Some("Princely Musings (Atom)"));
    assert_eq!(c.deliver_notifications, Some(true));
    assert_eq!(c.persist_items, Some(false));
    assert_eq!(c.max_items, Some(MaxItems::Max));
    assert_eq!(c.access_model, Some(AccessModel::Open));
    assert_eq!(c.publish_model, Some(PublishModel::Publishers));
    assert_eq!(c.send_last_published_item, Some(SendLastPublished::Never));
    assert_eq!(
        c.roster_groups_allowed,
        Some(vec!["friends".into(), "servants".into()])
    );
    assert_eq!(c.max_payload_size, Some(1028));
    assert_eq!(
        c.payload_type.as_deref(),
        Some("http://www.w3.org/2005/Atom")
    );
    assert_eq!(c.other.len(), 1);
    for t in [FormType::Form, FormType::Submit, FormType::Result] {
        let written = c.to_form(t, ns::PUBSUB_NODE_CONFIG);
        assert_eq!(written.form_type_value(), Some(ns::PUBSUB_NODE_CONFIG));
        let back = DataForm::from_element(&written.to_element()).expect("form");
        assert_eq!(NodeConfig::from_form(&back).expect("config"), c);
    }
    let f = c.to_form(FormType::Form, ns::PUBSUB_NODE_CONFIG);
    let am = f.field("pubsub#access_model").expect("field");
    assert_eq!(am.field_type, Some(crate::FieldType::ListSingle));
    assert_eq!(am.options.len(), AccessModel::ALL.len());
    assert_eq!(
        f.field("pubsub#persist_items").and_then(|f| f.field_type),
        Some(crate::FieldType::Boolean)
    );
    let sub = c.to_form(FormType::Submit, ns::PUBSUB_PUBLISH_OPTIONS);
    assert!(
        sub.fields
            .iter()
            .all(|f| f.options.is_empty() && f.label.is_none())
    );
}

#[test]
fn node_config_invalid_values() {
    let bad = [
        ("FORM_TYPE", "urn:xmpp:other"),
        ("pubsub#persist_items", "yes"),
        ("pubsub#max_items", "-1"),
        ("pubsub#access_model", "everyone"),
        ("pubsub#send_last_published_item", "always"),
        ("pubsub#max_payload_size", "big"),
    ];
    for (var, value) in bad {
        let form = DataForm::new(FormType::Submit)
            .with_field(crate::Field::new(var, crate::FieldType::TextSingle).with_value(value));
        let err = NodeConfig::from_form(&form).expect_err(var);
        assert_eq!(err.condition, Condition::BadRequest, "{var}");
    }
}

#[test]
fn merged_and_satisfies() {
    let defaults = NodeConfig {
        access_model: Some(AccessModel::Presence),
        max_items: Some(MaxItems::Count(1)),
        persist_items: Some(true),
        roster_groups_allowed: Some(vec!["a".into(), "b".into()]),
        ..NodeConfig::default()
    };
    let wanted = NodeConfig {
        access_model: Some(AccessModel::Whitelist),
        max_items: Some(MaxItems::Max),
        ..NodeConfig::default()
    };
    let node = defaults.merged(&wanted);
    assert_eq!(node.access_model, Some(AccessModel::Whitelist));
    assert_eq!(node.persist_items, Some(true));
    let table: &[(NodeConfig, bool, &str)] = &[
        (NodeConfig::default(), true, "nothing wanted"),
        (wanted.clone(), true, "the merged values"),
        (
            NodeConfig {
                max_items: Some(MaxItems::Count(1)),
                ..NodeConfig::default()
            },
            false,
            "count vs max",
        ),
        (
            NodeConfig {
                persist_items: Some(true),
                ..NodeConfig::default()
            },
            true,
            "a default value",
        ),
        (
            NodeConfig {
                notify_retract: Some(true),
                ..NodeConfig::default()
            },
            false,
            "unset in the node",
        ),
        (
            NodeConfig {
                roster_groups_allowed: Some(vec!["b".into(), "a".into()]),
                ..NodeConfig::default()
            },
            true,
            "groups as a set",
        ),
        (
            NodeConfig {
                roster_groups_allowed: Some(vec!["a".into()]),
                ..NodeConfig::default()
            },
            false,
            "fewer groups",
        ),
    ];
    for (w, ok, why) in table {
        assert_eq!(node.satisfies(w), *ok, "{why}");
    }
    assert!(!defaults.satisfies(&wanted));
}
