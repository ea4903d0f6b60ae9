//! Who is subscribed to what: each core's table of its own connections
//! ([`Local`]), and the small replicated summary of which cores have receivers
//! ([`Summary`]) that a publish reads to choose the cores it sends to.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::subs::Kind;
use crate::session::client::ClientInfo;

/// Buckets of channel-name hashes the summary keeps one core bitmap for.
const SUMMARY_BUCKETS: usize = 4096;
/// Cores a summary bitmap describes; with more cores every publish goes everywhere.
const SUMMARY_CORES_MAX: usize = 64;

/// A subscribed connection: its id and what delivery needs (protocol, outbox).
pub type Sub = (u64, Rc<RefCell<ClientInfo>>);

fn bucket(name: &[u8]) -> usize {
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(name);
    (hash as usize) % SUMMARY_BUCKETS
}

/// Shared by every core (in [`crate::shard::global::Global`]): per bucket of channel
/// hashes, a bitmap of the cores with a subscriber to some channel in it (plain and
/// shard channels share the buckets); and the cores with any pattern subscription.
#[derive(Debug)]
pub struct Summary {
    buckets: Box<[AtomicU64]>,
    patterns: AtomicU64,
    /// More cores than a bitmap holds: every core is a target.
    broadcast: bool,
}

impl Summary {
    pub fn new(cores: usize) -> Summary {
        Summary {
            buckets: (0..SUMMARY_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            patterns: AtomicU64::new(0),
            broadcast: cores > SUMMARY_CORES_MAX,
        }
    }

    /// The cores other than `me` that may have receivers of a publish to `channel`
    /// (patterns count only for `Kind::Channel`).
    pub fn targets(&self, kind: Kind, channel: &[u8], cores: usize, me: usize) -> Vec<usize> {
        if self.broadcast {
            return (0..cores).filter(|&c| c != me).collect();
        }
        let mut bits = self.buckets[bucket(channel)].load(Ordering::Acquire);
        if kind == Kind::Channel {
            bits |= self.patterns.load(Ordering::Acquire);
        }
        bits &= !(1 << me);
        let mut cores = Vec::new();
        while bits != 0 {
            cores.push(bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
        cores
    }

    fn flip(&self, slot: &AtomicU64, core: usize, on: bool) {
        if self.broadcast {
            return;
        }
        match on {
            true => slot.fetch_or(1 << core, Ordering::Release),
            false => slot.fetch_and(!(1 << core), Ordering::Release),
        };
    }
}

/// One core's subscriptions, by name, with the connections subscribed.
#[derive(Default)]
pub struct Local {
    core: usize,
    channels: HashMap<Bytes, Vec<Sub>>,
    patterns: HashMap<Bytes, Vec<Sub>>,
    shard: HashMap<Bytes, Vec<Sub>>,
    /// Names of this core (plain and shard channels) per summary bucket.
    bucket_names: HashMap<usize, u32>,
}

impl Local {
    pub fn new(core: usize) -> Local {
        Local {
            core,
            ..Default::default()
        }
    }

    pub fn table(&self, kind: Kind) -> &HashMap<Bytes, Vec<Sub>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    fn table_mut(&mut self, kind: Kind) -> &mut HashMap<Bytes, Vec<Sub>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Adds connection `id` to `name`'s subscribers (it was not one).
    pub fn subscribe(
        &mut self,
        summary: &Summary,
        kind: Kind,
        name: &Bytes,
        id: u64,
        info: &Rc<RefCell<ClientInfo>>,
    ) {
        let table = self.table_mut(kind);
        let first = !table.contains_key(name);
        table
            .entry(name.clone())
            .or_default()
            .push((id, info.clone()));
        if first {
            self.named(summary, kind, name, true);
        }
    }

    /// Removes connection `id` from `name`'s subscribers.
    pub fn unsubscribe(&mut self, summary: &Summary, kind: Kind, name: &[u8], id: u64) {
        let table = self.table_mut(kind);
        let Some(subs) = table.get_mut(name) else {
            return;
        };
        subs.retain(|(i, _)| *i != id);
        if subs.is_empty() {
            table.remove(name);
            self.named(summary, kind, name, false);
        }
    }

    /// A name got its first subscriber here (`added`) or lost its last one: the
    /// summary's bit for this core flips when its count crosses zero.
    fn named(&mut self, summary: &Summary, kind: Kind, name: &[u8], added: bool) {
        let core = self.core;
        if kind == Kind::Pattern {
            let any = !self.patterns.is_empty();
            summary.flip(&summary.patterns, core, any);
            return;
        }
        let b = bucket(name);
        let count = self.bucket_names.entry(b).or_default();
        match added {
            true => *count += 1,
            false => *count -= 1,
        }
        let now = *count;
        if now == 0 {
            self.bucket_names.remove(&b);
        }
        if now == u32::from(added) {
            summary.flip(&summary.buckets[b], core, added);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_bits_follow_the_first_and_last_name() {
        let summary = Summary::new(4);
        let mut local = Local::new(2);
        let info = Rc::new(RefCell::new(test_info()));
        let ch = Bytes::from_static(b"news");
        assert!(summary.targets(Kind::Channel, b"news", 4, 0).is_empty());
        local.subscribe(&summary, Kind::Channel, &ch, 1, &info);
        local.subscribe(&summary, Kind::Channel, &ch, 2, &info);
        assert_eq!(summary.targets(Kind::Channel, b"news", 4, 0), [2]);
        assert!(summary.targets(Kind::Channel, b"news", 4, 2).is_empty());
        local.unsubscribe(&summary, Kind::Channel, b"news", 1);
        assert_eq!(summary.targets(Kind::Channel, b"news", 4, 0), [2]);
        local.unsubscribe(&summary, Kind::Channel, b"news", 2);
        assert!(summary.targets(Kind::Channel, b"news", 4, 0).is_empty());
        let pat = Bytes::from_static(b"n*");
        local.subscribe(&summary, Kind::Pattern, &pat, 1, &info);
        assert_eq!(summary.targets(Kind::Channel, b"anything", 4, 0), [2]);
        assert!(summary.targets(Kind::Shard, b"anything", 4, 0).is_empty());
        local.unsubscribe(&summary, Kind::Pattern, b"n*", 1);
        assert!(summary.targets(Kind::Channel, b"anything", 4, 0).is_empty());
    }

    fn test_info() -> ClientInfo {
        let addr = "127.0.0.1:1".parse().expect("an address");
        ClientInfo {
            id: 1,
            addr,
            laddr: addr,
            fd: -1,
            peer: crate::shard::blocking::PeerWatch::new(-1),
            name: String::new(),
            lib_name: String::new(),
            lib_ver: String::new(),
            created: std::time::Instant::now(),
            last_active: std::time::Instant::now(),
            db: 0,
            last_cmd: "NULL",
            resp: 2,
            qbuf: 0,
            input_alloc_bytes: 0,
            pubsub: false,
            blocked: false,
            ops: Default::default(),
            outbox: Default::default(),
            input: Default::default(),
        }
    }
}
