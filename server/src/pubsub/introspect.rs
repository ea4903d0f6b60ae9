//! What `PUBSUB CHANNELS`/`NUMPAT`/`SHARDCHANNELS` and `INFO stats` report of the
//! subscriptions: each core's table asked in one parallel round, the names merged
//! so a name subscribed on several cores counts once (as in Redis's one table).

use std::collections::BTreeSet;
use std::rc::Rc;

use bytes::Bytes;
use futures::future::join_all;

use super::subs::Kind;
use crate::shard::answer::Answer;
use crate::shard::mesh::{Control, Msg};
use crate::shard::Core;

/// The names of `kind` subscribed on every core, each once, in order.
pub async fn all_names(core: &Rc<Core>, kind: Kind) -> BTreeSet<Bytes> {
    let calls = (0..core.shards()).map(|s| {
        let ask: Control = Box::new(move |core: &Rc<Core>| {
            crate::net::catch_up(core);
            Answer::Names(core.pubsub.borrow().table(kind).keys().cloned().collect())
        });
        core.call(s, None, Msg::Control(ask))
    });
    let mut names = BTreeSet::new();
    for answer in join_all(calls).await {
        if let Some(Answer::Names(n)) = answer {
            names.extend(n);
        }
    }
    names
}

/// `INFO stats`' `pubsub_channels`, `pubsub_patterns` and `pubsubshard_channels`:
/// the channels, patterns and shard channels with a subscriber on some core, each
/// name counted once (as Redis counts the keys of its tables).
pub async fn info_counts(core: &Rc<Core>) -> [usize; 3] {
    let mut counts = [0; 3];
    for (count, kind) in counts
        .iter_mut()
        .zip([Kind::Channel, Kind::Pattern, Kind::Shard])
    {
        *count = all_names(core, kind).await.len();
    }
    counts
}
