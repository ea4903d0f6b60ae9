//! The command line: the config file, one flag per configuration parameter (built
//! from [`crate::config::PARAMS`]), `--list-backups` and `--verify-backup`.

use clap::{Arg, ArgAction, Command};

use crate::config::PARAMS;

/// The command line parser.
pub fn cli() -> Command {
    let mut cmd = Command::new("corekv-server")
        // A parameter given twice takes the last value, as with redis-server.
        .args_override_self(true)
        .version(env!("CARGO_PKG_VERSION"))
        .about("A thread-per-core, shared-nothing Redis-protocol key-value server")
        .arg(
            Arg::new("config-file")
                .help("config file in redis.conf syntax (directive value lines)"),
        )
        .arg(
            Arg::new("list-backups")
                .long("list-backups")
                .action(ArgAction::SetTrue)
                .help("list the backup sets in dir (verifying each) and exit"),
        )
        .arg(
            Arg::new("canned-reply")
                .long("canned-reply")
                .action(ArgAction::SetTrue)
                .hide(true)
                .help("answer every request +OK without running it (measures the network driver)"),
        )
        .arg(
            Arg::new("verify-backup")
                .long("verify-backup")
                .value_name("PATH")
                .help("verify a backup set against its manifest and exit (0: intact)"),
        );
    for p in PARAMS {
        let help = if p.default.is_empty() {
            p.help.to_string()
        } else {
            format!("{} [default: {}]", p.help, p.default)
        };
        cmd = cmd.arg(
            Arg::new(p.name)
                .long(p.name)
                .aliases(crate::config::aliases_of(p.name))
                .value_name("VALUE")
                .action(ArgAction::Set)
                .help(help),
        );
    }
    cmd
}
