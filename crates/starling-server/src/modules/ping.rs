//! XEP-0199 XMPP Ping: the server answers pings to its domains and, on
//! their behalf, to accounts; and it pings idle client sessions itself
//! ([`KeepAlive`]) so that a dead TCP connection is found.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use starling_jid::{FullJid, Jid};
use starling_stanza::{IqType, ns};
use starling_xml::Element;

use crate::config::PingConfig;
use crate::hub::Hub;
use crate::module::{IqOutcome, IqRequest, IqScope, Module, Registrar};

/// The ping module (`[modules.ping]`).
#[derive(Debug, Default)]
pub struct Ping;

#[async_trait]
impl Module for Ping {
    fn name(&self) -> &'static str {
        "ping"
    }

    fn register(&self, r: &mut Registrar) {
        r.iq(IqScope::Server, IqType::Get, ns::PING, "ping");
        r.iq(IqScope::Account, IqType::Get, ns::PING, "ping");
        r.disco_feature(ns::PING);
    }

    async fn iq(&self, _hub: &Hub, _req: IqRequest<'_>) -> IqOutcome {
        IqOutcome::Result(None)
    }
}

/// What a session does next about its keepalive (see [`KeepAlive`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepAliveAction {
    /// Send [`KeepAlive::ping_stanza`] with this id now.
    Ping(String),
    /// Nothing to do before this instant (poll again then, or after
    /// input).
    WaitUntil(Instant),
    /// The client did not answer in time: close the stream with
    /// `<connection-timeout/>`.
    Dead,
    /// The keepalive is off (`keepalive_interval = 0`).
    Off,
}

/// The server-initiated ping of one client session, without I/O or clock
/// (time is passed in). A session that sent nothing for
/// `keepalive_interval` is pinged; if it then sends nothing for
/// `keepalive_timeout`, it is dead. Any input counts as a sign of life
/// (the ping only finds dead connections): the session calls
/// [`on_input`](KeepAlive::on_input) for everything it reads, the answer
/// to the ping included, which is also recognised by its id
/// ([`is_pong`](KeepAlive::is_pong)) and swallowed.
///
/// ```
/// use std::time::{Duration, Instant};
/// use starling_server::config::PingConfig;
/// use starling_server::modules::ping::{KeepAlive, KeepAliveAction};
/// use starling_stanza::IqType;
///
/// let t0 = Instant::now();
/// let mut ka = KeepAlive::new(&PingConfig::default(), t0);
/// assert_eq!(ka.poll(t0), KeepAliveAction::WaitUntil(t0 + Duration::from_secs(300)));
/// let KeepAliveAction::Ping(id) = ka.poll(t0 + Duration::from_secs(300)) else { panic!() };
/// // The answer is input like any other, and recognised by its id.
/// ka.on_input(t0 + Duration::from_secs(300));
/// assert!(ka.is_pong(IqType::Result, &id));
/// assert_eq!(ka.poll(t0 + Duration::from_secs(300)),
///            KeepAliveAction::WaitUntil(t0 + Duration::from_secs(600)));
/// ```
#[derive(Debug, Clone)]
pub struct KeepAlive {
    interval: Option<Duration>,
    timeout: Duration,
    last_input: Instant,
    /// The deadline of the ping sent, until input arrives.
    deadline: Option<Instant>,
    /// The id of the last ping, until its answer arrives.
    awaiting: Option<String>,
    sent: u64,
}

impl KeepAlive {
    /// The keepalive of a session that was last heard from at `now`.
    pub fn new(config: &PingConfig, now: Instant) -> KeepAlive {
        KeepAlive {
            interval: config.keepalive_interval,
            timeout: config.keepalive_timeout,
            last_input: now,
            deadline: None,
            awaiting: None,
            sent: 0,
        }
    }

    /// The client sent something at `now`: it is alive.
    pub fn on_input(&mut self, now: Instant) {
        self.last_input = now;
        self.deadline = None;
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Instant) -> KeepAliveAction {
        let Some(interval) = self.interval else {
            return KeepAliveAction::Off;
        };
        if let Some(deadline) = self.deadline {
            return if now >= deadline {
                KeepAliveAction::Dead
            } else {
                KeepAliveAction::WaitUntil(deadline)
            };
        }
        let due = self.last_input + interval;
        if now < due {
            return KeepAliveAction::WaitUntil(due);
        }
        self.sent = self.sent.wrapping_add(1);
        let id = format!("keepalive-{}", self.sent);
        self.deadline = Some(now + self.timeout);
        self.awaiting = Some(id.clone());
        KeepAliveAction::Ping(id)
    }

    /// Whether an iq of `iq_type` with `id` from the client answers our
    /// last ping (a `result`, or an `error` from a client without ping
    /// support): the session takes it instead of routing it.
    pub fn is_pong(&mut self, iq_type: IqType, id: &str) -> bool {
        let answer = matches!(iq_type, IqType::Result | IqType::Error);
        if answer && self.awaiting.as_deref() == Some(id) {
            self.awaiting = None;
            return true;
        }
        false
    }

    /// The ping to send: `<iq type='get' id=ID from=DOMAIN to=CLIENT>`
    /// with `<ping xmlns='urn:xmpp:ping'/>`.
    pub fn ping_stanza(id: &str, client: &FullJid) -> Element {
        let mut iq = Element::new("iq", ns::CLIENT);
        iq.set_attr("type", Some("get"));
        iq.set_attr("id", Some(id));
        iq.set_attr("from", Some(Jid::from(client.domain_part()).as_str()));
        iq.set_attr("to", Some(client.as_str()));
        iq.append_child(Element::new("ping", ns::PING));
        iq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(interval: u64, timeout: u64) -> PingConfig {
        PingConfig {
            enabled: true,
            keepalive_interval: (interval > 0).then(|| Duration::from_secs(interval)),
            keepalive_timeout: Duration::from_secs(timeout),
        }
    }

    enum Step {
        Input(u64),
        Poll(u64, &'static str),
        Pong(IqType, &'static str, bool),
    }

    /// Each case: config (interval, timeout) and steps at seconds after
    /// start; a poll's expectation is "ping:ID", "wait:SECS", "dead", "off".
    #[test]
    fn keepalive_table() {
        use Step::*;
        let cases: &[(&str, u64, u64, &[Step])] = &[
            ("off", 0, 60, &[Poll(0, "off"), Poll(100_000, "off")]),
            (
                "idle then ping",
                300,
                60,
                &[
                    Poll(0, "wait:300"),
                    Poll(299, "wait:300"),
                    Poll(300, "ping:keepalive-1"),
                    Poll(301, "wait:360"),
                ],
            ),
            (
                "no answer: dead",
                300,
                60,
                &[
                    Poll(300, "ping:keepalive-1"),
                    Poll(359, "wait:360"),
                    Poll(360, "dead"),
                ],
            ),
            (
                "input postpones",
                300,
                60,
                &[
                    Input(200),
                    Poll(300, "wait:500"),
                    Poll(500, "ping:keepalive-1"),
                ],
            ),
            (
                "pong then next ping",
                300,
                60,
                &[
                    Poll(300, "ping:keepalive-1"),
                    Pong(IqType::Result, "keepalive-1", true),
                    Input(310),
                    Poll(360, "wait:610"),
                    Poll(610, "ping:keepalive-2"),
                ],
            ),
            (
                "input without pong saves",
                300,
                60,
                &[
                    Poll(300, "ping:keepalive-1"),
                    Input(350),
                    Poll(400, "wait:650"),
                    Pong(IqType::Result, "keepalive-1", true),
                ],
            ),
            (
                "error answers too",
                10,
                5,
                &[
                    Poll(10, "ping:keepalive-1"),
                    Pong(IqType::Error, "keepalive-1", true),
                    Pong(IqType::Error, "keepalive-1", false),
                ],
            ),
            (
                "other ids and requests are not pongs",
                10,
                5,
                &[
                    Poll(10, "ping:keepalive-1"),
                    Pong(IqType::Result, "x", false),
                    Pong(IqType::Get, "keepalive-1", false),
                    Pong(IqType::Set, "keepalive-1", false),
                    Pong(IqType::Result, "keepalive-1", true),
                ],
            ),
            (
                "nothing awaited",
                10,
                5,
                &[Pong(IqType::Result, "keepalive-1", false)],
            ),
        ];
        for (name, interval, timeout, steps) in cases {
            let t0 = Instant::now();
            let at = |s: u64| t0 + Duration::from_secs(s);
            let mut ka = KeepAlive::new(&cfg(*interval, *timeout), t0);
            for (i, step) in steps.iter().enumerate() {
                match step {
                    Input(s) => ka.on_input(at(*s)),
                    Poll(s, want) => {
                        let got = match ka.poll(at(*s)) {
                            KeepAliveAction::Ping(id) => format!("ping:{id}"),
                            KeepAliveAction::WaitUntil(t) => {
                                format!("wait:{}", t.duration_since(t0).as_secs())
                            }
                            KeepAliveAction::Dead => "dead".to_owned(),
                            KeepAliveAction::Off => "off".to_owned(),
                        };
                        assert_eq!(got, *want, "{name}, step {i}");
                    }
                    Pong(t, id, want) => assert_eq!(ka.is_pong(*t, id), *want, "{name}, step {i}"),
                }
            }
        }
    }

    #[test]
    fn ping_stanza_is_from_the_domain_to_the_session() {
        let client: FullJid = "juliet@capulet.lit/balcony".parse().unwrap();
        let iq = KeepAlive::ping_stanza("keepalive-7", &client);
        assert_eq!(iq.attr("type"), Some("get"));
        assert_eq!(iq.attr("id"), Some("keepalive-7"));
        assert_eq!(iq.attr("from"), Some("capulet.lit"));
        assert_eq!(iq.attr("to"), Some("juliet@capulet.lit/balcony"));
        assert!(iq.has_child("ping", ns::PING));
    }
}
