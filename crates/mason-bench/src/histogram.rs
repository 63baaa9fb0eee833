//! Latency histogram for `mason bench`: log-linear buckets (64 per power of two, so any
//! reported value is within 1.6 % of the true one), cheap to record into from a hot loop,
//! mergeable across client tasks, and read back as percentiles.

use std::time::Duration;

/// Values below this many nanoseconds get one bucket each.
const LINEAR: u64 = 128;
/// Sub-buckets per power of two above [`LINEAR`] (log2 = 6).
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for every `u64` nanosecond value.
const BUCKETS: usize = LINEAR as usize + (64 - 7) * SUB as usize;

/// Recorded latencies, in nanoseconds.
#[derive(Clone)]
pub(crate) struct Histogram {
    /// Count per bucket (see [`bucket_of`]).
    counts: Vec<u64>,
    /// How many values were recorded.
    total: u64,
    /// The largest value recorded, exactly.
    max: u64,
    /// Sum of all values, for the mean.
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
            sum: 0,
        }
    }
}

/// The bucket holding `v` nanoseconds.
fn bucket_of(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // >= 7
    let sub = (v >> (msb - SUB_BITS)) & (SUB - 1);
    LINEAR as usize + (msb as usize - 7) * SUB as usize + sub as usize
}

/// The largest value that falls in bucket `i` (what percentiles report: never an
/// underestimate).
fn bucket_high(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let j = i - LINEAR as usize;
    let msb = (j / SUB as usize) as u32 + 7;
    let sub = (j % SUB as usize) as u64;
    let shift = msb - SUB_BITS;
    let low = (SUB + sub) << shift;
    low + ((1u64 << shift) - 1)
}

impl Histogram {
    /// Record one latency.
    pub(crate) fn record(&mut self, d: Duration) {
        let v = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
        self.sum += u128::from(v);
    }

    /// Add every value of `other`.
    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// How many values were recorded.
    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded.
    pub(crate) fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    /// The arithmetic mean (zero when empty).
    pub(crate) fn mean(&self) -> Duration {
        match self.total {
            0 => Duration::ZERO,
            n => Duration::from_nanos((self.sum / u128::from(n)) as u64),
        }
    }

    /// The value below which a fraction `q` (0.0–1.0) of the recorded values fall, rounded
    /// up to its bucket's upper edge and capped at the maximum. Zero when empty.
    pub(crate) fn percentile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_nanos(bucket_high(i).min(self.max));
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for v in (0..2_000_000u64)
            .step_by(97)
            .chain([u64::MAX / 3, u64::MAX])
        {
            let b = bucket_of(v);
            assert!(b >= last, "bucket order at {v}");
            last = b;
            let high = bucket_high(b);
            assert!(high >= v, "{v} above its bucket's top {high}");
            assert!(
                (high - v) as f64 <= v as f64 / 64.0 + 1.0,
                "bucket of {v} too wide: {high}"
            );
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let within = |got: Duration, want_us: u64| {
            let want = want_us as f64 * 1000.0;
            let got = got.as_nanos() as f64;
            assert!(
                got >= want && got <= want * 1.02,
                "got {got} ns, want ~{want} ns"
            );
        };
        within(h.percentile(0.5), 500);
        within(h.percentile(0.9), 900);
        within(h.percentile(0.99), 990);
        assert_eq!(h.percentile(1.0), Duration::from_micros(1000));
        assert_eq!(h.max(), Duration::from_micros(1000));
        assert_eq!(h.count(), 1000);
        assert_eq!(h.mean(), Duration::from_nanos(500_500));
    }

    #[test]
    fn merge_adds_counts_and_keeps_the_max() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(Duration::from_micros(10));
        b.record(Duration::from_millis(3));
        b.record(Duration::from_millis(3));
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.max(), Duration::from_millis(3));
        assert!(a.percentile(0.34) >= Duration::from_millis(3));
        assert!(a.percentile(0.33) <= Duration::from_nanos(10_200));
        assert_eq!(Histogram::default().percentile(0.5), Duration::ZERO);
    }
}
