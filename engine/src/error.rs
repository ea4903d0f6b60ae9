//! Command errors: one enum for the engine, mapped to Redis's exact reply text in one
//! place ([`CmdError::message`]). Clients match on these texts.

/// Why a command failed. Becomes a `-ERR`, `-WRONGTYPE`, ... reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    WrongType,
    Syntax,
    NotInteger,
    NotFloat,
    Overflow,
    IncrNanOrInf,
    NoSuchKey,
    OutOfRange,
    BitOffset,
    BitValue,
    StringTooLong,
    InvalidExpire(&'static str),
    InvalidDbIndex,
    DbIndexOutOfRange,
    SameObject,
    WrongArgs(String),
    /// `BITOP NOT` with more than one source.
    BitopNotSingleSource,
    /// `SWAPDB`'s first or second index is not an integer.
    InvalidFirstDbIndex,
    InvalidSecondDbIndex,
    /// `SCAN`'s cursor is not an unsigned integer.
    InvalidCursor,
    /// Authentication is required and the connection has not authenticated.
    NoAuth,
    /// The server is still loading its data.
    Loading,
    /// A write sent to a read-only replica.
    ReadOnlyReplica,
    /// A read sent to a replica with `replica-serve-reads no`.
    ReplicaNoReads,
    /// A connection or server command reached a shard (a routing bug).
    NotShardCommand(&'static str),
    UnknownSubcommand {
        sub: String,
        cmd: String,
    },
    /// Any other text, already complete (`ERR ...`, `NOAUTH ...`).
    Raw(String),
}

pub type CmdResult<T = ()> = Result<T, CmdError>;

impl CmdError {
    /// The reply line, without `-` and CRLF.
    pub fn message(&self) -> String {
        match self {
            CmdError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            CmdError::Syntax => "ERR syntax error".into(),
            CmdError::NotInteger => "ERR value is not an integer or out of range".into(),
            CmdError::NotFloat => "ERR value is not a valid float".into(),
            CmdError::Overflow => "ERR increment or decrement would overflow".into(),
            CmdError::IncrNanOrInf => "ERR increment would produce NaN or Infinity".into(),
            CmdError::NoSuchKey => "ERR no such key".into(),
            CmdError::OutOfRange => "ERR offset is out of range".into(),
            CmdError::BitOffset => "ERR bit offset is not an integer or out of range".into(),
            CmdError::BitValue => "ERR bit is not an integer or out of range".into(),
            CmdError::StringTooLong => {
                "ERR string exceeds maximum allowed size (proto-max-bulk-len)".into()
            }
            CmdError::InvalidExpire(cmd) => format!("ERR invalid expire time in '{cmd}' command"),
            CmdError::InvalidDbIndex => "ERR invalid DB index".into(),
            CmdError::DbIndexOutOfRange => "ERR DB index is out of range".into(),
            CmdError::SameObject => "ERR source and destination objects are the same".into(),
            CmdError::WrongArgs(cmd) => {
                format!("ERR wrong number of arguments for '{cmd}' command")
            }
            CmdError::BitopNotSingleSource => {
                "ERR BITOP NOT must be called with a single source key.".into()
            }
            CmdError::InvalidFirstDbIndex => "ERR invalid first DB index".into(),
            CmdError::InvalidSecondDbIndex => "ERR invalid second DB index".into(),
            CmdError::InvalidCursor => "ERR invalid cursor".into(),
            CmdError::NoAuth => "NOAUTH Authentication required.".into(),
            CmdError::Loading => "LOADING Redis is loading the dataset in memory".into(),
            CmdError::ReadOnlyReplica => {
                "READONLY You can't write against a read only replica.".into()
            }
            CmdError::ReplicaNoReads => {
                "ERR this replica does not serve reads (replica-serve-reads is no)".into()
            }
            CmdError::NotShardCommand(name) => format!("ERR '{name}' is not a shard command"),
            CmdError::UnknownSubcommand { sub, cmd } => {
                format!("ERR unknown subcommand '{sub}'. Try {cmd} HELP.")
            }
            CmdError::Raw(s) => s.clone(),
        }
    }
}
