//! The `COMMAND` family against a live `redis-server` 7.0, byte for byte in RESP2
//! and RESP3: `COMMAND DOCS` and the whole `COMMAND INFO` reply (flags, key
//! triple, categories, tips, key specs, subcommands) of every command and
//! subcommand corekv has, a container's subcommands being the ones corekv runs
//! (`COMMAND LIST` names them, and no others); `COMMAND GETKEYS` and
//! `GETKEYSANDFLAGS` of the calls whose keys are hard to find; and the
//! statistics Redis keeps per subcommand (`INFO commandstats`, `INFO
//! latencystats`, `LATENCY HISTOGRAM`).

mod common;

use common::compare::connect;
use common::{stats, Raw, Redis, Server, PROTOCOLS};

/// corekv's commands and subcommands Redis has too, from its `COMMAND LIST`
/// (`ckv.*` are corekv's own).
fn corekv_commands(c: &mut Raw) -> Vec<String> {
    let all = common::items(&c.cmd(&["COMMAND", "LIST"]));
    all.into_iter().filter(|n| !n.starts_with("ckv.")).collect()
}

/// Where corekv's `COMMAND INFO` differs from Redis's on purpose: `PING`
/// answers while data loads (Redis's is not flagged `loading`), so that
/// clients and health checks can tell a loading server from a dead one.
const INFO_DIFFERS: &[&str] = &["ping"];

/// One RESP value: its header line and, for an aggregate, its items.
struct Node {
    head: Vec<u8>,
    items: Vec<Node>,
}

fn parse(b: &[u8], at: &mut usize) -> Node {
    let start = *at;
    let eol = start
        + b[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("CRLF");
    let kind = b[start];
    let n: i64 = std::str::from_utf8(&b[start + 1..eol])
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    *at = eol + 2;
    let mut node = Node {
        head: b[start..eol + 2].to_vec(),
        items: Vec::new(),
    };
    match kind {
        b'$' | b'=' if n >= 0 => {
            node.head.extend_from_slice(&b[*at..*at + n as usize + 2]);
            *at += n as usize + 2;
        }
        b'*' | b'~' | b'%' if n > 0 => {
            let count = if kind == b'%' { 2 * n } else { n };
            node.items = (0..count).map(|_| parse(b, at)).collect();
        }
        _ => {}
    }
    node
}

/// `node`'s bytes with Redis's subcommands in name order: Redis lists them in
/// its hash table's order, which differs from one process to the next.
fn canonical(node: &Node, out: &mut Vec<u8>) {
    out.extend_from_slice(&node.head);
    let bytes = |n: &Node| {
        let mut v = Vec::new();
        canonical(n, &mut v);
        v
    };
    let mut items: Vec<Vec<u8>> = node.items.iter().map(bytes).collect();
    // A docs map's "subcommands" value: name, docs pairs.
    for (i, pair) in node.items.windows(2).enumerate() {
        if pair[0].head.ends_with(b"subcommands\r\n") {
            let sub = &pair[1];
            let mut pairs: Vec<Vec<u8>> = sub
                .items
                .iter()
                .map(bytes)
                .collect::<Vec<_>>()
                .chunks(2)
                .map(|c| c.concat())
                .collect();
            pairs.sort();
            items[i + 1] = [sub.head.clone(), pairs.concat()].concat();
        }
    }
    // An info array's 10th item: the subcommands' info arrays.
    if node.items.len() == 10 && node.items[0].head.starts_with(b"$") {
        let sub = &node.items[9];
        let mut infos: Vec<Vec<u8>> = sub.items.iter().map(bytes).collect();
        infos.sort();
        items[9] = [sub.head.clone(), infos.concat()].concat();
    }
    items.iter().for_each(|i| out.extend_from_slice(i));
}

/// `reply` in [`canonical`] form.
fn normal(reply: &[u8]) -> String {
    let mut out = Vec::new();
    canonical(&parse(reply, &mut 0), &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The text of a string node.
fn text(node: &Node) -> String {
    let head = String::from_utf8_lossy(&node.head);
    let mut lines = head.split("\r\n");
    match lines.next() {
        Some(first) if first.starts_with('$') => lines.next().unwrap_or("").to_string(),
        Some(first) => first[1..].to_string(),
        None => String::new(),
    }
}

/// `node` with `items` as its items, its header's count adjusted (a map's
/// counts pairs).
fn with_items(node: &Node, items: Vec<Node>) -> Node {
    let count = match node.head[0] {
        b'%' => items.len() / 2,
        _ => items.len(),
    };
    Node {
        head: format!("{}{count}\r\n", node.head[0] as char).into_bytes(),
        items,
    }
}

/// `node` (Redis's reply) without the subcommands that `listed` lacks: in a
/// docs map's `subcommands`, and in an info array's tenth item.
fn pruned(node: &Node, listed: &[String]) -> Node {
    let keep = |name: &Node| listed.contains(&text(name));
    let mut items: Vec<Node> = node.items.iter().map(|n| pruned(n, listed)).collect();
    for i in 1..items.len() {
        if items[i - 1].items.is_empty() && text(&items[i - 1]) == "subcommands" {
            let pairs = std::mem::take(&mut items[i].items);
            let mut kept = Vec::new();
            for pair in pairs.chunks(2) {
                if keep(&pair[0]) {
                    kept.extend(pair.iter().map(|n| pruned(n, listed)));
                }
            }
            items[i] = with_items(&items[i], kept);
        }
    }
    // An info array: name, arity, ... (a docs map's second item is a string).
    if items.len() == 10 && items[0].head.starts_with(b"$") && items[1].head.starts_with(b":") {
        let infos = std::mem::take(&mut items[9].items);
        let kept = infos.into_iter().filter(|i| keep(&i.items[0])).collect();
        items[9] = with_items(&items[9], kept);
    }
    Node {
        head: node.head.clone(),
        items,
    }
}

/// Every command whose reply to `COMMAND sub name` differs between corekv and
/// Redis, with both replies, in each protocol.
fn differences(sub: &str) -> Vec<String> {
    let redis = Redis::start();
    let server = Server::start(&[]);
    let names = corekv_commands(&mut server.raw());
    assert!(names.len() > 150, "{names:?}");
    assert!(names.iter().any(|n| n == "config|get"), "{names:?}");
    let mut differ = Vec::new();
    for protocol in PROTOCOLS {
        let mut want = connect(redis.port, protocol);
        let mut got = connect(server.port(), protocol);
        for name in names.iter().filter(|n| !INFO_DIFFERS.contains(&n.as_str())) {
            let args: [&[u8]; 3] = [b"COMMAND", sub.as_bytes(), name.as_bytes()];
            let want = pruned(&parse(&want.cmd_raw(&args), &mut 0), &names);
            let mut expected = Vec::new();
            canonical(&want, &mut expected);
            let want = String::from_utf8_lossy(&expected).into_owned();
            let got = normal(&got.cmd_raw(&args));
            if want != got {
                differ.push(format!(
                    "{name} (RESP{protocol}):\n  redis:  {}\n  corekv: {}",
                    want, got
                ));
            }
        }
    }
    differ
}

#[test]
fn command_docs_match_redis_for_every_command() {
    let differ = differences("DOCS");
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn command_info_matches_redis_for_every_command() {
    let differ = differences("INFO");
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// Subcommands and several names at once, unknown ones among them.
const DOCS_AND_INFO_SCRIPT: &str = "
COMMAND INFO config|get get nosuchcommand client|list
COMMAND DOCS config|set nosuchcommand get
COMMAND DOCS
COMMAND HELP
";

#[test]
fn command_docs_and_info_of_subcommands_match_redis() {
    let script = common::compare::script(DOCS_AND_INFO_SCRIPT);
    let redis = Redis::start();
    let server = Server::start(&[]);
    for protocol in PROTOCOLS {
        let want = common::compare::replies(redis.port, protocol, &script);
        let got = common::compare::replies(server.port(), protocol, &script);
        // `COMMAND DOCS` of everything: Redis has commands corekv lacks, so only
        // corekv's entries are compared, each against Redis's.
        for (i, (want, got)) in want.iter().zip(&got).enumerate() {
            if script[i].len() == 2 && script[i][1] == b"DOCS" {
                continue;
            }
            assert_eq!(
                normal(got),
                normal(want),
                "{:?} RESP{protocol}",
                String::from_utf8_lossy(&script[i].concat())
            );
        }
    }
    let mut c = server.raw();
    let all = parse(&c.cmd_raw(&[b"COMMAND", b"DOCS"]), &mut 0)
        .items
        .len();
    let listed = common::items(&c.cmd(&["COMMAND", "LIST"]));
    let commands = listed.iter().filter(|n| !n.contains('|')).count();
    assert_eq!(all / 2, commands);
    assert_eq!(c.cmd(&["COMMAND", "COUNT"]), commands.to_string());
}

/// `COMMAND LIST` names a container's subcommands, as Redis's does, and
/// exactly the ones corekv runs: each of Redis's subcommands of a container
/// corekv has is answered as unknown if and only if corekv does not list it.
#[test]
fn listed_subcommands_are_the_ones_that_run() {
    let redis = Redis::start();
    let server = Server::start(&[]);
    let mut c = server.raw();
    let listed = common::items(&c.cmd(&["COMMAND", "LIST"]));
    let theirs = common::items(&Raw::connect(redis.port).cmd(&["COMMAND", "LIST"]));
    let containers: Vec<&str> = listed
        .iter()
        .filter_map(|n| Some(n.split_once('|')?.0))
        .collect();
    let mut subs: Vec<&String> = theirs.iter().chain(&listed).collect();
    subs.sort();
    subs.dedup();
    let mut unknown = Vec::new();
    for full in subs {
        let Some((container, sub)) = full.split_once('|') else {
            continue;
        };
        if !containers.contains(&container) {
            continue;
        }
        let reply = c.cmd(&[container, sub]);
        let runs = !reply.starts_with("-ERR unknown subcommand");
        assert_eq!(runs, listed.contains(full), "{full}: {reply}");
        if !runs {
            unknown.push(full.as_str());
        }
    }
    for expected in [
        "client|list",
        "config|set",
        "object|encoding",
        "command|docs",
    ] {
        assert!(listed.iter().any(|n| n == expected), "{expected}");
    }
    assert!(unknown.contains(&"client|tracking"), "{unknown:?}");
}

/// Calls whose keys only a careful reading finds: counted keys, keys after
/// keywords, keys of both `STORE` options, keyless and malformed calls.
const GETKEYS_CALLS: &[&str] = &[
    "get k",
    "set k v",
    "set k v GET",
    "set k v EX 10 get",
    "mset a 1 b 2",
    "del a b c",
    "zunionstore d 2 a b WEIGHTS 1 2",
    "zinterstore d 0 a",
    "zunionstore d 5 a b",
    "zunionstore d 9223372036854775807 a",
    "lmpop 9223372036854775807 a LEFT",
    "sintercard 9223372036854775807 a",
    "zunion 2 a b",
    "zdiffstore d 1 a",
    "zintercard 2 a b LIMIT 1",
    "sintercard 2 a b",
    "lmpop 2 l1 l2 LEFT COUNT 3",
    "blmpop 0 2 l1 l2 RIGHT",
    "zmpop 1 z MIN",
    "bzmpop 1 2 z1 z2 MAX COUNT 2",
    "blpop a b 0",
    "blmove a b LEFT RIGHT 0",
    "sort k",
    "sort k BY p LIMIT 0 1 GET g STORE dst",
    "sort k STORE a STORE b",
    "sort_ro k BY p",
    "georadius g 0 0 1 km",
    "georadius g 0 0 1 km STORE a",
    "georadius g 0 0 1 km STOREDIST b",
    "georadius g 0 0 1 km STORE a STOREDIST b",
    "georadiusbymember g m 1 km STORE a STOREDIST b",
    "georadius_ro g 0 0 1 km",
    "geosearchstore d s FROMMEMBER m BYRADIUS 1 km",
    "bitop and d s1 s2",
    "bitfield k GET u8 0",
    "bitfield k SET u8 0 1",
    "bitfield k INCRBY u8 0 1 GET u8 0",
    "bitfield_ro k GET u8 0",
    "object encoding k",
    "object help",
    "object",
    "memory usage k",
    "rename a b",
    "smove a b m",
    "lmove a b LEFT RIGHT",
    "copy a b",
    "pfmerge d a b",
    "lcs a b",
    "restore k 0 x",
    "exists a b",
    "ping",
    "nosuchcommand a",
    "get",
    "get a b",
    "spublish ch m",
];

#[test]
fn getkeys_and_flags_match_redis() {
    let redis = Redis::start();
    let server = Server::with_shards(4, &[]);
    for protocol in PROTOCOLS {
        let mut want = connect(redis.port, protocol);
        let mut got = connect(server.port(), protocol);
        for call in GETKEYS_CALLS {
            for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
                let mut args: Vec<&str> = vec!["COMMAND", sub];
                args.extend(call.split(' '));
                let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                let want = want.cmd_raw(&args);
                if want.starts_with(b"-ERR unknown command") {
                    continue;
                }
                assert_eq!(
                    String::from_utf8_lossy(&got.cmd_raw(&args)),
                    String::from_utf8_lossy(&want),
                    "COMMAND {sub} {call} (RESP{protocol})"
                );
            }
        }
    }
}

/// Calls that Redis counts under their subcommands.
const SUBCOMMAND_CALLS: &[&[&str]] = &[
    &["CONFIG", "SET", "maxmemory-samples", "5"],
    &["CONFIG", "GET", "maxmemory-samples"],
    &["config", "get", "nosuch"],
    &["CLIENT", "ID"],
    &["CLIENT", "SETNAME", "x"],
    &["COMMAND", "COUNT"],
    &["SLOWLOG", "LEN"],
    &["LATENCY", "LATEST"],
    &["OBJECT", "ENCODING", "k"],
    &["SET", "k", "v"],
    &["OBJECT", "ENCODING", "k"],
    &["CONFIG", "GET"],
];

/// After [`SUBCOMMAND_CALLS`]: the `cmdstat_` lines without their times, the
/// names in `INFO latencystats` and `LATENCY HISTOGRAM config|get`'s, sorted.
fn subcommand_stats(port: u16) -> Vec<String> {
    let mut c = Raw::connect(port);
    c.cmd(&["CONFIG", "RESETSTAT"]);
    SUBCOMMAND_CALLS.iter().for_each(|args| {
        c.cmd(args);
    });
    let mut counts = stats::command_counts(&mut c);
    counts.extend(stats::latency_names(&mut c));
    let histogram = c.cmd(&["LATENCY", "HISTOGRAM", "config|get", "CONFIG|SET", "config"]);
    let mut named: Vec<String> = common::items(&histogram)
        .into_iter()
        .filter(|i| i.contains('|'))
        .collect();
    named.sort();
    counts.push(format!("{named:?}"));
    counts
}

#[test]
fn statistics_count_subcommands_as_redis() {
    let redis = Redis::start();
    let expected = subcommand_stats(redis.port);
    assert!(
        expected.iter().any(|l| l.starts_with("config|set:calls=1")),
        "{expected:?}"
    );
    let server = Server::with_shards(2, &[]);
    assert_eq!(subcommand_stats(server.port()), expected);
}
