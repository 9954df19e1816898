//! The schedule of a soak run, derived from its options: how many abusers,
//! how fast each goes, when measuring starts and how often memory is read.
//! Pure: no I/O, tested with tables.

use std::time::Duration;

/// The offered load and the abusers' pace of one soak run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// Normal users (`u0@localhost` …).
    pub(crate) users: usize,
    /// Logins started per second.
    pub(crate) login_rate: u32,
    /// Time between two messages of one user.
    pub(crate) message_every: Duration,
    /// Share of message ticks with a presence change too.
    pub(crate) presence_share: f64,
    /// Share of message ticks with a roster get too.
    pub(crate) roster_share: f64,
    /// Length of the traffic phase.
    pub(crate) duration: Duration,
    /// The start of the traffic phase that is not measured.
    pub(crate) warm_up: Duration,
    /// How often the server's RSS is read.
    pub(crate) rss_every: Duration,
    /// How often a progress line is printed.
    pub(crate) progress_every: Duration,
    /// The never-reader: share of the users' messages sent to it.
    pub(crate) sink_share: f64,
    /// The never-reader asks this many users for their presence (they
    /// approve), so that it is a contact of many.
    pub(crate) sink_contacts: usize,
    /// The never-reader writes a whitespace keepalive this often (to
    /// notice that the server closed it, without reading).
    pub(crate) sink_probe_every: Duration,
    /// The feeder sends the never-reader this many messages a second…
    pub(crate) feed_rate: f64,
    /// … of this many bytes of body.
    pub(crate) feed_size: usize,
    /// Pause before the never-reader logs in again after being closed.
    pub(crate) sink_reconnect_after: Duration,
    /// Accounts on the second server sending subscription requests.
    pub(crate) flood_accounts: usize,
    /// Time between two subscription requests of one flooding account.
    pub(crate) flood_every: Duration,
    /// The brute-forcer starts at most one attempt per this interval.
    pub(crate) brute_every: Duration,
}

/// Logins per second (also for the flooding accounts).
const LOGIN_RATE: u32 = 100;

impl Plan {
    /// The plan for `users` normal users and a traffic phase of `duration`.
    pub(crate) fn new(users: usize, duration: Duration) -> Plan {
        let users = users.max(2);
        let flood_accounts = (users / 4).clamp(10, 200);
        // All the flooders together send one request per second per two
        // normal users.
        let flood_rate = (users as f64 / 2.0).max(1.0);
        Plan {
            users,
            login_rate: LOGIN_RATE,
            message_every: Duration::from_secs(1),
            presence_share: 0.05,
            roster_share: 0.02,
            duration,
            warm_up: (duration / 10).min(Duration::from_secs(10)),
            rss_every: (duration / 120).clamp(Duration::from_secs(1), Duration::from_secs(5)),
            progress_every: (duration / 10).clamp(Duration::from_secs(5), Duration::from_secs(60)),
            sink_share: 0.02,
            sink_contacts: users.min(200),
            sink_probe_every: Duration::from_secs(1),
            sink_reconnect_after: Duration::from_secs(2),
            feed_rate: 50.0,
            feed_size: 4096,
            flood_accounts,
            flood_every: Duration::from_secs_f64(flood_accounts as f64 / flood_rate),
            brute_every: Duration::from_millis(100),
        }
    }

    /// Messages per second the normal users offer together.
    pub(crate) fn offered_rate(&self) -> f64 {
        self.users as f64 / self.message_every.as_secs_f64()
    }

    /// Subscription requests per second the flooders offer together.
    pub(crate) fn flood_rate(&self) -> f64 {
        self.flood_accounts as f64 / self.flood_every.as_secs_f64()
    }

    /// The length of the measurement window.
    pub(crate) fn measured(&self) -> Duration {
        self.duration.saturating_sub(self.warm_up)
    }

    /// Connections to the first server at once, abusers included, with a
    /// margin for the brute-forcer's and the never-reader's reconnections.
    pub(crate) fn connections(&self) -> usize {
        self.users + 50
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_scale_with_the_users_and_the_duration() {
        // users, seconds, flood accounts, flood every (ms), warm-up (ms), rss every (s)
        let table = [
            (20, 20, 10, 1000, 2000, 1),
            (300, 1800, 75, 500, 10_000, 5),
            (2000, 1800, 200, 200, 10_000, 5),
            (1, 5, 10, 10_000, 500, 1),
        ];
        for (users, secs, flood, flood_ms, warm_up, rss) in table {
            let plan = Plan::new(users, Duration::from_secs(secs));
            assert_eq!(plan.flood_accounts, flood, "{users} users");
            assert_eq!(
                plan.flood_every,
                Duration::from_millis(flood_ms),
                "{users} users"
            );
            assert_eq!(plan.warm_up, Duration::from_millis(warm_up), "{secs} s");
            assert_eq!(plan.rss_every, Duration::from_secs(rss), "{secs} s");
            assert!(plan.sink_contacts <= plan.users);
            assert_eq!(plan.measured() + plan.warm_up, plan.duration);
        }
    }

    #[test]
    fn rates() {
        let plan = Plan::new(300, Duration::from_secs(1800));
        assert!((plan.offered_rate() - 300.0).abs() < 1e-9);
        assert!((plan.flood_rate() - 150.0).abs() < 1e-6);
        assert_eq!(plan.connections(), 350);
        assert_eq!(plan.progress_every, Duration::from_secs(60));
        assert_eq!(
            Plan::new(20, Duration::from_secs(20)).progress_every,
            Duration::from_secs(5)
        );
    }
}
