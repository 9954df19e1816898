//! Dialback verification (XEP-0220 §2.1.2): asking a remote domain's
//! authoritative server whether a key is valid.

use std::time::Instant;

use starling_auth::negotiate::{OutboundEvent, S2sOutbound};
use starling_jid::DomainPart;
use starling_net::Driver;
use starling_stanza::StanzaErrorCondition as Cond;

use super::connect::OutDriver;
use super::{Failure, S2s};

impl S2s {
    /// Asks `remote`'s authoritative server whether `key` is valid for a
    /// stream `stream_id` from `remote` to our `local` domain.
    pub(super) async fn verify_key(
        &self,
        local: DomainPart,
        remote: DomainPart,
        stream_id: String,
        key: String,
    ) -> Result<bool, Cond> {
        let work = async {
            let (transport, tls) = self
                .connect(&local, &remote)
                .await
                .map_err(|f| f.condition)?;
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
        };
        tokio::time::timeout(self.config.connect_timeout * 3, work)
            .await
            .unwrap_or(Err(Cond::RemoteServerTimeout))
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
