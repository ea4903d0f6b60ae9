//! Bounded concurrency checks: clients on their own connections loop until a stop
//! flag or an iteration cap, for a fixed time, and report how far they got, so a
//! check of atomicity under load takes seconds whatever the machine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Raw, Server};

/// How long a concurrency check runs, and its cap on iterations per client.
pub const RUN: Duration = Duration::from_secs(2);
pub const ITERATIONS_MAX: u64 = 20_000;

/// Runs `client` on its own connection until `stop` or [`ITERATIONS_MAX`]; returns
/// how many iterations it made.
pub fn spawn(
    server: &Server,
    stop: &Arc<AtomicBool>,
    mut client: impl FnMut(&mut Raw, u64) + Send + 'static,
) -> JoinHandle<u64> {
    let mut con = server.raw();
    let stop = stop.clone();
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) && n < ITERATIONS_MAX {
            client(&mut con, n);
            n += 1;
        }
        n
    })
}

/// Lets the clients run for [`RUN`], stops them and returns their iteration counts.
pub fn run_for(stop: Arc<AtomicBool>, clients: Vec<JoinHandle<u64>>) -> Vec<u64> {
    let started = Instant::now();
    while started.elapsed() < RUN && !clients.iter().all(|c| c.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect()
}
