//! Servers the test spawned itself (with an environment, standard input or a log
//! file of its own) handed to the harness, which kills them on drop like any other.

use std::path::Path;
use std::process::{Child, ChildStdin};

use super::Server;

impl Server {
    /// Takes charge of `child`, a corekv-server serving `port` on data in `dir`
    /// (left in place) and writing its log to `log`.
    pub fn adopt(child: Child, port: u16, dir: &Path, log: &Path) -> Server {
        Server {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
            owns_dir: false,
            log: log.to_path_buf(),
            password: None,
            protocol: 2,
        }
    }

    /// The standard input of an adopted server spawned with a pipe there.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.child
            .as_mut()
            .and_then(|c| c.stdin.take())
            .expect("spawned with a piped standard input")
    }
}
