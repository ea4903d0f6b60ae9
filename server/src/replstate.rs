//! The replication identity of this server's history: the replication id that
//! names it (Redis's `master_replid`), kept in `dir/replication.json` so a restarted
//! master keeps the id its replicas know and they can continue from their LSNs.
//!
//! A new id is taken when the history forks: on first start, and when recovery cut
//! records off a journal (a torn tail or a corrupt record), since a replica may
//! hold records the master no longer has.

use std::path::{Path, PathBuf};

use corekv_replication::history::ReplId;
use serde::{Deserialize, Serialize};

use crate::datadir;

const FILE: &str = "replication.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    replid: String,
}

#[derive(Debug, Clone)]
pub struct ReplState {
    pub replid: ReplId,
    path: PathBuf,
}

impl ReplState {
    /// Reads the id stored in `dir`, or takes and stores a new one.
    pub fn load_or_create(dir: &Path) -> Result<ReplState, String> {
        let path = dir.join(FILE);
        let stored = std::fs::read_to_string(&path).ok().and_then(|text| {
            let s: Stored = serde_json::from_str(&text).ok()?;
            ReplId::parse(s.replid.as_bytes())
        });
        let state = ReplState {
            replid: stored.unwrap_or_else(new_id),
            path,
        };
        if stored.is_none() {
            state.save()?;
        }
        Ok(state)
    }

    /// Starts a new history (a fork: records were cut off a journal).
    pub fn new_history(&mut self) -> Result<(), String> {
        self.replid = new_id();
        self.save()
    }

    fn save(&self) -> Result<(), String> {
        let text = serde_json::to_string(&Stored {
            replid: self.replid.to_string(),
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
    fn the_id_survives_a_restart_and_changes_on_a_new_history() {
        let dir = std::env::temp_dir().join(format!("corekv-replstate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = ReplState::load_or_create(&dir).unwrap();
        let again = ReplState::load_or_create(&dir).unwrap();
        assert_eq!(first.replid, again.replid);
        let mut forked = again;
        forked.new_history().unwrap();
        assert_ne!(forked.replid, first.replid);
        assert_eq!(
            ReplState::load_or_create(&dir).unwrap().replid,
            forked.replid
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
