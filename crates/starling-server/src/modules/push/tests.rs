//! The push module on an in-memory hub: enable/disable rules, what is
//! notified and how, the rate limit, error replies (the tracker's rules
//! alone are tested in `tracker.rs`).

use std::sync::Arc;
use std::time::Duration;

use starling_jid::{BareJid, FullJid};
use starling_stanza::ns;

use crate::config::{Config, PushConfig};
use crate::hub::Hub;
use crate::queue::Inbox;
use crate::registry::{QueueLimits, SessionHandle};
use crate::routed::Routed;
use crate::storage::{SqliteStorage, Stores};

const APP: &str = "app@localhost/srv";

struct World {
    hub: Hub,
    stores: Stores,
    /// The user's bound (not available) session: it gets the iq answers.
    user: Inbox,
    /// The app server, a local full JID.
    app: Inbox,
    _handles: Vec<Arc<SessionHandle>>,
}

fn bare(s: &str) -> BareJid {
    s.parse().unwrap()
}

fn st(xml: &str) -> Routed {
    Routed::parse(xml.parse().unwrap()).unwrap()
}

impl World {
    async fn new(push: PushConfig) -> World {
        let mut config = Config::default();
        config.modules.push = push;
        let stores = Stores::sqlite(Arc::new(SqliteStorage::open_in_memory().unwrap()), 2);
        for a in ["user@localhost", "app@localhost", "eve@localhost"] {
            stores.accounts.create_account(&bare(a), &[]).await.unwrap();
        }
        let modules = crate::modules::build(&config, &stores, None);
        let hub = Hub::new(Arc::new(config), stores.clone(), modules);
        let limits = QueueLimits {
            bytes: 1 << 20,
            count: 64,
        };
        let (u, user) = SessionHandle::new("user@localhost/phone".parse().unwrap(), 1, limits);
        let (a, app) = SessionHandle::new(APP.parse().unwrap(), 2, limits);
        for h in [&u, &a] {
            hub.sessions().insert(h.clone(), true, 10);
        }
        World {
            hub,
            stores,
            user,
            app,
            _handles: vec![u, a],
        }
    }

    async fn iq_from(&mut self, from: &str, payload: &str) -> Routed {
        let xml = format!(
            "<iq xmlns='jabber:client' type='set' id='c1' from='{from}' to='user@localhost'>{payload}</iq>"
        );
        self.hub.route(st(&xml)).await;
        let reply = if from.starts_with("user@") {
            self.user.try_recv()
        } else {
            None
        };
        reply.map(|r| (*r).clone()).expect("an answer")
    }

    async fn enable(&mut self, node: &str) -> Routed {
        let p = format!("<enable xmlns='urn:xmpp:push:0' jid='{APP}' node='{node}'/>");
        self.iq_from("user@localhost/phone", &p).await
    }

    async fn message(&self, body: Option<&str>) {
        let body = body.map_or(String::new(), |b| format!("<body>{b}</body>"));
        let xml = format!(
            "<message xmlns='jabber:client' type='chat' from='romeo@localhost/a' to='user@localhost'>{body}</message>"
        );
        self.hub.route(st(&xml)).await;
    }

    fn notifications(&mut self) -> Vec<Routed> {
        std::iter::from_fn(|| self.app.try_recv())
            .map(|r| (*r).clone())
            .collect()
    }

    async fn registrations(&self) -> usize {
        self.stores
            .push
            .push_registrations(&bare("user@localhost"))
            .await
            .unwrap()
            .len()
    }
}

fn fast() -> PushConfig {
    PushConfig {
        min_interval: Duration::ZERO,
        ..PushConfig::default()
    }
}

#[tokio::test]
async fn offline_message_is_notified_and_still_stored() {
    let mut w = World::new(PushConfig::default()).await;
    assert!(
        w.hub
            .modules()
            .account_features()
            .iter()
            .any(|f| f == ns::PUSH)
    );
    // Push sees offline messages before offline storage takes them.
    let names: Vec<_> = w.hub.modules().names().collect();
    let at = |n| names.iter().position(|&m| m == n).unwrap();
    assert!(at("push") < at("offline"), "{names:?}");
    // Before any registration: nothing (and the account is remembered as
    // having none, which enabling must undo).
    w.message(Some("early")).await;
    assert!(w.notifications().is_empty());
    assert_eq!(w.enable("n1").await.element().attr("type"), Some("result"));
    w.message(Some("hello")).await;
    let n = w.notifications();
    assert_eq!(n.len(), 1);
    let iq = n[0].element();
    assert_eq!(iq.attr("from"), Some("user@localhost"));
    assert_eq!(iq.attr("to"), Some(APP));
    let publish = iq
        .get_child("pubsub", ns::PUBSUB)
        .and_then(|p| p.get_child("publish", ns::PUBSUB))
        .unwrap();
    assert_eq!(publish.attr("node"), Some("n1"));
    let s = super::notification_summary(iq).unwrap();
    assert_eq!(s.message_count, Some(1));
    assert_eq!(s.last_message_sender.unwrap().as_str(), "romeo@localhost/a");
    assert_eq!(s.last_message_body, None);
    // Passed on to offline storage.
    let user = bare("user@localhost");
    assert_eq!(w.stores.offline.offline_count(&user).await.unwrap(), 2);
    // Rate limit: the next one within the interval is only counted.
    w.message(Some("again")).await;
    assert!(w.notifications().is_empty());
    // A message without a body wakes nobody.
    let mut w = World::new(fast()).await;
    w.enable("n1").await;
    w.message(None).await;
    assert!(w.notifications().is_empty());
}

#[tokio::test]
async fn counts_accumulate_and_body_is_opt_in() {
    let mut w = World::new(PushConfig {
        include_body: true,
        ..fast()
    })
    .await;
    w.enable("n1").await;
    w.message(Some("one")).await;
    w.message(Some("two")).await;
    let n = w.notifications();
    let counts: Vec<_> = n
        .iter()
        .map(|i| super::notification_summary(i.element()).unwrap())
        .map(|s| (s.message_count, s.last_message_body))
        .collect();
    assert_eq!(
        counts,
        [(Some(1), Some("one".into())), (Some(2), Some("two".into()))]
    );
}

#[tokio::test]
async fn publish_options_are_sent_verbatim() {
    let mut w = World::new(fast()).await;
    let p = format!(
        "<enable xmlns='urn:xmpp:push:0' jid='{APP}' node='n1'><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
         <field var='secret'><value>s3cr3t</value></field></x></enable>"
    );
    w.iq_from("user@localhost/phone", &p).await;
    w.message(Some("x")).await;
    let n = w.notifications();
    let opts = n[0]
        .element()
        .get_child("pubsub", ns::PUBSUB)
        .and_then(|p| p.get_child("publish-options", ns::PUBSUB))
        .and_then(|o| o.get_child("x", ns::DATA_FORMS))
        .unwrap();
    assert!(opts.to_xml().contains("s3cr3t"));
}

#[tokio::test]
async fn enable_rules() {
    let mut w = World::new(PushConfig {
        max_registrations: 2,
        ..fast()
    })
    .await;
    // Only the account's own sessions.
    let p = format!("<enable xmlns='urn:xmpp:push:0' jid='{APP}' node='n'/>");
    let xml = format!(
        "<iq xmlns='jabber:client' type='set' id='e1' from='app@localhost/srv' to='user@localhost'>{p}</iq>"
    );
    w.hub.route(st(&xml)).await;
    let reply = w.app.try_recv().unwrap();
    assert!(reply.element().to_xml().contains("forbidden"));
    // Bounded; the same (jid, node) replaces.
    for node in ["a", "b", "a"] {
        assert_eq!(w.enable(node).await.element().attr("type"), Some("result"));
    }
    let full = w.enable("c").await;
    assert!(full.element().to_xml().contains("policy-violation"));
    assert_eq!(w.registrations().await, 2);
    // A bad request: no node.
    let bad = format!("<enable xmlns='urn:xmpp:push:0' jid='{APP}'/>");
    let r = w.iq_from("user@localhost/phone", &bad).await;
    assert!(r.element().to_xml().contains("bad-request"));
    // Disable one node, then all of the app server's.
    let d = format!("<disable xmlns='urn:xmpp:push:0' jid='{APP}' node='a'/>");
    w.iq_from("user@localhost/phone", &d).await;
    assert_eq!(w.registrations().await, 1);
    let d = format!("<disable xmlns='urn:xmpp:push:0' jid='{APP}'/>");
    w.iq_from("user@localhost/phone", &d).await;
    assert_eq!(w.registrations().await, 0);
    w.message(Some("x")).await;
    assert!(w.notifications().is_empty());
}

async fn answer(w: &mut World, from: &str, id: &str, error: Option<&str>) {
    let body = error.map_or(String::new(), |e| {
        format!("<error type='{e}'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>")
    });
    let t = if error.is_some() { "error" } else { "result" };
    let xml = format!(
        "<iq xmlns='jabber:client' type='{t}' id='{id}' from='{from}' to='user@localhost'>{body}</iq>"
    );
    w.hub.route(st(&xml)).await;
}

#[tokio::test]
async fn error_replies_disable_unless_transient_or_forged() {
    let mut w = World::new(fast()).await;
    w.enable("n1").await;
    for (from, kind, kept) in [
        (APP, None, true),
        (APP, Some("wait"), true),
        ("eve@localhost/x", Some("cancel"), true),
        (APP, Some("cancel"), false),
    ] {
        w.message(Some("x")).await;
        let n = w.notifications();
        let id = n[0].id().unwrap().to_owned();
        answer(&mut w, from, &id, kind).await;
        assert_eq!(w.registrations().await == 1, kept, "{from} {kind:?}");
    }
    // A reply to an id that was never sent is dropped without effect.
    w.enable("n1").await;
    answer(&mut w, APP, "push-999", Some("cancel")).await;
    assert_eq!(w.registrations().await, 1);
}

#[tokio::test]
async fn app_server_gone_disables() {
    // The app server is a local resource that is not bound: the router's
    // service-unavailable bounce is the error reply.
    let mut w = World::new(fast()).await;
    let p = "<enable xmlns='urn:xmpp:push:0' jid='app@localhost/gone' node='n'/>";
    w.iq_from("user@localhost/phone", p).await;
    assert_eq!(w.registrations().await, 1);
    w.message(Some("x")).await;
    assert_eq!(w.registrations().await, 0);
}

#[tokio::test]
async fn detached_session_notifies_its_own_registrations() {
    let mut w = World::new(fast()).await;
    w.enable("phone").await;
    // From a resource without a session here: its answer goes nowhere.
    let xml = format!(
        "<iq xmlns='jabber:client' type='set' id='t1' from='user@localhost/tablet' to='user@localhost'>\
         <enable xmlns='urn:xmpp:push:0' jid='{APP}' node='tablet'/></iq>"
    );
    w.hub.route(st(&xml)).await;
    assert_eq!(w.registrations().await, 2);
    let jid: FullJid = "user@localhost/phone".parse().unwrap();
    let m = st(
        "<message xmlns='jabber:client' type='chat' from='romeo@localhost/a' to='user@localhost/phone'><body>hi</body></message>",
    );
    w.hub.modules().detached(&w.hub, &jid, &m).await;
    let n = w.notifications();
    assert_eq!(n.len(), 1);
    let node = n[0]
        .element()
        .get_child("pubsub", ns::PUBSUB)
        .and_then(|p| p.get_child("publish", ns::PUBSUB))
        .and_then(|p| p.attr("node").map(str::to_owned));
    assert_eq!(node.as_deref(), Some("phone"));
}
