//! redis.conf and redis-server's command line, unchanged: Debian's stock
//! redis.conf for Redis 7.0.15 (`fixtures/redis-7.0.15-debian.conf`) with only
//! `port`, `dir`, `daemonize`, `logfile` and `pidfile` edited starts the server;
//! ignored directives are shown by `CONFIG GET` and logged once with their reason;
//! `include`, quotes and multi-word directives read as Redis reads them; the
//! command line takes Redis's forms (`--replicaof host port`, a config file then
//! options, `-` for standard input, `--version`, `--test-memory` refused); and log
//! lines read like Redis's.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, ping, unique_dir, DataDir, Raw, Redis, Server, EXIT_TIMEOUT};

/// Debian's `/etc/redis/redis.conf` of redis-server 7.0.15, as shipped.
const STOCK_CONF: &str = include_str!("fixtures/redis-7.0.15-debian.conf");
/// Every Redis 7.0.15 parameter as `CONFIG GET *` shows it, as redis.conf lines.
const ALL_PARAMETERS_CONF: &str = include_str!("fixtures/redis-7.0.15-config-get-all.conf");
/// How long a process started outside the harness gets to answer or to exit.
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// A Redis log line: `pid:role dd Mon yyyy hh:mm:ss.mmm <mark> message`.
const LOG_LINE_WORDS: usize = 7;

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_corekv-server")
}

/// The stock file with one directive's line replaced (it must be there, uncommented).
fn edit(conf: &str, name: &str, value: &str) -> String {
    let prefix = format!("{name} ");
    let mut found = false;
    let out: Vec<String> = conf
        .lines()
        .map(|line| {
            if line.starts_with(&prefix) {
                found = true;
                format!("{name} {value}")
            } else {
                line.to_string()
            }
        })
        .collect();
    assert!(found, "the stock file sets {name}");
    out.join("\n") + "\n"
}

/// Runs the binary to completion with `args` and `stdin`.
fn run_to_end(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run corekv-server");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn check_log_line(line: &str) {
    let words: Vec<&str> = line.splitn(LOG_LINE_WORDS, ' ').collect();
    assert_eq!(words.len(), LOG_LINE_WORDS, "{line}");
    let (pid, role) = words[0].split_once(':').expect("pid:role");
    assert!(
        pid.parse::<u32>().is_ok() && (role == "M" || role == "S"),
        "{line}"
    );
    assert!(
        words[1].len() == 2 && words[2].len() == 3 && words[3].len() == 4,
        "{line}"
    );
    assert!(
        words[4].len() == 12 && words[4].as_bytes()[8] == b'.',
        "{line}"
    );
    assert!(["*", "#", "-", "."].contains(&words[5]), "{line}");
}

#[test]
fn debian_stock_redis_conf_starts_with_five_edits() {
    let dir = DataDir::new("stock-conf");
    std::fs::create_dir_all(dir.path()).unwrap();
    let port = free_port();
    let log = dir.path().join("server.log");
    let pid = dir.path().join("server.pid");
    let mut conf = edit(STOCK_CONF, "port", &port.to_string());
    conf = edit(&conf, "dir", dir.path().to_str().unwrap());
    conf = edit(&conf, "daemonize", "no");
    conf = edit(&conf, "logfile", log.to_str().unwrap());
    conf = edit(&conf, "pidfile", pid.to_str().unwrap());
    let file = dir.path().join("redis.conf");
    std::fs::write(&file, conf).unwrap();

    let mut server = Server::spawn_in(port, dir.path(), &[file.to_str().unwrap()]).unwrap();
    server
        .wait_ready()
        .expect("the stock redis.conf starts corekv");
    let mut con = server.raw();
    for (name, value) in [
        ("tcp-backlog", "511"),
        ("rdbcompression", "yes"),
        ("lazyfree-lazy-user-del", "no"),
        ("appendonly", "no"),
        ("bind", "127.0.0.1 -::1"),
        ("supervised", "no"),
        ("hz", "10"),
        ("oom-score-adj-values", "0 200 800"),
    ] {
        assert_eq!(
            con.cmd(&["CONFIG", "GET", name]),
            format!("[{name}, {value}]")
        );
    }
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]),
        "[client-output-buffer-limit, normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60]"
    );
    assert_eq!(
        std::fs::read_to_string(&pid).unwrap().trim(),
        server.pid().to_string()
    );

    let logged = std::fs::read_to_string(&log).unwrap();
    for line in logged.lines() {
        check_log_line(line);
    }
    let rdb = logged
        .lines()
        .filter(|l| l.contains("ignored (no RDB files"))
        .collect::<Vec<_>>();
    assert_eq!(rdb.len(), 1, "one line per reason:\n{logged}");
    assert!(
        rdb[0].contains("rdbcompression") && rdb[0].contains("dbfilename"),
        "{}",
        rdb[0]
    );
    assert!(logged.contains("Ready to accept connections"), "{logged}");

    server.signal(libc::SIGTERM);
    assert!(server.wait_exit(EXIT_TIMEOUT).is_some_and(|s| s.success()));
    assert!(!pid.exists(), "the pid file is removed at exit");
}

#[test]
fn every_redis_7_parameter_is_accepted_and_shown_by_config_get() {
    let dir = DataDir::new("all-params");
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("all.conf");
    std::fs::write(&file, ALL_PARAMETERS_CONF).unwrap();
    // The command line keeps the server on loopback and in its own directory.
    let server = common::start_in(&dir, &[file.to_str().unwrap(), "--bind", "127.0.0.1"]);
    let mut con = server.raw();
    let names = ALL_PARAMETERS_CONF
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_once(' ').expect("name value").0);
    let mut count = 0;
    for name in names {
        let got = con.cmd(&["CONFIG", "GET", name]);
        assert!(
            got.starts_with(&format!("[{name}, ")),
            "CONFIG GET {name}: {got}"
        );
        count += 1;
    }
    assert!(count > 180, "{count} parameters");
    assert_eq!(con.cmd(&["CONFIG", "SET", "hz", "50"]), "OK");
    assert_eq!(con.cmd(&["CONFIG", "GET", "hz"]), "[hz, 50]");
}

#[test]
fn redis_conf_syntax_include_quotes_and_multi_word_directives() {
    let dir = DataDir::new("conf-syntax");
    std::fs::create_dir_all(dir.path().join("conf.d")).unwrap();
    std::fs::write(
        dir.path().join("conf.d/10-limits.conf"),
        "client-output-buffer-limit normal 1mb 512kb 10\nclient-output-buffer-limit pubsub 2mb 1mb 5\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("conf.d/20-user.conf"),
        "masteruser 'it\\'s'\n",
    )
    .unwrap();
    let file = dir.path().join("main.conf");
    std::fs::write(
        &file,
        format!(
            "# comment\n  save 3600 1\nsave 300 100\ninclude {}/conf.d/*.conf\n\
             masterauth \"p a\\x73s\\\"\"\nSLAVE-PRIORITY 7\ntcp-keepalive 60\nlist-max-ziplist-entries 5\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let server = common::start_in(&dir, &[file.to_str().unwrap(), "--requirepass", "x"]);
    let mut con = server.raw();
    assert_eq!(con.cmd(&["AUTH", "x"]), "OK", "the command line comes last");
    for (name, value) in [
        ("save", "3600 1 300 100"),
        (
            "client-output-buffer-limit",
            "normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 2097152 1048576 5",
        ),
        ("replica-priority", "7"),
        ("tcp-keepalive", "60"),
        ("masterauth", "p ass\""),
        ("masteruser", "it's"),
    ] {
        assert_eq!(
            con.cmd(&["CONFIG", "GET", name]),
            format!("[{name}, {value}]")
        );
    }
    drop(server);

    let refused = |conf: &str| {
        std::fs::write(&file, conf).unwrap();
        let out = run_to_end(
            &[
                file.to_str().unwrap(),
                "--dir",
                dir.path().to_str().unwrap(),
            ],
            "",
        );
        assert!(!out.status.success(), "{conf} is refused");
        text(&out)
    };
    let report = refused("port 1\ntcp-backlog 1 2\n");
    assert!(
        report.contains("FATAL CONFIG FILE ERROR")
            && report.contains("main.conf:2")
            && report.contains(">>> 'tcp-backlog 1 2'")
            && report.contains("Bad directive or wrong number of arguments"),
        "{report}"
    );
    let report = refused("requirepass \"open\n");
    assert!(report.contains("Unbalanced quotes"), "{report}");
    let report = refused("rename-command CONFIG \"\"\n");
    assert!(
        report.contains("rename-command is not supported"),
        "{report}"
    );
    let report = refused("save 60\n");
    assert!(report.contains("Invalid save parameters"), "{report}");
}

#[test]
fn command_line_as_redis_server_takes_it() {
    let out = run_to_end(&["--version"], "");
    assert!(
        out.status.success() && text(&out).contains("redis=7.0.15"),
        "{}",
        text(&out)
    );
    let out = run_to_end(&["--test-memory", "64"], "");
    assert!(!out.status.success(), "--test-memory is refused");
    assert!(
        text(&out).contains("--test-memory is not supported"),
        "{}",
        text(&out)
    );

    // Two-word replicaof, save points and a config file after the options.
    let dir = DataDir::new("cli");
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("c.conf");
    std::fs::write(&file, "timeout 9\nport 1\n").unwrap();
    let server = common::start_in(
        &dir,
        &[
            "--replicaof",
            "127.0.0.1",
            "1",
            "--save",
            "60",
            "1",
            "--maxclients",
            "50",
            file.to_str().unwrap(),
        ],
    );
    let mut con = server.raw();
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "replicaof"]),
        "[replicaof, 127.0.0.1 1]"
    );
    assert_eq!(con.cmd(&["CONFIG", "GET", "save"]), "[save, 60 1]");
    assert_eq!(con.cmd(&["CONFIG", "GET", "timeout"]), "[timeout, 9]");
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "maxclients"]),
        "[maxclients, 50]"
    );
    drop(server);

    // `-`: the configuration from standard input, after the file, before options.
    let port = free_port();
    let data = unique_dir("cli-stdin");
    let log = data.with_extension("log");
    let child = Command::new(binary())
        .args([file.to_str().unwrap(), "--shards", "1", "--logfile"])
        .arg(&log)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server::adopt(child, port, &data, &log);
    let stdin_conf = format!("port {port}\ndir {}\ntimeout 11\n", data.display());
    let mut stdin = server.take_stdin();
    stdin.write_all(stdin_conf.as_bytes()).unwrap();
    drop(stdin);
    server
        .wait_ready()
        .expect("the server configured from stdin starts");
    let mut con = server.raw();
    assert_eq!(con.cmd(&["CONFIG", "GET", "timeout"]), "[timeout, 11]");
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn daemonize_writes_the_pid_file_and_logs_to_logfile() {
    let dir = DataDir::new("daemon");
    std::fs::create_dir_all(dir.path()).unwrap();
    let port = free_port();
    let pidfile: PathBuf = dir.path().join("d.pid");
    let logfile = dir.path().join("d.log");
    let parent = Command::new(binary())
        .args(["--port", &port.to_string(), "--dir"])
        .arg(dir.path().join("data"))
        .args(["--shards", "1", "--daemonize", "yes", "--pidfile"])
        .arg(&pidfile)
        .arg("--logfile")
        .arg(&logfile)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run corekv-server");
    // Killed on drop should it not exit: the harness owns it.
    let mut parent = Server::adopt(parent, port, dir.path(), &dir.path().join("parent.log"));
    let status = parent.wait_exit(WAIT_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.success()),
        "the parent exits at once: {status:?}"
    );
    wait_for("the daemon", || ping(port));
    let pid = read_pid(&pidfile).expect("the daemon's pid");
    // SAFETY: kill(2) on the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    wait_for("the pid file to go", || !pidfile.exists());
    let logged = std::fs::read_to_string(&logfile).unwrap();
    assert!(logged.contains(&format!("{pid}:M ")), "{logged}");
    assert!(logged.contains("bye bye"), "{logged}");
}

/// Closes one connection with a protocol error, which the server logs at
/// `verbose` (`client N (addr) closed: Protocol`).
fn close_with_protocol_error(server: &Server) {
    let mut raw = server.raw();
    raw.send(b"*x\r\n");
    raw.read_to_eof();
}

fn protocol_closes_logged(server: &Server) -> usize {
    server.log_text().matches("closed: Protocol").count()
}

#[test]
fn config_set_loglevel_takes_effect_at_once() {
    let server = Server::start(&["--loglevel", "notice"]);
    let mut con = server.raw();
    close_with_protocol_error(&server);
    assert_eq!(
        protocol_closes_logged(&server),
        0,
        "notice hides verbose lines"
    );

    assert_eq!(con.cmd(&["CONFIG", "SET", "loglevel", "verbose"]), "OK");
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "loglevel"]),
        "[loglevel, verbose]"
    );
    close_with_protocol_error(&server);
    wait_for("the verbose line", || protocol_closes_logged(&server) == 1);

    assert_eq!(con.cmd(&["CONFIG", "SET", "loglevel", "warning"]), "OK");
    close_with_protocol_error(&server);
    assert_eq!(con.cmd(&["PING"]), "PONG");
    assert_eq!(
        protocol_closes_logged(&server),
        1,
        "warning hides them again"
    );
}

#[test]
fn config_rewrite_keeps_comments_and_includes_and_rewrites_in_place() {
    let dir = DataDir::new("rewrite");
    std::fs::create_dir_all(dir.path()).expect("data directory");
    let extra = dir.path().join("extra.conf");
    std::fs::write(&extra, "maxmemory-samples 7\n").expect("include file");
    let file = dir.path().join("corekv.conf");
    let kept = format!(
        "# top comment\ntimeout 5\n\ninclude {}\n# about clients\nmaxclients 100\n",
        extra.display()
    );
    std::fs::write(&file, &kept).expect("config file");
    let file_arg = file.display().to_string();
    let mut server = common::start_in(&dir, &[&file_arg]);
    let mut con = server.raw();
    assert_eq!(con.cmd(&["CONFIG", "SET", "timeout", "9"]), "OK");
    assert_eq!(con.cmd(&["CONFIG", "SET", "slowlog-max-len", "77"]), "OK");
    assert_eq!(con.cmd(&["CONFIG", "REWRITE"]), "OK");
    let text = std::fs::read_to_string(&file).expect("rewritten file");
    let in_place = kept
        .replace("timeout 5", "timeout \"9\"")
        .replace("maxclients 100", "maxclients \"100\"");
    assert!(
        text.starts_with(&format!("{in_place}# Generated by CONFIG REWRITE\n")),
        "{text}"
    );
    assert!(text.contains("\nslowlog-max-len \"77\"\n"), "{text}");

    // Twice: the signature is not repeated and nothing moves.
    assert_eq!(con.cmd(&["CONFIG", "REWRITE"]), "OK");
    assert_eq!(std::fs::read_to_string(&file).expect("file"), text);

    server.signal(libc::SIGTERM);
    server.wait_exit(EXIT_TIMEOUT).expect("exits on SIGTERM");
    let server = common::restart_in(server.port(), &dir, &[&file_arg]);
    let mut con = server.raw();
    assert_eq!(con.cmd(&["CONFIG", "GET", "timeout"]), "[timeout, 9]");
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "slowlog-max-len"]),
        "[slowlog-max-len, 77]"
    );
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "maxmemory-samples"]),
        "[maxmemory-samples, 7]"
    );
}

/// Parameters kept for compatibility still check their values' ranges as Redis
/// does, with its texts.
#[test]
fn compatibility_parameters_check_ranges_as_redis() {
    let redis = Redis::start();
    let mut reference = Raw::connect(redis.port);
    let server = Server::start(&[]);
    let mut c = server.raw();
    for (name, value) in [
        ("hz", "-1"),
        ("hz", "2147483648"),
        ("hz", "0"),
        ("hz", "100"),
        ("active-expire-effort", "0"),
        ("active-expire-effort", "11"),
        ("active-expire-effort", "10"),
    ] {
        let args = ["CONFIG", "SET", name, value];
        assert_eq!(c.cmd(&args), reference.cmd(&args), "{name} {value}");
    }
}

/// Hostile values for parameters Redis parses before it applies them: `port`,
/// `tcp-keepalive` and `appendonly` are checked before corekv refuses them as
/// immutable; `maxclients` takes Redis's range, then the open-file limit (both
/// servers inherit this process's); memory amounts read as Redis's `memtoull`
/// (empty is 0, an overflow wraps); integers as `string2ll` (no `+`, no leading zero).
#[test]
fn hostile_values_are_refused_with_redis_texts() {
    let redis = Redis::start();
    let mut reference = Raw::connect(redis.port);
    let server = Server::start(&[]);
    let mut c = server.raw();
    let set = |name: &'static str, value: &'static str| vec!["CONFIG", "SET", name, value];
    let get = |name: &'static str| vec!["CONFIG", "GET", name];
    let mut script = Vec::new();
    for value in ["abc", "-1", "70000", "99999999999999999999", ""] {
        script.push(set("port", value));
    }
    for value in ["-5", "abc", "2147483648"] {
        script.push(set("tcp-keepalive", value));
    }
    script.push(set("appendonly", "maybe"));
    for value in ["0", "-1", "4294967296", "abc", "100000000"] {
        script.push(set("maxclients", value));
    }
    script.extend([set("maxclients", "4294967295"), get("maxclients")]);
    for value in [
        "",
        "99999999999999999999gb",
        "99999999999999999999",
        "17179869184gb",
        "5mB",
        "00012",
        "-1",
        "1.5gb",
        " 100",
        "+5",
        "0x10",
    ] {
        script.extend([set("maxmemory", value), get("maxmemory")]);
    }
    script.push(set("maxmemory", "0"));
    for name in ["proto-max-bulk-len", "client-query-buffer-limit"] {
        script.extend([set(name, ""), set(name, "99999999999999999999gb")]);
    }
    for value in ["007", "+5", " 5", "5.0", "-0"] {
        script.push(set("hz", value));
    }
    for args in script {
        assert_eq!(c.cmd(&args), reference.cmd(&args), "{args:?}");
    }
}
