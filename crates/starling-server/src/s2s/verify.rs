//! Dialback verification (XEP-0220 §2.1.2): asking a remote domain's
//! authoritative server whether a key is valid — when the
//! `VerifyPolicy` (`verify_policy.rs`) lets it run, and
//! for at most `verify_timeout`.

use std::time::Instant;

use starling_auth::negotiate::{OutboundEvent, S2sOutbound};
use starling_jid::DomainPart;
use starling_net::Driver;
use starling_stanza::StanzaErrorCondition as Cond;
use tracing::debug;

use super::connect::OutDriver;
use super::verify_policy::{Decision, Outcome};
use super::{Failure, S2s};

/// A running verification's slot, given back (with how it ended) when
/// dropped — also if the task is cancelled.
struct Slot<'a> {
    s2s: &'a S2s,
    remote: &'a DomainPart,
    outcome: Outcome,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.s2s
            .verifications
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .finish(self.remote, self.outcome, Instant::now());
    }
}

impl S2s {
    /// Answers a `<db:result/>` from `remote` to our `local` domain: asks
    /// `remote`'s authoritative server whether `key` is valid for stream
    /// `stream_id` if the policy allows a verification now, else refuses
    /// at once with the policy's error.
    pub(super) async fn verify_dialback(
        &self,
        local: DomainPart,
        remote: DomainPart,
        stream_id: String,
        key: String,
    ) -> Result<bool, Cond> {
        let decision = self
            .verifications
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .decide(&remote, Instant::now());
        if let Some(c) = decision.condition() {
            debug!(%local, %remote, ?decision, "dialback verification refused");
            return Err(c);
        }
        debug_assert_eq!(decision, Decision::Start);
        let mut slot = Slot {
            s2s: self,
            remote: &remote,
            outcome: Outcome::Failed,
        };
        let work = self.verify_key(local.clone(), remote.clone(), stream_id, key);
        let r = tokio::time::timeout(self.config.verify_timeout, work)
            .await
            .unwrap_or_else(|_| {
                debug!(%local, %remote, "dialback verification timed out");
                Err(Cond::RemoteServerTimeout)
            });
        if r.is_ok() {
            slot.outcome = Outcome::Answered;
        }
        r
    }

    /// Asks `remote`'s authoritative server whether `key` is valid for a
    /// stream `stream_id` from `remote` to our `local` domain.
    async fn verify_key(
        &self,
        local: DomainPart,
        remote: DomainPart,
        stream_id: String,
        key: String,
    ) -> Result<bool, Cond> {
        let (transport, tls) = self.connect(&local, &remote).await.map_err(|f| {
            debug!(%local, %remote, reason = %f.detail, "dialback verification: no connection");
            f.condition
        })?;
        let mut neg = S2sOutbound::verifier(
            self.settings.clone(),
            local.clone(),
            remote.clone(),
            tls,
            Instant::now(),
        );
        neg.verify(&stream_id, &key, Instant::now());
        let mut driver = Driver::new(transport, neg);
        loop {
            if let Some(answer) = self.verify_events(&mut driver, &local, &remote).await {
                return answer;
            }
            driver
                .flush()
                .await
                .map_err(|_| Cond::RemoteServerNotFound)?;
            if driver.machine().is_closed() {
                return Err(Cond::RemoteServerNotFound);
            }
            // Input, the machine's deadline, or the end of the stream.
            let _ = driver.wait(std::future::pending::<()>()).await;
        }
    }

    /// The verify-only stream's events; `Some` once it has the answer.
    async fn verify_events(
        &self,
        driver: &mut OutDriver,
        local: &DomainPart,
        remote: &DomainPart,
    ) -> Option<Result<bool, Cond>> {
        while let Some(ev) = driver.machine_mut().next_event() {
            match ev {
                OutboundEvent::StartTls => {
                    if let Err(f) = self.starttls(driver, local, remote).await {
                        return Some(Err(f.condition));
                    }
                }
                OutboundEvent::Verified { valid, .. } => {
                    driver.machine_mut().close();
                    let _ = driver.shutdown().await;
                    return Some(Ok(valid));
                }
                OutboundEvent::VerifyFailed { error, .. } | OutboundEvent::Failed(error) => {
                    return Some(Err(Failure::from_s2s(&error).condition));
                }
                _ => {}
            }
        }
        None
    }
}
