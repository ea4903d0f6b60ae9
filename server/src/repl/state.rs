//! The replication identity of this server's history, kept in `dir/replication.json`
//! so a restarted master keeps the id its replicas know (they continue from their
//! LSNs) and a restarted replica asks its master to continue where it stopped.
//!
//! - `replid` names the history (Redis's `master_replid`): a master's own; a
//!   replica's is its master's, taken when it syncs.
//! - `second`: a promoted replica's former master's id with, per shard, the last
//!   LSN of that history it holds (Redis's `master_replid2`): replicas of the old
//!   master continue on it.
//! - per shard, the history its data follows (`None`: unknown, a full sync of the
//!   shard is under way). A replica asks each shard's stream to continue that one.
//!
//! A new id is taken when the history forks: on first start, when recovery cut
//! records off a journal (a replica may hold records the master no longer has),
//! and on promotion.

use std::path::{Path, PathBuf};

use corekv_replication::history::{History, ReplId, SecondId};
use serde::{Deserialize, Serialize};

use crate::persist::datadir;

const FILE: &str = "replication.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    replid: String,
    #[serde(default)]
    replid2: Option<String>,
    #[serde(default)]
    switch_lsns: Vec<u64>,
    /// Per shard; missing in files of servers that never replicated.
    #[serde(default)]
    shard_replids: Vec<Option<String>>,
}

#[derive(Debug, Clone)]
pub struct ReplState {
    pub replid: ReplId,
    pub second: Option<SecondId>,
    pub shard_replids: Vec<Option<ReplId>>,
    path: PathBuf,
}

impl ReplState {
    /// Reads the identity stored in `dir`, or takes and stores a new one.
    pub fn load_or_create(dir: &Path, shards: usize) -> Result<ReplState, String> {
        let path = dir.join(FILE);
        let stored: Option<Stored> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        let replid = stored
            .as_ref()
            .and_then(|s| ReplId::parse(s.replid.as_bytes()));
        let Some(replid) = replid else {
            let state = ReplState {
                replid: new_id(),
                second: None,
                shard_replids: Vec::new(),
                path,
            }
            .with_shards(shards);
            state.save()?;
            return Ok(state);
        };
        let stored = stored.expect("parsed above");
        let second = stored
            .replid2
            .as_deref()
            .and_then(|id| ReplId::parse(id.as_bytes()))
            .filter(|_| stored.switch_lsns.len() == shards)
            .map(|replid| SecondId {
                replid,
                switch_lsns: stored.switch_lsns.clone(),
            });
        let shard_replids = if stored.shard_replids.len() == shards {
            let parse =
                |id: &Option<String>| id.as_deref().and_then(|i| ReplId::parse(i.as_bytes()));
            stored.shard_replids.iter().map(parse).collect()
        } else {
            Vec::new()
        };
        Ok(ReplState {
            replid,
            second,
            shard_replids,
            path,
        }
        .with_shards(shards))
    }

    /// Every shard follows `replid` unless stored otherwise.
    fn with_shards(mut self, shards: usize) -> ReplState {
        if self.shard_replids.len() != shards {
            self.shard_replids = vec![Some(self.replid); shards];
        }
        self
    }

    /// What a master answers its replicas' `CKV.SYNC` with.
    pub fn history(&self) -> History {
        History {
            replid: self.replid,
            shards: self.shard_replids.len(),
            second: self.second.clone(),
        }
    }

    /// Starts a new history (a fork: records were cut off a journal).
    pub fn new_history(&mut self) -> Result<(), String> {
        self.replid = new_id();
        self.second = None;
        self.shard_replids.fill(Some(self.replid));
        self.save()
    }

    /// A replica becomes a master: a new id, and the one it followed as the second
    /// id, switching at each shard's last LSN.
    pub fn promote(&mut self, last_lsns: Vec<u64>) -> Result<(), String> {
        let history = History::promoted(new_id(), self.replid, last_lsns);
        self.replid = history.replid;
        self.second = history.second;
        self.shard_replids.fill(Some(self.replid));
        self.save()
    }

    /// Shard `shard` now follows `replid` (`None`: a full sync replaces its data).
    /// A full sync also ends the second id: the shard's LSNs no longer name the
    /// records they did.
    pub fn follow(&mut self, shard: usize, replid: Option<ReplId>) -> Result<(), String> {
        match replid {
            Some(id) => self.replid = id,
            None => self.second = None,
        }
        self.shard_replids[shard] = replid;
        self.save()
    }

    fn save(&self) -> Result<(), String> {
        let id = |r: &Option<ReplId>| r.map(|r| r.to_string());
        let text = serde_json::to_string(&Stored {
            replid: self.replid.to_string(),
            replid2: self.second.as_ref().map(|s| s.replid.to_string()),
            switch_lsns: self
                .second
                .as_ref()
                .map_or(Vec::new(), |s| s.switch_lsns.clone()),
            shard_replids: self.shard_replids.iter().map(id).collect(),
        })
        .map_err(|e| e.to_string())?;
        let tmp = datadir::tmp_path(&self.path);
        let io = |e: std::io::Error| format!("{}: {e}", self.path.display());
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        if let Some(dir) = self.path.parent() {
            datadir::sync_dir(dir).map_err(io)?;
        }
        Ok(())
    }
}

fn new_id() -> ReplId {
    ReplId::generate(&mut rand::thread_rng())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_survives_a_restart_and_changes_on_a_new_history() {
        let dir = std::env::temp_dir().join(format!("corekv-replstate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = ReplState::load_or_create(&dir, 2).unwrap();
        let again = ReplState::load_or_create(&dir, 2).unwrap();
        assert_eq!(first.replid, again.replid);
        assert_eq!(again.shard_replids, vec![Some(first.replid); 2]);
        let mut forked = again;
        forked.new_history().unwrap();
        assert_ne!(forked.replid, first.replid);
        assert_eq!(
            ReplState::load_or_create(&dir, 2).unwrap().replid,
            forked.replid
        );
        // A promotion keeps the followed id as the second id, at the shards' LSNs.
        forked.follow(1, None).unwrap();
        let followed = forked.replid;
        forked.promote(vec![7, 9]).unwrap();
        let back = ReplState::load_or_create(&dir, 2).unwrap();
        assert_eq!(back.replid, forked.replid);
        let second = back.second.expect("second id");
        assert_eq!(second.replid, followed);
        assert_eq!(second.switch_lsns, vec![7, 9]);
        assert_eq!(back.shard_replids, vec![Some(back.replid); 2]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
