//! Every bound the engine enforces, as a named constant with its unit in the name.
//!
//! Configurable limits (`proto-max-bulk-len`, query buffer size) have their defaults
//! here; the server passes the configured value into the parser.

/// Redis's default `proto-max-bulk-len`: the longest single argument accepted.
pub const PROTO_MAX_BULK_LEN_BYTES_DEFAULT: u64 = 512 * 1024 * 1024;
/// Smallest value `CONFIG SET proto-max-bulk-len` accepts (Redis: 1 MB).
pub const PROTO_MAX_BULK_LEN_BYTES_MIN: u64 = 1024 * 1024;
/// Most arguments in one multibulk request. Redis accepts up to `INT_MAX` from an
/// authenticated client; a bound this size keeps one request's argument table small.
pub const PROTO_MAX_MULTIBULK_ARGS: i64 = 1024 * 1024;
/// Longest inline command, and longest `*`/`$` header line, before Redis gives up.
pub const PROTO_INLINE_MAX_BYTES: usize = 64 * 1024;
/// Redis's default `client-query-buffer-limit`.
pub const QUERY_BUFFER_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;
/// Number of logical databases (`databases`), as Redis's default.
pub const DATABASES: usize = 16;
/// Keys sampled per active-expiry round on one shard (Redis's `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
pub const EXPIRE_SAMPLE_KEYS: usize = 20;
/// An active-expiry tick repeats its round while more than this percent of the sample expired.
pub const EXPIRE_REPEAT_PERCENT: usize = 10;
/// Time one active-expiry tick may take over every database of a shard: Redis's
/// slow cycle, 25% of a 100 ms tick (`ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC` at `hz 10`).
pub const EXPIRE_TICK_BUDGET: std::time::Duration = std::time::Duration::from_millis(25);
/// Active-expiry rounds between two looks at the clock (Redis checks every 16).
pub const EXPIRE_ROUNDS_PER_CLOCK_CHECK: usize = 16;
/// Entries a `SCAN` step may visit on one shard, whatever `COUNT` asks (bounds latency).
pub const SCAN_VISIT_MAX: usize = 100_000;
/// Most draws a negative `SRANDMEMBER`/`HRANDFIELD` count may ask for. Redis
/// builds whatever is asked in one go (`-9223372036854775807` never finishes); here a
/// larger magnitude gets Redis's `value is out of range` text, so one handler's reply
/// stays below about 16 million elements.
pub const RANDOM_REPEATS_MAX: i64 = 1 << 24;
/// Longest string value `SETRANGE`/`APPEND`/`SETBIT` may create (Redis: 512 MB).
pub const STRING_MAX_BYTES: usize = 512 * 1024 * 1024;
/// Bytes of journal delta (the fields or members a collection write touched) a shard
/// keeps for the next write: a bigger change's buffer is freed after it.
pub const DELTA_KEPT_BYTES_MAX: usize = 64 * 1024;

/// Bytes in a journal record's header: payload length (u32), CRC32C (u32), LSN (u64).
pub const JOURNAL_RECORD_HEADER_BYTES: usize = 16;
/// Smallest journal record payload. An effect is at least its one-byte tag, so a
/// zero length, which is what a zero-filled tail reads as, never frames a record.
pub const JOURNAL_RECORD_PAYLOAD_BYTES_MIN: usize = 1;
/// Largest journal record payload: one effect must fit whole in one record, and the
/// largest single effect is a `SET` of a longest key with a longest value.
pub const JOURNAL_RECORD_PAYLOAD_BYTES_MAX: usize = 2 * 1024 * 1024 * 1024 - 1;
/// Smallest whole journal record, header included.
pub const JOURNAL_RECORD_BYTES_MIN: usize =
    JOURNAL_RECORD_HEADER_BYTES + JOURNAL_RECORD_PAYLOAD_BYTES_MIN;

const _: () = assert!(JOURNAL_RECORD_PAYLOAD_BYTES_MIN > 0);
const _: () = assert!(JOURNAL_RECORD_PAYLOAD_BYTES_MAX <= u32::MAX as usize);
const _: () = assert!(
    JOURNAL_RECORD_PAYLOAD_BYTES_MAX as u64
        >= PROTO_MAX_BULK_LEN_BYTES_DEFAULT + STRING_MAX_BYTES as u64 + 64
);
