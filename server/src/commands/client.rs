//! `CLIENT` and its subcommands: this connection's identity (`ID`, `GETNAME`,
//! `SETNAME`, `SETINFO`, `INFO`), its replies (`REPLY ON|OFF|SKIP`) and eviction
//! (`NO-EVICT`), every core's connections (`LIST`, `KILL`), gathered from each
//! core's client registry, and pausing them all (`PAUSE`, `UNPAUSE`).
//!
//! The session calls in here around each batch chunk it runs: [`chunk_len`] ends a
//! chunk after a `CLIENT` command (so `REPLY` and `PAUSE` apply from the next
//! command on) and runs one command per chunk while replies are off,
//! [`unpaused`] holds a chunk while a pause covers it, and [`after_chunk`] drops
//! the replies `CLIENT REPLY` suppressed and brings the `CLIENT LIST` counters up
//! to date. While no pause is set, [`unpaused`] costs one relaxed atomic load.
//!
//! `CLIENT TRACKING` (client-side caching) is not offered yet.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::{AdminError, CmdError, CmdResult};
use corekv_engine::resp::{parse_i64, Args, Reply, ReplyBuf};
use futures::future::{join_all, LocalBoxFuture};

use super::subcommand::{sub, sub_upto, Container};
use super::{srv, Handler};
use crate::commands::requests::now_ms;
use crate::commands::requests::{Answer, Core, Msg};
use crate::session::client::{Client, ReplyMode};
use crate::session::registry::{ClientsOp, ClientsReply, Filter};
use crate::shard::blocking::{unblock, Unblock};

pub(crate) const CLIENT: Container = Container {
    name: "CLIENT",
    subs: &[
        sub("id", 2),
        sub("info", 2),
        sub("list", -2),
        sub("kill", -3),
        sub("getname", 2),
        sub("setname", 3),
        sub("setinfo", 4),
        sub("help", 2),
        sub_upto("unblock", -3, 4),
        sub_upto("pause", -3, 4),
        sub("unpause", 2),
        sub("reply", 3),
        sub("no-evict", 3),
    ],
    help: &[
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are: ID, TYPE, ADDR, LADDR, SKIPME.",
        "LIST [TYPE <type>] [ID <id> ...]",
        "    Return information about client connections.",
        "GETNAME",
        "    Return the name of the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
    ],
};

fn client_cmd<'a>(
    core: &'a Rc<Core>,
    client: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        match CLIENT.resolve(args)? {
            Some("id") => out.int(client.id as i64),
            Some("getname") => {
                let name = client.info.borrow().name.clone();
                if name.is_empty() {
                    out.null();
                } else {
                    out.bulk(name.as_bytes());
                }
            }
            Some("setname") => {
                set_client_name(client, &args[2])?;
                out.ok();
            }
            Some("setinfo") => {
                setinfo(client, &args[2], &args[3])?;
                out.ok();
            }
            Some("info") => {
                let line = client.info.borrow().line();
                out.verbatim(b"txt", format!("{line}\n").as_bytes());
            }
            Some("list") => {
                let filter = list_filter(&args[2..])?;
                let mut text = String::new();
                for lines in gather_clients(core, ClientsOp::List(filter)).await {
                    if let ClientsReply::Lines(lines) = lines {
                        for l in lines {
                            text.push_str(&l);
                            text.push('\n');
                        }
                    }
                }
                out.verbatim(b"txt", text.as_bytes());
            }
            Some("kill") => client_kill(core, client, args, out).await?,
            Some("help") => CLIENT.help(out),
            Some("unblock") => out.int(client_unblock(&args[2..])? as i64),
            Some("pause") => {
                pause(&args[1..])?;
                out.ok();
            }
            Some("unpause") => {
                PAUSE_END_MS.store(0, Ordering::Relaxed);
                PAUSE_ALL.store(false, Ordering::Relaxed);
                out.ok();
            }
            Some("reply") => reply(client, &args[2], out)?,
            Some("no-evict") => {
                client.info.borrow_mut().ops.no_evict = on_off(&args[2])?;
                out.ok();
            }
            _ => return Err(CLIENT.unknown(&args[1])),
        }
        Ok(())
    })
}

/// Longest a paused chunk sleeps before it looks at the pause again (so
/// `CLIENT UNPAUSE` takes effect within it).
const PAUSE_POLL_MS: u64 = 10;

/// When the current pause ends (Unix ms); 0 while none is set.
static PAUSE_END_MS: AtomicU64 = AtomicU64::new(0);
/// The current pause holds every command, not only writes.
static PAUSE_ALL: AtomicBool = AtomicBool::new(false);

/// `CLIENT PAUSE timeout [WRITE|ALL]` (`args` from the subcommand on): as Redis,
/// a later pause extends the end and widens the mode, never shortens or narrows
/// them.
fn pause(args: &[Bytes]) -> CmdResult {
    let ms = parse_i64(&args[1])
        .ok_or_else(|| CmdError::Raw("ERR timeout is not an integer or out of range".into()))?;
    let all = match args.get(2) {
        _ if args.len() > 3 => {
            return Err(CmdError::Raw(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&args[0])
            )))
        }
        None => true,
        Some(m) if m.eq_ignore_ascii_case(b"ALL") => true,
        Some(m) if m.eq_ignore_ascii_case(b"WRITE") => false,
        Some(_) => {
            return Err(CmdError::Raw(
                "ERR CLIENT PAUSE mode must be WRITE or ALL".into(),
            ))
        }
    };
    if ms < 0 {
        return Err(CmdError::Raw("ERR timeout is negative".into()));
    }
    PAUSE_END_MS.fetch_max(now_ms().saturating_add(ms as u64), Ordering::Relaxed);
    PAUSE_ALL.fetch_or(all, Ordering::Relaxed);
    Ok(())
}

/// Waits while a pause covers `batch`: any command under `ALL`; under `WRITE`,
/// commands that write or publish (and an `EXEC` of queued writes).
pub async fn unpaused(client: &Client, batch: &[Args]) {
    loop {
        let end = PAUSE_END_MS.load(Ordering::Relaxed);
        if end == 0 {
            return;
        }
        let now = now_ms();
        if now >= end {
            if PAUSE_END_MS
                .compare_exchange(end, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                PAUSE_ALL.store(false, Ordering::Relaxed);
            }
            return;
        }
        if !PAUSE_ALL.load(Ordering::Relaxed) && !batch.iter().any(|a| may_write(client, a)) {
            return;
        }
        glommio::timer::sleep(Duration::from_millis((end - now).min(PAUSE_POLL_MS))).await;
    }
}

/// Whether a `CLIENT PAUSE WRITE` holds `args`.
fn may_write(client: &Client, args: &Args) -> bool {
    let Some(spec) = super::registry().get(&args[0]) else {
        return false;
    };
    match spec.name {
        "publish" | "spublish" => true,
        "exec" => client.multi.queue.as_ref().is_some_and(|q| {
            q.cmds
                .iter()
                .any(|(id, _)| super::registry().all[*id].has(WRITE))
        }),
        _ => spec.has(WRITE),
    }
}

/// How many of `batch`'s commands the session runs as its next chunk, at most
/// `chunk`: one while replies are off or skipped, and none past a `CLIENT`
/// command, so what it sets holds from the next command on.
pub fn chunk_len(client: &Client, batch: &[Args], chunk: usize) -> usize {
    if client.reply != ReplyMode::On {
        return 1;
    }
    let chunk = chunk.min(batch.len());
    batch[..chunk]
        .iter()
        .position(|a| a[0].eq_ignore_ascii_case(b"client"))
        .map_or(chunk, |i| i + 1)
}

/// After the session ran a chunk (`mode` was the reply mode before it, its
/// replies start at `mark`): drops them if `CLIENT REPLY` said so, and updates
/// what `CLIENT LIST` shows of the connection.
pub fn after_chunk(client: &mut Client, out: &mut ReplyBuf, mark: usize, mode: ReplyMode) {
    match mode {
        ReplyMode::Off if client.reply == ReplyMode::Off => out.truncate(mark),
        // A skipped `CLIENT REPLY ON|OFF` sets the mode itself (`ON` answered).
        ReplyMode::Skip if client.reply == ReplyMode::Skip => {
            out.truncate(mark);
            client.reply = ReplyMode::On;
        }
        _ => {}
    }
    let (sub, psub, ssub) = client.subs.counts();
    let multi = client
        .multi
        .queue
        .as_ref()
        .map_or(-1, |q| q.cmds.len() as i64);
    let ops = &mut client.info.borrow_mut().ops;
    (ops.sub, ops.psub, ops.ssub, ops.multi) = (sub, psub, ssub, multi);
}

/// `CLIENT REPLY ON|OFF|SKIP`: only `ON` is answered.
fn reply(client: &mut Client, mode: &[u8], out: &mut ReplyBuf) -> CmdResult {
    client.reply = if mode.eq_ignore_ascii_case(b"ON") {
        out.ok();
        ReplyMode::On
    } else if mode.eq_ignore_ascii_case(b"OFF") {
        ReplyMode::Off
    } else if mode.eq_ignore_ascii_case(b"SKIP") {
        ReplyMode::Skip
    } else {
        return Err(CmdError::Syntax);
    };
    Ok(())
}

fn on_off(word: &[u8]) -> CmdResult<bool> {
    if word.eq_ignore_ascii_case(b"ON") {
        Ok(true)
    } else if word.eq_ignore_ascii_case(b"OFF") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: whether the client was blocked. The reason
/// is checked before the id, as Redis does.
fn client_unblock(args: &[Bytes]) -> CmdResult<bool> {
    let how = match args.get(1) {
        None => Unblock::Timeout,
        Some(r) if r.eq_ignore_ascii_case(b"TIMEOUT") && args.len() == 2 => Unblock::Timeout,
        Some(r) if r.eq_ignore_ascii_case(b"ERROR") && args.len() == 2 => Unblock::Error,
        Some(_) => {
            return Err(CmdError::Raw(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into(),
            ))
        }
    };
    let id = parse_i64(&args[0]).ok_or(CmdError::NotInteger)?;
    Ok(u64::try_from(id).is_ok_and(|id| unblock(id, how)))
}

/// `CLIENT SETNAME` and `HELLO … SETNAME`: printable characters only, no spaces.
pub(super) fn set_client_name(client: &mut Client, name: &[u8]) -> CmdResult {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(AdminError::ClientNameChars.into());
    }
    client.info.borrow_mut().name = String::from_utf8_lossy(name).into_owned();
    Ok(())
}

fn setinfo(client: &mut Client, attr: &[u8], value: &[u8]) -> CmdResult {
    let attr_upper = String::from_utf8_lossy(attr).to_ascii_uppercase();
    let value = String::from_utf8_lossy(value).into_owned();
    if value.chars().any(|c| !('!'..='~').contains(&c)) {
        return Err(AdminError::ClientInfoChars(attr_upper.to_ascii_lowercase()).into());
    }
    let mut info = client.info.borrow_mut();
    match attr_upper.as_str() {
        "LIB-NAME" => info.lib_name = value,
        "LIB-VER" => info.lib_ver = value,
        _ => {
            return Err(
                AdminError::UnrecognizedOption(String::from_utf8_lossy(attr).into_owned()).into(),
            )
        }
    }
    Ok(())
}

fn client_type(t: &[u8]) -> CmdResult<String> {
    let given = String::from_utf8_lossy(t);
    let t = given.to_ascii_lowercase();
    match t.as_str() {
        "normal" | "pubsub" | "master" => Ok(t),
        "replica" | "slave" => Ok("replica".into()),
        _ => Err(AdminError::UnknownClientType(given.into_owned()).into()),
    }
}

fn list_filter(args: &[Bytes]) -> CmdResult<Filter> {
    let mut f = Filter::default();
    let mut i = 0;
    while i < args.len() {
        let word = String::from_utf8_lossy(&args[i]).to_ascii_uppercase();
        match word.as_str() {
            "TYPE" if i + 1 < args.len() => {
                f.kind = Some(client_type(&args[i + 1])?);
                i += 2;
            }
            "ID" if i + 1 < args.len() => {
                let ids: CmdResult<Vec<u64>> = args[i + 1..]
                    .iter()
                    .map(|a| {
                        parse_i64(a)
                            .filter(|&v| v > 0)
                            .map(|v| v as u64)
                            .ok_or(AdminError::InvalidClientId.into())
                    })
                    .collect();
                f.ids = Some(ids?);
                i = args.len();
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(f)
}

/// `CLIENT KILL`, both forms. The caller is never closed by the broadcast: when it
/// matches, it counts, gets its reply, and then closes (Redis's close-after-reply).
async fn client_kill(
    core: &Rc<Core>,
    client: &mut Client,
    args: &Args,
    out: &mut ReplyBuf,
) -> CmdResult {
    // Old form: CLIENT KILL addr:port.
    let old_form = args.len() == 3;
    let mut filter = if old_form {
        Filter {
            addr: Some(String::from_utf8_lossy(&args[2]).into_owned()),
            ..Default::default()
        }
    } else {
        kill_filter(client, &args[2..])?
    };
    let me = filter.matches(&client.info.borrow());
    filter.skip = Some(client.id);
    let killed = kill(core, filter).await + usize::from(me);
    client.closing |= me;
    if old_form {
        if killed == 0 {
            return Err(AdminError::NoSuchClient.into());
        }
        out.ok();
    } else {
        out.int(killed as i64);
    }
    Ok(())
}

/// The `<option> <value>` pairs of `CLIENT KILL`, read in order as Redis reads them:
/// a bad value fails before a later option without its value.
fn kill_filter(client: &Client, args: &[Bytes]) -> CmdResult<Filter> {
    let mut f = Filter {
        skip: Some(client.id),
        ..Default::default()
    };
    for pair in args.chunks(2) {
        let [option, value] = pair else {
            return Err(CmdError::Syntax);
        };
        let text = String::from_utf8_lossy(value).into_owned();
        match String::from_utf8_lossy(option)
            .to_ascii_uppercase()
            .as_str()
        {
            "ID" => {
                let id = parse_i64(value)
                    .filter(|&v| v > 0)
                    .ok_or(AdminError::ClientIdNotPositive)?;
                f.ids = Some(vec![id as u64]);
            }
            "TYPE" => f.kind = Some(client_type(value)?),
            "ADDR" => f.addr = Some(text),
            "LADDR" => f.laddr = Some(text),
            "USER" => {
                if text != "default" {
                    return Err(AdminError::NoSuchUser(text).into());
                }
            }
            "SKIPME" => match text.to_ascii_lowercase().as_str() {
                "yes" => f.skip = Some(client.id),
                "no" => f.skip = None,
                _ => return Err(CmdError::Syntax),
            },
            _ => return Err(CmdError::Syntax),
        }
    }
    Ok(f)
}

async fn gather_clients(core: &Rc<Core>, op: ClientsOp) -> Vec<ClientsReply> {
    let calls = (0..core.shards()).map(|s| core.call(s, None, Msg::Clients(op.clone())));
    join_all(calls)
        .await
        .into_iter()
        .filter_map(|a| match a {
            Some(Answer::Clients(r)) => Some(r),
            _ => None,
        })
        .collect()
}

async fn kill(core: &Rc<Core>, filter: Filter) -> usize {
    gather_clients(core, ClientsOp::Kill(filter))
        .await
        .into_iter()
        .map(|r| match r {
            ClientsReply::Killed(n) => n,
            ClientsReply::Lines(_) => 0,
        })
        .sum()
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("client", -2, ADMIN | NOSCRIPT | LOADING | STALE, "connection", "A container for client connection commands.", Handler::Async(client_cmd)),
];
