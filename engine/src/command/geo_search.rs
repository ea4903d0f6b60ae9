//! Geo searches: `GEOSEARCH`, `GEOSEARCHSTORE`, `GEORADIUS`, `GEORADIUSBYMEMBER` and
//! their `_RO` forms, as Redis 7.0's `georadiusGeneric` runs them, so that the members
//! found, their order, distances, hashes and coordinates are Redis's to the printed
//! digit:
//!
//! 1. the arguments are read in Redis's order, with the key's state in hand, because
//!    Redis checks the type first and reads `FROMMEMBER` positions while it parses
//!    (so an error depends on what the key holds);
//! 2. the shape's nine cells (`geo_hash.rs`) are scanned as score ranges of the
//!    sorted set, centre first; each member in a cell is kept when it is inside the
//!    circle or box, with its distance from the centre; `COUNT n ANY` stops at `n`;
//! 3. the result is sorted by distance when asked (or when `COUNT` is given without
//!    `ANY`), cut to `COUNT`, and replied or stored.
//!
//! The read-only forms and `GEOSEARCH` run on the key's shard. The forms that may
//! store (`GEORADIUS … STORE`, `GEOSEARCHSTORE`) are [`Parts`]: the source's shard
//! searches, the plan replies or hands the result to the destination's shard, which
//! writes it (or deletes the destination for an empty result) as one transaction,
//! wherever the two keys live. A stored result is a whole sorted set, journaled as
//! the other `*STORE` results are.

use bytes::Bytes;

use super::flags::*;
use super::geo_hash::{
    lon_lat, position, reply_distance, reply_human, unit_meters, Shape, ShapeKind,
};
use super::keyspec::KeyIndex;
use super::parts::{merge, PartReply, Parts, Piece, ShardArgs, Split, Write};
use super::zset::read_zset;
use super::zset_multi::{store_result, store_write};
use super::zset_range::parse_score;
use super::{row, CommandSpec, KeySpec, Route, KEY1};
use crate::collections::{Zset, ZsetLimits};
use crate::command::ctx::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::resp::{parse_i64, Reply, ReplyBuf};
use crate::value::Value;

/// Which command a search is (Redis's `RADIUS_*`/`GEOSEARCH*` flags).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `GEORADIUS[_RO] key lon lat radius unit`; `store`: whether `STORE` is allowed.
    Radius { store: bool },
    /// `GEORADIUSBYMEMBER[_RO] key member radius unit`.
    ByMember { store: bool },
    /// `GEOSEARCH key ...`.
    Search,
    /// `GEOSEARCHSTORE dest key ...`.
    SearchStore,
}

impl Kind {
    fn of(name: &[u8]) -> Kind {
        match name.to_ascii_lowercase().as_slice() {
            b"georadius" => Kind::Radius { store: true },
            b"georadius_ro" => Kind::Radius { store: false },
            b"georadiusbymember" => Kind::ByMember { store: true },
            b"georadiusbymember_ro" => Kind::ByMember { store: false },
            b"geosearchstore" => Kind::SearchStore,
            _ => Kind::Search,
        }
    }

    /// The position of the searched key.
    fn source(self) -> usize {
        match self {
            Kind::SearchStore => SEARCHSTORE_SRC,
            _ => 1,
        }
    }

    fn is_search(self) -> bool {
        matches!(self, Kind::Search | Kind::SearchStore)
    }

    /// Whether `STORE`/`STOREDIST key` are options.
    fn store_options(self) -> bool {
        matches!(
            self,
            Kind::Radius { store: true } | Kind::ByMember { store: true }
        )
    }
}

/// `GEOSEARCHSTORE dest src ...`: the positions of its keys.
const SEARCHSTORE_DEST: usize = 1;
const SEARCHSTORE_SRC: usize = 2;

/// The order asked for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A parsed search.
#[derive(Debug)]
struct Query {
    /// `None` when the key is missing and Redis skipped reading the centre.
    shape: Option<Shape>,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    /// 0: no limit.
    count: usize,
    /// The destination's position, when the result is stored.
    store: Option<usize>,
    storedist: bool,
}

/// A member found.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    member: Vec<u8>,
    /// From the centre, in the query's unit once the result is cut.
    dist: f64,
    score: f64,
    lon: f64,
    lat: f64,
}

fn raw(text: String) -> CmdError {
    CmdError::Raw(text)
}

/// A radius and unit (`extractDistanceOrReply`): the radius and meters per unit.
fn radius_arg(radius: &[u8], unit: &[u8]) -> CmdResult<(f64, f64)> {
    let r = parse_score(radius).ok_or_else(|| raw("ERR need numeric radius".into()))?;
    if r < 0.0 {
        return Err(raw("ERR radius cannot be negative".into()));
    }
    Ok((r, unit_meters(unit)?))
}

/// A box and unit (`extractBoxOrReply`): width, height and meters per unit.
fn box_arg(width: &[u8], height: &[u8], unit: &[u8]) -> CmdResult<(f64, f64, f64)> {
    let w = parse_score(width).ok_or_else(|| raw("ERR need numeric width".into()))?;
    let h = parse_score(height).ok_or_else(|| raw("ERR need numeric height".into()))?;
    if h < 0.0 || w < 0.0 {
        return Err(raw("ERR height or width cannot be negative".into()));
    }
    Ok((w, h, unit_meters(unit)?))
}

/// The position of `member` in `z`, or Redis's error for a member it lacks.
fn member_position(z: &Zset, member: &[u8]) -> CmdResult<(f64, f64)> {
    z.score(member)
        .map(position)
        .ok_or_else(|| raw("ERR could not decode requested zset member".into()))
}

/// What the options loop has seen of the centre and the shape.
#[derive(Default)]
struct Seen {
    centre: Option<(f64, f64)>,
    from_member: bool,
    from_lonlat: bool,
    by: Option<(ShapeKind, f64)>,
}

/// Reads a search's arguments as `georadiusGeneric` does, against the key's value
/// `z` (`None`: missing), with Redis's errors in Redis's order.
fn parse(args: &[Bytes], kind: Kind, z: Option<&Zset>) -> CmdResult<Query> {
    let mut seen = Seen::default();
    let base = match kind {
        Kind::Radius { .. } => {
            seen.centre = Some(lon_lat(&args[2], &args[3])?);
            let (radius, conversion) = radius_arg(&args[4], &args[5])?;
            seen.by = Some((ShapeKind::Circle { radius }, conversion));
            6
        }
        Kind::ByMember { .. } => {
            if let Some(z) = z {
                seen.centre = Some(member_position(z, &args[2])?);
                let (radius, conversion) = radius_arg(&args[3], &args[4])?;
                seen.by = Some((ShapeKind::Circle { radius }, conversion));
            }
            5
        }
        Kind::Search => 2,
        Kind::SearchStore => 3,
    };
    let mut q = Query {
        shape: None,
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        any: false,
        count: 0,
        store: (kind == Kind::SearchStore).then_some(SEARCHSTORE_DEST),
        storedist: false,
    };
    let mut i = base;
    while i < args.len() {
        i += 1 + q.option(args, i, kind, z, &mut seen)?;
    }
    q.finish(args, kind, seen)?;
    Ok(q)
}

impl Query {
    /// Reads the option at `i`; how many arguments it took after its name.
    fn option(
        &mut self,
        args: &[Bytes],
        i: usize,
        kind: Kind,
        z: Option<&Zset>,
        seen: &mut Seen,
    ) -> CmdResult<usize> {
        let left = args.len() - i - 1;
        let word = args[i].to_ascii_lowercase();
        let is_box = matches!(seen.by, Some((ShapeKind::Box { .. }, _)));
        let is_circle = matches!(seen.by, Some((ShapeKind::Circle { .. }, _)));
        match word.as_slice() {
            b"withdist" => self.withdist = true,
            b"withhash" => self.withhash = true,
            b"withcoord" => self.withcoord = true,
            b"any" => self.any = true,
            b"asc" => self.sort = Sort::Asc,
            b"desc" => self.sort = Sort::Desc,
            b"count" if left >= 1 => {
                let n = parse_i64(&args[i + 1]).ok_or(CmdError::NotInteger)?;
                if n <= 0 {
                    return Err(raw("ERR COUNT must be > 0".into()));
                }
                self.count = usize::try_from(n).unwrap_or(usize::MAX);
                return Ok(1);
            }
            b"store" | b"storedist" if left >= 1 && kind.store_options() => {
                self.store = Some(i + 1);
                self.storedist = word == b"storedist";
                return Ok(1);
            }
            b"storedist" if kind == Kind::SearchStore => self.storedist = true,
            b"frommember" if left >= 1 && kind.is_search() && !seen.from_lonlat => {
                if let Some(z) = z {
                    seen.centre = Some(member_position(z, &args[i + 1])?);
                }
                seen.from_member = true;
                return Ok(1);
            }
            b"fromlonlat" if left >= 2 && kind.is_search() && !seen.from_member => {
                seen.centre = Some(lon_lat(&args[i + 1], &args[i + 2])?);
                seen.from_lonlat = true;
                return Ok(2);
            }
            b"byradius" if left >= 2 && kind.is_search() && !is_box => {
                let (radius, conversion) = radius_arg(&args[i + 1], &args[i + 2])?;
                seen.by = Some((ShapeKind::Circle { radius }, conversion));
                return Ok(2);
            }
            b"bybox" if left >= 3 && kind.is_search() && !is_circle => {
                let (width, height, conversion) =
                    box_arg(&args[i + 1], &args[i + 2], &args[i + 3])?;
                seen.by = Some((ShapeKind::Box { width, height }, conversion));
                return Ok(3);
            }
            _ => return Err(CmdError::Syntax),
        }
        Ok(0)
    }

    /// The checks after the options, and the shape and order they settle.
    fn finish(&mut self, args: &[Bytes], kind: Kind, seen: Seen) -> CmdResult {
        if self.store.is_some() && (self.withdist || self.withhash || self.withcoord) {
            let what = match kind {
                Kind::SearchStore => "GEOSEARCHSTORE",
                _ => "STORE option in GEORADIUS",
            };
            return Err(raw(format!(
                "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
            )));
        }
        let name = String::from_utf8_lossy(&args[0]);
        if kind.is_search() && !(seen.from_member || seen.from_lonlat) {
            return Err(raw(format!(
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
            )));
        }
        if kind.is_search() && seen.by.is_none() {
            return Err(raw(format!(
                "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
            )));
        }
        if self.any && self.count == 0 {
            return Err(raw("ERR the ANY argument requires COUNT argument".into()));
        }
        if let (Some((lon, lat)), Some((kind, conversion))) = (seen.centre, seen.by) {
            self.shape = Some(Shape {
                lon,
                lat,
                kind,
                conversion,
            });
        }
        if self.count != 0 && self.sort == Sort::None && !self.any {
            self.sort = Sort::Asc;
        }
        Ok(())
    }
}

/// The members of `z` in the nine cells and inside the shape, in scan order
/// (`membersOfAllNeighbors`); with `limit` (`COUNT n ANY`), at most about `limit`.
fn scan(z: &Zset, shape: &Shape, limit: usize) -> Vec<Point> {
    let cells = shape.cells();
    let mut found: Vec<Point> = Vec::new();
    let full = |found: &Vec<Point>| limit != 0 && found.len() >= limit;
    let mut last = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Redis compares with the last cell scanned only once it has scanned past
        // the centre, so a neighbour equal to the centre is scanned again.
        if last != 0 && *cell == cells[last] {
            continue;
        }
        if full(&found) {
            break;
        }
        let min = cell.align52() as f64;
        let max = super::geo_hash::Cell {
            bits: cell.bits + 1,
            step: cell.step,
        }
        .align52() as f64;
        let start = z.count_before(|s, _| s < min);
        z.walk(start, false, |member, score| {
            if score >= max {
                return false;
            }
            let (lon, lat) = position(score);
            if let Some(dist) = shape.distance_if_inside(lon, lat) {
                found.push(Point {
                    member: member.to_vec(),
                    dist,
                    score,
                    lon,
                    lat,
                });
            }
            !full(&found)
        });
        last = i;
    }
    found
}

/// The search's result: found, sorted, cut to `COUNT`, distances in the unit.
fn search(z: &Zset, q: &Query) -> Vec<Point> {
    let Some(shape) = &q.shape else {
        return Vec::new();
    };
    let mut points = scan(z, shape, if q.any { q.count } else { 0 });
    match q.sort {
        Sort::None => {}
        Sort::Asc => points.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => points.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
    }
    if q.count != 0 {
        points.truncate(q.count);
    }
    for p in &mut points {
        p.dist /= shape.conversion;
    }
    points
}

/// The reply to a search that does not store.
fn reply_points(out: &mut ReplyBuf, q: &Query, points: &[Point]) {
    let options = [q.withdist, q.withhash, q.withcoord]
        .iter()
        .filter(|&&o| o)
        .count();
    out.array(points.len());
    for p in points {
        if options > 0 {
            out.array(options + 1);
        }
        out.bulk(&p.member);
        if q.withdist {
            reply_distance(out, p.dist);
        }
        if q.withhash {
            out.int(p.score as i64);
        }
        if q.withcoord {
            out.array(2);
            reply_human(out, p.lon);
            reply_human(out, p.lat);
        }
    }
}

/// The sorted set a stored search holds: each member (once) with its hash, or its
/// distance under `STOREDIST`.
fn stored(points: &[Point], storedist: bool) -> Zset {
    let mut seen = std::collections::HashSet::new();
    let entries: Vec<(&[u8], f64)> = points
        .iter()
        .filter(|p| seen.insert(p.member.as_slice()))
        .map(|p| {
            let score = if storedist { p.dist } else { p.score };
            (p.member.as_slice(), score)
        })
        .collect();
    Zset::from_entries(entries, &ZsetLimits::default())
}

/// The read-only forms and `GEOSEARCH`: every key on one shard.
fn search_here(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let kind = Kind::of(&args[0]);
    let z = read_zset(ctx.ks, ctx.db, &args[kind.source()], ctx.now_ms)?;
    let q = parse(args, kind, z)?;
    let points = z.map(|z| search(z, &q)).unwrap_or_default();
    reply_points(ctx.out, &q, &points);
    Ok(())
}

/// Bytes of a point's numbers in a part's reply.
const POINT_NUMBERS: usize = 4 * 8;

/// The source's shard: the search, its points as (member, numbers) values.
fn search_read(ctx: &mut Ctx, s: &ShardArgs) -> CmdResult<PartReply> {
    let kind = Kind::of(&s.args[0]);
    if !s.has(kind.source()) {
        return Ok(PartReply::Done);
    }
    let z = match ctx.ks.find_read(ctx.db, &s.args[kind.source()], ctx.now_ms) {
        None => None,
        Some(e) => match e.value {
            Value::Zset(z) => Some(z),
            _ => return Err(CmdError::WrongType),
        },
    };
    let q = parse(s.args, kind, z)?;
    let points = z.map(|z| search(z, &q)).unwrap_or_default();
    let mut values = Vec::with_capacity(points.len() * 2);
    for p in points {
        let mut numbers = Vec::with_capacity(POINT_NUMBERS);
        for v in [p.dist, p.score, p.lon, p.lat] {
            numbers.extend_from_slice(&v.to_le_bytes());
        }
        values.push(Some(p.member));
        values.push(Some(numbers));
    }
    Ok(PartReply::Values(values))
}

/// The points the source's shard found.
fn points_of(pieces: &[Piece], source: usize) -> Vec<Point> {
    let Some(PartReply::Values(values)) = pieces
        .iter()
        .find(|p| p.keys.contains(&source))
        .map(|p| &p.reply)
    else {
        return Vec::new();
    };
    values
        .chunks_exact(2)
        .map(|pair| {
            let numbers = pair[1].as_deref().expect("a point's numbers");
            let at = |i: usize| {
                f64::from_le_bytes(numbers[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
            };
            Point {
                member: pair[0].clone().expect("a member"),
                dist: at(0),
                score: at(1),
                lon: at(2),
                lat: at(3),
            }
        })
        .collect()
}

/// Replies, or hands the result to the destination's shard.
fn search_plan(args: &[Bytes], reads: &[Piece], out: &mut ReplyBuf) -> CmdResult<Option<Write>> {
    Parts::first_error(reads)?;
    let kind = Kind::of(&args[0]);
    // The source's shard parsed with the key in hand; this reading only needs the
    // options, which do not depend on it.
    let q = parse(args, kind, None)?;
    let points = points_of(reads, kind.source());
    match q.store {
        None => {
            reply_points(out, &q, &points);
            Ok(None)
        }
        Some(dest) => Ok(Some(store_result(stored(&points, q.storedist), dest, out))),
    }
}

static SEARCH_STORE: Parts = Parts {
    split: Split::Keys,
    check: None,
    read: Some(search_read),
    plan: Some(search_plan),
    write: Some(store_write),
    always_writes: false,
    merge: merge::planned,
};

/// `GEORADIUS[BYMEMBER] key ... [STORE key] [STOREDIST key]`: the key, and the last
/// `STORE`/`STOREDIST` destination (Redis's `georadiusGetKeys`).
fn georadius_keys(args: &[Bytes]) -> KeyIndex {
    /// Where the options may start.
    const FIRST_OPTION: usize = 5;
    let mut bonus = None;
    let mut i = FIRST_OPTION;
    while i < args.len() {
        let store =
            args[i].eq_ignore_ascii_case(b"store") || args[i].eq_ignore_ascii_case(b"storedist");
        if store && i + 1 < args.len() {
            bonus = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    KeyIndex {
        start: 1,
        end: 2.min(args.len()),
        step: 1,
        bonus,
    }
}

const RW: u32 = WRITE | DENYOOM;
const GEORADIUS_KEYS: KeySpec = KeySpec::Custom(georadius_keys);

#[rustfmt::skip]
pub const COMMANDS: &[CommandSpec] = &[
    row("georadius", -6, RW, GEORADIUS_KEYS, "geo", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.", Route::Parts(&SEARCH_STORE)),
    row("georadius_ro", -6, READONLY, KEY1, "geo", "Returns members from a geospatial index that are within a distance from a coordinate.", Route::Shard(search_here)),
    row("georadiusbymember", -5, RW, GEORADIUS_KEYS, "geo", "Queries a geospatial index for members within a distance from a member, optionally stores the result.", Route::Parts(&SEARCH_STORE)),
    row("georadiusbymember_ro", -5, READONLY, KEY1, "geo", "Returns members from a geospatial index that are within a distance from a member.", Route::Shard(search_here)),
    row("geosearch", -7, READONLY, KEY1, "geo", "Queries a geospatial index for members inside an area of a box or a circle.", Route::Shard(search_here)),
    row("geosearchstore", -8, RW, super::range(1, 2, 1), "geo", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.", Route::Parts(&SEARCH_STORE)),
];
