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
use super::zset::{read_zset, zadd};
use super::{row, CommandSpec, Route, KEY1};
use crate::command::ctx::Ctx;
use crate::cursor::ArgCursor;
use crate::error::{CmdError, CmdResult};
use crate::resp::{parse_f64, Protocol, Reply, ReplyBuf};

/// Bits per coordinate.
const GEO_STEP: u32 = 26;
const GEO_LONG_MIN: f64 = -180.0;
const GEO_LONG_MAX: f64 = 180.0;
/// Latitudes Redis accepts: those a Web-Mercator map shows.
const GEO_LAT_MIN: f64 = -85.05112878;
const GEO_LAT_MAX: f64 = 85.05112878;
/// The latitude range of standard geohash strings (`GEOHASH`).
const WGS84_LAT_MIN: f64 = -90.0;
const WGS84_LAT_MAX: f64 = 90.0;
/// Redis's earth radius, in meters.
const EARTH_RADIUS_M: f64 = 6372797.560856;
/// The alphabet of geohash strings.
const GEOHASH_ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
/// Characters of a `GEOHASH` string.
const GEOHASH_CHARS: usize = 11;

/// Spreads the 32 bits of `v` over the even bits of a `u64`.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// The even bits of `v`, packed.
fn compact(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0x0000_0000_FFFF_FFFF) as u32
}

/// `geohashEncode`: the cell of (`lon`, `lat`) over the latitude range given.
fn encode(lon: f64, lat: f64, lat_min: f64, lat_max: f64) -> u64 {
    let cells = (1u64 << GEO_STEP) as f64;
    let lat_offset = (lat - lat_min) / (lat_max - lat_min) * cells;
    let lon_offset = (lon - GEO_LONG_MIN) / (GEO_LONG_MAX - GEO_LONG_MIN) * cells;
    spread(lat_offset as u32) | (spread(lon_offset as u32) << 1)
}

/// `geohashDecodeToLongLatWGS84`: the centre of the cell `bits` names, clamped.
fn decode(bits: u64) -> (f64, f64) {
    let cells = (1u64 << GEO_STEP) as f64;
    let (lat_cell, lon_cell) = (compact(bits), compact(bits >> 1));
    let (lat_scale, lon_scale) = (GEO_LAT_MAX - GEO_LAT_MIN, GEO_LONG_MAX - GEO_LONG_MIN);
    let lat_lo = GEO_LAT_MIN + (f64::from(lat_cell) / cells) * lat_scale;
    let lat_hi = GEO_LAT_MIN + (f64::from(lat_cell.wrapping_add(1)) / cells) * lat_scale;
    let lon_lo = GEO_LONG_MIN + (f64::from(lon_cell) / cells) * lon_scale;
    let lon_hi = GEO_LONG_MIN + (f64::from(lon_cell.wrapping_add(1)) / cells) * lon_scale;
    let lon = ((lon_lo + lon_hi) / 2.0).clamp(GEO_LONG_MIN, GEO_LONG_MAX);
    let lat = ((lat_lo + lat_hi) / 2.0).clamp(GEO_LAT_MIN, GEO_LAT_MAX);
    (lon, lat)
}

/// The position a member's score stores.
fn position(score: f64) -> (f64, f64) {
    decode(score as u64)
}

/// `geohashGetDistance`: haversine distance in meters.
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let rad = |deg: f64| deg * (std::f64::consts::PI / 180.0);
    let v = ((rad(lon2) - rad(lon1)) / 2.0).sin();
    if v == 0.0 {
        return EARTH_RADIUS_M * (rad(lat2) - rad(lat1)).abs();
    }
    let (lat1r, lat2r) = (rad(lat1), rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// A coordinate as Redis's `addReplyHumanLongDouble` writes it: `%.17Lf` without
/// trailing zeros (or the point).
fn human(v: f64) -> String {
    let text = format!("{v:.17}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" => "0".to_string(),
        t => t.to_string(),
    }
}

fn reply_human(out: &mut ReplyBuf, v: f64) {
    let text = human(v);
    match out.protocol() {
        Protocol::Resp2 => out.bulk(text.as_bytes()),
        Protocol::Resp3 => {
            let bytes = out.bytes();
            bytes.push(b',');
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
    }
}

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
        let lon = parse_f64(&t[0]).ok_or(CmdError::NotFloat)?;
        let lat = parse_f64(&t[1]).ok_or(CmdError::NotFloat)?;
        if !(GEO_LONG_MIN..=GEO_LONG_MAX).contains(&lon)
            || !(GEO_LAT_MIN..=GEO_LAT_MAX).contains(&lat)
        {
            return Err(CmdError::Raw(format!(
                "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
            )));
        }
        let bits = encode(lon, lat, GEO_LAT_MIN, GEO_LAT_MAX);
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

/// Meters per unit of `GEODIST`'s unit argument.
fn unit_meters(unit: &[u8]) -> CmdResult<f64> {
    match unit.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(CmdError::Raw(
            "ERR unsupported unit provided. please use M, KM, FT, MI".into(),
        )),
    }
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
            let d = distance(lon1, lat1, lon2, lat2) / meters;
            ctx.out.bulk(format!("{d:.4}").as_bytes());
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// The standard 11-character geohash of a member's position.
fn geohash_text(score: f64) -> [u8; GEOHASH_CHARS] {
    let (lon, lat) = position(score);
    let bits = encode(lon, lat, WGS84_LAT_MIN, WGS84_LAT_MAX);
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
