//! The connection family: `AUTH`, `HELLO`, `PING`, `ECHO`, `SELECT`, `QUIT`, `RESET`.
//! They change or answer this connection only and never leave its core.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use corekv_engine::command::flags::*;
use corekv_engine::command::keys::parse_db_index;
use corekv_engine::command::CommandSpec;
use corekv_engine::cursor::ArgCursor;
use corekv_engine::error::{AdminError, CmdError, CmdResult};
use corekv_engine::resp::{parse_i64, Args, Protocol, Reply, ReplyBuf};
use futures::future::LocalBoxFuture;

use super::client::set_client_name;
use super::{srv, Handler, REDIS_VERSION};
use crate::commands::requests::Core;
use crate::session::client::Client;

fn auth(core: &Rc<Core>, client: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    let config = &core.global.config;
    let (user, pass) = match args.len() {
        2 => (None, &args[1]),
        3 => (Some(&args[1]), &args[2]),
        _ => return Err(CmdError::Syntax),
    };
    if user.is_none() && !config.hot.auth_required.load(Ordering::Relaxed) {
        return Err(AdminError::AuthNotConfigured.into());
    }
    check_credentials(core, user.map(|u| u.as_ref()), pass)?;
    client.authenticated = true;
    out.ok();
    Ok(())
}

fn check_credentials(core: &Core, user: Option<&[u8]>, pass: &[u8]) -> CmdResult {
    let config = &core.global.config;
    let user_ok = user.is_none_or(|u| u == b"default");
    let pass_ok = !config.hot.auth_required.load(Ordering::Relaxed) || config.password_ok(pass);
    if user_ok && pass_ok {
        Ok(())
    } else {
        Err(AdminError::WrongPass.into())
    }
}

fn echo(args: &Args, out: &mut ReplyBuf) -> CmdResult {
    out.bulk(&args[1]);
    Ok(())
}

fn ping(args: &Args, out: &mut ReplyBuf) -> CmdResult {
    match args.len() {
        1 => out.simple(b"PONG"),
        2 => out.bulk(&args[1]),
        _ => return Err(CmdError::WrongArgs("ping".into())),
    }
    Ok(())
}

fn quit(_: &Rc<Core>, client: &mut Client, _: &Args, out: &mut ReplyBuf) -> CmdResult {
    client.closing = true;
    out.ok();
    Ok(())
}

fn select(_: &Rc<Core>, client: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    let db = parse_db_index(&args[1])?;
    client.set_db(db);
    out.ok();
    Ok(())
}

fn reset<'a>(
    core: &'a Rc<Core>,
    client: &'a mut Client,
    _: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        crate::pubsub::unsubscribe_all(core, client);
        crate::exec::multi::reset(core, client).await;
        client.set_db(0);
        client.info.borrow_mut().name.clear();
        client.authenticated = false;
        set_protocol(client, Protocol::Resp2, out);
        out.simple(b"RESET");
        Ok(())
    })
}

/// `HELLO [protover [AUTH user pass] [SETNAME name]]`: checks everything before it
/// changes anything, in Redis's order, then switches the connection's protocol and
/// answers in the new one.
fn hello(core: &Rc<Core>, client: &mut Client, args: &Args, out: &mut ReplyBuf) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let mut protocol = None;
    if let Some(ver) = c.next_opt() {
        let ver = parse_i64(ver).ok_or(AdminError::ProtocolVersion)?;
        protocol = Some(Protocol::from_version(ver).ok_or(AdminError::NoProto)?);
    }
    let mut credentials = None;
    let mut setname = None;
    while let Some(opt) = c.next_opt() {
        if opt.eq_ignore_ascii_case(b"AUTH") && c.remaining() >= 2 {
            credentials = Some((c.arg()?, c.arg()?));
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && c.remaining() >= 1 {
            setname = Some(c.arg()?);
        } else {
            return Err(AdminError::HelloOption(String::from_utf8_lossy(opt).into_owned()).into());
        }
    }
    if let Some((user, pass)) = credentials {
        check_credentials(core, Some(user), pass)?;
        client.authenticated = true;
    }
    let auth_required = core.global.config.hot.auth_required.load(Ordering::Relaxed);
    if auth_required && !client.authenticated {
        return Err(AdminError::HelloNoAuth.into());
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

const ANY_STATE: u32 = NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY;

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("auth", -2, ANY_STATE, "connection", "Authenticates the connection.", Handler::Sync(auth)),
    srv("echo", 2, FAST | LOADING | STALE, "connection", "Returns the given string.", Handler::Pure(echo)),
    srv("ping", -1, FAST | LOADING, "connection", "Returns the server's liveliness response.", Handler::Pure(ping)),
    srv("quit", -1, ANY_STATE, "connection", "Closes the connection.", Handler::Sync(quit)),
    srv("select", 2, LOADING | STALE | FAST, "connection", "Changes the selected database.", Handler::Sync(select)),
    srv("hello", -1, ANY_STATE, "connection", "Handshakes with the Redis server.", Handler::Sync(hello)),
    srv("reset", 1, ANY_STATE, "connection", "Resets the connection.", Handler::Async(reset)),
];
