//! A shard's side of its journal: every change to the shard's keyspace, as effect
//! records framed and numbered, waiting for the server to write them to the file.
//!
//! ```text
//!  Shard::run / Shard::apply ──► EffectLog::push(effect)
//!        ├─ no transaction: record at last_lsn + 1 ──► buf ──► (server) file
//!        └─ transaction holds the shard: effect kept in the part until commit
//!               commit: one TxPart record naming every participant's LSN
//!               end without commit: each effect as its own record
//! ```
//!
//! While a multi-shard transaction holds the shard nothing else appends, so the
//! LSN its part will take, `last_lsn + 1`, is fixed from the moment the shard is
//! locked: the coordinator collects those LSNs and names them in every part, which
//! is what recovery checks to apply a transaction all or nothing.

use crate::journal::{
    encode_effect_record, encode_record, encode_tx_part_record, Effect, Participant,
};

/// Effects of the transaction holding the shard, encoded back to back.
#[derive(Debug, Default)]
struct TxEffects {
    bytes: Vec<u8>,
    /// Where each effect ends in `bytes`.
    ends: Vec<usize>,
}

#[derive(Debug, Default)]
pub struct EffectLog {
    enabled: bool,
    /// Framed records the server has not taken yet.
    buf: Vec<u8>,
    /// LSN of the last record appended ([`LSN_NONE`](crate::journal::LSN_NONE)
    /// before the first).
    last_lsn: u64,
    tx: Option<TxEffects>,
}

impl EffectLog {
    /// Starts recording; the next record takes `last_lsn + 1`.
    pub fn enable(&mut self, last_lsn: u64) {
        self.enabled = true;
        self.last_lsn = last_lsn;
    }

    /// Stops recording and drops what was not taken.
    pub fn disable(&mut self) {
        self.enabled = false;
        self.buf = Vec::new();
        self.tx = None;
    }

    /// Stops recording the shard's own changes (a replica follows its master's
    /// records instead); records not taken yet stay, to be written.
    pub fn follow(&mut self) {
        self.enabled = false;
        self.tx = None;
    }

    /// Appends records framed elsewhere (a replica's copy of its master's
    /// records, LSNs included) whose last LSN is `last_lsn`.
    pub fn append_records(&mut self, records: &[u8], last_lsn: u64) {
        debug_assert!(self.tx.is_none() && last_lsn >= self.last_lsn);
        self.buf.extend_from_slice(records);
        self.last_lsn = last_lsn;
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn last_lsn(&self) -> u64 {
        self.last_lsn
    }

    /// Moves the last LSN on without records (a replica adopting its master's
    /// numbering, or a snapshot loaded at a later LSN).
    pub fn set_last_lsn(&mut self, lsn: u64) {
        debug_assert!(self.buf.is_empty() && self.tx.is_none());
        self.last_lsn = lsn;
    }

    /// Bytes of records waiting to be taken.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Takes the waiting records.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Takes the waiting records and records the next ones into `spare` (a buffer
    /// an earlier take gave back): a turn's records then grow no fresh buffer, one
    /// reallocation at a time.
    pub fn take_into(&mut self, mut spare: Vec<u8>) -> Vec<u8> {
        spare.clear();
        std::mem::replace(&mut self.buf, spare)
    }

    /// Records one effect.
    pub fn push(&mut self, effect: &Effect) {
        if !self.enabled {
            return;
        }
        match &mut self.tx {
            Some(tx) => {
                effect.encode(&mut tx.bytes);
                tx.ends.push(tx.bytes.len());
            }
            None => {
                self.last_lsn += 1;
                encode_effect_record(self.last_lsn, effect, &mut self.buf);
            }
        }
    }

    /// A transaction took the shard: its effects wait for [`EffectLog::commit_tx`]
    /// or [`EffectLog::end_tx`].
    pub fn begin_tx(&mut self) {
        if self.enabled && self.tx.is_none() {
            self.tx = Some(TxEffects::default());
        }
    }

    /// Whether the transaction holding the shard changed anything here.
    pub fn tx_has_effects(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| !tx.ends.is_empty())
    }

    /// Writes the transaction's effects on this shard as one part naming every
    /// participant (this shard among them, at `last_lsn + 1`). Returns its LSN.
    pub fn commit_tx(&mut self, tx_id: u64, participants: &[Participant]) -> u64 {
        let Some(tx) = self.tx.take() else {
            return self.last_lsn;
        };
        if tx.ends.is_empty() {
            return self.last_lsn;
        }
        self.last_lsn += 1;
        encode_tx_part_record(
            self.last_lsn,
            tx_id,
            participants,
            tx.ends.len(),
            &tx.bytes,
            &mut self.buf,
        );
        self.last_lsn
    }

    /// Ends the transaction without a part: whatever it changed here (only this
    /// shard changed) is written as ordinary records.
    pub fn end_tx(&mut self) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        let mut start = 0;
        for end in tx.ends {
            self.last_lsn += 1;
            encode_record(self.last_lsn, &tx.bytes[start..end], &mut self.buf);
            start = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{scan, End};

    fn del(key: &[u8]) -> Effect<'_> {
        Effect::Del { db: 0, key }
    }

    /// The next records go into the spare buffer, emptied: only they are in it, in
    /// the memory it already had.
    #[test]
    fn records_taken_into_a_spare_start_it_afresh() {
        let mut log = EffectLog::default();
        log.enable(0);
        log.push(&del(b"a"));
        let mut spare = vec![0xAB; 100];
        spare.reserve(4096);
        let capacity = spare.capacity();
        let first = log.take_into(spare);
        assert_eq!(scan(&first).records.len(), 1);
        log.push(&del(b"b"));
        let second = log.take();
        assert_eq!(second.capacity(), capacity);
        let s = scan(&second);
        assert_eq!(s.end, End::Clean);
        assert_eq!(s.records.iter().map(|r| r.lsn).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn records_are_numbered_from_the_given_lsn() {
        let mut log = EffectLog::default();
        log.push(&del(b"ignored"));
        assert_eq!(log.pending_bytes(), 0);
        log.enable(41);
        log.push(&del(b"a"));
        log.push(&del(b"b"));
        let buf = log.take();
        let s = scan(&buf);
        assert_eq!(s.end, End::Clean);
        assert_eq!(
            s.records.iter().map(|r| r.lsn).collect::<Vec<_>>(),
            [42, 43]
        );
        assert_eq!(log.last_lsn(), 43);
        assert_eq!(log.pending_bytes(), 0);
    }

    #[test]
    fn a_committed_transaction_is_one_part_at_the_reserved_lsn() {
        let mut log = EffectLog::default();
        log.enable(9);
        log.begin_tx();
        assert!(!log.tx_has_effects());
        log.push(&del(b"a"));
        log.push(&del(b"b"));
        assert!(log.tx_has_effects());
        assert_eq!(log.pending_bytes(), 0);
        let parts = [
            Participant { shard: 0, lsn: 10 },
            Participant { shard: 3, lsn: 77 },
        ];
        assert_eq!(log.commit_tx(5, &parts), 10);
        let buf = log.take();
        let s = scan(&buf);
        assert_eq!(s.records.len(), 1);
        let effect = Effect::decode(&buf[s.records[0].payload.clone()]).unwrap();
        assert_eq!(
            effect,
            Effect::TxPart {
                tx_id: 5,
                participants: parts.to_vec(),
                effects: vec![del(b"a"), del(b"b")],
            }
        );
    }

    #[test]
    fn a_transaction_ended_without_commit_writes_plain_records() {
        let mut log = EffectLog::default();
        log.enable(0);
        log.begin_tx();
        log.push(&del(b"a"));
        log.push(&del(b"b"));
        log.end_tx();
        let buf = log.take();
        let s = scan(&buf);
        let effects: Vec<_> = s
            .records
            .iter()
            .map(|r| Effect::decode(&buf[r.payload.clone()]).unwrap())
            .collect();
        assert_eq!(effects, [del(b"a"), del(b"b")]);
        assert_eq!(log.last_lsn(), 2);
    }

    /// Random commands of every write family (and reads that expire keys lazily)
    /// run on a journaling shard; replaying its records on a fresh shard must give
    /// the same live keyspace after every step. This is what catches a handler that
    /// changes data without counting it as a change (and so is not journaled).
    ///
    /// Meanwhile snapshots are taken a few chunks per step: each loaded image must
    /// equal the keyspace when it started, which checks that every write reaches
    /// the snapshot's copy-on-write hook first.
    #[test]
    fn replaying_what_commands_journaled_reproduces_the_keyspace() {
        use crate::harness::TestShard;
        use crate::keyspace::{Entry, SnapshotProgress};
        use crate::replay::apply_effect;
        use crate::shard::Shard;
        use bytes::Bytes;
        use rand::rngs::SmallRng;
        use rand::{Rng, SeedableRng};
        use std::collections::BTreeMap;

        fn view(shard: &Shard, now_ms: u64) -> BTreeMap<(usize, Bytes), Entry> {
            let mut view = BTreeMap::new();
            for (i, db) in shard.keyspace().dbs().iter().enumerate() {
                db.for_each_live(now_ms, |k, e| {
                    view.insert((i, Bytes::copy_from_slice(k)), e.to_entry());
                });
            }
            view
        }

        // Append, SetRange, and Rename or Copy effects seen over all seeds.
        let mut deltas = (0, 0, 0);
        for seed in 0..40 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut live = TestShard::default();
            live.shard.log_mut().enable(0);
            let mut replica = Shard::new(0, 1);
            let keys = [
                "a", "b", "c", "{a}d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
            ];
            let big = &"0123456789".repeat(8);
            let mut image = Vec::new();
            let mut image_start = BTreeMap::new();
            let mut snapshots = 0;
            for step in 0..600 {
                let ks = live.shard.keyspace_mut();
                if ks.snapshots_in_progress() == 0 && !image.is_empty() {
                    // Abandoned by FLUSH or SWAPDB.
                    image.clear();
                }
                if ks.snapshots_in_progress() == 0 && rng.gen_bool(0.1) {
                    image = ks.start_snapshot(1, 0, 1, 1, 0);
                    image_start = view(&live.shard, live.now_ms);
                }
                let ks = live.shard.keyspace_mut();
                if ks.snapshots_in_progress() > 0 {
                    if let Some(SnapshotProgress::Done { .. }) =
                        ks.snapshot_chunk(1, live.now_ms, 48, &mut image)
                    {
                        let mut loaded = Shard::new(0, 3);
                        loaded
                            .keyspace_mut()
                            .load_snapshot(&image)
                            .expect("image loads");
                        assert_eq!(
                            view(&loaded, live.now_ms),
                            image_start
                                .iter()
                                .filter(|(_, e)| !e.expired(live.now_ms))
                                .map(|(k, e)| (k.clone(), e.clone()))
                                .collect(),
                            "seed {seed} step {step}: snapshot image"
                        );
                        image.clear();
                        snapshots += 1;
                    }
                }
                let k = keys[rng.gen_range(0..keys.len())];
                let k2 = keys[rng.gen_range(0..keys.len())];
                let n = rng.gen_range(-2..30).to_string();
                let db = rng.gen_range(0..3).to_string();
                let bit = rng.gen_range(0..40).to_string();
                let big_bit = rng.gen_range(0..1200).to_string();
                let big_at = rng.gen_range(0..150).to_string();
                let cmd: Vec<&str> = match rng.gen_range(0..40) {
                    0 => vec!["SET", k, &n],
                    1 => vec!["SET", k, "v", "PX", &n],
                    2 => vec!["SET", k, "w", "KEEPTTL", "XX"],
                    3 => vec!["SET", k, "x", "NX", "GET"],
                    4 => vec!["SETNX", k, &n],
                    5 => vec!["SETEX", k, "1", &n],
                    6 => vec!["PSETEX", k, "20", &n],
                    7 => vec!["GETSET", k, &n],
                    8 => vec!["APPEND", k, &n],
                    9 => vec!["SETRANGE", k, "3", &n],
                    10 => vec!["INCR", k],
                    11 => vec!["DECRBY", k, &n],
                    12 => vec!["INCRBYFLOAT", k, "0.1"],
                    13 => vec!["MSET", k, &n, k2, "m"],
                    14 => vec!["MSETNX", k, &n, k2, "m"],
                    15 => vec!["GETDEL", k],
                    16 => vec!["GETEX", k, "PX", "15"],
                    17 => vec!["GETEX", k, "PERSIST"],
                    18 => vec!["DEL", k, k2],
                    19 => vec!["UNLINK", k],
                    20 => vec!["RENAME", k, k2],
                    21 => vec!["RENAMENX", k, k2],
                    22 => vec!["COPY", k, k2, "DB", &db, "REPLACE"],
                    23 => vec!["EXPIRE", k, &n],
                    24 => vec!["PEXPIRE", k, &n],
                    25 => vec!["PEXPIREAT", k, "1700000000010"],
                    26 => vec!["PERSIST", k],
                    27 => vec!["MOVE", k, &db],
                    28 => vec!["SETBIT", k, &bit, "1"],
                    29 => vec!["BITOP", "OR", k, k2, "c"],
                    30 => vec!["GET", k],
                    31 => vec!["SELECT-DB", &db],
                    32 => vec!["FLUSH-OR-SWAP", &db],
                    // Values past EFFECT_WHOLE_VALUE_BYTES_MAX, changed in place: deltas.
                    33 | 34 => vec!["SET", k, big, "KEEPTTL"],
                    35 => vec!["APPEND", k, big],
                    36 => vec!["SETRANGE", k, &big_at, &n],
                    37 => vec!["SETBIT", k, &big_bit, if step % 2 == 0 { "1" } else { "0" }],
                    38 => vec!["INCRBY", k, &n],
                    _ => vec!["TICK", &n],
                };
                match cmd[0] {
                    "SELECT-DB" => live.db = cmd[1].parse().unwrap(),
                    "TICK" => {
                        live.advance_ms(rng.gen_range(0..8));
                        live.shard.active_expire(live.now_ms);
                    }
                    "FLUSH-OR-SWAP" => {
                        let selected = live.db.to_string();
                        let reply = match rng.gen_range(0..10) {
                            0 => live.run(&["FLUSHALL"]),
                            1..=3 => live.run_in(cmd[1].parse().unwrap(), &["FLUSHDB"]),
                            _ => live.run(&["SWAPDB", &selected, cmd[1]]),
                        };
                        assert_eq!(reply, "OK");
                    }
                    _ => {
                        live.run_raw(&cmd);
                    }
                }
                let buf = live.shard.log_mut().take();
                for r in scan(&buf).records {
                    let effect = Effect::decode(&buf[r.payload]).expect("decodes");
                    match effect {
                        Effect::Append { .. } => deltas.0 += 1,
                        Effect::SetRange { .. } => deltas.1 += 1,
                        Effect::Rename { .. } | Effect::Copy { .. } => deltas.2 += 1,
                        _ => {}
                    }
                    apply_effect(&mut replica, effect);
                }
                assert_eq!(
                    view(&replica, live.now_ms),
                    view(&live.shard, live.now_ms),
                    "seed {seed} step {step} after {cmd:?}"
                );
            }
            assert!(snapshots > 3, "seed {seed}: only {snapshots} snapshots");
        }
        assert!(
            deltas.0 > 100 && deltas.1 > 100 && deltas.2 > 100,
            "deltas journaled: {deltas:?}"
        );
    }

    fn effects_of(buf: &[u8]) -> Vec<Effect<'_>> {
        let s = scan(buf);
        assert_eq!(s.end, End::Clean);
        s.records
            .iter()
            .map(|r| Effect::decode(&buf[r.payload.clone()]).expect("decodes"))
            .collect()
    }

    /// What waits to be taken is counted byte for byte: the server writes the
    /// journal only when there is some.
    #[test]
    fn pending_bytes_are_what_take_hands_over() {
        let mut log = EffectLog::default();
        log.enable(0);
        assert!(log.enabled());
        log.push(&del(b"a"));
        log.push(&del(b"bc"));
        let pending = log.pending_bytes();
        let buf = log.take();
        assert_eq!(pending, buf.len());
        assert_eq!(effects_of(&buf), [del(b"a"), del(b"bc")]);
    }

    /// Disabling drops the records not taken and the transaction in progress, and
    /// records nothing more.
    #[test]
    fn a_disabled_log_drops_what_it_held() {
        let mut log = EffectLog::default();
        log.enable(0);
        log.push(&del(b"a"));
        log.begin_tx();
        log.push(&del(b"b"));
        log.disable();
        assert!(!log.enabled());
        assert_eq!(log.pending_bytes(), 0);
        assert!(!log.tx_has_effects());
        log.push(&del(b"c"));
        assert!(log.take().is_empty());
    }

    /// A replica following its master keeps its own records not taken yet, drops
    /// the transaction in progress, journals none of its own changes, and appends
    /// its master's records with their LSNs; it then numbers on from the master's.
    #[test]
    fn a_follower_appends_its_masters_records_only() {
        let mut log = EffectLog::default();
        log.enable(0);
        log.push(&del(b"own"));
        log.begin_tx();
        log.push(&del(b"in the transaction"));
        log.follow();
        assert!(!log.enabled());
        assert!(!log.tx_has_effects());
        log.push(&del(b"ignored"));
        let mut master = Vec::new();
        encode_effect_record(2, &del(b"m1"), &mut master);
        encode_effect_record(3, &del(b"m2"), &mut master);
        log.append_records(&master, 3);
        assert_eq!(log.last_lsn(), 3);
        let buf = log.take();
        assert_eq!(effects_of(&buf), [del(b"own"), del(b"m1"), del(b"m2")]);
        log.set_last_lsn(10);
        assert_eq!(log.last_lsn(), 10);
    }

    /// Only an enabled log without a transaction starts one: a second
    /// `begin_tx` keeps what the first collected, and a disabled log starts none
    /// (it would hold the records once enabled).
    #[test]
    fn a_transaction_begins_once_and_only_when_enabled() {
        let mut log = EffectLog::default();
        log.begin_tx();
        log.enable(0);
        log.push(&del(b"plain"));
        assert_eq!(log.last_lsn(), 1);
        log.begin_tx();
        log.push(&del(b"a"));
        log.begin_tx();
        log.push(&del(b"b"));
        let parts = [Participant { shard: 0, lsn: 2 }];
        assert_eq!(log.commit_tx(7, &parts), 2);
        let buf = log.take();
        let tx = Effect::TxPart {
            tx_id: 7,
            participants: parts.to_vec(),
            effects: vec![del(b"a"), del(b"b")],
        };
        assert_eq!(effects_of(&buf), [del(b"plain"), tx]);
    }
}
