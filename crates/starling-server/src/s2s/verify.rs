//! Dialback verification (XEP-0220 §2.1.2): asking a remote domain's
//! authoritative server whether a key is valid.

use std::time::{Duration, Instant};

use starling_auth::negotiate::{OutboundEvent, S2sOutbound};
use starling_jid::DomainPart;
use starling_stanza::StanzaErrorCondition as Cond;

use super::{Failure, READ_CHUNK, S2s};

impl S2s {
    /// Asks `remote`'s authoritative server whether `key` is valid for a
    /// stream `stream_id` from `remote` to our `local` domain (XEP-0220
    /// §2.1.2).
    pub(super) async fn verify_key(
        &self,
        local: DomainPart,
        remote: DomainPart,
        stream_id: String,
        key: String,
    ) -> Result<bool, Cond> {
        let work = async {
            let (mut io, tls) = self
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
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                while let Some(ev) = neg.next_event() {
                    match ev {
                        OutboundEvent::StartTls => {
                            self.starttls(&mut io, &mut neg, &local, &remote)
                                .await
                                .map_err(|f| f.condition)?;
                        }
                        OutboundEvent::Verified { valid, .. } => {
                            neg.close();
                            let out = neg.take_output();
                            let _ = io.write_all(&out).await;
                            io.shutdown().await;
                            return Ok(valid);
                        }
                        OutboundEvent::VerifyFailed { error, .. }
                        | OutboundEvent::Failed(error) => {
                            return Err(Failure::from_s2s(&error).condition);
                        }
                        _ => {}
                    }
                }
                let out = neg.take_output();
                if !out.is_empty() {
                    io.write_all(&out)
                        .await
                        .map_err(|_| Cond::RemoteServerNotFound)?;
                }
                if neg.is_closed() {
                    return Err(Cond::RemoteServerNotFound);
                }
                let deadline = neg
                    .poll_timeout()
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
                tokio::select! {
                    r = io.read(&mut buf) => match r {
                        Ok(0) | Err(_) => neg.eof(),
                        Ok(n) => neg.feed(&buf[..n]),
                    },
                    () = tokio::time::sleep_until(deadline.into()) => neg.handle_timeout(Instant::now()),
                }
            }
        };
        tokio::time::timeout(self.config.connect_timeout * 3, work)
            .await
            .unwrap_or(Err(Cond::RemoteServerTimeout))
    }
}
