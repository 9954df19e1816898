//! The PEP module on an in-memory hub: who is notified (caps interest,
//! access model, subscription), last items on presence and on caps,
//! publish-options preconditions, quotas, retract/purge/delete events.

use std::sync::Arc;

use starling_jid::{BareJid, FullJid};
use starling_stanza::ns;

use crate::caps::CapsInfo;
use crate::config::{Config, PepConfig};
use crate::hub::Hub;
use crate::queue::Inbox;
use crate::registry::{QueueLimits, SessionHandle};
use crate::routed::Routed;
use crate::storage::{RosterEntry, SqliteStorage, Stores, Subscription};

const OWNER: &str = "alice@localhost/phone";
const NODE: &str = "urn:example:tune";

struct World {
    hub: Hub,
    inboxes: Vec<(String, Inbox)>,
    /// What arrived and was not looked at yet, by recipient.
    pending: std::collections::HashMap<String, Vec<Routed>>,
    _handles: Vec<Arc<SessionHandle>>,
}

fn bare(s: &str) -> BareJid {
    s.parse().unwrap()
}

fn full(s: &str) -> FullJid {
    s.parse().unwrap()
}

fn st(xml: &str) -> Routed {
    Routed::parse(xml.parse().unwrap()).unwrap()
}

fn caps(features: &[&str]) -> Arc<CapsInfo> {
    CapsInfo::of_features(features)
}

/// A `<publish-options/>` form setting `var` to `value`.
fn publish_options(var: &str, value: &str) -> String {
    format!(
        "<publish-options><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>{}</value></field>\
         <field var='{var}'><value>{value}</value></field></x></publish-options>",
        ns::PUBSUB_PUBLISH_OPTIONS
    )
}

impl World {
    /// alice (owner) with contacts: bob (both), carol (none), dave (both,
    /// no +notify), erin (to only: alice may not be seen by her).
    async fn new(pep: PepConfig) -> World {
        let mut config = Config::default();
        config.modules.pep = pep;
        let stores = Stores::sqlite(Arc::new(SqliteStorage::open_in_memory().unwrap()), 2);
        for a in ["alice", "bob", "carol", "dave", "erin"] {
            let jid = bare(&format!("{a}@localhost"));
            stores.accounts.create_account(&jid, &[]).await.unwrap();
        }
        for (c, sub) in [
            ("bob", Subscription::Both),
            ("dave", Subscription::Both),
            ("erin", Subscription::To),
        ] {
            let mut e = RosterEntry::new(bare(&format!("{c}@localhost")));
            e.subscription = sub;
            e.groups = vec!["Friends".to_owned()];
            stores
                .rosters
                .roster_put(&bare("alice@localhost"), &e)
                .await
                .unwrap();
        }
        let modules = crate::modules::build(&config, &stores, None);
        let hub = Hub::new(Arc::new(config), stores, modules);
        let limits = QueueLimits {
            bytes: 1 << 20,
            count: 256,
        };
        let mut w = World {
            hub,
            inboxes: Vec::new(),
            pending: std::collections::HashMap::new(),
            _handles: Vec::new(),
        };
        for (i, j) in [
            OWNER,
            "bob@localhost/pc",
            "carol@localhost/pc",
            "dave@localhost/pc",
            "erin@localhost/pc",
        ]
        .into_iter()
        .enumerate()
        {
            let (h, inbox) = SessionHandle::new(full(j), i as u64 + 1, limits);
            w.hub.sessions().insert(h.clone(), true, 10);
            w._handles.push(h);
            w.inboxes.push((j.to_owned(), inbox));
        }
        let notify = format!("{NODE}+notify");
        for j in [
            "bob@localhost/pc",
            "carol@localhost/pc",
            "erin@localhost/pc",
        ] {
            w.hub.caps().set(&full(j), caps(&[&notify]));
        }
        w.hub
            .caps()
            .set(&full("dave@localhost/pc"), caps(&["urn:other+notify"]));
        w
    }

    fn take(&mut self, jid: &str) -> Vec<Routed> {
        let inbox = &mut self.inboxes.iter_mut().find(|(j, _)| j == jid).unwrap().1;
        let mut all = self.pending.remove(jid).unwrap_or_default();
        all.extend(std::iter::from_fn(|| inbox.try_recv()).map(|r| (*r).clone()));
        all
    }

    /// `contact` sends available presence to alice.
    async fn online(&self, contact: &str) {
        let xml =
            format!("<presence xmlns='jabber:client' from='{contact}' to='alice@localhost'/>");
        self.hub.route(st(&xml)).await;
    }

    async fn iq(&mut self, from: &str, kind: &str, payload: &str) -> Routed {
        let xml = format!(
            "<iq xmlns='jabber:client' type='{kind}' id='q1' from='{from}' to='alice@localhost'>{payload}</iq>"
        );
        self.hub.route(st(&xml)).await;
        let mut all = self.take(from);
        let at = all
            .iter()
            .position(|r| r.element().name() == "iq")
            .expect("an answer");
        let answer = all.remove(at);
        self.pending.insert(from.to_owned(), all);
        answer
    }

    async fn publish(&mut self, id: &str, text: &str, options: &str) -> Routed {
        let p = format!(
            "<pubsub xmlns='{}'><publish node='{NODE}'><item id='{id}'><tune xmlns='{NODE}'>{text}</tune></item></publish>{options}</pubsub>",
            ns::PUBSUB
        );
        self.iq(OWNER, "set", &p).await
    }

    /// The events one resource received: (node, item ids, retracts).
    fn events(&mut self, jid: &str) -> Vec<String> {
        self.take(jid)
            .into_iter()
            .filter_map(|m| {
                let ev = m.element().get_child("event", ns::PUBSUB_EVENT)?.clone();
                Some(ev.to_string())
            })
            .collect()
    }
}

fn error_of(r: &Routed) -> (String, Option<String>) {
    let err = r
        .element()
        .get_child("error", ns::CLIENT)
        .expect("an error");
    let cond = err
        .children()
        .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas")
        .map(|c| c.name().to_owned())
        .unwrap();
    let app = err
        .children()
        .find(|c| c.ns() == ns::PUBSUB_ERRORS)
        .map(|c| c.name().to_owned());
    (cond, app)
}

#[tokio::test]
async fn publish_notifies_only_interested_contacts_who_may_see() {
    let mut w = World::new(PepConfig::default()).await;
    for c in [
        "bob@localhost/pc",
        "carol@localhost/pc",
        "dave@localhost/pc",
        "erin@localhost/pc",
    ] {
        w.online(c).await;
    }
    let r = w.publish("t1", "song", "").await;
    assert_eq!(
        r.element().attr("type"),
        Some("result"),
        "{:?}",
        r.element().to_string()
    );
    let bob = w.events("bob@localhost/pc");
    assert_eq!(bob.len(), 1);
    assert!(bob[0].contains("song") && bob[0].contains("id=\"t1\"") || bob[0].contains("id='t1'"));
    assert!(w.events("carol@localhost/pc").is_empty(), "no subscription");
    assert!(w.events("dave@localhost/pc").is_empty(), "no +notify");
    assert!(
        w.events("erin@localhost/pc").is_empty(),
        "subscription 'to' only"
    );
}

#[tokio::test]
async fn last_item_goes_on_presence_and_on_late_caps() {
    let mut w = World::new(PepConfig::default()).await;
    w.publish("t1", "first", "").await;
    w.publish("t2", "second", "").await;
    w.online("bob@localhost/pc").await;
    let bob = w.events("bob@localhost/pc");
    assert_eq!(bob.len(), 1, "{bob:?}");
    assert!(bob[0].contains("second"));
    // Another presence (a status change) sends nothing again.
    w.online("bob@localhost/pc").await;
    assert!(w.events("bob@localhost/pc").is_empty());
    // dave's caps learn the node's +notify later.
    w.online("dave@localhost/pc").await;
    assert!(w.events("dave@localhost/pc").is_empty());
    let c = caps(&[&format!("{NODE}+notify")]);
    let dave = full("dave@localhost/pc");
    w.hub.caps().set(&dave, c.clone());
    w.hub.modules().caps_changed(&w.hub, &dave, &c).await;
    let ev = w.events("dave@localhost/pc");
    assert_eq!(ev.len(), 1);
    assert!(ev[0].contains("second"));
}

#[tokio::test]
async fn retrieval_respects_access_models() {
    let mut w = World::new(PepConfig::default()).await;
    w.publish("t1", "hello", "").await;
    let get = format!(
        "<pubsub xmlns='{}'><items node='{NODE}'/></pubsub>",
        ns::PUBSUB
    );
    let r = w.iq("bob@localhost/pc", "get", &get).await;
    assert!(r.element().to_string().contains("hello"));
    let r = w.iq("carol@localhost/pc", "get", &get).await;
    assert_eq!(
        error_of(&r),
        (
            "not-authorized".to_owned(),
            Some("presence-subscription-required".to_owned())
        )
    );
    // A whitelist node (XEP-0223): only the owner.
    let opts = &publish_options("pubsub#access_model", "whitelist");
    let p = format!(
        "<pubsub xmlns='{}'><publish node='private'><item id='current'><secret xmlns='urn:x'/></item></publish>{opts}</pubsub>",
        ns::PUBSUB
    );
    let r = w.iq(OWNER, "set", &p).await;
    assert_eq!(r.element().attr("type"), Some("result"));
    let get = format!(
        "<pubsub xmlns='{}'><items node='private'/></pubsub>",
        ns::PUBSUB
    );
    let r = w.iq("bob@localhost/pc", "get", &get).await;
    assert_eq!(
        error_of(&r),
        ("not-allowed".to_owned(), Some("closed-node".to_owned()))
    );
    let r = w.iq(OWNER, "get", &get).await;
    assert!(r.element().to_string().contains("secret"));
    let missing = format!(
        "<pubsub xmlns='{}'><items node='nope'/></pubsub>",
        ns::PUBSUB
    );
    let r = w.iq("bob@localhost/pc", "get", &missing).await;
    assert_eq!(error_of(&r).0, "item-not-found");
}

#[tokio::test]
async fn publish_options_are_preconditions_on_an_existing_node() {
    let mut w = World::new(PepConfig::default()).await;
    w.publish("t1", "a", "").await;
    let opts = &publish_options("pubsub#access_model", "open");
    let r = w.publish("t2", "b", opts).await;
    assert_eq!(
        error_of(&r),
        (
            "conflict".to_owned(),
            Some("precondition-not-met".to_owned())
        )
    );
    let get = format!(
        "<pubsub xmlns='{}'><items node='{NODE}'/></pubsub>",
        ns::PUBSUB
    );
    let r = w.iq(OWNER, "get", &get).await;
    let s = r.element().to_string();
    assert!(s.contains(">a<") && !s.contains(">b<"), "{s}");
    // Matching options publish.
    let same = opts.replace("open", "presence");
    let r = w.publish("t3", "c", &same).await;
    assert_eq!(r.element().attr("type"), Some("result"));
}

#[tokio::test]
async fn quotas_refuse_and_keep_what_was_there() {
    let pep = PepConfig {
        max_bytes: 1024,
        max_nodes: 2,
        ..PepConfig::default()
    };
    let mut w = World::new(pep).await;
    assert_eq!(
        w.publish("t1", "small", "").await.element().attr("type"),
        Some("result")
    );
    let big = "x".repeat(2000);
    let r = w.publish("t2", &big, "").await;
    assert_eq!(error_of(&r).0, "resource-constraint");
    let get = format!(
        "<pubsub xmlns='{}'><items node='{NODE}'/></pubsub>",
        ns::PUBSUB
    );
    assert!(
        w.iq(OWNER, "get", &get)
            .await
            .element()
            .to_string()
            .contains("small")
    );
    let create = |n: &str| {
        format!(
            "<pubsub xmlns='{}'><create node='{n}'/></pubsub>",
            ns::PUBSUB
        )
    };
    assert_eq!(
        w.iq(OWNER, "set", &create("n2"))
            .await
            .element()
            .attr("type"),
        Some("result")
    );
    let r = w.iq(OWNER, "set", &create("n3")).await;
    assert_eq!(
        error_of(&r),
        (
            "not-allowed".to_owned(),
            Some("max-nodes-exceeded".to_owned())
        )
    );
    let r = w.iq(OWNER, "set", &create("n2")).await;
    assert_eq!(error_of(&r).0, "conflict");
    // Item size.
    let pep = PepConfig {
        max_item_bytes: 100,
        ..PepConfig::default()
    };
    let mut w = World::new(pep).await;
    let r = w.publish("t1", &"y".repeat(200), "").await;
    assert_eq!(
        error_of(&r),
        (
            "not-acceptable".to_owned(),
            Some("payload-too-big".to_owned())
        )
    );
}

#[tokio::test]
async fn only_the_owner_publishes_and_configures() {
    let mut w = World::new(PepConfig::default()).await;
    let p = format!(
        "<pubsub xmlns='{}'><publish node='{NODE}'><item><tune xmlns='{NODE}'/></item></publish></pubsub>",
        ns::PUBSUB
    );
    let r = w.iq("bob@localhost/pc", "set", &p).await;
    assert_eq!(error_of(&r).0, "forbidden");
    w.publish("t1", "a", "").await;
    let conf = format!(
        "<pubsub xmlns='{}'><configure node='{NODE}'/></pubsub>",
        ns::PUBSUB_OWNER
    );
    let r = w.iq("bob@localhost/pc", "get", &conf).await;
    assert_eq!(error_of(&r).0, "forbidden");
    let r = w.iq(OWNER, "get", &conf).await;
    let s = r.element().to_string();
    assert!(
        s.contains("pubsub#access_model") && s.contains("presence"),
        "{s}"
    );
}

#[tokio::test]
async fn retract_purge_delete_and_max_items() {
    let mut w = World::new(PepConfig::default()).await;
    w.online("bob@localhost/pc").await;
    let opts = &publish_options("pubsub#max_items", "2");
    for i in 1..=3 {
        w.publish(&format!("t{i}"), &format!("v{i}"), opts).await;
    }
    assert_eq!(w.events("bob@localhost/pc").len(), 3);
    let get = format!(
        "<pubsub xmlns='{}'><items node='{NODE}'/></pubsub>",
        ns::PUBSUB
    );
    let s = w.iq(OWNER, "get", &get).await.element().to_string();
    assert!(
        !s.contains("v1") && s.contains("v2") && s.contains("v3"),
        "{s}"
    );
    let max1 = format!(
        "<pubsub xmlns='{}'><items node='{NODE}' max_items='1'/></pubsub>",
        ns::PUBSUB
    );
    let s = w.iq(OWNER, "get", &max1).await.element().to_string();
    assert!(!s.contains("v2") && s.contains("v3"), "{s}");
    let retract = format!(
        "<pubsub xmlns='{}'><retract node='{NODE}' notify='true'><item id='t3'/></retract></pubsub>",
        ns::PUBSUB
    );
    assert_eq!(
        w.iq(OWNER, "set", &retract).await.element().attr("type"),
        Some("result")
    );
    let ev = w.events("bob@localhost/pc");
    assert!(ev.len() == 1 && ev[0].contains("retract"), "{ev:?}");
    let r = w.iq(OWNER, "set", &retract).await;
    assert_eq!(error_of(&r).0, "item-not-found");
    let purge = format!(
        "<pubsub xmlns='{}'><purge node='{NODE}'/></pubsub>",
        ns::PUBSUB_OWNER
    );
    assert_eq!(
        w.iq(OWNER, "set", &purge).await.element().attr("type"),
        Some("result")
    );
    assert!(w.events("bob@localhost/pc")[0].contains("purge"));
    let delete = format!(
        "<pubsub xmlns='{}'><delete node='{NODE}'/></pubsub>",
        ns::PUBSUB_OWNER
    );
    assert_eq!(
        w.iq(OWNER, "set", &delete).await.element().attr("type"),
        Some("result")
    );
    assert!(w.events("bob@localhost/pc")[0].contains("delete"));
    assert_eq!(
        error_of(&w.iq(OWNER, "get", &get).await).0,
        "item-not-found"
    );
}

#[tokio::test]
async fn explicit_subscription_and_whitelist_members() {
    let mut w = World::new(PepConfig::default()).await;
    w.publish("t1", "a", "").await;
    // carol may not subscribe (no presence subscription).
    let sub = |j: &str| {
        format!(
            "<pubsub xmlns='{}'><subscribe node='{NODE}' jid='{j}'/></pubsub>",
            ns::PUBSUB
        )
    };
    let r = w
        .iq("carol@localhost/pc", "set", &sub("carol@localhost/pc"))
        .await;
    assert_eq!(error_of(&r).0, "not-authorized");
    let r = w
        .iq("bob@localhost/pc", "set", &sub("carol@localhost"))
        .await;
    assert_eq!(
        error_of(&r),
        ("bad-request".to_owned(), Some("invalid-jid".to_owned()))
    );
    // dave (no +notify) subscribes explicitly: gets the last item, then
    // notifications.
    let r = w
        .iq("dave@localhost/pc", "set", &sub("dave@localhost/pc"))
        .await;
    assert!(
        r.element().to_string().contains("subscribed"),
        "{}",
        r.element()
    );
    assert_eq!(w.events("dave@localhost/pc").len(), 1);
    w.publish("t2", "b", "").await;
    assert_eq!(w.events("dave@localhost/pc").len(), 1);
    // Whitelist: the owner affiliates carol as a member.
    let conf = format!(
        "<pubsub xmlns='{}'><configure node='{NODE}'><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>\
         <field var='pubsub#access_model'><value>whitelist</value></field></x></configure></pubsub>",
        ns::PUBSUB_OWNER
    );
    assert_eq!(
        w.iq(OWNER, "set", &conf).await.element().attr("type"),
        Some("result")
    );
    let get = format!(
        "<pubsub xmlns='{}'><items node='{NODE}'/></pubsub>",
        ns::PUBSUB
    );
    assert_eq!(
        error_of(&w.iq("carol@localhost/pc", "get", &get).await).0,
        "not-allowed"
    );
    let aff = format!(
        "<pubsub xmlns='{}'><affiliations node='{NODE}'><affiliation jid='carol@localhost' affiliation='member'/></affiliations></pubsub>",
        ns::PUBSUB_OWNER
    );
    assert_eq!(
        w.iq(OWNER, "set", &aff).await.element().attr("type"),
        Some("result")
    );
    let r = w.iq("carol@localhost/pc", "get", &get).await;
    assert_eq!(r.element().attr("type"), Some("result"), "{}", r.element());
    // bob, a contact but not on the whitelist, no longer gets events.
    w.online("bob@localhost/pc").await;
    w.events("bob@localhost/pc");
    w.publish("t3", "c", "").await;
    assert!(w.events("bob@localhost/pc").is_empty());
}

#[tokio::test]
async fn account_disco_shows_pep() {
    let w = World::new(PepConfig::default()).await;
    let ids = w.hub.modules().account_identities();
    assert!(
        ids.iter()
            .any(|i| i.category == "pubsub" && i.identity_type == "pep")
    );
    let f = w.hub.modules().account_features();
    assert!(
        f.iter()
            .any(|f| f == "http://jabber.org/protocol/pubsub#publish-options")
    );
}

#[tokio::test]
async fn notifications_without_payload_when_configured() {
    let mut w = World::new(PepConfig::default()).await;
    w.online("bob@localhost/pc").await;
    let opts = &publish_options("pubsub#deliver_payloads", "0");
    let r = w.publish("t1", "secret-title", opts).await;
    assert_eq!(r.element().attr("type"), Some("result"));
    let ev = w.events("bob@localhost/pc");
    assert_eq!(ev.len(), 1);
    assert!(
        ev[0].contains("t1") && !ev[0].contains("secret-title"),
        "{ev:?}"
    );
    // The item itself is there for those who ask.
    let get = format!(
        "<pubsub xmlns='{}'><items node='{NODE}'/></pubsub>",
        ns::PUBSUB
    );
    let s = w
        .iq("bob@localhost/pc", "get", &get)
        .await
        .element()
        .to_string();
    assert!(s.contains("secret-title"), "{s}");
}

#[tokio::test]
async fn nodes_are_listed_to_those_who_may_read_them() {
    let mut w = World::new(PepConfig::default()).await;
    w.publish("t1", "a", "").await;
    let opts = &publish_options("pubsub#access_model", "whitelist");
    let p = format!(
        "<pubsub xmlns='{}'><publish node='private'><item id='current'><secret xmlns='urn:x'/></item></publish>{opts}</pubsub>",
        ns::PUBSUB
    );
    w.iq(OWNER, "set", &p).await;
    let items = format!("<query xmlns='{}'/>", ns::DISCO_ITEMS);
    let nodes = |r: &Routed| {
        let s = r.element().to_string();
        (
            s.contains(&format!("node=\"{NODE}\"")) || s.contains(&format!("node='{NODE}'")),
            s.contains("private"),
        )
    };
    assert_eq!(nodes(&w.iq(OWNER, "get", &items).await), (true, true));
    assert_eq!(
        nodes(&w.iq("bob@localhost/pc", "get", &items).await),
        (true, false)
    );
    assert_eq!(
        nodes(&w.iq("carol@localhost/pc", "get", &items).await),
        (false, false)
    );
}
