//! Scripts compared with the real `redis-server`: a script runs on a fresh Redis and
//! on a fresh corekv (on each of [`SHARD_COUNTS`], in each of [`PROTOCOLS`]), and
//! every reply must be the same bytes.

use super::{Raw, Redis, Server, PROTOCOLS, SHARD_COUNTS};

/// Runs `script` on corekv (fresh, on each shard count) and on a fresh Redis, in each
/// protocol, and compares every reply byte for byte.
pub fn same_as_redis(script: &[Vec<String>]) {
    for protocol in PROTOCOLS {
        for shards in SHARD_COUNTS {
            let redis = Redis::start();
            let corekv = Server::with_shards(shards, &[]);
            let run = |port: u16| -> Vec<String> {
                let mut c = match protocol {
                    3 => Raw::connect_resp3(port),
                    _ => Raw::connect(port),
                };
                script
                    .iter()
                    .map(|args| {
                        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                        String::from_utf8_lossy(&c.cmd_raw(&args)).into_owned()
                    })
                    .collect()
            };
            let want = run(redis.port);
            let got = run(corekv.port());
            for ((args, want), got) in script.iter().zip(&want).zip(&got) {
                assert_eq!(got, want, "{args:?} (RESP{protocol}, {shards} shards)");
            }
        }
    }
}

/// A script, one command per line, arguments split on blanks.
pub fn script(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect()
}
