//! XEP-0198 stream management over a [`Raw`] connection: enabling it on a
//! bound session, and resuming a session on a new connection, with every
//! byte visible to the test.

use std::path::Path;
use std::time::Duration;

use starling_stanza::{H, Payload, SmAck, SmEnable, SmEnabled, SmNonza, SmResume};
use starling_xml::Element;

use crate::raw::{Got, Raw};

/// How long a step may take.
const WAIT: Duration = Duration::from_secs(10);

/// Sends `<enable resume='true'/>` and returns the server's `<enabled/>`.
///
/// # Panics
/// When the answer is anything else.
pub async fn enable(raw: &mut Raw, resume: bool) -> SmEnabled {
    let req = SmEnable { resume, max: None };
    raw.send_str(&req.to_element().to_xml())
        .await
        .expect("sending <enable/>");
    match raw.next(WAIT).await {
        Got::Element(e) => SmEnabled::from_element(&e)
            .unwrap_or_else(|err| panic!("expected <enabled/>, got {e:?} ({err})")),
        other => panic!("expected <enabled/>, got {other:?}"),
    }
}

/// Sends `<a h/>`.
///
/// # Panics
/// When writing fails.
pub async fn ack(raw: &mut Raw, h: u32) {
    raw.send_str(&SmAck { h: H(h) }.to_element().to_xml())
        .await
        .expect("sending <a/>");
}

/// Sends `<r/>` and returns the `h` of the server's `<a/>` (skipping
/// stanzas and requests that come before it, which are returned too).
///
/// # Panics
/// When no `<a/>` comes.
pub async fn request(raw: &mut Raw) -> (u32, Vec<Element>) {
    raw.send_str(&SmNonza::Request.to_element().to_xml())
        .await
        .expect("sending <r/>");
    let mut before = Vec::new();
    loop {
        match raw.next(WAIT).await {
            Got::Element(e) => match SmNonza::from_element(&e) {
                Ok(SmNonza::Ack(a)) => return (a.h.0, before),
                _ => before.push(e),
            },
            other => panic!("expected <a/>, got {other:?}"),
        }
    }
}

/// Connects, authenticates `user` (its local part) with `password` over
/// STARTTLS and sends `<resume previd h/>` in place of binding: the
/// connection and the server's answer (`<resumed/>` or `<failed/>`).
///
/// # Panics
/// When the connection or authentication fails.
pub async fn resume(
    port: u16,
    domain: &str,
    ca: &Path,
    user: &str,
    password: &str,
    previd: &str,
    h: u32,
) -> (Raw, Element) {
    let (mut raw, _) = Raw::secure(port, domain, ca).await;
    match raw.auth_plain(user, password).await {
        Got::Element(e) if e.name() == "success" => {}
        other => panic!("authentication failed: {other:?}"),
    }
    let features = raw.open().await;
    assert!(
        features
            .other
            .iter()
            .any(|f| f.is("sm", starling_stanza::ns::SM)),
        "stream management is offered after authentication"
    );
    let req = SmResume {
        h: H(h),
        previd: previd.to_owned(),
    };
    raw.send_str(&req.to_element().to_xml())
        .await
        .expect("sending <resume/>");
    match raw.next(WAIT).await {
        Got::Element(e) => (raw, e),
        other => panic!("expected <resumed/> or <failed/>, got {other:?}"),
    }
}

/// [`resume`] on a test [`Server`](crate::server::Server): `user` of its
/// first domain, with the password `pw-<user>` of
/// [`Server::add_users`](crate::server::Server::add_users).
///
/// # Panics
/// When the connection or authentication fails.
pub async fn resume_on(
    server: &crate::server::Server,
    user: &str,
    previd: &str,
    h: u32,
) -> (Raw, Element) {
    resume(
        server.c2s_port,
        &server.domain,
        &server.cert_file(&server.domain),
        user,
        &format!("pw-{user}"),
        previd,
        h,
    )
    .await
}
