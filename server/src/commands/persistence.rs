//! Persistence commands: `SAVE` and `BGSAVE` write a backup set
//! ([`crate::persist::backup`]), `BGREWRITEAOF` rewrites every shard's journal
//! ([`crate::persist::saver`]), `LASTSAVE` reports the last backup.

use std::rc::Rc;
use std::time::Instant;

use corekv_engine::command::flags::*;
use corekv_engine::command::CommandSpec;
use corekv_engine::error::{AdminError, CmdError, CmdResult};
use corekv_engine::resp::{Args, Reply, ReplyBuf};
use futures::future::LocalBoxFuture;

use super::{srv, Handler};
use crate::commands::requests::Core;
use crate::session::client::Client;

fn bgrewriteaof(core: &Rc<Core>, _: &mut Client, _: &Args, out: &mut ReplyBuf) -> CmdResult {
    if core.global.config.get("appendonly") != "yes" {
        return Err(AdminError::AofDisabled.into());
    }
    {
        let mut p = core.global.persist.lock().expect("persist state");
        if p.rewrite_started.is_some() {
            return Err(AdminError::AofRewriteInProgress.into());
        }
        p.rewrite_started = Some(Instant::now());
    }
    glommio::spawn_local(crate::persist::saver::rewrite_all(core.clone())).detach();
    out.simple(b"Background append only file rewriting started");
    Ok(())
}

fn lastsave(core: &Rc<Core>, _: &mut Client, _: &Args, out: &mut ReplyBuf) -> CmdResult {
    let p = core.global.persist.lock().expect("persist state");
    out.int(p.last_save_unix_s as i64);
    Ok(())
}

/// Marks a backup as started; the error when one already runs.
fn begin_save(core: &Core) -> CmdResult {
    let mut p = core.global.persist.lock().expect("persist state");
    if p.bgsave_started.is_some() {
        return Err(AdminError::BgsaveInProgress.into());
    }
    p.bgsave_started = Some(Instant::now());
    Ok(())
}

/// Records a finished backup for `INFO persistence` and `LASTSAVE`.
fn end_save(core: &Core, result: &Result<crate::persist::backup::Saved, String>) {
    let mut p = core.global.persist.lock().expect("persist state");
    let started = p.bgsave_started.take();
    p.last_bgsave_secs = started.map_or(0, |s| s.elapsed().as_secs() as i64);
    p.last_bgsave_ok = result.is_ok();
    match result {
        Ok(saved) => {
            log::info!("DB saved on disk: {}", saved.path.display());
            p.last_save_unix_s = crate::commands::requests::now_ms() / 1000;
            p.dirty_at_last_save = saved.dirty_at_cut;
            p.saves += 1;
        }
        Err(e) => log::warn!("backup failed: {e}"),
    }
}

fn save<'a>(
    core: &'a Rc<Core>,
    _: &'a mut Client,
    _: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        begin_save(core)?;
        let result = match crate::persist::backup::cut(core).await {
            Ok(cut) => crate::persist::backup::finish(core, cut).await,
            Err(e) => Err(e),
        };
        end_save(core, &result);
        result.map_err(AdminError::SaveFailed)?;
        out.ok();
        Ok(())
    })
}

/// `BGSAVE`: the cut is taken before the reply (as Redis forks before it
/// answers), so every write acknowledged after the reply is outside the set.
fn bgsave<'a>(
    core: &'a Rc<Core>,
    _: &'a mut Client,
    args: &'a Args,
    out: &'a mut ReplyBuf,
) -> LocalBoxFuture<'a, CmdResult> {
    Box::pin(async move {
        match args.len() {
            1 => {}
            2 if args[1].eq_ignore_ascii_case(b"schedule") => {}
            _ => return Err(CmdError::Syntax),
        }
        begin_save(core)?;
        let cut = match crate::persist::backup::cut(core).await {
            Ok(cut) => cut,
            Err(e) => {
                end_save(core, &Err(e.clone()));
                return Err(AdminError::SaveFailed(e).into());
            }
        };
        let core = core.clone();
        glommio::spawn_local(async move {
            let result = crate::persist::backup::finish(&core, cut).await;
            end_save(&core, &result);
        })
        .detach();
        out.simple(b"Background saving started");
        Ok(())
    })
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec<Handler>] = &[
    srv("bgrewriteaof", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, "server", "Asynchronously rewrites the append-only file to disk.", Handler::Sync(bgrewriteaof)),
    srv("save", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI, "server", "Synchronously saves the database(s) to disk.", Handler::Async(save)),
    srv("bgsave", -1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, "server", "Asynchronously saves the database(s) to disk.", Handler::Async(bgsave)),
    srv("lastsave", 1, LOADING | STALE | FAST, "server", "Returns the Unix timestamp of the last successful save to disk.", Handler::Sync(lastsave)),
];
