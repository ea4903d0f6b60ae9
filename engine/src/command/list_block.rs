//! The blocking list commands' rows and their non-blocking step: `BLPOP`, `BRPOP`,
//! `BRPOPLPUSH`, `BLMOVE` and `BLMPOP` as [`Parts`] that do what the command does
//! when an element is there, and answer Redis's timeout reply (a null, or a null
//! array) when none is. Inside `MULTI` that is the whole command (Redis's rule:
//! blocking forms do not block in a transaction); outside, once the client is
//! blocked, the shard of a watched key that became ready runs the step for that key
//! alone ([`watching_only`]) when the key holds what the command pops
//! ([`serves_from`]), until it answers something else or the timeout passes.
//!
//! The timeout is checked with the other arguments, before any key is looked up,
//! with Redis 7.0.15's texts ([`timeout_ms`]).

use std::ops::Range;

use bytes::Bytes;

use super::list_edit::pop;
use super::list_move::{
    move_ends, move_parts_plan, move_write, mpop_args, mpop_merge, mpop_plan_keys, mpop_write_at,
    MOVE_SRC,
};
use super::parts::{MergeArgs, PartReply, Parts, Piece, ShardArgs, Split, Write};
use crate::collections::End;
use crate::command::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::resp::{parse_f64, Reply, ReplyBuf};
use crate::value::Value;

type PlanResult = CmdResult<Option<Write>>;

/// `BLMPOP timeout numkeys key…`: where `numkeys` is.
const BLMPOP_NUMKEYS_AT: usize = 2;
/// `BZMPOP timeout numkeys key…`: where `numkeys` is.
pub const BZMPOP_NUMKEYS_AT: usize = 2;
/// Milliseconds per second of a blocking timeout.
const MS_PER_S: f64 = 1000.0;

/// A blocking timeout in milliseconds (0: forever), parsed as Redis 7.0.15's
/// `getTimeoutFromObjectOrReply`: fractional seconds, rounded up to a millisecond;
/// one whose milliseconds do not fit an `i64` reads as negative, as the C cast does.
pub fn timeout_ms(arg: &[u8]) -> CmdResult<u64> {
    let secs = parse_f64(arg)
        .ok_or_else(|| CmdError::Raw("ERR timeout is not a float or out of range".into()))?;
    let ms = (secs * MS_PER_S).ceil();
    let ms = if ms.is_finite() && ms < i64::MAX as f64 {
        ms as i64
    } else {
        i64::MIN
    };
    u64::try_from(ms).map_err(|_| CmdError::Raw("ERR timeout is negative".into()))
}

/// The error a deadline past what the clock can hold answers.
pub fn timeout_out_of_range() -> CmdError {
    CmdError::Raw("ERR timeout is out of range".into())
}

/// Where a blocking command's timeout argument is.
pub fn timeout_at(args: &[Bytes]) -> usize {
    if args[0].eq_ignore_ascii_case(b"BLMPOP") || args[0].eq_ignore_ascii_case(b"BZMPOP") {
        1
    } else {
        args.len() - 1
    }
}

/// The keys a blocked client waits on: every source (`BLMOVE`'s one), for the
/// blocking list and sorted-set pops alike.
pub fn watched_keys(args: &[Bytes]) -> CmdResult<Range<usize>> {
    let name = &args[0];
    if name.eq_ignore_ascii_case(b"BLMPOP") {
        return Ok(mpop_args(args, BLMPOP_NUMKEYS_AT)?.keys);
    }
    if name.eq_ignore_ascii_case(b"BZMPOP") {
        return Ok(super::zset_multi::zmpop_args_at(args, BZMPOP_NUMKEYS_AT)?.0);
    }
    if name.eq_ignore_ascii_case(b"BLMOVE") || name.eq_ignore_ascii_case(b"BRPOPLPUSH") {
        return Ok(MOVE_SRC..MOVE_SRC + 1);
    }
    Ok(1..args.len() - 1)
}

/// The command a client blocked on several keys runs when `key` (one of them) became
/// ready: the same command watching `key` alone, so it pops from that key as Redis
/// serves a blocked client from the key that became ready. `BLMPOP`/`BZMPOP` get
/// `numkeys` 1; the single-source forms are unchanged.
pub fn watching_only(args: &[Bytes], key: &[u8]) -> CmdResult<Vec<Bytes>> {
    let keys = watched_keys(args)?;
    let mut one = Vec::with_capacity(args.len() - keys.len() + 1);
    one.extend_from_slice(&args[..keys.start]);
    one.push(Bytes::copy_from_slice(key));
    one.extend_from_slice(&args[keys.end..]);
    let name = &args[0];
    if name.eq_ignore_ascii_case(b"BLMPOP") || name.eq_ignore_ascii_case(b"BZMPOP") {
        one[BLMPOP_NUMKEYS_AT] = Bytes::from_static(b"1");
    }
    Ok(one)
}

/// Whether a client blocked in `args` can be served from a key holding `value`: a
/// list for the blocking list pops and moves, a sorted set for `BZPOPMIN`,
/// `BZPOPMAX` and `BZMPOP`. A key of another type leaves the client blocked (Redis
/// 7.0's `handleClientsBlockedOnKeys` serves a ready key only of the type its
/// clients pop), to be served once the key holds that type again.
pub fn serves_from(args: &[Bytes], value: &Value) -> bool {
    let sorted_set = args[0]
        .get(..2)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"BZ"));
    match value {
        Value::List(_) => !sorted_set,
        Value::Zset(_) => sorted_set,
        _ => false,
    }
}

pub(super) fn check_timeout(args: &[Bytes]) -> CmdResult {
    timeout_ms(&args[timeout_at(args)]).map(drop)
}

fn check_bmove(args: &[Bytes]) -> CmdResult {
    move_ends(&args[..args.len() - 1])?;
    check_timeout(args)
}

fn check_blmpop(args: &[Bytes]) -> CmdResult {
    timeout_ms(&args[1])?;
    mpop_args(args, BLMPOP_NUMKEYS_AT).map(drop)
}

/// `BLMOVE`'s step is `LMOVE`'s, read from its arguments without the timeout.
fn bmove_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let args = &s.args[..s.args.len() - 1];
    move_write(
        ctx,
        &ShardArgs {
            args,
            keys: s.keys,
            carry: s.carry,
        },
    )
}

fn bmove_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let (from, _) = move_ends(&s.args[..s.args.len() - 1])?;
    let probes = s
        .keys
        .iter()
        .map(|&i| {
            let end = (i == MOVE_SRC).then_some(from);
            super::list_move::probe(ctx.ks, ctx.db, &s.args[i], ctx.now_ms, end)
        })
        .collect();
    Ok(PartReply::Lists(probes))
}

fn bpop_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let probes = s
        .keys()
        .map(|key| super::list_move::probe(ctx.ks, ctx.db, key, ctx.now_ms, None))
        .collect();
    Ok(PartReply::Lists(probes))
}

fn bpop_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    mpop_plan_keys(1..args.len() - 1, reads, out)
}

/// Pops one element from the key the plan chose: `BLPOP` the head, `BRPOP` the tail.
fn bpop_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let end = match s.args[0].eq_ignore_ascii_case(b"BRPOP") {
        true => End::Tail,
        false => End::Head,
    };
    let key = s.keys().next().expect("the plan chose a key");
    let popped = pop(ctx, key, end, 1)?.expect("the plan saw a list");
    Ok(PartReply::Values(popped.into_iter().map(Some).collect()))
}

/// `[key, element]`.
fn bpop_merge(m: &MergeArgs, pieces: &[Piece], out: &mut ReplyBuf) {
    let Some((key, values)) = Piece::first_values(pieces) else {
        return;
    };
    out.array(2);
    out.bulk(&m.args[key]);
    out.bulk(values[0].as_deref().unwrap_or_default());
}

fn blmpop_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> PlanResult {
    mpop_plan_keys(mpop_args(args, BLMPOP_NUMKEYS_AT)?.keys, reads, out)
}

fn blmpop_write(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    mpop_write_at(ctx, s, BLMPOP_NUMKEYS_AT)
}

const fn keyed(
    check: fn(&[Bytes]) -> CmdResult,
    read: fn(&mut Ctx, &ShardArgs) -> CmdResult<PartReply>,
    plan: fn(&[Bytes], &[Piece], &mut ReplyBuf) -> PlanResult,
    write: fn(&mut Ctx, &ShardArgs) -> CmdResult<PartReply>,
    merge: fn(&MergeArgs, &[Piece], &mut ReplyBuf),
) -> Parts {
    Parts {
        split: Split::Keys,
        check: Some(check),
        read: Some(read),
        plan: Some(plan),
        write: Some(write),
        always_writes: false,
        merge,
    }
}

pub static BPOP: Parts = keyed(check_timeout, bpop_read, bpop_plan, bpop_write, bpop_merge);
pub static BMOVE: Parts = keyed(
    check_bmove,
    bmove_read,
    move_parts_plan,
    bmove_write,
    super::parts::merge::planned,
);
pub static BLMPOP: Parts = keyed(
    check_blmpop,
    bpop_read,
    blmpop_plan,
    blmpop_write,
    mpop_merge,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{run, TestShard};

    #[test]
    fn timeouts_parse_as_redis_7_0() {
        assert_eq!(timeout_ms(b"0"), Ok(0));
        assert_eq!(timeout_ms(b"0.0001"), Ok(1));
        assert_eq!(timeout_ms(b"1.5"), Ok(1500));
        let text = |arg: &[u8]| timeout_ms(arg).map_err(|e| e.message());
        assert_eq!(text(b"-1"), Err("ERR timeout is negative".into()));
        assert_eq!(text(b"1e300"), Err("ERR timeout is negative".into()));
        assert_eq!(text(b"inf"), Err("ERR timeout is negative".into()));
        let not_float = Err("ERR timeout is not a float or out of range".into());
        assert_eq!(text(b"abc"), not_float);
        assert_eq!(text(b"nan"), not_float);
        assert_eq!(text(b" 1"), not_float);
    }

    #[test]
    fn a_ready_key_is_watched_alone() {
        let words = |a: &[&str]| {
            a.iter()
                .map(|w| Bytes::from(w.to_string()))
                .collect::<Vec<_>>()
        };
        let one = |a: &[&str], key: &str| watching_only(&words(a), key.as_bytes()).unwrap();
        assert_eq!(
            one(&["BLPOP", "a", "b", "c", "0"], "b"),
            words(&["BLPOP", "b", "0"])
        );
        assert_eq!(
            one(&["BZPOPMAX", "a", "b", "1.5"], "a"),
            words(&["BZPOPMAX", "a", "1.5"])
        );
        assert_eq!(
            one(&["BLMPOP", "0", "2", "a", "b", "RIGHT", "COUNT", "3"], "b"),
            words(&["BLMPOP", "0", "1", "b", "RIGHT", "COUNT", "3"])
        );
        assert_eq!(
            one(&["BZMPOP", "0", "3", "a", "b", "c", "MIN"], "c"),
            words(&["BZMPOP", "0", "1", "c", "MIN"])
        );
        let mv = ["BLMOVE", "s", "d", "LEFT", "RIGHT", "0"];
        assert_eq!(one(&mv, "s"), words(&mv));
    }

    #[test]
    fn a_key_serves_only_the_pops_of_its_type() {
        use crate::collections::{List, Zset};
        let list = Value::List(Box::new(List::new()));
        let zset = Value::Zset(Zset::new());
        let string = Value::Str(b"v".to_vec().into());
        let blpop = args(&["BLPOP", "k", "0"]);
        let blmove = args(&["blmove", "k", "d", "LEFT", "LEFT", "0"]);
        let bzpopmin = args(&["BZPOPMIN", "k", "0"]);
        let bzmpop = args(&["bzmpop", "0", "1", "k", "MIN"]);
        for list_pop in [&blpop, &blmove] {
            assert!(serves_from(list_pop, &list));
            assert!(!serves_from(list_pop, &zset));
            assert!(!serves_from(list_pop, &string));
        }
        for zset_pop in [&bzpopmin, &bzmpop] {
            assert!(serves_from(zset_pop, &zset));
            assert!(!serves_from(zset_pop, &list));
            assert!(!serves_from(zset_pop, &string));
        }
    }

    /// The step alone: what `MULTI` runs, and what a blocked client retries.
    #[test]
    fn the_non_blocking_step() {
        let mut s = TestShard::default();
        assert_eq!(run(&mut s, &["BLPOP", "a", "b", "0"]), "(nil)");
        assert_eq!(
            run(&mut s, &["BLPOP", "a", "x"]),
            "-ERR timeout is not a float or out of range"
        );
        run(&mut s, &["RPUSH", "b", "1", "2"]);
        assert_eq!(run(&mut s, &["BLPOP", "a", "b", "0"]), "[b, 1]");
        assert_eq!(run(&mut s, &["BRPOP", "a", "b", "0.5"]), "[b, 2]");
        run(&mut s, &["RPUSH", "b", "1", "2", "3"]);
        assert_eq!(run(&mut s, &["BRPOPLPUSH", "b", "c", "0"]), "3");
        assert_eq!(run(&mut s, &["BLMOVE", "b", "c", "LEFT", "LEFT", "0"]), "1");
        assert_eq!(
            run(&mut s, &["BLMOVE", "b", "c", "UP", "LEFT", "0"]),
            "-ERR syntax error"
        );
        assert_eq!(
            run(&mut s, &["BLMOVE", "x", "c", "LEFT", "LEFT", "0"]),
            "(nil)"
        );
        assert_eq!(
            run(
                &mut s,
                &["BLMPOP", "0", "2", "x", "c", "RIGHT", "COUNT", "5"]
            ),
            "[c, [3, 1]]"
        );
        assert_eq!(run(&mut s, &["BLMPOP", "0", "1", "x", "LEFT"]), "(nil)");
        assert_eq!(
            run(&mut s, &["BLMPOP", "-1", "1", "x", "LEFT"]),
            "-ERR timeout is negative"
        );
        assert_eq!(
            watched_keys(&args(&["BLMOVE", "s", "d", "LEFT", "LEFT", "0"])),
            Ok(1..2)
        );
        assert_eq!(watched_keys(&args(&["BLPOP", "a", "b", "0"])), Ok(1..3));
        assert_eq!(
            watched_keys(&args(&["BLMPOP", "0", "2", "a", "b", "LEFT"])),
            Ok(3..5)
        );
    }

    fn args(a: &[&str]) -> Vec<Bytes> {
        a.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }
}
