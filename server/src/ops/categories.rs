//! The ACL categories of every command corekv has, as Redis 7.0.15 lists them
//! (`COMMAND INFO`'s categories, recorded from redis-server 7.0.15), for `COMMAND
//! LIST FILTERBY ACLCAT`. corekv has no ACL users; the categories only select.
//! A command missing here (corekv's own, `ckv.*`) is in no category; a
//! subcommand's are read from Redis's recorded `COMMAND INFO`.

use super::redis_commands::INFO_CATEGORIES;

/// Command name → its categories, without `@`; sorted by name for searches.
const CATEGORIES: &[(&str, &[&str])] = &[
    ("append", &["write", "string", "fast"]),
    ("auth", &["fast", "connection"]),
    ("bgrewriteaof", &["admin", "slow", "dangerous"]),
    ("bgsave", &["admin", "slow", "dangerous"]),
    ("bitcount", &["read", "bitmap", "slow"]),
    ("bitfield", &["write", "bitmap", "slow"]),
    ("bitfield_ro", &["read", "bitmap", "fast"]),
    ("bitop", &["write", "bitmap", "slow"]),
    ("bitpos", &["read", "bitmap", "slow"]),
    ("blmove", &["write", "list", "slow", "blocking"]),
    ("blmpop", &["write", "list", "slow", "blocking"]),
    ("blpop", &["write", "list", "slow", "blocking"]),
    ("brpop", &["write", "list", "slow", "blocking"]),
    ("brpoplpush", &["write", "list", "slow", "blocking"]),
    ("bzmpop", &["write", "sortedset", "slow", "blocking"]),
    ("bzpopmax", &["write", "sortedset", "fast", "blocking"]),
    ("bzpopmin", &["write", "sortedset", "fast", "blocking"]),
    ("client", &["slow"]),
    ("command", &["slow", "connection"]),
    ("config", &["slow"]),
    ("copy", &["keyspace", "write", "slow"]),
    ("dbsize", &["keyspace", "read", "fast"]),
    ("debug", &["admin", "slow", "dangerous"]),
    ("decr", &["write", "string", "fast"]),
    ("decrby", &["write", "string", "fast"]),
    ("del", &["keyspace", "write", "slow"]),
    ("discard", &["fast", "transaction"]),
    ("dump", &["keyspace", "read", "slow"]),
    ("echo", &["fast", "connection"]),
    ("exec", &["slow", "transaction"]),
    ("exists", &["keyspace", "read", "fast"]),
    ("expire", &["keyspace", "write", "fast"]),
    ("expireat", &["keyspace", "write", "fast"]),
    ("expiretime", &["keyspace", "read", "fast"]),
    ("failover", &["admin", "slow", "dangerous"]),
    ("flushall", &["keyspace", "write", "slow", "dangerous"]),
    ("flushdb", &["keyspace", "write", "slow", "dangerous"]),
    ("geoadd", &["write", "geo", "slow"]),
    ("geodist", &["read", "geo", "slow"]),
    ("geohash", &["read", "geo", "slow"]),
    ("geopos", &["read", "geo", "slow"]),
    ("georadius", &["write", "geo", "slow"]),
    ("georadius_ro", &["read", "geo", "slow"]),
    ("georadiusbymember", &["write", "geo", "slow"]),
    ("georadiusbymember_ro", &["read", "geo", "slow"]),
    ("geosearch", &["read", "geo", "slow"]),
    ("geosearchstore", &["write", "geo", "slow"]),
    ("get", &["read", "string", "fast"]),
    ("getbit", &["read", "bitmap", "fast"]),
    ("getdel", &["write", "string", "fast"]),
    ("getex", &["write", "string", "fast"]),
    ("getrange", &["read", "string", "slow"]),
    ("getset", &["write", "string", "fast"]),
    ("hdel", &["write", "hash", "fast"]),
    ("hello", &["fast", "connection"]),
    ("hexists", &["read", "hash", "fast"]),
    ("hget", &["read", "hash", "fast"]),
    ("hgetall", &["read", "hash", "slow"]),
    ("hincrby", &["write", "hash", "fast"]),
    ("hincrbyfloat", &["write", "hash", "fast"]),
    ("hkeys", &["read", "hash", "slow"]),
    ("hlen", &["read", "hash", "fast"]),
    ("hmget", &["read", "hash", "fast"]),
    ("hmset", &["write", "hash", "fast"]),
    ("hrandfield", &["read", "hash", "slow"]),
    ("hscan", &["read", "hash", "slow"]),
    ("hset", &["write", "hash", "fast"]),
    ("hsetnx", &["write", "hash", "fast"]),
    ("hstrlen", &["read", "hash", "fast"]),
    ("hvals", &["read", "hash", "slow"]),
    ("incr", &["write", "string", "fast"]),
    ("incrby", &["write", "string", "fast"]),
    ("incrbyfloat", &["write", "string", "fast"]),
    ("info", &["slow", "dangerous"]),
    ("keys", &["keyspace", "read", "slow", "dangerous"]),
    ("lastsave", &["admin", "fast", "dangerous"]),
    ("latency", &["slow"]),
    ("lcs", &["read", "string", "slow"]),
    ("lindex", &["read", "list", "slow"]),
    ("linsert", &["write", "list", "slow"]),
    ("llen", &["read", "list", "fast"]),
    ("lmove", &["write", "list", "slow"]),
    ("lmpop", &["write", "list", "slow"]),
    ("lpop", &["write", "list", "fast"]),
    ("lpos", &["read", "list", "slow"]),
    ("lpush", &["write", "list", "fast"]),
    ("lpushx", &["write", "list", "fast"]),
    ("lrange", &["read", "list", "slow"]),
    ("lrem", &["write", "list", "slow"]),
    ("lset", &["write", "list", "slow"]),
    ("ltrim", &["write", "list", "slow"]),
    ("mget", &["read", "string", "fast"]),
    ("monitor", &["admin", "slow", "dangerous"]),
    ("move", &["keyspace", "write", "fast"]),
    ("mset", &["write", "string", "slow"]),
    ("msetnx", &["write", "string", "slow"]),
    ("multi", &["fast", "transaction"]),
    ("object", &["slow"]),
    ("persist", &["keyspace", "write", "fast"]),
    ("pexpire", &["keyspace", "write", "fast"]),
    ("pexpireat", &["keyspace", "write", "fast"]),
    ("pexpiretime", &["keyspace", "read", "fast"]),
    ("pfadd", &["write", "hyperloglog", "fast"]),
    ("pfcount", &["read", "hyperloglog", "slow"]),
    (
        "pfdebug",
        &["write", "hyperloglog", "admin", "slow", "dangerous"],
    ),
    ("pfmerge", &["write", "hyperloglog", "slow"]),
    ("pfselftest", &["hyperloglog", "admin", "slow", "dangerous"]),
    ("ping", &["fast", "connection"]),
    ("psetex", &["write", "string", "slow"]),
    ("psubscribe", &["pubsub", "slow"]),
    ("pttl", &["keyspace", "read", "fast"]),
    ("publish", &["pubsub", "fast"]),
    ("pubsub", &["slow"]),
    ("punsubscribe", &["pubsub", "slow"]),
    ("quit", &["fast", "connection"]),
    ("randomkey", &["keyspace", "read", "slow"]),
    ("rename", &["keyspace", "write", "slow"]),
    ("renamenx", &["keyspace", "write", "fast"]),
    ("replconf", &["admin", "slow", "dangerous"]),
    ("replicaof", &["admin", "slow", "dangerous"]),
    ("reset", &["fast", "connection"]),
    ("restore", &["keyspace", "write", "slow", "dangerous"]),
    ("role", &["admin", "fast", "dangerous"]),
    ("rpop", &["write", "list", "fast"]),
    ("rpoplpush", &["write", "list", "slow"]),
    ("rpush", &["write", "list", "fast"]),
    ("rpushx", &["write", "list", "fast"]),
    ("sadd", &["write", "set", "fast"]),
    ("save", &["admin", "slow", "dangerous"]),
    ("scan", &["keyspace", "read", "slow"]),
    ("scard", &["read", "set", "fast"]),
    ("sdiff", &["read", "set", "slow"]),
    ("sdiffstore", &["write", "set", "slow"]),
    ("select", &["fast", "connection"]),
    ("set", &["write", "string", "slow"]),
    ("setbit", &["write", "bitmap", "slow"]),
    ("setex", &["write", "string", "slow"]),
    ("setnx", &["write", "string", "fast"]),
    ("setrange", &["write", "string", "slow"]),
    ("shutdown", &["admin", "slow", "dangerous"]),
    ("sinter", &["read", "set", "slow"]),
    ("sintercard", &["read", "set", "slow"]),
    ("sinterstore", &["write", "set", "slow"]),
    ("sismember", &["read", "set", "fast"]),
    ("slaveof", &["admin", "slow", "dangerous"]),
    ("slowlog", &["slow"]),
    ("smembers", &["read", "set", "slow"]),
    ("smismember", &["read", "set", "fast"]),
    ("smove", &["write", "set", "fast"]),
    (
        "sort",
        &["write", "set", "sortedset", "list", "slow", "dangerous"],
    ),
    (
        "sort_ro",
        &["read", "set", "sortedset", "list", "slow", "dangerous"],
    ),
    ("spop", &["write", "set", "fast"]),
    ("spublish", &["pubsub", "fast"]),
    ("srandmember", &["read", "set", "slow"]),
    ("srem", &["write", "set", "fast"]),
    ("sscan", &["read", "set", "slow"]),
    ("ssubscribe", &["pubsub", "slow"]),
    ("strlen", &["read", "string", "fast"]),
    ("subscribe", &["pubsub", "slow"]),
    ("substr", &["read", "string", "slow"]),
    ("sunion", &["read", "set", "slow"]),
    ("sunionstore", &["write", "set", "slow"]),
    ("sunsubscribe", &["pubsub", "slow"]),
    ("swapdb", &["keyspace", "write", "fast", "dangerous"]),
    ("time", &["fast"]),
    ("touch", &["keyspace", "read", "fast"]),
    ("ttl", &["keyspace", "read", "fast"]),
    ("type", &["keyspace", "read", "fast"]),
    ("unlink", &["keyspace", "write", "fast"]),
    ("unsubscribe", &["pubsub", "slow"]),
    ("unwatch", &["fast", "transaction"]),
    ("wait", &["slow", "connection"]),
    ("watch", &["fast", "transaction"]),
    ("zadd", &["write", "sortedset", "fast"]),
    ("zcard", &["read", "sortedset", "fast"]),
    ("zcount", &["read", "sortedset", "fast"]),
    ("zdiff", &["read", "sortedset", "slow"]),
    ("zdiffstore", &["write", "sortedset", "slow"]),
    ("zincrby", &["write", "sortedset", "fast"]),
    ("zinter", &["read", "sortedset", "slow"]),
    ("zintercard", &["read", "sortedset", "slow"]),
    ("zinterstore", &["write", "sortedset", "slow"]),
    ("zlexcount", &["read", "sortedset", "fast"]),
    ("zmpop", &["write", "sortedset", "slow"]),
    ("zmscore", &["read", "sortedset", "fast"]),
    ("zpopmax", &["write", "sortedset", "fast"]),
    ("zpopmin", &["write", "sortedset", "fast"]),
    ("zrandmember", &["read", "sortedset", "slow"]),
    ("zrange", &["read", "sortedset", "slow"]),
    ("zrangebylex", &["read", "sortedset", "slow"]),
    ("zrangebyscore", &["read", "sortedset", "slow"]),
    ("zrangestore", &["write", "sortedset", "slow"]),
    ("zrank", &["read", "sortedset", "fast"]),
    ("zrem", &["write", "sortedset", "fast"]),
    ("zremrangebylex", &["write", "sortedset", "slow"]),
    ("zremrangebyrank", &["write", "sortedset", "slow"]),
    ("zremrangebyscore", &["write", "sortedset", "slow"]),
    ("zrevrange", &["read", "sortedset", "slow"]),
    ("zrevrangebylex", &["read", "sortedset", "slow"]),
    ("zrevrangebyscore", &["read", "sortedset", "slow"]),
    ("zrevrank", &["read", "sortedset", "fast"]),
    ("zscan", &["read", "sortedset", "slow"]),
    ("zscore", &["read", "sortedset", "fast"]),
    ("zunion", &["read", "sortedset", "slow"]),
    ("zunionstore", &["write", "sortedset", "slow"]),
];

/// Whether command `name` is in ACL category `category` (without `@`, any
/// case). A subcommand (`config|get`) is in the categories Redis records for it.
pub fn in_category(name: &str, category: &[u8]) -> bool {
    let is = |c: &str| c.as_bytes().eq_ignore_ascii_case(category);
    if let Some(cats) = of(name) {
        return cats.iter().any(|c| is(c));
    }
    let recorded = super::redis_commands::commands().info(name);
    let fields = recorded.map_or(&[][..], |info| info.items());
    let cats = fields.get(INFO_CATEGORIES).map_or(&[][..], |c| c.items());
    cats.iter()
        .filter_map(|c| c.text()?.strip_prefix('@'))
        .any(is)
}

/// The categories of command `name` in `COMMAND INFO`'s order, if it has any here.
pub fn of(name: &str) -> Option<&'static [&'static str]> {
    CATEGORIES
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|at| CATEGORIES[at].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_found() {
        assert!(CATEGORIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(in_category("pfadd", b"HyperLogLog"));
        assert!(!in_category("get", b"write"));
        assert!(!in_category("nosuch", b"read"));
        assert!(in_category("config|set", b"DANGEROUS"));
        assert!(!in_category("config|get", b"write"));
    }
}
