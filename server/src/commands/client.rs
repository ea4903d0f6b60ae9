//! `CLIENT` and its subcommands: this connection's identity (`ID`, `GETNAME`,
//! `SETNAME`, `SETINFO`, `INFO`), and every core's connections (`LIST`, `KILL`),
//! gathered from each core's client registry.

use std::rc::Rc;

use bytes::Bytes;
use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::{AdminError, CmdError, CmdResult};
use corekv_engine::resp::{parse_i64, Args, Reply, ReplyBuf};
use futures::future::{join_all, LocalBoxFuture};

use super::subcommand::{sub, Container};
use super::{srv, Handler};
use crate::commands::requests::{Answer, Core, Msg};
use crate::session::client::Client;
use crate::session::registry::{ClientsOp, ClientsReply, Filter};
use crate::shard::blocking::{unblock, Unblock};

const CLIENT: Container = Container {
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
        sub("unblock", -3),
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
            _ => return Err(CLIENT.unknown(&args[1])),
        }
        Ok(())
    })
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
