//! Keyspace notifications (`notify-keyspace-events`): every key change, named as
//! Redis names it, published on `__keyspace@<db>__:<key>` (the event as message)
//! and `__keyevent@<db>__:<event>` (the key as message).
//!
//! Each shard has a [`Notifier`], a listener at the keyspace door
//! ([`ChangeSink`]): the door reports how a key changed ([`ChangeKind`]) and brackets
//! every command with the command's row, so [`events`] names the change from both
//! (`INCRBY` on a new key is the door's `Set`, Redis's `incrby`). The notifier only
//! queues the messages, since the door's code must not wait; a task per core
//! ([`start`]) takes them in order and publishes them through the pub/sub fan-out
//! without waiting for receiver counts. Expiry is reported when the key is deleted
//! (lazily or by the active cycle), as `expired`; an eviction under `maxmemory` as
//! `evicted`; a key created where nothing was as `new` (class `n`) before the
//! command's own event, and a read that finds nothing as `keymiss` (class `m`), as
//! Redis 7.0 reports them.
//!
//! A replica applies its master's effects, not its commands, so outside a command
//! it names only deletions (`del`, which is also how its master's expiries and
//! evictions arrive); Redis 7.0's replica runs the propagated commands and reports
//! their events (`set`, `incrby`, `lpush`, `expire`, ...). Matching that needs the
//! stream to carry which command made each effect.
//!
//! With no class enabled (the default), a change costs one atomic load.

use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use corekv_engine::keyspace::hooks::{ChangeKind, ChangeSink, DbChange};
use smallvec::SmallVec;

use super::fanout::publish_forget;
use super::message::Publish;
use super::subs::Kind;
use crate::config::notify::{
    EVICTED, EXPIRED, GENERIC, HASH, KEYEVENT, KEYSPACE, KEY_MISS, LIST, NEW, SET, STREAM, STRING,
    ZSET,
};
use crate::shard::global::Global;
use crate::shard::Core;

/// How often the forwarding task checks in with its shard's notifier: a recovered or
/// fully synced shard replaces the shard the notifier was in (the code that replaces
/// it adds a new one at once, [`ensure_notifier`]), and the task's waker must move
/// to the new notifier.
const NOTIFIER_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Events one change makes: class and name.
type Events = SmallVec<[(u32, &'static str); 2]>;

/// The per-shard listener: the running command and the messages to publish.
pub struct Notifier {
    global: Arc<Global>,
    /// The running command's row id and, while notifications are on, its arguments.
    running: Option<usize>,
    args: Vec<Bytes>,
    queue: Vec<(Bytes, Bytes)>,
    waker: Option<Waker>,
}

impl Notifier {
    fn new(global: Arc<Global>) -> Notifier {
        Notifier {
            global,
            running: None,
            args: Vec::new(),
            queue: Vec::new(),
            waker: None,
        }
    }

    fn flags(&self) -> u32 {
        let hot = &self.global.config.hot;
        hot.notify_keyspace_events.load(Ordering::Relaxed)
    }

    fn notify(&mut self, flags: u32, db: usize, key: &[u8], (class, event): (u32, &str)) {
        if flags & class == 0 {
            return;
        }
        if flags & KEYSPACE != 0 {
            let channel = [format!("__keyspace@{db}__:").as_bytes(), key].concat();
            let message = Bytes::copy_from_slice(event.as_bytes());
            self.queue.push((channel.into(), message));
        }
        if flags & KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            self.queue
                .push((channel.into(), Bytes::copy_from_slice(key)));
        }
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl ChangeSink for Notifier {
    fn before_change(&mut self, _: usize, _: &[u8]) {}

    fn key_changed(&mut self, db: usize, key: &[u8], kind: ChangeKind) {
        let flags = self.flags();
        if flags & (KEYSPACE | KEYEVENT) == 0 {
            return;
        }
        let spec = self
            .running
            .map(|id| corekv_engine::command::table().all[id]);
        let named = spec.map(|s| (s.name, s.group));
        for event in events(named, &self.args, key, kind) {
            self.notify(flags, db, key, event);
        }
    }

    fn dbs_changed(&mut self, _: DbChange) {}

    fn key_added(&mut self, db: usize, key: &[u8]) {
        let flags = self.flags();
        if flags & (KEYSPACE | KEYEVENT) != 0 {
            self.notify(flags, db, key, (NEW, "new"));
        }
    }

    fn key_missed(&mut self, db: usize, key: &[u8]) {
        let flags = self.flags();
        if flags & (KEYSPACE | KEYEVENT) != 0 {
            self.notify(flags, db, key, (KEY_MISS, "keymiss"));
        }
    }

    fn command_started(&mut self, id: usize, args: &[Bytes]) {
        self.running = Some(id);
        if self.flags() & (KEYSPACE | KEYEVENT) != 0 {
            self.args.clear();
            self.args.extend_from_slice(args);
        }
    }

    fn command_finished(&mut self) {
        self.running = None;
        self.args.clear();
    }
}

/// The class of a data type's own events, from the command's group.
fn group_class(group: &str) -> u32 {
    match group {
        "string" | "bitmap" | "hyperloglog" => STRING,
        "list" => LIST,
        "set" => SET,
        "hash" => HASH,
        "sorted-set" | "sorted_set" => ZSET,
        "stream" => STREAM,
        _ => GENERIC,
    }
}

/// The argument at `at`, if it is one of `words` (any case): that word's index.
fn word_at(args: &[Bytes], at: Option<usize>, words: [&str; 2]) -> Option<usize> {
    let arg = args.get(at?)?;
    words
        .iter()
        .position(|w| arg.eq_ignore_ascii_case(w.as_bytes()))
}

/// The end (`LEFT`/`RIGHT`, `MIN`/`MAX`) argument of an `*MPOP` whose `numkeys` is
/// at `numkeys_at`: 0 for the first word, 1 for the second.
fn mpop_end(args: &[Bytes], numkeys_at: usize, words: [&str; 2]) -> usize {
    let numkeys = args
        .get(numkeys_at)
        .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok());
    let at = numkeys.and_then(|n| n.checked_add(numkeys_at + 1));
    word_at(args, at, words).unwrap_or(0)
}

/// The class and name of the event a command's change of `key` reports as its own,
/// as Redis names it: blocking and multi-key pops and moves report the single-key
/// pop or push they did on each side (`LMOVE a b LEFT RIGHT` is `rpush` on `b`,
/// `lpop` on `a`), `LPUSHX` is `lpush`, `ZADD ... INCR` is `zincr`, `GEOADD` is
/// `zadd`, `SORT ... STORE` is `sortstore`.
fn own_event(
    name: &'static str,
    group: &'static str,
    args: &[Bytes],
    key: &[u8],
) -> (u32, &'static str) {
    const LR: [&str; 2] = ["LEFT", "RIGHT"];
    let list_side = |src_end: usize, dst_end: usize| {
        let is_dst =
            args.get(2).is_some_and(|d| &d[..] == key) && args.get(1).is_none_or(|s| &s[..] != key);
        match is_dst {
            true => ["lpush", "rpush"][dst_end],
            false => ["lpop", "rpop"][src_end],
        }
    };
    let name = match name {
        "lpushx" => "lpush",
        "rpushx" => "rpush",
        "blpop" => "lpop",
        "brpop" => "rpop",
        "lmpop" => ["lpop", "rpop"][mpop_end(args, 1, LR)],
        "blmpop" => ["lpop", "rpop"][mpop_end(args, 2, LR)],
        "lmove" | "blmove" => list_side(
            word_at(args, Some(3), LR).unwrap_or(0),
            word_at(args, Some(4), LR).unwrap_or(0),
        ),
        "rpoplpush" | "brpoplpush" => list_side(1, 0),
        "bzpopmin" => "zpopmin",
        "bzpopmax" => "zpopmax",
        "zmpop" => ["zpopmin", "zpopmax"][mpop_end(args, 1, ["MIN", "MAX"])],
        "bzmpop" => ["zpopmin", "zpopmax"][mpop_end(args, 2, ["MIN", "MAX"])],
        "zadd" if zadd_incr(args) => "zincr",
        "geoadd" => return (ZSET, "zadd"),
        "georadius" | "georadiusbymember" => return (ZSET, "georadiusstore"),
        "geosearchstore" => return (ZSET, "geosearchstore"),
        "sort" => return (LIST, "sortstore"),
        other => other,
    };
    (group_class(group), name)
}

/// A list move from a key to itself (`LMOVE k k LEFT RIGHT`, `RPOPLPUSH k k`):
/// Redis reports the push and then the pop, both on the key, which changed once.
fn rotation(
    name: &str,
    args: &[Bytes],
    key: &[u8],
    kind: ChangeKind,
) -> Option<[(u32, &'static str); 2]> {
    const LR: [&str; 2] = ["LEFT", "RIGHT"];
    let same =
        args.get(1).is_some_and(|s| &s[..] == key) && args.get(2).is_some_and(|d| &d[..] == key);
    if !same || kind == ChangeKind::Del {
        return None;
    }
    let (src_end, dst_end) = match name {
        "lmove" | "blmove" => (
            word_at(args, Some(3), LR).unwrap_or(0),
            word_at(args, Some(4), LR).unwrap_or(0),
        ),
        "rpoplpush" | "brpoplpush" => (1, 0),
        _ => return None,
    };
    Some([
        (LIST, ["lpush", "rpush"][dst_end]),
        (LIST, ["lpop", "rpop"][src_end]),
    ])
}

/// Whether `ZADD`'s options (before the first score) include `INCR`.
fn zadd_incr(args: &[Bytes]) -> bool {
    const OPTIONS: [&str; 6] = ["NX", "XX", "GT", "LT", "CH", "INCR"];
    args.iter()
        .skip(2)
        .take_while(|a| OPTIONS.iter().any(|o| a.eq_ignore_ascii_case(o.as_bytes())))
        .any(|a| a.eq_ignore_ascii_case(b"INCR"))
}

/// Whether `SET`'s options give the key a deadline.
fn set_with_deadline(args: &[Bytes]) -> bool {
    let deadline = |a: &Bytes| {
        ["EX", "PX", "EXAT", "PXAT"]
            .iter()
            .any(|o| a.eq_ignore_ascii_case(o.as_bytes()))
    };
    args.iter().skip(3).any(deadline)
}

/// Redis's events for a change of `key` by the running command (`name`, `group`),
/// in Redis's order; `None` for a change outside commands (a replica applying its
/// master's stream).
pub fn events(
    running: Option<(&'static str, &'static str)>,
    args: &[Bytes],
    key: &[u8],
    kind: ChangeKind,
) -> Events {
    use ChangeKind::*;
    let mut out = Events::new();
    let del = (GENERIC, "del");
    let Some((name, group)) = running else {
        match kind {
            Expired => out.push((EXPIRED, "expired")),
            Evicted => out.push((EVICTED, "evicted")),
            Del => out.push(del),
            _ => {}
        }
        return out;
    };
    if let Some(pair) = rotation(name, args, key, kind) {
        out.extend(pair);
        return out;
    }
    let own = own_event(name, group, args, key);
    let name = own.1;
    match (name, kind) {
        (_, Expired) => out.push((EXPIRED, "expired")),
        (_, Evicted) => out.push((EVICTED, "evicted")),
        ("rename" | "renamenx", Del) => out.push((GENERIC, "rename_from")),
        ("rename" | "renamenx", _) => out.push((GENERIC, "rename_to")),
        ("move", MovedOut) => out.push((GENERIC, "move_from")),
        ("move", _) => out.push((GENERIC, "move_to")),
        ("copy", _) => out.push((GENERIC, "copy_to")),
        ("persist", Deadline) => out.push((GENERIC, "persist")),
        ("getex", Deadline) if args.iter().any(|a| a.eq_ignore_ascii_case(b"PERSIST")) => {
            out.push((GENERIC, "persist"))
        }
        (_, Deadline) => out.push((GENERIC, "expire")),
        ("set", _) => {
            out.push((STRING, "set"));
            if set_with_deadline(args) {
                out.push((GENERIC, "expire"));
            }
        }
        ("setex" | "psetex", _) => out.extend([(STRING, "set"), (GENERIC, "expire")]),
        ("setnx" | "getset" | "mset" | "msetnx", _) => out.push((STRING, "set")),
        ("incr" | "decr" | "incrby" | "decrby", _) => out.push((STRING, "incrby")),
        ("hmset" | "hsetnx", _) => out.push((HASH, "hset")),
        ("zincrby", _) => out.push((ZSET, "zincr")),
        ("smove", _) if args.get(1).is_some_and(|src| &src[..] == key) => {
            out.push((SET, "srem"));
            if kind == Del {
                out.push(del);
            }
        }
        ("smove", _) => out.push((SET, "sadd")),
        ("pfmerge", _) => out.push((STRING, "pfadd")),
        ("bitfield", _) => out.push((STRING, "setbit")),
        ("pfcount" | "pfdebug", _) => {}
        (_, Del) if group == "generic" || name.ends_with("store") || name == "bitop" => {
            out.push(del)
        }
        ("getdel" | "getex", Del) => out.push(del),
        (_, Del) => out.extend([own, del]),
        ("bitop", _) => out.push((STRING, "set")),
        _ => out.push(own),
    }
    out
}

/// Adds the shard's notifier if it has none (a replaced shard lost it).
pub fn ensure_notifier(core: &Core) {
    let mut shard = core.shard.borrow_mut();
    let keyspace = shard.keyspace_mut();
    if keyspace.sink_mut::<Notifier>().is_none() {
        keyspace.add_sink(Box::new(Notifier::new(core.global.clone())));
    }
}

/// The queued notifications once there are some; an empty batch now and then, so
/// the caller re-checks the notifier.
fn next_batch(core: &Core) -> impl Future<Output = Vec<(Bytes, Bytes)>> + '_ {
    let mut timer = glommio::timer::Timer::new(NOTIFIER_CHECK_INTERVAL);
    std::future::poll_fn(move |cx| {
        let mut shard = core.shard.borrow_mut();
        let Some(notifier) = shard.keyspace_mut().sink_mut::<Notifier>() else {
            return Poll::Ready(Vec::new());
        };
        if !notifier.queue.is_empty() {
            return Poll::Ready(std::mem::take(&mut notifier.queue));
        }
        notifier.waker = Some(cx.waker().clone());
        match std::pin::Pin::new(&mut timer).poll(cx) {
            Poll::Ready(_) => Poll::Ready(Vec::new()),
            Poll::Pending => Poll::Pending,
        }
    })
}

/// Adds the core's notifier and starts the task that publishes what it queues.
pub fn start(core: &Rc<Core>) {
    ensure_notifier(core);
    let core = core.clone();
    glommio::spawn_local(async move {
        loop {
            let batch = next_batch(&core).await;
            if batch.is_empty() {
                ensure_notifier(&core);
            }
            for (channel, message) in batch {
                let kind = Kind::Channel;
                let publish = Publish {
                    kind,
                    channel,
                    message,
                };
                publish_forget(&core, publish).await;
            }
        }
    })
    .detach();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(cmd: &[&str], group: &'static str, key: &str, kind: ChangeKind) -> Vec<&'static str> {
        let name: &'static str = cmd[0].to_string().leak();
        let args: Vec<Bytes> = cmd.iter().map(|a| Bytes::from(a.to_string())).collect();
        let out = events(Some((name, group)), &args, key.as_bytes(), kind);
        out.iter().map(|(_, n)| *n).collect()
    }

    #[test]
    fn events_are_named_as_redis_names_them() {
        use ChangeKind::*;
        assert_eq!(names(&["set", "k", "v"], "string", "k", Set), ["set"]);
        assert_eq!(
            names(&["set", "k", "v", "ex", "5"], "string", "k", Set),
            ["set", "expire"]
        );
        assert_eq!(names(&["incr", "k"], "string", "k", Set), ["incrby"]);
        assert_eq!(
            names(&["append", "k", "x"], "string", "k", Modify),
            ["append"]
        );
        assert_eq!(names(&["del", "k"], "generic", "k", Del), ["del"]);
        let hll = |cmd: &[&str], kind| names(cmd, "hyperloglog", "k", kind);
        assert_eq!(hll(&["pfadd", "k", "x"], Set), ["pfadd"]);
        assert_eq!(hll(&["pfmerge", "k", "s"], Modify), ["pfadd"]);
        assert!(hll(&["pfcount", "k"], Modify).is_empty());
        assert_eq!(names(&["bitfield", "k"], "bitmap", "k", Modify), ["setbit"]);
        assert_eq!(
            names(&["rename", "a", "b"], "generic", "a", Del),
            ["rename_from"]
        );
        assert_eq!(
            names(&["rename", "a", "b"], "generic", "b", Set),
            ["rename_to"]
        );
        assert_eq!(names(&["expire", "k", "-1"], "generic", "k", Del), ["del"]);
        assert_eq!(
            names(&["getex", "k", "persist"], "string", "k", Deadline),
            ["persist"]
        );
        assert_eq!(
            names(&["hdel", "h", "f"], "hash", "h", Del),
            ["hdel", "del"]
        );
        assert_eq!(
            names(&["smove", "a", "b", "m"], "set", "a", Del),
            ["srem", "del"]
        );
        assert_eq!(
            names(&["smove", "a", "b", "m"], "set", "b", Modify),
            ["sadd"]
        );
        assert_eq!(names(&["sinterstore", "d", "a"], "set", "d", Del), ["del"]);
        assert_eq!(names(&["get", "k"], "string", "k", Expired), ["expired"]);
        assert_eq!(names(&["lpop", "l"], "list", "l", Del), ["lpop", "del"]);
        let lmove = ["lmove", "a", "b", "left", "RIGHT"];
        assert_eq!(names(&lmove, "list", "a", Del), ["lpop", "del"]);
        assert_eq!(names(&lmove, "list", "b", Modify), ["rpush"]);
        let rotate = ["lmove", "k", "k", "LEFT", "right"];
        assert_eq!(names(&rotate, "list", "k", Modify), ["rpush", "lpop"]);
        let rotate = ["rpoplpush", "k", "k"];
        assert_eq!(names(&rotate, "list", "k", Modify), ["lpush", "rpop"]);
        let rpoplpush = ["brpoplpush", "a", "b", "0"];
        assert_eq!(names(&rpoplpush, "list", "a", Modify), ["rpop"]);
        assert_eq!(names(&rpoplpush, "list", "b", Modify), ["lpush"]);
        let blmpop = ["blmpop", "0", "2", "a", "right", "right"];
        assert_eq!(names(&blmpop, "list", "right", Modify), ["rpop"]);
        let zmpop = ["zmpop", "1", "z", "MAX", "COUNT", "2"];
        assert_eq!(names(&zmpop, "sorted-set", "z", Modify), ["zpopmax"]);
        let zadd = ["zadd", "z", "xx", "incr", "1", "incr"];
        assert_eq!(names(&zadd, "sorted-set", "z", Modify), ["zincr"]);
        let zadd = ["zadd", "z", "1", "incr"];
        assert_eq!(names(&zadd, "sorted-set", "z", Modify), ["zadd"]);
        assert_eq!(names(&["rpushx", "l", "x"], "list", "l", Modify), ["rpush"]);
        assert_eq!(
            names(&["geoadd", "g", "1", "2", "m"], "geo", "g", Set),
            ["zadd"]
        );
        let store = ["georadiusbymember", "g", "m", "1", "km", "STORE", "d"];
        assert_eq!(names(&store, "geo", "d", Set), ["georadiusstore"]);
        assert_eq!(names(&store, "geo", "d", Del), ["del"]);
    }
}
