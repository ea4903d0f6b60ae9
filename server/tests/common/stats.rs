//! What a server counts per command, read back in a form that compares with
//! Redis's: `INFO commandstats` without its times, the names `INFO
//! latencystats` has, `INFO errorstats` with `total_error_replies`, and the
//! arguments of the slow log's entries.

use super::{info_value, Raw};

/// `INFO commandstats`' lines without their times (`usec`, `usec_per_call`),
/// `cmdstat_` cut, sorted: `config|set:calls=1,rejected_calls=0,failed_calls=0`.
pub fn command_counts(c: &mut Raw) -> Vec<String> {
    let mut lines: Vec<String> = c
        .cmd(&["INFO", "commandstats"])
        .lines()
        .filter_map(|l| {
            let (name, fields) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let kept: Vec<&str> = fields.split(',').filter(|f| !f.contains("usec")).collect();
            Some(format!("{name}:{}", kept.join(",")))
        })
        .collect();
    lines.sort();
    lines
}

/// The commands `INFO latencystats` has percentiles of, sorted.
pub fn latency_names(c: &mut Raw) -> Vec<String> {
    let mut names: Vec<String> = c
        .cmd(&["INFO", "latencystats"])
        .lines()
        .filter_map(|l| {
            let named = l.strip_prefix("latency_percentiles_usec_")?;
            Some(named.split(':').next()?.to_string())
        })
        .collect();
    names.sort();
    names
}

/// `INFO errorstats`' lines, sorted, then `total_error_replies:n`.
pub fn error_counts(c: &mut Raw) -> Vec<String> {
    let mut lines: Vec<String> = c
        .cmd(&["INFO", "errorstats"])
        .lines()
        .filter(|l| l.starts_with("errorstat_"))
        .map(str::to_string)
        .collect();
    lines.sort();
    let total = info_value(&c.cmd(&["INFO", "stats"]), "total_error_replies");
    lines.push(format!("total_error_replies:{}", total.unwrap_or_default()));
    lines
}

/// The arguments of every slow log entry (at most `count`), each joined by
/// spaces, sorted: what was logged, whatever order the commands finished in.
pub fn slowlog_args(c: &mut Raw, count: usize) -> Vec<String> {
    let count = count.to_string();
    c.send(&super::encode_str(&["SLOWLOG", "GET", &count]));
    let reply = c.read_reply();
    let mut at = 0;
    let entries = array_len(&reply, &mut at);
    let mut logged = Vec::with_capacity(entries);
    for _ in 0..entries {
        let fields = array_len(&reply, &mut at);
        assert_eq!(fields, 6, "a slow log entry has six fields");
        // Id, time, duration.
        for _ in 0..3 {
            line(&reply, &mut at);
        }
        let args: Vec<String> = (0..array_len(&reply, &mut at))
            .map(|_| bulk(&reply, &mut at))
            .collect();
        // Client address and name.
        for _ in 0..2 {
            bulk(&reply, &mut at);
        }
        logged.push(args.join(" "));
    }
    logged.sort();
    logged
}

/// The next line of `reply` from `at`, without its CRLF; moves past it.
fn line<'a>(reply: &'a [u8], at: &mut usize) -> &'a [u8] {
    let len = reply[*at..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("a CRLF-ended line");
    let line = &reply[*at..*at + len];
    *at += len + 2;
    line
}

/// The length of the RESP2 array header at `at`.
fn array_len(reply: &[u8], at: &mut usize) -> usize {
    let head = line(reply, at);
    assert_eq!(head[0], b'*', "{:?}", String::from_utf8_lossy(head));
    String::from_utf8_lossy(&head[1..])
        .parse()
        .expect("an array length")
}

/// The RESP2 bulk string at `at`, as text.
fn bulk(reply: &[u8], at: &mut usize) -> String {
    let head = line(reply, at);
    assert_eq!(head[0], b'$', "{:?}", String::from_utf8_lossy(head));
    let len: usize = String::from_utf8_lossy(&head[1..])
        .parse()
        .expect("a bulk length");
    let text = String::from_utf8_lossy(&reply[*at..*at + len]).into_owned();
    *at += len + 2;
    text
}
