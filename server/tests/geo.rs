//! Geo searches against the real binary, compared with `redis-server` 7.0.15 byte
//! for byte on one shard and on four, in RESP2 and RESP3:
//! - `GEOSEARCH`, `GEOSEARCHSTORE`, `GEORADIUS`, `GEORADIUSBYMEMBER` and their `_RO`
//!   forms over random points and random circles and boxes (a fixed seed): members,
//!   order, distances, hashes and coordinates to the printed digit, and what the
//!   `STORE`/`STOREDIST` forms leave in their destinations, on sets in both
//!   encodings, clustered and spread over the globe;
//! - every option's errors, in Redis's order (a missing key skips the member
//!   lookups), and destinations on another shard than the source.

mod common;

use common::compare::{same_as_redis, script};
use common::distinct_shards;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The seed of the random points and queries.
const SEED: u64 = 0x6e0_5ea2c4;
/// Queries per point set.
const QUERIES: usize = 16;

/// Units and their meters.
const UNITS: [(&str, f64); 5] = [
    ("m", 1.0),
    ("km", 1000.0),
    ("mi", 1609.34),
    ("ft", 0.3048),
    ("KM", 1000.0),
];

/// One set of `n` random points within `spread` degrees of a random centre (its
/// latitude in `lat_range`), and random searches around it, as script lines.
fn random_set(
    rng: &mut StdRng,
    key: &str,
    n: usize,
    spread: f64,
    lat_range: std::ops::Range<f64>,
) -> Vec<String> {
    let (clon, clat) = (rng.gen_range(-170.0..170.0), rng.gen_range(lat_range));
    let near = |rng: &mut StdRng| loop {
        let lon: f64 = clon + rng.gen_range(-spread..spread);
        let lat: f64 = clat + rng.gen_range(-spread..spread);
        if (-180.0..=180.0).contains(&lon) && (-85.0..=85.0).contains(&lat) {
            return (lon, lat);
        }
    };
    let mut add = format!("GEOADD {key}");
    for i in 0..n {
        let (lon, lat) = near(rng);
        add += &format!(" {lon:.6} {lat:.6} m{i}");
    }
    let mut lines = vec![add];
    for _ in 0..QUERIES {
        let (unit, meters) = UNITS[rng.gen_range(0..UNITS.len())];
        let size = |rng: &mut StdRng, max: f64| format!("{:.3}", rng.gen_range(0.0..max) / meters);
        let radius = size(rng, spread * 200_000.0);
        let (width, height) = (size(rng, spread * 300_000.0), size(rng, spread * 300_000.0));
        let (lon, lat) = near(rng);
        let member = format!("m{}", rng.gen_range(0..n));
        let mut store_opts = Vec::new();
        if rng.gen_bool(0.6) {
            store_opts.push(if rng.gen_bool(0.5) { "ASC" } else { "DESC" }.to_string());
        }
        if rng.gen_bool(0.3) {
            store_opts.push(format!("COUNT {}", rng.gen_range(1..20)));
            if rng.gen_bool(0.3) {
                store_opts.push("ANY".into());
            }
        }
        let mut opts = store_opts.clone();
        for with in ["WITHDIST", "WITHHASH", "WITHCOORD"] {
            if rng.gen_bool(0.4) {
                opts.push(with.into());
            }
        }
        let (opts, store_opts) = (opts.join(" "), store_opts.join(" "));
        lines.extend([
            format!("GEORADIUS {key} {lon:.5} {lat:.5} {radius} {unit} {opts}"),
            format!("GEORADIUS_RO {key} {lon:.5} {lat:.5} {radius} {unit} {opts}"),
            format!("GEORADIUSBYMEMBER {key} {member} {radius} {unit} {opts}"),
            format!("GEORADIUSBYMEMBER_RO {key} {member} {radius} {unit} {opts}"),
            format!("GEOSEARCH {key} FROMLONLAT {lon:.5} {lat:.5} BYRADIUS {radius} {unit} {opts}"),
            format!("GEOSEARCH {key} FROMMEMBER {member} BYBOX {width} {height} {unit} {opts}"),
            format!(
                "GEOSEARCH {key} FROMLONLAT {lon:.5} {lat:.5} BYBOX {width} {height} {unit} {opts}"
            ),
            format!("GEOSEARCHSTORE d1 {key} FROMLONLAT {lon:.5} {lat:.5} BYBOX {width} {height} {unit} {store_opts}"),
            "ZRANGE d1 0 -1 WITHSCORES".into(),
            format!("GEOSEARCHSTORE d2 {key} FROMMEMBER {member} BYRADIUS {radius} {unit} STOREDIST {store_opts}"),
            "ZRANGE d2 0 -1 WITHSCORES".into(),
            format!("GEORADIUS {key} {lon:.5} {lat:.5} {radius} {unit} STORE d3 {store_opts}"),
            "ZRANGE d3 0 -1 WITHSCORES".into(),
            format!("GEORADIUSBYMEMBER {key} {member} {radius} {unit} STOREDIST d4 {store_opts}"),
            "ZRANGE d4 0 -1 WITHSCORES".into(),
            "OBJECT ENCODING d4".into(),
        ]);
    }
    lines
}

#[test]
fn random_searches_answer_as_redis() {
    assert!(distinct_shards(&["near", "d1", "d2", "d3", "d4"], 4) >= 3);
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut lines = Vec::new();
    // A listpack; dense skiplists, where a search near the edge of its cells needs
    // the coarser step Redis falls back to (more so towards the poles, where
    // Redis widens the cells); and points over most of the globe (huge radii,
    // neighbour cells wrapping around, the coarsest steps).
    lines.extend(random_set(&mut rng, "near", 60, 1.0, -80.0..80.0));
    lines.extend(random_set(&mut rng, "far", 400, 8.0, -80.0..80.0));
    lines.extend(random_set(&mut rng, "polar", 300, 10.0, 60.0..80.0));
    lines.extend(random_set(&mut rng, "globe", 200, 170.0, -80.0..80.0));
    same_as_redis(&script(&lines.join("\n")));
}

const ERRORS: &str = "
    GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
    SET str x
    GEORADIUS g 15 37 200 km WITHDIST WITHCOORD WITHHASH ASC
    GEORADIUS str 15 37 200 km
    GEORADIUS str x 37 200 km
    GEORADIUS nokey 15 37 200 km
    SET d1 x
    GEORADIUS nokey 15 37 200 km STORE d1
    EXISTS d1
    GEORADIUS g 15 37 200 km STORE d1
    TYPE d1
    GEORADIUS g 15 37 200 km STORE
    GEORADIUS g 15 37 200 km STORE d1 WITHDIST
    GEORADIUS g 15 37 200 km STOREDIST d1 STORE d2
    ZRANGE d2 0 -1 WITHSCORES
    GEORADIUS g x 37 200 km
    GEORADIUS g 200 37 200 km
    GEORADIUS g 15 86 200 km
    GEORADIUS g 15 37 x km
    GEORADIUS g 15 37 -1 km
    GEORADIUS g 15 37 1 yards
    GEORADIUS g 15 37 200 km COUNT 0
    GEORADIUS g 15 37 200 km COUNT -1
    GEORADIUS g 15 37 200 km COUNT x
    GEORADIUS g 15 37 200 km COUNT
    GEORADIUS g 15 37 200 km ANY
    GEORADIUS g 15 37 200 km COUNT 1 ANY
    GEORADIUS g 15 37 200 km COUNT 9223372036854775807
    GEORADIUS g 15 37 200 km foo
    GEORADIUS g 15 37 200 km FROMLONLAT 1 2
    GEORADIUS_RO g 15 37 200 km STORE d1
    GEORADIUSBYMEMBER g Palermo 200 km WITHDIST
    GEORADIUSBYMEMBER g nope 200 km WITHDIST
    GEORADIUSBYMEMBER g nope x km
    GEORADIUSBYMEMBER nokey nope x km WITHDIST
    GEORADIUSBYMEMBER nokey nope x km STORE d1
    GEORADIUSBYMEMBER nokey nope x km foo
    GEORADIUSBYMEMBER g Palermo x km
    GEORADIUSBYMEMBER_RO g Palermo 200 km STOREDIST d1
    GEOSEARCH g FROMMEMBER Palermo BYRADIUS 200 km
    GEOSEARCH g FROMMEMBER nope BYRADIUS 200 km
    GEOSEARCH nokey FROMMEMBER nope BYRADIUS 200 km
    GEOSEARCH nokey FROMMEMBER nope
    GEOSEARCH g BYRADIUS 200 km
    GEOSEARCH g FROMMEMBER Palermo
    geosearch g FROMLONLAT 15 37
    GeoSearch g BYBOX 1 1 km
    GEOSEARCH g FROMMEMBER Palermo FROMLONLAT 15 37 BYRADIUS 200 km
    GEOSEARCH g FROMLONLAT 15 37 FROMMEMBER Palermo BYRADIUS 200 km
    GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km BYBOX 1 1 km
    GEOSEARCH g FROMLONLAT 15 37 BYBOX 1 1 km BYRADIUS 200 km
    GEOSEARCH g FROMLONLAT 15 37 BYBOX 1 -1 km
    GEOSEARCH g FROMLONLAT 15 37 BYBOX x 1 km
    GEOSEARCH g FROMLONLAT 15 37 BYBOX 1 x km
    GEOSEARCH g FROMLONLAT 15 37 BYBOX 400 400 km WITHCOORD WITHHASH WITHDIST
    GEOSEARCH g FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST
    GEOSEARCH g FROMLONLAT 15 37 BYBOX 400 400 km STORE d
    GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km COUNT 1 ANY DESC WITHDIST
    GEOSEARCH str FROMLONLAT 15 37 BYRADIUS 200 km
    GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200
    GEOSEARCH g FROMLONLAT 15 BYRADIUS 200 km
    GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 1e400 km
    GEOSEARCH g FROMLONLAT 15 37 BYRADIUS inf km
    GEOSEARCH g FROMLONLAT 15 37 BYRADIUS nan km
    GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 Km WITHHASH
    GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 0 km
    GEOSEARCH g FROMMEMBER Palermo BYRADIUS 0 km WITHDIST
    GEOSEARCHSTORE d1 g FROMLONLAT 15 37 BYRADIUS 200 km
    ZRANGE d1 0 -1 WITHSCORES
    GEOSEARCHSTORE d1 g FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST
    ZRANGE d1 0 -1 WITHSCORES
    GEOSEARCHSTORE d1 g FROMLONLAT 15 37 BYRADIUS 200 km WITHDIST
    GEOSEARCHSTORE d1 g FROMLONLAT 15 37 BYRADIUS 200 km STORE x
    GEOSEARCHSTORE d1 str FROMLONLAT 15 37 BYRADIUS 200 km
    GEOSEARCHSTORE d1 nokey FROMLONLAT 15 37 BYRADIUS 200 km
    EXISTS d1
    GEOSEARCHSTORE str g FROMLONLAT 15 37 BYRADIUS 200 km
    TYPE str
    GEOSEARCHSTORE str g FROMLONLAT 15 37 BYRADIUS 0 km
    EXISTS str
    GEOSEARCHSTORE d1 g FROMLONLAT 15 37
    GEORADIUS g 15 37
    GEOSEARCH g
    ZADD scores -1 neg 0 zero 1e300 huge +inf inf -inf minf 0.5 half
    GEOPOS scores neg zero huge inf minf half
    GEOSEARCH scores FROMMEMBER neg BYBOX 400 400 km ASC
    GEOSEARCH scores FROMMEMBER zero BYBOX 400 400 km ASC
    GEODIST scores neg zero
    GEOHASH scores neg inf minf
    COMMAND GETKEYS GEORADIUS g 15 37 200 km STORE a
    COMMAND GETKEYS GEORADIUSBYMEMBER g m 200 km STOREDIST a
    COMMAND GETKEYS GEOSEARCHSTORE a b FROMLONLAT 1 2 BYRADIUS 1 km
";

#[test]
fn options_and_errors_answer_as_redis() {
    assert!(distinct_shards(&["g", "d1", "d2", "str"], 4) >= 2);
    same_as_redis(&script(ERRORS));
}
