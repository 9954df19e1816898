//! Backpressure on incoming s2s streams: stanzas from a remote server that
//! do not fit in a local session's full queue make the stream stop reading
//! until they fit, as a local sender would. A recipient slow for longer
//! than the grace does not cost the user its session (a remote server must
//! not be able to disconnect a user on a slow link): the stanzas are
//! bounced to their senders and the s2s stream is closed instead.

use std::sync::Arc;
use std::time::Duration;

use starling_stanza::{StanzaError, StanzaErrorCondition as Cond};
use starling_stream::{Condition, StreamError};

use crate::hub::Hub;
use crate::registry::{BACKLOG, Held};
use crate::routed::Routed;

/// How long an incoming stream waits for room in a recipient's queue.
pub(super) const GRACE: Duration = Duration::from_secs(10);

/// Whether stanzas of this task wait for room.
pub(super) fn pending() -> bool {
    BACKLOG
        .try_with(|b| !b.borrow().is_empty())
        .unwrap_or(false)
}

/// Waits, up to `grace` for each, until the held stanzas fit in their
/// queues. A stanza whose recipient ended meanwhile is routed again. When
/// the grace runs out, that stanza and those behind it are bounced with
/// `resource-constraint` and the stream error to close the s2s stream with
/// is returned.
pub(super) async fn settle(hub: &Hub, grace: Duration) -> Option<StreamError> {
    let held: Vec<Held> = BACKLOG.with(|b| b.take());
    if let Some(h) = held.first() {
        tracing::debug!(jid = %h.jid, "an incoming s2s stream waits for room in a recipient's queue");
    }
    let mut stuck = false;
    for h in held {
        if stuck {
            bounce(hub, &h.st).await;
            continue;
        }
        match tokio::time::timeout(grace, h.queue.push(h.st.clone())).await {
            Ok(true) => {}
            Ok(false) => hub.route(Arc::unwrap_or_clone(h.st)).await,
            Err(_) => {
                tracing::info!(jid = %h.jid, "a local recipient is too slow for an incoming s2s stream");
                stuck = true;
                bounce(hub, &h.st).await;
            }
        }
    }
    stuck.then(|| {
        StreamError::new(Condition::ResourceConstraint)
            .with_text("a recipient cannot take more stanzas now")
    })
}

async fn bounce(hub: &Hub, st: &Routed) {
    if let Some(reply) = st.error_reply(&StanzaError::new(Cond::ResourceConstraint)) {
        hub.route(reply).await;
    }
}
