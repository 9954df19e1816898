//! XEP-0352 client state indication against the real `starling` binary:
//! the feature is offered after authentication; while inactive, presence
//! (the latest per sender) and chat states are held back, a message with a
//! body is written at once after what was held, `<active/>` writes the
//! rest, and a full buffer is written out.

use starling_testkit::raw::{Got, Raw};
use starling_testkit::raw_wait::body_of;
use starling_testkit::server::{Options, Server};
use starling_xml::Element;

const CSI: &str = "urn:xmpp:csi:0";
const CHATSTATES: &str = "http://jabber.org/protocol/chatstates";

/// The `<show/>` of a presence element.
fn show(el: &Element) -> Option<String> {
    (el.name() == "presence")
        .then(|| {
            el.children()
                .find(|c| c.name() == "show")
                .map(Element::text)
        })
        .flatten()
}

/// The chat state of a message without body.
fn chat_state(el: &Element) -> Option<String> {
    (el.name() == "message")
        .then(|| {
            el.children()
                .find(|c| c.ns() == CHATSTATES)
                .map(|c| c.name().to_owned())
        })
        .flatten()
}

/// Sends a nonza and waits until the server processed it (a ping after
/// it is answered); what came meanwhile is returned.
async fn state(raw: &mut Raw, name: &str, id: &str) -> Vec<Element> {
    raw.send_str(&format!("<{name} xmlns='{CSI}'/>"))
        .await
        .expect("sending a CSI nonza");
    raw.iq("get", id, None, "<ping xmlns='urn:xmpp:ping'/>")
        .await
        .0
}

async fn presence(raw: &mut Raw, to: &str, show: &str) {
    raw.send_str(&format!(
        "<presence to='{to}'><show>{show}</show></presence>"
    ))
    .await
    .expect("sending presence");
}

async fn composing(raw: &mut Raw, to: &str, st: &str) {
    raw.send_str(&format!(
        "<message to='{to}' type='chat'><{st} xmlns='{CHATSTATES}'/></message>"
    ))
    .await
    .expect("sending a chat state");
}

/// A server with `options`, romeo/p available and inactive, juliet/x
/// available.
async fn inactive_pair(options: Options) -> (Server, Raw, Raw) {
    let server = Server::start_with(options);
    server.add_users(&["romeo", "juliet"]);
    let ca = server.cert_file("localhost");
    let p = server.c2s_port;
    let mut romeo = Raw::available(p, &ca, "romeo@localhost", "p").await;
    let juliet = Raw::available(p, &ca, "juliet@localhost", "x").await;
    state(&mut romeo, "inactive", "i1").await;
    (server, romeo, juliet)
}

#[tokio::test(flavor = "multi_thread")]
async fn csi_is_offered_after_authentication() {
    let server = Server::start();
    server.add_users(&["romeo"]);
    let ca = server.cert_file("localhost");
    let (mut raw, before) = Raw::secure(server.c2s_port, "localhost", &ca).await;
    assert!(!before.other.iter().any(|f| f.is("csi", CSI)));
    match raw.auth_plain("romeo", "pw-romeo").await {
        Got::Element(e) if e.name() == "success" => {}
        other => panic!("PLAIN failed: {other:?}"),
    }
    let after = raw.open().await;
    assert!(
        after.other.iter().any(|f| f.is("csi", CSI)),
        "{:?}",
        after.other
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn inactive_holds_presence_and_chat_states_until_a_body_or_active() {
    let (_server, mut romeo, mut juliet) = inactive_pair(Options::default()).await;

    // Two presences from juliet/x (only the latest is kept), a chat state,
    // then a message with a body: written at once, after what was held.
    presence(&mut juliet, "romeo@localhost/p", "away").await;
    presence(&mut juliet, "romeo@localhost/p", "dnd").await;
    composing(&mut juliet, "romeo@localhost/p", "composing").await;
    juliet
        .send_str("<message to='romeo@localhost/p' type='chat'><body>urgent</body></message>")
        .await
        .expect("sending");
    let (before, _) = romeo
        .until("urgent", |e| body_of(e).as_deref() == Some("urgent"))
        .await;
    let shows: Vec<_> = before.iter().filter_map(show).collect();
    assert_eq!(shows, ["dnd"], "{before:?}");
    let states: Vec<_> = before.iter().filter_map(chat_state).collect();
    assert_eq!(states, ["composing"], "{before:?}");
    let dnd = before.iter().position(|e| show(e).is_some());
    let comp = before.iter().position(|e| chat_state(e).is_some());
    assert!(dnd < comp, "order changed: {before:?}");

    // Still inactive: a new presence is held (the ping after it, an iq,
    // is not)...
    presence(&mut juliet, "romeo@localhost/p", "xa").await;
    composing(&mut juliet, "romeo@localhost/p", "paused").await;
    juliet
        .iq("get", "j1", None, "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    let (before, _) = romeo
        .iq("get", "r1", None, "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    assert!(
        before
            .iter()
            .all(|e| show(e).is_none() && chat_state(e).is_none()),
        "held stanzas were written: {before:?}"
    );
    // ... until <active/>.
    romeo
        .send_str(&format!("<active xmlns='{CSI}'/>"))
        .await
        .expect("active");
    let (before, _) = romeo
        .until("the paused chat state", |e| {
            chat_state(e).as_deref() == Some("paused")
        })
        .await;
    let shows: Vec<_> = before.iter().filter_map(show).collect();
    assert_eq!(shows, ["xa"], "{before:?}");

    // Active again: presence is written at once.
    presence(&mut juliet, "romeo@localhost/p", "chat").await;
    romeo
        .until("presence chat", |e| show(e).as_deref() == Some("chat"))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_buffer_is_written_out() {
    let (_server, mut romeo, mut juliet) = inactive_pair(Options {
        extra_toml: "[modules.csi]\nmax_held = 2\n".into(),
        ..Options::default()
    })
    .await;
    for st in ["composing", "paused", "active"] {
        composing(&mut juliet, "romeo@localhost/p", st).await;
    }
    // The third exceeds max_held = 2: all three come, in order, while the
    // session is still inactive.
    let (before, _) = romeo
        .until("the active chat state", |e| {
            chat_state(e).as_deref() == Some("active")
        })
        .await;
    let states: Vec<_> = before.iter().filter_map(chat_state).collect();
    assert_eq!(states, ["composing", "paused"]);
}
