//! Scenarios of a mobile client — stream management with resumption,
//! carbons, client state indication, blocking — against any server: each
//! takes [`Login`]s (address, account, trusted CA) of existing accounts on
//! one server whose stream features include XEP-0198, XEP-0280, XEP-0352
//! and XEP-0191. `client_mobile_peers.rs` runs them against Prosody and
//! ejabberd; a suite against the `starling` binary includes this module
//! (and `common`) the same way and passes its own logins.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test target uses a different part of these helpers"
)]

use std::time::Duration;

use starling_client::{AckPolicy, Carbon, Client, ClientBuilder, Event, Events};
use starling_jid::Jid;
use starling_stanza::{Message, Presence, PresenceType};
use starling_testkit::server::Login;

use super::common::client;

/// How long to wait for one event.
const EVENT_LIMIT: Duration = Duration::from_secs(15);

/// A scenario's outcome: what went wrong, if anything.
pub type Outcome = Result<(), String>;

/// Waits for the first event that `pick` maps to a value; other events are
/// skipped.
pub async fn expect<T>(
    events: &mut Events,
    what: &str,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> Result<T, String> {
    let wait = async {
        while let Some(ev) = events.next_event().await {
            if let Some(v) = pick(ev) {
                return Ok(v);
            }
        }
        Err(format!("the session ended while waiting for {what}"))
    };
    tokio::time::timeout(EVENT_LIMIT, wait)
        .await
        .unwrap_or_else(|_| Err(format!("no {what} within {EVENT_LIMIT:?}")))
}

/// Receives the next `n` messages and checks that they are `PREFIX-0`
/// to `PREFIX-(n-1)`, in order.
pub async fn in_order(events: &mut Events, prefix: &str, n: usize) -> Outcome {
    let mut got = Vec::new();
    while got.len() < n {
        let body = expect(events, prefix, |ev| match ev {
            Event::Message(msg) => Some(body_of(&msg)),
            _ => None,
        })
        .await
        .map_err(|e| format!("{e}; received so far: {got:?}"))?;
        got.push(body);
    }
    let want: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    if got == want {
        Ok(())
    } else {
        Err(format!("received {got:?}, expected {want:?}"))
    }
}

/// A client with stream management and reconnection, which waits
/// `delay_s` seconds before reconnecting and asks for an ack every
/// `every` stanzas (or after 300 ms).
pub fn resuming(login: Login, delay_s: u64, every: u32) -> ClientBuilder {
    client(login)
        .stream_management(true)
        .reconnect(true)
        .reconnect_delay(Duration::from_secs(delay_s))
        .ack_policy(AckPolicy {
            every,
            after: Duration::from_millis(300),
        })
}

/// Logs in, sends initial presence and waits for the server to process it.
async fn online(builder: ClientBuilder, who: &str) -> Result<Client, String> {
    let c = builder
        .connect()
        .await
        .map_err(|e| format!("{who} cannot log in: {e}"))?;
    c.send_presence(Presence::new(PresenceType::Available))
        .await
        .map_err(|e| format!("{who}: presence: {e}"))?;
    c.ping(None)
        .await
        .map_err(|e| format!("{who}: ping: {e}"))?;
    Ok(c)
}

fn body_of(m: &Message) -> String {
    m.body(None).unwrap_or_default().to_owned()
}

fn fail(what: &str) -> impl Fn(starling_client::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// XEP-0198: the mobile client enables stream management, its TCP
/// connection is cut without `</stream>`, 20 messages are sent to it
/// meanwhile and 3 sent by it; after the resumption each arrives exactly
/// once, in order, on both sides.
pub async fn sm_resumption(mobile: Login, peer: Login) -> Outcome {
    let (m, mut m_events) = online(resuming(mobile, 2, 2), "mobile").await?.split();
    let (p, mut p_events) = online(client(peer), "peer").await?.split();
    let status = m.sm_status();
    if !status.enabled || status.id.is_none() {
        return Err(format!(
            "stream management not enabled and resumable: {status:?}"
        ));
    }
    let m_jid = Jid::from(m.jid().clone());
    let p_jid = Jid::from(p.jid().clone());

    // Some traffic, acknowledged before the cut.
    m.send_message(p_jid.clone(), "before")
        .await
        .map_err(fail("send"))?;
    expect(&mut p_events, "'before'", |ev| match ev {
        Event::Message(msg) if body_of(&msg) == "before" => Some(()),
        _ => None,
    })
    .await?;

    m.drop_connection().await.map_err(fail("drop"))?;
    expect(&mut m_events, "Disconnected", |ev| {
        matches!(ev, Event::Disconnected(_)).then_some(())
    })
    .await?;
    for i in 0..20 {
        p.send_message(m_jid.clone(), &format!("to-mobile-{i}"))
            .await
            .map_err(fail("peer send"))?;
    }
    for i in 0..3 {
        m.send_message(p_jid.clone(), &format!("from-mobile-{i}"))
            .await
            .map_err(fail("mobile send while cut"))?;
    }
    // The server has the 20 messages before the client comes back.
    p.ping(None).await.map_err(fail("peer ping"))?;

    let mut got = Vec::new();
    expect(&mut m_events, "Resumed", |ev| match ev {
        Event::Resumed(_) => Some(()),
        Event::Message(msg) => {
            got.push(body_of(&msg));
            None
        }
        _ => None,
    })
    .await?;
    while got.len() < 20 {
        let body = expect(&mut m_events, "a message after resumption", |ev| match ev {
            Event::Message(msg) => Some(body_of(&msg)),
            _ => None,
        })
        .await
        .map_err(|e| format!("{e}; received so far: {got:?}"))?;
        got.push(body);
    }
    // A marker after them: nothing is delivered twice.
    p.send_message(m_jid.clone(), "end")
        .await
        .map_err(fail("peer send"))?;
    loop {
        let body = expect(&mut m_events, "'end'", |ev| match ev {
            Event::Message(msg) => Some(body_of(&msg)),
            _ => None,
        })
        .await?;
        if body == "end" {
            break;
        }
        got.push(body);
    }
    let want: Vec<String> = (0..20).map(|i| format!("to-mobile-{i}")).collect();
    if got != want {
        return Err(format!(
            "the mobile client received {got:?}, expected {want:?}"
        ));
    }
    in_order(&mut p_events, "from-mobile", 3).await?;
    // Everything the mobile client sent is acknowledged in the end.
    m.ping(None).await.map_err(fail("ping after resumption"))?;
    all_acked(&m).await?;
    if m.current_jid() != *m.jid() {
        return Err("the resumed session has another JID".to_owned());
    }
    let _ = p.close().await;
    let _ = m.close().await;
    Ok(())
}

/// Waits until the server acknowledged every stanza the client sent.
async fn all_acked(c: &starling_client::ClientHandle) -> Outcome {
    let deadline = tokio::time::Instant::now() + EVENT_LIMIT;
    while c.sm_status().unacked > 0 {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("still unacknowledged: {:?}", c.sm_status()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// XEP-0198 `<failed/>`: while the mobile client is cut off, another login
/// with its full JID replaces the hibernated session, so the resumption
/// fails; the client reports it ([`Event::ResumeFailed`], then
/// [`Event::Reconnected`]), binds a new session and sends what it sent
/// while cut off, exactly once.
pub async fn sm_resume_failed(mobile: Login, peer: Login) -> Outcome {
    let interloper = client(mobile.clone());
    let (m, mut m_events) = online(resuming(mobile, 3, 1), "mobile").await?.split();
    let (p, mut p_events) = online(client(peer), "peer").await?.split();
    let p_jid = Jid::from(p.jid().clone());
    all_acked(&m).await?;
    m.drop_connection().await.map_err(fail("drop"))?;
    expect(&mut m_events, "Disconnected", |ev| {
        matches!(ev, Event::Disconnected(_)).then_some(())
    })
    .await?;
    for i in 0..3 {
        m.send_message(p_jid.clone(), &format!("while-cut-{i}"))
            .await
            .map_err(fail("send while cut"))?;
    }
    let other = interloper
        .connect()
        .await
        .map_err(fail("the second login with the same resource"))?;
    let _ = other.close().await;
    let condition = expect(&mut m_events, "ResumeFailed", |ev| match ev {
        Event::ResumeFailed(c) => Some(Ok(c)),
        Event::Resumed(_) => Some(Err("resumed a session that was replaced".to_owned())),
        _ => None,
    })
    .await??;
    expect(&mut m_events, "Reconnected", |ev| {
        matches!(ev, Event::Reconnected(_)).then_some(())
    })
    .await
    .map_err(|e| format!("{e} (after ResumeFailed({condition:?}))"))?;
    m.send_presence(Presence::new(PresenceType::Available))
        .await
        .map_err(fail("presence again"))?;
    in_order(&mut p_events, "while-cut", 3).await?;
    // The answer to <enable/> comes before the ping's.
    m.ping(None)
        .await
        .map_err(fail("ping on the new session"))?;
    let status = m.sm_status();
    if !status.enabled {
        return Err(format!("stream management not enabled again: {status:?}"));
    }
    all_acked(&m).await?;
    let _ = p.close().await;
    let _ = m.close().await;
    Ok(())
}

/// XEP-0280: two resources of one account with carbons on; a message one
/// receives and one sends show up on the other as `Received` and `Sent`.
pub async fn carbons(phone: Login, desktop: Login, peer: Login) -> Outcome {
    let (ph, mut ph_events) = online(client(phone), "phone").await?.split();
    let desk = online(client(desktop), "desktop").await?;
    let (p, mut p_events) = online(client(peer), "peer").await?.split();
    ph.enable_carbons().await.map_err(fail("phone carbons"))?;
    desk.enable_carbons()
        .await
        .map_err(fail("desktop carbons"))?;
    let desk_jid = Jid::from(desk.jid().clone());
    let p_jid = Jid::from(p.jid().clone());

    p.send_message(desk_jid, "to the desktop")
        .await
        .map_err(fail("peer send"))?;
    let (kind, m) = expect(&mut ph_events, "a received carbon", |ev| match ev {
        Event::Carbon(k, m) => Some((k, m)),
        _ => None,
    })
    .await?;
    if kind != Carbon::Received || body_of(&m) != "to the desktop" {
        return Err(format!("expected a received carbon, got {kind:?} {m:?}"));
    }
    desk.send_message(p_jid, "from the desktop")
        .await
        .map_err(fail("desktop send"))?;
    let (kind, m) = expect(&mut ph_events, "a sent carbon", |ev| match ev {
        Event::Carbon(k, m) => Some((k, m)),
        _ => None,
    })
    .await?;
    if kind != Carbon::Sent || body_of(&m) != "from the desktop" {
        return Err(format!("expected a sent carbon, got {kind:?} {m:?}"));
    }
    expect(&mut p_events, "the desktop's message", |ev| match ev {
        Event::Message(m) if body_of(&m) == "from the desktop" => Some(()),
        _ => None,
    })
    .await?;
    ph.disable_carbons()
        .await
        .map_err(fail("disable carbons"))?;
    let _ = desk.close().await;
    let _ = ph.close().await;
    let _ = p.close().await;
    Ok(())
}

/// XEP-0352: `<inactive/>` and `<active/>` are accepted (the server keeps
/// serving the session).
pub async fn csi(login: Login) -> Outcome {
    let c = online(client(login), "client").await?;
    c.set_active(false).await.map_err(fail("inactive"))?;
    c.set_active(true).await.map_err(fail("active"))?;
    c.ping(None).await.map_err(fail("ping after CSI"))?;
    let _ = c.close().await;
    Ok(())
}

/// XEP-0191: block, list, unblock one, unblock all; another resource of
/// the account, which asked for the list, sees each change as a push.
pub async fn blocklist(first: Login, second: Login) -> Outcome {
    let a = online(client(first), "first").await?;
    let (b, mut b_events) = online(client(second), "second").await?.split();
    a.unblock_all().await.map_err(fail("unblock all"))?;
    // Pushes go to the resources that asked for the list (XEP-0191 §3.3).
    b.blocklist().await.map_err(fail("blocklist"))?;
    let x: Jid = "spammer@spam.example".parse().map_err(|e| format!("{e}"))?;
    let y: Jid = "troll.example".parse().map_err(|e| format!("{e}"))?;
    a.block(vec![x.clone(), y.clone()])
        .await
        .map_err(fail("block"))?;
    let pushed = expect(&mut b_events, "a block push", |ev| match ev {
        Event::Blocked(j) => Some(j),
        _ => None,
    })
    .await?;
    let mut list = a.blocklist().await.map_err(fail("blocklist"))?;
    list.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut want = vec![x.clone(), y.clone()];
    want.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    if list != want || pushed.len() != 2 {
        return Err(format!(
            "blocklist {list:?}, push {pushed:?}, expected {want:?}"
        ));
    }
    a.unblock(vec![x.clone()]).await.map_err(fail("unblock"))?;
    let pushed = expect(&mut b_events, "an unblock push", |ev| match ev {
        Event::Unblocked(j) => Some(j),
        _ => None,
    })
    .await?;
    if pushed != vec![x] || b.blocklist().await.map_err(fail("blocklist"))? != vec![y] {
        return Err(format!("after unblocking one: push {pushed:?}"));
    }
    a.unblock_all().await.map_err(fail("unblock all"))?;
    let pushed = expect(&mut b_events, "an unblock-all push", |ev| match ev {
        Event::Unblocked(j) => Some(j),
        _ => None,
    })
    .await?;
    let left = a.blocklist().await.map_err(fail("blocklist"))?;
    if !pushed.is_empty() || !left.is_empty() {
        return Err(format!("after unblock all: push {pushed:?}, list {left:?}"));
    }
    let _ = a.close().await;
    let _ = b.close().await;
    Ok(())
}
