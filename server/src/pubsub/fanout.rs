//! Publishing: the message is delivered on this core at once and sent over the
//! mesh (`Msg::Publish`) to the other cores the summary names, each answering how
//! many connections it reached.

use futures::future::join_all;

use super::message::{Own, Publish};
use crate::shard::answer::Answer;
use crate::shard::mesh::Msg;
use crate::shard::Core;

/// Publishes on every core with receivers; returns how many connections got it.
/// `own` is the publishing connection (see [`Own`]).
pub async fn publish(core: &Core, publish: Publish, own: Option<Own<'_>>) -> u64 {
    let targets =
        core.global
            .pubsub
            .targets(publish.kind, &publish.channel, core.shards(), core.id);
    let here = deliver_here(core, &publish, own);
    if targets.is_empty() {
        return here;
    }
    let calls = targets.iter().map(|&target| {
        let msg = Msg::Publish(Publish {
            kind: publish.kind,
            channel: publish.channel.clone(),
            message: publish.message.clone(),
        });
        core.call(target, None, msg)
    });
    let counts = join_all(calls).await;
    here + counts
        .into_iter()
        .map(|a| match a {
            Some(Answer::Count(n)) => n,
            _ => 0,
        })
        .sum::<u64>()
}

/// Publishes without waiting for the count (keyspace notifications); the other
/// cores still get the messages in the order they were sent.
pub async fn publish_forget(core: &Core, publish: Publish) {
    let targets =
        core.global
            .pubsub
            .targets(publish.kind, &publish.channel, core.shards(), core.id);
    deliver_here(core, &publish, None);
    for target in targets {
        let msg = Msg::Publish(Publish {
            kind: publish.kind,
            channel: publish.channel.clone(),
            message: publish.message.clone(),
        });
        core.tell(target, msg).await;
    }
}

/// Delivers to this core's own subscribers.
fn deliver_here(core: &Core, publish: &Publish, own: Option<Own>) -> u64 {
    publish.deliver(&core.pubsub.borrow(), &core.global.config.hot, own)
}
