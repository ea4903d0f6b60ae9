//! A connection's transaction state ([`Multi`]): what `MULTI` queued and what
//! `WATCH` watches. Kept in the connection's `Client`; a leaf, so the session can
//! hold it without knowing how transactions run ([`crate::exec::multi`]).

use corekv_engine::resp::Args;

use crate::shard::watch::WatcherId;

/// A connection's transaction state.
#[derive(Debug, Default)]
pub struct Multi {
    /// Commands queued since `MULTI`; `None` outside a transaction.
    pub(crate) queue: Option<Queue>,
    /// The connection's watch session, if it watches keys.
    pub(crate) watch: Option<Watch>,
}

/// What `EXEC` will run.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Command ids (in the registry) and arguments, in order.
    pub(crate) cmds: Vec<(usize, Args)>,
    /// A command was refused while queueing: `EXEC` aborts.
    pub(crate) failed: bool,
}

/// A watch session: its id and the shards holding its keys (ascending, distinct).
#[derive(Debug)]
pub(crate) struct Watch {
    pub(crate) id: WatcherId,
    pub(crate) shards: Vec<usize>,
}

impl Multi {
    /// Whether `MULTI` is open: commands are queued.
    pub fn is_open(&self) -> bool {
        self.queue.is_some()
    }

    /// A command was refused while the transaction is open: `EXEC` will abort.
    pub fn flag_error(&mut self) {
        if let Some(queue) = &mut self.queue {
            queue.failed = true;
        }
    }
}
