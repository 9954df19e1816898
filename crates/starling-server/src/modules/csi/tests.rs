use super::*;

fn routed(xml: &str) -> Arc<Routed> {
    Arc::new(Routed::parse(xml.parse().unwrap()).unwrap())
}

fn presence(from: &str, show: &str) -> Arc<Routed> {
    routed(&format!(
        "<presence xmlns='jabber:client' from='{from}' to='r@m/p'><show>{show}</show></presence>"
    ))
}

/// What is held while inactive and what is written at once.
#[test]
fn urgency_rules() {
    let cases: &[(&str, bool)] = &[
        (
            "<presence xmlns='jabber:client' from='a@b/c' to='r@m/p'/>",
            true,
        ),
        (
            "<presence xmlns='jabber:client' from='a@b/c' to='r@m/p' type='unavailable'/>",
            true,
        ),
        (
            "<presence xmlns='jabber:client' from='a@b' to='r@m' type='subscribe'/>",
            false,
        ),
        (
            "<presence xmlns='jabber:client' from='a@b' to='r@m' type='subscribed'/>",
            false,
        ),
        (
            "<presence xmlns='jabber:client' from='a@b' to='r@m' type='error'/>",
            false,
        ),
        (
            "<message xmlns='jabber:client' from='a@b/c' to='r@m' type='chat'><body>hi</body></message>",
            false,
        ),
        (
            "<message xmlns='jabber:client' from='a@b/c' to='r@m'><subject>s</subject></message>",
            false,
        ),
        (
            "<message xmlns='jabber:client' from='a@b/c' to='r@m' type='chat'>\
             <composing xmlns='http://jabber.org/protocol/chatstates'/><thread>t</thread></message>",
            true,
        ),
        (
            "<message xmlns='jabber:client' from='a@b/c' to='r@m'>\
             <received xmlns='urn:xmpp:receipts' id='x'/></message>",
            true,
        ),
        (
            "<message xmlns='jabber:client' from='a@b/c' to='r@m' type='error'>\
             <active xmlns='http://jabber.org/protocol/chatstates'/></message>",
            false,
        ),
        // Unknown payloads are written at once.
        (
            "<message xmlns='jabber:client' from='a@b/c' to='r@m'><x xmlns='jabber:x:oob'/></message>",
            false,
        ),
        // Carbons are looked into.
        (
            "<message xmlns='jabber:client' from='r@m' to='r@m/p' type='chat'>\
             <received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client' from='a@b/c' to='r@m/q' type='chat'>\
             <gone xmlns='http://jabber.org/protocol/chatstates'/></message></forwarded></received></message>",
            true,
        ),
        (
            "<message xmlns='jabber:client' from='r@m' to='r@m/p' type='chat'>\
             <sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client' from='r@m/q' to='a@b' type='chat'>\
             <body>hi</body></message></forwarded></sent></message>",
            false,
        ),
        (
            "<iq xmlns='jabber:client' from='a@b/c' to='r@m/p' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
            false,
        ),
    ];
    for (xml, want) in cases {
        assert_eq!(holdable(&routed(xml)), *want, "{xml}");
    }
}

fn limits(count: usize, bytes: usize) -> CsiConfig {
    CsiConfig {
        enabled: true,
        max_held: count,
        max_held_bytes: bytes,
    }
}

#[test]
fn only_the_latest_presence_per_full_jid_is_kept_in_arrival_order() {
    let mut s = CsiSession::default();
    let l = limits(10, 1 << 20);
    assert!(s.hold(presence("a@b/1", "away"), &l).is_empty());
    assert!(s.hold(presence("c@d/1", "away"), &l).is_empty());
    assert!(s.hold(presence("a@b/2", "away"), &l).is_empty());
    assert!(s.hold(presence("a@b/1", "dnd"), &l).is_empty());
    let shows: Vec<_> = s
        .held
        .iter()
        .map(|p| {
            (
                p.from().unwrap().to_string(),
                p.element().children().next().unwrap().text(),
            )
        })
        .collect();
    assert_eq!(
        shows,
        [
            ("c@d/1".to_owned(), "away".to_owned()),
            ("a@b/2".to_owned(), "away".to_owned()),
            ("a@b/1".to_owned(), "dnd".to_owned()),
        ]
    );
    let total: usize = s.held.iter().map(|p| weight(p.element())).sum();
    assert_eq!(s.bytes, total);
    assert_eq!(s.take().len(), 3);
    assert_eq!((s.held.len(), s.bytes), (0, 0));
}

#[test]
fn a_full_buffer_gives_everything_back_by_count_and_by_bytes() {
    let mut s = CsiSession::default();
    let l = limits(2, 1 << 20);
    assert!(s.hold(presence("a@b/1", "away"), &l).is_empty());
    assert!(s.hold(presence("a@b/2", "away"), &l).is_empty());
    let out = s.hold(presence("a@b/3", "away"), &l);
    assert_eq!(out.len(), 3);
    assert_eq!(out[2].from().unwrap().as_str(), "a@b/3");
    assert!(s.held.is_empty());

    let one = weight(presence("a@b/1", "away").element());
    let l = limits(100, one * 2);
    assert!(s.hold(presence("a@b/1", "away"), &l).is_empty());
    assert!(s.hold(presence("a@b/2", "away"), &l).is_empty());
    assert_eq!(s.hold(presence("a@b/3", "away"), &l).len(), 3);
    assert_eq!(s.bytes, 0);
}

#[test]
fn the_module_holds_only_while_inactive_and_releases_in_order() {
    let csi = Csi::new(limits(10, 1 << 20));
    let (h, _rx) = crate::registry::SessionHandle::new(
        "r@m/p".parse().unwrap(),
        1,
        crate::registry::QueueLimits {
            bytes: 1 << 16,
            count: 16,
        },
    );
    let mut ext = Extensions::default();
    let p = presence("a@b/1", "away");
    let view = SessionView {
        handle: &h,
        ext: &ext,
    };
    assert!(matches!(csi.filter(&view, &p), Filter::Deliver));
    // No state is made for a session that never used CSI.
    assert!(csi.release(&mut ext).is_empty());
    assert!(ext.get::<CsiSession>().is_none());
    ext.get_or_default::<CsiSession>().inactive = true;
    let view = SessionView {
        handle: &h,
        ext: &ext,
    };
    assert!(matches!(csi.filter(&view, &p), Filter::Hold));
    let body = routed(
        "<message xmlns='jabber:client' from='a@b/1' to='r@m' type='chat'><body>x</body></message>",
    );
    assert!(matches!(csi.filter(&view, &body), Filter::Deliver));
    assert!(csi.hold(&mut ext, p).is_empty());
    assert_eq!(csi.release(&mut ext).len(), 1);
    assert!(csi.release(&mut ext).is_empty());
}
