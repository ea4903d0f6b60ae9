//! Random command sequences for the differential tests: templates of the data
//! commands over a few keys per family, expanded with a seeded generator, and the
//! normal form of a reply whose order Redis leaves open.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{encode, reply_len, Raw};

/// Commands sent before their replies are read.
const PIPELINE: usize = 64;

/// Sends `cmds` on `con` in pipelined groups and hands each command's reply to
/// `each`, in order.
pub fn pipelined(con: &mut Raw, cmds: &[Vec<String>], mut each: impl FnMut(&[String], Vec<u8>)) {
    for chunk in cmds.chunks(PIPELINE) {
        let bytes: Vec<u8> = chunk
            .iter()
            .flat_map(|cmd| {
                let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_bytes()).collect();
                encode(&args)
            })
            .collect();
        con.send(&bytes);
        for cmd in chunk {
            each(cmd, con.read_reply());
        }
    }
}

/// Seeds and sequence length: the defaults given, or `COREKV_DIFFERENTIAL_SEEDS`
/// (`a-b` or one seed) and `COREKV_DIFFERENTIAL_COMMANDS`.
pub fn plan(seeds: std::ops::Range<u64>, commands: usize) -> (Vec<u64>, usize) {
    let seeds = match std::env::var("COREKV_DIFFERENTIAL_SEEDS") {
        Ok(s) => match s.split_once('-') {
            Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect(),
            None => vec![s.parse().unwrap()],
        },
        Err(_) => seeds.collect(),
    };
    let commands = std::env::var("COREKV_DIFFERENTIAL_COMMANDS")
        .map(|n| n.parse().unwrap())
        .unwrap_or(commands);
    (seeds, commands)
}

/// A seeded sequence of `count` commands.
pub fn sequence(seed: u64, count: usize) -> Vec<Vec<String>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count).map(|_| command(&mut rng)).collect()
}

/// Share of commands sent with their last argument dropped (arity errors and
/// optional arguments left off).
const TRUNCATE_SHARE: f64 = 0.03;
/// Share of keys taken from another family's names (wrong-type errors).
const FOREIGN_KEY_SHARE: f64 = 0.12;

/// Command templates, `family:words`. A word is taken as it is, or:
/// `$x` a random argument of kind `x` (see [`arg`]); `$x+` one to three of them;
/// `[a|b]` one of the alternatives; `?[a|b]` one of them or nothing. In an
/// alternative `_` separates words, which may be `$x` again.
const TEMPLATES: &[&str] = &[
    // Strings.
    "s:SET $k $v ?[NX|XX] ?[GET] ?[$at|KEEPTTL|EX_0|EX_abc|PX_-1]",
    "s:GET $k",
    "s:GETSET $k $v",
    "s:GETDEL $k",
    "s:GETEX $k ?[PERSIST|$at|PX_-1]",
    "s:SETNX $k $v",
    "s:SETEX $k [0|-1|abc] $v",
    "s:MSET $kv+",
    "s:MSETNX $kv+",
    "s:MGET $k+",
    "s:SET $k $V",
    "s:APPEND $k $v",
    "s:STRLEN $k",
    "s:INCR $k",
    "s:DECR $k",
    "s:INCRBY $k $I",
    "s:DECRBY $k $I",
    "s:INCRBYFLOAT $k $f",
    "s:GETRANGE $k $p $p",
    "s:SUBSTR $k $p $p",
    "s:BITFIELD_RO $k GET [u8_0|i5_3|u1_$o]",
    "s:SETRANGE $k [0|1|3|7|-1] $v",
    "s:LCS $k $k ?[LEN|IDX|IDX_WITHMATCHLEN|IDX_MINMATCHLEN_2]",
    "s:SETBIT $k $o $b",
    "s:GETBIT $k $o",
    "s:BITCOUNT $k ?[0_-1|1_2|0_5_BIT|-2_-1_BYTE|0]",
    "s:BITPOS $k $b ?[0|1_-1|0_9_BIT|2_1]",
    "s:BITOP [AND|OR|XOR] $k $k+",
    "s:BITOP NOT $k $k",
    "s:BITFIELD $k [GET_u8_0|SET_i5_3_$i|INCRBY_u4_2_$i|OVERFLOW_SAT_INCRBY_i4_0_$I|OVERFLOW_FAIL_INCRBY_u2_1_$i|GET_i64_0|GET_u64_0]",
    // Any key.
    "x:DEL $k+",
    "x:UNLINK $k+",
    "x:EXISTS $k+",
    "x:TYPE $k",
    "x:RENAME $k $k",
    "x:RENAMENX $k $k",
    "x:COPY $k $k ?[REPLACE]",
    "x:EXPIRE $k [0|-5|abc] ?[NX|XX|GT|LT]",
    "x:EXPIREAT $k [4102444800|4102444900|1|abc] ?[NX|XX|GT|LT]",
    "x:PEXPIREAT $k 4102444850000 ?[NX|XX|GT|LT]",
    "x:PERSIST $k",
    "x:EXPIRETIME $k",
    "x:PEXPIRETIME $k",
    "x:TOUCH $k+",
    "x:SCAN 0 COUNT 1000 ?[MATCH_*1|TYPE_list|TYPE_string]",
    "x:ECHO $v",
    "x:PING ?[$v]",
    "x:DBSIZE",
    "x:KEYS *",
    "x:KEYS [t*|?2|*[13]]",
    "x:SORT $k ?[ALPHA] ?[DESC] ?[LIMIT_0_3|LIMIT_1_-1]",
    "x:SORT_RO $k ALPHA",
    // Databases: the connection moves between two of them, keys and whole
    // databases move between them too.
    "x:SELECT [0|1|16|abc]",
    "x:MOVE $k [0|1|16]",
    "x:SWAPDB [0_1|1_0|0_0|0_16]",
    "x:COPY $k $k DB [0|1] ?[REPLACE]",
    // Transactions (the commands between `MULTI` and `EXEC` are queued).
    "x:MULTI",
    "x:EXEC",
    "x:DISCARD",
    "x:WATCH $k+",
    "x:UNWATCH",
    // Lists.
    "l:LPUSH $k $m+",
    "l:RPUSH $k $m+",
    "l:RPUSH $k $M",
    "l:LPUSHX $k $m",
    "l:RPUSHX $k $m",
    "l:LPOP $k ?[0|1|3|-1]",
    "l:RPOP $k ?[2]",
    "l:LRANGE $k $p $p",
    "l:LINDEX $k $p",
    "l:LSET $k $p $m",
    "l:LLEN $k",
    "l:LREM $k $p $m",
    "l:LTRIM $k $p $p",
    "l:LINSERT $k [BEFORE|AFTER] $m $m",
    "l:LPOS $k $m ?[RANK_$p] ?[COUNT_$n] ?[MAXLEN_$n]",
    "l:LMOVE $k $k [LEFT|RIGHT] [LEFT|RIGHT]",
    "l:RPOPLPUSH $k $k",
    "l:BRPOPLPUSH $k $k 0.01",
    "l:LMPOP 2 $k $k [LEFT|RIGHT] ?[COUNT_$n]",
    "l:BLPOP $k+ 0.01",
    "l:BRPOP $k+ 0.01",
    "l:BLMOVE $k $k [LEFT|RIGHT] [LEFT|RIGHT] 0.01",
    "l:BLMPOP 0.01 2 $k $k [LEFT|RIGHT] ?[COUNT_$n]",
    // Hashes.
    "h:HSET $k $ev+",
    "h:HMSET $k $ev+",
    "h:HSET $k $MV",
    "h:HDEL $k $M",
    "h:HSETNX $k $e $v",
    "h:HGET $k $e",
    "h:HMGET $k $e+",
    "h:HDEL $k $e+",
    "h:HLEN $k",
    "h:HEXISTS $k $e",
    "h:HINCRBY $k $e $I",
    "h:HINCRBYFLOAT $k $e $f",
    "h:HSTRLEN $k $e",
    "h:HKEYS $k",
    "h:HVALS $k",
    "h:HGETALL $k",
    "h:HSCAN $k 0 COUNT 1000 ?[MATCH_f*]",
    "h:HRANDFIELD $k [1000|0] ?[WITHVALUES]",
    // Sets.
    "t:SADD $k $m+",
    "t:SADD $k $M",
    "t:SREM $k $M",
    "t:SREM $k $m+",
    "t:SISMEMBER $k $m",
    "t:SMISMEMBER $k $m+",
    "t:SCARD $k",
    "t:SMEMBERS $k",
    "t:SSCAN $k 0 COUNT 1000 ?[MATCH_m1*|MATCH_*]",
    "t:SRANDMEMBER $k [1000|0]",
    "t:SPOP $k [1000|0]",
    "t:SINTER $k+",
    "t:SUNION $k+",
    "t:SDIFF $k+",
    "t:SINTERSTORE $k $k+",
    "t:SUNIONSTORE $k $k+",
    "t:SDIFFSTORE $k $k+",
    "t:SMOVE $k $k $m",
    "t:SINTERCARD 2 $k $k ?[LIMIT_$n]",
    // Sorted sets.
    "z:ZADD $k ?[NX|XX] ?[GT|LT] ?[CH] $sm+",
    "z:ZADD $k INCR $s $m",
    "z:ZADD $k $MS",
    "z:ZREM $k $M",
    "z:ZREM $k $m+",
    "z:ZSCORE $k $m",
    "z:ZMSCORE $k $m+",
    "z:ZINCRBY $k $f $m",
    "z:ZCARD $k",
    "z:ZSCAN $k 0 COUNT 1000",
    "z:ZRANDMEMBER $k [1000|0] ?[WITHSCORES]",
    "z:BZPOPMAX $k+ 0.01",
    "z:ZCOUNT $k $r $r",
    "z:ZRANGE $k $p $p ?[WITHSCORES]",
    "z:ZRANGE $k $r $r BYSCORE ?[REV] ?[LIMIT_$n_$n] ?[WITHSCORES]",
    "z:ZRANGEBYSCORE $k $r $r ?[WITHSCORES] ?[LIMIT_$n_$n]",
    "z:ZREVRANGEBYSCORE $k $r $r ?[WITHSCORES]",
    "z:ZREVRANGE $k $p $p ?[WITHSCORES]",
    "z:ZRANK $k $m",
    "z:ZREVRANK $k $m",
    "z:ZREMRANGEBYRANK $k $p $p",
    "z:ZREMRANGEBYSCORE $k $r $r",
    "z:ZPOPMIN $k ?[$n]",
    "z:ZPOPMAX $k ?[$n]",
    "z:ZUNIONSTORE $k 2 $k $k ?[WEIGHTS_2_$i] ?[AGGREGATE_SUM|AGGREGATE_MIN|AGGREGATE_MAX]",
    "z:ZINTERSTORE $k 2 $k $k ?[WEIGHTS_$i_1] ?[AGGREGATE_MIN|AGGREGATE_MAX]",
    "z:ZDIFFSTORE $k 2 $k $k",
    "z:ZUNION 2 $k $k ?[WITHSCORES]",
    "z:ZINTER 2 $k $k ?[WITHSCORES]",
    "z:ZDIFF 2 $k $k ?[WITHSCORES]",
    "z:ZINTERCARD 2 $k $k ?[LIMIT_$n]",
    "z:ZRANGESTORE $k $k $p $p",
    "z:ZMPOP 2 $k $k [MIN|MAX] ?[COUNT_$n]",
    "z:BZPOPMIN $k+ 0.01",
    "z:BZMPOP 0.01 2 $k $k [MIN|MAX] ?[COUNT_$n]",
    // Sorted sets whose members all have one score: the lexicographic ranges
    // (with scores apart their result is unspecified, and differs by encoding).
    "y:ZADD $k ?[NX|XX] $0m+",
    "y:ZADD $k $M0",
    "y:ZREM $k $m+",
    "y:ZLEXCOUNT $k $l $l",
    "y:ZRANGE $k $l $l BYLEX ?[REV] ?[LIMIT_0_$n|LIMIT_1_-1]",
    "y:ZRANGEBYLEX $k $l $l ?[LIMIT_$n_$n]",
    "y:ZREVRANGEBYLEX $k $l $l",
    "y:ZREMRANGEBYLEX $k $l $l",
    // Lists sorted by other keys' values (`o` keys hold lists only: the order of
    // equal weights follows the input's, which a set or a sorted set does not fix).
    "o:RPUSH $k $m+",
    "o:LPUSH $k $M",
    "o:LPOP $k ?[3]",
    "o:LRANGE $k 0 -1",
    "o:SORT $k BY [nosort|h1->f1|h*->f1|s*|t*] ?[GET_#|GET_h*->f1|GET_s*|GET_s1] ?[ALPHA] ?[DESC] ?[STORE_$k]",
    "o:SORT_RO $k BY s* GET # GET s*",
    // HyperLogLog.
    "p:PFADD $k $m+",
    "p:PFCOUNT $k+",
    "p:PFMERGE $k $k+",
    // Geo.
    "g:GEOADD $k ?[NX|XX] ?[CH] $g+",
    "g:GEODIST $k $m $m ?[km|mi]",
    "g:GEOPOS $k $m+",
    "g:GEOHASH $k $m+",
    "g:GEORADIUS $k 15 37 200 km ?[WITHDIST] ?[ASC|DESC] ?[COUNT_$n]",
    "g:GEORADIUSBYMEMBER $k $m 300 km ?[WITHCOORD] ?[ASC]",
    "g:GEOSEARCHSTORE $k $k FROMLONLAT 15 37 BYRADIUS 300 km ?[STOREDIST]",
    "g:GEOSEARCH $k FROMLONLAT 15 37 BYRADIUS 300 km ASC ?[WITHCOORD] ?[WITHDIST] ?[COUNT_$n]",
    "g:GEOSEARCH $k FROMMEMBER $m BYBOX 400 400 km DESC ?[WITHHASH]",
];

/// Commands whose reply is a set of items in no particular order.
const UNORDERED: &[&str] = &[
    "SMEMBERS", "SINTER", "SUNION", "SDIFF", "HKEYS", "HVALS", "KEYS",
];
/// Commands that answer some of a collection chosen at random: asked for more than
/// it holds, they answer all of it, in no particular order (with `WITHVALUES` or
/// `WITHSCORES`, in pairs).
const RANDOM_WHOLE: &[&str] = &["SPOP", "SRANDMEMBER", "HRANDFIELD", "ZRANDMEMBER"];
/// Scans, which answer `[cursor, [items]]` (the items in pairs for a hash or a
/// sorted set): with a `COUNT` past the collection's size, all of it in one call.
const SCANS: &[(&str, usize)] = &[("SCAN", 1), ("SSCAN", 1), ("HSCAN", 2), ("ZSCAN", 2)];
/// Commands whose reply is a map (field, value, field, value, …) in no particular order.
const UNORDERED_PAIRS: &[&str] = &["HGETALL"];

/// Families and the names of their keys. The one-score sorted sets (`y`) and the
/// lists to sort (`o`) are not among them: no other family's command names them,
/// and theirs name no other key (any key may hold a sorted set of several scores,
/// or a set).
const FAMILIES: &[char] = &['s', 'l', 'h', 't', 'z', 'p', 'g'];
const KEYS_PER_FAMILY: u32 = 3;

/// A random argument of `kind`.
fn arg(kind: &str, family: char, rng: &mut StdRng) -> Vec<String> {
    let pick = |list: &[&str], rng: &mut StdRng| vec![list.choose(rng).unwrap().to_string()];
    match kind {
        "k" => vec![key(family, rng)],
        "v" => pick(
            &[
                "a",
                "bc",
                "",
                "1",
                "10",
                "-5",
                "3.5",
                "9223372036854775807",
                "hello world",
                "0",
            ],
            rng,
        ),
        "I" => pick(
            &[
                "1",
                "-1",
                "5",
                "0",
                "9223372036854775807",
                "-9223372036854775808",
                "abc",
                "1.5",
                " 2",
            ],
            rng,
        ),
        "f" => pick(
            &[
                "1.5", "-2", "0", "1e2", "abc", "inf", "5.0e3", "-0.25", "0.1",
            ],
            rng,
        ),
        "s" => pick(
            &[
                "0", "1", "-1", "2.5", "+inf", "-inf", "1e3", "3", "abc", "-0", "0.1",
            ],
            rng,
        ),
        "r" => pick(
            &["-inf", "+inf", "0", "1", "(1", "(2.5", "3", "abc", "(-inf"],
            rng,
        ),
        "l" => pick(&["-", "+", "[a", "(b", "[c", "a", "[", "(d"], rng),
        "m" => pick(&["a", "b", "c", "d", "1", "2", "10", "-1"], rng),
        "e" => pick(&["f1", "f2", "f3", "f4"], rng),
        "p" => pick(
            &[
                "-4", "-3", "-2", "-1", "0", "1", "2", "3", "4", "100", "-100",
            ],
            rng,
        ),
        "n" => vec![rng.gen_range(0..5).to_string()],
        "i" => vec![rng.gen_range(-3..9).to_string()],
        "o" => pick(
            &["0", "1", "7", "8", "15", "33", "40", "-1", "4294967296"],
            rng,
        ),
        "b" => pick(&["0", "1", "2"], rng),
        "g" => {
            let (lon, lat) = [
                ("13.361389", "38.115556"),
                ("15.087269", "37.502669"),
                ("2.349014", "48.864716"),
                ("-0.127758", "51.507351"),
                ("200", "10"),
            ]
            .choose(rng)
            .copied()
            .unwrap();
            vec![lon.into(), lat.into(), arg("m", family, rng).remove(0)]
        }
        // Expiry times are absolute (in 2100), so that replies do not depend on
        // when a command ran.
        "at" => pick(
            &["EXAT 4102444800", "PXAT 4102444800500", "EXAT 4102444700"],
            rng,
        )
        .remove(0)
        .split(' ')
        .map(String::from)
        .collect(),
        // Many members at once (past the compact encodings' sizes): names or
        // integers, alone or paired with values, scores or a zero score.
        "M" | "MV" | "MS" | "M0" => {
            let ints = rng.gen_bool(0.5);
            let count = rng.gen_range(20..200);
            (0..count)
                .flat_map(|_| {
                    let n = rng.gen_range(0..300);
                    let member = if ints { n.to_string() } else { format!("m{n}") };
                    match kind {
                        "MV" => vec![member, "x".repeat(rng.gen_range(0..80))],
                        "MS" => vec![(n % 17).to_string(), member],
                        "M0" => vec!["0".into(), member],
                        _ => vec![member],
                    }
                })
                .collect()
        }
        "V" => vec!["v".repeat(rng.gen_range(40..300))],
        "kv" => [arg("k", family, rng), arg("v", family, rng)].concat(),
        "ev" => [arg("e", family, rng), arg("v", family, rng)].concat(),
        "sm" => [arg("s", family, rng), arg("m", family, rng)].concat(),
        "0m" => [vec!["0".to_string()], arg("m", family, rng)].concat(),
        other => panic!("unknown argument kind ${other}"),
    }
}

/// A key of `family` (`x`: of any), or now and then another family's.
fn key(family: char, rng: &mut StdRng) -> String {
    let own_only = matches!(family, 'y' | 'o');
    let family = if family == 'x' || (!own_only && rng.gen_bool(FOREIGN_KEY_SHARE)) {
        *FAMILIES.choose(rng).unwrap()
    } else {
        family
    };
    format!("{family}{}", rng.gen_range(1..=KEYS_PER_FAMILY))
}

/// The words of one template word.
fn expand(word: &str, family: char, rng: &mut StdRng) -> Vec<String> {
    if let Some(kind) = word.strip_prefix('$') {
        return match kind.strip_suffix('+') {
            Some(kind) => (0..rng.gen_range(1..=3))
                .flat_map(|_| arg(kind, family, rng))
                .collect(),
            None => arg(kind, family, rng),
        };
    }
    let (optional, body) = match word.strip_prefix('?') {
        Some(rest) => (true, rest),
        None => (false, word),
    };
    let Some(choices) = body.strip_prefix('[').and_then(|b| b.strip_suffix(']')) else {
        return vec![word.to_string()];
    };
    // `KEYS *[13]` is a glob, not a choice.
    if !choices.contains('|') && !optional {
        return vec![word.to_string()];
    }
    if optional && rng.gen_bool(0.5) {
        return Vec::new();
    }
    let choice = choices.split('|').collect::<Vec<_>>();
    let choice = choice.choose(rng).unwrap();
    choice
        .split('_')
        .flat_map(|w| expand(w, family, rng))
        .collect()
}

/// A random command.
fn command(rng: &mut StdRng) -> Vec<String> {
    let template = TEMPLATES.choose(rng).unwrap();
    let (family, words) = template.split_once(':').unwrap();
    let family = family.chars().next().unwrap();
    let mut cmd: Vec<String> = words
        .split(' ')
        .flat_map(|w| expand(w, family, rng))
        .collect();
    // Without its count a random command answers one item at random.
    let random = RANDOM_WHOLE.contains(&cmd[0].as_str());
    if cmd.len() > 1 && rng.gen_bool(TRUNCATE_SHARE) && !random {
        cmd.pop();
    }
    cmd
}

/// `reply` with a score of -0 read as 0, and its top-level items sorted if `cmd`
/// leaves their order open. (Redis keeps a sorted set's -0 in one encoding and not
/// in the other, and the encoding follows the set's history.)
pub fn normalized(cmd: &[String], reply: Vec<u8>) -> Vec<u8> {
    let reply = replaced(
        &replaced(&reply, b"$2\r\n-0\r\n", b"$1\r\n0\r\n"),
        b",-0\r\n",
        b",0\r\n",
    );
    let name = cmd[0].to_ascii_uppercase();
    let with_values = cmd
        .iter()
        .any(|a| a.eq_ignore_ascii_case("WITHVALUES") || a.eq_ignore_ascii_case("WITHSCORES"));
    if UNORDERED.contains(&name.as_str()) {
        sorted_items(&reply, 1)
    } else if UNORDERED_PAIRS.contains(&name.as_str()) {
        sorted_items(&reply, 2)
    } else if RANDOM_WHOLE.contains(&name.as_str()) {
        sorted_items(&reply, if with_values { 2 } else { 1 })
    } else if let Some(&(_, per_item)) = SCANS.iter().find(|(n, _)| *n == name) {
        // `[cursor, [items]]`: the items sorted.
        match items(&reply) {
            Some((head, parts)) if parts.len() == 2 => {
                [head, parts[0].clone(), sorted_items(&parts[1], per_item)].concat()
            }
            _ => reply,
        }
    } else {
        reply
    }
}

/// An aggregate reply's header and its items (a push's too); `None` for another
/// reply.
pub fn items(reply: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    if !matches!(reply.first(), Some(b'*' | b'~' | b'%' | b'>')) {
        return None;
    }
    let eol = reply.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let mut items = Vec::new();
    let mut pos = eol;
    while pos < reply.len() {
        let n = reply_len(&reply[pos..]).unwrap();
        items.push(reply[pos..pos + n].to_vec());
        pos += n;
    }
    Some((reply[..eol].to_vec(), items))
}

/// `reply` with its items sorted in groups of `per_item` (pairs stay together; a
/// RESP3 reply that nests each pair in an array of its own sorts the arrays).
pub fn sorted_items(reply: &[u8], per_item: usize) -> Vec<u8> {
    let Some((head, items)) = items(reply) else {
        return reply.to_vec();
    };
    let nested = items.first().is_some_and(|i| i.starts_with(b"*"));
    let per_item = if nested { 1 } else { per_item };
    let mut groups: Vec<Vec<u8>> = items.chunks(per_item).map(|c| c.concat()).collect();
    groups.sort();
    [head, groups.concat()].concat()
}

/// `bytes` with every `from` replaced by `to`.
fn replaced(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
