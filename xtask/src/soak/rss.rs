//! The server's resident memory over a soak run: a thread reads it every
//! few seconds ([`RssRecorder`]); [`summarise`] turns the samples into
//! min/median/max, a coarse time series and the growth from the first to
//! the last quarter of the run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::load::procstat;

/// Points in the coarse time series.
pub(crate) const SERIES_POINTS: usize = 12;

/// One reading: seconds since the recorder started, and KiB.
pub(crate) type Sample = (f64, u64);

/// What the samples say.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct RssSummary {
    /// Number of readings.
    pub(crate) samples: usize,
    /// Smallest, median and largest reading, KiB.
    pub(crate) min: u64,
    pub(crate) median: u64,
    pub(crate) max: u64,
    /// The median of the first and of the last quarter of the readings,
    /// KiB: a server whose memory is bounded has the two close.
    pub(crate) first_quarter: u64,
    pub(crate) last_quarter: u64,
    /// Up to [`SERIES_POINTS`] points: the end of each slice of the run
    /// (seconds) and the largest reading in it (KiB).
    pub(crate) series: Vec<Sample>,
}

impl RssSummary {
    /// Last quarter's median over the first's (1.0: no growth).
    pub(crate) fn growth(&self) -> Option<f64> {
        (self.first_quarter > 0).then(|| self.last_quarter as f64 / self.first_quarter as f64)
    }
}

/// The median of some values (the lower one of an even count).
fn median(values: &mut [u64]) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    values[(values.len() - 1) / 2]
}

/// Summarises samples taken in time order.
pub(crate) fn summarise(samples: &[Sample]) -> RssSummary {
    if samples.is_empty() {
        return RssSummary::default();
    }
    let mut values: Vec<u64> = samples.iter().map(|s| s.1).collect();
    let quarter = samples.len().div_ceil(4);
    let mut first: Vec<u64> = values[..quarter].to_vec();
    let mut last: Vec<u64> = values[values.len() - quarter..].to_vec();
    let chunk = samples.len().div_ceil(SERIES_POINTS);
    let series = samples
        .chunks(chunk)
        .map(|slice| {
            let end = slice.last().map_or(0.0, |s| s.0);
            (end, slice.iter().map(|s| s.1).max().unwrap_or(0))
        })
        .collect();
    RssSummary {
        samples: samples.len(),
        min: values.iter().copied().min().unwrap_or(0),
        max: values.iter().copied().max().unwrap_or(0),
        median: median(&mut values),
        first_quarter: median(&mut first),
        last_quarter: median(&mut last),
        series,
    }
}

/// Reads a process's RSS every `every` in a thread, keeping every reading.
#[derive(Debug)]
pub(crate) struct RssRecorder {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    thread: Option<JoinHandle<()>>,
}

impl RssRecorder {
    /// Starts reading `pid`'s RSS.
    pub(crate) fn start(pid: u32, every: Duration) -> RssRecorder {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = Arc::clone(&stop);
            let samples = Arc::clone(&samples);
            thread::spawn(move || {
                let started = Instant::now();
                let step = Duration::from_millis(100);
                let mut next = started;
                while !stop.load(Ordering::Relaxed) {
                    if Instant::now() >= next {
                        if let (Some(kib), Ok(mut list)) = (procstat::rss_kib(pid), samples.lock())
                        {
                            list.push((started.elapsed().as_secs_f64(), kib));
                        }
                        next += every;
                    }
                    thread::sleep(step);
                }
            })
        };
        RssRecorder {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// The latest reading, KiB.
    pub(crate) fn latest(&self) -> Option<u64> {
        self.samples.lock().ok()?.last().map(|s| s.1)
    }

    /// Stops reading; returns the readings.
    pub(crate) fn finish(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.samples
            .lock()
            .map(|list| list.clone())
            .unwrap_or_default()
    }
}

impl Drop for RssRecorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_a_flat_then_growing_run() {
        let samples: Vec<Sample> = (0..24)
            .map(|i| {
                (
                    f64::from(i) * 5.0,
                    if i < 12 {
                        1000
                    } else {
                        1000 + 100 * u64::from(i as u8)
                    },
                )
            })
            .collect();
        let s = summarise(&samples);
        assert_eq!(s.samples, 24);
        assert_eq!(s.min, 1000);
        assert_eq!(s.max, 1000 + 100 * 23);
        assert_eq!(s.median, 1000);
        assert_eq!(s.first_quarter, 1000);
        // The last six readings: 1000 + 100 × 18 … 23; the lower median.
        assert_eq!(s.last_quarter, 1000 + 100 * 20);
        assert_eq!(s.series.len(), SERIES_POINTS);
        assert_eq!(s.series[0], (5.0, 1000));
        assert_eq!(s.series[11], (115.0, 1000 + 100 * 23));
        assert!((s.growth().unwrap() - 3.0).abs() < 1e-9);
    }

    #[test]
    fn few_or_no_samples() {
        assert_eq!(summarise(&[]), RssSummary::default());
        assert_eq!(RssSummary::default().growth(), None);
        let one = summarise(&[(1.0, 42)]);
        assert_eq!(
            (
                one.min,
                one.median,
                one.max,
                one.first_quarter,
                one.last_quarter
            ),
            (42, 42, 42, 42, 42)
        );
        assert_eq!(one.series, [(1.0, 42)]);
        let five = summarise(&[(1.0, 5), (2.0, 1), (3.0, 4), (4.0, 2), (5.0, 3)]);
        assert_eq!((five.min, five.median, five.max), (1, 3, 5));
        assert_eq!(five.series.len(), 5);
        assert_eq!((five.first_quarter, five.last_quarter), (1, 2));
    }

    #[test]
    fn records_this_process() {
        let recorder = RssRecorder::start(std::process::id(), Duration::from_millis(100));
        thread::sleep(Duration::from_millis(250));
        assert!(recorder.latest().is_some_and(|kib| kib > 0));
        assert!(!recorder.finish().is_empty());
    }
}
