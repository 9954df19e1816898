//! XEP-0198 on a bound session: `<enable/>`, `<r/>`, `<a/>`, counting
//! what is sent and handled, and asking for acknowledgements.

use std::sync::Arc;
use std::time::{Duration, Instant};

use starling_stanza::{
    HandledCountTooHigh, Payload, SmAck, SmEnabled, SmFailed, SmNonza,
    StanzaErrorCondition as Cond, is_stanza,
};
use starling_stream::{Condition, StreamError};
use starling_xml::Element;
use tracing::{debug, info};

use super::C2sDriver;
use super::session::Conn;
use super::sm::{Sent, Sm, TooManyUnacked};
use crate::routed::Routed;

/// The stream error for a session over its unacknowledged bound.
fn too_many_unacked() -> StreamError {
    StreamError::new(Condition::ResourceConstraint).with_text("too many unacknowledged stanzas")
}

/// The stream error for an `<a/>` acknowledging more than was sent
/// (XEP-0198 §4).
fn count_too_high(e: HandledCountTooHigh) -> StreamError {
    let mut err = StreamError::new(Condition::UndefinedCondition).with_text(e.to_string());
    err.application = Some(Box::new(e.to_element()));
    err
}

/// Writes a stanza on the session's stream, counting it when stream
/// management is on (`sent` makes the record of it).
pub(super) fn emit(driver: &mut C2sDriver, el: &Element, sent: impl FnOnce() -> Sent) {
    let neg = driver.machine_mut();
    neg.send(el);
    let Some(sm) = neg.hooks_mut().sm.as_mut() else {
        return;
    };
    if !is_stanza(el) {
        return;
    }
    if sm.sent(sent(), Instant::now()) == Err(TooManyUnacked) {
        info!(
            unacked = sm.unacked_len(),
            "too many unacknowledged stanzas: closing the session"
        );
        neg.close_with(too_many_unacked());
    }
}

impl Conn {
    /// A XEP-0198 element from the bound client.
    pub(super) fn on_sm(&mut self, driver: &mut C2sDriver, el: &Element) {
        let nonza = match SmNonza::from_element(el) {
            Ok(n) => n,
            Err(e) => {
                debug!(peer = %self.peer, error = %e, "bad stream management element");
                driver
                    .machine_mut()
                    .send(&SmFailed::with_condition(Cond::BadRequest).to_element());
                return;
            }
        };
        let has_sm = driver.machine().hooks().sm.is_some();
        match nonza {
            SmNonza::Enable(req) if !has_sm => self.enable(driver, req.resume, req.max),
            SmNonza::Request if has_sm => {
                let h = driver.machine().hooks().sm.as_ref().map(Sm::inbound);
                if let Some(h) = h {
                    driver.machine_mut().send(&SmAck { h }.to_element());
                }
            }
            SmNonza::Ack(a) if has_sm => self.acked(driver, a.h),
            // Enable twice, resume after binding, acks without stream
            // management: the order is wrong (XEP-0198 §3, §5).
            SmNonza::Enable(_) | SmNonza::Resume(_) | SmNonza::Request | SmNonza::Ack(_) => {
                driver
                    .machine_mut()
                    .send(&SmFailed::with_condition(Cond::UnexpectedRequest).to_element());
            }
            SmNonza::Enabled(_) | SmNonza::Resumed(_) | SmNonza::Failed(_) => {
                self.final_close = true;
                driver.machine_mut().close_with(
                    StreamError::new(Condition::UnsupportedStanzaType)
                        .with_text("a client does not send that"),
                );
            }
        }
    }

    /// `<enable/>`: counts start at zero; with resumption asked for and
    /// allowed, the session is listed under a fresh id.
    fn enable(&mut self, driver: &mut C2sDriver, resume: bool, max: Option<u32>) {
        let Some(me) = self.me.clone() else { return };
        let config = &self.hub.config().modules.stream_management;
        let resume = resume && config.resume;
        let resume_for = max
            .map(|m| Duration::from_secs(u64::from(m.max(1))))
            .map_or(config.resume_timeout, |m| m.min(config.resume_timeout));
        let id = resume.then(|| format!("{}{}", crate::random_id(), crate::random_id()));
        let enabled = SmEnabled {
            id: id.clone(),
            resume,
            max: resume.then(|| u32::try_from(resume_for.as_secs()).unwrap_or(u32::MAX)),
            location: if resume {
                config.location.clone()
            } else {
                None
            },
        };
        let sm = Sm::new(config, id.clone(), resume_for);
        if let Some(id) = &id {
            self.takeover_rx = Some(self.hub.sessions().resumptions.add(id, me.jid.bare()));
        }
        // The unwritten list is for sessions without acknowledgements.
        self.unwritten.clear();
        let neg = driver.machine_mut();
        neg.send(&enabled.to_element());
        neg.hooks_mut().sm = Some(sm);
        debug!(peer = %self.peer, jid = %me.jid, resume, "stream management enabled");
    }

    /// `<a h/>` from the client.
    fn acked(&mut self, driver: &mut C2sDriver, h: starling_stanza::H) {
        let neg = driver.machine_mut();
        let Some(sm) = neg.hooks_mut().sm.as_mut() else {
            return;
        };
        match sm.ack(h) {
            Ok(acked) => {
                acked.actions.into_iter().for_each(|a| a());
                self.hub.release_journal(acked.rows);
            }
            Err(e) => {
                info!(peer = %self.peer, error = %e, "bad acknowledgement");
                self.final_close = true;
                neg.close_with(count_too_high(e));
            }
        }
    }

    /// A stanza from the client is handled.
    pub(super) fn count_handled(driver: &mut C2sDriver) {
        if let Some(sm) = driver.machine_mut().hooks_mut().sm.as_mut() {
            sm.handled();
        }
    }

    /// Before a flush: counts what the negotiator answered by itself, and
    /// asks for an acknowledgement when the policy says so.
    pub(super) fn sm_tick(driver: &mut C2sDriver) {
        let neg = driver.machine_mut();
        let replies = neg.take_own_replies();
        let Some(sm) = neg.hooks_mut().sm.as_mut() else {
            return;
        };
        let now = Instant::now();
        let mut over = false;
        for _ in 0..replies {
            over |= sm.sent(Sent::Reply, now).is_err();
        }
        let request = sm.should_request(now);
        if over {
            neg.close_with(too_many_unacked());
        } else if request {
            neg.send(&SmNonza::Request.to_element());
        }
    }

    /// When an acknowledgement request is due by time alone.
    pub(super) fn sm_deadline(driver: &C2sDriver) -> Option<Instant> {
        driver.machine().hooks().sm.as_ref()?.request_deadline()
    }

    /// A stanza from the session's queue, written and counted.
    pub(super) fn emit_routed(driver: &mut C2sDriver, st: &Arc<Routed>) {
        emit(driver, st.element(), || Sent::Routed(st.clone()));
    }
}
