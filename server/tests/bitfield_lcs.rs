//! `BITFIELD`, `BITFIELD_RO` and `LCS` against the real binary, on one shard and on
//! four:
//! - every reply is what `redis-server` 7.0.15 answers to the same script, byte for
//!   byte in RESP2 and RESP3: signed and unsigned fields of every width at any offset
//!   and `#` offsets, each overflow mode at both ends, the string's growth, the error
//!   texts; `LCS` with each option, keys on different shards, and its refusal when
//!   the table would exceed `proto-max-bulk-len`;
//! - a restart after `SIGKILL` under `appendfsync always` gives back the strings
//!   `BITFIELD` wrote, byte for byte.

mod common;

use common::compare::{same_as_redis, script};
use common::{distinct_shards, restart_in, start_in, DataDir, Server, EXIT_TIMEOUT};

const BITFIELD: &str = "
    BITFIELD bf SET i8 0 -100 GET u4 0 INCRBY u2 100 1 OVERFLOW SAT INCRBY i8 0 -100 OVERFLOW FAIL INCRBY i8 0 -100
    GET bf
    BITFIELD bf GET i8 0 GET u8 0 GET i1 0 GET u1 0 GET i64 0 GET u63 0 GET i64 1 GET u63 7
    BITFIELD bf GET i8 #0 GET i8 #1 GET u16 #6 GET i5 #3
    BITFIELD bf SET u8 #2 255 SET i16 #3 -2 GET u8 #2 GET i16 #3
    GET bf
    BITFIELD w SET u8 0 300 SET i8 8 200 SET u8 16 -1 SET i8 24 -129 INCRBY u8 0 250 INCRBY i8 8 -100
    BITFIELD w OVERFLOW WRAP INCRBY u3 0 9 INCRBY i3 0 -9 INCRBY u63 100 -1 INCRBY i64 200 -1
    BITFIELD w OVERFLOW SAT SET u8 0 300 SET i8 8 200 SET u8 16 -1 SET i8 24 -129 INCRBY u4 0 100 INCRBY u4 0 -100
    BITFIELD w OVERFLOW SAT INCRBY i64 300 9223372036854775807 INCRBY i64 300 1 INCRBY i64 300 -9223372036854775808 INCRBY i64 300 -9223372036854775808 INCRBY i64 300 -1
    BITFIELD w OVERFLOW FAIL SET u8 0 300 SET i8 8 -129 INCRBY u2 0 4 INCRBY i2 0 -3 INCRBY u63 400 -1 GET u63 400
    BITFIELD w OVERFLOW SAT INCRBY u63 400 -1 INCRBY u63 400 9223372036854775807 INCRBY u63 400 1 GET i64 400
    BITFIELD w OVERFLOW WRAP INCRBY i64 500 9223372036854775807 INCRBY i64 500 2 INCRBY i64 500 -9223372036854775808
    BITFIELD w OVERFLOW WRAP SET i8 40 100 INCRBY i8 40 100 INCRBY i8 40 -100 INCRBY i8 40 -100 INCRBY i5 40 100
    BITFIELD w OVERFLOW WRAP SET u8 48 100 INCRBY u8 48 200 INCRBY u8 48 -100 INCRBY u5 48 -100
    GET w
    STRLEN w
    BITFIELD new OVERFLOW FAIL SET u2 100 7
    GET new
    BITFIELD grow SET u8 0 1
    BITFIELD grow GET u8 1000
    STRLEN grow
    BITFIELD grow INCRBY u8 100 0
    STRLEN grow
    BITFIELD missing GET i8 0 GET u4 3
    EXISTS missing
    BITFIELD bf
    BITFIELD missing
    BITFIELD_RO bf GET i8 #1 GET u63 1
    BITFIELD_RO missing GET i8 0
    BITFIELD_RO bf SET i8 0 1
    BITFIELD_RO bf INCRBY i8 0 1
    BITFIELD_RO bf GET i8 0 OVERFLOW SAT
    BITFIELD bf GET i8
    BITFIELD bf GET
    BITFIELD bf SET i8 0
    BITFIELD bf FOO
    BITFIELD bf GET x8 0
    BITFIELD bf GET I8 0
    BITFIELD bf GET u64 0
    BITFIELD bf GET i65 0
    BITFIELD bf GET i0 0
    BITFIELD bf GET u08 0
    BITFIELD bf GET i8 -1
    BITFIELD bf GET i8 #-1
    BITFIELD bf GET i8 x
    BITFIELD bf GET i8 4294967296
    BITFIELD bf GET i8 4294967295
    BITFIELD bf GET i64 #67108864
    BITFIELD bf OVERFLOW FOO
    BITFIELD bf OVERFLOW
    BITFIELD bf SET i8 0 x
    BITFIELD bf INCRBY i8 0 1.5
    BITFIELD bf GET i8 0 SET i8 0 x
    LPUSH l x
    BITFIELD l GET i8 0
    BITFIELD l SET i8 0 1
    BITFIELD_RO l GET i8 0
    BITFIELD
    BITFIELD_RO
";

#[test]
fn bitfield_replies_are_redis_s() {
    same_as_redis(&script(BITFIELD));
}

const LCS: &str = "
    SET a ohmytext
    SET b mynewtext
    LCS a b
    LCS a b LEN
    LCS a b IDX
    LCS a b IDX WITHMATCHLEN
    LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN
    LCS a b IDX MINMATCHLEN 5
    LCS a b IDX MINMATCHLEN -3 WITHMATCHLEN
    LCS a b WITHMATCHLEN
    LCS a b LEN LEN
    LCS b a IDX WITHMATCHLEN
    LCS a a IDX WITHMATCHLEN
    SET c aXbXcXdXeXfX
    SET d abcdefabcdef
    LCS c d
    LCS c d IDX WITHMATCHLEN
    LCS d c IDX MINMATCHLEN 1
    LCS a missing
    LCS missing a IDX
    LCS missing other LEN
    LCS missing other IDX WITHMATCHLEN
    LCS a b IDX LEN
    LCS a b LEN IDX
    LCS a b MINMATCHLEN
    LCS a b MINMATCHLEN x
    LCS a b FOO
    LPUSH l x
    LCS a l
    LCS l a FOO
    LCS l missing IDX LEN
    LCS a
    SETRANGE x 599 a
    SETRANGE y 599 b
    LCS x y LEN
    CONFIG SET proto-max-bulk-len 1048576
    LCS x y LEN
    LCS x y IDX
    LCS x missing
    CONFIG SET proto-max-bulk-len 536870912
    LCS x y LEN
";

#[test]
fn lcs_replies_are_redis_s() {
    for pair in [["a", "b"], ["c", "d"], ["a", "l"], ["x", "y"]] {
        assert_eq!(
            distinct_shards(&pair, 4),
            2,
            "{pair:?} on one shard of four"
        );
    }
    same_as_redis(&script(LCS));
}

fn kill(server: &mut Server) {
    server.signal(libc::SIGKILL);
    let status = server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGKILL");
    assert_eq!(status.code(), None, "killed by a signal: {status}");
}

#[test]
fn sigkill_then_restart_gives_back_what_bitfield_wrote() {
    let dir = DataDir::new("bitfield-restart");
    let args = ["--shards", "4", "--appendfsync", "always"];
    let mut server = start_in(&dir, &args);
    let port = server.port();
    let mut c = server.raw();
    let keys = ["f0", "f1", "f2", "f3"];
    for (i, key) in keys.iter().enumerate() {
        c.cmd(&["SET", key, "some bytes to overwrite in place"]);
        let offset = (i * 13).to_string();
        c.cmd(&["BITFIELD", key, "SET", "i16", &offset, "-12345"]);
        c.cmd(&[
            "BITFIELD", key, "INCRBY", "u7", "#40", "99", "SET", "u3", "2", "5",
        ]);
        c.cmd(&[
            "BITFIELD", key, "OVERFLOW", "FAIL", "SET", "u8", "500", "1000",
        ]);
    }
    c.cmd(&["BITFIELD", "fresh", "SET", "i32", "#3", "-7"]);
    let dump = |c: &mut common::Raw| -> Vec<Vec<u8>> {
        keys.iter()
            .chain(&["fresh"])
            .map(|k| c.cmd_raw(&[b"GET", k.as_bytes()]))
            .collect()
    };
    let before = dump(&mut c);
    drop(c);
    kill(&mut server);
    let server = restart_in(port, &dir, &args);
    assert!(dump(&mut server.raw()) == before);
}
