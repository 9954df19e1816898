//! The delivery rules as tables: address form × stanza kind × recipient
//! state → decision (RFC 6120 §10, RFC 6121 §8).

use starling_jid::{FullJid, Jid};
use starling_stanza::{
    IqType, MessageType as M, PresenceType as P, StanzaErrorCondition as Cond, StanzaKind,
};

use super::*;

const DOMAIN: &str = "example.com";

fn addr(to: &str) -> Address {
    Address::classify(&to.parse::<Jid>().unwrap(), |d| d == DOMAIN)
}

fn msg(t: M) -> StanzaKind {
    StanzaKind::Message(t)
}

fn pres(t: P) -> StanzaKind {
    StanzaKind::Presence(t, 0)
}

fn iq(t: IqType) -> StanzaKind {
    StanzaKind::Iq(t)
}

/// The recipient states the tables use.
#[derive(Debug, Clone, Copy)]
enum State {
    /// The account does not exist.
    NoAccount,
    /// The account exists, nobody is bound.
    Offline,
    /// The existence of an account without sessions was not looked up.
    NotLookedUp,
    /// One session `/a`, bound but not available (no initial presence).
    BoundOnly,
    /// `/a` available with priority 1.
    OneAvailable,
    /// `/a` priority 1, `/b` priority 5, `/c` priority 5.
    ThreeAvailable,
    /// `/a` available with a negative priority (-1).
    Negative,
    /// `/a` available with priority 1, being closed (a slow reader).
    OneClosing,
    /// As `ThreeAvailable`, with `/b` being closed.
    ThreeOneClosing,
}

fn sessions(state: State) -> Vec<(FullJid, bool, i32, bool)> {
    let j = |r: &str| format!("user@{DOMAIN}/{r}").parse::<FullJid>().unwrap();
    let three = |closing_b| {
        vec![
            (j("a"), true, 1, false),
            (j("b"), true, 5, closing_b),
            (j("c"), true, 5, false),
        ]
    };
    match state {
        State::NoAccount | State::Offline | State::NotLookedUp => vec![],
        State::BoundOnly => vec![(j("a"), false, 0, false)],
        State::OneAvailable => vec![(j("a"), true, 1, false)],
        State::ThreeAvailable => three(false),
        State::Negative => vec![(j("a"), true, -1, false)],
        State::OneClosing => vec![(j("a"), true, 1, true)],
        State::ThreeOneClosing => three(true),
    }
}

fn decide_in(kind: StanzaKind, to: &str, state: State, federation: bool) -> Decision {
    let owned = sessions(state);
    let infos: Vec<SessionInfo<'_>> = owned
        .iter()
        .map(|(jid, available, priority, closing)| SessionInfo {
            jid,
            available: *available,
            priority: *priority,
            closing: *closing,
        })
        .collect();
    let account = match state {
        State::NoAccount => Known::No,
        State::NotLookedUp => Known::Unknown,
        _ if !infos.is_empty() => Known::Unknown,
        _ => Known::Yes,
    };
    let facts = Facts {
        sessions: &infos,
        account,
        federation,
    };
    decide(kind, &addr(to), &facts)
}

fn check(table: &[(StanzaKind, &str, State, Decision)]) {
    for (kind, to, state, expected) in table {
        let got = decide_in(*kind, to, *state, false);
        assert_eq!(&got, expected, "{kind:?} to {to} with {state:?}");
    }
}

use Decision::{
    AccountIq, AccountPresence, Bounce, Drop, NeedAccount, Offline, RefuseSubscription, ServerIq,
};

fn deliver(targets: &[usize]) -> Decision {
    Decision::Deliver(targets.iter().copied().collect())
}

#[test]
fn targets_keep_their_order_beyond_64() {
    let t: Targets = [0, 5, 63, 64, 100].into_iter().collect();
    assert_eq!(t.iter().collect::<Vec<_>>(), [0, 5, 63, 64, 100]);
    assert!(!t.is_empty());
    assert!(Targets::default().is_empty());
}
use State::{
    BoundOnly, Negative, NoAccount, NotLookedUp, OneAvailable, OneClosing, ThreeAvailable,
    ThreeOneClosing,
};

const BARE: &str = "user@example.com";
const FULL_A: &str = "user@example.com/a";
const FULL_B: &str = "user@example.com/b";
const FULL_X: &str = "user@example.com/x";
const SU: Decision = Bounce(Cond::ServiceUnavailable);

#[test]
fn addresses_are_classified() {
    let cases = [
        (
            "example.com",
            Address::Domain("example.com".parse().unwrap()),
        ),
        (
            "example.com/r",
            Address::DomainResource("example.com".parse().unwrap()),
        ),
        (
            "u@example.com",
            Address::Bare("u@example.com".parse().unwrap()),
        ),
        (
            "u@example.com/r",
            Address::Full("u@example.com/r".parse().unwrap()),
        ),
        (
            "u@example.net/r",
            Address::Remote("example.net".parse().unwrap()),
        ),
        (
            "example.net",
            Address::Remote("example.net".parse().unwrap()),
        ),
    ];
    for (to, expected) in cases {
        assert_eq!(addr(to), expected, "{to}");
    }
    assert_eq!(
        addr("u@example.com/r").account().unwrap().as_str(),
        "u@example.com"
    );
    assert_eq!(addr("example.com").account(), None);
}

/// RFC 6120 §10.4: other domains, with and without federation.
#[test]
fn remote_domains() {
    let to = "user@example.net/r";
    let table = [
        (msg(M::Chat), Bounce(Cond::RemoteServerNotFound)),
        (msg(M::Error), Drop),
        (pres(P::Available), Drop),
        (pres(P::Unavailable), Drop),
        (pres(P::Probe), Drop),
        (pres(P::Error), Drop),
        (pres(P::Subscribe), Bounce(Cond::RemoteServerNotFound)),
        (iq(IqType::Get), Bounce(Cond::RemoteServerNotFound)),
        (iq(IqType::Result), Drop),
        (iq(IqType::Error), Drop),
    ];
    for (kind, expected) in table {
        assert_eq!(
            decide_in(kind, to, State::Offline, false),
            expected,
            "{kind:?}"
        );
        assert_eq!(
            decide_in(kind, to, State::Offline, true),
            Decision::Remote,
            "{kind:?}"
        );
    }
}

/// RFC 6120 §10.5.1 / RFC 6121 §8.5: the server's own domain and its
/// resources.
#[test]
fn the_domain_and_its_resources() {
    check(&[
        (iq(IqType::Get), DOMAIN, OneAvailable, ServerIq),
        (iq(IqType::Set), DOMAIN, OneAvailable, ServerIq),
        (iq(IqType::Result), DOMAIN, OneAvailable, ServerIq),
        (msg(M::Normal), DOMAIN, OneAvailable, SU),
        (msg(M::Chat), DOMAIN, OneAvailable, SU),
        (msg(M::Headline), DOMAIN, OneAvailable, Drop),
        (msg(M::Groupchat), DOMAIN, OneAvailable, Drop),
        (msg(M::Error), DOMAIN, OneAvailable, Drop),
        (pres(P::Available), DOMAIN, OneAvailable, Drop),
        (pres(P::Subscribe), DOMAIN, OneAvailable, Drop),
        (iq(IqType::Get), "example.com/r", OneAvailable, SU),
        (iq(IqType::Set), "example.com/r", OneAvailable, SU),
        (iq(IqType::Result), "example.com/r", OneAvailable, Drop),
        (iq(IqType::Error), "example.com/r", OneAvailable, Drop),
        (msg(M::Chat), "example.com/r", OneAvailable, Drop),
        (pres(P::Available), "example.com/r", OneAvailable, Drop),
    ]);
}

/// RFC 6121 §8.5.1: the account does not exist (bare or full JID).
#[test]
fn no_such_account() {
    for to in [BARE, FULL_X] {
        check(&[
            (msg(M::Chat), to, NoAccount, SU),
            (msg(M::Normal), to, NoAccount, SU),
            (msg(M::Error), to, NoAccount, Drop),
            (pres(P::Subscribe), to, NoAccount, RefuseSubscription),
            (pres(P::Subscribed), to, NoAccount, Drop),
            (pres(P::Unsubscribe), to, NoAccount, Drop),
            (pres(P::Probe), to, NoAccount, Drop),
            (iq(IqType::Result), to, NoAccount, Drop),
            (iq(IqType::Error), to, NoAccount, Drop),
        ]);
    }
    check(&[
        (msg(M::Headline), BARE, NoAccount, SU),
        (msg(M::Groupchat), BARE, NoAccount, SU),
        (pres(P::Available), BARE, NoAccount, Drop),
        (iq(IqType::Get), BARE, NoAccount, SU),
        (iq(IqType::Set), BARE, NoAccount, SU),
        // To a full JID without a session, iq and other message types do
        // not depend on the account.
        (iq(IqType::Get), FULL_X, NoAccount, SU),
        (msg(M::Headline), FULL_X, NoAccount, Drop),
        (msg(M::Groupchat), FULL_X, NoAccount, SU),
    ]);
}

/// Without a bound session the account's existence must be looked up
/// first; a bound session proves it.
#[test]
fn existence_is_looked_up_only_when_needed() {
    check(&[
        (msg(M::Chat), BARE, NotLookedUp, NeedAccount),
        (pres(P::Subscribe), BARE, NotLookedUp, NeedAccount),
        (iq(IqType::Get), BARE, NotLookedUp, NeedAccount),
        (msg(M::Chat), FULL_X, NotLookedUp, NeedAccount),
        (pres(P::Probe), FULL_X, NotLookedUp, NeedAccount),
        (msg(M::Chat), BARE, BoundOnly, Offline),
        (iq(IqType::Get), FULL_X, NotLookedUp, SU),
    ]);
}

/// RFC 6121 §8.5.2.1.1 and §8.5.2.2.1: messages to the bare JID.
#[test]
fn messages_to_the_bare_jid() {
    check(&[
        (msg(M::Chat), BARE, State::Offline, Offline),
        (msg(M::Normal), BARE, State::Offline, Offline),
        (msg(M::Chat), BARE, BoundOnly, Offline),
        (msg(M::Chat), BARE, Negative, Offline),
        (msg(M::Chat), BARE, OneAvailable, deliver(&[0])),
        (msg(M::Normal), BARE, OneAvailable, deliver(&[0])),
        // The highest priority wins; ties all receive it.
        (msg(M::Chat), BARE, ThreeAvailable, deliver(&[1, 2])),
        (msg(M::Headline), BARE, ThreeAvailable, deliver(&[0, 1, 2])),
        (msg(M::Headline), BARE, State::Offline, Drop),
        (msg(M::Headline), BARE, Negative, Drop),
        (msg(M::Groupchat), BARE, OneAvailable, SU),
        (msg(M::Groupchat), BARE, State::Offline, SU),
        (msg(M::Error), BARE, OneAvailable, Drop),
        (msg(M::Error), BARE, State::Offline, Drop),
    ]);
}

/// RFC 6121 §8.5.2.1.2 and §8.5.2.2.2: presence to the bare JID.
#[test]
fn presence_to_the_bare_jid() {
    for t in [
        P::Subscribe,
        P::Subscribed,
        P::Unsubscribe,
        P::Unsubscribed,
        P::Probe,
    ] {
        for state in [State::Offline, BoundOnly, OneAvailable, ThreeAvailable] {
            check(&[(pres(t), BARE, state, AccountPresence)]);
        }
    }
    check(&[
        (
            pres(P::Available),
            BARE,
            ThreeAvailable,
            deliver(&[0, 1, 2]),
        ),
        (pres(P::Unavailable), BARE, OneAvailable, deliver(&[0])),
        (pres(P::Error), BARE, OneAvailable, deliver(&[0])),
        // Negative priority still receives presence.
        (pres(P::Available), BARE, Negative, deliver(&[0])),
        (pres(P::Available), BARE, BoundOnly, Drop),
        (pres(P::Available), BARE, State::Offline, Drop),
    ]);
}

/// RFC 6121 §8.5.2.1.3 and §8.5.2.2.3: iq to the bare JID is answered on
/// the account's behalf.
#[test]
fn iq_to_the_bare_jid() {
    for t in [IqType::Get, IqType::Set, IqType::Result, IqType::Error] {
        for state in [State::Offline, OneAvailable] {
            check(&[(iq(t), BARE, state, AccountIq)]);
        }
    }
}

/// RFC 6121 §8.5.3.1: a full JID with a bound session.
#[test]
fn full_jid_with_a_session() {
    check(&[
        (msg(M::Chat), FULL_A, OneAvailable, deliver(&[0])),
        (msg(M::Groupchat), FULL_A, OneAvailable, deliver(&[0])),
        (msg(M::Headline), FULL_A, OneAvailable, deliver(&[0])),
        (msg(M::Error), FULL_A, OneAvailable, deliver(&[0])),
        // Bound but not available still receives directed stanzas.
        (msg(M::Chat), FULL_A, BoundOnly, deliver(&[0])),
        (msg(M::Chat), FULL_A, Negative, deliver(&[0])),
        (iq(IqType::Get), FULL_A, OneAvailable, deliver(&[0])),
        (iq(IqType::Result), FULL_A, OneAvailable, deliver(&[0])),
        (pres(P::Available), FULL_A, OneAvailable, deliver(&[0])),
        (pres(P::Unavailable), FULL_A, BoundOnly, deliver(&[0])),
        (pres(P::Probe), FULL_A, OneAvailable, AccountPresence),
        // Subscription stanzas go to the bare JID.
        (pres(P::Subscribe), FULL_A, OneAvailable, AccountPresence),
        (pres(P::Unsubscribed), FULL_A, OneAvailable, AccountPresence),
        (
            msg(M::Chat),
            "user@example.com/b",
            ThreeAvailable,
            deliver(&[1]),
        ),
    ]);
}

/// RFC 6121 §8.5.3.2: a full JID without a session.
#[test]
fn full_jid_without_a_session() {
    check(&[
        // Normal and chat fall back to the bare JID.
        (msg(M::Chat), FULL_X, OneAvailable, deliver(&[0])),
        (msg(M::Normal), FULL_X, ThreeAvailable, deliver(&[1, 2])),
        (msg(M::Chat), FULL_X, State::Offline, Offline),
        (msg(M::Chat), FULL_X, Negative, Offline),
        (msg(M::Groupchat), FULL_X, OneAvailable, SU),
        (msg(M::Headline), FULL_X, OneAvailable, Drop),
        (msg(M::Error), FULL_X, OneAvailable, Drop),
        (pres(P::Available), FULL_X, OneAvailable, Drop),
        (pres(P::Unavailable), FULL_X, OneAvailable, Drop),
        (pres(P::Probe), FULL_X, OneAvailable, AccountPresence),
        (pres(P::Probe), FULL_X, State::Offline, AccountPresence),
        (pres(P::Subscribe), FULL_X, State::Offline, AccountPresence),
        (iq(IqType::Get), FULL_X, OneAvailable, SU),
        (iq(IqType::Set), FULL_X, State::Offline, SU),
        (iq(IqType::Result), FULL_X, OneAvailable, Drop),
        (iq(IqType::Error), FULL_X, OneAvailable, Drop),
    ]);
}

/// A session being closed (a slow reader) receives nothing more: the
/// stanzas go where they would go without it.
#[test]
fn a_closing_session_is_not_a_recipient() {
    check(&[
        (msg(M::Chat), BARE, OneClosing, Offline),
        (msg(M::Chat), FULL_A, OneClosing, Offline),
        (msg(M::Headline), BARE, OneClosing, Drop),
        (pres(P::Available), BARE, OneClosing, Drop),
        (pres(P::Available), FULL_A, OneClosing, Drop),
        (iq(IqType::Get), FULL_A, OneClosing, SU),
        (iq(IqType::Result), FULL_A, OneClosing, Drop),
        (msg(M::Chat), BARE, ThreeOneClosing, deliver(&[2])),
        (msg(M::Chat), FULL_B, ThreeOneClosing, deliver(&[2])),
        (msg(M::Headline), BARE, ThreeOneClosing, deliver(&[0, 2])),
        (pres(P::Available), BARE, ThreeOneClosing, deliver(&[0, 2])),
    ]);
}
