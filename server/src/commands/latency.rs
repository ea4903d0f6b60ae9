//! `LATENCY LATEST | HISTORY event | RESET [event ...] | GRAPH event | DOCTOR |
//! HISTOGRAM [command ...] | HELP`: the latency monitor ([`crate::ops::latency`]
//! keeps it and lists its events) and the per-command latency histograms
//! ([`crate::ops::calls`], every core's added up).

use std::fmt::Write as _;
use std::rc::Rc;

use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::resp::{Args, Reply, ReplyBuf};
use futures::future::LocalBoxFuture;

use super::subcommand::{sub, Container};
use super::{srv, Handler};
use crate::commands::requests::{now_ms, Core};
use crate::ops::calls::{self, Calls};
use crate::ops::latency::{self, Series};
use crate::session::client::Client;

pub(crate) const LATENCY: Container = Container {
    name: "LATENCY",
    subs: &[
        sub("doctor", 2),
        sub("graph", 3),
        sub("histogram", -2),
        sub("history", 3),
        sub("latest", 2),
        sub("reset", -2),
        sub("help", 2),
    ],
    help: &[
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
        "    If no commands are specified then all histograms are replied.",
    ],
};

fn latency_cmd<'a>(
    core: &'a Rc<Core>,
    _: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        match LATENCY.resolve(args)? {
            Some("histogram") => {
                let mut merged = Calls::default();
                for snapshot in super::info::core_snapshots(core).await {
                    merged.merge(&snapshot.calls);
                }
                histogram(&merged, &args[2..], out);
            }
            sub => monitor(sub, args, out)?,
        }
        Ok(())
    })
}

/// The latency monitor's subcommands.
fn monitor(sub: Option<&str>, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    match sub {
        Some("latest") => {
            let all = latency::all();
            out.array(all.len());
            for (event, s) in all {
                let (time, ms) = s.samples.last().copied().unwrap_or_default();
                out.array(4);
                out.bulk(event.as_bytes());
                out.int(time as i64);
                out.int(ms as i64);
                out.int(s.max_ms as i64);
            }
        }
        Some("history") => {
            let samples = latency::series(&args[2]).map_or_else(Vec::new, |s| s.samples);
            out.array(samples.len());
            for (time, ms) in samples {
                out.array(2);
                out.int(time as i64);
                out.int(ms as i64);
            }
        }
        Some("graph") => {
            let Some(series) = latency::series(&args[2]) else {
                return Err(CmdError::Raw(format!(
                    "ERR No samples available for event '{}'",
                    String::from_utf8_lossy(&args[2])
                )));
            };
            let event = String::from_utf8_lossy(&args[2]);
            let text = crate::ops::latency::graph(&event, &series, now_ms() / 1000);
            out.verbatim(b"txt", text.as_bytes());
        }
        Some("reset") => {
            let names: Vec<&[u8]> = args[2..].iter().map(|a| &a[..]).collect();
            out.int(latency::reset(&names) as i64);
        }
        Some("doctor") => out.verbatim(b"txt", doctor().as_bytes()),
        Some("help") => LATENCY.help(out),
        _ => return Err(LATENCY.unknown(&args[1])),
    }
    Ok(())
}

/// `LATENCY HISTOGRAM`'s reply: per command that ran (all of them, or those
/// `names` names, in that order), its calls and cumulative buckets.
fn histogram(calls: &Calls, names: &[bytes::Bytes], out: &mut ReplyBuf) {
    let rows = crate::ops::names::stat_rows();
    let ids: Vec<usize> = if names.is_empty() {
        (0..rows.len()).collect()
    } else {
        names.iter().flat_map(|n| rows.named(n)).collect()
    };
    let found: Vec<(usize, &hdrhistogram::Histogram<u64>)> = ids
        .into_iter()
        .filter_map(|id| calls.histogram(id).map(|h| (id, h)))
        .collect();
    out.map(found.len());
    for (id, h) in found {
        out.bulk(rows.name(id).as_bytes());
        out.map(2);
        out.bulk(b"calls");
        out.int(h.len() as i64);
        out.bulk(b"histogram_usec");
        let buckets = calls::cumulative_buckets(h);
        out.map(buckets.len());
        for (us, count) in buckets {
            out.int(us as i64);
            out.int(count as i64);
        }
    }
}

/// `LATENCY DOCTOR`'s report, with Redis's texts for the monitor off and for no
/// spikes, and its per-event lines otherwise.
fn doctor() -> String {
    if crate::ops::latency_threshold_ms() == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let all = latency::all();
    if all.is_empty() {
        return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".into();
    }
    let mut text = String::from("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
    for (i, (event, s)) in all.iter().enumerate() {
        let (avg, mad, period) = analysis(s);
        let _ = writeln!(
            text,
            "{}. {event}: {} latency spikes (average {avg}ms, mean deviation {mad}ms, period {period:.2} sec). Worst all time event {}ms.",
            i + 1,
            s.samples.len(),
            s.max_ms,
        );
    }
    text.push_str("\nI have a few advices for you:\n\n- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    text
}

/// Average, mean absolute deviation (ms) and seconds between samples.
fn analysis(s: &Series) -> (u64, u64, f64) {
    let n = s.samples.len().max(1) as u64;
    let avg = s.samples.iter().map(|(_, ms)| ms).sum::<u64>() / n;
    let mad = s
        .samples
        .iter()
        .map(|(_, ms)| ms.abs_diff(avg))
        .sum::<u64>()
        / n;
    let oldest = s.samples.first().map_or(0, |(t, _)| *t);
    let period = (now_ms() / 1000).saturating_sub(oldest) as f64 / n as f64;
    (avg, mad, period)
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("latency", -2, ADMIN | NOSCRIPT | LOADING | STALE, "server", "A container for latency diagnostics commands.", Handler::Async(latency_cmd)),
];
