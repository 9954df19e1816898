//! How much one account may have stored for it by others: the caps on
//! pending subscription requests and the offline message quota. These
//! are pure decisions over counts a backend reads in the same transaction
//! as the write they guard, so a check and its insert are atomic.

/// A write was accepted or refused by a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission<R> {
    /// Stored (committed).
    Stored,
    /// Refused: nothing was written.
    Refused(R),
}

/// The caps on an account's pending inbound subscription requests
/// (`[limits] max_pending_subscriptions` and
/// `max_pending_subscriptions_per_domain`).
///
/// Beyond a cap a new request is refused, not stored over the oldest: the
/// requests already pending stay (they may be legitimate and waiting for
/// the user), and the per-domain cap keeps a flood from one domain from
/// taking every place. A repeated request from a contact already pending
/// replaces its record and is always accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Pending requests per account.
    pub max_pending: usize,
    /// Pending requests per account from one sending domain.
    pub max_per_domain: usize,
}

impl Default for RequestLimits {
    fn default() -> RequestLimits {
        RequestLimits {
            max_pending: 100,
            max_per_domain: 20,
        }
    }
}

/// Why a subscription request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestsFull {
    /// The account has `max_pending` requests pending.
    Total,
    /// The account has `max_per_domain` requests pending from the
    /// sender's domain.
    Domain,
}

/// What is stored for an account when a request arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PendingCounts {
    /// A request from the same sender is pending (it is replaced).
    pub same_sender: bool,
    /// Pending requests.
    pub pending: usize,
    /// Pending requests from the sender's domain.
    pub from_domain: usize,
}

impl RequestLimits {
    /// Whether one more request may be stored over `counts`.
    pub fn admit(&self, counts: PendingCounts) -> Result<(), RequestsFull> {
        if counts.same_sender {
            Ok(())
        } else if counts.pending >= self.max_pending {
            Err(RequestsFull::Total)
        } else if counts.from_domain >= self.max_per_domain {
            Err(RequestsFull::Domain)
        } else {
            Ok(())
        }
    }
}

/// The offline message quota of an account (`[limits]
/// max_offline_messages`, `max_offline_bytes` and `max_offline_share`).
///
/// A message is stored only if the account stays within both the count
/// and the byte quota, and its sender (a bare JID) within its share of
/// each: one sender cannot fill someone's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfflineQuota {
    /// Stored messages per account (0: offline storage off).
    pub max_messages: usize,
    /// Stored bytes (serialized stanzas) per account.
    pub max_bytes: u64,
    /// The percentage (1–100) of both quotas one sender may use.
    pub share_percent: u8,
}

impl Default for OfflineQuota {
    fn default() -> OfflineQuota {
        OfflineQuota {
            max_messages: 1000,
            max_bytes: 4 * 1024 * 1024,
            share_percent: 25,
        }
    }
}

/// Why an offline message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineFull {
    /// The account has `max_messages` messages stored.
    Messages,
    /// The message does not fit in the account's byte quota.
    Bytes,
    /// The sender has used its share of the count or of the bytes.
    SenderShare,
}

/// What is stored for an account, and by the sender, when a message
/// arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OfflineUsage {
    /// Stored messages.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Stored messages from the sender.
    pub sender_messages: u64,
    /// Their bytes.
    pub sender_bytes: u64,
}

impl OfflineQuota {
    /// Messages one sender may have stored: its share of `max_messages`,
    /// rounded up (at least one while the quota is not 0).
    pub fn sender_messages(&self) -> u64 {
        share(self.max_messages as u64, self.share_percent)
    }

    /// Bytes one sender may have stored: its share of `max_bytes`,
    /// rounded up.
    pub fn sender_bytes(&self) -> u64 {
        share(self.max_bytes, self.share_percent)
    }

    /// Whether a message of `size` bytes may be stored over `usage`.
    pub fn admit(&self, usage: OfflineUsage, size: u64) -> Result<(), OfflineFull> {
        if usage.messages >= self.max_messages as u64 {
            Err(OfflineFull::Messages)
        } else if usage.bytes.saturating_add(size) > self.max_bytes {
            Err(OfflineFull::Bytes)
        } else if usage.sender_messages >= self.sender_messages()
            || usage.sender_bytes.saturating_add(size) > self.sender_bytes()
        {
            Err(OfflineFull::SenderShare)
        } else {
            Ok(())
        }
    }
}

/// `percent` of `total`, rounded up.
fn share(total: u64, percent: u8) -> u64 {
    let p = u128::from(percent.min(100));
    let n = (u128::from(total) * p).div_ceil(100);
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_table() {
        let lim = RequestLimits {
            max_pending: 5,
            max_per_domain: 2,
        };
        let c = |same_sender, pending, from_domain| PendingCounts {
            same_sender,
            pending,
            from_domain,
        };
        let table = [
            (c(false, 0, 0), Ok(())),
            (c(false, 4, 1), Ok(())),
            (c(false, 4, 2), Err(RequestsFull::Domain)),
            (c(false, 5, 0), Err(RequestsFull::Total)),
            // The total cap is named first when both are reached.
            (c(false, 5, 2), Err(RequestsFull::Total)),
            (c(false, 9, 9), Err(RequestsFull::Total)),
            // A repeat replaces its own record: never refused.
            (c(true, 5, 2), Ok(())),
            (c(true, 9, 9), Ok(())),
        ];
        for (counts, want) in table {
            assert_eq!(lim.admit(counts), want, "{counts:?}");
        }
    }

    #[test]
    fn defaults_are_documented_values() {
        let r = RequestLimits::default();
        assert_eq!((r.max_pending, r.max_per_domain), (100, 20));
        let q = OfflineQuota::default();
        assert_eq!(q.max_messages, 1000);
        assert_eq!(q.max_bytes, 4 << 20);
        assert_eq!(q.share_percent, 25);
        assert_eq!(q.sender_messages(), 250);
        assert_eq!(q.sender_bytes(), 1 << 20);
    }

    #[test]
    fn shares_round_up() {
        let q = |m, b, p| OfflineQuota {
            max_messages: m,
            max_bytes: b,
            share_percent: p,
        };
        let table = [
            // (quota, sender messages, sender bytes)
            (q(10, 1000, 30), 3, 300),
            (q(10, 1001, 30), 3, 301),
            (q(3, 10, 10), 1, 1),
            (q(0, 0, 50), 0, 0),
            (q(7, 7, 100), 7, 7),
            (q(usize::MAX, u64::MAX, 100), usize::MAX as u64, u64::MAX),
            // Out of range percentages count as 100.
            (q(10, 10, 200), 10, 10),
        ];
        for (quota, msgs, bytes) in table {
            assert_eq!(quota.sender_messages(), msgs, "{quota:?}");
            assert_eq!(quota.sender_bytes(), bytes, "{quota:?}");
        }
    }

    #[test]
    fn offline_table() {
        let quota = OfflineQuota {
            max_messages: 10,
            max_bytes: 1000,
            share_percent: 30,
        };
        let u = |messages, bytes, sender_messages, sender_bytes| OfflineUsage {
            messages,
            bytes,
            sender_messages,
            sender_bytes,
        };
        let table = [
            (u(0, 0, 0, 0), 100, Ok(())),
            (u(0, 0, 0, 0), 300, Ok(())),
            // One byte over the sender's 300.
            (u(0, 0, 0, 0), 301, Err(OfflineFull::SenderShare)),
            (u(2, 200, 2, 200), 100, Ok(())),
            (u(3, 30, 3, 30), 1, Err(OfflineFull::SenderShare)),
            (u(9, 700, 0, 0), 300, Ok(())),
            (u(9, 700, 0, 0), 301, Err(OfflineFull::Bytes)),
            (u(10, 10, 0, 0), 1, Err(OfflineFull::Messages)),
            // Bytes reached before the count.
            (u(4, 999, 0, 0), 2, Err(OfflineFull::Bytes)),
            (u(0, u64::MAX, 0, 0), u64::MAX, Err(OfflineFull::Bytes)),
        ];
        for (usage, size, want) in table {
            assert_eq!(quota.admit(usage, size), want, "{usage:?} + {size}");
        }
        let off = OfflineQuota {
            max_messages: 0,
            ..quota
        };
        assert_eq!(off.admit(u(0, 0, 0, 0), 1), Err(OfflineFull::Messages));
    }
}
