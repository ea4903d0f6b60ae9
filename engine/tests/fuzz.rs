//! Fuzz targets that run in `cargo test` with a fixed budget, so CI runs them on every
//! change: the request parser, command dispatch through the in-process harness, and
//! the journal and snapshot decoders. Each target starts from its checked-in corpus
//! (`fuzz/corpus/<target>/`, one input per file: regressions and seeds), then runs
//! [`CASES`] generated inputs. The properties: no input panics; a request fed in
//! pieces frames as it does whole; decoders accept only what checksums vouch for.

use std::path::PathBuf;

use corekv_engine::harness::TestShard;
use corekv_engine::journal::{encode_record, scan, Effect};
use corekv_engine::resp::{parse, FrameLimits, RequestParser};
use corekv_engine::snapshot;
use proptest::prelude::*;

/// Generated inputs per target and run.
const CASES: u32 = 2_000;
/// `proto-max-bulk-len` while fuzzing: small, so lengths near it are reachable.
const BULK_LEN_MAX: u64 = 1 << 16;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("corpus file"))
        .collect()
}

/// The parser's properties on one input.
fn check_parser(input: &[u8], authenticated: bool) {
    let limits = FrameLimits {
        bulk_len_max: BULK_LEN_MAX,
        authenticated,
    };
    let whole = RequestParser::default().parse(input, limits);
    if let Ok(Some(frame)) = &whole {
        assert!(frame.consumed <= input.len());
    }
    // Fed in two pieces, a parser that kept the first piece's progress agrees.
    for cut in [input.len() / 3, input.len() / 2] {
        let mut parser = RequestParser::default();
        match parser.parse(&input[..cut], limits) {
            Ok(None) => assert_eq!(parser.parse(input, limits), whole, "cut at {cut}"),
            Ok(Some(frame)) => assert_eq!(Ok(Some(frame)), whole, "cut at {cut}"),
            Err(_) => assert!(whole.is_err(), "cut at {cut}"),
        }
    }
    let _ = parse(input, BULK_LEN_MAX);
}

/// Bytes that look like requests more often than chance would.
fn request_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"*".to_vec()),
        Just(b"$".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"3".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"'".to_vec()),
        Just(b"\\x4".to_vec()),
        Just(b"65537".to_vec()),
        Just(b"SET".to_vec()),
        Just(b" ".to_vec()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(token, 0..24).prop_map(|t| t.concat())
}

#[test]
fn parser_corpus() {
    for input in corpus("parser") {
        check_parser(&input, true);
        check_parser(&input, false);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]
    #[test]
    fn parser_never_panics(input in request_bytes(), authenticated: bool) {
        check_parser(&input, authenticated);
    }
}

/// Arguments commands are tried with: names, keys, and numbers at every edge.
const ARG_POOL: &[&str] = &[
    "k",
    "h",
    "s",
    "0",
    "1",
    "-1",
    "2",
    "10",
    "inf",
    "-inf",
    "nan",
    "1e400",
    "0x10",
    "",
    "-9223372036854775808",
    "9223372036854775807",
    "18446744073709551616",
    "4294967296",
    "*",
    "a*b?[^c]\\",
    "MATCH",
    "COUNT",
    "WITHVALUES",
    "EX",
    "PX",
    "NX",
    "XX",
    "GET",
    "KEEPTTL",
    "LIMIT",
    "TYPE",
    "string",
    "1.5",
    "-0",
    "1e-400",
    "FIELDS",
];

fn command_line() -> impl Strategy<Value = Vec<String>> {
    let names: Vec<&'static str> = corekv_engine::command::table()
        .all
        .iter()
        .map(|s| s.name)
        .collect();
    let name = prop::sample::select(names);
    let arg = prop::sample::select(ARG_POOL.to_vec());
    (name, prop::collection::vec(arg, 0..7))
        .prop_map(|(n, a)| std::iter::once(n).chain(a).map(str::to_owned).collect())
}

fn run_script(script: &[Vec<String>]) {
    let mut shard = TestShard::default();
    for line in script {
        let args: Vec<&str> = line.iter().map(String::as_str).collect();
        let reply = shard.run_raw(&args);
        assert!(!reply.is_empty(), "{args:?} got no reply");
    }
}

#[test]
fn dispatch_corpus() {
    for input in corpus("dispatch") {
        let text = String::from_utf8(input).expect("utf-8 script");
        let script: Vec<Vec<String>> = text
            .lines()
            .map(|l| l.split(' ').map(str::to_owned).collect())
            .collect();
        run_script(&script);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES / 4))]
    #[test]
    fn dispatch_never_panics(script in prop::collection::vec(command_line(), 1..40)) {
        run_script(&script);
    }
}

/// The journal decoder's properties: records lie inside the buffer in order, and
/// every payload decodes or is refused without a panic.
fn check_journal(buf: &[u8]) {
    let found = scan(buf);
    assert!(found.valid_bytes() <= buf.len());
    let mut at = 0;
    for record in &found.records {
        assert!(record.offset >= at && record.end() <= buf.len());
        at = record.end();
        let _ = Effect::decode(&buf[record.payload.clone()]);
    }
}

#[test]
fn journal_corpus() {
    for input in corpus("journal") {
        check_journal(&input);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]
    #[test]
    fn journal_and_snapshot_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_journal(&bytes);
        prop_assert!(snapshot::verify(&bytes).is_err(), "random bytes are no snapshot");
    }

    /// A journal of good records with one byte changed: recovery keeps only records
    /// that are byte for byte what was written.
    #[test]
    fn a_damaged_journal_yields_only_written_records(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), 1..8),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let mut buf = Vec::new();
        let mut written = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            let offset = buf.len();
            encode_record(i as u64 + 1, p, &mut buf);
            written.push((offset, p.clone()));
        }
        let at = flip.index(buf.len());
        buf[at] ^= 1 << bit;
        for record in scan(&buf).records {
            let original = written.iter().find(|(o, _)| *o == record.offset);
            let (_, payload) = original.expect("a record where one was written");
            prop_assert_eq!(&buf[record.payload.clone()], &payload[..]);
        }
    }
}
