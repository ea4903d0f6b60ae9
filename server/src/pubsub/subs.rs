//! What one connection is subscribed to ([`ClientSubs`], part of the session's
//! client state), in the three namespaces of subscriptions ([`Kind`]).

use std::collections::HashSet;

use bytes::Bytes;

/// The three namespaces of subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `SUBSCRIBE`: exact channel names, reached by `PUBLISH`.
    Channel,
    /// `PSUBSCRIBE`: glob patterns over the names `PUBLISH` uses.
    Pattern,
    /// `SSUBSCRIBE`: shard channels, reached by `SPUBLISH` only.
    Shard,
}

impl Kind {
    /// The first word of a subscription confirmation.
    pub fn subscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    pub fn unsubscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// What one connection is subscribed to.
#[derive(Debug, Default)]
pub struct ClientSubs {
    channels: HashSet<Bytes>,
    patterns: HashSet<Bytes>,
    shard: HashSet<Bytes>,
}

impl ClientSubs {
    pub(super) fn set(&self, kind: Kind) -> &HashSet<Bytes> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    pub(super) fn set_mut(&mut self, kind: Kind) -> &mut HashSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count a confirmation of `kind` reports: channels and patterns together,
    /// shard channels apart (Redis 7.0).
    pub(super) fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel | Kind::Pattern => self.channels.len() + self.patterns.len(),
            Kind::Shard => self.shard.len(),
        }
    }

    /// Channels, patterns and shard channels (`CLIENT LIST`'s `sub`, `psub`, `ssub`).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.channels.len(), self.patterns.len(), self.shard.len())
    }

    /// Subscribed to anything: the connection is in subscribed mode.
    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }
}
