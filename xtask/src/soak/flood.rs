//! The subscription flood: many accounts of the second server, each
//! sending `<presence type='subscribe'/>` to a random user of the server
//! under test every [`Plan::flood_every`], over the two servers' s2s
//! stream. Each reads what comes back and counts it: errors by condition,
//! approvals, refusals.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use starling_auth::negotiate::{ClientEvent, ClientNegotiator};
use starling_jid::Jid;
use starling_xml::Element;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::plan::Plan;
use crate::load::generator::{self, Rng, Target};
use crate::load::servers::Account;

/// The longest a login may take.
const LOGIN_LIMIT: Duration = Duration::from_secs(60);

/// The stanza error namespace.
const STANZAS_NS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// What the flooders saw, shared by all of them.
#[derive(Debug, Default)]
pub(crate) struct FloodCounters {
    /// Flooders logged in.
    pub(crate) logged_in: AtomicU64,
    /// Subscription requests sent.
    pub(crate) sent: AtomicU64,
    /// `subscribed` received (a user approved).
    pub(crate) approved: AtomicU64,
    /// `unsubscribed` received (refused).
    pub(crate) refused: AtomicU64,
    /// Presence errors received, by condition.
    pub(crate) errors: Mutex<BTreeMap<String, u64>>,
    /// Sessions that ended, or logins that failed, by why.
    pub(crate) ended: Mutex<BTreeMap<String, u64>>,
}

impl FloodCounters {
    fn count(map: &Mutex<BTreeMap<String, u64>>, what: String) {
        if let Ok(mut map) = map.lock() {
            *map.entry(what).or_default() += 1;
        }
    }

    /// A copy of a counted map.
    pub(crate) fn snapshot(map: &Mutex<BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
        map.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// The defined condition of a stanza error (`<error><CONDITION/></error>`).
pub(crate) fn error_condition(stanza: &Element) -> String {
    stanza
        .children()
        .find(|child| child.name() == "error")
        .and_then(|error| error.children().find(|c| c.ns() == STANZAS_NS))
        .map_or_else(|| "(no condition)".to_owned(), |c| c.name().to_owned())
}

/// Starts one task per flooding account (`jids[i]` logs in as
/// `accounts[i]`), at the plan's login rate; each floods `users` until
/// `stop` turns true.
pub(crate) async fn start(
    (jids, accounts): (Vec<Jid>, Vec<Account>),
    target: Target,
    users: Arc<Vec<Jid>>,
    plan: &Plan,
    seed: u64,
    stop: &watch::Receiver<bool>,
) -> (JoinSet<()>, Arc<FloodCounters>) {
    let counters = Arc::new(FloodCounters::default());
    let mut tasks = JoinSet::new();
    let spacing = Duration::from_secs(1) / plan.login_rate.max(1);
    for (index, (jid, account)) in jids.into_iter().zip(accounts).enumerate() {
        let flooder = Flooder {
            jid,
            account,
            target: target.clone(),
            users: Arc::clone(&users),
            every: plan.flood_every,
            rng: Rng::new(
                usize::try_from(seed)
                    .unwrap_or(0)
                    .wrapping_mul(100_003)
                    .wrapping_add(index + 1),
            ),
            counters: Arc::clone(&counters),
        };
        tasks.spawn(flooder.run(stop.clone()));
        tokio::time::sleep(spacing).await;
    }
    (tasks, counters)
}

/// One flooding account.
struct Flooder {
    jid: Jid,
    account: Account,
    target: Target,
    users: Arc<Vec<Jid>>,
    every: Duration,
    rng: Rng,
    counters: Arc<FloodCounters>,
}

impl Flooder {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut buf = vec![0u8; 8192];
        let login = tokio::time::timeout(
            LOGIN_LIMIT,
            generator::login(&self.jid, &self.account, &self.target, &mut buf),
        )
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()));
        let (mut tls, mut negotiator) = match login {
            Ok(session) => session,
            Err(error) => {
                FloodCounters::count(&self.counters.ended, format!("login failed: {error}"));
                return;
            }
        };
        self.counters.logged_in.fetch_add(1, Ordering::Relaxed);
        let first = self.every.mul_f64(self.rng.fraction());
        let timer = tokio::time::sleep(first);
        tokio::pin!(timer);
        let mut out = String::new();
        let why = loop {
            tokio::select! {
                _ = stop.changed() => break None,
                read = tls.read(&mut buf) => {
                    match read {
                        Ok(0) => negotiator.eof(),
                        Ok(n) => negotiator.feed(&buf[..n]),
                        Err(error) => break Some(format!("reading: {error}")),
                    }
                    if let Some(why) = self.incoming(&mut negotiator) {
                        break Some(why);
                    }
                    if let Err(error) = generator::write_output(&mut tls, &mut negotiator).await {
                        break Some(error);
                    }
                }
                () = &mut timer => {
                    let to = &self.users[self.rng.below(self.users.len())];
                    out.clear();
                    let _ = write!(out, "<presence type='subscribe' to='{to}'/>");
                    if let Err(error) = tls.write_all(out.as_bytes()).await {
                        break Some(format!("writing: {error}"));
                    }
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                    let next = timer.deadline() + self.every;
                    timer.as_mut().reset(next);
                }
            }
        };
        match why {
            Some(why) => {
                FloodCounters::count(&self.counters.ended, format!("session ended: {why}"))
            }
            None => {
                negotiator.close();
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    generator::write_output(&mut tls, &mut negotiator),
                )
                .await;
            }
        }
    }

    /// Counts what came back; `Some(reason)` when the session is over.
    fn incoming(&self, negotiator: &mut ClientNegotiator) -> Option<String> {
        while let Some(event) = negotiator.next_event() {
            match event {
                ClientEvent::Stanza(stanza) if stanza.name() == "presence" => {
                    match stanza.attr("type") {
                        Some("error") => {
                            FloodCounters::count(&self.counters.errors, error_condition(&stanza));
                        }
                        Some("subscribed") => {
                            self.counters.approved.fetch_add(1, Ordering::Relaxed);
                        }
                        Some("unsubscribed") => {
                            self.counters.refused.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
                ClientEvent::Closed { error } => {
                    return Some(error.map_or_else(
                        || "the server closed the stream".to_owned(),
                        |e| format!("stream error: {e}"),
                    ));
                }
                ClientEvent::Failed(error) => return Some(error.to_string()),
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_of_presence_errors() {
        let parse = |xml: &str| Element::parse(xml.as_bytes()).unwrap();
        let error = parse(
            "<presence xmlns='jabber:client' type='error'><error type='wait'>\
             <resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>full</text></error></presence>",
        );
        assert_eq!(error_condition(&error), "resource-constraint");
        let bare = parse("<presence xmlns='jabber:client' type='error'/>");
        assert_eq!(error_condition(&bare), "(no condition)");
        let counters = FloodCounters::default();
        FloodCounters::count(&counters.errors, "policy-violation".to_owned());
        FloodCounters::count(&counters.errors, "policy-violation".to_owned());
        assert_eq!(
            FloodCounters::snapshot(&counters.errors).get("policy-violation"),
            Some(&2)
        );
    }
}
