//! Storage failures are answered as temporary server errors, never as a
//! different protocol answer: the hub and its modules run on stores that
//! fail on demand, with local sessions that record what they receive.
//!
//! Without the fault a message to an offline account is stored, a
//! subscription request to an account is delivered, and a roster get
//! answers the roster; with it, each gets `internal-server-error` of type
//! `wait`, and nothing claims that the account does not exist. A block
//! list that cannot be read refuses stanzas for now instead of letting
//! them through.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use starling_jid::{BareJid, DomainPart, FullJid};
use starling_server::config::Config;
use starling_server::hub::Hub;
use starling_server::module::{Extensions, FlushFuture, Session, SessionIo};
use starling_server::queue::Inbox;
use starling_server::registry::{QueueLimits, SessionHandle};
use starling_server::routed::Routed;
use starling_server::storage::{
    AccountStore, Admission, BlocklistFull, BlocklistStore, OfflineFull, OfflineMessage,
    OfflineQuota, OfflineStore, RequestLimits, RequestsFull, RosterEntry, RosterStore,
    SqliteStorage, StorageError, Stores, SubscriptionRequest,
};
use starling_stanza::{ErrorType, StanzaError, StanzaErrorCondition as Cond};
use starling_xml::Element;

/// Stores that fail every call while `fail` is set, and every call about
/// the account in `fail_for`.
struct Faulty {
    inner: Stores,
    fail: AtomicBool,
    fail_for: std::sync::Mutex<Option<BareJid>>,
}

impl Faulty {
    fn check(&self, owner: Option<&BareJid>) -> Result<(), StorageError> {
        let targeted = owner.is_some_and(|o| self.fail_for.lock().unwrap().as_ref() == Some(o));
        if self.fail.load(Ordering::SeqCst) || targeted {
            Err(StorageError::Backend("injected failure".to_owned()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl AccountStore for Faulty {
    async fn create_account(
        &self,
        jid: &BareJid,
        c: &[starling_auth::ScramCredentials],
    ) -> Result<(), StorageError> {
        self.check(Some(jid))?;
        self.inner.accounts.create_account(jid, c).await
    }
    async fn set_credentials(
        &self,
        jid: &BareJid,
        c: &[starling_auth::ScramCredentials],
    ) -> Result<(), StorageError> {
        self.check(Some(jid))?;
        self.inner.accounts.set_credentials(jid, c).await
    }
    async fn remove_account(&self, jid: &BareJid) -> Result<bool, StorageError> {
        self.check(Some(jid))?;
        self.inner.accounts.remove_account(jid).await
    }
    async fn account_exists(&self, jid: &BareJid) -> Result<bool, StorageError> {
        self.check(Some(jid))?;
        self.inner.accounts.account_exists(jid).await
    }
    async fn list_accounts(&self, d: Option<&DomainPart>) -> Result<Vec<BareJid>, StorageError> {
        self.check(None)?;
        self.inner.accounts.list_accounts(d).await
    }
    async fn changed_elsewhere(&self) -> Result<bool, StorageError> {
        self.check(None)?;
        self.inner.accounts.changed_elsewhere().await
    }
}

#[async_trait]
impl RosterStore for Faulty {
    async fn roster(&self, o: &BareJid) -> Result<(u64, Vec<RosterEntry>), StorageError> {
        self.check(Some(o))?;
        self.inner.rosters.roster(o).await
    }
    async fn roster_item(
        &self,
        o: &BareJid,
        c: &BareJid,
    ) -> Result<Option<RosterEntry>, StorageError> {
        self.check(Some(o))?;
        self.inner.rosters.roster_item(o, c).await
    }
    async fn roster_put(&self, o: &BareJid, e: &RosterEntry) -> Result<u64, StorageError> {
        self.check(Some(o))?;
        self.inner.rosters.roster_put(o, e).await
    }
    async fn roster_remove(&self, o: &BareJid, c: &BareJid) -> Result<Option<u64>, StorageError> {
        self.check(Some(o))?;
        self.inner.rosters.roster_remove(o, c).await
    }
    async fn subscription_requests(
        &self,
        o: &BareJid,
    ) -> Result<Vec<SubscriptionRequest>, StorageError> {
        self.check(Some(o))?;
        self.inner.rosters.subscription_requests(o).await
    }
    async fn add_subscription_request(
        &self,
        o: &BareJid,
        r: &SubscriptionRequest,
        l: RequestLimits,
    ) -> Result<Admission<RequestsFull>, StorageError> {
        self.check(Some(o))?;
        self.inner.rosters.add_subscription_request(o, r, l).await
    }
    async fn remove_subscription_request(
        &self,
        o: &BareJid,
        f: &BareJid,
    ) -> Result<bool, StorageError> {
        self.check(Some(o))?;
        self.inner.rosters.remove_subscription_request(o, f).await
    }
}

#[async_trait]
impl OfflineStore for Faulty {
    async fn offline_push(
        &self,
        o: &BareJid,
        f: &BareJid,
        s: &str,
        q: OfflineQuota,
    ) -> Result<Admission<OfflineFull>, StorageError> {
        self.check(Some(o))?;
        self.inner.offline.offline_push(o, f, s, q).await
    }
    async fn offline_load(
        &self,
        o: &BareJid,
        l: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError> {
        self.check(Some(o))?;
        self.inner.offline.offline_load(o, l).await
    }
    async fn offline_load_after(
        &self,
        o: &BareJid,
        after: i64,
        l: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError> {
        self.check(Some(o))?;
        self.inner.offline.offline_load_after(o, after, l).await
    }
    async fn offline_journal(
        &self,
        o: &BareJid,
        f: &BareJid,
        st: &str,
    ) -> Result<i64, StorageError> {
        self.check(Some(o))?;
        self.inner.offline.offline_journal(o, f, st).await
    }
    async fn offline_release(&self, ids: Vec<i64>) -> Result<(), StorageError> {
        self.check(None)?;
        self.inner.offline.offline_release(ids).await
    }
    async fn offline_recover(&self) -> Result<usize, StorageError> {
        self.check(None)?;
        self.inner.offline.offline_recover().await
    }
    async fn offline_delete(&self, o: &BareJid, up_to: i64) -> Result<(), StorageError> {
        self.check(Some(o))?;
        self.inner.offline.offline_delete(o, up_to).await
    }
    async fn offline_count(&self, o: &BareJid) -> Result<usize, StorageError> {
        self.check(Some(o))?;
        self.inner.offline.offline_count(o).await
    }
}

#[async_trait]
impl BlocklistStore for Faulty {
    async fn blocklist(&self, o: &BareJid) -> Result<Vec<starling_jid::Jid>, StorageError> {
        self.check(Some(o))?;
        self.inner.blocklists.blocklist(o).await
    }
    async fn block(
        &self,
        o: &BareJid,
        items: &[starling_jid::Jid],
        max: usize,
    ) -> Result<Admission<BlocklistFull>, StorageError> {
        self.check(Some(o))?;
        self.inner.blocklists.block(o, items, max).await
    }
    async fn unblock(
        &self,
        o: &BareJid,
        items: &[starling_jid::Jid],
    ) -> Result<Vec<starling_jid::Jid>, StorageError> {
        self.check(Some(o))?;
        self.inner.blocklists.unblock(o, items).await
    }
    async fn blockers(&self) -> Result<Vec<BareJid>, StorageError> {
        self.check(None)?;
        self.inner.blocklists.blockers().await
    }
}

/// What a session writes on its own stream.
#[derive(Default)]
struct Captured(Vec<Element>);

impl SessionIo for Captured {
    fn send(&mut self, el: &Element) {
        self.0.push(el.clone());
    }
    fn flush(&mut self) -> FlushFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// A local session: its handle, queue, module state and own stream.
struct Local {
    handle: Arc<SessionHandle>,
    rx: Inbox,
    ext: Extensions,
    io: Captured,
}

impl Local {
    async fn send(&mut self, hub: &Hub, xml: &str) {
        let mut el: Element = xml.parse().unwrap();
        el.set_attr("from", Some(self.handle.jid.as_str()));
        let st = Routed::parse(el).expect("a valid stanza");
        let mut s = Session::new(&self.handle, &mut self.ext, &mut self.io);
        hub.client_stanza(&mut s, st).await;
    }

    /// Everything the session got so far: written on its own stream
    /// (answers to its own requests, refusals by its modules), then
    /// queued for it.
    fn received(&mut self) -> Vec<Element> {
        let mut out = std::mem::take(&mut self.io.0);
        while let Some(st) = self.rx.try_recv() {
            out.push(st.element().clone());
        }
        out
    }
}

struct World {
    hub: Hub,
    faulty: Arc<Faulty>,
    next: u64,
}

impl World {
    async fn new(accounts: &[&str]) -> World {
        let config = Config::default();
        let inner = Stores::sqlite(Arc::new(SqliteStorage::open_in_memory().unwrap()), 2);
        for a in accounts {
            let jid: BareJid = format!("{a}@localhost").parse().unwrap();
            inner.accounts.create_account(&jid, &[]).await.unwrap();
        }
        let faulty = Arc::new(Faulty {
            inner: inner.clone(),
            fail: AtomicBool::new(false),
            fail_for: std::sync::Mutex::new(None),
        });
        let stores = Stores {
            accounts: faulty.clone(),
            rosters: faulty.clone(),
            offline: faulty.clone(),
            push: inner.push.clone(),
            blocklists: faulty.clone(),
            pubsub: inner.pubsub.clone(),
            vcards: inner.vcards.clone(),
            private: inner.private.clone(),
            credentials: inner.credentials.clone(),
        };
        let modules = starling_server::modules::build(&config, &stores, None);
        let hub = Hub::new(Arc::new(config), stores, modules);
        World {
            hub,
            faulty,
            next: 0,
        }
    }

    fn fail(&self, on: bool) {
        self.faulty.fail.store(on, Ordering::SeqCst);
    }

    /// Fails every call about `account` only.
    fn fail_for(&self, account: &str) {
        *self.faulty.fail_for.lock().unwrap() = Some(account.parse().unwrap());
    }

    /// A bound session (available after initial presence when `available`).
    async fn login(&mut self, full: &str, available: bool) -> Local {
        self.next += 1;
        let jid: FullJid = full.parse().unwrap();
        let (handle, rx) = SessionHandle::new(
            jid,
            self.next,
            QueueLimits {
                bytes: 1 << 20,
                count: 100,
            },
        );
        let _ = self.hub.sessions().insert(handle.clone(), true, 10);
        let mut local = Local {
            handle,
            rx,
            ext: Extensions::default(),
            io: Captured::default(),
        };
        if available {
            local
                .send(&self.hub, "<presence xmlns='jabber:client'/>")
                .await;
            local.received();
        }
        local
    }
}

fn error_of(el: &Element) -> Option<StanzaError> {
    (el.attr("type") == Some("error"))
        .then(|| el.get_child("error", "jabber:client"))
        .flatten()
        .and_then(StanzaError::from_element)
}

fn assert_temporary(el: &Element) {
    let e = error_of(el).unwrap_or_else(|| panic!("not an error: {}", el.to_xml()));
    assert_eq!(e.condition, Cond::InternalServerError, "{}", el.to_xml());
    assert_eq!(e.error_type, ErrorType::Wait, "{}", el.to_xml());
}

#[tokio::test]
async fn a_message_to_an_offline_account_is_stored_or_refused_for_now() {
    let mut w = World::new(&["alice", "bob"]).await;
    let mut alice = w.login("alice@localhost/a", true).await;
    let msg = "<message xmlns='jabber:client' to='bob@localhost' type='chat' id='m1'><body>hi</body></message>";
    alice.send(&w.hub, msg).await;
    assert!(alice.received().is_empty(), "stored without an error");
    let bob: BareJid = "bob@localhost".parse().unwrap();
    assert_eq!(w.hub.stores().offline.offline_count(&bob).await.unwrap(), 1);

    w.fail(true);
    alice.send(&w.hub, msg).await;
    let got = alice.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_temporary(&got[0]);
    assert_eq!(got[0].attr("id"), Some("m1"));
}

#[tokio::test]
async fn an_unknown_account_state_is_not_a_missing_account() {
    let mut w = World::new(&["alice", "bob"]).await;
    let mut alice = w.login("alice@localhost/a", true).await;
    w.fail(true);
    // Without sessions, whether bob exists needs storage: a failure is not
    // "no such user" (service-unavailable) and not "unsubscribed".
    alice
        .send(
            &w.hub,
            "<message xmlns='jabber:client' to='nobody@localhost' id='m2'><body>x</body></message>",
        )
        .await;
    let got = alice.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_temporary(&got[0]);

    alice
        .send(
            &w.hub,
            "<presence xmlns='jabber:client' to='bob@localhost' type='subscribe' id='s1'/>",
        )
        .await;
    let got = alice.received();
    assert!(
        !got.iter().any(|e| e.attr("type") == Some("unsubscribed")),
        "a storage failure answered unsubscribed: {got:?}"
    );
    assert!(got.iter().any(|e| error_of(e).is_some()), "{got:?}");
    for e in got.iter().filter(|e| error_of(e).is_some()) {
        assert_temporary(e);
    }
}

#[tokio::test]
async fn roster_requests_fail_as_temporary_errors() {
    let mut w = World::new(&["alice"]).await;
    let mut alice = w.login("alice@localhost/a", false).await;
    w.fail(true);
    alice
        .send(
            &w.hub,
            "<iq xmlns='jabber:client' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
        )
        .await;
    alice
        .send(&w.hub, "<iq xmlns='jabber:client' type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>")
        .await;
    let answers = std::mem::take(&mut alice.io.0);
    assert_eq!(answers.len(), 2, "{answers:?}");
    for a in &answers {
        assert_temporary(a);
    }
    w.fail(false);
    alice
        .send(
            &w.hub,
            "<iq xmlns='jabber:client' type='get' id='r3'><query xmlns='jabber:iq:roster'/></iq>",
        )
        .await;
    let ok = std::mem::take(&mut alice.io.0);
    assert_eq!(ok[0].attr("type"), Some("result"), "{ok:?}");
}

#[tokio::test]
async fn an_inbound_subscription_that_cannot_be_recorded_is_refused_for_now() {
    let mut w = World::new(&["alice", "bob"]).await;
    let mut alice = w.login("alice@localhost/a", true).await;
    let mut bob = w.login("bob@localhost/b", true).await;
    // Alice's side succeeds, bob's side (recording the request) fails: the
    // request is not silently lost.
    w.fail_for("bob@localhost");
    alice
        .send(
            &w.hub,
            "<presence xmlns='jabber:client' to='bob@localhost' type='subscribe'/>",
        )
        .await;
    let got = alice.received();
    assert!(
        got.iter().all(|e| e.attr("type") != Some("unsubscribed")),
        "{got:?}"
    );
    for e in got.iter().filter(|e| error_of(e).is_some()) {
        assert_temporary(e);
    }
    assert!(!got.is_empty(), "the sender heard nothing");
    assert_eq!(got[0].attr("from"), Some("bob@localhost"), "{got:?}");
    assert!(
        bob.received().is_empty(),
        "bob got a request that was not recorded"
    );
    // Alice's own roster shows the pending request (her side was stored).
    let alice_jid: BareJid = "alice@localhost".parse().unwrap();
    let item = w
        .hub
        .stores()
        .rosters
        .roster_item(&alice_jid, &"bob@localhost".parse().unwrap())
        .await;
    assert!(item.unwrap().is_some_and(|i| i.ask));
}

#[tokio::test]
async fn a_failing_probe_or_broadcast_is_not_answered_as_unavailable() {
    let mut w = World::new(&["alice", "bob"]).await;
    let mut alice = w.login("alice@localhost/a", true).await;
    let _bob = w.login("bob@localhost/b", true).await;
    w.fail_for("bob@localhost");
    // A probe needs bob's roster: the failure is an error, not a claim
    // that bob is unavailable or that alice is not subscribed.
    alice
        .send(
            &w.hub,
            "<presence xmlns='jabber:client' to='bob@localhost' type='probe'/>",
        )
        .await;
    let got = alice.received();
    assert!(
        !got.iter().any(|e| e.attr("type") == Some("unavailable")),
        "{got:?}"
    );
    assert_eq!(got.len(), 1, "{got:?}");
    assert_temporary(&got[0]);
}

/// XEP-0191: a block list that cannot be read does not let stanzas
/// through as if nobody were blocked, and a block that cannot be stored
/// is not acknowledged.
#[tokio::test]
async fn an_unreadable_block_list_refuses_for_now() {
    let mut w = World::new(&["alice", "bob"]).await;
    let mut alice = w.login("alice@localhost/a", true).await;
    let _bob = w.login("bob@localhost/b", true).await;
    w.fail(true);
    let msg = "<message xmlns='jabber:client' to='bob@localhost/b' type='chat' id='m3'><body>x</body></message>";
    alice.send(&w.hub, msg).await;
    let got = alice.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_temporary(&got[0]);
    let block = "<iq xmlns='jabber:client' type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>";
    alice.send(&w.hub, block).await;
    let answers = std::mem::take(&mut alice.io.0);
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_temporary(&answers[0]);
    w.fail(false);
    alice.send(&w.hub, block).await;
    let ok = std::mem::take(&mut alice.io.0);
    assert_eq!(ok[0].attr("type"), Some("result"), "{ok:?}");
}
