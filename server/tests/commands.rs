//! Every implemented command, end to end through the real server, with Redis 7.0's
//! replies (each table row was checked against `redis-server` 7.0.15), on one shard
//! and on four; and the multi-key commands with their keys on different shards.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    distinct_shards, each_shard_count_and_protocol, info_value, shard_of, Raw, Server, PROTOCOLS,
};

type Row<'a> = (&'a [&'a str], &'a str);

/// Runs `rows` in order on one connection, comparing each reply.
fn check_rows(con: &mut Raw, shards: usize, rows: &[Row]) {
    for (args, want) in rows {
        assert_eq!(&con.cmd(args), want, "{args:?} with {shards} shard(s)");
    }
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn int(reply: String) -> i64 {
    reply
        .parse()
        .unwrap_or_else(|_| panic!("integer reply expected, got {reply:?}"))
}

#[test]
fn string_commands() {
    let rows: &[Row] = &[
        (&["set", "k", "v"], "OK"),
        (&["get", "k"], "v"),
        (&["set", "k", "v2", "NX"], "(nil)"),
        (&["set", "k", "v2", "XX"], "OK"),
        (&["get", "k"], "v2"),
        (&["set", "k", "v3", "GET"], "v2"),
        (&["set", "fresh", "v", "GET"], "(nil)"),
        (&["set", "k", "v", "NX", "XX"], "-ERR syntax error"),
        (
            &["set", "k", "v", "EX", "0"],
            "-ERR invalid expire time in 'set' command",
        ),
        (
            &["set", "k", "v", "EX", "abc"],
            "-ERR value is not an integer or out of range",
        ),
        (
            &["set", "k", "v", "PX", "-5"],
            "-ERR invalid expire time in 'set' command",
        ),
        (
            &["set", "k", "v", "EX", "10", "PX", "10"],
            "-ERR syntax error",
        ),
        (
            &["set", "k", "v", "KEEPTTL", "EX", "10"],
            "-ERR syntax error",
        ),
        (&["set", "k", "v", "FOO"], "-ERR syntax error"),
        (&["get", "newkey"], "(nil)"),
        (&["setnx", "sx", "a"], "1"),
        (&["setnx", "sx", "b"], "0"),
        (&["get", "sx"], "a"),
        (&["getset", "sx", "c"], "a"),
        (&["getset", "nogs", "c"], "(nil)"),
        (&["get", "nogs"], "c"),
        (&["getdel", "sx"], "c"),
        (&["getdel", "sx"], "(nil)"),
        (&["append", "ap", "Hello"], "5"),
        (&["append", "ap", " World"], "11"),
        (&["get", "ap"], "Hello World"),
        (&["strlen", "ap"], "11"),
        (&["strlen", "newkey"], "0"),
        (&["getrange", "ap", "0", "4"], "Hello"),
        (&["getrange", "ap", "-5", "-1"], "World"),
        (&["getrange", "ap", "6", "1000"], "World"),
        (&["getrange", "ap", "5", "2"], ""),
        (&["getrange", "newkey", "0", "10"], ""),
        (&["substr", "ap", "0", "3"], "Hell"),
        (&["setrange", "ap", "6", "Redis"], "11"),
        (&["get", "ap"], "Hello Redis"),
        (&["setrange", "sr", "5", "x"], "6"),
        (&["strlen", "sr"], "6"),
        (
            &["setrange", "ap", "-1", "x"],
            "-ERR offset is out of range",
        ),
        (&["set", "n", "10"], "OK"),
        (&["incr", "n"], "11"),
        (&["decr", "n"], "10"),
        (&["incrby", "n", "100"], "110"),
        (&["decrby", "n", "20"], "90"),
        (
            &["incrby", "n", "abc"],
            "-ERR value is not an integer or out of range",
        ),
        (
            &["incr", "ap"],
            "-ERR value is not an integer or out of range",
        ),
        (&["set", "big", "9223372036854775807"], "OK"),
        (
            &["incr", "big"],
            "-ERR increment or decrement would overflow",
        ),
        (
            &["decrby", "n", "-9223372036854775808"],
            "-ERR decrement would overflow",
        ),
        (&["incrbyfloat", "fl", "10.5"], "10.5"),
        (&["incrbyfloat", "fl", "0.1"], "10.6"),
        (&["incrbyfloat", "fl", "-5"], "5.6"),
        (
            &["incrbyfloat", "fl", "abc"],
            "-ERR value is not a valid float",
        ),
        (
            &["incrbyfloat", "ap", "1"],
            "-ERR value is not a valid float",
        ),
        (&["set", "e", "5.0e3"], "OK"),
        (&["incrbyfloat", "e", "200"], "5200"),
        (&["set", "bm", "a"], "OK"),
        (&["getbit", "bm", "1"], "1"),
        (&["getbit", "bm", "2"], "1"),
        (&["getbit", "bm", "100"], "0"),
        (&["setbit", "bm", "6", "1"], "0"),
        (&["get", "bm"], "c"),
        (&["setbit", "bm", "6", "0"], "1"),
        (
            &["setbit", "bm", "3", "2"],
            "-ERR bit is not an integer or out of range",
        ),
        (
            &["setbit", "bm", "-1", "1"],
            "-ERR bit offset is not an integer or out of range",
        ),
        (&["bitcount", "bm"], "3"),
        (&["set", "bc", "foobar"], "OK"),
        (&["bitcount", "bc"], "26"),
        (&["bitcount", "bc", "0", "0"], "4"),
        (&["bitcount", "bc", "1", "1"], "6"),
        (&["bitcount", "bc", "5", "30", "BIT"], "17"),
        (&["bitcount", "bc", "0", "0", "FOO"], "-ERR syntax error"),
        (&["bitcount", "newkey"], "0"),
        (&["set", "bp", "AB"], "OK"),
        (&["bitpos", "bp", "0"], "0"),
        (&["bitpos", "bp", "1"], "1"),
        (&["set", "bp2", " ~"], "OK"),
        (&["bitpos", "bp2", "1", "0"], "2"),
        (&["bitpos", "bp2", "1", "1"], "9"),
        (&["bitpos", "bp2", "0", "1"], "8"),
        (&["bitpos", "bp2", "1", "-1", "-1", "BYTE"], "9"),
        (&["bitpos", "bp2", "1", "3", "9", "BIT"], "9"),
        (&["bitpos", "bp2", "0", "9", "15", "BIT"], "15"),
        (&["bitpos", "bp2", "1", "2"], "-1"),
        (&["bitpos", "newkey", "1"], "-1"),
        (&["bitpos", "newkey", "0"], "0"),
        (&["set", "{b}1", "foobar"], "OK"),
        (&["set", "{b}2", "abcdef"], "OK"),
        (&["bitop", "AND", "{b}dest", "{b}1", "{b}2"], "6"),
        (&["get", "{b}dest"], "`bc`ab"),
        (&["bitop", "OR", "{b}dest", "{b}1", "{b}2"], "6"),
        (&["get", "{b}dest"], "goofev"),
        (&["bitop", "XOR", "{b}dest", "{b}1", "{b}2"], "6"),
        (&["bitop", "NOT", "{b}dest", "{b}1"], "6"),
        (&["strlen", "{b}dest"], "6"),
        (
            &["bitop", "NOT", "{b}dest", "{b}1", "{b}2"],
            "-ERR BITOP NOT must be called with a single source key.",
        ),
        (&["bitop", "FOO", "{b}dest", "{b}1"], "-ERR syntax error"),
        (&["mset", "m1", "a", "m2", "b"], "OK"),
        (&["mget", "m1", "m2", "newkey"], "[a, b, (nil)]"),
        (
            &["mset", "m1"],
            "-ERR wrong number of arguments for 'mset' command",
        ),
        (&["msetnx", "m1", "x", "m3", "y"], "0"),
        (&["get", "m3"], "(nil)"),
        (&["msetnx", "m3", "x", "m4", "y"], "1"),
        (&["mget", "m3", "m4"], "[x, y]"),
        (&["setex", "se", "100", "v"], "OK"),
        (&["ttl", "se"], "100"),
        (
            &["setex", "se", "0", "v"],
            "-ERR invalid expire time in 'setex' command",
        ),
        (
            &["setex", "se", "abc", "v"],
            "-ERR value is not an integer or out of range",
        ),
        (&["psetex", "pse", "100000", "v"], "OK"),
        (
            &["psetex", "pse", "-1", "v"],
            "-ERR invalid expire time in 'psetex' command",
        ),
        (&["set", "w", "v"], "OK"),
        (&["get"], "-ERR wrong number of arguments for 'get' command"),
        (
            &["set", "k"],
            "-ERR wrong number of arguments for 'set' command",
        ),
        (&["getex", "newkey", "EX", "10"], "(nil)"),
    ];
    each_shard_count_and_protocol(&[], |server, shards| {
        check_rows(&mut server.raw(), shards, rows);
    });
}

#[test]
fn key_commands() {
    let rows: &[Row] = &[
        (&["mset", "a", "1", "b", "2", "c", "3", "d", "4"], "OK"),
        (&["exists", "a", "b", "c", "d", "zz", "a"], "5"),
        (&["del", "a", "b", "zz"], "2"),
        (&["exists", "a", "b"], "0"),
        (&["unlink", "c", "zz"], "1"),
        (&["touch", "d", "d", "zz"], "2"),
        (&["set", "e", "v"], "OK"),
        (&["expire", "e", "100"], "1"),
        (&["ttl", "e"], "100"),
        (&["expire", "e", "100", "NX"], "0"),
        (&["expire", "e", "200", "XX"], "1"),
        (&["ttl", "e"], "200"),
        (&["expire", "e", "50", "GT"], "0"),
        (&["expire", "e", "50", "LT"], "1"),
        (&["ttl", "e"], "50"),
        (&["expire", "e", "abc"], "-ERR value is not an integer or out of range"),
        (&["expire", "e", "10", "FOO"], "-ERR Unsupported option FOO"),
        (&["expire", "zz", "10"], "0"),
        (&["pexpire", "e", "100000"], "1"),
        (&["ttl", "e"], "100"),
        (&["expireat", "e", "32503680000"], "1"),
        (&["expiretime", "e"], "32503680000"),
        (&["pexpireat", "e", "32503680000000"], "1"),
        (&["pexpiretime", "e"], "32503680000000"),
        (&["persist", "e"], "1"),
        (&["persist", "e"], "0"),
        (&["ttl", "e"], "-1"),
        (&["pttl", "e"], "-1"),
        (&["expiretime", "e"], "-1"),
        (&["ttl", "zz"], "-2"),
        (&["pttl", "zz"], "-2"),
        (&["expiretime", "zz"], "-2"),
        (&["pexpiretime", "zz"], "-2"),
        (&["type", "e"], "string"),
        (&["type", "zz"], "none"),
        (&["set", "t", "v"], "OK"),
        (&["expire", "t", "-1"], "1"),
        (&["exists", "t"], "0"),
        (&["rename", "e", "e2"], "OK"),
        (&["exists", "e"], "0"),
        (&["get", "e2"], "v"),
        (&["rename", "zz", "x"], "-ERR no such key"),
        (&["renamenx", "e2", "d"], "0"),
        (&["renamenx", "e2", "e3"], "1"),
        (&["get", "e3"], "v"),
        (&["rename", "e3", "e3"], "OK"),
        (&["renamenx", "e3", "e3"], "0"),
        (&["set", "tt", "v", "EX", "100"], "OK"),
        (&["rename", "tt", "tt2"], "OK"),
        (&["ttl", "tt2"], "100"),
        (&["copy", "e3", "e4"], "1"),
        (&["copy", "e3", "e4"], "0"),
        (&["set", "e3", "new"], "OK"),
        (&["copy", "e3", "e4", "REPLACE"], "1"),
        (&["get", "e4"], "new"),
        (&["copy", "e3", "e4", "DB", "1"], "1"),
        (&["copy", "e3", "e3"], "-ERR source and destination objects are the same"),
        (&["copy", "zz", "e5"], "0"),
        (&["copy", "e3", "e4", "DB", "99"], "-ERR DB index is out of range"),
        (&["copy", "e3", "e4", "FOO"], "-ERR syntax error"),
        (&["move", "e4", "2"], "1"),
        (&["move", "e4", "2"], "0"),
        (&["exists", "e4"], "0"),
        (&["select", "2"], "OK"),
        (&["get", "e4"], "new"),
        (&["move", "e4", "2"], "-ERR source and destination objects are the same"),
        (&["select", "0"], "OK"),
        (&["move", "e3", "abc"], "-ERR value is not an integer or out of range"),
        (&["object", "encoding", "e3"], "embstr"),
        (&["set", "num", "123"], "OK"),
        (&["object", "encoding", "num"], "int"),
        (&["object", "refcount", "num"], "2147483647"),
        (&["object", "freq", "e3"], "-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        (&["object", "encoding", "zz"], "(nil)"),
        (&["object", "foo"], "-ERR unknown subcommand 'foo'. Try OBJECT HELP."),
        (&["object"], "-ERR wrong number of arguments for 'object' command"),
        (&["dbsize"], "4"),
        (&["flushdb"], "OK"),
        (&["dbsize"], "0"),
        (&["randomkey"], "(nil)"),
        (&["set", "only", "one"], "OK"),
        (&["randomkey"], "only"),
        (&["keys", "on*"], "[only]"),
        (&["keys", "zz*"], "[]"),
        (&["scan", "abc"], "-ERR invalid cursor"),
        (&["scan", "0", "COUNT", "0"], "-ERR syntax error"),
        (&["scan", "0", "FOO", "bar"], "-ERR syntax error"),
        (&["del"], "-ERR wrong number of arguments for 'del' command"),
    ];
    each_shard_count_and_protocol(&[], |server, shards| {
        check_rows(&mut server.raw(), shards, rows);
    });
}

#[test]
fn argument_errors_of_connection_and_server_commands() {
    let rows: &[Row] = &[
        (&["swapdb", "0", "99"], "-ERR DB index is out of range"),
        (&["swapdb", "x", "1"], "-ERR invalid first DB index"),
        (&["swapdb", "0", "x"], "-ERR invalid second DB index"),
        (&["swapdb", "-1", "0"], "-ERR DB index is out of range"),
        (
            &["command", "getkeys", "get"],
            "-ERR wrong number of arguments for 'command|getkeys' command",
        ),
        (
            &["command", "getkeys", "get", "a", "b"],
            "-ERR Invalid number of arguments specified for command",
        ),
        (
            &["command", "getkeys", "ping", "x"],
            "-ERR The command has no key arguments",
        ),
        (
            &["command", "getkeys", "ping"],
            "-ERR wrong number of arguments for 'command|getkeys' command",
        ),
        (
            &["command", "getkeys", "nosuch"],
            "-ERR wrong number of arguments for 'command|getkeys' command",
        ),
        (
            &["command", "getkeys", "nosuch", "x"],
            "-ERR Invalid command specified",
        ),
        (&["command", "getkeys", "mset", "a", "1", "b"], "[a, b]"),
        (
            &["command", "count", "x"],
            "-ERR wrong number of arguments for 'command|count' command",
        ),
        (
            &["command", "foo"],
            "-ERR unknown subcommand 'foo'. Try COMMAND HELP.",
        ),
        (
            &["config", "get"],
            "-ERR wrong number of arguments for 'config|get' command",
        ),
        (
            &["config", "set", "maxclients"],
            "-ERR wrong number of arguments for 'config|set' command",
        ),
        (
            &["config", "set", "maxclients", "100", "timeout"],
            "-ERR syntax error",
        ),
        (
            &["config", "foo"],
            "-ERR unknown subcommand 'foo'. Try CONFIG HELP.",
        ),
        (
            &["config", "resetstat", "x"],
            "-ERR wrong number of arguments for 'config|resetstat' command",
        ),
        (
            &["config"],
            "-ERR wrong number of arguments for 'config' command",
        ),
        (
            &["client", "id", "x"],
            "-ERR wrong number of arguments for 'client|id' command",
        ),
        (
            &["client", "foo"],
            "-ERR unknown subcommand 'foo'. Try CLIENT HELP.",
        ),
        (
            &["client", "getname", "x"],
            "-ERR wrong number of arguments for 'client|getname' command",
        ),
        (
            &["client", "setname"],
            "-ERR wrong number of arguments for 'client|setname' command",
        ),
        (&["client", "list", "foo"], "-ERR syntax error"),
        (&["client", "list", "id"], "-ERR syntax error"),
        (&["client", "list", "id", "abc"], "-ERR Invalid client ID"),
        (
            &["client", "list", "type", "foo"],
            "-ERR Unknown client type 'foo'",
        ),
        (
            &["client", "kill"],
            "-ERR wrong number of arguments for 'client|kill' command",
        ),
        (&["client", "kill", "id"], "-ERR No such client"),
        (
            &["client", "kill", "id", "0"],
            "-ERR client-id should be greater than 0",
        ),
        (&["client", "kill", "foo", "bar"], "-ERR syntax error"),
        (
            &["client"],
            "-ERR wrong number of arguments for 'client' command",
        ),
        (
            &["select"],
            "-ERR wrong number of arguments for 'select' command",
        ),
        (
            &["echo"],
            "-ERR wrong number of arguments for 'echo' command",
        ),
        (
            &["echo", "a", "b"],
            "-ERR wrong number of arguments for 'echo' command",
        ),
        (
            &["ping", "a", "b"],
            "-ERR wrong number of arguments for 'ping' command",
        ),
        (
            &["dbsize", "x"],
            "-ERR wrong number of arguments for 'dbsize' command",
        ),
        (&["flushall", "foo"], "-ERR syntax error"),
        (&["flushall", "sync", "x"], "-ERR syntax error"),
        (
            &["randomkey", "x"],
            "-ERR wrong number of arguments for 'randomkey' command",
        ),
        (
            &["keys"],
            "-ERR wrong number of arguments for 'keys' command",
        ),
        (
            &["time", "x"],
            "-ERR wrong number of arguments for 'time' command",
        ),
        (&["info", "a", "b"], ""),
        (
            &["reset", "x"],
            "-ERR wrong number of arguments for 'reset' command",
        ),
        (
            &["auth"],
            "-ERR wrong number of arguments for 'auth' command",
        ),
        (
            &["hello", "2", "setname", "a b"],
            "-ERR Client names cannot contain spaces, newlines or special characters.",
        ),
        (
            &["hello", "x"],
            "-ERR Protocol version is not an integer or out of range",
        ),
        (&["hello", "4"], "-NOPROTO unsupported protocol version"),
        (
            &["hello", "2", "auth"],
            "-ERR Syntax error in HELLO option 'auth'",
        ),
    ];
    each_shard_count_and_protocol(&[], |server, shards| {
        check_rows(&mut server.raw(), shards, rows);
    });
}

#[test]
fn set_and_getex_deadlines() {
    each_shard_count_and_protocol(&[], |server, shards| {
        let mut c = server.raw();
        let ctx = format!("{shards} shard(s)");
        let within = |got: i64, lo: i64, hi: i64, what: &str| {
            assert!(
                (lo..=hi).contains(&got),
                "{what}: {got} not in {lo}..={hi}, {ctx}"
            );
        };
        assert_eq!(c.cmd(&["SET", "k", "v", "EX", "100"]), "OK");
        assert_eq!(c.cmd(&["TTL", "k"]), "100");
        assert_eq!(c.cmd(&["SET", "k", "v", "PX", "50000"]), "OK");
        within(int(c.cmd(&["PTTL", "k"])), 49_000, 50_000, "PX");
        let at = now_s() + 100;
        assert_eq!(c.cmd(&["SET", "k", "v", "EXAT", &at.to_string()]), "OK");
        assert_eq!(c.cmd(&["EXPIRETIME", "k"]), at.to_string());
        let at_ms = at * 1000 + 250;
        assert_eq!(c.cmd(&["SET", "k", "v", "PXAT", &at_ms.to_string()]), "OK");
        assert_eq!(c.cmd(&["PEXPIRETIME", "k"]), at_ms.to_string());
        assert_eq!(c.cmd(&["SET", "k", "v2", "KEEPTTL"]), "OK");
        assert_eq!(c.cmd(&["PEXPIRETIME", "k"]), at_ms.to_string(), "KEEPTTL");
        assert_eq!(c.cmd(&["SET", "k", "v3"]), "OK");
        assert_eq!(
            c.cmd(&["TTL", "k"]),
            "-1",
            "a plain SET clears the deadline"
        );
        assert_eq!(c.cmd(&["SET", "k", "v4", "XX", "GET", "EX", "30"]), "v3");
        assert_eq!(c.cmd(&["TTL", "k"]), "30");
        assert_eq!(c.cmd(&["GETEX", "k", "PX", "20000"]), "v4");
        within(int(c.cmd(&["PTTL", "k"])), 19_000, 20_000, "GETEX PX");
        assert_eq!(c.cmd(&["GETEX", "k", "EX", "40"]), "v4");
        assert_eq!(c.cmd(&["TTL", "k"]), "40");
        let at = now_s() + 60;
        assert_eq!(c.cmd(&["GETEX", "k", "EXAT", &at.to_string()]), "v4");
        assert_eq!(c.cmd(&["EXPIRETIME", "k"]), at.to_string());
        assert_eq!(
            c.cmd(&["GETEX", "k", "PXAT", &(at * 1000).to_string()]),
            "v4"
        );
        assert_eq!(c.cmd(&["PEXPIRETIME", "k"]), (at * 1000).to_string());
        assert_eq!(c.cmd(&["GETEX", "k"]), "v4");
        assert_eq!(
            c.cmd(&["EXPIRETIME", "k"]),
            at.to_string(),
            "GETEX alone keeps it"
        );
        assert_eq!(c.cmd(&["GETEX", "k", "PERSIST"]), "v4");
        assert_eq!(c.cmd(&["TTL", "k"]), "-1");
        assert_eq!(
            c.cmd(&["GETEX", "k", "EX", "0"]),
            "-ERR invalid expire time in 'getex' command"
        );
        assert_eq!(
            c.cmd(&["GETEX", "k", "EX", "10", "PX", "10"]),
            "-ERR syntax error"
        );
        assert_eq!(c.cmd(&["SETEX", "s", "30", "v"]), "OK");
        assert_eq!(c.cmd(&["TTL", "s"]), "30");
        assert_eq!(c.cmd(&["PSETEX", "s", "30000", "w"]), "OK");
        within(int(c.cmd(&["PTTL", "s"])), 29_000, 30_000, "PSETEX");
        assert_eq!(c.cmd(&["GET", "s"]), "w");
    });
}

#[test]
fn keys_scan_and_randomkey_see_every_shard() {
    each_shard_count_and_protocol(&[], |server, shards| {
        let mut c = server.raw();
        let names: Vec<String> = (0..200).map(|i| format!("key:{i}")).collect();
        let mut mset = vec!["MSET"];
        for n in &names {
            mset.push(n);
            mset.push("v");
        }
        assert_eq!(c.cmd(&mset), "OK");
        assert_eq!(c.cmd(&["SET", "other", "v"]), "OK");
        assert_eq!(c.cmd(&["DBSIZE"]), "201");

        let mut keys = list(&c.cmd(&["KEYS", "key:*"]));
        keys.sort();
        let mut want = names.clone();
        want.sort();
        assert_eq!(keys, want, "KEYS with {shards} shard(s)");
        assert_eq!(c.cmd(&["KEYS", "key:1?"]).matches(", ").count() + 1, 10);
        assert_eq!(c.cmd(&["KEYS", "nomatch*"]), "[]");

        let mut scanned = scan_all(&mut c, &["MATCH", "key:*", "COUNT", "7"]);
        scanned.sort();
        scanned.dedup();
        assert_eq!(scanned, want, "SCAN MATCH with {shards} shard(s)");
        let mut all = scan_all(&mut c, &["COUNT", "1000"]);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 201);
        assert_eq!(scan_all(&mut c, &["TYPE", "string"]).len(), 201);
        assert!(scan_all(&mut c, &["TYPE", "hash"]).is_empty());

        // Over many calls, RANDOMKEY returns keys of every shard.
        let mut shards_seen = std::collections::BTreeSet::new();
        for _ in 0..RANDOMKEY_CALLS {
            let k = c.cmd(&["RANDOMKEY"]);
            assert!(k == "other" || names.contains(&k), "RANDOMKEY gave {k}");
            shards_seen.insert(shard_of(&k, shards));
        }
        assert_eq!(
            shards_seen.len(),
            shards,
            "shards RANDOMKEY returned keys of"
        );
        assert_eq!(c.cmd(&["FLUSHDB"]), "OK");
        assert_eq!(c.cmd(&["RANDOMKEY"]), "(nil)");
        assert_eq!(c.cmd(&["SCAN", "0"]), "[0, []]");
    });
}

/// `RANDOMKEY` calls that must between them return a key of every shard (with keys
/// spread evenly over four shards, missing one by chance has odds of about 4e-25).
const RANDOMKEY_CALLS: usize = 200;

/// Splits a rendered flat array `[a, b, c]` of keys without commas.
fn list(rendered: &str) -> Vec<String> {
    let inner = rendered
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or_else(|| panic!("array expected, got {rendered}"));
    if inner.is_empty() {
        return Vec::new();
    }
    inner.split(", ").map(str::to_string).collect()
}

/// A full `SCAN` iteration with `opts`, bounded in steps.
fn scan_all(c: &mut Raw, opts: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    for _ in 0..100_000 {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(opts);
        let reply = c.cmd(&args);
        let (next, batch) = reply
            .strip_prefix('[')
            .and_then(|r| r.split_once(", "))
            .unwrap_or_else(|| panic!("SCAN reply {reply}"));
        keys.extend(list(&batch[..batch.len() - 1]));
        if next == "0" {
            return keys;
        }
        assert!(
            next.parse::<i64>().is_ok(),
            "cursor {next} fits a signed 64-bit integer"
        );
        cursor = next.to_string();
    }
    panic!("SCAN did not finish");
}

#[test]
fn multi_key_commands_across_shards() {
    let keys = ["a", "b", "c", "d"];
    assert_eq!(
        distinct_shards(&keys, 4),
        4,
        "a, b, c, d live on four shards"
    );
    assert_ne!(shard_of("src", 4), shard_of("a", 4));
    each_shard_count_and_protocol(&[], |server, shards| {
        let mut c = server.raw();
        let rows: &[Row] = &[
            (&["MSET", "a", "1", "b", "2", "c", "3", "d", "4"], "OK"),
            (
                &["MGET", "a", "b", "c", "d", "nokey"],
                "[1, 2, 3, 4, (nil)]",
            ),
            (&["MGET", "d", "a", "d"], "[4, 1, 4]"),
            (&["MSETNX", "e", "5", "a", "x"], "0"),
            (&["EXISTS", "e"], "0"),
            (&["GET", "a"], "1"),
            (&["MSETNX", "e", "5", "f", "6", "g", "7", "h", "8"], "1"),
            (&["MGET", "e", "f", "g", "h"], "[5, 6, 7, 8]"),
            (&["EXISTS", "a", "b", "c", "d", "nokey", "a"], "5"),
            (&["TOUCH", "a", "b", "c", "d", "nokey"], "4"),
            (&["DEL", "a", "b", "nokey"], "2"),
            (&["EXISTS", "a", "b", "c", "d"], "2"),
            (&["UNLINK", "c", "d", "e", "nokey"], "3"),
            (
                &["MGET", "a", "b", "c", "d", "e"],
                "[(nil), (nil), (nil), (nil), (nil)]",
            ),
            (&["DBSIZE"], "3"),
            (&["SET", "src", "v"], "OK"),
            (&["RENAME", "src", "a"], "OK"),
            (&["MGET", "src", "a"], "[(nil), v]"),
            (&["RENAME", "src", "a"], "-ERR no such key"),
            (&["RENAMENX", "a", "f"], "0"),
            (&["MGET", "a", "f"], "[v, 6]"),
            (&["RENAMENX", "a", "b"], "1"),
            (&["MGET", "a", "b"], "[(nil), v]"),
            (&["COPY", "b", "c"], "1"),
            (&["COPY", "b", "c"], "0"),
            (&["SET", "b", "w"], "OK"),
            (&["COPY", "b", "c", "REPLACE"], "1"),
            (&["MGET", "b", "c"], "[w, w]"),
            (&["COPY", "nokey", "d"], "0"),
            (&["COPY", "b", "d", "DB", "3"], "1"),
            (&["EXISTS", "d"], "0"),
            (&["SELECT", "3"], "OK"),
            (&["GET", "d"], "w"),
            (&["SELECT", "0"], "OK"),
            (&["COPY", "b", "c", "FOO"], "-ERR syntax error"),
            (&["DEL", "b", "c", "f", "g", "h"], "5"),
            (&["DBSIZE"], "0"),
        ];
        check_rows(&mut c, shards, rows);
    });
}

#[test]
fn multi_key_commands_through_the_redis_crate() {
    each_shard_count_and_protocol(&[], |server, _| {
        let mut con = server.client();
        let pairs: Vec<(String, i64)> = (0..50).map(|i| (format!("n{i}"), i)).collect();
        redis::cmd("MSET")
            .arg(&pairs)
            .query::<()>(&mut con)
            .expect("MSET");
        let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<i64> = redis::cmd("MGET")
            .arg(&names)
            .query(&mut con)
            .expect("MGET");
        assert_eq!(values, (0..50).collect::<Vec<_>>());
        let (a, b, n): (i64, Option<String>, i64) = redis::pipe()
            .cmd("INCRBY")
            .arg("n7")
            .arg(10)
            .cmd("GET")
            .arg("missing")
            .cmd("DEL")
            .arg(&names)
            .query(&mut con)
            .expect("pipeline");
        assert_eq!((a, b, n), (17, None, 50));
        let size: i64 = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
        assert_eq!(size, 0);
    });
}

#[test]
fn connection_commands() {
    each_shard_count_and_protocol(&[], |server, shards| {
        let mut c = server.raw();
        assert_eq!(
            c.cmd(&["AUTH", "x"]),
            "-ERR AUTH <password> called without any password configured for the default \
             user. Are you sure your configuration is correct?"
        );
        assert_eq!(c.cmd(&["ECHO", "hello world"]), "hello world");
        assert_eq!(c.cmd_raw(&[b"PING"]), b"+PONG\r\n");
        assert_eq!(c.cmd_raw(&[b"PING", b"hi"]), b"$2\r\nhi\r\n");

        // SELECT: databases are separate on every shard.
        assert_eq!(
            c.cmd(&["MSET", "a", "0", "b", "0", "c", "0", "d", "0"]),
            "OK"
        );
        assert_eq!(c.cmd(&["SELECT", "1"]), "OK");
        assert_eq!(
            c.cmd(&["MGET", "a", "b", "c", "d"]),
            "[(nil), (nil), (nil), (nil)]"
        );
        assert_eq!(c.cmd(&["MSET", "a", "1", "b", "1", "c", "1"]), "OK");
        assert_eq!(c.cmd(&["DBSIZE"]), "3");
        assert_eq!(c.cmd(&["SELECT", "16"]), "-ERR DB index is out of range");

        // SWAPDB swaps on every shard at once.
        assert_eq!(c.cmd(&["SWAPDB", "0", "1"]), "OK");
        assert_eq!(
            c.cmd(&["MGET", "a", "b", "c", "d"]),
            "[0, 0, 0, 0]",
            "{shards}"
        );
        assert_eq!(c.cmd(&["SELECT", "0"]), "OK");
        assert_eq!(c.cmd(&["MGET", "a", "b", "c", "d"]), "[1, 1, 1, (nil)]");

        // FLUSHDB empties one database, FLUSHALL all of them.
        assert_eq!(c.cmd(&["FLUSHDB"]), "OK");
        assert_eq!(c.cmd(&["DBSIZE"]), "0");
        assert_eq!(c.cmd(&["SELECT", "1"]), "OK");
        assert_eq!(c.cmd(&["DBSIZE"]), "4");
        assert_eq!(c.cmd(&["FLUSHALL", "SYNC"]), "OK");
        assert_eq!(c.cmd(&["DBSIZE"]), "0");
        assert_eq!(c.cmd(&["SET", "k", "v"]), "OK");
        assert_eq!(c.cmd(&["CLIENT", "SETNAME", "before-reset"]), "OK");

        // HELLO 2 describes the server and the connection.
        let id = c.cmd(&["CLIENT", "ID"]);
        assert_eq!(
            c.cmd(&["HELLO", "2"]),
            format!(
                "[server, redis, version, 7.0.15, proto, 2, id, {id}, mode, standalone, \
                 role, master, modules, []]"
            )
        );
        assert!(c
            .cmd(&["HELLO", "2", "SETNAME", "via-hello"])
            .starts_with("[server, redis,"));
        assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), "via-hello");

        // RESET: back to database 0, no name.
        assert_eq!(c.cmd_raw(&[b"RESET"]), b"+RESET\r\n");
        assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), "(nil)");
        assert_eq!(c.cmd(&["GET", "k"]), "(nil)", "database 0 again");
        assert_eq!(c.cmd(&["SELECT", "1"]), "OK");
        assert_eq!(c.cmd(&["GET", "k"]), "v");

        // TIME: seconds and microseconds, now.
        let time = list(&c.cmd(&["TIME"]));
        assert_eq!(time.len(), 2);
        let secs: i64 = time[0].parse().expect("seconds");
        assert!((secs - now_s()).abs() <= 2, "TIME {secs}");
        assert!((0..1_000_000).contains(&time[1].parse::<i64>().expect("µs")));

        // QUIT answers OK and closes.
        assert_eq!(c.cmd(&["QUIT"]), "OK");
        assert!(c.read_to_eof().is_empty());
        assert_eq!(server.raw().cmd(&["PING"]), "PONG");
    });
}

#[test]
fn command_introspection() {
    for protocol in PROTOCOLS {
        command_introspection_in(&Server::with_shards(2, &[]).speaking(protocol));
    }
}

fn command_introspection_in(server: &Server) {
    let mut c = server.raw();
    // The commands; `COMMAND LIST` names their subcommands too (`config|get`).
    let mut names = list(&c.cmd(&["COMMAND", "LIST"]));
    names.retain(|n| !n.contains('|'));
    assert_eq!(c.cmd(&["COMMAND", "COUNT"]), names.len().to_string());
    let required = [
        "get",
        "set",
        "getex",
        "getdel",
        "append",
        "strlen",
        "incr",
        "incrby",
        "decr",
        "decrby",
        "incrbyfloat",
        "getrange",
        "setrange",
        "getbit",
        "setbit",
        "bitcount",
        "bitpos",
        "bitop",
        "mget",
        "mset",
        "msetnx",
        "setnx",
        "setex",
        "psetex",
        "getset",
        "del",
        "exists",
        "expire",
        "pexpire",
        "expireat",
        "pexpireat",
        "persist",
        "ttl",
        "pttl",
        "expiretime",
        "pexpiretime",
        "type",
        "keys",
        "scan",
        "randomkey",
        "rename",
        "renamenx",
        "move",
        "copy",
        "unlink",
        "touch",
        "object",
        "auth",
        "echo",
        "ping",
        "quit",
        "select",
        "hello",
        "reset",
        "swapdb",
        "command",
        "dbsize",
        "time",
        "flushdb",
        "flushall",
        "info",
        "config",
        "client",
        "debug",
        "shutdown",
    ];
    for name in required {
        assert!(names.iter().any(|n| n == name), "COMMAND LIST lacks {name}");
    }
    let info = c.cmd(&["COMMAND", "INFO", "get", "mset", "nosuch"]);
    assert!(
        info.starts_with("[[get, 2, [readonly, fast], 1, 1, 1, "),
        "COMMAND INFO get: {info}"
    );
    assert!(
        info.contains("[mset, -3, [write, denyoom], 1, -1, 2, "),
        "{info}"
    );
    assert!(
        info.ends_with(", (nil)]"),
        "unknown commands are nil: {info}"
    );
    let docs = c.cmd(&["COMMAND", "DOCS", "get"]);
    assert!(docs.starts_with("[get, [summary, "), "{docs}");
    assert!(docs.contains("group, string"), "{docs}");
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "SET", "k", "v"]), "[k]");
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        "[a, b]"
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "BITOP", "AND", "d", "s1", "s2"]),
        "[d, s1, s2]"
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "OBJECT", "ENCODING", "k"]),
        "[k]"
    );
    let all = c.cmd_raw(&[b"COMMAND"]);
    assert!(all.starts_with(format!("*{}\r\n", names.len()).as_bytes()));
    assert!(c
        .cmd(&["COMMAND", "HELP"])
        .starts_with("[COMMAND <subcommand>"));
}

#[test]
fn info_sections() {
    each_shard_count_and_protocol(&[], |server, shards| {
        let mut c = server.raw();
        assert_eq!(
            c.cmd(&["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]),
            "OK"
        );
        assert_eq!(c.cmd(&["SET", "e", "5", "EX", "100"]), "OK");
        assert_eq!(c.cmd(&["GET", "a"]), "1");
        assert_eq!(c.cmd(&["GET", "nokey"]), "(nil)");
        assert_eq!(c.cmd(&["SELECT", "2"]), "OK");
        assert_eq!(c.cmd(&["SET", "x", "1"]), "OK");
        assert_eq!(c.cmd(&["SELECT", "0"]), "OK");

        let server_section = c.cmd(&["INFO", "server"]);
        assert!(
            server_section.starts_with("# Server\r\n"),
            "{server_section}"
        );
        assert_eq!(
            info_value(&server_section, "redis_version").as_deref(),
            Some("7.0.15")
        );
        assert_eq!(
            info_value(&server_section, "tcp_port"),
            Some(server.port().to_string())
        );
        assert_eq!(
            info_value(&server_section, "process_id"),
            Some(server.pid().to_string())
        );
        let clients = c.cmd(&["INFO", "clients"]);
        assert_eq!(
            info_value(&clients, "connected_clients").as_deref(),
            Some("1")
        );
        let memory = c.cmd(&["INFO", "memory"]);
        let used: u64 = info_value(&memory, "used_memory")
            .and_then(|v| v.parse().ok())
            .expect("used_memory");
        assert!(used > 0, "{memory}");
        let stats = c.cmd(&["INFO", "stats"]);
        for field in [
            "total_connections_received",
            "total_commands_processed",
            "expired_keys",
        ] {
            assert!(info_value(&stats, field).is_some(), "{field} in {stats}");
        }
        assert_eq!(info_value(&stats, "keyspace_hits").as_deref(), Some("1"));
        assert_eq!(info_value(&stats, "keyspace_misses").as_deref(), Some("1"));
        let keyspace = c.cmd(&["INFO", "keyspace"]);
        assert_eq!(
            info_value(&keyspace, "db0").as_deref(),
            Some("keys=5,expires=1,avg_ttl=0"),
            "{keyspace}"
        );
        assert!(info_value(&keyspace, "db2").unwrap().starts_with("keys=1,"));
        let commandstats = c.cmd(&["INFO", "commandstats"]);
        let mset = info_value(&commandstats, "cmdstat_mset").expect("cmdstat_mset");
        assert!(mset.starts_with("calls=1,"), "{mset}");
        let set = info_value(&commandstats, "cmdstat_set").expect("cmdstat_set");
        assert!(set.starts_with("calls=2,"), "{set}");
        let shards_section = c.cmd(&["INFO", "shards"]);
        let lines: Vec<&str> = shards_section
            .lines()
            .filter(|l| l.starts_with("shard"))
            .collect();
        assert_eq!(lines.len(), shards, "{shards_section}");
        let keys: usize = lines
            .iter()
            .map(|l| {
                let field = l
                    .split(',')
                    .find_map(|f| f.strip_prefix("keys="))
                    .expect("keys=");
                field.parse::<usize>().expect("key count")
            })
            .sum();
        assert_eq!(
            keys, 6,
            "every shard's keys, all databases: {shards_section}"
        );
        let default = c.cmd(&["INFO"]);
        assert!(default.contains("# Server") && default.contains("# Keyspace"));
        assert!(
            !default.contains("# Commandstats"),
            "not in the default set"
        );
        let all = c.cmd(&["INFO", "all"]);
        assert!(all.contains("# Commandstats") && all.contains("# Shards"));
        let two = c.cmd(&["INFO", "server", "keyspace"]);
        assert!(two.contains("# Server") && two.contains("# Keyspace") && !two.contains("# Stats"));
    });
}

#[test]
fn config_get_set_resetstat() {
    for protocol in PROTOCOLS {
        config_get_set_resetstat_in(&Server::with_shards(2, &[]).speaking(protocol));
    }
}

fn config_get_set_resetstat_in(server: &Server) {
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "port"]),
        format!("[port, {}]", server.port())
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "maxclients"]),
        "[maxclients, 10000]"
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "500"]), "OK");
    assert_eq!(c.cmd(&["CONFIG", "GET", "maxclients"]), "[maxclients, 500]");
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "timeout", "30", "maxclients", "600"]),
        "OK"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "timeout", "maxclients"]),
        "[maxclients, 600, timeout, 30]"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "maxclients", "abc"]),
        "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument \
         couldn't be parsed into an integer"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "port", "1"]),
        "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable \
         config"
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "nosuch", "1"]),
        "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
    );
    assert_eq!(c.cmd(&["CONFIG", "GET", "nosuch*"]), "[]");
    let proto = c.cmd(&["CONFIG", "GET", "proto*"]);
    assert_eq!(proto, "[proto-max-bulk-len, 536870912]");

    for i in 0..10 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v"]), "OK");
    }
    let stats = c.cmd(&["INFO", "commandstats"]);
    assert!(info_value(&stats, "cmdstat_set")
        .unwrap()
        .starts_with("calls=10,"));
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), "OK");
    let stats = c.cmd(&["INFO", "commandstats"]);
    assert_eq!(info_value(&stats, "cmdstat_set"), None, "{stats}");
    assert_eq!(c.cmd(&["DBSIZE"]), "10", "RESETSTAT keeps the data");
}

#[test]
fn client_commands() {
    each_shard_count_and_protocol(&[], |server, _| {
        let mut c = server.raw();
        let id = int(c.cmd(&["CLIENT", "ID"]));
        assert!(id > 0);
        assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), "(nil)");
        assert_eq!(c.cmd(&["CLIENT", "SETNAME", "main-conn"]), "OK");
        assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), "main-conn");
        assert_eq!(
            c.cmd(&["CLIENT", "SETNAME", "has space"]),
            "-ERR Client names cannot contain spaces, newlines or special characters."
        );
        assert_eq!(
            c.cmd(&["CLIENT", "SETINFO", "LIB-NAME", "corekv-tests"]),
            "OK"
        );
        assert_eq!(c.cmd(&["CLIENT", "SETINFO", "lib-ver", "1.2.3"]), "OK");
        assert_eq!(
            c.cmd(&["CLIENT", "SETINFO", "bad", "x"]),
            "-ERR Unrecognized option 'bad'"
        );
        let me = c.cmd(&["CLIENT", "INFO"]);
        for part in [
            format!("id={id} "),
            "name=main-conn ".into(),
            "lib-name=corekv-tests ".into(),
            "lib-ver=1.2.3".into(),
            "cmd=client".into(),
        ] {
            assert!(me.contains(&part), "CLIENT INFO lacks {part}: {me}");
        }

        // Several connections land on different cores; CLIENT LIST sees them all.
        let mut others: Vec<Raw> = (0..6).map(|_| server.raw()).collect();
        let mut other_ids = Vec::new();
        for (i, o) in others.iter_mut().enumerate() {
            assert_eq!(o.cmd(&["CLIENT", "SETNAME", &format!("other-{i}")]), "OK");
            other_ids.push(int(o.cmd(&["CLIENT", "ID"])));
        }
        let all = c.cmd(&["CLIENT", "LIST"]);
        assert_eq!(all.lines().count(), 7, "{all}");
        for (i, oid) in other_ids.iter().enumerate() {
            assert!(all.contains(&format!("id={oid} ")), "{all}");
            assert!(all.contains(&format!("name=other-{i} ")), "{all}");
        }
        let one = c.cmd(&["CLIENT", "LIST", "ID", &other_ids[2].to_string()]);
        assert_eq!(one.lines().count(), 1);
        assert!(one.contains("name=other-2 "));
        assert_eq!(
            c.cmd(&["CLIENT", "LIST", "TYPE", "normal"]).lines().count(),
            7
        );

        // CLIENT KILL: by id (new form), by address (old form); only that connection.
        assert_eq!(
            c.cmd(&["CLIENT", "KILL", "ID", &other_ids[0].to_string()]),
            "1"
        );
        assert!(
            others[0].read_to_eof().is_empty(),
            "killed connection is closed"
        );
        let addr = others[1].stream.local_addr().expect("addr").to_string();
        assert_eq!(c.cmd(&["CLIENT", "KILL", &addr]), "OK");
        assert!(others[1].read_to_eof().is_empty());
        assert_eq!(c.cmd(&["CLIENT", "KILL", &addr]), "-ERR No such client");
        assert_eq!(
            c.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]),
            "0",
            "SKIPME yes"
        );
        assert_eq!(others[2].cmd(&["PING"]), "PONG", "others keep working");
        assert_eq!(c.cmd(&["PING"]), "PONG");
        let deadline = Instant::now() + Duration::from_secs(5);
        while c.cmd(&["CLIENT", "LIST"]).lines().count() != 5 {
            assert!(
                Instant::now() < deadline,
                "killed clients leave CLIENT LIST"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    });
}

#[test]
fn debug_sleep_blocks_for_the_time_given() {
    let server = Server::with_shards(1, &["--enable-debug-command", "yes"]);
    let mut c = server.raw();
    let started = Instant::now();
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0.3"]), "OK");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(c.cmd(&["DEBUG", "SLEEP", "0"]), "OK");
    assert_eq!(
        c.cmd(&["DEBUG", "SLEEP", "x"]),
        "OK",
        "strtod reads no number: 0"
    );
    assert_eq!(
        c.cmd(&["DEBUG", "NOSUCH"]),
        "-ERR unknown subcommand 'NOSUCH'. Try DEBUG HELP."
    );
}

#[test]
fn maxclients_refuses_connections_over_the_limit() {
    let server = Server::with_shards(2, &[]);
    let mut admin = server.raw();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "maxclients", "2"]), "OK");
    let mut second = server.raw();
    assert_eq!(second.cmd(&["PING"]), "PONG");
    let mut third = server.raw();
    assert_eq!(
        String::from_utf8_lossy(&third.read_to_eof()),
        "-ERR max number of clients reached\r\n"
    );
    let stats = admin.cmd(&["INFO", "stats"]);
    assert_eq!(
        info_value(&stats, "rejected_connections").as_deref(),
        Some("1")
    );
    assert_eq!(admin.cmd(&["CONFIG", "SET", "maxclients", "10000"]), "OK");
    assert_eq!(server.raw().cmd(&["PING"]), "PONG");
}
