//! One core's periodic work, in a low-share task queue: active expiry, closing idle
//! clients and freeing their grown input buffers, automatic journal rewrites, the
//! memory peak's reading.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::runtime::clock::now_ms;
use crate::shard::Core;

/// How often each shard runs an active-expiry tick (Redis's `hz 10`).
pub const ACTIVE_EXPIRE_INTERVAL: Duration = Duration::from_millis(100);
/// Background ticks between two checks for idle clients (once a second).
const IDLE_CHECK_EVERY_TICKS: u64 = 10;

/// A shard's periodic work (Redis's `serverCron`/`clientsCron`): active expiry every
/// tick, closing idle clients (`timeout`) and freeing idle clients' grown input
/// buffers every second. It runs in its own
/// low-share task queue, so requests never wait behind it.
pub fn spawn_background(core: Rc<Core>) {
    let queue = core.background_queue();
    glommio::spawn_local_into(
        async move {
            let mut tick: u64 = 0;
            loop {
                glommio::timer::sleep(ACTIVE_EXPIRE_INTERVAL).await;
                tick += 1;
                if core.unlocked() {
                    // A replica's keys expire when its master's deletions arrive.
                    if !core.global.repl.is_replica() {
                        let started = std::time::Instant::now();
                        core.shard.borrow_mut().active_expire(now_ms());
                        crate::ops::latency::add_since("expire-cycle", started);
                        core.kick_journal();
                    }
                    crate::persist::saver::maybe_auto_rewrite(&core);
                }
                crate::commands::memory::observe();
                crate::ops::rates::sample(&core);
                if tick.is_multiple_of(IDLE_CHECK_EVERY_TICKS) {
                    core.clients.borrow().shrink_idle_inputs();
                    let timeout_s = core.global.config.hot.timeout_s.load(Ordering::Relaxed);
                    if timeout_s > 0 {
                        core.clients
                            .borrow()
                            .close_idle(Duration::from_secs(timeout_s));
                    }
                }
            }
        },
        queue,
    )
    .expect("background task queue")
    .detach();
}
