//! The read-rate limit of a connection: a token bucket.

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket over bytes read: `rate` bytes a second, at most
/// `capacity` in one burst. Reads may overdraw it; then nothing is read
/// until it is positive again.
#[derive(Debug, Clone)]
pub(crate) struct ReadBudget {
    tokens: f64,
    capacity: f64,
    rate: f64,
    last: Instant,
}

impl ReadBudget {
    /// A full bucket at `now`. `rate` must not be 0.
    pub(crate) fn new(rate: u64, capacity: usize, now: Instant) -> ReadBudget {
        let capacity = capacity as f64;
        ReadBudget {
            tokens: capacity,
            capacity,
            rate: rate as f64,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
    }

    /// How long to wait before reading again; `None` to read now.
    pub(crate) fn pause(&mut self, now: Instant) -> Option<Duration> {
        self.refill(now);
        if self.tokens > 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }

    /// `n` bytes were read.
    pub(crate) fn spend(&mut self, n: usize) {
        self.tokens -= n as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = ReadBudget::new(1000, 4000, t0);
        assert_eq!(b.pause(t0), None);
        b.spend(4000);
        // Empty: one byte's worth of time, then reading resumes.
        let wait = b.pause(t0).unwrap();
        assert_eq!(wait, Duration::from_millis(1));
        assert_eq!(b.pause(t0 + wait), None);
        // Overdrawn by a large read: longer.
        b.spend(2001);
        let wait = b.pause(t0 + Duration::from_millis(1)).unwrap();
        assert!(wait >= Duration::from_secs(2), "{wait:?}");
        // Never more than the capacity after a long pause.
        b.pause(t0 + Duration::from_secs(3600));
        b.spend(4000);
        assert!(b.pause(t0 + Duration::from_secs(3600)).is_some());
    }
}
