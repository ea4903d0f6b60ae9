//! The load generator's one error type, and the process exit code for each error.

use crate::resp::ProtocolError;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Exit code for bad flags (clap uses the same).
pub const EXIT_USAGE: i32 = 2;
/// Exit code when the run completed but too many requests failed.
pub const EXIT_ERROR_RATIO: i32 = 3;
/// Exit code for every other failure: unreachable server, broken connection, I/O.
pub const EXIT_FAILURE: i32 = 1;

#[derive(Debug)]
pub enum Error {
    /// Flags that cannot work together or values out of range.
    Usage(String),
    Resolve {
        target: String,
        source: io::Error,
    },
    Connect {
        target: String,
        source: io::Error,
    },
    /// `AUTH` or `SELECT` was refused; `reply` is the server's error text.
    Handshake {
        target: String,
        command: &'static str,
        reply: String,
    },
    /// A connection failed while the load was running.
    Connection {
        target: String,
        source: io::Error,
    },
    Protocol {
        target: String,
        error: ProtocolError,
    },
    /// Requests were in flight and no reply came for `timeout_ms`.
    Stalled {
        target: String,
        in_flight: u64,
        timeout_ms: u64,
    },
    /// The server sent a reply nobody asked for.
    UnexpectedReply {
        target: String,
    },
    /// Another worker failed first; its error is the one reported.
    Aborted,
    /// Ctrl-C before the measurement started.
    Interrupted,
    ErrorRatio {
        failed: u64,
        requests: u64,
        ratio_max: f64,
    },
    /// `--prefill` got error replies; `first_error` is the first one's text.
    Prefill {
        failed: u64,
        first_error: String,
    },
    Output {
        path: PathBuf,
        source: io::Error,
    },
    PlotInput {
        path: PathBuf,
        message: String,
    },
    System {
        what: &'static str,
        source: io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::ErrorRatio { .. } => EXIT_ERROR_RATIO,
            _ => EXIT_FAILURE,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(message) => f.write_str(message),
            Error::Resolve { target, source } => write!(f, "cannot resolve {target}: {source}"),
            Error::Connect { target, source } => {
                write!(
                    f,
                    "cannot connect to {target}: {source} (is the server running?)"
                )
            }
            Error::Handshake {
                target,
                command,
                reply,
            } => write!(f, "{target} refused {command}: {reply}"),
            Error::Connection { target, source } => {
                write!(f, "connection to {target} failed during the run: {source}")
            }
            Error::Protocol { target, error } => {
                write!(f, "{target} sent a malformed reply: {error}")
            }
            Error::Stalled {
                target,
                in_flight,
                timeout_ms,
            } => write!(
                f,
                "{target} answered none of {in_flight} requests in flight for {timeout_ms} ms"
            ),
            Error::UnexpectedReply { target } => {
                write!(f, "{target} sent a reply to a request that was never made")
            }
            Error::Aborted => f.write_str("run aborted"),
            Error::Interrupted => f.write_str("interrupted before the measurement started"),
            Error::ErrorRatio {
                failed,
                requests,
                ratio_max,
            } => write!(
                f,
                "{failed} of {requests} requests failed, above --max-error-ratio {ratio_max}"
            ),
            Error::Prefill {
                failed,
                first_error,
            } => write!(f, "prefill failed for {failed} keys: {first_error}"),
            Error::Output { path, source } => {
                write!(f, "cannot write {}: {source}", path.display())
            }
            Error::PlotInput { path, message } => {
                write!(f, "cannot plot {}: {message}", path.display())
            }
            Error::System { what, source } => write!(f, "{what} failed: {source}"),
        }
    }
}

impl std::error::Error for Error {}
