//! The core's types under the path the server command families (`admin`, `info`,
//! `repl_commands`) name them by.

pub use crate::shard::{now_ms, Answer, Core, CoreSnapshot, Msg};
