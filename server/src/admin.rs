//! Connection and server commands: `AUTH`, `PING`, `SELECT`, `HELLO`, `COMMAND`,
//! `INFO`, `CONFIG`, `CLIENT`, `DEBUG`, `SHUTDOWN`, ... They see the connection and
//! the process, not one shard; those that need every core's view fan out.

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use corekv_engine::command::keys::parse_db_index;
use corekv_engine::command::{flags, table, CommandSpec, Server};
use corekv_engine::cursor::ArgCursor;
use corekv_engine::error::CmdError;
use corekv_engine::resp::{parse_f64, parse_i64, Args, Protocol, Reply, ReplyBuf};
use futures::future::join_all;

use crate::clients::{ClientsOp, ClientsReply, Filter};
use crate::conn::Client;
use crate::core::{Answer, Core, CoreSnapshot, Msg};

/// The Redis version corekv answers as: clients gate features on it.
pub const REDIS_VERSION: &str = "7.0.15";

pub async fn run(
    core: &Rc<Core>,
    client: &mut Client,
    kind: Server,
    args: &Args,
    out: &mut ReplyBuf,
) {
    let result = match kind {
        Server::Auth => auth(core, client, args, out),
        Server::Echo => {
            out.bulk(&args[1]);
            Ok(())
        }
        Server::Ping => ping(args, out),
        Server::Quit => {
            client.closing = true;
            out.ok();
            Ok(())
        }
        Server::Select => parse_db_index(&args[1]).map(|db| {
            client.set_db(db);
            out.ok();
        }),
        Server::Hello => hello(core, client, args, out),
        Server::Reset => {
            client.set_db(0);
            client.info.borrow_mut().name.clear();
            client.authenticated = false;
            set_protocol(client, Protocol::Resp2, out);
            out.simple(b"RESET");
            Ok(())
        }
        Server::Command => {
            check_subcommand("COMMAND", COMMAND_SUBCOMMANDS, args).and_then(|()| command(args, out))
        }
        Server::Info => info(core, args, out).await,
        Server::Config => match check_subcommand("CONFIG", CONFIG_SUBCOMMANDS, args) {
            Ok(()) => config(core, args, out).await,
            Err(e) => Err(e),
        },
        Server::Client => match check_subcommand("CLIENT", CLIENT_SUBCOMMANDS, args) {
            Ok(()) => client_cmd(core, client, args, out).await,
            Err(e) => Err(e),
        },
        Server::Time => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            out.array(2);
            out.bulk_int(now.as_secs() as i64);
            out.bulk_int(now.subsec_micros() as i64);
            Ok(())
        }
        Server::Debug => debug(args, out),
        Server::BgRewriteAof => bgrewriteaof(core, out),
        Server::Role => {
            let offset: u64 = core.last_lsns(|| Msg::LastLsn).await.iter().sum();
            crate::repl::role(&core.global, offset, out);
            Ok(())
        }
        Server::ReplicaOf => crate::repl_commands::replicaof(core, args, out).await,
        Server::Wait => crate::repl_commands::wait(core, args, out).await,
        Server::Replconf => crate::repl_commands::replconf(client, args, out),
        Server::Sync => crate::repl_commands::sync(core, client, args),
        Server::Save => save(core, out).await,
        Server::BgSave => bgsave(core, args, out).await,
        Server::LastSave => {
            let p = core.global.persist.lock().expect("persist state");
            out.int(p.last_save_unix_s as i64);
            Ok(())
        }
        Server::Shutdown => {
            log::warn!("user requested shutdown (client {})", client.id);
            core.global.shutdown.fire();
            client.closing = true;
            Ok(())
        }
    };
    if let Err(e) = result {
        core.stats.borrow_mut().error_replies += 1;
        out.error(&e.message());
    }
}

// ---- Persistence ----

fn bgrewriteaof(core: &Rc<Core>, out: &mut ReplyBuf) -> Result<(), CmdError> {
    if core.global.config.get("appendonly") != "yes" {
        return Err(CmdError::Raw(
            "ERR Background append only file rewriting needs appendonly yes".into(),
        ));
    }
    {
        let mut p = core.global.persist.lock().expect("persist state");
        if p.rewrite_started.is_some() {
            return Err(CmdError::Raw(
                "ERR Background append only file rewriting already in progress".into(),
            ));
        }
        p.rewrite_started = Some(std::time::Instant::now());
    }
    glommio::spawn_local(crate::saver::rewrite_all(core.clone())).detach();
    out.simple(b"Background append only file rewriting started");
    Ok(())
}

/// Marks a backup as started; the error when one already runs.
fn begin_save(core: &Core) -> Result<(), CmdError> {
    let mut p = core.global.persist.lock().expect("persist state");
    if p.bgsave_started.is_some() {
        return Err(CmdError::Raw(
            "ERR Background save already in progress".into(),
        ));
    }
    p.bgsave_started = Some(std::time::Instant::now());
    Ok(())
}

/// Records a finished backup for `INFO persistence` and `LASTSAVE`.
fn end_save(core: &Core, result: &Result<crate::backup::Saved, String>) {
    let mut p = core.global.persist.lock().expect("persist state");
    let started = p.bgsave_started.take();
    p.last_bgsave_secs = started.map_or(0, |s| s.elapsed().as_secs() as i64);
    p.last_bgsave_ok = result.is_ok();
    match result {
        Ok(saved) => {
            log::info!("DB saved on disk: {}", saved.path.display());
            p.last_save_unix_s = crate::core::now_ms() / 1000;
            p.dirty_at_last_save = saved.dirty_at_cut;
            p.saves += 1;
        }
        Err(e) => log::warn!("backup failed: {e}"),
    }
}

async fn save(core: &Rc<Core>, out: &mut ReplyBuf) -> Result<(), CmdError> {
    begin_save(core)?;
    let result = match crate::backup::cut(core).await {
        Ok(cut) => crate::backup::finish(core, cut).await,
        Err(e) => Err(e),
    };
    end_save(core, &result);
    match result {
        Ok(_) => {
            out.ok();
            Ok(())
        }
        Err(e) => Err(CmdError::Raw(format!("ERR {e}"))),
    }
}

/// `BGSAVE`: the cut is taken before the reply (as Redis forks before it
/// answers), so every write acknowledged after the reply is outside the set.
async fn bgsave(core: &Rc<Core>, args: &Args, out: &mut ReplyBuf) -> Result<(), CmdError> {
    match args.len() {
        1 => {}
        2 if args[1].eq_ignore_ascii_case(b"schedule") => {}
        _ => return Err(CmdError::Syntax),
    }
    begin_save(core)?;
    let cut = match crate::backup::cut(core).await {
        Ok(cut) => cut,
        Err(e) => {
            let result = Err(e.clone());
            end_save(core, &result);
            return Err(CmdError::Raw(format!("ERR {e}")));
        }
    };
    let core = core.clone();
    glommio::spawn_local(async move {
        let result = crate::backup::finish(&core, cut).await;
        end_save(&core, &result);
    })
    .detach();
    out.simple(b"Background saving started");
    Ok(())
}

fn auth(core: &Core, client: &mut Client, args: &Args, out: &mut ReplyBuf) -> Result<(), CmdError> {
    let config = &core.global.config;
    let (user, pass) = match args.len() {
        2 => (None, &args[1]),
        3 => (Some(&args[1]), &args[2]),
        _ => return Err(CmdError::Syntax),
    };
    if user.is_none() && !config.hot.auth_required.load(Ordering::Relaxed) {
        return Err(CmdError::Raw("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into()));
    }
    check_credentials(core, user.map(|u| u.as_ref()), pass)?;
    client.authenticated = true;
    out.ok();
    Ok(())
}

fn check_credentials(core: &Core, user: Option<&[u8]>, pass: &[u8]) -> Result<(), CmdError> {
    let config = &core.global.config;
    let user_ok = user.is_none_or(|u| u == b"default");
    let pass_ok = !config.hot.auth_required.load(Ordering::Relaxed) || config.password_ok(pass);
    if user_ok && pass_ok {
        Ok(())
    } else {
        Err(CmdError::Raw(
            "WRONGPASS invalid username-password pair or user is disabled.".into(),
        ))
    }
}

fn ping(args: &Args, out: &mut ReplyBuf) -> Result<(), CmdError> {
    match args.len() {
        1 => out.simple(b"PONG"),
        2 => out.bulk(&args[1]),
        _ => return Err(CmdError::WrongArgs("ping".into())),
    }
    Ok(())
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`: checks everything before it
/// changes anything, in Redis's order, then switches the connection's protocol and
/// answers in the new one.
fn hello(
    core: &Core,
    client: &mut Client,
    args: &Args,
    out: &mut ReplyBuf,
) -> Result<(), CmdError> {
    let mut c = ArgCursor::new(args);
    let mut protocol = None;
    if let Some(ver) = c.next_opt() {
        let ver = parse_i64(ver).ok_or_else(|| {
            CmdError::Raw("ERR Protocol version is not an integer or out of range".into())
        })?;
        protocol = Some(
            Protocol::from_version(ver)
                .ok_or_else(|| CmdError::Raw("NOPROTO unsupported protocol version".into()))?,
        );
    }
    let mut credentials = None;
    let mut setname = None;
    while let Some(opt) = c.next_opt() {
        if opt.eq_ignore_ascii_case(b"AUTH") && c.remaining() >= 2 {
            credentials = Some((c.arg()?, c.arg()?));
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && c.remaining() >= 1 {
            setname = Some(c.arg()?);
        } else {
            return Err(CmdError::Raw(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if let Some((user, pass)) = credentials {
        check_credentials(core, Some(user), pass)?;
        client.authenticated = true;
    }
    let auth_required = core.global.config.hot.auth_required.load(Ordering::Relaxed);
    if auth_required && !client.authenticated {
        return Err(CmdError::Raw("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into()));
    }
    if let Some(name) = setname {
        set_client_name(client, name)?;
    }
    if let Some(protocol) = protocol {
        set_protocol(client, protocol, out);
    }
    let role = if core.global.repl.is_replica() {
        "replica"
    } else {
        "master"
    };
    out.map(7);
    for (k, v) in [("server", "redis"), ("version", REDIS_VERSION)] {
        out.bulk(k.as_bytes());
        out.bulk(v.as_bytes());
    }
    out.bulk(b"proto");
    out.int(out.protocol().version() as i64);
    out.bulk(b"id");
    out.int(client.id as i64);
    for (k, v) in [("mode", "standalone"), ("role", role)] {
        out.bulk(k.as_bytes());
        out.bulk(v.as_bytes());
    }
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

/// Switches the protocol of every reply from now on; `CLIENT LIST` shows it.
fn set_protocol(client: &mut Client, protocol: Protocol, out: &mut ReplyBuf) {
    out.set_protocol(protocol);
    client.info.borrow_mut().resp = protocol.version();
}

fn set_client_name(client: &mut Client, name: &[u8]) -> Result<(), CmdError> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::Raw(
            "ERR Client names cannot contain spaces, newlines or special characters.".into(),
        ));
    }
    client.info.borrow_mut().name = String::from_utf8_lossy(name).into_owned();
    Ok(())
}

// ---- COMMAND ----

fn command(args: &Args, out: &mut ReplyBuf) -> Result<(), CmdError> {
    let t = table();
    if args.len() == 1 {
        out.array(t.all.len());
        t.all.iter().for_each(|s| command_info(s, out));
        return Ok(());
    }
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_uppercase();
    match sub.as_str() {
        "COUNT" if args.len() == 2 => out.int(t.all.len() as i64),
        "LIST" if args.len() == 2 => {
            out.array(t.all.len());
            t.all.iter().for_each(|s| out.bulk(s.name.as_bytes()));
        }
        "INFO" => {
            if args.len() == 2 {
                out.array(t.all.len());
                t.all.iter().for_each(|s| command_info(s, out));
            } else {
                out.array(args.len() - 2);
                for name in &args[2..] {
                    match t.get(name) {
                        Some(s) => command_info(s, out),
                        None => out.null_array(),
                    }
                }
            }
        }
        "DOCS" => {
            let specs: Vec<&CommandSpec> = if args.len() == 2 {
                t.all.clone()
            } else {
                args[2..].iter().filter_map(|n| t.get(n)).collect()
            };
            out.map(specs.len());
            for s in specs {
                out.bulk(s.name.as_bytes());
                out.map(3);
                for (k, v) in [
                    ("summary", s.summary),
                    ("since", "1.0.0"),
                    ("group", s.group),
                ] {
                    out.bulk(k.as_bytes());
                    out.bulk(v.as_bytes());
                }
            }
        }
        "GETKEYS" if args.len() >= 3 => {
            let target = &args[2..];
            let spec = t
                .get(&target[0])
                .ok_or_else(|| CmdError::Raw("ERR Invalid command specified".into()))?;
            if !spec.arity_ok(target.len()) {
                return Err(CmdError::Raw(
                    "ERR Invalid number of arguments specified for command".into(),
                ));
            }
            let keys: Vec<usize> = spec.key_indices(target).collect();
            if keys.is_empty() {
                return Err(CmdError::Raw("ERR The command has no key arguments".into()));
            }
            out.array(keys.len());
            keys.iter().for_each(|&i| out.bulk(&target[i]));
        }
        "HELP" if args.len() == 2 => help(
            "COMMAND",
            &[
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
            ],
            out,
        ),
        _ => return Err(unknown_sub(&args[1], "COMMAND")),
    }
    Ok(())
}

fn command_info(s: &CommandSpec, out: &mut ReplyBuf) {
    out.array(10);
    out.bulk(s.name.as_bytes());
    out.int(s.arity as i64);
    let names: Vec<&str> = flags::NAMES
        .iter()
        .filter(|(f, _)| s.has(*f))
        .map(|(_, n)| *n)
        .collect();
    out.set(names.len());
    names.iter().for_each(|n| out.simple(n.as_bytes()));
    out.int(s.first_key as i64);
    out.int(s.last_key as i64);
    out.int(s.step as i64);
    out.set(1);
    out.simple(format!("@{}", s.group).as_bytes());
    // Tips, key specs, subcommands: Redis sends each as a set.
    out.set(0);
    out.set(0);
    out.set(0);
}

fn help(cmd: &str, lines: &[&str], out: &mut ReplyBuf) {
    out.array(lines.len() + 2);
    out.simple(
        format!("{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").as_bytes(),
    );
    lines.iter().for_each(|l| out.simple(l.as_bytes()));
    out.simple(b"HELP");
    out.simple(b"    Print this help.");
}

/// Subcommands of `COMMAND` with their Redis 7.0 arities (counting the command and
/// the subcommand; negative: at least). `COMMAND` alone lists every command.
const COMMAND_SUBCOMMANDS: &[(&str, i32)] = &[
    ("count", 2),
    ("list", -2),
    ("info", -2),
    ("docs", -2),
    ("getkeys", -4),
    ("help", 2),
];
const CONFIG_SUBCOMMANDS: &[(&str, i32)] = &[
    ("get", -3),
    ("set", -4),
    ("resetstat", 2),
    ("rewrite", 2),
    ("help", 2),
];
const CLIENT_SUBCOMMANDS: &[(&str, i32)] = &[
    ("id", 2),
    ("info", 2),
    ("list", -2),
    ("kill", -3),
    ("getname", 2),
    ("setname", 3),
    ("setinfo", 4),
    ("help", 2),
];

/// Redis 7's checks for a container command, before its handler runs: an unknown
/// subcommand gets `unknown subcommand 'x'. Try CONFIG HELP.`, a known one with the
/// wrong argument count `wrong number of arguments for 'config|get' command`.
fn check_subcommand(cmd: &str, subs: &[(&str, i32)], args: &Args) -> Result<(), CmdError> {
    let Some(sub) = args.get(1) else {
        return Ok(());
    };
    let Some(&(name, arity)) = subs
        .iter()
        .find(|(name, _)| sub.eq_ignore_ascii_case(name.as_bytes()))
    else {
        return Err(unknown_sub(sub, cmd));
    };
    let argc = args.len() as i32;
    let ok = if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    };
    if !ok {
        let full = format!("{}|{name}", cmd.to_ascii_lowercase());
        return Err(CmdError::WrongArgs(full));
    }
    Ok(())
}

fn unknown_sub(sub: &[u8], cmd: &str) -> CmdError {
    CmdError::UnknownSubcommand {
        sub: String::from_utf8_lossy(sub).into_owned(),
        cmd: cmd.to_string(),
    }
}

// ---- CONFIG ----

async fn config(core: &Rc<Core>, args: &Args, out: &mut ReplyBuf) -> Result<(), CmdError> {
    let cfg = &core.global.config;
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_uppercase();
    match sub.as_str() {
        "GET" => {
            let patterns: Vec<&[u8]> = args[2..].iter().map(|a| a.as_ref()).collect();
            let found = cfg.matching(&patterns);
            out.map(found.len());
            for (name, value) in found {
                out.bulk(name.as_bytes());
                out.bulk(value.as_bytes());
            }
        }
        "SET" => {
            if args.len() % 2 == 1 {
                return Err(CmdError::Syntax);
            }
            let pairs: Vec<(String, String)> = args[2..]
                .chunks(2)
                .map(|p| {
                    (
                        String::from_utf8_lossy(&p[0]).into_owned(),
                        String::from_utf8_lossy(&p[1]).into_owned(),
                    )
                })
                .collect();
            cfg.set_many(&pairs)
                .map_err(|e| CmdError::Raw(e.message()))?;
            let max = cfg.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize;
            // Every shard builds strings up to the new limit; tell each.
            for s in 0..core.shards() {
                core.call(s, None, Msg::SetStringMax(max)).await;
            }
            out.ok();
        }
        "RESETSTAT" if args.len() == 2 => {
            join_all((0..core.shards()).map(|s| core.call(s, None, Msg::ResetStats))).await;
            out.ok();
        }
        "REWRITE" if args.len() == 2 => {
            cfg.rewrite().map_err(CmdError::Raw)?;
            out.ok();
        }
        "HELP" if args.len() == 2 => help(
            "CONFIG",
            &[
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
            ],
            out,
        ),
        _ => return Err(unknown_sub(&args[1], "CONFIG")),
    }
    Ok(())
}

// ---- CLIENT ----

async fn client_cmd(
    core: &Rc<Core>,
    client: &mut Client,
    args: &Args,
    out: &mut ReplyBuf,
) -> Result<(), CmdError> {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_uppercase();
    let n = args.len();
    match sub.as_str() {
        "ID" if n == 2 => out.int(client.id as i64),
        "GETNAME" if n == 2 => {
            let name = client.info.borrow().name.clone();
            if name.is_empty() {
                out.null();
            } else {
                out.bulk(name.as_bytes());
            }
        }
        "SETNAME" if n == 3 => {
            set_client_name(client, &args[2])?;
            out.ok();
        }
        "SETINFO" if n == 4 => {
            let attr = String::from_utf8_lossy(&args[2]).to_ascii_uppercase();
            let value = String::from_utf8_lossy(&args[3]).into_owned();
            if value.chars().any(|c| !('!'..='~').contains(&c)) {
                return Err(CmdError::Raw(format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    attr.to_ascii_lowercase()
                )));
            }
            let mut info = client.info.borrow_mut();
            match attr.as_str() {
                "LIB-NAME" => info.lib_name = value,
                "LIB-VER" => info.lib_ver = value,
                _ => {
                    return Err(CmdError::Raw(format!(
                        "ERR Unrecognized option '{}'",
                        String::from_utf8_lossy(&args[2])
                    )))
                }
            }
            out.ok();
        }
        "INFO" if n == 2 => {
            let line = client.info.borrow().line();
            out.verbatim(b"txt", format!("{line}\n").as_bytes());
        }
        "LIST" => {
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
        "KILL" if n >= 3 => {
            if n == 3 {
                // Old form: CLIENT KILL addr:port.
                let filter = Filter {
                    addr: Some(String::from_utf8_lossy(&args[2]).into_owned()),
                    ..Default::default()
                };
                let killed = kill(core, filter).await;
                if killed == 0 {
                    return Err(CmdError::Raw("ERR No such client".into()));
                }
                out.ok();
            } else {
                let filter = kill_filter(client, &args[2..])?;
                out.int(kill(core, filter).await as i64);
            }
        }
        "HELP" if n == 2 => help(
            "CLIENT",
            &[
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
            ],
            out,
        ),
        _ => return Err(unknown_sub(&args[1], "CLIENT")),
    }
    Ok(())
}

fn client_type(t: &[u8]) -> Result<String, CmdError> {
    let t = String::from_utf8_lossy(t).to_ascii_lowercase();
    match t.as_str() {
        "normal" | "pubsub" | "master" => Ok(t),
        "replica" | "slave" => Ok("replica".into()),
        _ => Err(CmdError::Raw(format!("ERR Unknown client type '{t}'"))),
    }
}

fn list_filter(args: &[bytes::Bytes]) -> Result<Filter, CmdError> {
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
                let ids: Result<Vec<u64>, _> = args[i + 1..]
                    .iter()
                    .map(|a| {
                        parse_i64(a)
                            .filter(|&v| v > 0)
                            .map(|v| v as u64)
                            .ok_or(CmdError::Raw("ERR Invalid client ID".into()))
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

fn kill_filter(client: &Client, args: &[bytes::Bytes]) -> Result<Filter, CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut f = Filter {
        skip: Some(client.id),
        ..Default::default()
    };
    for pair in args.chunks(2) {
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        match String::from_utf8_lossy(&pair[0])
            .to_ascii_uppercase()
            .as_str()
        {
            "ID" => {
                let id = parse_i64(&pair[1]).filter(|&v| v > 0).ok_or(CmdError::Raw(
                    "ERR client-id should be greater than 0".into(),
                ))?;
                f.ids = Some(vec![id as u64]);
            }
            "TYPE" => f.kind = Some(client_type(&pair[1])?),
            "ADDR" => f.addr = Some(value),
            "LADDR" => f.laddr = Some(value),
            "USER" => {
                if value != "default" {
                    return Err(CmdError::Raw(format!("ERR No such user '{value}'")));
                }
            }
            "SKIPME" => match value.to_ascii_lowercase().as_str() {
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

// ---- DEBUG ----

fn debug(args: &Args, out: &mut ReplyBuf) -> Result<(), CmdError> {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_uppercase();
    match sub.as_str() {
        "SLEEP" if args.len() == 3 => {
            let secs = parse_f64(&args[2])
                .filter(|s| *s >= 0.0)
                .ok_or(CmdError::NotFloat)?;
            // Like Redis, DEBUG SLEEP blocks the server: here, this core's thread.
            std::thread::sleep(Duration::from_secs_f64(secs));
            out.ok();
        }
        "HELP" if args.len() == 2 => help(
            "DEBUG",
            &[
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
            out,
        ),
        _ => return Err(unknown_sub(&args[1], "DEBUG")),
    }
    Ok(())
}

// ---- INFO ----

/// The sections `INFO` prints by default and with `all`.
const INFO_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "cluster",
    "keyspace",
    "shards",
];
/// Sections left out of the default `INFO`, as Redis leaves out `commandstats`.
const INFO_NOT_DEFAULT: &[&str] = &["commandstats"];

/// Every core's numbers, in shard order.
async fn core_snapshots(core: &Rc<Core>) -> Vec<CoreSnapshot> {
    join_all((0..core.shards()).map(|s| core.call(s, None, Msg::Stats)))
        .await
        .into_iter()
        .filter_map(|a| match a {
            Some(Answer::Stats(s)) => Some(*s),
            _ => None,
        })
        .collect()
}

async fn info(core: &Rc<Core>, args: &Args, out: &mut ReplyBuf) -> Result<(), CmdError> {
    let wanted: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let sections: Vec<&str> = INFO_SECTIONS
        .iter()
        .copied()
        .filter(|s| {
            if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
                !INFO_NOT_DEFAULT.contains(s)
            } else {
                wanted
                    .iter()
                    .any(|w| w == s || w == "all" || w == "everything")
            }
        })
        .collect();
    let snapshots = core_snapshots(core).await;
    let mut text = String::new();
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            text.push_str("\r\n");
        }
        crate::info::section(core, section, &snapshots, &mut text);
    }
    out.verbatim(b"txt", text.as_bytes());
    Ok(())
}
