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
    /// A write sent to a master with fewer good replicas than `min-replicas-to-write`.
    NoReplicas,
    /// A command sent to a replica whose link is down, with `replica-serve-stale-data no`.
    MasterDown,
    /// A connection or server command reached a shard (a routing bug).
    NotShardCommand(&'static str),
    UnknownSubcommand {
        sub: String,
        cmd: String,
    },
    /// A connection or server command's own error.
    Admin(AdminError),
    /// Any other text, already complete, from another layer's error type.
    Raw(String),
}

pub type CmdResult<T = ()> = Result<T, CmdError>;

/// Errors of the server's own commands (connection, `CLIENT`, `COMMAND`,
/// persistence, replication), kept apart from the keyspace's: the server's command
/// families use them, and [`AdminError::message`] holds their texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// `BGREWRITEAOF` with `appendonly no`.
    AofDisabled,
    AofRewriteInProgress,
    BgsaveInProgress,
    /// A backup failed; the text says why.
    SaveFailed(String),
    /// `AUTH <password>` with no password configured.
    AuthNotConfigured,
    WrongPass,
    /// `HELLO`'s protocol version is not an integer.
    ProtocolVersion,
    NoProto,
    HelloOption(String),
    HelloNoAuth,
    ClientNameChars,
    /// `CLIENT SETINFO`'s value has forbidden characters; the attribute, lower-case.
    ClientInfoChars(String),
    UnrecognizedOption(String),
    NoSuchClient,
    UnknownClientType(String),
    InvalidClientId,
    ClientIdNotPositive,
    NoSuchUser(String),
    /// `COMMAND GETKEYS` errors.
    InvalidCommand,
    InvalidCommandArgs,
    NoKeyArguments,
    InvalidMasterPort,
    /// `REPLICAOF NO ONE` could not store the new replication id.
    ReplIdStore(String),
    WaitOnReplica,
    TimeoutNotInteger,
    TimeoutNegative,
}

impl From<AdminError> for CmdError {
    fn from(e: AdminError) -> Self {
        CmdError::Admin(e)
    }
}

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
            CmdError::NoReplicas => "NOREPLICAS Not enough good replicas to write.".into(),
            CmdError::MasterDown => {
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
                    .into()
            }
            CmdError::NotShardCommand(name) => format!("ERR '{name}' is not a shard command"),
            CmdError::UnknownSubcommand { sub, cmd } => {
                format!("ERR unknown subcommand '{sub}'. Try {cmd} HELP.")
            }
            CmdError::Admin(e) => e.message(),
            CmdError::Raw(s) => s.clone(),
        }
    }
}

impl AdminError {
    /// The reply line, without `-` and CRLF.
    pub fn message(&self) -> String {
        match self {
            AdminError::AofDisabled => {
                "ERR Background append only file rewriting needs appendonly yes".into()
            }
            AdminError::AofRewriteInProgress => {
                "ERR Background append only file rewriting already in progress".into()
            }
            AdminError::BgsaveInProgress => "ERR Background save already in progress".into(),
            AdminError::SaveFailed(why) => format!("ERR {why}"),
            AdminError::AuthNotConfigured => "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into(),
            AdminError::WrongPass => {
                "WRONGPASS invalid username-password pair or user is disabled.".into()
            }
            AdminError::ProtocolVersion => {
                "ERR Protocol version is not an integer or out of range".into()
            }
            AdminError::NoProto => "NOPROTO unsupported protocol version".into(),
            AdminError::HelloOption(opt) => format!("ERR Syntax error in HELLO option '{opt}'"),
            AdminError::HelloNoAuth => "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into(),
            AdminError::ClientNameChars => {
                "ERR Client names cannot contain spaces, newlines or special characters.".into()
            }
            AdminError::ClientInfoChars(attr) => {
                format!("ERR {attr} cannot contain spaces, newlines or special characters.")
            }
            AdminError::UnrecognizedOption(opt) => format!("ERR Unrecognized option '{opt}'"),
            AdminError::NoSuchClient => "ERR No such client".into(),
            AdminError::UnknownClientType(t) => format!("ERR Unknown client type '{t}'"),
            AdminError::InvalidClientId => "ERR Invalid client ID".into(),
            AdminError::ClientIdNotPositive => "ERR client-id should be greater than 0".into(),
            AdminError::NoSuchUser(user) => format!("ERR No such user '{user}'"),
            AdminError::InvalidCommand => "ERR Invalid command specified".into(),
            AdminError::InvalidCommandArgs => {
                "ERR Invalid number of arguments specified for command".into()
            }
            AdminError::NoKeyArguments => "ERR The command has no key arguments".into(),
            AdminError::InvalidMasterPort => "ERR Invalid master port".into(),
            AdminError::ReplIdStore(why) => format!("ERR can't store the replication id: {why}"),
            AdminError::WaitOnReplica => "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.".into(),
            AdminError::TimeoutNotInteger => "ERR timeout is not an integer or out of range".into(),
            AdminError::TimeoutNegative => "ERR timeout is negative".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts of the server's commands that clients match on, as Redis 7.0 sends them.
    #[test]
    fn admin_errors_keep_redis_texts() {
        let cases = [
            (AdminError::InvalidMasterPort, "ERR Invalid master port"),
            (AdminError::TimeoutNegative, "ERR timeout is negative"),
            (
                AdminError::BgsaveInProgress,
                "ERR Background save already in progress",
            ),
            (
                AdminError::AofDisabled,
                "ERR Background append only file rewriting needs appendonly yes",
            ),
            (
                AdminError::UnknownClientType("x".into()),
                "ERR Unknown client type 'x'",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(CmdError::from(e).message(), text);
        }
    }
}
