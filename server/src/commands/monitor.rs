//! `MONITOR`: every command any core runs, as Redis's lines
//! (`+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"`), to every monitoring
//! connection on every core.
//!
//! A command is fed as the connection's core admits it ([`feed`], from the
//! routing's checks): commands rejected before running are not, nor
//! administrative ones (`CONFIG`, `CLIENT`, `SLOWLOG`, ...), as in Redis; commands
//! queued by `MULTI` are fed as they are queued, so they come between `MULTI` and
//! `EXEC` as Redis shows them. Secrets are redacted as in the slow log.
//!
//! While nobody monitors, feeding costs one relaxed atomic load. Otherwise the core
//! appends the line to its pending text and wakes its pump, a task of its own
//! that hands the text to this core's monitors and, in one mesh message per batch
//! of lines, to every other core that has monitors:
//!
//! ```text
//!  command admitted ──feed──► pending text ──pump──► this core's monitors (outboxes)
//!                                               └──mesh──► other cores' monitors
//! ```
//!
//! A monitor that does not read is cut off by its output-buffer limit (the
//! `normal` class, as Redis classes monitors) when its outbox overflows; pending
//! text a pump cannot hand on (the mesh is full) is bounded by
//! [`PENDING_BYTES_MAX`], beyond which lines are dropped rather than held.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::CmdResult;
use corekv_engine::resp::{parse_i64, Args, Reply, ReplyBuf};

use super::{srv, Handler, Spec};
use crate::commands::requests::{Answer, Core};
use crate::config::OutputClass;
use crate::ops::slowlog::{redacted, REDACTED};
use crate::session::client::Client;
use crate::session::outbox::Outbox;
use crate::shard::mesh::Msg;

/// Most cores (the `shards` parameter's maximum).
const SHARDS_MAX: usize = 1024;
/// Monitor text a core holds while its pump waits for the mesh; lines beyond it
/// are dropped.
pub const PENDING_BYTES_MAX: usize = 64 << 20;

/// Monitoring connections on all cores: zero means nothing is fed.
static MONITORS: AtomicUsize = AtomicUsize::new(0);
/// Monitoring connections per core.
static PER_CORE: [AtomicU32; SHARDS_MAX] = [const { AtomicU32::new(0) }; SHARDS_MAX];

/// One core's monitors and the text waiting for its pump.
#[derive(Default)]
struct Local {
    monitors: Vec<Rc<Outbox>>,
    pending: Vec<u8>,
    pump_started: bool,
    pump: Option<Waker>,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

fn monitor(core: &Rc<Core>, client: &mut Client, _: &Args, out: &mut ReplyBuf) -> CmdResult {
    let outbox = client.info.borrow().outbox.clone();
    client.info.borrow_mut().ops.monitor = true;
    let known = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let known = l.monitors.iter().any(|m| Rc::ptr_eq(m, &outbox));
        if !known {
            l.monitors.push(outbox);
        }
        known
    });
    if !known {
        PER_CORE[core.id].fetch_add(1, Ordering::Relaxed);
        MONITORS.fetch_add(1, Ordering::Relaxed);
    }
    out.ok();
    Ok(())
}

/// Feeds command `args` of `client` to the monitors, if there are any.
pub fn feed(core: &Rc<Core>, client: &Client, spec: &Spec, args: &Args) {
    if MONITORS.load(Ordering::Relaxed) == 0 || spec.has(ADMIN) {
        return;
    }
    let db = shown_db(core, client, spec, args);
    let addr = client.info.borrow().addr;
    let (waiting, start) = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if l.pending.len() < PENDING_BYTES_MAX {
            line(&mut l.pending, db, &addr.monitor_form(), args);
        }
        let start = !l.pump_started;
        l.pump_started = true;
        (l.pump.take(), start)
    });
    // Outside the borrow: the pump reads the same state when it runs.
    if let Some(pump) = waiting {
        pump.wake();
    }
    if start {
        glommio::spawn_local(pump(core.clone())).detach();
    }
}

/// The database a line shows: the connection's after the command ran, as Redis
/// feeds monitors after it; only `SELECT` changes it.
fn shown_db(core: &Core, client: &Client, spec: &Spec, args: &Args) -> usize {
    if spec.name != "select" {
        return client.db;
    }
    let dbs = core.shard.borrow().keyspace().dbs().len();
    parse_i64(&args[1])
        .and_then(|d| usize::try_from(d).ok())
        .filter(|&d| d < dbs)
        .unwrap_or(client.db)
}

/// Appends one monitor line: time, database, address, arguments quoted as
/// Redis's `sdscatrepr` quotes them.
fn line(text: &mut Vec<u8>, db: usize, addr: &str, args: &Args) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut head = String::new();
    let _ = write!(
        head,
        "+{}.{:06} [{db} {addr}]",
        now.as_secs(),
        now.subsec_micros()
    );
    text.extend_from_slice(head.as_bytes());
    for (i, arg) in args.iter().enumerate() {
        text.push(b' ');
        let shown: &[u8] = if redacted(args, i) { REDACTED } else { arg };
        quote(text, shown);
    }
    text.extend_from_slice(b"\r\n");
}

/// `sdscatrepr`: a double-quoted string with C escapes for the unprintable.
fn quote(text: &mut Vec<u8>, bytes: &[u8]) {
    text.push(b'"');
    for &b in bytes {
        match b {
            b'\\' => text.extend_from_slice(b"\\\\"),
            b'"' => text.extend_from_slice(b"\\\""),
            b'\n' => text.extend_from_slice(b"\\n"),
            b'\r' => text.extend_from_slice(b"\\r"),
            b'\t' => text.extend_from_slice(b"\\t"),
            0x07 => text.extend_from_slice(b"\\a"),
            0x08 => text.extend_from_slice(b"\\b"),
            0x20..=0x7e => text.push(b),
            _ => text.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    text.push(b'"');
}

/// Waits until the core has pending text.
fn pending_text() -> impl Future<Output = Vec<u8>> {
    std::future::poll_fn(|cx| {
        LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            if l.pending.is_empty() {
                l.pump = Some(cx.waker().clone());
                return Poll::Pending;
            }
            Poll::Ready(std::mem::take(&mut l.pending))
        })
    })
}

/// A core's pump: hands its pending text to every core's monitors.
async fn pump(core: Rc<Core>) {
    loop {
        let text = Arc::new(pending_text().await);
        deliver(&core, &text);
        for target in (0..core.shards()).filter(|&c| c != core.id) {
            if PER_CORE[target].load(Ordering::Relaxed) == 0 {
                continue;
            }
            let text = text.clone();
            let msg = Msg::Control(Box::new(move |core| {
                deliver(core, &text);
                Answer::Done
            }));
            core.tell(target, msg).await;
        }
    }
}

/// Pushes `text` to this core's monitors; forgets those gone (their connection
/// ended, so only this list still holds their outbox) or cut off by their limit.
fn deliver(core: &Core, text: &[u8]) {
    let limit = core.global.config.hot.output_limit(OutputClass::Normal);
    let now = Instant::now();
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let before = l.monitors.len();
        l.monitors.retain(|m| {
            if Rc::strong_count(m) == 1 || m.is_closed() {
                return false;
            }
            if let Err(over) = m.push_copy(text, limit, || now) {
                log::warn!(
                    "Client monitor scheduled to be closed ASAP for overcoming of output buffer limits (omem={}).",
                    over.pending_bytes
                );
                return false;
            }
            true
        });
        let gone = before - l.monitors.len();
        if gone > 0 {
            PER_CORE[core.id].fetch_sub(gone as u32, Ordering::Relaxed);
            MONITORS.fetch_sub(gone, Ordering::Relaxed);
        }
    });
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, "server", "Listens for all requests received by the server in real-time.", Handler::Sync(monitor)),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_sdscatrepr() {
        let mut text = Vec::new();
        quote(&mut text, b"a b\"\\\n\r\t\x07\x08\x01\xff");
        assert_eq!(text, b"\"a b\\\"\\\\\\n\\r\\t\\a\\b\\x01\\xff\"");
    }
}
