//! Pipelining: 10,000 mixed commands over every shard sent in one write come back in
//! order, each with its own reply; a pipeline split into pieces at arbitrary bytes
//! is framed the same.

mod common;

use std::collections::HashMap;
use std::io::Write;

use common::{each_shard_count, encode_str, reply_len, Raw};

const PIPELINE_COMMANDS: usize = 10_000;
/// Counters the pipeline's `INCR`s spread over.
const COUNTERS: usize = 7;

/// The pipeline's requests and the exact reply each must get: `SET k{i} i`,
/// `GET k{i}` and `INCR c{i%7}` interleaved.
fn mixed_pipeline(n: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut requests = Vec::new();
    let mut replies = Vec::new();
    let mut counters: HashMap<usize, i64> = HashMap::new();
    for j in 0..n {
        let i = j / 3;
        let key = format!("k{i}");
        let value = i.to_string();
        match j % 3 {
            0 => {
                requests.extend(encode_str(&["SET", &key, &value]));
                replies.push(b"+OK\r\n".to_vec());
            }
            1 => {
                requests.extend(encode_str(&["GET", &key]));
                replies.push(format!("${}\r\n{value}\r\n", value.len()).into_bytes());
            }
            _ => {
                let c = i % COUNTERS;
                let n = counters.entry(c).or_insert(0);
                *n += 1;
                requests.extend(encode_str(&["INCR", &format!("c{c}")]));
                replies.push(format!(":{n}\r\n").into_bytes());
            }
        }
    }
    (requests, replies)
}

/// Reads exactly `want.len()` replies and compares each, in order.
fn check_replies(con: &mut Raw, want: &[Vec<u8>], context: &str) {
    for (i, expected) in want.iter().enumerate() {
        let got = con.read_reply();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "reply {i} of {} ({context})",
            want.len()
        );
    }
}

#[test]
fn ten_thousand_mixed_commands_in_one_write() {
    let (requests, replies) = mixed_pipeline(PIPELINE_COMMANDS);
    assert_eq!(replies.len(), PIPELINE_COMMANDS);
    each_shard_count(&[], |server, shards| {
        let mut con = server.raw();
        // One write, from another thread, so that a server answering before it has
        // read everything can never fill both socket buffers and stall the test.
        let mut writer = con.stream.try_clone().expect("clone");
        let requests = requests.clone();
        let sent = std::thread::spawn(move || writer.write_all(&requests));
        check_replies(&mut con, &replies, &format!("{shards} shard(s)"));
        sent.join().expect("writer").expect("write");
        assert_eq!(con.cmd(&["PING"]), "PONG", "nothing extra was sent");
        let keys = PIPELINE_COMMANDS.div_ceil(3);
        assert_eq!(con.cmd(&["DBSIZE"]), (keys + COUNTERS).to_string());
    });
}

#[test]
fn a_pipeline_split_at_arbitrary_bytes_is_framed_the_same() {
    let (requests, replies) = mixed_pipeline(300);
    each_shard_count(&[], |server, shards| {
        let mut con = server.raw();
        // Pieces of 1 to 13 bytes, each its own write, cutting through every part of
        // the framing (counts, lengths, CRLFs, payloads).
        let mut at = 0;
        let mut size = 1;
        while at < requests.len() {
            let end = (at + size).min(requests.len());
            con.send(&requests[at..end]);
            at = end;
            size = size % 13 + 1;
        }
        check_replies(&mut con, &replies, &format!("{shards} shard(s), split"));
    });
}

#[test]
fn inline_and_cross_shard_commands_pipelined() {
    // Inline commands and a multi-key command over four shards, alternating.
    each_shard_count(&[], |server, _| {
        let mut con = server.raw();
        let mut batch = Vec::new();
        for i in 0..1000 {
            batch.extend_from_slice(format!("SET inline{i} {i}\r\n").as_bytes());
            batch.extend(encode_str(&[
                "MGET",
                "a",
                "b",
                "c",
                "d",
                &format!("inline{i}"),
            ]));
        }
        con.send(&batch);
        let mut all = Vec::new();
        for _ in 0..2000 {
            all.extend(con.read_reply());
        }
        let mut at = 0;
        for i in 0..1000 {
            let n = reply_len(&all[at..]).expect("whole reply");
            assert_eq!(&all[at..at + n], b"+OK\r\n");
            at += n;
            let n = reply_len(&all[at..]).expect("whole reply");
            let v = i.to_string();
            let want = format!("*5\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n${}\r\n{v}\r\n", v.len());
            assert_eq!(String::from_utf8_lossy(&all[at..at + n]), want);
            at += n;
        }
        assert_eq!(at, all.len());
    });
}
