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

/// A session handle for r@m/p (and its queue, kept alive).
fn handle() -> (Arc<crate::registry::SessionHandle>, crate::queue::Inbox) {
    crate::registry::SessionHandle::new(
        "r@m/p".parse().unwrap(),
        1,
        crate::registry::QueueLimits {
            bytes: 1 << 16,
            count: 16,
        },
    )
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
    let (h, _rx) = handle();
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

#[test]
fn bounds_are_configured_and_checked() {
    use crate::config::Config;
    let c =
        Config::from_toml_str("[modules.csi]\nmax_held = 5\nmax_held_bytes = 4096\n", "m").unwrap();
    assert_eq!(
        (c.modules.csi.max_held, c.modules.csi.max_held_bytes),
        (5, 4096)
    );
    assert!(c.modules.csi.enabled && c.modules.carbons.enabled);
    let d = Config::from_toml_str("", "m").unwrap();
    assert_eq!(d.modules.csi, CsiConfig::default());
    for bad in [
        "[modules.csi]\nmax_held = 0\n",
        "[modules.csi]\nmax_held_bytes = 10\n",
        "[modules.csi]\nmax_queue = 3\n",
    ] {
        assert!(Config::from_toml_str(bad, "m").is_err(), "{bad}");
    }
    let off = Config::from_toml_str("[modules.csi]\nenabled = false\n", "m").unwrap();
    assert!(!off.modules.csi.enabled);
}

/// The session side of holding, through the module set as the session
/// loop calls it: a held stanza is written before the next delivered one,
/// a dropped-or-replaced one as the filters say.
#[test]
fn the_module_set_writes_what_is_held_before_an_urgent_stanza() {
    let set = crate::module::ModuleSet::new(vec![
        Arc::new(crate::modules::carbons::Carbons),
        Arc::new(Csi::new(limits(10, 1 << 20))),
    ]);
    let (h, _rx) = handle();
    let mut ext = Extensions::default();
    let mut out = Vec::new();
    ext.get_or_default::<CsiSession>().inactive = true;
    set.admit(&h, &mut ext, presence("a@b/1", "away"), |s| out.push(s));
    assert!(out.is_empty());
    let body = routed(
        "<message xmlns='jabber:client' from='a@b/1' to='r@m' type='chat'><body>x</body>\
         <private xmlns='urn:xmpp:carbons:2'/></message>",
    );
    set.admit(&h, &mut ext, body, |s| out.push(s));
    assert_eq!(out.len(), 2);
    assert!(matches!(out[0].kind(), StanzaKind::Presence(..)));
    // The carbons filter removed <private/> from the written copy.
    assert_eq!(out[1].element().children().count(), 1);
    let mut again = Vec::new();
    set.release(&mut ext, |s| again.push(s));
    assert!(again.is_empty());
}
