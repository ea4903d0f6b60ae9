//! The command line, read as redis-server reads it: an optional config file first
//! (`-` for standard input, first or last), then `--name value...` options, each
//! applied after the file as if it were one more redis.conf line
//! (`--replicaof 127.0.0.1 6379`, `--save 3600 1 300 100`, `"--port 7000"`).
//! Besides Redis's `--version`, `--help` and `--test-memory` (refused), corekv's own
//! `--list-backups`, `--verify-backup PATH`, `--print-config` and `--canned-reply`.
//!
//! Every directive takes one value unless Redis's takes several
//! ([`crate::config::redis_conf::MULTI_ARG`]); a second word after a one-value
//! option names the config file, so `--port 7000 /etc/corekv.conf` works too.

use std::io::Read;
use std::path::Path;

use crate::config::file::{self, Directive};
use crate::config::redis_conf::MULTI_ARG;
use crate::config::{all_params, find, Config};
use crate::version::REDIS_VERSION;

/// Where command-line directives say they come from in an error report.
const COMMAND_LINE: &str = "command line";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Version,
    Help,
    /// `--print-config`: the deploy kit's corekv.conf ([`crate::config::sample`]).
    PrintConfig,
    /// `--test-memory`: refused with this message.
    TestMemory,
    VerifyBackup(String),
    Run(Run),
}

/// A server run (or `--list-backups`): where its configuration comes from.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Run {
    pub config_file: Option<String>,
    /// Read configuration lines from standard input after the file.
    pub stdin: bool,
    /// The `--name value...` options, in order.
    pub options: Vec<Directive>,
    pub list_backups: bool,
    pub canned_reply: bool,
}

/// Reads `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    match args.first().map(String::as_str) {
        Some("-v" | "--version") => return Ok(Invocation::Version),
        Some("-h" | "--help") => return Ok(Invocation::Help),
        Some("--test-memory") => return Ok(Invocation::TestMemory),
        _ => {}
    }
    let mut run = Run::default();
    let mut i = 0;
    if let Some(first) = args.first().filter(|a| !a.starts_with('-')) {
        run.config_file = Some(first.clone());
        i = 1;
    }
    let last = args.len().saturating_sub(1);
    while i < args.len() {
        let arg = &args[i];
        if arg == "-" && (i == 0 || i == last) {
            run.stdin = true;
            i += 1;
            continue;
        }
        let Some(option) = arg.strip_prefix("--") else {
            if run.config_file.is_none() && !arg.starts_with('-') {
                run.config_file = Some(arg.clone());
                i += 1;
                continue;
            }
            return Err(format!(
                "unexpected argument '{arg}' (options are --name value)"
            ));
        };
        i += 1;
        match option {
            "list-backups" => run.list_backups = true,
            "canned-reply" => run.canned_reply = true,
            "version" => return Ok(Invocation::Version),
            "help" => return Ok(Invocation::Help),
            "print-config" => return Ok(Invocation::PrintConfig),
            "test-memory" => return Ok(Invocation::TestMemory),
            "verify-backup" => {
                let path = args.get(i).ok_or("--verify-backup takes a path")?;
                return Ok(Invocation::VerifyBackup(path.clone()));
            }
            _ => {
                let mut words = file::split_args(option)
                    .filter(|w| !w.is_empty())
                    .ok_or_else(|| format!("bad option '{arg}'"))?;
                words[0].make_ascii_lowercase();
                let multi = find(&words[0]).is_some_and(|p| MULTI_ARG.contains(&p.name));
                while let Some(value) = args.get(i) {
                    let stdin_mark = value == "-" && i == last;
                    if value.starts_with("--") || stdin_mark || (!multi && words.len() > 1) {
                        break;
                    }
                    words.push(value.clone());
                    i += 1;
                }
                if words.len() == 1 && words[0] == "save" {
                    words.push(String::new());
                }
                let line = words.join(" ");
                run.options.push(Directive {
                    words,
                    origin: COMMAND_LINE.into(),
                    line,
                });
            }
        }
    }
    Ok(Invocation::Run(run))
}

impl Run {
    /// The configuration: defaults, the file, standard input, then the options.
    pub fn load_config(&self) -> Result<Config, String> {
        let mut directives = Vec::new();
        let mut file = None;
        if let Some(path) = &self.config_file {
            file::read_file(Path::new(path), &mut directives)?;
            file = Some(
                std::path::absolute(path)
                    .map_or_else(|_| path.clone(), |p| p.display().to_string()),
            );
        }
        if self.stdin {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("can't read the configuration from standard input: {e}"))?;
            file::parse_text(&text, "stdin", &mut directives)?;
        }
        directives.extend(self.options.iter().cloned());
        Config::from_directives(file, &directives)
    }
}

/// `--version`'s line.
pub fn version_line() -> String {
    format!(
        "corekv-server v={} redis={REDIS_VERSION} bits={} build=rust",
        env!("CARGO_PKG_VERSION"),
        usize::BITS
    )
}

/// `--help`'s text: the usage, then every parameter with its default.
pub fn help_text() -> String {
    let mut text = String::from(
        "Usage: corekv-server [/path/to/redis.conf] [options] [-]\n\
         \x20      corekv-server - (read config from stdin)\n\
         \x20      corekv-server -v or --version\n\
         \x20      corekv-server -h or --help\n\
         \x20      corekv-server --list-backups [options]   (list the backup sets in dir and exit)\n\
         \x20      corekv-server --verify-backup <path>     (verify a backup set and exit: 0 intact)\n\
         \x20      corekv-server --print-config             (print a corekv.conf with every parameter)\n\n\
         Examples:\n\
         \x20      corekv-server (run the server with default settings)\n\
         \x20      corekv-server /etc/redis/6379.conf\n\
         \x20      corekv-server --port 7777\n\
         \x20      corekv-server --port 7777 --replicaof 127.0.0.1 8888\n\
         \x20      corekv-server /etc/myredis.conf --loglevel verbose -\n\
         \x20      corekv-server /etc/myredis.conf --loglevel verbose\n\n\
         Parameters (a config file line 'name value' or an option '--name value'):\n",
    );
    for p in all_params() {
        let default = if p.default.is_empty() {
            "\"\"".to_string()
        } else {
            p.default.to_string()
        };
        let ignored = if crate::config::is_ignored(p) {
            "accepted, ignored: "
        } else {
            ""
        };
        text.push_str(&format!(
            "  --{} {default}\n      {ignored}{}\n",
            p.name, p.help
        ));
    }
    text
}

/// `--test-memory`'s refusal.
pub const TEST_MEMORY_REFUSED: &str =
    "--test-memory is not supported by corekv-server: use memtester or a boot-time memory test";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_string).collect()
    }

    fn run(line: &str) -> Run {
        match parse(&args(line)).expect("valid") {
            Invocation::Run(run) => run,
            other => panic!("{other:?}"),
        }
    }

    fn lines(run: &Run) -> Vec<String> {
        run.options.iter().map(|d| d.line.clone()).collect()
    }

    #[test]
    fn options_take_redis_s_words() {
        let r = run("--port 6380 --replicaof 127.0.0.1 6379 --save --appendonly no");
        assert_eq!(
            lines(&r),
            [
                "port 6380",
                "replicaof 127.0.0.1 6379",
                "save ",
                "appendonly no"
            ]
        );
        assert_eq!(r.config_file, None);
        let r = run("/etc/c.conf --port 7000 --list-max-listpack-size -2 -");
        assert_eq!(r.config_file.as_deref(), Some("/etc/c.conf"));
        assert_eq!(lines(&r), ["port 7000", "list-max-listpack-size -2"]);
        assert!(r.stdin);
        let r = run("--port 1 --dir /d /etc/c.conf --save 60 1 300 2");
        assert_eq!(r.config_file.as_deref(), Some("/etc/c.conf"));
        assert_eq!(lines(&r), ["port 1", "dir /d", "save 60 1 300 2"]);
        assert!(run("-").stdin);
        assert_eq!(
            parse(&["--port 7 ".into(), "--canned-reply".into()]).map(|i| match i {
                Invocation::Run(r) => (lines(&r), r.canned_reply),
                other => panic!("{other:?}"),
            }),
            Ok((vec!["port 7".to_string()], true))
        );
        assert!(parse(&args("--port 1 /a.conf /b.conf")).is_err());
    }

    #[test]
    fn version_help_and_memory_test() {
        assert_eq!(parse(&args("-v")), Ok(Invocation::Version));
        assert_eq!(parse(&args("--help")), Ok(Invocation::Help));
        assert_eq!(
            parse(&args("--test-memory 100")),
            Ok(Invocation::TestMemory)
        );
        assert_eq!(
            parse(&args("--verify-backup /x")),
            Ok(Invocation::VerifyBackup("/x".into()))
        );
        assert!(help_text().contains("--tcp-backlog 511"));
    }
}
