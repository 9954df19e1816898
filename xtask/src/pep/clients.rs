//! The benchmark's clients: the publisher and its contacts.
//!
//! Each is a lean client like `cargo xtask load`'s users (the same login:
//! STARTTLS, SCRAM-SHA-1, bind, initial presence), with a writer task of its
//! own so that reading never waits for writing. The publisher makes the
//! subscriptions and publishes when told; each contact approves the
//! publisher's subscription request and asks for the publisher's presence
//! in turn, announces its caps when told, answers disco#info queries with
//! its [`DiscoSet`], and counts the notifications it receives.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use starling_auth::negotiate::{ClientEvent, ClientNegotiator};
use starling_jid::Jid;
use starling_xml::Element;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;

use super::caps::{BENCH_NODE, DISCO_INFO_NS, DiscoSet};
use super::state::Bench;
use crate::load::generator::{self, Target};
use crate::load::servers::Account;

/// The namespace of the stanzas.
const CLIENT_NS: &str = "jabber:client";

/// How long a login may take.
const LOGIN_LIMIT: Duration = Duration::from_secs(60);

/// How long a client's goodbye may take to write.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// The roster namespace.
const ROSTER_NS: &str = "jabber:iq:roster";

/// The namespace of the items' payload.
const PAYLOAD_NS: &str = "urn:starling:bench:pep";

/// What the contacts are told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContactPhase {
    /// Online with a presence without caps.
    Plain,
    /// Send a presence with caps.
    Caps,
    /// Close the stream.
    Quit,
}

/// What the publisher is told to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// Ask each of these bare JIDs for its presence.
    Subscribe(Vec<String>),
    /// Publish an item with this id.
    Publish(String),
}

type Tls = TlsStream<TcpStream>;

/// A logged-in client.
struct Session {
    reader: ReadHalf<Tls>,
    negotiator: ClientNegotiator,
    out: mpsc::UnboundedSender<Vec<u8>>,
    writer: JoinHandle<()>,
    buf: Vec<u8>,
}

impl Session {
    /// Logs `account` in as `jid` (initial presence sent).
    async fn open(jid: &Jid, account: &Account, target: &Target) -> Result<Session, String> {
        let mut buf = vec![0u8; 16 * 1024];
        let (tls, negotiator) = tokio::time::timeout(
            LOGIN_LIMIT,
            generator::login(jid, account, target, &mut buf),
        )
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()))?;
        let (reader, writer) = tokio::io::split(tls);
        let (out, queue) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(writer, queue));
        Ok(Session {
            reader,
            negotiator,
            out,
            writer,
            buf,
        })
    }

    /// Reads once; returns the stanzas that arrived, or why the session is
    /// over. Cancel-safe.
    async fn read(&mut self) -> Result<Vec<Element>, String> {
        match self.reader.read(&mut self.buf).await {
            Ok(0) => self.negotiator.eof(),
            Ok(n) => self.negotiator.feed(&self.buf[..n]),
            Err(error) => return Err(format!("reading: {error}")),
        }
        let mut stanzas = Vec::new();
        while let Some(event) = self.negotiator.next_event() {
            match event {
                ClientEvent::Stanza(stanza) => stanzas.push(stanza),
                ClientEvent::Closed { error } => {
                    return Err(error.map_or_else(
                        || "the server closed the stream".to_owned(),
                        |e| format!("stream error: {e}"),
                    ));
                }
                ClientEvent::Failed(error) => return Err(error.to_string()),
                _ => {}
            }
        }
        self.flush();
        Ok(stanzas)
    }

    /// Queues what the negotiator has to write.
    fn flush(&mut self) {
        let output = self.negotiator.take_output();
        if !output.is_empty() {
            let _ = self.out.send(output);
        }
    }

    /// Queues raw XML.
    fn send_raw(&self, xml: String) {
        let _ = self.out.send(xml.into_bytes());
    }

    /// Queues a stanza.
    fn send(&mut self, stanza: &Element) {
        self.negotiator.send(stanza);
        self.flush();
    }

    /// Answers an iq get or set: disco#info with `disco`, anything else
    /// (a roster push) with an empty result. Returns whether it was a
    /// disco#info query.
    fn answer(&mut self, iq: &Element, disco: Option<&DiscoSet>) -> bool {
        let query = iq.get_child("query", DISCO_INFO_NS);
        let mut result = Element::builder("iq", CLIENT_NS)
            .attr("type", "result")
            .attr_opt("to", iq.attr("from"))
            .attr_opt("id", iq.attr("id"));
        let is_disco = iq.attr("type") == Some("get") && query.is_some();
        if let (true, Some(disco)) = (is_disco, disco) {
            result = result.append(disco.query(query.and_then(|q| q.attr("node"))));
        }
        self.send(&result.build());
        is_disco
    }

    /// Closes the stream and waits (a little) for the writer.
    async fn close(mut self) {
        self.negotiator.close();
        self.flush();
        drop(self.out);
        let _ = tokio::time::timeout(CLOSE_LIMIT, self.writer).await;
    }
}

/// Writes what is queued, until the queue is closed; then shuts the
/// connection down.
async fn write_loop(mut writer: WriteHalf<Tls>, mut queue: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(mut bytes) = queue.recv().await {
        // Take whatever else is queued too: one write, one TLS record.
        while let Ok(more) = queue.try_recv() {
            bytes.extend_from_slice(&more);
        }
        if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

/// The bare JID in a `from` attribute.
fn bare(from: Option<&str>) -> &str {
    let from = from.unwrap_or("");
    from.split_once('/').map_or(from, |(bare, _)| bare)
}

/// Contact `index`: logs in, then follows `phase` until told to quit.
#[allow(
    clippy::too_many_arguments,
    reason = "one task's whole context, passed once"
)]
pub(crate) async fn contact(
    bench: Arc<Bench>,
    index: usize,
    jid: Jid,
    account: Account,
    target: Target,
    publisher: Arc<str>,
    disco: Arc<DiscoSet>,
    mut phase: watch::Receiver<ContactPhase>,
) {
    let mut session = match Session::open(&jid, &account, &target).await {
        Ok(session) => session,
        Err(error) => {
            bench.login_failed.fetch_add(1, Ordering::Relaxed);
            bench.problem(format!("login failed: {error}"));
            return;
        }
    };
    bench.logged_in.fetch_add(1, Ordering::Relaxed);
    // Ask for the roster, as clients do: the server then pushes roster
    // changes to this session, which tells when the subscription is
    // mutual.
    session.send_raw(format!(
        "<iq type='get' id='roster-{index}'><query xmlns='{ROSTER_NS}'/></iq>"
    ));
    phase.mark_changed();
    loop {
        tokio::select! {
            read = session.read() => match read {
                Ok(stanzas) => {
                    for stanza in stanzas {
                        on_contact_stanza(&bench, index, &mut session, &publisher, &disco, &stanza);
                    }
                }
                Err(why) => {
                    bench.disconnects.fetch_add(1, Ordering::Relaxed);
                    bench.problem(format!("contact session ended: {why}"));
                    return;
                }
            },
            changed = phase.changed() => {
                let current = *phase.borrow_and_update();
                match (changed, current) {
                    (Err(_), _) | (_, ContactPhase::Quit) => break,
                    (_, ContactPhase::Caps) => session.send_raw(disco.presence()),
                    (_, ContactPhase::Plain) => {}
                }
            }
        }
    }
    session.close().await;
}

/// Whether `iq` is a roster push saying that the subscription with `jid`
/// is mutual.
fn has_both(iq: &Element, jid: &str) -> bool {
    iq.get_child("query", ROSTER_NS).is_some_and(|query| {
        query
            .children()
            .any(|item| item.attr("jid") == Some(jid) && item.attr("subscription") == Some("both"))
    })
}

/// One stanza to a contact.
fn on_contact_stanza(
    bench: &Bench,
    index: usize,
    session: &mut Session,
    publisher: &str,
    disco: &DiscoSet,
    stanza: &Element,
) {
    let from = bare(stanza.attr("from"));
    match (stanza.name(), stanza.attr("type")) {
        ("message", _) => bench.on_message(index, stanza),
        ("presence", Some("subscribe")) if from == publisher => {
            // Approve, and ask for the publisher's presence in turn.
            session.send_raw(format!(
                "<presence type='subscribed' to='{publisher}'/><presence type='subscribe' to='{publisher}'/>"
            ));
        }
        ("iq", Some("set")) if has_both(stanza, publisher) => {
            bench.mark_subscribed(index);
            session.answer(stanza, None);
        }
        ("iq", Some("get" | "set")) => {
            let disco = session.answer(stanza, Some(disco));
            bench
                .disco_queries
                .fetch_add(u64::from(disco), Ordering::Relaxed);
        }
        ("iq" | "presence", Some("error")) => {
            bench.error_stanzas.fetch_add(1, Ordering::Relaxed);
            bench.problem(format!("error to a contact: {}", condition(stanza)));
        }
        _ => {}
    }
}

/// The publisher: logs in, then does what it is told until the commands
/// end. `ready` receives `Ok` once it is logged in.
pub(crate) async fn publisher(
    bench: Arc<Bench>,
    jid: Jid,
    account: Account,
    target: Target,
    payload_bytes: usize,
    mut commands: mpsc::UnboundedReceiver<Command>,
    ready: tokio::sync::oneshot::Sender<Result<(), String>>,
) {
    let mut session = match Session::open(&jid, &account, &target).await {
        Ok(session) => session,
        Err(error) => {
            let _ = ready.send(Err(format!("the publisher's login failed: {error}")));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let padding = "x".repeat(payload_bytes);
    loop {
        tokio::select! {
            read = session.read() => match read {
                Ok(stanzas) => {
                    for stanza in stanzas {
                        on_publisher_stanza(&bench, &mut session, &stanza);
                    }
                }
                Err(why) => {
                    bench.disconnects.fetch_add(1, Ordering::Relaxed);
                    bench.problem(format!("the publisher's session ended: {why}"));
                    return;
                }
            },
            command = commands.recv() => match command {
                Some(Command::Subscribe(contacts)) => {
                    let requests: String = contacts
                        .iter()
                        .map(|to| format!("<presence type='subscribe' to='{to}'/>"))
                        .collect();
                    session.send_raw(requests);
                }
                Some(Command::Publish(id)) => session.send_raw(format!(
                    "<iq type='set' id='pub-{id}'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
                     <publish node='{BENCH_NODE}'><item id='{id}'>\
                     <entry xmlns='{PAYLOAD_NS}'>{padding}</entry>\
                     </item></publish></pubsub></iq>"
                )),
                None => break,
            },
        }
    }
    session.close().await;
}

/// One stanza to the publisher.
fn on_publisher_stanza(bench: &Bench, session: &mut Session, stanza: &Element) {
    let is_publish = stanza.attr("id").is_some_and(|id| id.starts_with("pub-"));
    match (stanza.name(), stanza.attr("type")) {
        ("presence", Some("subscribe")) => {
            let to = bare(stanza.attr("from")).to_owned();
            session.send_raw(format!("<presence type='subscribed' to='{to}'/>"));
        }
        ("iq", Some("result")) if is_publish => {
            bench.publish_acks.fetch_add(1, Ordering::Relaxed);
        }
        ("iq", Some("error")) if is_publish => {
            bench.publish_errors.fetch_add(1, Ordering::Relaxed);
            bench.problem(format!("publish refused: {}", condition(stanza)));
        }
        ("iq", Some("get" | "set")) => {
            session.answer(stanza, None);
        }
        (_, Some("error")) => {
            bench.error_stanzas.fetch_add(1, Ordering::Relaxed);
            bench.problem(format!("error to the publisher: {}", condition(stanza)));
        }
        _ => {}
    }
}

/// The condition of an error stanza (the name of the first child of its
/// `<error/>`).
fn condition(stanza: &Element) -> String {
    stanza
        .children()
        .find(|c| c.name() == "error")
        .and_then(|error| error.children().next())
        .map_or_else(|| "(no condition)".to_owned(), |c| c.name().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_jids_and_conditions() {
        let cases = [
            (Some("u1@localhost/r"), "u1@localhost"),
            (Some("u1@localhost"), "u1@localhost"),
            (Some("localhost"), "localhost"),
            (None, ""),
        ];
        for (from, want) in cases {
            assert_eq!(bare(from), want);
        }
        let error = Element::parse(
            b"<iq xmlns='jabber:client' type='error'><error type='cancel'>\
              <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        )
        .unwrap();
        assert_eq!(condition(&error), "item-not-found");
        let bare_error = Element::parse(b"<iq xmlns='jabber:client' type='error'/>").unwrap();
        assert_eq!(condition(&bare_error), "(no condition)");
        let push = |jid: &str, subscription: &str| {
            let xml = format!(
                "<iq xmlns='jabber:client' type='set'><query xmlns='{ROSTER_NS}'>\
                 <item jid='{jid}' subscription='{subscription}'/></query></iq>"
            );
            Element::parse(xml.as_bytes()).unwrap()
        };
        let cases = [
            ("u0@localhost", "both", true),
            ("u0@localhost", "to", false),
            ("u2@localhost", "both", false),
        ];
        for (jid, subscription, want) in cases {
            assert_eq!(
                has_both(&push(jid, subscription), "u0@localhost"),
                want,
                "{jid} {subscription}"
            );
        }
    }
}
