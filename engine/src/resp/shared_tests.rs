//! [`ReplyBuf`]'s strings written by reference: marks, truncation and the pieces
//! handed to the outbox agree with the same replies written as bytes.

use bytes::Bytes;

use super::{Protocol, Reply, ReplyBuf, ReplyChunk, SHARED_REPLY_MIN_BYTES};

fn big(seed: u8) -> Bytes {
    Bytes::from(vec![seed; SHARED_REPLY_MIN_BYTES + seed as usize])
}

/// `+OK`, a shared bulk, `:1`, another shared bulk, `$-1`: by reference and copied.
fn both() -> (ReplyBuf, ReplyBuf, Vec<usize>) {
    let (a, b) = (big(1), big(2));
    let mut shared = ReplyBuf::new(Protocol::Resp2);
    let mut copied = ReplyBuf::new(Protocol::Resp2);
    let mut marks = vec![0];
    for out in [&mut shared, &mut copied] {
        out.ok();
    }
    marks.push(shared.len());
    shared.bulk_shared(&a, Some(&a));
    copied.bulk(&a);
    marks.push(shared.len());
    for out in [&mut shared, &mut copied] {
        out.int(1);
    }
    marks.push(shared.len());
    shared.bulk_shared(&b, Some(&b));
    copied.bulk(&b);
    marks.push(shared.len());
    for out in [&mut shared, &mut copied] {
        out.null();
    }
    marks.push(shared.len());
    (shared, copied, marks)
}

fn joined(out: ReplyBuf) -> Vec<u8> {
    out.into_chunks().flat_map(|c| c.to_vec()).collect()
}

#[test]
fn a_big_shared_bulk_is_a_chunk_of_its_own() {
    let (shared, copied, _) = both();
    assert_eq!(shared.len(), copied.len());
    let chunks: Vec<ReplyChunk> = shared.clone().into_chunks().collect();
    assert_eq!(chunks.len(), 5, "bytes, string, bytes, string, bytes");
    assert!(matches!(chunks[1], ReplyChunk::Shared(_)));
    assert!(matches!(chunks[3], ReplyChunk::Shared(_)));
    assert_eq!(joined(shared.clone()), *copied);
    assert_eq!(shared.into_bytes(), copied.into_bytes());
}

#[test]
fn small_or_owned_bulks_are_copied() {
    let small = Bytes::from_static(b"small");
    let mut out = ReplyBuf::new(Protocol::Resp2);
    out.bulk_shared(&small, Some(&small));
    let long = big(3);
    out.bulk_shared(&long, None);
    assert_eq!(out.clone().into_chunks().count(), 1);
    let mut want = ReplyBuf::new(Protocol::Resp2);
    want.bulk(b"small");
    want.bulk(&long);
    assert_eq!(out, want);
}

#[test]
fn marks_and_truncation_count_shared_strings() {
    let (shared, copied, marks) = both();
    for &mark in &marks {
        let mut s = shared.clone();
        s.truncate(mark);
        let mut c = copied.clone();
        c.truncate(mark);
        assert_eq!(s.len(), mark);
        assert_eq!(joined(s.clone()), *c, "truncated at {mark}");
        // What follows is written after the kept replies.
        s.error("ERR x");
        c.error("ERR x");
        assert_eq!(joined(s), *c, "written after a cut at {mark}");
        if mark < shared.len() {
            assert_eq!(shared.get(mark), copied.get(mark), "first byte at {mark}");
            // The reply's type and header line are in the buffer's own bytes.
            let since = shared.since(mark);
            let line = since.iter().position(|&b| b == b'\n').unwrap() + 1;
            assert_eq!(
                &copied[mark..mark + line],
                &since[..line],
                "header at {mark}"
            );
        }
    }
}

#[test]
fn appended_replies_keep_their_shared_strings() {
    let (shared, copied, _) = both();
    let mut first = ReplyBuf::new(Protocol::Resp2);
    first.simple(b"PONG");
    let mut want = first.clone();
    first.append(shared);
    want.append_vec(copied.into_bytes());
    assert_eq!(joined(first), *want);
}
