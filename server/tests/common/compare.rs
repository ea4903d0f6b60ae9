//! Scripts run on corekv and on a real `redis-server`, replies compared byte for
//! byte. A script is one command per line, arguments split on blanks; `x{a..b}`
//! stands for the arguments `xa`, ..., `xb`.

use super::{Raw, Redis, Server, PROTOCOLS, SHARD_COUNTS};

/// One command's arguments.
pub type Command = Vec<Vec<u8>>;

/// `word`, or the arguments its `x{a..b}` range stands for.
pub fn expand(word: &str) -> Vec<Vec<u8>> {
    let range = word.strip_suffix('}').and_then(|w| w.split_once('{'));
    let bounds = range.and_then(|(prefix, r)| {
        let (a, b) = r.split_once("..")?;
        Some((prefix, a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
    });
    match bounds {
        Some((prefix, a, b)) => (a..=b)
            .map(|i| format!("{prefix}{i}").into_bytes())
            .collect(),
        None => vec![word.as_bytes().to_vec()],
    }
}

/// The commands of one line, `;`-separated.
pub fn commands(line: &str) -> Vec<Command> {
    line.split(';')
        .map(|cmd| cmd.split_whitespace().flat_map(expand).collect::<Command>())
        .filter(|cmd| !cmd.is_empty())
        .collect()
}

/// A script: one command per non-empty line.
pub fn script(text: &str) -> Vec<Command> {
    text.lines().flat_map(commands).collect()
}

/// A connection to `port` speaking `protocol`.
pub fn connect(port: u16, protocol: u8) -> Raw {
    match protocol {
        3 => Raw::connect_resp3(port),
        _ => Raw::connect(port),
    }
}

/// The raw replies to `script` on the server at `port`.
pub fn replies(port: u16, protocol: u8, script: &[Command]) -> Vec<Vec<u8>> {
    let mut c = connect(port, protocol);
    script
        .iter()
        .map(|cmd| {
            let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
            c.cmd_raw(&args)
        })
        .collect()
}

/// Runs `script` on a fresh Redis and a fresh corekv (one shard and four, RESP2 and
/// RESP3) and asserts every reply is the same bytes.
pub fn same_as_redis(script: &[Command]) {
    for protocol in PROTOCOLS {
        let redis = Redis::start();
        let want = replies(redis.port, protocol, script);
        for shards in SHARD_COUNTS {
            let corekv = Server::with_shards(shards, &[]);
            let got = replies(corekv.port(), protocol, script);
            for ((cmd, want), got) in script.iter().zip(&want).zip(&got) {
                let args: Vec<_> = cmd.iter().map(|a| String::from_utf8_lossy(a)).collect();
                assert_eq!(
                    String::from_utf8_lossy(got),
                    String::from_utf8_lossy(want),
                    "{args:?} (RESP{protocol}, {shards} shards)"
                );
            }
        }
    }
}
