//! `INFO` and its sections, with Redis's field names (clients and Sentinel parse them;
//! client libraries read `cluster_enabled` on connect), plus a `shards` section: keys,
//! commands, cross-shard hops per core. `INFO` asks every core for its numbers, then
//! prints the sections asked for.

use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::CmdResult;
use corekv_engine::resp::{Args, Reply, ReplyBuf};
use futures::future::{join_all, LocalBoxFuture};

use super::memory::Report;
use super::{srv, Handler, REDIS_VERSION};
use crate::commands::requests::{Answer, Core, CoreSnapshot, Msg};
use crate::session::client::Client;

/// The sections `INFO` prints by default and with `all`, in Redis 7.0's order.
/// `modules` is empty (no modules are loaded).
const INFO_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
    "shards",
];
/// Sections left out of the default `INFO`, as Redis leaves them out.
const INFO_NOT_DEFAULT: &[&str] = &["commandstats", "latencystats"];

/// Every core's numbers, in shard order.
pub(crate) async fn core_snapshots(core: &Rc<Core>) -> Vec<CoreSnapshot> {
    join_all((0..core.shards()).map(|s| core.call(s, None, Msg::Stats)))
        .await
        .into_iter()
        .filter_map(|a| match a {
            Some(Answer::Stats(s)) => Some(*s),
            _ => None,
        })
        .collect()
}

fn info<'a>(
    core: &'a Rc<Core>,
    _: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let wanted: Vec<String> = args[1..]
            .iter()
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .collect();
        let sections: Vec<&str> = INFO_SECTIONS
            .iter()
            .copied()
            .filter(|s| {
                if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
                    !INFO_NOT_DEFAULT.contains(s)
                } else {
                    wanted
                        .iter()
                        .any(|w| w == s || w == "all" || w == "everything")
                }
            })
            .collect();
        let snapshots = core_snapshots(core).await;
        let pending = snapshots.iter().map(|s| s.journal.pending_bytes).sum();
        let memory = super::memory::report(core, pending).await;
        let pubsub = match sections.contains(&"stats") {
            true => crate::pubsub::introspect::info_counts(core).await,
            false => Default::default(),
        };
        let mut text = String::new();
        for (i, name) in sections.iter().enumerate() {
            if i > 0 {
                text.push_str("\r\n");
            }
            section(core, name, &snapshots, pubsub, &memory, &mut text);
        }
        out.verbatim(b"txt", text.as_bytes());
        Ok(())
    })
}

/// `INFO clients`; `total_watched_keys` as Redis 7.2 names it.
fn clients(core: &Core, snaps: &[CoreSnapshot], t: &mut String) -> std::fmt::Result {
    let g = &core.global;
    write!(
        t,
        "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\ntotal_watched_keys:{}\r\n",
        g.connected_clients.load(Ordering::Relaxed),
        g.config.hot.maxclients.load(Ordering::Relaxed),
        crate::shard::blocking::blocked_clients(),
        snaps.iter().map(|s| s.watched_keys).sum::<usize>(),
    )
}

fn section(
    core: &Core,
    name: &str,
    snaps: &[CoreSnapshot],
    pubsub: [usize; 3],
    memory: &Report,
    t: &mut String,
) {
    let g = &core.global;
    let _ = match name {
        "server" => {
            let uptime = g.started.elapsed().as_secs();
            let now_ms = crate::commands::requests::now_ms();
            let hz = 1000 / crate::runtime::background::ACTIVE_EXPIRE_INTERVAL.as_millis();
            write!(
                t,
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\ncorekv_version:{}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:io_uring\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{hz}\r\nconfigured_hz:{hz}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\nshards:{}\r\n",
                env!("CARGO_PKG_VERSION"),
                os_name(),
                std::process::id(),
                g.run_id,
                g.port,
                now_ms * 1000,
                uptime / 86400,
                (now_ms / 1000) & LRU_CLOCK_MAX,
                std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
                g.config.file.clone().unwrap_or_default(),
                g.shards,
            )
        }
        "clients" => clients(core, snaps, t),
        "memory" => memory.write_info(
            g.config.get_u64("maxmemory"),
            &g.config.get("maxmemory-policy"),
            t,
        ),
        "stats" => stats(core, snaps, pubsub, t),
        "persistence" => persistence(core, snaps, t),
        "replication" => {
            crate::repl::info(g, snaps, t);
            Ok(())
        }
        "cpu" => {
            let (user, sys) = cpu_seconds();
            write!(
                t,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n"
            )
        }
        "commandstats" => commandstats(snaps, t),
        "errorstats" => errorstats(snaps, t),
        "latencystats" => latencystats(snaps, t),
        "cluster" => write!(t, "# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => {
            let _ = write!(t, "# Keyspace\r\n");
            let dbs = snaps.first().map_or(0, |s| s.shard.keys.len());
            for db in 0..dbs {
                let keys: usize = snaps.iter().map(|s| s.shard.keys[db].0).sum();
                let expires: usize = snaps.iter().map(|s| s.shard.keys[db].1).sum();
                if keys > 0 {
                    let _ = write!(t, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
                }
            }
            Ok(())
        }
        "shards" => {
            let _ = write!(t, "# Shards\r\n");
            for (i, s) in snaps.iter().enumerate() {
                let keys: usize = s.shard.keys.iter().map(|k| k.0).sum();
                let _ = write!(
                    t,
                    "shard{i}:cpu={},keys={keys},ops={},hops={},clients={},journal_lsn={},durable_lsn={},journal_bytes={}{}\r\n",
                    g.cpus.get(i).copied().unwrap_or(i),
                    s.shard.counters.commands,
                    s.core.hops,
                    s.clients,
                    s.journal.last_lsn,
                    s.journal.durable_lsn,
                    s.journal.size_bytes,
                    memory.shard_fields(i),
                );
            }
            Ok(())
        }
        header_only => header(header_only, t),
    };
}

/// Every core's per-command numbers ([`crate::ops::calls`]), added up.
fn merged_calls(snaps: &[CoreSnapshot]) -> crate::ops::calls::Calls {
    let mut merged = crate::ops::calls::Calls::default();
    for s in snaps {
        merged.merge(&s.calls);
    }
    merged
}

/// `INFO commandstats`: per command that was called, failed or was rejected.
fn commandstats(snaps: &[CoreSnapshot], t: &mut String) -> std::fmt::Result {
    t.push_str("# Commandstats\r\n");
    let calls = merged_calls(snaps);
    let rows = crate::ops::names::stat_rows();
    for i in 0..rows.len() {
        let (count, usec) = snaps.iter().fold((0, 0), |(c, u), s| {
            (c + s.core.command_calls[i].0, u + s.core.command_calls[i].1)
        });
        let (failed, rejected) = calls.failures(i);
        if count == 0 && failed == 0 && rejected == 0 {
            continue;
        }
        let per_call = if count == 0 {
            0.0
        } else {
            usec as f64 / count as f64
        };
        write!(
            t,
            "cmdstat_{}:calls={count},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
            rows.name(i),
        )?;
    }
    Ok(())
}

/// `INFO errorstats`: error replies by prefix, in prefix order as Redis lists
/// them.
fn errorstats(snaps: &[CoreSnapshot], t: &mut String) -> std::fmt::Result {
    t.push_str("# Errorstats\r\n");
    for (prefix, count) in merged_calls(snaps).errors {
        write!(t, "errorstat_{prefix}:count={count}\r\n")?;
    }
    Ok(())
}

/// `INFO latencystats`: per command that ran, the percentiles
/// `latency-tracking-info-percentiles` names, in µs, from every core's histogram.
/// The header alone while `latency-tracking` is off, as Redis prints it.
fn latencystats(snaps: &[CoreSnapshot], t: &mut String) -> std::fmt::Result {
    t.push_str("# Latencystats\r\n");
    if !crate::ops::latency_tracking() {
        return Ok(());
    }
    let merged = merged_calls(snaps);
    let percentiles = crate::ops::tracking_percentiles();
    let rows = crate::ops::names::stat_rows();
    for id in 0..rows.len() {
        let Some(h) = merged.histogram(id) else {
            continue;
        };
        write!(t, "latency_percentiles_usec_{}:", rows.name(id))?;
        for (i, p) in percentiles.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(
                t,
                "{sep}p{p}={:.3}",
                crate::ops::calls::percentile_us(h, *p)
            )?;
        }
        t.push_str("\r\n");
    }
    Ok(())
}

/// A section with no fields (`modules`): its header, the name capitalized.
fn header(name: &str, t: &mut String) -> std::fmt::Result {
    let (first, rest) = name.split_at(1);
    write!(t, "# {}{rest}\r\n", first.to_ascii_uppercase())
}

/// `INFO stats`: counters summed over the cores, the instantaneous rates
/// ([`crate::ops::rates`]); `pubsub`: the channels, patterns and shard channels
/// subscribed to ([`crate::pubsub::introspect::info_counts`]). A counter of
/// what corekv never does (fork, defragment, evict clients, MIGRATE, I/O
/// threads) is 0, as Redis prints it when that never happens; the fields of
/// what corekv does not have (client-side tracking) or does not count apart
/// (replication traffic, read and write events, reply buffer resizes, the
/// expiry cycle's effort, eviction time) are left out.
fn stats(
    core: &Core,
    snaps: &[CoreSnapshot],
    pubsub: [usize; 3],
    t: &mut String,
) -> std::fmt::Result {
    let g = &core.global;
    let sum = |f: &dyn Fn(&CoreSnapshot) -> u64| snaps.iter().map(f).sum::<u64>();
    let [ops_per_s, input_per_s, output_per_s] = crate::ops::rates::per_second();
    write!(
        t,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\ninstantaneous_input_kbps:{:.2}\r\ninstantaneous_output_kbps:{:.2}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nevicted_clients:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:0\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntotal_error_replies:{}\r\nunexpected_error_replies:0\r\ndump_payload_sanitizations:0\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\ntotal_protocol_errors:{}\r\ncross_shard_hops:{}\r\ncross_shard_grouped_commands:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\n",
        g.total_connections.load(Ordering::Relaxed),
        sum(&|s| s.core.commands),
        ops_per_s as u64,
        sum(&|s| s.core.net_input_bytes),
        sum(&|s| s.core.net_output_bytes),
        input_per_s / 1024.0,
        output_per_s / 1024.0,
        g.rejected_connections.load(Ordering::Relaxed),
        sum(&|s| s.shard.db.expired_keys),
        sum(&|s| s.shard.evicted_keys),
        sum(&|s| s.shard.db.keyspace_hits),
        sum(&|s| s.shard.db.keyspace_misses),
        pubsub[0],
        pubsub[1],
        pubsub[2],
        merged_calls(snaps).errors.values().sum::<u64>(),
        sum(&|s| s.core.protocol_errors),
        sum(&|s| s.core.hops),
        sum(&|s| s.core.grouped),
        g.repl.sync_full.load(Ordering::Relaxed),
        g.repl.sync_partial_ok.load(Ordering::Relaxed),
        g.repl.sync_partial_err.load(Ordering::Relaxed),
    )
}

/// `INFO persistence`, with Redis's field names. The journal plays the AOF's part
/// (`aof_*`: its size, snapshots as rewrites) and backup sets the RDB's (`rdb_*`).
fn persistence(core: &Core, snaps: &[CoreSnapshot], t: &mut String) -> std::fmt::Result {
    let g = &core.global;
    let p = g.persist.lock().expect("persist state");
    let loading = g.is_loading();
    let aof_on = g.config.get("appendonly") == "yes";
    let dirty: u64 = snaps.iter().map(|s| s.shard.counters.dirty).sum();
    let since = |started: Option<Instant>| started.map_or(-1, |s| s.elapsed().as_secs() as i64);
    let rewriting =
        p.rewrite_started.is_some() || snaps.iter().any(|s| s.journal.snapshot_in_progress);
    let write_ok = snaps.iter().all(|s| s.journal.write_ok);
    let status = |ok: bool| if ok { "ok" } else { "err" };
    write!(
        t,
        "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:0\r\nrdb_last_load_keys_loaded:0\r\naof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:0\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        loading as u8,
        dirty.saturating_sub(p.dirty_at_last_save),
        p.bgsave_started.is_some() as u8,
        p.last_save_unix_s,
        status(p.last_bgsave_ok),
        p.last_bgsave_secs,
        since(p.bgsave_started),
        p.saves,
        aof_on as u8,
        rewriting as u8,
        p.last_rewrite_secs,
        since(p.rewrite_started),
        status(p.last_rewrite_ok),
        p.rewrites,
        status(write_ok),
    )?;
    if aof_on {
        let sum = |f: &dyn Fn(&CoreSnapshot) -> u64| snaps.iter().map(f).sum::<u64>();
        write!(
            t,
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\naof_buffer_length:{}\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
            sum(&|s| s.journal.size_bytes),
            sum(&|s| s.journal.base_size_bytes),
            sum(&|s| s.journal.pending_bytes),
        )?;
    }
    if loading {
        let lp = &g.load_progress;
        let total = lp.total_bytes.load(Ordering::Relaxed);
        let done = lp.done_bytes.load(Ordering::Relaxed).min(total);
        let started = lp.started_unix_s.load(Ordering::Relaxed);
        let elapsed = (crate::commands::requests::now_ms() / 1000).saturating_sub(started);
        let eta = if done > 0 {
            (elapsed as f64 * (total - done) as f64 / done as f64) as u64
        } else {
            1
        };
        write!(
            t,
            "loading_start_time:{started}\r\nloading_total_bytes:{total}\r\nloading_rdb_used_mem:0\r\nloading_loaded_bytes:{done}\r\nloading_loaded_perc:{:.2}\r\nloading_eta_seconds:{eta}\r\n",
            done as f64 * 100.0 / total.max(1) as f64,
        )?;
    }
    Ok(())
}

/// `lru_clock`'s wrap-around: Redis's LRU clock counts seconds in 24 bits.
const LRU_CLOCK_MAX: u64 = (1 << 24) - 1;

/// The system, its release and the machine, as `uname -srm` prints them
/// (Redis's `os` field).
fn os_name() -> String {
    // SAFETY: uname fills the zeroed struct we own with NUL-terminated fields.
    let mut names: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut names) } != 0 {
        return std::env::consts::OS.to_string();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&names.sysname),
        field(&names.release),
        field(&names.machine)
    )
}

fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("info", -1, LOADING | STALE, "server", "Returns information and statistics about the server.", Handler::Async(info)),
];
