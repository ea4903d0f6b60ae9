//! The io_uring driver's table of registered sockets: a connection's socket is in
//! its core's ring's table while it is open (its operations name it by slot), and
//! leaves it when the connection ends, or the socket would stay open behind its
//! closed descriptor; a socket whose descriptor lies past the table is served by
//! descriptor. Read from the rings' `/proc/PID/fdinfo`, which lists the table's
//! files.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::rings::{open_fds, ring_fdinfos};
use common::seccomp::{
    forbid_ring_registrations, IORING_REGISTER_FILES2, IORING_REGISTER_RING_FDS,
};
use common::{encode_str, free_port, unique_dir, Server, READ_TIMEOUT};

/// Connections open at once in the registration test.
const CONNECTIONS: usize = 20;
/// The open-file limit the server past its table starts with: its table's size.
const SMALL_FILE_LIMIT: u64 = 96;
/// Connections the server past its table serves at once, most of them past it.
const MANY_CONNECTIONS: usize = 200;
/// How long the server gets to end connections that went away.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sockets registered in the tables of the process's rings, or none if the kernel
/// does not show the tables. A table whose ring's lock is taken at that instant is
/// shown without its files (callers wait for the count they expect).
fn registered_sockets(pid: u32) -> Option<usize> {
    let infos = ring_fdinfos(pid);
    let listed = infos.iter().map(|info| {
        let files = info.split("UserFiles:").nth(1)?.lines().skip(1);
        Some(
            files
                .take_while(|line| !line.starts_with("UserBufs"))
                .filter(|line| line.contains("socket:"))
                .count(),
        )
    });
    listed.sum()
}

/// Waits until `check` holds of the registered sockets, and returns their count.
fn registered_until(pid: u32, check: impl Fn(usize) -> bool) -> usize {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let n = registered_sockets(pid).unwrap_or(usize::MAX);
        if check(n) || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    s
}

/// Sends `SET key:i i` and `GET key:i` and checks both replies.
fn set_and_get(s: &mut TcpStream, i: usize) {
    let (key, value) = (format!("key:{i}"), i.to_string());
    let mut request = encode_str(&["SET", &key, &value]);
    request.extend(encode_str(&["GET", &key]));
    s.write_all(&request).unwrap();
    let want = format!("+OK\r\n${}\r\n{value}\r\n", value.len());
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).expect("replies");
    assert_eq!(String::from_utf8_lossy(&got), want, "connection {i}");
}

/// `QUIT` on `s`: the reply, then the end of the stream (the server really closed
/// the socket, not only its descriptor).
fn quit(mut s: TcpStream) {
    s.write_all(&encode_str(&["QUIT"])).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("the server closes the connection");
    assert_eq!(rest, b"+OK\r\n");
}

#[test]
fn open_sockets_are_registered_and_leave_the_table_with_their_connection() {
    let server = Server::start(&["--shards", "2", "--io-driver", "uring"]);
    let pid = server.pid();
    assert_eq!(registered_until(pid, |n| n == 0), 0, "no connection yet");
    let mut conns: Vec<TcpStream> = (0..CONNECTIONS).map(|_| connect(server.port())).collect();
    for (i, s) in conns.iter_mut().enumerate() {
        set_and_get(s, i);
    }
    assert_eq!(
        registered_until(pid, |n| n == CONNECTIONS),
        CONNECTIONS,
        "each open connection's socket is in its core's table"
    );
    // Half end with QUIT (the server closes), half close from the client's side.
    for (i, s) in conns.into_iter().enumerate() {
        match i % 2 {
            0 => quit(s),
            _ => drop(s),
        }
    }
    assert_eq!(
        registered_until(pid, |n| n == 0),
        0,
        "ended connections leave the tables"
    );
    let mut again = connect(server.port());
    set_and_get(&mut again, 0);
}

#[test]
fn sockets_past_the_table_are_served_by_descriptor() {
    let port = free_port();
    let dir = unique_dir("files");
    std::fs::create_dir_all(&dir).unwrap();
    let log = unique_dir("log").with_extension("log");
    let limit = libc::rlimit {
        rlim_cur: SMALL_FILE_LIMIT,
        rlim_max: 4 * MANY_CONNECTIONS as u64,
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_corekv-server"));
    command
        .args(["--port", &port.to_string(), "--dir"])
        .arg(&dir)
        .args([
            "--shards",
            "1",
            "--io-driver",
            "uring",
            "--maxclients",
            "32",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    // SAFETY: setrlimit(2) only, in the child before it runs the server.
    unsafe {
        command.pre_exec(move || match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
    let mut server = Server::adopt(command.spawn().expect("spawn"), port, &dir, &log);
    server.wait_ready().expect("starts");
    let pid = server.pid();
    let mut admin = server.raw();
    let wanted = (MANY_CONNECTIONS + 50).to_string();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "maxclients", &wanted]), "OK");
    let baseline = open_fds(pid);
    // The admin connection's.
    let alone = registered_until(pid, |n| n == 1);
    assert_eq!(alone, 1, "the admin connection's socket is in the table");
    let mut conns: Vec<TcpStream> = (0..MANY_CONNECTIONS).map(|_| connect(port)).collect();
    for (i, s) in conns.iter_mut().enumerate() {
        set_and_get(s, i);
    }
    let registered = registered_until(pid, |n| n > alone && n < MANY_CONNECTIONS);
    assert!(
        registered > alone && registered < MANY_CONNECTIONS,
        "some sockets in the table, the rest past it: {registered} of {MANY_CONNECTIONS}"
    );
    let last = conns.pop().unwrap();
    quit(last);
    drop(conns);
    assert_eq!(
        registered_until(pid, |n| n == alone),
        alone,
        "the table as before"
    );
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while open_fds(pid) > baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(open_fds(pid), baseline, "descriptors given back");
    assert_eq!(admin.cmd(&["DBSIZE"]), MANY_CONNECTIONS.to_string());
}

/// Where the kernel refuses a table of files and registered rings (before Linux
/// 5.19 and 5.18), every socket is named by descriptor and the ring entered by
/// its descriptor: the server serves as before.
#[test]
fn without_a_table_sockets_are_served_by_descriptor() {
    // This test's thread, and the server it starts, only.
    forbid_ring_registrations(&[IORING_REGISTER_FILES2, IORING_REGISTER_RING_FDS]);
    let server = Server::start(&["--shards", "2", "--io-driver", "uring"]);
    let log = server.log_text();
    assert!(log.contains("network driver: io_uring"), "{log}");
    assert!(log.contains("no table of registered sockets"), "{log}");
    let pid = server.pid();
    let mut conns: Vec<TcpStream> = (0..CONNECTIONS).map(|_| connect(server.port())).collect();
    for (i, s) in conns.iter_mut().enumerate() {
        set_and_get(s, i);
    }
    assert_eq!(registered_sockets(pid), Some(0), "no socket in a table");
    for s in conns {
        quit(s);
    }
    // A sleep with a timeout (an expiry's timer) through the ring's descriptor.
    let mut c = server.raw();
    assert_eq!(c.cmd(&["BLPOP", "none", "0.05"]), "(nil)");
}
