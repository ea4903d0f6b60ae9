//! The executors: one pinned glommio executor per shard, the mesh of channels
//! between them, and one core's main (connect the mesh, build the [`Core`], install
//! the recovered data, start listeners, background work and replication, wait for
//! shutdown).

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::{join, join_all};
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::{LocalExecutorBuilder, Placement};

use crate::net::listener::{Listen, Listeners};
use crate::persist::datadir;
use crate::persist::journal::Journal;
use crate::persist::recovery::{recover_all, Recovered};
use crate::persist::writer::{open_segment, run_writer};
use crate::runtime::background::spawn_background;
use crate::shard::blocking::ReadySink;
use crate::shard::global::Global;
use crate::shard::mesh::{Envelope, MESH_CHANNEL_CAPACITY};
use crate::shard::Core;

/// Memory each executor registers for io_uring buffers. glommio's 10 MiB default
/// exceeds the usual 8 MiB memlock limit for non-root users.
const EXECUTOR_IO_MEMORY_BYTES: usize = 1 << 20;
/// Longest wait for the journal's last sync at shutdown.
const SHUTDOWN_SYNC_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a loading shard looks whether recovery handed it its data.
const RECOVERY_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Each shard's recovered data, handed from the recovery threads to its executor.
type Handoff = Arc<Vec<std::sync::Mutex<Option<Recovered>>>>;

type Row<T> = Vec<Option<T>>;

/// Runs one executor per shard until shutdown; the process exit code.
pub fn run_executors(global: Arc<Global>, listen: Listen) -> Result<i32, String> {
    let n = global.shards;
    let mut senders: Vec<Row<SharedSender<Envelope>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut receivers: Vec<Row<SharedReceiver<Envelope>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    for (i, row) in senders.iter_mut().enumerate() {
        for (j, slot) in row.iter_mut().enumerate() {
            if i != j {
                let (s, r) = shared_channel::new_bounded(MESH_CHANNEL_CAPACITY);
                *slot = Some(s);
                receivers[j][i] = Some(r);
            }
        }
    }
    let handoff = start_recovery(&global);
    let failed = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for (id, (tx_row, rx_row)) in senders.into_iter().zip(receivers).enumerate() {
        let global = global.clone();
        let listen = listen.clone();
        let failed = failed.clone();
        let handoff = handoff.clone();
        let cpu = global.cpus[id];
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("shard-{id}"))
            .io_memory(EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || async move {
                let run = shard_main(id, global.clone(), tx_row, rx_row, listen, handoff);
                if let Err(e) = run.await {
                    log::error!("shard {id}: {e}");
                    failed.store(true, Ordering::SeqCst);
                    global.shutdown.fire();
                }
            })
            .map_err(|e| format!("can't start executor {id} on CPU {cpu}: {e}"))?;
        handles.push(handle);
    }
    for h in handles {
        let _ = h.join();
    }
    log::warn!("corekv is now ready to exit, bye bye...");
    Ok(if failed.load(Ordering::SeqCst) { 1 } else { 0 })
}

async fn shard_main(
    id: usize,
    global: Arc<Global>,
    senders: Row<SharedSender<Envelope>>,
    receivers: Row<SharedReceiver<Envelope>>,
    listen: Listen,
    handoff: Handoff,
) -> Result<(), String> {
    // Connect every channel end at once: each connect waits for its peer's.
    let connect_senders = join_all(senders.into_iter().map(|s| async move {
        match s {
            Some(s) => Some(s.connect().await),
            None => None,
        }
    }));
    let connect_receivers = join_all(receivers.into_iter().map(|r| async move {
        match r {
            Some(r) => Some(r.connect().await),
            None => None,
        }
    }));
    let (senders, receivers) = join(connect_senders, connect_receivers).await;
    let journal = Journal::new(
        global.config.get("appendonly") == "yes",
        datadir::shard_dir(std::path::Path::new(&global.config.get("dir")), id),
    );
    crate::commands::registry();
    let commands = crate::ops::names::stat_rows().len();
    let core =
        Rc::new_cyclic(|me| Core::new(id, global.clone(), senders, journal, me.clone(), commands));
    if core.journal.enabled {
        glommio::spawn_local(install_recovered(core.clone(), handoff)).detach();
    }
    for rx in receivers.into_iter().flatten() {
        let core = core.clone();
        glommio::spawn_local(async move {
            while let Some(env) = rx.recv().await {
                core.deliver(env);
            }
        })
        .detach();
    }
    spawn_background(core.clone());
    crate::pubsub::notify::start(&core);
    if global.repl.is_replica() {
        crate::repl::replica::start(&core, global.repl.epoch());
    }
    let listeners = Listeners::start(&core, &listen)?;
    if id == 0 {
        log::info!("ready to accept connections on {:?}", listen.addrs);
        glommio::spawn_local(crate::runtime::service::announce_ready(global.clone())).detach();
        crate::ops::metrics::start(&core);
    }
    global.shutdown.wait().await;
    if id == 0 {
        crate::runtime::service::announce_stopping(&global);
    }
    listeners.stop();
    if core.journal.enabled && !global.is_loading() {
        let last = core.shard.borrow().log().last_lsn();
        let synced = glommio::timer::timeout(SHUTDOWN_SYNC_TIMEOUT, async {
            core.journal.wait_closed(last).await;
            Ok(())
        });
        if synced.await.is_err() {
            log::warn!("shard {id}: the journal was not synced within {SHUTDOWN_SYNC_TIMEOUT:?}");
        }
    }
    Ok(())
}

/// Starts recovering every shard's data on threads of its own, so executors
/// answer `-LOADING` meanwhile. A failure (a damaged file) ends the process with
/// the message naming the file and offset.
fn start_recovery(global: &Arc<Global>) -> Handoff {
    let n = global.shards;
    let handoff: Handoff = Arc::new((0..n).map(|_| std::sync::Mutex::new(None)).collect());
    if global.config.get("appendonly") != "yes" {
        return handoff;
    }
    global.loading.store(n, Ordering::Release);
    let opts = crate::persist::recovery::Options {
        dir: global.config.get("dir").into(),
        shards: n,
        truncate_corrupt: global.config.get("journal-truncate-corrupt") == "yes",
        seed: global.started_unix_s,
        follows_master: global.repl.is_replica(),
        limits: global.config.collection_limits(),
    };
    let slots = handoff.clone();
    let global = global.clone();
    std::thread::Builder::new()
        .name("recovery".into())
        .spawn(move || match recover_all(&opts, &global.load_progress) {
            Ok(recovered) => {
                for (slot, r) in slots.iter().zip(recovered) {
                    *slot.lock().expect("handoff") = Some(r);
                }
            }
            Err(e) => {
                log::error!("can't load the data in {}: {e}", opts.dir.display());
                std::process::exit(1);
            }
        })
        .expect("recovery thread");
    handoff
}

/// Takes this shard's recovered data when ready, opens its journal segment and
/// starts the writer; the last shard to finish ends `-LOADING`.
async fn install_recovered(core: Rc<Core>, handoff: Handoff) {
    let recovered = loop {
        if let Some(r) = handoff[core.id].lock().expect("handoff").take() {
            break r;
        }
        if core.global.shutdown.is_fired() {
            return;
        }
        glommio::timer::sleep(RECOVERY_POLL_INTERVAL).await;
    };
    let (first_lsn, path) = recovered.segment;
    let seg = match open_segment(&path, first_lsn).await {
        Ok(seg) => seg,
        Err(e) => {
            log::error!("can't open journal {}: {e}", path.display());
            std::process::exit(1);
        }
    };
    if let Err(e) = datadir::sync_dir(&core.journal.shard_dir) {
        log::error!("can't sync {}: {e}", core.journal.shard_dir.display());
        std::process::exit(1);
    }
    {
        let mut shard = core.shard.borrow_mut();
        let string_max = shard.string_max_bytes();
        *shard = recovered.shard;
        shard.keyspace_mut().add_sink(Box::new(ReadySink));
        shard.set_limits(core.global.config.collection_limits());
        shard.set_string_max_bytes(string_max);
        let eviction = core.global.config.eviction(core.shards());
        shard.keyspace_mut().set_eviction(eviction);
    }
    crate::pubsub::notify::ensure_notifier(&core);
    let (journal_bytes, snapshot_bytes) = datadir::list(&core.journal.shard_dir)
        .map(|l| {
            (
                datadir::total_size(l.segments.iter().map(|(_, p)| p)),
                datadir::total_size(l.snapshots.iter().map(|(_, p)| p)),
            )
        })
        .unwrap_or((recovered.journal_bytes, 0));
    core.journal
        .set_recovered(recovered.last_lsn, journal_bytes, snapshot_bytes);
    core.global.repl.written[core.id].store(recovered.last_lsn, Ordering::Release);
    core.journal.first_lsn.set(recovered.first_lsn);
    if recovered.cut_records {
        let mut repl = core.global.replication.lock().expect("replication state");
        match repl.new_history() {
            Ok(()) => log::warn!(
                "shard {}: records were cut off the journal; new replication id {}",
                core.id,
                repl.replid
            ),
            Err(e) => log::error!("can't store a new replication id: {e}"),
        }
    }
    glommio::spawn_local(run_writer(core.clone(), seg)).detach();
    if core.global.loading.fetch_sub(1, Ordering::AcqRel) == 1 {
        log::info!("DB loaded from disk");
    }
}
