//! A lock-free latency histogram that many tasks record into at once, and
//! quantiles from it.
//!
//! Values are microseconds in log-linear buckets: exact below 64 µs, then 32
//! buckets per power of two, so a reported quantile is within about 1.6 % of
//! the true value.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 5;
/// Sub-buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;
/// Values below this have a bucket each.
const LINEAR: u64 = 2 * SUB;
/// Number of buckets: the linear ones, then `SUB` for each power of two
/// from 2^6 to 2^63.
const BUCKETS: usize = (LINEAR + (64 - SUB_BITS as u64 - 1) * SUB) as usize;

/// Counts of durations, recorded concurrently.
pub(crate) struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count())
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// The bucket of a value in microseconds.
fn index(micros: u64) -> usize {
    if micros < LINEAR {
        return micros as usize;
    }
    // The position of the highest bit: at least 6 here.
    let exponent = u64::from(63 - micros.leading_zeros());
    let shift = exponent - u64::from(SUB_BITS);
    (LINEAR + (shift - 1) * SUB + ((micros >> shift) - SUB)) as usize
}

/// The value (microseconds) a bucket stands for: the middle of its range.
fn value(index: usize) -> u64 {
    let index = index as u64;
    if index < LINEAR {
        return index;
    }
    let k = index - LINEAR;
    let shift = k / SUB + 1;
    let low = (SUB + k % SUB) << shift;
    low.saturating_add((1 << shift) / 2)
}

impl Histogram {
    /// Records one duration.
    pub(crate) fn record(&self, duration: Duration) {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.record_micros(micros);
    }

    /// Records one value in microseconds.
    pub(crate) fn record_micros(&self, micros: u64) {
        self.counts[index(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// The number of values recorded.
    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The `q` quantile (0 < q ≤ 1, nearest rank), or `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, &count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Duration::from_micros(value(i)));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        assert_eq!(index(0), 0);
        assert_eq!(index(63), 63);
        assert_eq!(index(64), 64);
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        let mut last = 0;
        for micros in (0..200_000).chain([1 << 40, u64::MAX / 2, u64::MAX]) {
            let i = index(micros);
            assert!(i >= last, "{micros}");
            last = i;
            // The bucket's value is close to the values in it.
            let v = value(i) as f64;
            let m = micros as f64;
            assert!((v - m).abs() <= m / 32.0 + 0.5, "{micros} -> {v}");
        }
    }

    #[test]
    fn quantiles() {
        let histogram = Histogram::default();
        assert_eq!(histogram.quantile(0.5), None);
        for micros in 1..=1000 {
            histogram.record(Duration::from_micros(micros));
        }
        assert_eq!(histogram.count(), 1000);
        let median = histogram.quantile(0.5).unwrap().as_micros() as f64;
        assert!((median - 500.0).abs() <= 500.0 / 32.0, "{median}");
        let p99 = histogram.quantile(0.99).unwrap().as_micros() as f64;
        assert!((p99 - 990.0).abs() <= 990.0 / 32.0, "{p99}");
        assert_eq!(
            histogram.quantile(0.0001).unwrap(),
            Duration::from_micros(1)
        );
    }
}
