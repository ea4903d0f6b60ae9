//! Big strings in replies, written by reference ([`ReplyBuf::bulk_shared`]): the
//! marks, truncation and pieces of a [`ReplyBuf`] that holds them, and the
//! [`ReplyChunk`]s it hands to the connection's outbox.

use bytes::Bytes;
use smallvec::SmallVec;

use super::{Line, Reply, ReplyBuf};
use crate::value::Str;

/// Bulk strings at least this long are written by reference when they are held
/// shared ([`ReplyBuf::bulk_shared`]); shorter ones are copied, which costs less
/// than a chunk of their own on the way to the socket.
pub const SHARED_REPLY_MIN_BYTES: usize = 32 * 1024;

/// A piece of a connection's output: bytes written into a buffer, or a big string
/// shared with the keyspace ([`ReplyBuf::into_chunks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyChunk {
    Owned(Vec<u8>),
    Shared(Bytes),
}

impl ReplyChunk {
    /// Drops the first `n` bytes (they were written).
    pub fn advance(&mut self, n: usize) {
        match self {
            ReplyChunk::Owned(v) => {
                v.drain(..n);
            }
            ReplyChunk::Shared(b) => bytes::Buf::advance(b, n),
        }
    }
}

impl std::ops::Deref for ReplyChunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ReplyChunk::Owned(v) => v,
            ReplyChunk::Shared(b) => b,
        }
    }
}

impl From<Vec<u8>> for ReplyChunk {
    fn from(v: Vec<u8>) -> ReplyChunk {
        ReplyChunk::Owned(v)
    }
}

impl ReplyBuf {
    /// Where in the buffer's own bytes the replies from `mark` (a mark taken with
    /// [`len`](Self::len)) begin: past the strings written by reference before it.
    pub(super) fn byte_index(&self, mark: usize) -> usize {
        let mut before = 0;
        for (at, b) in &self.shared {
            if at + before >= mark {
                break;
            }
            before += b.len();
        }
        mark - before
    }

    /// The byte at `mark` (a mark taken with [`len`](Self::len)): the first byte of
    /// the reply written from there, if any.
    pub fn get(&self, mark: usize) -> Option<&u8> {
        self.bytes.get(self.byte_index(mark))
    }

    /// The replies written from `mark` (a mark taken with [`len`](Self::len)),
    /// without the strings written by reference: a reply's type and header are in
    /// the buffer's own bytes.
    pub fn since(&self, mark: usize) -> &[u8] {
        &self.bytes[self.byte_index(mark)..]
    }

    /// Keeps the first `len` bytes of the replies (a mark taken with
    /// [`len`](Self::len)), strings written by reference counted.
    pub fn truncate(&mut self, len: usize) {
        while let Some((at, b)) = self.shared.last_mut() {
            let start = *at + self.shared_bytes - b.len();
            if start >= len {
                self.shared_bytes -= b.len();
                self.shared.pop();
            } else {
                if start + b.len() > len {
                    let keep = len - start;
                    self.shared_bytes -= b.len() - keep;
                    b.truncate(keep);
                    let at = *at;
                    self.bytes.truncate(at);
                    return;
                }
                break;
            }
        }
        self.bytes.truncate(len - self.shared_bytes);
    }

    #[cold]
    pub(super) fn joined(self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.len());
        let mut from = 0;
        for (at, b) in &self.shared {
            all.extend_from_slice(&self.bytes[from..*at]);
            all.extend_from_slice(b);
            from = *at;
        }
        all.extend_from_slice(&self.bytes[from..]);
        all
    }

    /// The replies in order as the pieces to write: the buffer's bytes (the first
    /// piece is the buffer itself) and, between them, the strings written by
    /// reference. Empty pieces are left out.
    pub fn into_chunks(self) -> impl Iterator<Item = ReplyChunk> {
        let ReplyBuf {
            mut bytes, shared, ..
        } = self;
        let mut pieces: SmallVec<[ReplyChunk; 3]> = SmallVec::new();
        // Cut from the end, so the first piece keeps the buffer's allocation.
        for (at, b) in shared.into_iter().rev() {
            pieces.push(ReplyChunk::Owned(bytes.split_off(at)));
            pieces.push(ReplyChunk::Shared(b));
        }
        pieces.push(ReplyChunk::Owned(bytes));
        pieces.into_iter().rev().filter(|c| !c.is_empty())
    }

    /// Appends the replies of `other` (another shard's), its strings written by
    /// reference kept so.
    pub fn append(&mut self, other: ReplyBuf) {
        let base = self.bytes.len();
        self.shared_bytes += other.shared_bytes;
        self.shared
            .extend(other.shared.into_iter().map(|(at, b)| (base + at, b)));
        self.append_vec(other.bytes);
    }

    /// A bulk string: by reference when `shared` is given and big (the string's
    /// buffer is shared with the keyspace), else copied.
    pub fn bulk_shared(&mut self, b: &[u8], shared: Option<&Bytes>) {
        match shared {
            Some(shared) if shared.len() >= SHARED_REPLY_MIN_BYTES => {
                self.bytes
                    .line(b'$', itoa::Buffer::new().format(shared.len()).as_bytes());
                self.shared.push((self.bytes.len(), shared.clone()));
                self.shared_bytes += shared.len();
                self.bytes.extend_from_slice(b"\r\n");
            }
            _ => self.bulk(b),
        }
    }

    /// A string value as a bulk reply: a big shared one by reference, not copied.
    pub fn bulk_str(&mut self, value: Option<&Str>) {
        match value {
            Some(s) if s.shared().is_some() => self.bulk_shared(s, s.shared()),
            Some(s) => self.bulk(s),
            None => self.null(),
        }
    }
}
