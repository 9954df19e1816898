//! The per-connection read rate: a token bucket.

use std::time::{Duration, Instant};

/// Token bucket for the per-connection read rate.
pub(super) struct ReadBudget {
    tokens: f64,
    capacity: f64,
    rate: f64,
    last: Instant,
}

impl ReadBudget {
    pub(super) fn new(rate: u64, capacity: usize) -> ReadBudget {
        let capacity = capacity as f64;
        ReadBudget {
            tokens: capacity,
            capacity,
            rate: rate as f64,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
    }

    /// How long to wait before reading again.
    pub(super) fn wait(&mut self) -> Option<Duration> {
        self.refill();
        if self.tokens > 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64((-self.tokens + 1.0) / self.rate))
        }
    }

    pub(super) fn spend(&mut self, n: usize) {
        self.tokens -= n as f64;
    }
}
