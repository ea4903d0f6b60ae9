//! Geo commands on sorted sets: `GEOADD`, `GEOPOS`, `GEODIST` and `GEOHASH`, with
//! Redis 7.0's 52-bit geohash scores (`geohash.c`, `geohash_helper.c`), so a key
//! written here reads back the same on Redis and the other way round, and with its
//! replies to the printed digit: positions as `%.17Lf` with trailing zeros dropped,
//! distances as `%.4f` from the same haversine formula and earth radius.
//!
//! A position is stored as the member's score: latitude and longitude each scaled to
//! 26 bits over their ranges and interleaved (latitude in the even bits). `GEOADD`
//! is a `ZADD` of those scores.

use bytes::Bytes;

use super::flags::*;
use super::geo_hash::{
    distance, encode, lon_lat, position, reply_distance, reply_human, unit_meters, Range,
    LAT_RANGE, LONG_RANGE, STEP_MAX,
};
use super::zset::{read_zset, zadd};
use super::{row, CommandSpec, Route, KEY1};
use crate::command::ctx::Ctx;
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;

/// The latitude range of standard geohash strings (`GEOHASH`).
const WGS84_LAT: Range = Range {
    min: -90.0,
    max: 90.0,
};
/// The alphabet of geohash strings.
const GEOHASH_ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
/// Characters of a `GEOHASH` string.
const GEOHASH_CHARS: usize = 11;

/// `GEOADD key [NX|XX] [CH] longitude latitude member ...`: a `ZADD` of geohash scores.
fn geoadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut c = ArgCursor::new(args);
    let key = c.arg()?;
    let mut zadd_args = vec![Bytes::from_static(b"zadd"), key.clone()];
    let (mut nx, mut xx) = (false, false);
    loop {
        let flag = match () {
            _ if c.eat("NX") => "NX",
            _ if c.eat("XX") => "XX",
            _ if c.eat("CH") => "CH",
            _ => break,
        };
        nx |= flag == "NX";
        xx |= flag == "XX";
        zadd_args.push(Bytes::from_static(flag.as_bytes()));
    }
    let triples = c.rest();
    if !triples.len().is_multiple_of(3) || (nx && xx) {
        return Err(CmdError::Syntax);
    }
    for t in triples.chunks_exact(3) {
        let (lon, lat) = lon_lat(&t[0], &t[1])?;
        let bits = encode(lon, lat, LONG_RANGE, LAT_RANGE, STEP_MAX).align52();
        zadd_args.push(Bytes::from(bits.to_string()));
        zadd_args.push(t[2].clone());
    }
    zadd(ctx, &zadd_args)
}

fn geopos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let z = read_zset(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(score) => {
                let (lon, lat) = position(score);
                ctx.out.array(2);
                reply_human(ctx.out, lon);
                reply_human(ctx.out, lat);
            }
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

fn geodist(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let meters = match args.len() {
        4 => 1.0,
        5 => unit_meters(&args[4])?,
        _ => return Err(CmdError::Syntax),
    };
    let z = read_zset(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    let scores = z.and_then(|z| Some((z.score(&args[2])?, z.score(&args[3])?)));
    match scores {
        Some((a, b)) => {
            let ((lon1, lat1), (lon2, lat2)) = (position(a), position(b));
            reply_distance(ctx.out, distance(lon1, lat1, lon2, lat2) / meters);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// The standard 11-character geohash of a member's position.
fn geohash_text(score: f64) -> [u8; GEOHASH_CHARS] {
    let (lon, lat) = position(score);
    let bits = encode(lon, lat, LONG_RANGE, WGS84_LAT, STEP_MAX).bits;
    let mut out = [0u8; GEOHASH_CHARS];
    for (i, ch) in out.iter_mut().enumerate() {
        let idx = match i {
            10 => 0,
            _ => (bits >> (52 - (i + 1) * 5)) & 0x1f,
        };
        *ch = GEOHASH_ALPHABET[idx as usize];
    }
    out
}

fn geohash(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let z = read_zset(ctx.ks, ctx.db, &args[1], ctx.now_ms)?;
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(score) => ctx.out.bulk(&geohash_text(score)),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    row("geoadd", -5, WRITE | DENYOOM, KEY1, "geo", "Adds one or more members to a geospatial index. The key is created if it doesn't exist.", Route::Shard(geoadd)),
    row("geopos", -2, READONLY, KEY1, "geo", "Returns the longitude and latitude of members from a geospatial index.", Route::Shard(geopos)),
    row("geodist", -4, READONLY, KEY1, "geo", "Returns the distance between two members of a geospatial index.", Route::Shard(geodist)),
    row("geohash", -2, READONLY, KEY1, "geo", "Returns members from a geospatial index as geohash strings.", Route::Shard(geohash)),
];

#[cfg(test)]
mod tests {
    use crate::harness::{run, TestShard};

    #[test]
    fn scores_positions_and_distances_as_redis_prints_them() {
        let mut s = TestShard::default();
        let add = ["GEOADD", "g", "13.361389", "38.115556", "Palermo"];
        assert_eq!(run(&mut s, &add), "1");
        run(
            &mut s,
            &["GEOADD", "g", "15.087269", "37.502669", "Catania"],
        );
        assert_eq!(run(&mut s, &["ZSCORE", "g", "Palermo"]), "3479099956230698");
        assert_eq!(
            run(&mut s, &["GEOPOS", "g", "Palermo", "nope"]),
            "[[13.36138933897018433, 38.11555639549629859], (nil)]"
        );
        assert_eq!(
            run(&mut s, &["GEODIST", "g", "Palermo", "Catania"]),
            "166274.1516"
        );
        assert_eq!(
            run(&mut s, &["GEODIST", "g", "Palermo", "Catania", "mi"]),
            "103.3182"
        );
        assert_eq!(
            run(&mut s, &["GEOHASH", "g", "Palermo", "Catania"]),
            "[sqc8b49rny0, sqdtr74hyu0]"
        );
        assert_eq!(
            run(&mut s, &["GEOADD", "g", "200", "1", "x"]),
            "-ERR invalid longitude,latitude pair 200.000000,1.000000"
        );
    }
}
