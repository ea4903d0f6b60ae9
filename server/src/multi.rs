//! Commands that span shards.
//!
//! **Multi-key commands** (`MSET`, `MGET`, `DEL`, `RENAME`, ...) whose keys live on
//! several shards run as a transaction: the coordinator (the client's connection task)
//! sends each participant its part tagged with one transaction id, visiting shards in
//! ascending order. A shard's first message from a transaction locks it for that
//! transaction; anything else arriving meanwhile waits in the shard's queue. Every
//! lock is held until the coordinator unlocks all participants at the end, so no
//! observer sees half of a transaction (strict two-phase locking), and since locks are
//! always taken in ascending shard order two coordinators never wait on each other in
//! a cycle.
//!
//! **Whole-keyspace commands** (`DBSIZE`, `KEYS`, `SCAN`, `RANDOMKEY`, `FLUSH*`,
//! `SWAPDB`) fan out to every shard and merge.

use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;
use corekv_engine::command::keys::{parse_copy, parse_db_index};
use corekv_engine::command::{All, Multi};
use corekv_engine::cursor::ArgCursor;
use corekv_engine::error::CmdError;
use corekv_engine::journal::Participant;
use corekv_engine::resp::{parse_u64, Args, Reply, ReplyBuf};
use corekv_engine::shard::{Op, OpReply, ScanArgs};
use corekv_engine::slot::shard_of;
use futures::future::join_all;
use rand::Rng;

use crate::conn::Client;
use crate::core::{Core, LogMark, Msg, TxId};

/// A transaction over shards, taken in ascending order and released at the end.
///
/// Journaling: a shard keeps the transaction's effects aside while it is locked,
/// and reports in every answer whether it has any and its last LSN, which stays
/// put while the lock is held. At the end, if two or more shards changed, each
/// gets `Commit` naming every such shard with the LSN its part takes, so recovery
/// can apply the parts all or nothing; otherwise a plain `Unlock` journals the
/// one shard's effects as ordinary records.
struct Tx<'a> {
    core: &'a Core,
    id: TxId,
    /// Locked shards, ascending, with the latest journal mark each reported.
    locked: Vec<(usize, LogMark)>,
}

impl<'a> Tx<'a> {
    fn new(core: &'a Core) -> Self {
        Tx {
            core,
            id: core.new_tx(),
            locked: Vec::new(),
        }
    }

    /// Runs `op` on `shard` inside the transaction. The first call for a shard locks
    /// it; callers visit new shards in ascending order.
    async fn op(&mut self, shard: usize, op: Op) -> OpReply {
        let (reply, mark) = self.core.op_marked(shard, Some(self.id), op).await;
        match self.locked.iter_mut().find(|(s, _)| *s == shard) {
            Some((_, m)) => *m = mark,
            None => {
                debug_assert!(self.locked.last().is_none_or(|&(last, _)| last < shard));
                self.locked.push((shard, mark));
            }
        }
        reply
    }

    /// Locks every shard in `shards` (ascending) before any part runs.
    async fn lock_all(&mut self, shards: impl IntoIterator<Item = usize>) {
        let mut shards: Vec<usize> = shards.into_iter().collect();
        shards.sort_unstable();
        shards.dedup();
        for s in shards {
            self.op(s, Op::Lock).await;
        }
    }

    /// Commits or unlocks every participant; returns only once every record the
    /// transaction wrote is written (durable under `appendfsync always`), or the
    /// error to reply with instead.
    async fn finish(self) -> Result<(), String> {
        let wait = self.core.journal.enabled && self.locked.iter().any(|(_, m)| m.tx_effects);
        let changed: Vec<Participant> = self
            .locked
            .iter()
            .filter(|(_, m)| m.tx_effects)
            .map(|&(shard, m)| Participant {
                shard: shard as u16,
                lsn: m.last_lsn + 1,
            })
            .collect();
        let mut durable = Vec::new();
        for &(shard, m) in &self.locked {
            let msg = if changed.len() >= 2 && m.tx_effects {
                Msg::Commit {
                    tx_id: self.id,
                    participants: changed.clone(),
                }
            } else {
                Msg::Unlock
            };
            let mark = self.core.end_tx(shard, self.id, msg, wait).await;
            if mark.appended {
                durable.push((shard, mark.last_lsn));
            }
        }
        crate::journal::wait_acked(self.core, &durable).await
    }
}

fn int(r: OpReply) -> i64 {
    match r {
        OpReply::Int(n) => n,
        _ => 0,
    }
}

/// Groups key arguments (every `step`-th from index 1) by shard, ascending.
fn by_shard(core: &Core, args: &Args, step: usize) -> BTreeMap<usize, Vec<usize>> {
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in (1..args.len()).step_by(step) {
        groups
            .entry(shard_of(&args[i], core.shards()))
            .or_default()
            .push(i);
    }
    groups
}

/// Runs a multi-key command whose keys live on more than one shard.
pub async fn multi_key(core: &Rc<Core>, db: usize, kind: Multi, args: &Args, out: &mut ReplyBuf) {
    match kind {
        Multi::MGet => mget(core, db, args, out).await,
        Multi::MSet | Multi::MSetNx => mset(core, db, args, kind == Multi::MSetNx, out).await,
        Multi::Del | Multi::Unlink | Multi::Exists | Multi::Touch => {
            count_keys(core, db, kind, args, out).await
        }
        Multi::Rename | Multi::RenameNx => {
            rename(core, db, args, kind == Multi::RenameNx, out).await
        }
        Multi::Copy => copy(core, db, args, out).await,
    }
}

async fn mget(core: &Core, db: usize, args: &Args, out: &mut ReplyBuf) {
    let groups = by_shard(core, args, 1);
    let mut values: Vec<Option<Vec<u8>>> = vec![None; args.len()];
    let mut tx = Tx::new(core);
    for (&shard, idx) in &groups {
        let keys = idx.iter().map(|&i| args[i].clone()).collect();
        if let OpReply::Values(v) = tx.op(shard, Op::MGet { db, keys }).await {
            for (&i, value) in idx.iter().zip(v) {
                values[i] = value;
            }
        }
    }
    if let Err(e) = tx.finish().await {
        return out.error(&e);
    }
    out.array(args.len() - 1);
    for v in &values[1..] {
        out.bulk_opt(v.as_deref());
    }
}

async fn mset(core: &Core, db: usize, args: &Args, nx: bool, out: &mut ReplyBuf) {
    if args.len().is_multiple_of(2) {
        let name = if nx { "msetnx" } else { "mset" };
        out.error(&CmdError::WrongArgs(name.into()).message());
        return;
    }
    let groups = by_shard(core, args, 2);
    let mut tx = Tx::new(core);
    if nx {
        let mut existing = 0;
        for (&shard, idx) in &groups {
            let keys = idx.iter().map(|&i| args[i].clone()).collect();
            existing += int(tx.op(shard, Op::Exists { db, keys }).await);
        }
        if existing > 0 {
            if let Err(e) = tx.finish().await {
                return out.error(&e);
            }
            out.int(0);
            return;
        }
    }
    for (&shard, idx) in &groups {
        let pairs = idx
            .iter()
            .map(|&i| (args[i].clone(), args[i + 1].clone()))
            .collect();
        tx.op(shard, Op::MSet { db, pairs }).await;
    }
    if let Err(e) = tx.finish().await {
        return out.error(&e);
    }
    if nx {
        out.int(1);
    } else {
        out.ok();
    }
}

async fn count_keys(core: &Core, db: usize, kind: Multi, args: &Args, out: &mut ReplyBuf) {
    let groups = by_shard(core, args, 1);
    let mut tx = Tx::new(core);
    let mut total = 0;
    for (&shard, idx) in &groups {
        let keys = idx.iter().map(|&i| args[i].clone()).collect();
        let op = match kind {
            Multi::Del | Multi::Unlink => Op::Del { db, keys },
            Multi::Exists => Op::Exists { db, keys },
            _ => Op::Touch { db, keys },
        };
        total += int(tx.op(shard, op).await);
    }
    if let Err(e) = tx.finish().await {
        return out.error(&e);
    }
    out.int(total);
}

async fn rename(core: &Core, db: usize, args: &Args, nx: bool, out: &mut ReplyBuf) {
    let (src, dst) = (args[1].clone(), args[2].clone());
    let (s, d) = (shard_of(&src, core.shards()), shard_of(&dst, core.shards()));
    let mut tx = Tx::new(core);
    tx.lock_all([s, d]).await;
    let entry = match tx
        .op(
            s,
            Op::Take {
                db,
                key: src.clone(),
                remove: false,
            },
        )
        .await
    {
        OpReply::Entry(Some(e)) => e,
        _ => {
            if let Err(e) = tx.finish().await {
                return out.error(&e);
            }
            out.error(&CmdError::NoSuchKey.message());
            return;
        }
    };
    if nx
        && int(tx
            .op(
                d,
                Op::Exists {
                    db,
                    keys: vec![dst.clone()],
                },
            )
            .await)
            > 0
    {
        if let Err(e) = tx.finish().await {
            return out.error(&e);
        }
        out.int(0);
        return;
    }
    tx.op(
        s,
        Op::Del {
            db,
            keys: vec![src],
        },
    )
    .await;
    tx.op(
        d,
        Op::Put {
            db,
            key: dst,
            entry,
            replace: true,
        },
    )
    .await;
    if let Err(e) = tx.finish().await {
        return out.error(&e);
    }
    if nx {
        out.int(1);
    } else {
        out.ok();
    }
}

async fn copy(core: &Core, db: usize, args: &Args, out: &mut ReplyBuf) {
    let opts = match parse_copy(args) {
        Ok(o) => o,
        Err(e) => return out.error(&e.message()),
    };
    let (src, dst) = (args[1].clone(), args[2].clone());
    let (s, d) = (shard_of(&src, core.shards()), shard_of(&dst, core.shards()));
    let mut tx = Tx::new(core);
    tx.lock_all([s, d]).await;
    let written = match tx
        .op(
            s,
            Op::Take {
                db,
                key: src,
                remove: false,
            },
        )
        .await
    {
        OpReply::Entry(Some(entry)) => {
            let put = Op::Put {
                db: opts.db.unwrap_or(db),
                key: dst,
                entry,
                replace: opts.replace,
            };
            int(tx.op(d, put).await)
        }
        _ => 0,
    };
    if let Err(e) = tx.finish().await {
        return out.error(&e);
    }
    out.int(written);
}

/// `SCAN` cursors name a shard (low bits) and a position in that shard's table.
const SCAN_SHARD_BITS: u32 = 10;
/// Position meaning "this shard not started yet".
/// Any position at or past a table's end starts at its top; this one keeps every
/// cursor below 2^63, for clients that read cursors as signed 64-bit integers.
const SCAN_POS_START: u64 = (1 << (63 - SCAN_SHARD_BITS)) - 1;
/// `SCAN`'s default `COUNT`.
const SCAN_COUNT_DEFAULT: usize = 10;

fn scan_cursor(shard: usize, pos: u64) -> u64 {
    (pos << SCAN_SHARD_BITS) | shard as u64
}

/// Runs a whole-keyspace command on every shard and merges the answers.
pub async fn fan_out(
    core: &Rc<Core>,
    client: &mut Client,
    kind: All,
    args: &Args,
    out: &mut ReplyBuf,
) {
    let db = client.db;
    let shards = 0..core.shards();
    match kind {
        All::DbSize => {
            let replies = join_all(shards.map(|s| core.op(s, None, Op::DbSize { db }))).await;
            out.int(replies.into_iter().map(int).sum());
        }
        All::Keys => {
            let pattern = args[1].clone();
            let replies = join_all(shards.map(|s| {
                core.op(
                    s,
                    None,
                    Op::Keys {
                        db,
                        pattern: pattern.clone(),
                    },
                )
            }))
            .await;
            let keys: Vec<Bytes> = replies
                .into_iter()
                .flat_map(|r| match r {
                    OpReply::Keys(k) => k,
                    _ => Vec::new(),
                })
                .collect();
            out.array(keys.len());
            keys.iter().for_each(|k| out.bulk(k));
        }
        All::Scan => scan(core, db, args, out).await,
        All::RandomKey => random_key(core, db, out).await,
        All::FlushDb | All::FlushAll => {
            let mut c = ArgCursor::new(args);
            if let Some(w) = c.next_word() {
                if !(w == "ASYNC" || w == "SYNC") || !c.is_empty() {
                    return out.error(&CmdError::Syntax.message());
                }
            }
            let target = if kind == All::FlushDb { Some(db) } else { None };
            let mut tx = Tx::new(core);
            for s in shards {
                tx.op(s, Op::Flush { db: target }).await;
            }
            if let Err(e) = tx.finish().await {
                return out.error(&e);
            }
            out.ok();
        }
        All::SwapDb => {
            // Redis's order: both indexes must be integers (each with its own text),
            // then both in range.
            let (a, b) = match (parse_db_index(&args[1]), parse_db_index(&args[2])) {
                (Err(CmdError::NotInteger), _) => return out.error("ERR invalid first DB index"),
                (_, Err(CmdError::NotInteger)) => return out.error("ERR invalid second DB index"),
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => return out.error(&e.message()),
            };
            let mut tx = Tx::new(core);
            for s in shards {
                tx.op(s, Op::SwapDb { a, b }).await;
            }
            if let Err(e) = tx.finish().await {
                return out.error(&e);
            }
            out.ok();
        }
    }
}

async fn scan(core: &Core, db: usize, args: &Args, out: &mut ReplyBuf) {
    let Some(cursor) = parse_u64(&args[1]) else {
        return out.error("ERR invalid cursor");
    };
    let mut c = ArgCursor::new(args);
    c.next_opt();
    let mut scan = ScanArgs {
        db,
        pos: SCAN_POS_START,
        count: SCAN_COUNT_DEFAULT,
        pattern: None,
        type_name: None,
    };
    while let Some(word) = c.next_word() {
        let value = match c.arg() {
            Ok(v) => v.clone(),
            Err(e) => return out.error(&e.message()),
        };
        match word.as_str() {
            "MATCH" => scan.pattern = (value.as_ref() != b"*").then_some(value),
            "TYPE" => scan.type_name = Some(value),
            "COUNT" => match corekv_engine::resp::parse_i64(&value) {
                Some(n) if n >= 1 => scan.count = n as usize,
                Some(_) => return out.error(&CmdError::Syntax.message()),
                None => return out.error(&CmdError::NotInteger.message()),
            },
            _ => return out.error(&CmdError::Syntax.message()),
        }
    }
    let mut shard = (cursor & ((1 << SCAN_SHARD_BITS) - 1)) as usize;
    if cursor != 0 {
        scan.pos = cursor >> SCAN_SHARD_BITS;
    }
    let count = scan.count;
    let mut keys = Vec::new();
    let mut next = 0;
    // A shard that runs out before COUNT keys were found hands over to the next one in
    // the same call: an empty keyspace answers cursor 0 at once, as on Redis, and a
    // call does at most one COUNT's work per shard.
    while shard < core.shards() {
        let OpReply::Scan {
            pos,
            keys: mut found,
        } = core.op(shard, None, Op::Scan(scan.clone())).await
        else {
            break;
        };
        keys.append(&mut found);
        if pos != 0 {
            next = scan_cursor(shard, pos);
            break;
        }
        shard += 1;
        if shard < core.shards() && keys.len() >= count {
            next = scan_cursor(shard, SCAN_POS_START);
            break;
        }
        scan.pos = SCAN_POS_START;
    }
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(keys.len());
    keys.iter().for_each(|k| out.bulk(k));
}

async fn random_key(core: &Core, db: usize, out: &mut ReplyBuf) {
    let replies =
        join_all((0..core.shards()).map(|s| core.op(s, None, Op::RandomKey { db }))).await;
    let candidates: Vec<(usize, Bytes)> = replies
        .into_iter()
        .filter_map(|r| match r {
            OpReply::Random { len, key: Some(k) } => Some((len, k)),
            _ => None,
        })
        .collect();
    let total: usize = candidates.iter().map(|(len, _)| len).sum();
    if total == 0 {
        return out.null();
    }
    // Pick a shard with probability proportional to its size: a uniform key overall.
    let mut pick = rand::thread_rng().gen_range(0..total);
    for (len, key) in &candidates {
        if pick < *len {
            return out.bulk(key);
        }
        pick -= len;
    }
    out.bulk(&candidates[candidates.len() - 1].1);
}
