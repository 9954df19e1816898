//! XEP-0357 push notifications against the real `starling` binary. The
//! app server is played by a client: a local account's full JID on the
//! same server (`app@localhost/srv`), or an account on a second, federated
//! Starling server; it answers the pubsub publish iqs itself.
//!
//! Negative checks ("no notification") use a marker message sent after
//! the message that would have caused one, by the same sender to the app
//! server's session: the notification is queued in the sender's task
//! before the marker (RFC 6120 §10.1), so once the marker arrives a
//! notification that did not arrive before it will not come.

mod common;

use common::{FedServerExt, ServerExt, online, send_marker, until_marker, wait_for};
use starling_client::{Client, Event};
use starling_stanza::{
    DiscoInfo, Iq, IqKind, PushDisable, PushEnable, PushSummary, Stanza, StanzaError,
    StanzaErrorCondition as Cond, ns,
};
use starling_testkit::server::{FedServer, Options, Server};
use starling_testkit::stanzas::{jid, push_node, push_summary};
use starling_testkit::wait::{blocking, within};

const APP: &str = "app@localhost/srv";

fn server(push_toml: &str) -> Server {
    let server = Server::start_with(Options {
        extra_toml: format!("[modules.push]\n{push_toml}"),
        ..Options::default()
    });
    server.add_users(&["user", "app", "romeo"]);
    server
}

/// The app server's session: it takes iq requests itself.
async fn app_server(server: &Server) -> Client {
    let b = server
        .client("app@localhost", "pw-app")
        .resource("srv")
        .handle_iq_requests(true);
    online(b, "the app server", 0, || server.log_so_far()).await
}

/// The user's phone session (not available: messages to the account go
/// to offline storage and push).
async fn phone(server: &Server) -> Client {
    let b = server.client("user@localhost", "pw-user").resource("phone");
    within("user login", b.connect())
        .await
        .unwrap_or_else(|e| panic!("user cannot log in: {e}\n{}", server.log_so_far()))
}

async fn enable(c: &Client, app: &str, node: &str) -> Result<Iq, starling_client::Error> {
    let enable = PushEnable {
        jid: jid(app),
        node: node.to_owned(),
        publish_options: None,
    };
    within("enable", c.request(Iq::set(c.new_id(), enable))).await
}

/// Waits for the next notification; returns the iq with its summary and
/// node.
async fn notification(app: &mut Client) -> (Iq, PushSummary, String) {
    wait_for(app, "a push notification", |ev| match ev {
        Event::Iq(iq) => match &iq.kind {
            IqKind::Set(p) if p.is("pubsub", ns::PUBSUB) => {
                let s = push_summary(p)?;
                Some((iq.clone(), s, push_node(p)?))
            }
            _ => None,
        },
        _ => None,
    })
    .await
}

async fn answer(app: &Client, iq: &Iq, error: Option<StanzaError>) {
    let reply = match error {
        None => iq.result(None),
        Some(e) => iq.error_reply(e),
    };
    within("answering", app.send_stanza(&Stanza::Iq(reply)))
        .await
        .expect("answer sent");
}

/// Romeo, available, who writes to the user.
async fn romeo_online(server: &Server) -> Client {
    server
        .online("romeo@localhost", "pw-romeo", Some("a"), 0)
        .await
}

/// Sends a chat message with `body` to the user's bare JID.
async fn to_user(from: &Client, body: &str) {
    within("message", from.send_message(jid("user@localhost"), body))
        .await
        .expect("sent");
}

/// Asserts that `romeo` sending `body` to the user causes no
/// notification at `app`.
async fn no_notification(romeo: &Client, app: &mut Client, body: &str) {
    to_user(romeo, body).await;
    let marker = send_marker(romeo, app.jid()).await;
    let before = until_marker(app, &marker).await;
    assert!(
        !before.iter().any(|e| matches!(e, Event::Iq(_))),
        "unexpected notification: {before:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn enable_notify_disable_and_survive_restart() {
    let mut server = server("min_interval = 0\n");
    let mut app = app_server(&server).await;
    let user = phone(&server).await;
    // §4: the account advertises the feature.
    let info = within(
        "disco",
        user.request(Iq::get(user.new_id(), DiscoInfo::default()).with_to(jid("user@localhost"))),
    )
    .await
    .expect("disco answered");
    let info = info.payload_as::<DiscoInfo>().unwrap().unwrap();
    assert!(info.features.iter().any(|f| f == ns::PUSH), "{info:?}");
    enable(&user, APP, "n1").await.expect("enabled");
    within("close", user.close()).await.ok();

    // §7: a message while offline is notified, without its body.
    let romeo = romeo_online(&server).await;
    to_user(&romeo, "hello").await;
    let (iq, s, node) = notification(&mut app).await;
    assert_eq!(node, "n1");
    assert_eq!(iq.header.from, Some(jid("user@localhost")));
    assert_eq!(s.message_count, Some(1));
    assert_eq!(s.last_message_sender, Some(jid("romeo@localhost/a")));
    assert_eq!(s.last_message_body, None);
    answer(&app, &iq, None).await;
    // The count grows until the account comes online.
    to_user(&romeo, "again").await;
    let (iq, s, _) = notification(&mut app).await;
    assert_eq!(s.message_count, Some(2));
    answer(&app, &iq, None).await;

    // The registration survives a restart.
    drop((romeo, app));
    let (status, log) = blocking(|| server.signal("TERM"));
    assert!(status.is_some_and(|s| s.success()), "{log}");
    blocking(|| server.restart());
    let mut app = app_server(&server).await;
    let romeo = romeo_online(&server).await;
    to_user(&romeo, "after").await;
    let (iq, _, _) = notification(&mut app).await;
    // §7.1: an error reply disables the registration. The app session
    // handles its stanzas in order, so once its ping is answered the
    // error has been processed.
    answer(&app, &iq, Some(StanzaError::new(Cond::ItemNotFound))).await;
    within("app ping", app.ping(None)).await.expect("ping");
    no_notification(&romeo, &mut app, "after the error").await;

    // §6: enabled again, then disabled: nothing more.
    let user = phone(&server).await;
    enable(&user, APP, "n2").await.expect("enabled");
    let disable = PushDisable {
        jid: jid(APP),
        node: None,
    };
    within("disable", user.request(Iq::set(user.new_id(), disable)))
        .await
        .expect("disabled");
    within("close", user.close()).await.ok();
    no_notification(&romeo, &mut app, "after disable").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_body_option_and_own_sessions_only() {
    let server = server("include_body = true\n");
    let mut app = app_server(&server).await;
    let user = phone(&server).await;
    enable(&user, APP, "n1").await.expect("enabled");
    within("close", user.close()).await.ok();
    // Only the account's own sessions manage its registrations.
    let romeo = romeo_online(&server).await;
    let forged = Iq::set(
        romeo.new_id(),
        PushEnable {
            jid: jid(APP),
            node: "x".into(),
            publish_options: None,
        },
    )
    .with_to(jid("user@localhost"));
    match within("forged enable", romeo.request(forged)).await {
        Err(starling_client::Error::Stanza(e)) => assert_eq!(e.condition, Cond::Forbidden),
        other => panic!("expected forbidden, got {other:?}"),
    }
    to_user(&romeo, "one").await;
    let (iq, s, _) = notification(&mut app).await;
    assert_eq!(s.message_count, Some(1));
    assert_eq!(s.last_message_body.as_deref(), Some("one"));
    answer(&app, &iq, None).await;
    // Within min_interval (10 s by default): counted, not notified.
    no_notification(&romeo, &mut app, "two").await;
}

/// The app server on another Starling server, reached over s2s.
#[tokio::test(flavor = "multi_thread")]
async fn app_server_on_another_domain() {
    let mut a = FedServer::new("a.test");
    let mut b = FedServer::new("push.test");
    a.route_to(&b);
    b.route_to(&a);
    a.start();
    b.start();
    for u in ["user", "romeo"] {
        a.add_user(u);
    }
    b.add_user("app");
    let app_b = b.client("app").resource("srv").handle_iq_requests(true);
    let mut app = online(app_b, "the remote app server", 0, || b.log()).await;
    let user = within("login", a.client("user").resource("phone").connect())
        .await
        .expect("user logs in");
    enable(&user, "app@push.test/srv", "remote")
        .await
        .expect("enabled");
    within("close", user.close()).await.ok();
    let romeo = a.online("romeo", "a").await;
    within("message", romeo.send_message(jid("user@a.test"), "hi"))
        .await
        .expect("sent");
    let (iq, s, node) = notification(&mut app).await;
    assert_eq!(node, "remote");
    assert_eq!(iq.header.from, Some(jid("user@a.test")));
    assert_eq!(s.message_count, Some(1));
    assert_eq!(s.last_message_body, None);
    answer(&app, &iq, None).await;
}

/// XEP-0357 §7 with XEP-0198: the user's phone enables push and stream
/// management with resumption, is available, and its connection breaks;
/// a message for it while it waits for its resumption is notified (the
/// session still holds the message, which arrives on resumption).
#[tokio::test(flavor = "multi_thread")]
async fn a_detached_session_gets_notified() {
    let server = server("min_interval = 0\n");
    let mut app = app_server(&server).await;
    let mut raw = starling_testkit::raw::Raw::login(
        server.c2s_port,
        &server.cert_file("localhost"),
        "user@localhost",
        "pw-user",
        Some("phone"),
    )
    .await;
    let enable = PushEnable {
        jid: jid(APP),
        node: "detached-node".to_owned(),
        publish_options: None,
    };
    let iq = Iq::set("e1".to_owned(), enable);
    raw.send_str(&Stanza::Iq(iq).to_element().to_xml())
        .await
        .unwrap();
    let reply = raw.element().await;
    assert_eq!(reply.attr("type"), Some("result"), "{reply:?}");
    let enabled = starling_testkit::sm::enable(&mut raw, true).await;
    raw.send_str("<presence/>").await.unwrap();
    let (h, _) = starling_testkit::sm::request(&mut raw).await;
    assert_eq!(h, 1);
    raw.abort();
    let romeo = romeo_online(&server).await;
    within(
        "message",
        romeo.send_message(jid("user@localhost/phone"), "while detached"),
    )
    .await
    .expect("sent");
    let (iq, summary, node) = notification(&mut app).await;
    assert_eq!(node, "detached-node");
    assert_eq!(summary.message_count, Some(1), "{summary:?}");
    answer(&app, &iq, None).await;
    let (mut back, answer) =
        starling_testkit::sm::resume_on(&server, "user", enabled.id.as_deref().unwrap(), 1).await;
    assert_eq!(answer.name(), "resumed", "{answer:?}");
    let mut got = None;
    while got.is_none() {
        let el = back.element().await;
        if el.name() == "message" {
            got = el.children().find(|c| c.name() == "body").map(|b| b.text());
        }
    }
    assert_eq!(got.as_deref(), Some("while detached"));
}
