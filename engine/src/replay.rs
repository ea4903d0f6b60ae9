//! Redoing journaled effects on a shard: what recovery does with a journal and a
//! replica with its master's stream. Every effect goes through the keyspace's door
//! ([`Keyspace`]), so snapshot copy-on-write, the change listener and (where the
//! journal is on) journaling happen exactly as for the command that made it; only
//! the dirty counter is left alone, since the change was counted where it was made.
//!
//! ```text
//!  journal / stream ──► Effect::decode ──► apply_effect ──► Keyspace (the door)
//! ```
//!
//! Deterministic: no clock and no randomness. Deadlines are absolute, so a key that
//! has died since it was written is dead on the replayed shard too, with no effect
//! needed for its expiry. Lookups here run at [`REPLAY_NOW_MS`], a time at which no
//! key has expired, so replay itself never expires a key: expiries come as `DEL`
//! effects of their own.

use crate::collections::ListLimits;
use crate::journal::list::ListOp;
use crate::journal::{Effect, ZsetDelta};
use crate::keyspace::{Keyspace, NO_EXPIRE};
use crate::shard::{CollectionLimits, Shard};
use crate::value::Value;

/// The time replay looks keys up at: before every deadline, so nothing expires.
const REPLAY_NOW_MS: u64 = 0;

/// Redoes `effect` on `shard`'s keyspace. A `TxPart`'s effects are applied
/// unconditionally: whether a transaction's part may be applied at all is
/// recovery's decision, made above this. Takes the effect by value so a decoded
/// value moves into the keyspace without another copy.
pub fn apply_effect(shard: &mut Shard, effect: Effect<'_>) {
    let limits = shard.limits();
    shard
        .keyspace_mut()
        .replaying(|ks| apply(ks, &limits, effect));
}

fn apply(ks: &mut Keyspace, limits: &CollectionLimits, effect: Effect<'_>) {
    let now = REPLAY_NOW_MS;
    match effect {
        Effect::Set {
            db,
            key,
            value,
            expire_at_ms,
        } => ks.add(db, key, value.into_owned(), expire_at_ms),
        Effect::Del { db, key } => {
            ks.remove(db, key, now);
        }
        Effect::ExpireAt { db, key, at_ms } => {
            ks.set_expire(db, key, at_ms, now);
        }
        Effect::Persist { db, key } => {
            ks.set_expire(db, key, NO_EXPIRE, now);
        }
        Effect::FlushDb { db } => ks.flush_db(db),
        Effect::FlushAll => ks.flush_all(),
        Effect::SwapDb { a, b } => ks.swap_db(a, b),
        Effect::Move {
            from_db,
            to_db,
            key,
        } => {
            // The key the live shard found absent there may be one that had expired
            // on its clock: replay has none, so it replaces.
            ks.remove(to_db, key, now);
            ks.move_key(from_db, to_db, key, now);
        }
        Effect::Rename { db, src, dst } => {
            ks.rename(db, src, dst, now);
        }
        Effect::Copy {
            src_db,
            src,
            dst_db,
            dst,
        } => {
            ks.copy(src_db, src, dst_db, dst, now);
        }
        Effect::Append { db, key, bytes } => {
            if let Some(mut entry) = ks.find_mut(db, key, now) {
                entry.append(bytes);
            }
        }
        Effect::SetRange {
            db,
            key,
            offset,
            bytes,
        } => {
            if let Some(mut entry) = ks.find_mut(db, key, now) {
                let offset = usize::try_from(offset).expect("bounded by DELTA_END_BYTES_MAX");
                entry.write_at(offset, bytes);
            }
        }
        effect @ (Effect::HSet { .. }
        | Effect::HDel { .. }
        | Effect::SAdd { .. }
        | Effect::SRem { .. }) => apply_hash_set(ks, limits, effect),
        Effect::Zset(delta) => apply_zset(ks, limits, delta),
        Effect::List(l) => apply_list(ks, &limits.list, l.db, l.key, l.op),
        Effect::TxPart { effects, .. } => {
            for effect in effects {
                apply(ks, limits, effect);
            }
        }
        Effect::Nop { .. } => {}
    }
}

/// A hash or set delta, on the collection at its key (nothing when it holds another
/// type or nothing); one emptied by it is deleted, as the command did.
fn apply_hash_set(ks: &mut Keyspace, limits: &CollectionLimits, effect: Effect<'_>) {
    let now = REPLAY_NOW_MS;
    match effect {
        Effect::HSet { db, key, pairs } => {
            if let Some(mut entry) = ks.find_mut(db, key, now) {
                if matches!(entry.entry().value, Value::Hash(_)) {
                    for (field, value) in pairs {
                        entry.hash_set(field, value, &limits.hash);
                    }
                }
            }
        }
        Effect::HDel { db, key, fields } => {
            if let Some(mut entry) = ks.find_mut(db, key, now) {
                if matches!(entry.entry().value, Value::Hash(_)) {
                    for field in fields {
                        entry.hash_remove(field);
                    }
                }
            }
            ks.remove_if_empty(db, key);
        }
        Effect::SAdd { db, key, members } => {
            if let Some(mut entry) = ks.find_mut(db, key, now) {
                if matches!(entry.entry().value, Value::Set(_)) {
                    for member in members {
                        entry.set_add(member, &limits.set);
                    }
                }
            }
        }
        Effect::SRem { db, key, members } => {
            if let Some(mut entry) = ks.find_mut(db, key, now) {
                if matches!(entry.entry().value, Value::Set(_)) {
                    for member in members {
                        entry.set_remove(member);
                    }
                }
            }
            ks.remove_if_empty(db, key);
        }
        _ => unreachable!("only hash and set deltas come here"),
    }
}

/// A sorted-set delta, on the sorted set at its key (nothing when it holds another
/// type or nothing).
fn apply_zset(ks: &mut Keyspace, limits: &CollectionLimits, delta: ZsetDelta<'_>) {
    let now = REPLAY_NOW_MS;
    match delta {
        ZsetDelta::Add { db, key, entries } => {
            if let Some(mut entry) = ks.find_mut(db, key, now) {
                if matches!(entry.entry().value, Value::Zset(_)) {
                    for (score, member) in entries {
                        entry.zset_insert(member, score, &limits.zset);
                    }
                }
            }
        }
        ZsetDelta::Rem { db, key, members } => {
            if let Some(mut entry) = ks.find_mut(db, key, now) {
                if matches!(entry.entry().value, Value::Zset(_)) {
                    for member in members {
                        entry.zset_remove(member);
                    }
                }
            }
            ks.remove_if_empty(db, key);
        }
    }
}

/// Redoes a list change; a list emptied by it is deleted, as the command did.
fn apply_list(ks: &mut Keyspace, limits: &ListLimits, db: usize, key: &[u8], op: ListOp<'_>) {
    if let Some(mut entry) = ks.find_mut(db, key, REPLAY_NOW_MS) {
        if matches!(entry.entry().value, Value::List(_)) {
            entry.list_apply(op, limits);
        }
    }
    ks.remove_if_empty(db, key);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::TestShard;
    use crate::journal::{encode_effect_record, scan, End, Participant};
    use crate::keyspace::Entry;
    use crate::value::Value;
    use bytes::Bytes;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    fn str_value(s: &[u8]) -> Cow<'static, Value> {
        Cow::Owned(Value::Str(s.to_vec().into()))
    }

    fn parts(list: &[(u16, u64)]) -> Vec<Participant> {
        list.iter()
            .map(|&(shard, lsn)| Participant { shard, lsn })
            .collect()
    }

    /// A shard's live keys at `now_ms`, database by database.
    fn live_view(shard: &Shard, now_ms: u64) -> BTreeMap<(usize, Bytes), Entry> {
        let mut view = BTreeMap::new();
        for (i, db) in shard.keyspace().dbs().iter().enumerate() {
            db.for_each_live(now_ms, |k, e| {
                view.insert((i, Bytes::copy_from_slice(k)), e.to_entry());
            });
        }
        view
    }

    /// Runs commands on a harness shard and, after each, replays the effect it
    /// should have journaled onto a second shard through encode, frame, scan and
    /// decode; the two must agree on every live key after every step. At the end the
    /// whole journal is replayed onto a fresh shard, as recovery would.
    struct Replay {
        live: TestShard,
        replica: Shard,
        journal: Vec<u8>,
        lsn: u64,
    }

    impl Replay {
        fn new() -> Self {
            Replay {
                live: TestShard::default(),
                replica: Shard::new(0, 1),
                journal: Vec::new(),
                lsn: 1,
            }
        }

        /// Runs `args`, checks its reply, then journals and replays `effects`.
        fn step(&mut self, args: &[&str], reply: &str, effects: &[Effect]) {
            assert_eq!(self.live.run(args), reply, "{args:?}");
            self.journal_and_replay(effects);
        }

        fn journal_and_replay(&mut self, effects: &[Effect]) {
            for effect in effects {
                let at = self.journal.len();
                encode_effect_record(self.lsn, effect, &mut self.journal);
                self.lsn += 1;
                let scan = scan(&self.journal[at..]);
                assert_eq!(scan.end, End::Clean);
                let record = &self.journal[at..][scan.records[0].payload.clone()];
                let decoded = Effect::decode(record).expect("decodes");
                assert_eq!(&decoded, effect);
                apply_effect(&mut self.replica, decoded);
            }
            self.check(&self.replica);
        }

        fn check(&self, replica: &Shard) {
            let now = self.live.now_ms;
            assert_eq!(live_view(replica, now), live_view(&self.live.shard, now));
        }

        fn recover(&self) {
            let scan = scan(&self.journal);
            assert_eq!(scan.end, End::Clean);
            let mut fresh = Shard::new(0, 2);
            for r in &scan.records {
                let effect = Effect::decode(&self.journal[r.payload.clone()]).expect("decodes");
                apply_effect(&mut fresh, effect);
            }
            self.check(&fresh);
        }
    }

    #[test]
    fn replaying_effects_reproduces_what_the_commands_did() {
        let mut r = Replay::new();
        let t0 = r.live.now_ms;
        let set = |db, key, value: &'static [u8], expire_at_ms| Effect::Set {
            db,
            key,
            value: str_value(value),
            expire_at_ms,
        };
        r.step(&["SET", "a", "1"], "OK", &[set(0, b"a", b"1", NO_EXPIRE)]);
        r.step(
            &["SET", "b", "2", "PX", "5000"],
            "OK",
            &[set(0, b"b", b"2", t0 + 5000)],
        );
        r.step(
            &["SET", "c", "3", "EX", "100"],
            "OK",
            &[set(0, b"c", b"3", t0 + 100_000)],
        );
        r.step(&["DEL", "a"], "1", &[Effect::Del { db: 0, key: b"a" }]);
        r.step(&["DEL", "a"], "0", &[]);
        let c_at = t0 + 10_000;
        r.step(
            &["EXPIRE", "c", "10"],
            "1",
            &[Effect::ExpireAt {
                db: 0,
                key: b"c",
                at_ms: c_at,
            }],
        );
        r.step(
            &["PERSIST", "b"],
            "1",
            &[Effect::Persist { db: 0, key: b"b" }],
        );
        r.step(
            &["MOVE", "b", "3"],
            "1",
            &[Effect::Move {
                from_db: 0,
                to_db: 3,
                key: b"b",
            }],
        );
        r.live.db = 3;
        r.step(
            &["SET", "d", "4", "PX", "20"],
            "OK",
            &[set(3, b"d", b"4", t0 + 20)],
        );
        r.live.db = 0;
        r.live.run(&["SWAPDB", "0", "3"]);
        r.journal_and_replay(&[Effect::SwapDb { a: 0, b: 3 }]);
        // `d` dies of old age on both sides without an effect: its deadline came along.
        r.live.advance_ms(30);
        r.step(&["GET", "d"], "(nil)", &[]);
        r.step(
            &["PEXPIRE", "b", "-1"],
            "1",
            &[Effect::Del { db: 0, key: b"b" }],
        );
        r.live.db = 5;
        r.step(&["SET", "e", "5"], "OK", &[set(5, b"e", b"5", NO_EXPIRE)]);
        r.live.db = 0;
        r.live.run_in(5, &["FLUSHDB"]);
        r.journal_and_replay(&[Effect::FlushDb { db: 5 }]);
        // A multi-shard MSET's part on this shard.
        r.live.run(&["MSET", "x", "7"]);
        r.journal_and_replay(&[Effect::TxPart {
            tx_id: 1,
            participants: parts(&[(0, 5), (3, 2)]),
            effects: vec![set(0, b"x", b"7", NO_EXPIRE)],
        }]);
        r.recover();
        r.live.run(&["FLUSHALL"]);
        r.journal_and_replay(&[Effect::FlushAll]);
        r.recover();
    }

    #[test]
    fn replaying_effects_of_random_commands_reproduces_the_keyspace() {
        let mut rng = SmallRng::seed_from_u64(9);
        let mut r = Replay::new();
        let keys: [&'static [u8]; 6] = [b"k0", b"k1", b"k2", b"k3", b"k4", b"k5"];
        let values: [&'static [u8]; 3] = [b"", b"v", b"value"];
        // A command that answered 1 did its change, and journals `effect`.
        let if_done = |reply: String, effect| if reply == "1" { vec![effect] } else { vec![] };
        for _ in 0..3000 {
            let db = rng.gen_range(0..3);
            r.live.db = db;
            let key = keys[rng.gen_range(0..keys.len())];
            let k = std::str::from_utf8(key).expect("ascii");
            let now = r.live.now_ms;
            let effects = match rng.gen_range(0..10) {
                0 | 1 => {
                    let value = values[rng.gen_range(0..values.len())];
                    let v = std::str::from_utf8(value).expect("ascii");
                    let ttl_ms = rng.gen_range(0..3000u64);
                    let ttl = ttl_ms.to_string();
                    let mut args = vec!["SET", k, v];
                    let mut expire_at_ms = NO_EXPIRE;
                    if ttl_ms > 0 {
                        args.extend(["PX", &ttl]);
                        expire_at_ms = now + ttl_ms;
                    }
                    assert_eq!(r.live.run(&args), "OK");
                    let value = str_value(value);
                    vec![Effect::Set {
                        db,
                        key,
                        value,
                        expire_at_ms,
                    }]
                }
                2 => if_done(r.live.run(&["DEL", k]), Effect::Del { db, key }),
                3 => {
                    let ttl_ms: i64 = rng.gen_range(-100..3000);
                    let reply = r.live.run(&["PEXPIRE", k, &ttl_ms.to_string()]);
                    let effect = match u64::try_from(ttl_ms) {
                        Ok(ttl_ms) if ttl_ms > 0 => Effect::ExpireAt {
                            db,
                            key,
                            at_ms: now + ttl_ms,
                        },
                        _ => Effect::Del { db, key },
                    };
                    if_done(reply, effect)
                }
                4 => if_done(r.live.run(&["PERSIST", k]), Effect::Persist { db, key }),
                5 => {
                    let to_db = (db + rng.gen_range(1..3)) % 3;
                    let reply = r.live.run(&["MOVE", k, &to_db.to_string()]);
                    let effect = Effect::Move {
                        from_db: db,
                        to_db,
                        key,
                    };
                    if_done(reply, effect)
                }
                6 => {
                    let (a, b) = (rng.gen_range(0..3), rng.gen_range(0..3));
                    r.live.run(&["SWAPDB", &a.to_string(), &b.to_string()]);
                    vec![Effect::SwapDb { a, b }]
                }
                7 if rng.gen_bool(0.1) => {
                    r.live.run_in(db, &["FLUSHDB"]);
                    vec![Effect::FlushDb { db }]
                }
                8 => {
                    r.live.run(&["GET", k]);
                    vec![]
                }
                _ => {
                    r.live.advance_ms(rng.gen_range(0..500));
                    vec![]
                }
            };
            r.journal_and_replay(&effects);
        }
        assert!(r.lsn > 1000, "{} effects journaled", r.lsn - 1);
        r.recover();
    }

    /// In-place changes to a large string journal the bytes that changed, not the
    /// value; replaying them gives the same value.
    #[test]
    fn in_place_changes_to_a_large_string_journal_deltas() {
        const VALUE_BYTES: usize = 10 * 1024 * 1024;
        const JOURNAL_BYTES_MAX: usize = 100;
        let mut live = TestShard::default();
        live.shard.log_mut().enable(0);
        let mut replica = Shard::new(0, 1);
        let big = "v".repeat(VALUE_BYTES);
        let steps: [(&[&str], &str); 4] = [
            (&["SET", "k", &big, "PX", "100000"], "OK"),
            (&["APPEND", "k", "0123456789"], "10485770"),
            (&["SETRANGE", "k", "5000000", "0123456789"], "10485770"),
            (&["SETBIT", "k", "8000", "1"], "0"),
        ];
        for (i, (args, reply)) in steps.into_iter().enumerate() {
            assert_eq!(live.run(args), reply);
            let journal = live.shard.log_mut().take();
            if i > 0 {
                assert!(
                    journal.len() < JOURNAL_BYTES_MAX,
                    "{} journaled {} bytes",
                    args[0],
                    journal.len()
                );
            }
            for r in scan(&journal).records {
                apply_effect(&mut replica, Effect::decode(&journal[r.payload]).unwrap());
            }
        }
        let now = live.now_ms;
        assert!(live_view(&replica, now) == live_view(&live.shard, now));
    }

    /// Journal bytes of one `HSET` of an existing field on a hash of `fields` fields.
    fn hset_journal_bytes(fields: usize) -> usize {
        let mut s = TestShard::default();
        let args: Vec<String> = (0..fields)
            .flat_map(|i| [format!("f{i}"), "v".into()])
            .collect();
        for chunk in args.chunks(2000) {
            let mut cmd = vec!["HSET", "h"];
            cmd.extend(chunk.iter().map(String::as_str));
            s.run(&cmd);
        }
        s.shard.log_mut().enable(0);
        s.run(&["HSET", "h", "f0", "changed"]);
        s.shard.log_mut().take().len()
    }

    /// `RENAME` and `COPY` of a 10 MB string journal the keys, not the value, and
    /// replaying the journal gives the same keys.
    #[test]
    fn rename_and_copy_of_a_large_value_journal_the_keys_only() {
        let mut r = Replay::new();
        r.live.shard.log_mut().enable(0);
        let big = "v".repeat(10 << 20);
        r.live.run(&["SET", "src", &big, "PX", "100000"]);
        let set = r.live.shard.log_mut().take();
        r.journal.extend_from_slice(&set);
        for (cmd, reply) in [
            (&["RENAME", "src", "dst"][..], "OK"),
            (&["COPY", "dst", "other", "DB", "3"], "1"),
            (&["COPY", "dst", "src"], "1"),
        ] {
            assert_eq!(r.live.run(cmd), reply);
            let journaled = r.live.shard.log_mut().take();
            assert!(journaled.len() < 100, "{cmd:?}: {} bytes", journaled.len());
            r.journal.extend_from_slice(&journaled);
        }
        r.recover();
    }

    #[test]
    fn hset_on_a_huge_hash_journals_the_field_only() {
        let small = hset_journal_bytes(1);
        let huge = hset_journal_bytes(100_000);
        assert!(huge <= 2 * small, "{huge} bytes vs {small}");
    }

    #[test]
    fn replaying_a_random_hash_and_set_workload_reproduces_it() {
        let mut live = TestShard::default();
        live.shard.log_mut().enable(0);
        let mut fresh = Shard::new(0, 2);
        let mut rng = SmallRng::seed_from_u64(11);
        let mut largest = 0;
        for step in 0..3000 {
            let op = rng.gen_range(0..12);
            let kind = if (4..10).contains(&op) { "s" } else { "h" };
            let key = format!("{kind}{}", rng.gen_range(0..3));
            let m = format!("{}", rng.gen_range(0..40));
            let big = "x".repeat(rng.gen_range(0..80));
            let cmd: Vec<&str> = match op {
                0 => vec!["HSET", &key, &m, &big],
                1 => vec!["HDEL", &key, &m],
                2 => vec!["HINCRBY", &key, &m, "3"],
                3 => vec!["HINCRBYFLOAT", &key, &m, "0.5"],
                4 => vec!["SADD", &key, &m],
                5 => vec!["SADD", &key, &big],
                6 => vec!["SREM", &key, &m],
                7 => vec!["SPOP", &key, "3"],
                8 => vec!["SUNIONSTORE", &key, "s1", "s2"],
                9 => vec!["SMOVE", &key, "s0", &m],
                10 => vec!["HSETNX", &key, &m, "1"],
                _ => vec!["DEL", &key],
            };
            live.run(&cmd);
            // Replayed after every command, so a delta that is wrong or missing shows
            // at once instead of being hidden by a later whole-value write.
            let journal = live.shard.log_mut().take();
            let scan = scan(&journal);
            assert_eq!(scan.end, End::Clean);
            for r in &scan.records {
                apply_effect(
                    &mut fresh,
                    Effect::decode(&journal[r.payload.clone()]).expect("decodes"),
                );
            }
            let view = live_view(&live.shard, live.now_ms);
            largest = largest.max(view.len());
            assert_eq!(live_view(&fresh, live.now_ms), view, "step {step}: {cmd:?}");
        }
        assert!(largest >= 3, "{largest}");
    }

    /// Every list command, on lists that span several nodes, replayed and compared
    /// after every command.
    #[test]
    fn replaying_a_random_list_workload_reproduces_it() {
        let mut live = TestShard::default();
        live.shard.log_mut().enable(0);
        let mut fresh = Shard::new(0, 3);
        let mut rng = SmallRng::seed_from_u64(12);
        let mut longest = 0;
        for step in 0..4000 {
            let key = format!("l{}", rng.gen_range(0..3));
            let other = format!("l{}", rng.gen_range(0..3));
            let e = format!("{}", rng.gen_range(0..30));
            let big = "x".repeat(rng.gen_range(0..600));
            let (i, j) = (
                rng.gen_range(-40..40).to_string(),
                rng.gen_range(-40..40).to_string(),
            );
            let n = rng.gen_range(0..4).to_string();
            let end = ["LEFT", "RIGHT"][rng.gen_range(0..2)];
            let cmd: Vec<&str> = match rng.gen_range(0..16) {
                0 | 1 => vec!["RPUSH", &key, &e, &big, &e],
                2 | 3 => vec!["LPUSH", &key, &big, &e],
                4 => vec!["LPUSHX", &key, &e],
                5 => vec!["LPOP", &key, &n],
                6 => vec!["RPOP", &key],
                7 => vec!["LSET", &key, &i, &big],
                8 => vec!["LINSERT", &key, "BEFORE", &e, &big],
                9 => vec!["LREM", &key, &i, &e],
                10 => vec!["LTRIM", &key, &i, &j],
                11 => vec!["LMOVE", &key, &other, end, "RIGHT"],
                12 => vec!["RPOPLPUSH", &key, &other],
                13 => vec!["LMPOP", "2", &key, &other, end, "COUNT", "2"],
                14 => vec!["LINSERT", &key, "AFTER", &e, &e],
                _ => vec!["RPUSHX", &key, &big],
            };
            live.run(&cmd);
            let journal = live.shard.log_mut().take();
            let scan = scan(&journal);
            assert_eq!(scan.end, End::Clean);
            for r in &scan.records {
                apply_effect(
                    &mut fresh,
                    Effect::decode(&journal[r.payload.clone()]).expect("decodes"),
                );
            }
            let view = live_view(&live.shard, live.now_ms);
            for entry in view.values() {
                if let Value::List(l) = &entry.value {
                    longest = longest.max(l.len());
                }
            }
            assert_eq!(live_view(&fresh, live.now_ms), view, "step {step}: {cmd:?}");
        }
        assert!(longest >= 40, "{longest}");
    }
}
