//! What the end-to-end suites share that needs `starling-client` (which the
//! testkit library itself does not depend on): clients for the servers of
//! the testkit (`ServerExt`, `FedServerExt`, `FedProsodyExt`), and waiting
//! for events.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test target uses a different part of these helpers"
)]

pub mod blocking;

use std::time::Duration;

use starling_client::{Client, ClientBuilder, Event};
use starling_jid::{FullJid, Jid};
use starling_stanza::{Message, PresenceType, Subscription};
use starling_testkit::logs::tail;
use starling_testkit::peers::prosody::FedProsody;
use starling_testkit::server::{FedServer, Login, Server};
use starling_testkit::stanzas::presence;
use starling_testkit::wait::{WAIT, within};

/// The client's timeout for connecting and for each request.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client builder for a login.
pub fn client(login: Login) -> ClientBuilder {
    Client::builder(login.jid, &login.password)
        .server(&login.address)
        .ca_file(login.ca_file)
        .timeout(CLIENT_TIMEOUT)
}

/// Logs in with `builder`, sends initial presence with `priority` and waits
/// until the server has processed it (a ping after it is answered). A
/// failed login of `who` panics with what `hint` says then.
pub async fn online(
    builder: ClientBuilder,
    who: &str,
    priority: i8,
    hint: impl FnOnce() -> String,
) -> Client {
    let c = within(&format!("{who} logging in"), builder.connect())
        .await
        .unwrap_or_else(|e| panic!("{who} cannot log in: {e}\n{}", hint()));
    within("initial presence", c.send_presence(presence(priority)))
        .await
        .expect("sending presence");
    within("a ping after initial presence", c.ping(None))
        .await
        .expect("ping after initial presence");
    c
}

/// Clients for a [`Server`].
#[allow(async_fn_in_trait, reason = "used in these tests only")]
pub trait ServerExt {
    /// A client builder for `jid` that connects to the server's STARTTLS
    /// port and trusts its certificate.
    fn client(&self, jid: &str, password: &str) -> ClientBuilder;
    /// Connects `jid` over STARTTLS.
    async fn connect(&self, jid: &str, password: &str) -> Client;
    /// Connects `jid` with `resource` (or a server-generated one), sends
    /// initial presence with `priority` and waits until the server has
    /// processed it.
    async fn online(
        &self,
        jid: &str,
        password: &str,
        resource: Option<&str>,
        priority: i8,
    ) -> Client;
    /// Checks that the process still runs and serves a fresh login with a
    /// ping (`user` must exist with password `pw-<user>`).
    async fn assert_still_serving(&mut self, user: &str);
}

impl ServerExt for Server {
    fn client(&self, jid: &str, password: &str) -> ClientBuilder {
        client(self.login(jid, password))
    }

    async fn connect(&self, jid: &str, password: &str) -> Client {
        self.client(jid, password)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{jid} cannot log in: {e}\n{}", self.log_so_far()))
    }

    async fn online(
        &self,
        jid: &str,
        password: &str,
        resource: Option<&str>,
        priority: i8,
    ) -> Client {
        let mut b = self.client(jid, password);
        if let Some(r) = resource {
            b = b.resource(r);
        }
        online(b, jid, priority, || self.log_so_far()).await
    }

    async fn assert_still_serving(&mut self, user: &str) {
        assert!(self.is_running(), "the server process died");
        let j = format!("{user}@{}", self.domain);
        let c = within(
            "a fresh login",
            self.client(&j, &format!("pw-{user}"))
                .resource("fresh")
                .connect(),
        )
        .await
        .unwrap_or_else(|e| panic!("a fresh login failed: {e}"));
        within("a ping on the fresh session", c.ping(None))
            .await
            .expect("the fresh session answers a ping");
        let _ = within("closing the fresh session", c.close()).await;
        assert!(self.is_running(), "the server process died");
    }
}

/// Clients for a [`FedServer`] (accounts with password `pw-<user>`).
#[allow(async_fn_in_trait, reason = "used in these tests only")]
pub trait FedServerExt {
    /// A client for `user` on the server's c2s port, trusting its
    /// certificate.
    fn client(&self, user: &str) -> ClientBuilder;
    /// A client for `user@domain` on one of the server's extra domains.
    fn client_on(&self, domain: &str, user: &str) -> ClientBuilder;
    /// Logs `user` in with `resource`, sends initial presence and waits
    /// until the server has processed it.
    async fn online(&self, user: &str, resource: &str) -> Client;
}

impl FedServerExt for FedServer {
    fn client(&self, user: &str) -> ClientBuilder {
        client(self.login(user))
    }

    fn client_on(&self, domain: &str, user: &str) -> ClientBuilder {
        client(self.login_on(domain, user))
    }

    async fn online(&self, user: &str, resource: &str) -> Client {
        let who = format!("{user}@{}", self.domain);
        let b = self.client(user).resource(resource);
        online(b, &who, 0, || tail(&self.log(), 40)).await
    }
}

/// Clients for a [`FedProsody`] (accounts with password `pw-<user>`).
#[allow(async_fn_in_trait, reason = "used in these tests only")]
pub trait FedProsodyExt {
    /// A client for `user`, trusting Prosody's CA.
    fn client(&self, user: &str) -> ClientBuilder;
    /// Logs `user` in with `resource`, sends initial presence and waits
    /// until the server has processed it.
    async fn online(&self, user: &str, resource: &str) -> Client;
}

impl FedProsodyExt for FedProsody {
    fn client(&self, user: &str) -> ClientBuilder {
        client(self.login(user))
    }

    async fn online(&self, user: &str, resource: &str) -> Client {
        let who = format!("{user}@{}", self.domain);
        online(self.client(user).resource(resource), &who, 0, String::new).await
    }
}

/// The body of a message event.
pub fn body(ev: &Event) -> Option<&str> {
    match ev {
        Event::Message(m) => m.body(None),
        _ => None,
    }
}

/// Takes events until `pick` accepts one (skipping the others) or
/// [`WAIT`] passes.
pub async fn wait_for<T>(
    c: &mut Client,
    what: &str,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let me = c.jid().to_string();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, c.next_event()).await {
            Err(_) => panic!("{me}: timed out waiting for {what}; skipped {seen:#?}"),
            Ok(None) => {
                panic!("{me}: the session ended while waiting for {what}; skipped {seen:#?}")
            }
            Ok(Some(ev)) => {
                if let Some(t) = pick(&ev) {
                    return t;
                }
                seen.push(ev);
            }
        }
    }
}

/// Waits for a message whose body is `text`.
pub async fn wait_body(c: &mut Client, text: &str) -> Message {
    wait_for(c, &format!("a message {text:?}"), |ev| match ev {
        Event::Message(m) if m.body(None) == Some(text) => Some(m.clone()),
        _ => None,
    })
    .await
}

/// Takes events until each of `preds` has matched one (in any order, since
/// the server may send them in any order); returns the matching events in
/// the order of `preds`.
pub async fn wait_all(c: &mut Client, what: &str, preds: &[&dyn Fn(&Event) -> bool]) -> Vec<Event> {
    let mut found: Vec<Option<Event>> = vec![None; preds.len()];
    wait_for(c, what, |ev| {
        for (i, p) in preds.iter().enumerate() {
            if found[i].is_none() && p(ev) {
                found[i] = Some(ev.clone());
                break;
            }
        }
        found.iter().all(Option::is_some).then_some(())
    })
    .await;
    found.into_iter().flatten().collect()
}

/// Every event before the message whose body is `marker` (see
/// [`send_marker`]).
pub async fn until_marker(c: &mut Client, marker: &str) -> Vec<Event> {
    let mut before = Vec::new();
    wait_for(c, &format!("the marker {marker:?}"), |ev| {
        if body(ev) == Some(marker) {
            Some(())
        } else {
            before.push(ev.clone());
            None
        }
    })
    .await;
    before
}

/// Sends a chat message with a unique body to `to` (a full JID) and returns
/// that body: once it arrives, everything `from` sent earlier to the same
/// session has been processed (RFC 6120 §10.1, in-order processing), so a
/// stanza that did not arrive before it will not arrive.
pub async fn send_marker(from: &Client, to: &FullJid) -> String {
    let marker = format!("marker-{}", from.new_id());
    within(
        "sending a marker",
        from.send_message(Jid::from(to.clone()), &marker),
    )
    .await
    .expect("sending a marker");
    marker
}

/// Waits for a presence of type `kind` from `from`.
async fn wait_presence(c: &mut Client, what: &str, kind: PresenceType, from: &Jid) {
    wait_for(c, what, |ev| match ev {
        Event::Presence(p) if p.presence_type == kind && p.header.from.as_ref() == Some(from) => {
            Some(())
        }
        _ => None,
    })
    .await;
}

/// Both clients subscribe to each other (RFC 6121 §3.1), ending with
/// `subscription='both'` on both sides. Both must be available.
pub async fn befriend(a: &mut Client, b: &mut Client) {
    let (ab, bb) = (a.jid().bare(), b.jid().bare());
    within("roster", a.roster()).await.expect("roster");
    within("roster", b.roster()).await.expect("roster");
    within("subscribe", a.subscribe(bb.clone()))
        .await
        .expect("subscribe");
    let from_a = Jid::from(ab.clone());
    wait_presence(
        b,
        "the subscription request",
        PresenceType::Subscribe,
        &from_a,
    )
    .await;
    within("approve", b.approve(ab.clone()))
        .await
        .expect("approve");
    within("subscribe", b.subscribe(ab.clone()))
        .await
        .expect("subscribe");
    let from_b = Jid::from(bb.clone());
    wait_presence(
        a,
        "the subscription request",
        PresenceType::Subscribe,
        &from_b,
    )
    .await;
    within("approve", a.approve(bb.clone()))
        .await
        .expect("approve");
    for (c, other) in [(&mut *a, bb.clone()), (&mut *b, ab.clone())] {
        wait_for(c, "a roster push with subscription both", |ev| match ev {
            Event::RosterPush(r)
                if r.items
                    .iter()
                    .any(|i| i.jid == other && i.subscription == Subscription::Both) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    }
}
