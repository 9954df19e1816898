//! Server-initiated XEP-0199 pings of a bound session: a client that
//! sends nothing for `[modules.ping] keepalive_interval` is pinged, and
//! one that then stays silent for `keepalive_timeout` is closed with
//! `connection-timeout` — which leaves a XEP-0198 session detached for
//! resumption, as any broken connection does.

use std::time::Instant;

use starling_stanza::StanzaKind;
use starling_stream::{Condition, StreamError};
use tracing::debug;

use super::C2sDriver;
use super::session::Conn;
use super::sm::Sent;
use crate::modules::ping::{KeepAlive, KeepAliveAction};
use crate::routed::Routed;

impl Conn {
    /// Starts the keepalive of a session just bound or resumed.
    pub(super) fn start_keepalive(&mut self) {
        let config = &self.hub.config().modules.ping;
        self.keepalive = Some(KeepAlive::new(config, Instant::now()));
    }

    /// Pings or closes the session when it is time; when to look again.
    pub(super) fn keepalive_tick(&mut self, driver: &mut C2sDriver) -> Option<Instant> {
        let ka = self.keepalive.as_mut()?;
        let jid = self.me.as_ref()?.jid.clone();
        match ka.poll(Instant::now()) {
            KeepAliveAction::Ping(id) => {
                let ping = KeepAlive::ping_stanza(&id, &jid);
                super::managed::emit(driver, &ping, || Sent::Element(ping.clone()));
                // The answer's deadline.
                match ka.poll(Instant::now()) {
                    KeepAliveAction::WaitUntil(t) => Some(t),
                    _ => None,
                }
            }
            KeepAliveAction::WaitUntil(t) => Some(t),
            KeepAliveAction::Dead => {
                debug!(peer = %self.peer, jid = %jid, "no answer to the server's ping");
                self.keepalive = None;
                driver.machine_mut().close_with(
                    StreamError::new(Condition::ConnectionTimeout)
                        .with_text("no answer to the server's ping"),
                );
                None
            }
            KeepAliveAction::Off => None,
        }
    }

    /// Whether `st` answers the server's ping (then it goes no further).
    pub(super) fn takes_pong(&mut self, st: &Routed) -> bool {
        let (Some(ka), StanzaKind::Iq(t)) = (self.keepalive.as_mut(), st.kind()) else {
            return false;
        };
        st.to()
            .is_none_or(|to| to.node().is_none() && to.resource().is_none())
            && st.id().is_some_and(|id| ka.is_pong(t, id))
    }
}
