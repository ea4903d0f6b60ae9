//! The list edits several list commands share: write access to a list, push and
//! pop. The family's rows ([`super::list`]) and its moves and blocking forms
//! ([`super::list_move`], [`super::list_block`]) all build on these, so they depend
//! on this module and not on each other.

use bytes::Bytes;

use crate::collections::{End, List};
use crate::command::ctx::{write_typed, Ctx};
use crate::error::CmdResult;
use crate::keyspace::{Keyspace, WriteGuard, NO_EXPIRE};
use crate::value::Value;

/// Write access to the list at `key`, or a wrong-type error.
pub(super) fn write_list<'k>(
    ks: &'k mut Keyspace,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> CmdResult<Option<WriteGuard<'k>>> {
    write_typed(ks, db, key, now_ms, Value::as_list)
}

/// Pushes `elems` at `end` of the list at `key`, creating it unless `only_existing`;
/// the new length (0 when nothing was there and nothing was created).
pub fn push(
    ctx: &mut Ctx,
    key: &[u8],
    end: End,
    elems: &[Bytes],
    only_existing: bool,
) -> CmdResult<usize> {
    let limits = ctx.limits.list;
    if let Some(mut guard) = write_list(ctx.ks, ctx.db, key, ctx.now_ms)? {
        return Ok(guard.list_push(end, elems, &limits));
    }
    if only_existing {
        return Ok(0);
    }
    let mut list = List::new();
    elems.iter().for_each(|e| list.push(end, e, &limits));
    let len = list.len();
    ctx.ks
        .add(ctx.db, key, Value::List(Box::new(list)), NO_EXPIRE);
    Ok(len)
}

/// Pops up to `count` elements from `end` of the list at `key`, deleting it when
/// emptied; `None` when there is no list.
pub fn pop(ctx: &mut Ctx, key: &[u8], end: End, count: usize) -> CmdResult<Option<Vec<Vec<u8>>>> {
    let popped = match write_list(ctx.ks, ctx.db, key, ctx.now_ms)? {
        Some(mut guard) => guard.list_pop(end, count),
        None => return Ok(None),
    };
    ctx.ks.remove_if_empty(ctx.db, key);
    Ok(Some(popped))
}
