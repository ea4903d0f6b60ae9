//! The pub/sub family: `SUBSCRIBE` `UNSUBSCRIBE` `PSUBSCRIBE` `PUNSUBSCRIBE`
//! `SSUBSCRIBE` `SUNSUBSCRIBE` `PUBLISH` `SPUBLISH` `PUBSUB`, with Redis 7.0's
//! replies. Subscribing changes this connection and its core's table
//! ([`crate::pubsub`]); publishing and `PUBSUB` ask the other cores.
//!
//! A (un)subscribe confirmation is a push frame in RESP3 (`>3`) and an array in
//! RESP2. Messages that arrive while the connection's batch runs wait for its
//! replies ([`crate::session::outbox::Outbox::hold`]), so none overtakes the
//! confirmation of its subscription.

use std::rc::Rc;

use bytes::Bytes;
use corekv_engine::command::flags::{FAST, LOADING, NOSCRIPT, PUBSUB, STALE};
use corekv_engine::command::{range, row, CommandSpec, KEY1};
use corekv_engine::error::CmdResult;
use corekv_engine::glob::glob_match;
use corekv_engine::resp::{Args, Reply, ReplyBuf};
use futures::future::{join_all, LocalBoxFuture};

use super::subcommand::{sub, sub_upto, Container};
use super::{srv, Handler};
use crate::commands::requests::{Answer, Core};
use crate::pubsub::fanout::publish;
use crate::pubsub::message::{Own, Publish};
use crate::pubsub::subs::Kind;
use crate::session::client::Client;
use crate::shard::mesh::Msg;

fn subscribe_to(core: &Rc<Core>, client: &mut Client, args: &Args, out: &mut ReplyBuf, kind: Kind) {
    for name in &args[1..] {
        let count = crate::pubsub::subscribe(core, client, kind, name);
        confirm(out, kind.subscribe_word(), Some(name), count);
    }
}

fn unsubscribe_from(
    core: &Rc<Core>,
    client: &mut Client,
    args: &Args,
    out: &mut ReplyBuf,
    kind: Kind,
) {
    let names = match args.len() {
        1 => crate::pubsub::names(client, kind),
        _ => args[1..].to_vec(),
    };
    if names.is_empty() {
        let count = crate::pubsub::unsubscribe(core, client, kind, b"");
        confirm(out, kind.unsubscribe_word(), None, count);
    }
    for name in &names {
        let count = crate::pubsub::unsubscribe(core, client, kind, name);
        confirm(out, kind.unsubscribe_word(), Some(name), count);
    }
}

/// One confirmation: `[word, name, count]`, a push frame in RESP3.
fn confirm(out: &mut ReplyBuf, word: &[u8], name: Option<&Bytes>, count: usize) {
    Reply::push(out, 3);
    out.bulk(word);
    match name {
        Some(name) => out.bulk(name),
        None => out.null(),
    }
    out.int(count as i64);
}

fn subscribe(core: &Rc<Core>, client: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    subscribe_to(core, client, args, out, Kind::Channel);
    Ok(())
}

fn psubscribe(core: &Rc<Core>, client: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    subscribe_to(core, client, args, out, Kind::Pattern);
    Ok(())
}

fn ssubscribe(core: &Rc<Core>, client: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    subscribe_to(core, client, args, out, Kind::Shard);
    Ok(())
}

fn unsubscribe(core: &Rc<Core>, client: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    unsubscribe_from(core, client, args, out, Kind::Channel);
    Ok(())
}

fn punsubscribe(
    core: &Rc<Core>,
    client: &mut Client,
    args: &Args,
    out: &mut ReplyBuf,
) -> CmdResult {
    unsubscribe_from(core, client, args, out, Kind::Pattern);
    Ok(())
}

fn sunsubscribe(
    core: &Rc<Core>,
    client: &mut Client,
    args: &Args,
    out: &mut ReplyBuf,
) -> CmdResult {
    unsubscribe_from(core, client, args, out, Kind::Shard);
    Ok(())
}

fn publish_kind<'a>(
    core: &'a Rc<Core>,
    client: &'a Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
    kind: Kind,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let message = Publish {
            kind,
            channel: args[1].clone(),
            message: args[2].clone(),
        };
        let own = Own {
            id: client.id,
            out: &mut *out,
        };
        let n = publish(core, message, Some(own)).await;
        out.int(n as i64);
        Ok(())
    })
}

fn publish_cmd<'a>(
    core: &'a Rc<Core>,
    client: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    publish_kind(core, client, args, out, Kind::Channel)
}

fn spublish<'a>(
    core: &'a Rc<Core>,
    client: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    publish_kind(core, client, args, out, Kind::Shard)
}

pub(crate) const CONTAINER: Container = Container {
    name: "PUBSUB",
    subs: &[
        sub_upto("channels", -2, 3),
        sub("numpat", 2),
        sub("numsub", -2),
        sub_upto("shardchannels", -2, 3),
        sub("shardnumsub", -2),
        sub("help", 2),
    ],
    help: &[
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
    ],
};

/// Per name, its subscribers of `kind` over every core.
async fn numsub(core: &Rc<Core>, kind: Kind, names: &[Bytes]) -> Vec<u64> {
    let calls = (0..core.shards()).map(|s| {
        let names = names.to_vec();
        let ask: crate::shard::mesh::Control = Box::new(move |core: &Rc<Core>| {
            crate::net::catch_up(core);
            let local = core.pubsub.borrow();
            let table = local.table(kind);
            let counts = names
                .iter()
                .map(|n| table.get(n).map_or(0, |s| s.len() as u64));
            Answer::Counts(counts.collect())
        });
        core.call(s, None, Msg::Control(ask))
    });
    let mut totals = vec![0; names.len()];
    for answer in join_all(calls).await {
        if let Some(Answer::Counts(counts)) = answer {
            totals.iter_mut().zip(counts).for_each(|(t, c)| *t += c);
        }
    }
    totals
}

fn pubsub<'a>(
    core: &'a Rc<Core>,
    _: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        let sub = CONTAINER.resolve(args)?;
        match sub {
            Some(which @ ("channels" | "shardchannels")) => {
                let kind = if which == "channels" {
                    Kind::Channel
                } else {
                    Kind::Shard
                };
                let names = crate::pubsub::introspect::all_names(core, kind).await;
                let pattern = args.get(2);
                let matching: Vec<&Bytes> = names
                    .iter()
                    .filter(|n| pattern.is_none_or(|p| glob_match(p, n, false)))
                    .collect();
                out.array(matching.len());
                matching.iter().for_each(|n| out.bulk(n));
            }
            Some(which @ ("numsub" | "shardnumsub")) => {
                let kind = if which == "numsub" {
                    Kind::Channel
                } else {
                    Kind::Shard
                };
                let counts = numsub(core, kind, &args[2..]).await;
                // An array of name, count pairs in both protocols, as Redis sends it.
                out.array(2 * counts.len());
                for (name, count) in args[2..].iter().zip(counts) {
                    out.bulk(name);
                    out.int(count as i64);
                }
            }
            Some("numpat") => {
                let patterns = crate::pubsub::introspect::all_names(core, Kind::Pattern).await;
                out.int(patterns.len() as i64);
            }
            Some("help") => CONTAINER.help(out),
            _ => return Err(CONTAINER.unknown(args.get(1).map_or(&b""[..], |a| a))),
        }
        Ok(())
    })
}

const SUBSCRIBING: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const PUBLISHING: u32 = PUBSUB | LOADING | STALE | FAST;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("subscribe", -2, SUBSCRIBING, "pubsub", "Listens for messages published to channels.", Handler::Sync(subscribe)),
    srv("unsubscribe", -1, SUBSCRIBING, "pubsub", "Stops listening to messages posted to channels.", Handler::Sync(unsubscribe)),
    srv("psubscribe", -2, SUBSCRIBING, "pubsub", "Listens for messages published to channels that match one or more patterns.", Handler::Sync(psubscribe)),
    srv("punsubscribe", -1, SUBSCRIBING, "pubsub", "Stops listening to messages published to channels that match one or more patterns.", Handler::Sync(punsubscribe)),
    row("ssubscribe", -2, SUBSCRIBING, range(1, -1, 1), "pubsub", "Listens for messages published to shard channels.", Handler::Sync(ssubscribe)),
    row("sunsubscribe", -1, SUBSCRIBING, range(1, -1, 1), "pubsub", "Stops listening to messages posted to shard channels.", Handler::Sync(sunsubscribe)),
    srv("publish", 3, PUBLISHING, "pubsub", "Posts a message to a channel.", Handler::Async(publish_cmd)),
    row("spublish", 3, PUBLISHING, KEY1, "pubsub", "Post a message to a shard channel", Handler::Async(spublish)),
    srv("pubsub", -2, PUBSUB | LOADING | STALE, "pubsub", "A container for Pub/Sub commands.", Handler::Async(pubsub)),
];
