//! vCards (XEP-0054), private XML storage (XEP-0049) and the nickname in
//! subscription requests (XEP-0172) against the real `starling` binary.

mod common;

use common::blocking::{acct, online};
use common::wait_for;
use starling_client::{Error, Event};
use starling_jid::Jid;
use starling_stanza::{
    DiscoInfo, Iq, IqKind, Nick, Photo, Ping, PresenceType, StanzaErrorCondition as Cond, VCard,
};
use starling_testkit::server::{Options, Server};
use starling_testkit::stanzas::{bare, jid};
use starling_testkit::wait::within;
use starling_xml::Element;

/// XEP-0054 §3: the owner sets and reads; a contact reads the owner's
/// vCard at the bare JID; nobody else sets it; a vCard over
/// `[modules.vcard] max_bytes` is refused with `not-acceptable` and the
/// old one is kept; the server lists `vcard-temp`.
#[tokio::test(flavor = "multi_thread")]
async fn vcard_set_get_and_limit() {
    let server = Server::start_with(Options {
        extra_toml: "[modules.vcard]\nmax_bytes = 4096\n".into(),
        ..Options::default()
    });
    server.add_users(&["alice", "bob"]);
    let a = online(&server, "alice", "one").await;
    let b = online(&server, "bob", "one").await;
    let info = within(
        "disco",
        a.request(Iq::get(a.new_id(), DiscoInfo::default()).with_to(jid("localhost"))),
    )
    .await
    .expect("disco#info");
    let features = info.payload_as::<DiscoInfo>().unwrap().unwrap().features;
    assert!(features.iter().any(|f| f == "vcard-temp"), "{features:?}");
    assert!(
        features.iter().any(|f| f == "jabber:iq:private"),
        "{features:?}"
    );

    // None yet: empty.
    let none = within("bob reads", b.vcard(Some(bare("alice@localhost")))).await;
    assert!(none.expect("an answer").is_empty());

    let card = VCard::new()
        .with_full_name("Alice Liddell")
        .with_photo(&Photo::binary(
            "image/png",
            vec![0x89, b'P', b'N', b'G', 1, 2, 3],
        ));
    within("alice sets", a.set_vcard(card.clone()))
        .await
        .expect("stored");
    let own = within("alice reads", a.vcard(None)).await.expect("own");
    assert_eq!(own, card);
    let seen = within("bob reads", b.vcard(Some(bare("alice@localhost"))))
        .await
        .expect("alice's");
    assert_eq!(seen.full_name().as_deref(), Some("Alice Liddell"));
    assert_eq!(seen.photo().unwrap(), card.photo().unwrap());

    // Bob cannot set Alice's.
    let r = within(
        "bob sets alice's",
        b.request(Iq::set(b.new_id(), VCard::new()).with_to(jid("alice@localhost"))),
    )
    .await;
    assert!(
        matches!(&r, Err(Error::Stanza(e)) if e.condition == Cond::Forbidden),
        "{r:?}"
    );

    // Too big: refused, old kept.
    let mut big = VCard::new();
    big.set_text("DESC", Some(&"x".repeat(5000)));
    let r = within("too big", a.set_vcard(big)).await;
    assert!(
        matches!(&r, Err(Error::Stanza(e)) if e.condition == Cond::NotAcceptable),
        "{r:?}"
    );
    let still = within("bob reads again", b.vcard(Some(bare("alice@localhost"))))
        .await
        .expect("alice's");
    assert_eq!(still, card);
}

/// XEP-0049 §2.3: set and get by the owner, from another resource too;
/// an element never stored comes back empty; another user can neither
/// read nor write it (`forbidden`); the limits answer `not-acceptable`.
#[tokio::test(flavor = "multi_thread")]
async fn private_storage_get_set_isolation() {
    let server = Server::start_with(Options {
        extra_toml: "[modules.private]\nmax_bytes = 2048\nmax_total_bytes = 4096\n".into(),
        ..Options::default()
    });
    server.add_users(&["alice", "eve"]);
    let a1 = online(&server, "alice", "one").await;
    let a2 = online(&server, "alice", "two").await;
    let eve = online(&server, "eve", "one").await;

    let empty = within("empty get", a1.private_get("exodus", "exodus:prefs"))
        .await
        .expect("an answer");
    assert_eq!(empty, Element::new("exodus", "exodus:prefs"));
    let prefs: Element = "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>"
        .parse()
        .unwrap();
    within("set", a1.private_set(prefs.clone()))
        .await
        .expect("stored");
    let got = within("get from two", a2.private_get("exodus", "exodus:prefs"))
        .await
        .expect("stored");
    assert_eq!(got, prefs);
    // Eve's storage is her own; Alice's is closed to her.
    let hers = within("eve's get", eve.private_get("exodus", "exodus:prefs"))
        .await
        .expect("an answer");
    assert_eq!(hers, Element::new("exodus", "exodus:prefs"));
    let mut q = Element::new("query", "jabber:iq:private");
    q.append_child(prefs.clone());
    for set in [false, true] {
        let kind = if set {
            IqKind::Set(q.clone())
        } else {
            IqKind::Get(q.clone())
        };
        let iq = Iq {
            kind,
            ..Iq::get(eve.new_id(), Ping).with_to(jid("alice@localhost"))
        };
        let r = within("eve on alice's storage", eve.request(iq)).await;
        assert!(
            matches!(&r, Err(Error::Stanza(e)) if e.condition == Cond::Forbidden),
            "{set}: {r:?}"
        );
    }
    // The per-element limit, then the per-account one.
    let big = |name: &str, n: usize| {
        let mut e = Element::new(name, "urn:big");
        e.append_text("x".repeat(n));
        e
    };
    let r = within("over max_bytes", a1.private_set(big("a", 3000))).await;
    assert!(
        matches!(&r, Err(Error::Stanza(e)) if e.condition == Cond::NotAcceptable),
        "{r:?}"
    );
    for name in ["a", "b"] {
        within("within the total", a1.private_set(big(name, 1900)))
            .await
            .expect("stored");
    }
    let r = within("over max_total_bytes", a1.private_set(big("c", 1900))).await;
    assert!(
        matches!(&r, Err(Error::Stanza(e)) if e.condition == Cond::NotAcceptable),
        "{r:?}"
    );
}

fn nick_of(ev: &Event, from: &Jid) -> Option<Option<String>> {
    match ev {
        Event::Presence(p)
            if p.presence_type == PresenceType::Subscribe
                && p.header.from.as_ref() == Some(from) =>
        {
            Some(p.payload::<Nick>().and_then(Result::ok).map(|n| n.0))
        }
        _ => None,
    }
}

/// XEP-0172 §4.1: the `<nick/>` of a subscription request reaches the
/// contact when online, and when the request was stored while the
/// contact was offline and is delivered at its next login.
#[tokio::test(flavor = "multi_thread")]
async fn subscribe_with_nick_online_and_after_offline_storage() {
    let server = Server::start();
    server.add_users(&["alice", "bob", "carol"]);
    let a = online(&server, "alice", "one").await;
    let mut b = online(&server, "bob", "one").await;
    within(
        "subscribe online",
        a.subscribe_with_nick(bare("bob@localhost"), "Ally"),
    )
    .await
    .expect("sent");
    let from = Jid::from(bare(&acct("alice")));
    let nick = wait_for(&mut b, "the request with a nick", |ev| nick_of(ev, &from)).await;
    assert_eq!(nick.as_deref(), Some("Ally"));

    // Carol is offline: the request is stored, then delivered at login.
    within(
        "subscribe offline",
        a.subscribe_with_nick(bare("carol@localhost"), "Ally ❤"),
    )
    .await
    .expect("sent");
    within("a ping after it", a.ping(None)).await.expect("ping");
    let mut c = online(&server, "carol", "one").await;
    let nick = wait_for(&mut c, "the stored request", |ev| nick_of(ev, &from)).await;
    assert_eq!(nick.as_deref(), Some("Ally ❤"));
}
