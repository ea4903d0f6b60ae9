//! A published message ([`Publish`]) and its delivery to one core's subscribers:
//! framed once per protocol, queued in each subscriber's outbox under its
//! output-buffer limit. The mesh carries a [`Publish`] to the other cores
//! (`Msg::Publish`), whose core runs [`Publish::deliver`] on its own table.

use std::time::Instant;

use bytes::Bytes;
use corekv_engine::glob::glob_match;
use corekv_engine::resp::{Protocol, Reply, ReplyBuf};

use super::registry::{Local, Sub};
use super::subs::Kind;
use crate::config::Hot;

/// A message for the subscribers of one core (the mesh's `Msg::Publish`).
#[derive(Debug)]
pub struct Publish {
    /// `Kind::Channel` (`PUBLISH`: channels and patterns) or `Kind::Shard`.
    pub kind: Kind,
    pub channel: Bytes,
    pub message: Bytes,
}

/// One message framed in each protocol, built on first use.
struct Frames<'a> {
    parts: [&'a [u8]; 4],
    len: usize,
    resp2: Option<Vec<u8>>,
    resp3: Option<Vec<u8>>,
}

impl<'a> Frames<'a> {
    fn new(parts: &[&'a [u8]]) -> Frames<'a> {
        let mut all: [&[u8]; 4] = [b""; 4];
        all[..parts.len()].copy_from_slice(parts);
        Frames {
            parts: all,
            len: parts.len(),
            resp2: None,
            resp3: None,
        }
    }

    fn get(&mut self, protocol: Protocol) -> &[u8] {
        let slot = match protocol {
            Protocol::Resp2 => &mut self.resp2,
            Protocol::Resp3 => &mut self.resp3,
        };
        slot.get_or_insert_with(|| {
            let mut out = ReplyBuf::new(protocol);
            Reply::push(&mut out, self.len);
            for part in &self.parts[..self.len] {
                out.bulk(part);
            }
            out.into_bytes()
        })
    }
}

/// The publishing connection, which may be a subscriber itself (RESP3): its copy
/// goes into its own replies, ahead of the count, where Redis puts it.
pub struct Own<'a> {
    pub id: u64,
    pub out: &'a mut ReplyBuf,
}

impl Publish {
    /// Delivers to the subscribers in `local`; returns how many connections got it.
    pub fn deliver(&self, local: &Local, hot: &Hot, own: Option<Own>) -> u64 {
        deliver(local, hot, self, own)
    }
}

fn deliver(local: &Local, hot: &Hot, publish: &Publish, mut own: Option<Own>) -> u64 {
    let now = Instant::now();
    let mut n = 0;
    let (word, table): (&[u8], _) = match publish.kind {
        Kind::Shard => (b"smessage", local.table(Kind::Shard)),
        _ => (b"message", local.table(Kind::Channel)),
    };
    if let Some(subs) = table.get(&publish.channel) {
        let mut frames = Frames::new(&[word, &publish.channel, &publish.message]);
        subs.iter()
            .for_each(|sub| send(hot, sub, &mut frames, &mut own, now));
        n += subs.len() as u64;
    }
    if publish.kind == Kind::Channel {
        for (pattern, subs) in local.table(Kind::Pattern) {
            if !glob_match(pattern, &publish.channel, false) {
                continue;
            }
            let parts: [&[u8]; 4] = [b"pmessage", pattern, &publish.channel, &publish.message];
            let mut frames = Frames::new(&parts);
            subs.iter()
                .for_each(|sub| send(hot, sub, &mut frames, &mut own, now));
            n += subs.len() as u64;
        }
    }
    n
}

/// Queues one message for one subscriber under its output-buffer limit (the
/// publisher's own copy goes into its replies).
fn send(hot: &Hot, (id, info): &Sub, frames: &mut Frames, own: &mut Option<Own>, now: Instant) {
    if let Some(own) = own.as_mut().filter(|o| o.id == *id) {
        let protocol = own.out.protocol();
        own.out.extend_from_slice(frames.get(protocol));
        return;
    }
    let info = info.borrow();
    let protocol = if info.resp == 3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    let limit = hot.output_limit(info.class());
    if let Err(over) = info.outbox.push_copy(frames.get(protocol), limit, || now) {
        log::warn!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            info.line_with_omem(over.pending_bytes)
        );
    }
}
