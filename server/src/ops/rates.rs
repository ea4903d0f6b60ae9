//! The instantaneous rates of `INFO stats` (`instantaneous_ops_per_sec`,
//! `instantaneous_input_kbps`, `instantaneous_output_kbps`), computed as Redis
//! computes them: on each background tick (every 100 ms) a core turns the
//! growth of its own counters since its last tick into per-second rates,
//! keeps the last [`RATE_SAMPLES`] of each and publishes their mean; `INFO`
//! adds the cores' means up.
//!
//! Off the request path: a core's tick reads its counters and takes the
//! published table's lock once; `INFO` takes it once.

use std::cell::RefCell;
use std::sync::Mutex;
use std::time::Instant;

use crate::shard::Core;

/// Rates a mean is taken over (Redis's `STATS_METRIC_SAMPLES`).
pub const RATE_SAMPLES: usize = 16;
/// The counters with a rate: commands processed, bytes read, bytes written.
pub const RATES: usize = 3;

/// One core's last counters and recent rates.
struct Ring {
    last: Option<(Instant, [u64; RATES])>,
    /// Per counter, its last [`RATE_SAMPLES`] rates (per second).
    samples: [[f64; RATE_SAMPLES]; RATES],
    next: usize,
}

thread_local! {
    static RING: RefCell<Ring> = const {
        RefCell::new(Ring {
            last: None,
            samples: [[0.0; RATE_SAMPLES]; RATES],
            next: 0,
        })
    };
}

/// Each core's published means, by core id.
static MEANS: Mutex<Vec<[f64; RATES]>> = Mutex::new(Vec::new());

/// On `core`'s background tick: samples its counters and publishes its means.
pub fn sample(core: &Core) {
    let counters = {
        let stats = core.stats.borrow();
        [
            stats.commands,
            stats.net_input_bytes,
            stats.net_output_bytes,
        ]
    };
    let means = RING.with(|ring| ring.borrow_mut().push(Instant::now(), counters));
    let mut published = MEANS.lock().unwrap_or_else(|p| p.into_inner());
    if published.len() <= core.id {
        published.resize(core.id + 1, [0.0; RATES]);
    }
    published[core.id] = means;
}

impl Ring {
    /// Adds the rates since the last sample (none at the first, and 0 for a
    /// counter that went back, as after `CONFIG RESETSTAT`); the means.
    fn push(&mut self, now: Instant, counters: [u64; RATES]) -> [f64; RATES] {
        if let Some((at, before)) = self.last {
            let seconds = now.duration_since(at).as_secs_f64();
            if seconds > 0.0 {
                for (i, series) in self.samples.iter_mut().enumerate() {
                    series[self.next] = counters[i].saturating_sub(before[i]) as f64 / seconds;
                }
                self.next = (self.next + 1) % RATE_SAMPLES;
            }
        }
        self.last = Some((now, counters));
        self.samples
            .map(|series| series.iter().sum::<f64>() / RATE_SAMPLES as f64)
    }
}

/// The whole server's rates: commands per second, bytes read and written per
/// second.
pub fn per_second() -> [f64; RATES] {
    let published = MEANS.lock().unwrap_or_else(|p| p.into_inner());
    let mut total = [0.0; RATES];
    for means in published.iter() {
        for (sum, mean) in total.iter_mut().zip(means) {
            *sum += mean;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn near(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn rates_are_means_of_the_last_samples() {
        let mut ring = Ring {
            last: None,
            samples: [[0.0; RATE_SAMPLES]; RATES],
            next: 0,
        };
        let tick = Duration::from_millis(100);
        let start = Instant::now();
        assert_eq!(ring.push(start, [0, 0, 0]), [0.0; RATES]);
        let first = ring.push(start + tick, [100, 1000, 0]);
        let samples = RATE_SAMPLES as f64;
        assert!(near(first[0], 1000.0 / samples), "{first:?}");
        assert!(near(first[1], 10_000.0 / samples), "{first:?}");
        let mut steady = first;
        for i in 2..=RATE_SAMPLES as u32 {
            steady = ring.push(start + tick * i, [100 * u64::from(i), 0, 0]);
        }
        assert!(near(steady[0], 1000.0), "{steady:?}");
        // A counter that went back (reset) counts 0 for that sample.
        let reset = ring.push(start + tick * 30, [0, 0, 0]);
        assert!(
            near(reset[0], 1000.0 * (samples - 1.0) / samples),
            "{reset:?}"
        );
    }
}
