//! What the XEP-0191 suite (`tests/blocking.rs`) needs: block list
//! requests, pushes, and checks of what arrived, with `starling-client`.

use starling_client::{Client, Error, Event};
use starling_jid::Jid;
use starling_stanza::{
    Block, BlockList, Blocked, Iq, MessageType, Payload, Ping, StanzaError,
    StanzaErrorCondition as Cond, Unblock,
};
use starling_testkit::server::Server;
use starling_testkit::stanzas::jid;
use starling_testkit::wait::within;

use super::{ServerExt, body, send_marker, until_marker, wait_for};

pub fn acct(user: &str) -> String {
    format!("{user}@localhost")
}

pub fn pw(user: &str) -> String {
    format!("pw-{user}")
}

/// `user` online with `resource`; iq requests (the pushes) come as events.
pub async fn online(server: &Server, user: &str, resource: &str) -> Client {
    let b = server
        .client(&acct(user), &pw(user))
        .resource(resource)
        .handle_iq_requests(true);
    super::online(b, user, 0, || server.log_so_far()).await
}

/// `user` bound with `resource` but not available: nothing stored offline
/// is delivered until it sends initial presence.
pub async fn bound(server: &Server, user: &str, resource: &str) -> Client {
    within(
        &format!("{user} logging in"),
        server
            .client(&acct(user), &pw(user))
            .resource(resource)
            .connect(),
    )
    .await
    .unwrap_or_else(|e| panic!("{user} cannot log in: {e}"))
}

/// Sends initial presence from `c`, then returns what it received until
/// a marker sent after it: the messages stored offline are written while
/// initial presence is processed, so all of them are in it. Checks that
/// `present` is there and `absent` is not (`why`: what it would mean).
pub async fn offline_delivery(c: &mut Client, present: &str, absent: &str, why: &str) {
    within(
        "presence",
        c.send_presence(starling_testkit::stanzas::presence(0)),
    )
    .await
    .expect("initial presence");
    let marker = send_marker(c, &c.jid().clone()).await;
    let before = until_marker(c, &marker).await;
    assert!(
        before.iter().any(|e| body(e) == Some(present)),
        "{present:?} was not delivered: {before:?}"
    );
    assert!(
        !before.iter().any(|e| body(e) == Some(absent)),
        "{why}: {before:?}"
    );
}

pub async fn blocklist(c: &Client) -> Vec<Jid> {
    let reply = within(
        "blocklist",
        c.request(Iq::get(c.new_id(), BlockList::default())),
    )
    .await
    .expect("the block list");
    match reply.payload_as::<BlockList>() {
        Some(Ok(l)) => l.items,
        other => panic!("not a block list: {other:?}"),
    }
}

pub async fn block(c: &Client, items: &[&str]) -> Result<Iq, Error> {
    let items = items.iter().map(|s| jid(s)).collect();
    within("block", c.request(Iq::set(c.new_id(), Block { items }))).await
}

pub async fn unblock(c: &Client, items: &[&str]) {
    let items = items.iter().map(|s| jid(s)).collect();
    within("unblock", c.request(Iq::set(c.new_id(), Unblock { items })))
        .await
        .expect("unblock answered with a result");
}

/// A block (`true`) or unblock push: the client acknowledges it and
/// reports it as [`Event::Blocked`] / [`Event::Unblocked`]; the items.
pub async fn wait_push(c: &mut Client, what: &str, block: bool) -> Vec<Jid> {
    wait_for(c, what, |ev| match ev {
        Event::Blocked(items) if block => Some(items.clone()),
        Event::Unblocked(items) if !block => Some(items.clone()),
        _ => None,
    })
    .await
}

/// Waits for an error message from `from`.
pub async fn wait_error_from(c: &mut Client, from: &str) -> StanzaError {
    wait_for(c, &format!("an error message from {from}"), |ev| match ev {
        Event::Message(m)
            if m.message_type == MessageType::Error
                && m.header.from.as_ref().map(|f| f.bare().as_str().to_owned())
                    == Some(from.to_owned()) =>
        {
            m.error.clone()
        }
        _ => None,
    })
    .await
}

/// Sends a chat message with `text` to `to`.
pub async fn send(c: &Client, to: Jid, text: &str) {
    within("send", c.send_message(to, text))
        .await
        .expect("send");
}

/// The stanza error of a ping from `c` to `to`.
pub async fn ping_error(c: &Client, to: Jid) -> StanzaError {
    match within("ping", c.request(Iq::get(c.new_id(), Ping).with_to(to))).await {
        Err(Error::Stanza(e)) => *e,
        other => panic!("expected a stanza error, got {other:?}"),
    }
}

/// Checks that no message `text` reached `c` (a marker from `c` to
/// itself comes after anything already processed for it).
pub async fn not_received(c: &mut Client, text: &str, what: &str) {
    let marker = send_marker(c, &c.jid().clone()).await;
    let before = until_marker(c, &marker).await;
    assert!(
        !before.iter().any(|e| body(e) == Some(text)),
        "{what}: {before:?}"
    );
}

/// Whether a stanza error is XEP-0191's `not-acceptable` + `<blocked/>`.
pub fn is_blocked_error(e: &StanzaError) -> bool {
    e.condition == Cond::NotAcceptable
        && e.application
            .as_deref()
            .is_some_and(|a| Blocked::from_element(a).is_ok())
}
