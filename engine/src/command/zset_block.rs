//! The blocking sorted-set pops: `BZPOPMIN`, `BZPOPMAX` and `BZMPOP`, on the same
//! mechanism as the blocking list pops ([`super::list_block`]): each is a [`Parts`]
//! step doing what `ZPOPMIN`/`ZPOPMAX`/`ZMPOP` do when a key holds a sorted set, and
//! answering the null array when none does. Inside `MULTI` that is the whole command;
//! outside, once the client is blocked, the shard of a watched key that changed runs
//! the step for that key alone while it holds a sorted set, until it pops or the
//! timeout passes.

use bytes::Bytes;

use super::flags::*;
use super::list_block::{check_timeout, BZMPOP_NUMKEYS_AT};
use super::parts::{MergeArgs, PartReply, Parts, Piece, ShardArgs, Split, Write};
use super::zset_multi::{zmpop_args_at, zmpop_merge, zmpop_plan_keys, zmpop_read, zmpop_write_n};
use super::{row, CommandSpec, KeySpec, Route};
use crate::command::ctx::Ctx;
use crate::error::CmdResult;
use crate::resp::{Reply, ReplyBuf};

type PlanResult = CmdResult<Option<Write>>;

fn bzpop_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    zmpop_plan_keys(1..args.len() - 1, reads, out)
}

/// Pops one member from the key the plan chose: `BZPOPMAX` the highest.
fn bzpop_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let max = s.args[0].eq_ignore_ascii_case(b"BZPOPMAX");
    zmpop_write_n(ctx, s, 1, max)
}

/// `[key, member, score]`.
fn bzpop_merge(m: &MergeArgs, pieces: &[Piece], out: &mut ReplyBuf) {
    let Some((key, items)) = Piece::first_values(pieces) else {
        return;
    };
    let member = items[0].as_deref().expect("a member");
    let score = items[1].as_deref().expect("a score");
    out.array(3);
    out.bulk(&m.args[key]);
    out.bulk(member);
    out.double(f64::from_le_bytes(score.try_into().expect("8 bytes")));
}

fn check_bzmpop(args: &[Bytes]) -> CmdResult {
    check_timeout(args)?;
    zmpop_args_at(args, BZMPOP_NUMKEYS_AT).map(drop)
}

fn bzmpop_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    let (sources, ..) = zmpop_args_at(args, BZMPOP_NUMKEYS_AT)?;
    zmpop_plan_keys(sources, reads, out)
}

fn bzmpop_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (_, max, count) = zmpop_args_at(s.args, BZMPOP_NUMKEYS_AT)?;
    zmpop_write_n(ctx, s, count, max)
}

const fn keyed(
    check: fn(&[Bytes]) -> CmdResult,
    plan: fn(&[Bytes], &[Piece], &mut ReplyBuf) -> PlanResult,
    write: fn(&mut Ctx, &ShardArgs) -> CmdResult<PartReply>,
    merge: fn(&MergeArgs, &[Piece], &mut ReplyBuf),
) -> Parts {
    Parts {
        split: Split::Keys,
        check: Some(check),
        read: Some(zmpop_read),
        plan: Some(plan),
        write: Some(write),
        always_writes: false,
        merge,
    }
}

static BZPOP: Parts = keyed(check_timeout, bzpop_plan, bzpop_write, bzpop_merge);
static BZMPOP: Parts = keyed(check_bzmpop, bzmpop_plan, bzmpop_write, zmpop_merge);

const BZMPOP_KEYS: KeySpec = KeySpec::KeyNum {
    numkeys_at: BZMPOP_NUMKEYS_AT,
    step: 1,
    fixed: None,
};

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    row("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, super::range(1, -2, 1), "sorted_set", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", Route::Parts(&BZPOP)),
    row("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, super::range(1, -2, 1), "sorted_set", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", Route::Parts(&BZPOP)),
    row("bzmpop", -5, WRITE | BLOCKING, BZMPOP_KEYS, "sorted_set", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last member was popped.", Route::Parts(&BZMPOP)),
];

#[cfg(test)]
mod tests {
    use crate::harness::{run, TestShard};

    /// The step alone: what `MULTI` runs, and what a blocked client retries.
    #[test]
    fn steps_pop_or_answer_the_null_array() {
        let mut s = TestShard::default();
        assert_eq!(run(&mut s, &["BZPOPMIN", "a", "z", "0"]), "(nil)");
        assert_eq!(s.run_raw(&["BZPOPMIN", "a", "0"]), "*-1\r\n");
        assert_eq!(
            run(&mut s, &["BZPOPMIN", "a", "x"]),
            "-ERR timeout is not a float or out of range"
        );
        assert_eq!(
            run(&mut s, &["BZPOPMAX", "a", "-1"]),
            "-ERR timeout is negative"
        );
        run(
            &mut s,
            &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
        );
        assert_eq!(run(&mut s, &["BZPOPMIN", "a", "z", "0"]), "[z, a, 1]");
        assert_eq!(run(&mut s, &["BZPOPMAX", "z", "0.5"]), "[z, d, 4]");
        assert_eq!(
            run(&mut s, &["BZMPOP", "0", "2", "a", "z", "MAX", "COUNT", "5"]),
            "[z, [[c, 3], [b, 2]]]"
        );
        assert_eq!(run(&mut s, &["EXISTS", "z"]), "0");
        assert_eq!(run(&mut s, &["BZMPOP", "0", "1", "z", "MIN"]), "(nil)");
        assert_eq!(
            run(&mut s, &["BZMPOP", "0", "0", "z", "MIN"]),
            "-ERR numkeys should be greater than 0"
        );
        assert_eq!(
            run(&mut s, &["BZMPOP", "0", "1", "z", "UP"]),
            "-ERR syntax error"
        );
        run(&mut s, &["SET", "str", "v"]);
        assert_eq!(
            run(&mut s, &["BZPOPMIN", "str", "0"]),
            "-WRONGTYPE Operation against a key holding the wrong kind of value"
        );
    }
}
