//! Container commands (`CONFIG`, `CLIENT`, `COMMAND`, `DEBUG`): their subcommand rows
//! with Redis 7.0 arities, the `HELP` text, and Redis's errors for an unknown
//! subcommand or a wrong argument count. A container's handler asks
//! [`Container::resolve`] first, then matches on the row's name.

use corekv_engine::error::{CmdError, CmdResult};
use corekv_engine::resp::{Args, Reply, ReplyBuf};

/// One subcommand: its lower-case name and its arity, counting the command and the
/// subcommand (negative: at least), and for some the most arguments Redis takes.
pub struct Subcommand {
    pub name: &'static str,
    pub arity: i32,
    /// The most arguments, counted as `arity`; 0 when there is no limit. Past it,
    /// Redis answers as for an unknown subcommand (`addReplySubcommandSyntaxError`).
    pub argc_max: i32,
}

/// A container command's subcommands and help.
pub struct Container {
    /// Upper-case, as the help and the errors show it.
    pub name: &'static str,
    pub subs: &'static [Subcommand],
    /// `HELP` lines: usage, then an indented description, per subcommand.
    pub help: &'static [&'static str],
}

/// Builds a subcommand row.
pub const fn sub(name: &'static str, arity: i32) -> Subcommand {
    Subcommand {
        name,
        arity,
        argc_max: 0,
    }
}

/// Builds a subcommand row that takes at most `argc_max` arguments.
pub const fn sub_upto(name: &'static str, arity: i32, argc_max: i32) -> Subcommand {
    Subcommand {
        name,
        arity,
        argc_max,
    }
}

impl Container {
    /// Redis 7's checks before a container's handler runs: an unknown subcommand gets
    /// `unknown subcommand 'x'. Try CONFIG HELP.`, a known one with the wrong argument
    /// count `wrong number of arguments for 'config|get' command`, too many for a
    /// row with a maximum `unknown subcommand or wrong number of arguments for 'x'.
    /// Try CMD HELP.`. The subcommand's row name, or `None` when the command came
    /// alone.
    pub fn resolve(&self, args: &Args) -> CmdResult<Option<&'static str>> {
        let Some(word) = args.get(1) else {
            return Ok(None);
        };
        let Some(sub) = self
            .subs
            .iter()
            .find(|s| word.eq_ignore_ascii_case(s.name.as_bytes()))
        else {
            return Err(self.unknown(word));
        };
        let argc = args.len() as i32;
        let ok = if sub.arity >= 0 {
            argc == sub.arity
        } else {
            argc >= -sub.arity
        };
        if !ok {
            let full = format!("{}|{}", self.name.to_ascii_lowercase(), sub.name);
            return Err(CmdError::WrongArgs(full));
        }
        if sub.argc_max > 0 && argc > sub.argc_max {
            return Err(CmdError::Raw(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
                String::from_utf8_lossy(word),
                self.name
            )));
        }
        Ok(Some(sub.name))
    }

    /// `unknown subcommand 'x'. Try CMD HELP.`
    pub fn unknown(&self, word: &[u8]) -> CmdError {
        CmdError::UnknownSubcommand {
            sub: String::from_utf8_lossy(word).into_owned(),
            cmd: self.name.to_string(),
        }
    }

    /// The reply to `CMD HELP`.
    pub fn help(&self, out: &mut ReplyBuf) {
        out.array(self.help.len() + 3);
        let head = format!(
            "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            self.name
        );
        out.simple(head.as_bytes());
        self.help.iter().for_each(|l| out.simple(l.as_bytes()));
        out.simple(b"HELP");
        out.simple(b"    Prints this help.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const DEMO: Container = Container {
        name: "DEMO",
        subs: &[sub("get", -3), sub_upto("pause", -3, 4), sub("help", 2)],
        help: &["GET <key>", "    Return it."],
    };

    #[test]
    fn help_frames_the_lines_like_redis() {
        let mut out = ReplyBuf::new(corekv_engine::resp::Protocol::Resp2);
        DEMO.help(&mut out);
        let text = String::from_utf8(out.into_bytes()).unwrap();
        assert_eq!(
            text,
            "*5\r\n+DEMO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n\
             +GET <key>\r\n+    Return it.\r\n+HELP\r\n+    Prints this help.\r\n"
        );
    }

    fn args(words: &[&str]) -> Args {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn resolves_any_case_and_checks_arity() {
        assert_eq!(DEMO.resolve(&args(&["demo"])), Ok(None));
        assert_eq!(DEMO.resolve(&args(&["demo", "GeT", "x"])), Ok(Some("get")));
        assert_eq!(
            DEMO.resolve(&args(&["demo", "pause", "1", "all"])),
            Ok(Some("pause"))
        );
        assert_eq!(
            DEMO.resolve(&args(&["demo", "Pause", "1", "all", "x"]))
                .unwrap_err()
                .message(),
            "ERR unknown subcommand or wrong number of arguments for 'Pause'. Try DEMO HELP."
        );
        assert_eq!(
            DEMO.resolve(&args(&["demo", "get"])).unwrap_err().message(),
            "ERR wrong number of arguments for 'demo|get' command"
        );
        assert_eq!(
            DEMO.resolve(&args(&["demo", "help", "x"]))
                .unwrap_err()
                .message(),
            "ERR wrong number of arguments for 'demo|help' command"
        );
        assert_eq!(
            DEMO.resolve(&args(&["demo", "nope"]))
                .unwrap_err()
                .message(),
            "ERR unknown subcommand 'nope'. Try DEMO HELP."
        );
    }
}
