//! Whole syncs simulated in memory: a master shard runs commands through the engine
//! harness, journals them and snapshots itself while it keeps writing; its stream
//! is framed, cut at random byte boundaries and fed to a replica stream, whose
//! keyspace must then equal the master's.

use std::collections::BTreeMap;

use bytes::Bytes;
use corekv_engine::harness::TestShard;
use corekv_engine::journal::{encode_record, scan, Effect};
use corekv_engine::keyspace::Entry;
use corekv_engine::keyspace::SnapshotProgress;
use corekv_engine::shard::Shard;
use corekv_engine::snapshot::{SnapshotError, SnapshotWriter};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::ack::AckPolicy;
use crate::checkpoint::Checkpoint;
use crate::frame::{
    encode_checkpoint, parse_frame, Frame, FrameDecoder, FrameKind, Heartbeat,
    FRAME_BATCH_BYTES_MAX,
};
use crate::handshake::{SyncReply, SyncRequest};
use crate::history::{decide, Decision, FullResyncReason, History, JournalSpan, ReplId};
use crate::master::{record_offset, whole_records_bytes};
use crate::replica::{ReplicaStream, Step, StreamConfig, StreamError};

type View = BTreeMap<(usize, Bytes), Entry>;

/// A shard's live keys at `now_ms`, database by database.
fn view(shard: &Shard, now_ms: u64) -> View {
    let mut view = BTreeMap::new();
    for (i, db) in shard.keyspace().dbs().iter().enumerate() {
        db.for_each_live(now_ms, |k, e| {
            view.insert((i, Bytes::copy_from_slice(k)), e.to_entry());
        });
    }
    view
}

fn replid(seed: u64) -> ReplId {
    ReplId::generate(&mut SmallRng::seed_from_u64(seed))
}

fn config() -> StreamConfig {
    StreamConfig {
        shard_id: 0,
        shards: 1,
        shard_seed: 7,
        snapshot_bytes_max: 64 * 1024 * 1024,
    }
}

/// A master shard that ran random commands, with its whole journal and, if it took
/// one, a snapshot image written while the commands went on.
struct Master {
    live: TestShard,
    journal: Vec<u8>,
    snapshot: Option<(u64, Vec<u8>)>,
}

impl Master {
    fn last_lsn(&self) -> u64 {
        self.live.shard.log().last_lsn()
    }

    /// Journal bytes from the record with `lsn` on (empty past the end).
    fn journal_from(&self, lsn: u64) -> &[u8] {
        let at = record_offset(&self.journal, lsn).unwrap_or(self.journal.len());
        &self.journal[at..]
    }
}

/// One random write (or read, or tick) of the kinds a master journals.
fn random_command(rng: &mut SmallRng, live: &mut TestShard, whole_db_ok: bool) {
    // Few enough keys that commands meet the same ones again, enough that a
    // snapshot written a small chunk per command spans many commands.
    let key = |rng: &mut SmallRng| format!("k{}", rng.gen_range(0..60));
    let (k, k2) = (&key(rng), &key(rng));
    let n = rng.gen_range(-5..50).to_string();
    let ms = rng.gen_range(1..400).to_string();
    let db = rng.gen_range(0..3).to_string();
    let cmd: Vec<&str> = match rng.gen_range(0..18) {
        0 | 1 => vec!["SET", k, &n],
        2 => vec!["SET", k, "v", "PX", &ms],
        3 | 4 => vec!["INCR", k],
        5 => vec!["INCRBY", k, &n],
        6 => vec!["EXPIRE", k, "1"],
        7 => vec!["PEXPIRE", k, &ms],
        8 => vec!["DEL", k, k2],
        9 => vec!["APPEND", k, "+"],
        10 => vec!["PERSIST", k],
        11 => vec!["MOVE", k, &db],
        12 => vec!["GETDEL", k],
        13 => vec!["INCRBYFLOAT", k, "0.5"],
        14 => vec!["RENAME", k, k2],
        15 => vec!["GET", k],
        16 if whole_db_ok && rng.gen_bool(0.2) => {
            let selected = live.db.to_string();
            match rng.gen_bool(0.5) {
                true => live.run_in(db.parse().expect("a number"), &["FLUSHDB"]),
                false => live.run(&["SWAPDB", &selected, &db]),
            };
            return;
        }
        _ => {
            live.advance_ms(rng.gen_range(0..60));
            live.shard.active_expire(live.now_ms);
            return;
        }
    };
    if rng.gen_bool(0.2) {
        live.db = rng.gen_range(0..3);
    }
    live.run_raw(&cmd);
}

/// Runs `steps` random commands; a snapshot starts before step `snapshot_at` and
/// is written a small chunk per step while the commands go on.
/// `whole_db_ops`: also `FLUSHDB` and `SWAPDB` (never while the snapshot is written).
fn run_master(seed: u64, steps: usize, snapshot_at: Option<usize>, whole_db_ops: bool) -> Master {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut live = TestShard::default();
    live.shard.log_mut().enable(0);
    let mut journal = Vec::new();
    let mut snapshot = None;
    let mut writing = false;
    for step in 0..steps {
        if Some(step) == snapshot_at {
            let lsn = live.shard.log().last_lsn();
            let image = live
                .shard
                .keyspace_mut()
                .start_snapshot(1, 0, 1, lsn, live.now_ms);
            snapshot = Some((lsn, image));
            writing = true;
        }
        if writing {
            let image = &mut snapshot.as_mut().expect("started").1;
            let ks = live.shard.keyspace_mut();
            writing = ks.snapshot_chunk(1, live.now_ms, 64, image) == Some(SnapshotProgress::More);
        }
        random_command(&mut rng, &mut live, whole_db_ops && !writing);
        journal.extend_from_slice(&live.shard.log_mut().take());
    }
    if writing {
        let image = &mut snapshot.as_mut().expect("started").1;
        let ks = live.shard.keyspace_mut();
        while ks.snapshot_chunk(1, live.now_ms, 4096, image) == Some(SnapshotProgress::More) {}
    }
    assert_eq!(
        scan(&journal).next_lsn(),
        Some(live.shard.log().last_lsn() + 1)
    );
    Master {
        live,
        journal,
        snapshot,
    }
}

/// Frames `records` (whole journal records) into `RECORDS` frames of random budgets,
/// with a heartbeat now and then.
fn frame_records(rng: &mut SmallRng, records: &[u8], heartbeat: Heartbeat, out: &mut Vec<u8>) {
    let mut at = 0;
    while at < records.len() {
        let n = whole_records_bytes(&records[at..], rng.gen_range(1..600));
        assert!(n > 0);
        Frame::Records(&records[at..at + n]).encode(out);
        at += n;
        if rng.gen_bool(0.1) {
            Frame::Heartbeat(heartbeat).encode(out);
        }
    }
}

/// A full sync's stream: the image in chunks of random sizes, its end, then the
/// records after it.
fn full_sync_stream(rng: &mut SmallRng, master: &Master) -> Vec<u8> {
    let (lsn, image) = master.snapshot.as_ref().expect("a snapshot");
    let heartbeat = Heartbeat {
        last_lsn: master.last_lsn(),
        master_unix_ms: master.live.now_ms,
    };
    let mut out = Vec::new();
    Frame::Heartbeat(heartbeat).encode(&mut out);
    let mut at = 0;
    while at < image.len() {
        let n = rng.gen_range(1..300).min(image.len() - at);
        Frame::SnapshotChunk(&image[at..at + n]).encode(&mut out);
        at += n;
    }
    Frame::SnapshotEnd.encode(&mut out);
    frame_records(rng, master.journal_from(lsn + 1), heartbeat, &mut out);
    out
}

/// Feeds `bytes` to the stream cut at random boundaries; returns the journal the
/// replica wrote (the records' bytes it applied, in order).
fn feed(
    rng: &mut SmallRng,
    stream: &mut ReplicaStream,
    shard: &mut Shard,
    bytes: &[u8],
) -> Result<Vec<u8>, StreamError> {
    let mut decoder = FrameDecoder::new();
    let mut journal = Vec::new();
    let mut acks = AckPolicy::default();
    let mut now_ms = 0;
    let mut at = 0;
    while at < bytes.len() {
        let end = (at + rng.gen_range(1..200)).min(bytes.len());
        decoder.feed(&bytes[at..end]);
        at = end;
        now_ms += 1;
        while let Some(frame) = decoder.next_frame().expect("well framed") {
            match stream.on_frame(frame, shard)? {
                Step::Loaded(loaded) => *shard = *loaded,
                Step::Applied(applied) => {
                    assert_eq!(applied.records, applied.last_lsn - applied.first_lsn + 1);
                    journal.extend_from_slice(applied.bytes);
                    shard.log_mut().set_last_lsn(applied.last_lsn);
                    acks.applied(applied.records, applied.bytes.len() as u64);
                }
                Step::SnapshotChunk(_) | Step::Heartbeat(_) | Step::Checkpoint(_) => {}
            }
            let drained = decoder.buffered_bytes() == 0;
            if let Some(lsn) = stream.ack_lsn().filter(|_| acks.due(now_ms, drained)) {
                assert_eq!(lsn, shard.log().last_lsn());
                acks.sent(now_ms);
            }
        }
    }
    assert_eq!(decoder.buffered_bytes(), 0);
    Ok(journal)
}

#[test]
fn a_full_sync_reproduces_the_master() {
    for seed in 0..30 {
        let mut rng = SmallRng::seed_from_u64(100 + seed);
        let snapshot_at = rng.gen_range(0..400);
        let master = run_master(seed, 600, Some(snapshot_at), true);
        let (snapshot_lsn, _) = *master.snapshot.as_ref().expect("taken");
        assert!(master.last_lsn() > snapshot_lsn, "seed {seed}");
        let id = replid(seed);
        let request = SyncRequest::fresh(0, 1);
        let history = History::new(id, 1);
        let span = JournalSpan::new(snapshot_lsn + 1, master.last_lsn());
        assert_eq!(
            decide(&history, span, &request),
            Decision::FullResync {
                replid: id,
                reason: FullResyncReason::NoHistory
            }
        );
        let reply = SyncReply::FullResync {
            replid: id,
            snapshot_lsn,
        };
        let mut stream = ReplicaStream::start(config(), &request, reply).expect("starts");
        assert_eq!(stream.ack_lsn(), None);
        // Stale data the full sync must replace.
        let mut replica = TestShard::default();
        replica.run(&["SET", "stale", "x"]);
        let mut shard = replica.shard;
        let bytes = full_sync_stream(&mut rng, &master);
        let journal = feed(&mut rng, &mut stream, &mut shard, &bytes).expect("syncs");
        let now = master.live.now_ms;
        assert_eq!(
            view(&shard, now),
            view(&master.live.shard, now),
            "seed {seed}"
        );
        assert_eq!(
            journal,
            master.journal_from(snapshot_lsn + 1),
            "seed {seed}"
        );
        assert_eq!(stream.ack_lsn(), Some(master.last_lsn()));
        assert_eq!(shard.log().last_lsn(), master.last_lsn());
        assert_eq!(stream.replid(), id);
        let lag = stream.lag(now + 30);
        assert_eq!((lag.records, lag.bytes), (0, 0));
        assert_eq!(lag.ms_since_heartbeat, Some(30));
    }
}

#[test]
fn a_partial_resync_continues_from_the_middle() {
    for seed in 0..20 {
        let mut rng = SmallRng::seed_from_u64(200 + seed);
        let master = run_master(seed, 500, None, true);
        let last = master.last_lsn();
        let id = replid(seed);
        let history = History::new(id, 1);
        let span = JournalSpan::new(1, last);
        let heartbeat = Heartbeat {
            last_lsn: last,
            master_unix_ms: master.live.now_ms,
        };
        let mut shard = Shard::new(0, 7);
        let mut journal = Vec::new();
        // The first stream stops after LSN k; the second continues from k + 1.
        let k = rng.gen_range(1..last);
        for (next_lsn, end_lsn) in [(1, k + 1), (k + 1, last + 1)] {
            let request = SyncRequest {
                shard: 0,
                shards: 1,
                replid: Some(id),
                next_lsn,
            };
            let Decision::Continue { replid, next_lsn } = decide(&history, span, &request) else {
                panic!("seed {seed}: the journal holds {next_lsn}");
            };
            let reply = SyncReply::Continue { replid, next_lsn };
            let mut stream = ReplicaStream::start(config(), &request, reply).expect("starts");
            assert_eq!(stream.ack_lsn(), Some(next_lsn - 1));
            let from = record_offset(&master.journal, next_lsn).expect("held");
            let to = record_offset(&master.journal, end_lsn).unwrap_or(master.journal.len());
            let mut bytes = Vec::new();
            frame_records(&mut rng, &master.journal[from..to], heartbeat, &mut bytes);
            journal.extend(feed(&mut rng, &mut stream, &mut shard, &bytes).expect("applies"));
            assert_eq!(stream.ack_lsn(), Some(end_lsn - 1));
            let lag = stream.lag(master.live.now_ms);
            if stream.lag(0).ms_since_heartbeat.is_some() {
                assert_eq!(lag.records, last + 1 - end_lsn);
            }
        }
        let now = master.live.now_ms;
        assert_eq!(
            view(&shard, now),
            view(&master.live.shard, now),
            "seed {seed}"
        );
        assert_eq!(journal, master.journal);
    }
}

/// A stream applying from LSN 1, with `records` records applied already.
fn streaming(records: &[u8], shard: &mut Shard) -> ReplicaStream {
    let request = SyncRequest {
        shard: 0,
        shards: 1,
        replid: Some(replid(1)),
        next_lsn: 1,
    };
    let reply = SyncReply::Continue {
        replid: replid(1),
        next_lsn: 1,
    };
    let mut stream = ReplicaStream::start(config(), &request, reply).expect("starts");
    if !records.is_empty() {
        stream.apply(shard, records).expect("applies");
    }
    stream
}

/// Journal records `first..` of `effects` (SETs of `k<i>`).
fn set_records(first: u64, n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for lsn in first..first + n {
        let key = format!("k{lsn}");
        let value = corekv_engine::value::Value::Str(b"v".to_vec().into());
        let effect = Effect::Set {
            db: 0,
            key: key.as_bytes(),
            value: std::borrow::Cow::Owned(value),
            expire_at_ms: 0,
        };
        corekv_engine::journal::encode_effect_record(lsn, &effect, &mut out);
    }
    out
}

#[test]
fn gaps_and_damaged_records_are_refused_and_change_nothing() {
    let now = 1;
    let mut shard = Shard::new(0, 7);
    let mut stream = streaming(&set_records(1, 5), &mut shard);
    let before = view(&shard, now);
    assert_eq!(before.len(), 5);
    // A frame starting past the next LSN, or at an old one.
    for (first, got) in [(7, 7), (5, 5)] {
        let mut s = streaming(&set_records(1, 5), &mut Shard::new(0, 7));
        let records = set_records(first, 3);
        let error = s.apply(&mut shard, &records);
        assert_eq!(error, Err(StreamError::Gap { expected: 6, got }));
    }
    // A gap inside a frame: 6, 7, then 9. Nothing of it is applied.
    let mut frame = set_records(6, 2);
    let gap_at = frame.len();
    frame.extend(set_records(9, 1));
    let error = stream.apply(&mut shard, &frame);
    assert_eq!(error, Err(StreamError::BadRecords { offset: gap_at }));
    assert_eq!(view(&shard, now), before);
    // The stream is done after an error.
    assert_eq!(
        stream.apply(&mut shard, &set_records(6, 1)),
        Err(StreamError::Broken)
    );
    // Any flipped bit, and any cut, in a frame of three records.
    let good = set_records(6, 3);
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        let mut s = streaming(&set_records(1, 5), &mut Shard::new(0, 7));
        let mut target = Shard::new(0, 7);
        assert!(s.apply(&mut target, &bad).is_err(), "flip at {at}");
        assert!(target.keyspace().db(0).is_empty(), "flip at {at}");
    }
    let boundaries: Vec<usize> = scan(&good).records.iter().map(|r| r.end()).collect();
    for cut in (0..good.len()).filter(|cut| !boundaries.contains(cut)) {
        let mut s = streaming(&set_records(1, 5), &mut Shard::new(0, 7));
        assert!(s.apply(&mut shard, &good[..cut]).is_err(), "cut at {cut}");
    }
    assert_eq!(view(&shard, now), before);
    // A record whose CRC holds but whose payload is no effect.
    let mut s = streaming(&set_records(1, 5), &mut Shard::new(0, 7));
    let mut not_an_effect = set_records(6, 1);
    encode_record(7, &[0xee], &mut not_an_effect);
    let error = s.apply(&mut shard, &not_an_effect);
    assert!(
        matches!(error, Err(StreamError::BadEffect { lsn: 7, .. })),
        "{error:?}"
    );
    assert_eq!(view(&shard, now), before);
}

/// A snapshot of `shard` as shard `shard_id` of `shards` at `lsn`.
fn image_of(shard: &Shard, shard_id: usize, shards: usize, lsn: u64) -> Vec<u8> {
    let mut writer = SnapshotWriter::new(shard_id, shards, lsn, 0, shard.keyspace().dbs());
    let mut image = Vec::new();
    writer.header(&mut image);
    while writer.next_chunk(shard.keyspace().dbs(), 0, FRAME_BATCH_BYTES_MAX, &mut image) {}
    image
}

fn loading(snapshot_lsn: u64, snapshot_bytes_max: usize) -> ReplicaStream {
    let reply = SyncReply::FullResync {
        replid: replid(2),
        snapshot_lsn,
    };
    let config = StreamConfig {
        snapshot_bytes_max,
        ..config()
    };
    ReplicaStream::start(config, &SyncRequest::fresh(0, 1), reply).expect("starts")
}

/// A master shard holding one key, and its snapshot image as shard 0 of 1 at LSN
/// 10: the one `loading(10, _)` announces.
fn announced_image() -> (TestShard, Vec<u8>) {
    let mut master = TestShard::default();
    master.run(&["SET", "k", "v"]);
    let image = image_of(&master.shard, 0, 1, 10);
    (master, image)
}

#[test]
fn a_snapshot_must_be_the_one_the_handshake_announced() {
    let (master, _) = announced_image();
    let mut shard = Shard::new(0, 7);
    // Wrong LSN, shard id or shard count: refused as soon as the header is in.
    for (bad, got) in [
        (image_of(&master.shard, 0, 1, 9), (0, 1, 9)),
        (image_of(&master.shard, 1, 2, 10), (1, 2, 10)),
        (image_of(&master.shard, 0, 2, 10), (0, 2, 10)),
    ] {
        let mut s = loading(10, 1 << 20);
        assert!(s.loading());
        s.on_frame(Frame::SnapshotChunk(&bad[..39]), &mut shard)
            .expect("header not whole yet");
        let error = s.on_frame(Frame::SnapshotChunk(&bad[39..]), &mut shard);
        let mismatch = StreamError::SnapshotMismatch {
            expected: (0, 1, 10),
            got,
        };
        assert_eq!(error.err(), Some(mismatch.clone()));
        assert!(mismatch
            .to_string()
            .contains("expected shard 0 of 1 at LSN 10"));
    }
}

#[test]
fn a_snapshot_over_the_replicas_bound_is_refused() {
    let (_, image) = announced_image();
    let mut shard = Shard::new(0, 7);
    let mut s = loading(10, image.len() - 1);
    let error = s.on_frame(Frame::SnapshotChunk(&image), &mut shard);
    assert_eq!(
        error.err(),
        Some(StreamError::SnapshotTooLarge {
            bytes_max: image.len() - 1
        })
    );
}

#[test]
fn a_snapshot_cut_short_fails_at_its_end() {
    let (_, image) = announced_image();
    let mut shard = Shard::new(0, 7);
    let mut s = loading(10, 1 << 20);
    s.on_frame(Frame::SnapshotChunk(&image[..image.len() - 1]), &mut shard)
        .expect("a prefix");
    let error = s.on_frame(Frame::SnapshotEnd, &mut shard).err();
    assert!(
        matches!(
            error,
            Some(StreamError::Snapshot(SnapshotError::Truncated { .. }))
        ),
        "{error:?}"
    );
}

#[test]
fn snapshot_and_record_frames_out_of_place_are_refused() {
    let (_, image) = announced_image();
    let mut shard = Shard::new(0, 7);
    let mut s = loading(10, 1 << 20);
    let records = set_records(11, 1);
    assert_eq!(
        s.on_frame(Frame::Records(&records), &mut shard).err(),
        Some(StreamError::Unexpected {
            kind: FrameKind::Records,
            loading: true
        })
    );
    let mut s = streaming(&[], &mut shard);
    assert_eq!(
        s.on_frame(Frame::SnapshotChunk(&image), &mut shard).err(),
        Some(StreamError::Unexpected {
            kind: FrameKind::SnapshotChunk,
            loading: false
        })
    );
    assert_eq!(
        s.on_frame(Frame::SnapshotEnd, &mut shard).err(),
        Some(StreamError::Broken)
    );
}

#[test]
fn the_announced_snapshot_loads_at_its_lsn() {
    let (master, image) = announced_image();
    let mut shard = Shard::new(0, 7);
    let mut s = loading(10, 1 << 20);
    s.on_frame(Frame::SnapshotChunk(&image), &mut shard)
        .expect("whole");
    let Ok(Step::Loaded(loaded)) = s.on_frame(Frame::SnapshotEnd, &mut shard) else {
        panic!("loads");
    };
    assert_eq!(view(&loaded, 0), view(&master.shard, 0));
    assert_eq!(loaded.log().last_lsn(), 10);
    assert_eq!(s.ack_lsn(), Some(10));
}

#[test]
fn a_continue_must_be_from_where_the_replica_asked() {
    let request = SyncRequest {
        shard: 0,
        shards: 1,
        replid: Some(replid(3)),
        next_lsn: 5,
    };
    let reply = SyncReply::Continue {
        replid: replid(3),
        next_lsn: 6,
    };
    assert_eq!(
        ReplicaStream::start(config(), &request, reply).err(),
        Some(StreamError::ContinueMismatch { asked: 5, got: 6 })
    );
}

fn frame(bytes: &[u8]) -> Frame<'_> {
    parse_frame(bytes).expect("valid").expect("whole").0
}

/// A `CHECKPOINT` frame's bytes.
fn checkpoint_bytes(id: u64, lsns: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let checkpoint = Checkpoint {
        run: 5,
        id,
        lsns: lsns.to_vec(),
    };
    encode_checkpoint(&checkpoint, &mut out);
    out
}

#[test]
fn a_checkpoint_comes_after_its_records_and_names_every_shard() {
    let mut shard = Shard::new(0, 7);
    let mut s = streaming(&set_records(1, 3), &mut shard);
    let at = checkpoint_bytes(1, &[3]);
    let Ok(Step::Checkpoint(c)) = s.on_frame(frame(&at), &mut shard) else {
        panic!("a checkpoint through the applied LSN is taken");
    };
    assert_eq!((c.run, c.id, c.lsns), (5, 1, vec![3]));
    assert_eq!(s.applied_lsn(), 3);
    let ahead = checkpoint_bytes(2, &[4]);
    assert_eq!(
        s.on_frame(frame(&ahead), &mut shard).err(),
        Some(StreamError::CheckpointAhead {
            lsn: 4,
            applied_lsn: 3
        })
    );
    let mut s = streaming(&[], &mut shard);
    let two = checkpoint_bytes(1, &[0, 0]);
    assert_eq!(
        s.on_frame(frame(&two), &mut shard).err(),
        Some(StreamError::CheckpointShards { shards: 2 })
    );
    let mut s = loading(10, 1 << 20);
    assert_eq!(
        s.on_frame(frame(&at), &mut shard).err(),
        Some(StreamError::Unexpected {
            kind: FrameKind::Checkpoint,
            loading: true
        })
    );
}

#[test]
fn heartbeats_give_the_lag() {
    let mut shard = Shard::new(0, 7);
    let mut s = streaming(&[], &mut shard);
    assert_eq!(s.lag(5), Default::default());
    let records = set_records(1, 4);
    let heartbeat = |last_lsn, master_unix_ms| {
        Frame::Heartbeat(Heartbeat {
            last_lsn,
            master_unix_ms,
        })
    };
    s.on_frame(heartbeat(10, 1000), &mut shard).expect("fine");
    let lag = s.lag(1250);
    assert_eq!(lag.records, 10);
    assert_eq!(lag.bytes, 0, "no record seen yet to size the backlog");
    assert_eq!(lag.ms_since_heartbeat, Some(250));
    s.apply(&mut shard, &records).expect("applies");
    let lag = s.lag(1300);
    assert_eq!(lag.records, 6);
    assert_eq!(lag.bytes, 6 * (records.len() as u64 / 4));
    assert_eq!(s.lag(900).ms_since_heartbeat, Some(0));
    // A master reporting less than it already sent has lost history.
    assert_eq!(
        s.on_frame(heartbeat(3, 2000), &mut shard).err(),
        Some(StreamError::MasterBehind {
            master_lsn: 3,
            applied_lsn: 4
        })
    );
}

#[test]
fn a_replica_snapshot_taken_while_applying_is_the_state_at_its_start() {
    for seed in 0..10 {
        let mut rng = SmallRng::seed_from_u64(300 + seed);
        let master = run_master(seed, 800, None, false);
        let half = record_offset(&master.journal, master.last_lsn() / 2).expect("held");
        let mut shard = Shard::new(0, 7);
        let mut stream = streaming(&master.journal[..half], &mut shard);
        let now = master.live.now_ms;
        let start = view(&shard, now);
        let mut image = shard.keyspace_mut().start_snapshot(1, 0, 1, 0, now);
        let mut rest = &master.journal[half..];
        let mut more = true;
        while !rest.is_empty() && more {
            let n = whole_records_bytes(rest, rng.gen_range(1..200));
            stream.apply(&mut shard, &rest[..n]).expect("applies");
            rest = &rest[n..];
            let ks = shard.keyspace_mut();
            more = ks.snapshot_chunk(1, now, 64, &mut image) == Some(SnapshotProgress::More);
        }
        let ks = shard.keyspace_mut();
        while more && ks.snapshot_chunk(1, now, 4096, &mut image) == Some(SnapshotProgress::More) {}
        let mut loaded = Shard::new(0, 7);
        loaded.keyspace_mut().load_snapshot(&image).expect("loads");
        assert_eq!(view(&loaded, now), start, "seed {seed}");
    }
}
