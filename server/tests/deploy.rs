//! The deploy kit (`deploy/`): `corekv.conf` is what the parameter table generates
//! and starts a server; the systemd units pass `systemd-analyze verify` and keep
//! their limits and hardening; `install.sh --dry-run` prints every step and
//! changes nothing; and `supervised systemd` sends `READY=1` once the data is
//! loaded and `STOPPING=1` at shutdown to a fake `NOTIFY_SOCKET`.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, unique_dir, DataDir, Server, EXIT_TIMEOUT};

/// How long the fake service manager waits for a notification.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// Keys written before the restart whose readiness is checked: loading them takes
/// a moment, so a `READY=1` sent before loading ended would be seen early.
const PRELOADED_KEYS: usize = 50_000;
/// Keys per `MSET` while preloading.
const PRELOAD_BATCH: usize = 500;

const UNITS: [&str; 3] = [
    "corekv.service",
    "corekv@.service",
    "corekv-sentinel.service",
];

fn kit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_corekv-server")
}

#[test]
fn corekv_conf_is_the_parameter_table_s_and_starts_a_server() {
    let out = Command::new(binary())
        .arg("--print-config")
        .output()
        .expect("run corekv-server");
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).expect("UTF-8");
    let file = kit().join("corekv.conf");
    let shipped = std::fs::read_to_string(&file).expect("deploy/corekv.conf");
    assert!(
        shipped == generated,
        "deploy/corekv.conf differs from the parameter table; regenerate it with\n  \
         cargo run -p corekv-server -- --print-config > deploy/corekv.conf"
    );

    let dir = DataDir::new("deploy-conf");
    let server = common::start_in(&dir, &[file.to_str().unwrap(), "--shards", "1"]);
    let mut con = server.raw();
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "appendfsync"]),
        "[appendfsync, everysec]"
    );
    assert_eq!(
        con.cmd(&["CONFIG", "GET", "dir"]),
        format!("[dir, {}]", dir.path().display()),
        "command-line options apply after the file"
    );
}

#[test]
fn systemd_units_verify_and_keep_their_limits_and_hardening() {
    for unit in UNITS {
        let text = std::fs::read_to_string(kit().join("systemd").join(unit)).expect(unit);
        let has = |line: &str| text.lines().any(|l| l.trim() == line);
        for line in [
            "Type=notify",
            "NoNewPrivileges=true",
            "ProtectSystem=strict",
            "User=corekv",
        ] {
            assert!(has(line), "{unit} has {line}");
        }
        let exec = text
            .lines()
            .find(|l| l.starts_with("ExecStart="))
            .unwrap_or_else(|| panic!("{unit} has ExecStart"));
        assert!(
            exec.contains("--supervised systemd --daemonize no"),
            "{exec}"
        );
        assert!(text.contains("LimitNOFILE="), "{unit}");
        if unit.starts_with("corekv.") || unit.starts_with("corekv@") {
            assert!(text.contains("LimitMEMLOCK="), "{unit}");
            assert!(text.contains("CPUAffinity="), "{unit} says how to pin");
            let runtime = runtime_directory(&text)
                .unwrap_or_else(|| panic!("{unit} has a RuntimeDirectory= for the Unix socket"));
            // ProtectSystem=strict leaves /run read-only: the socket the unit's
            // comments and corekv.conf suggest must be in the runtime directory.
            let example = format!(
                "unixsocket /run/{}/corekv.sock",
                runtime.replace("%i", "6380")
            );
            assert!(text.contains(&example), "{unit} shows `{example}`");
        } else {
            assert!(exec.contains("/usr/bin/redis-sentinel"), "{exec}");
        }
    }
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        return;
    };
    if !probe.status.success() {
        return;
    }
    let scratch = unique_dir("units");
    std::fs::create_dir_all(&scratch).unwrap();
    for unit in UNITS {
        // An instance name for the template, as systemd would start it.
        let name = unit.replace("@.", "@6380.");
        let path = scratch.join(&name);
        std::fs::copy(kit().join("systemd").join(unit), &path).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&path)
            .current_dir(&scratch)
            .output()
            .expect("systemd-analyze");
        let report = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        // The binaries are not installed here: that is the only complaint allowed.
        let problems: Vec<&str> = report
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.contains("is not executable"))
            .collect();
        assert!(problems.is_empty(), "{unit}:\n{report}");
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// The unit's `RuntimeDirectory=` (one directory).
fn runtime_directory(unit: &str) -> Option<String> {
    unit.lines()
        .find_map(|l| l.trim().strip_prefix("RuntimeDirectory="))
        .map(|dir| dir.trim().to_string())
        .filter(|dir| !dir.is_empty() && !dir.contains(char::is_whitespace))
}

#[test]
fn the_unix_socket_suggested_by_corekv_conf_is_in_corekv_service_s_runtime_directory() {
    let unit = std::fs::read_to_string(kit().join("systemd/corekv.service")).expect("unit");
    let runtime = runtime_directory(&unit).expect("corekv.service has RuntimeDirectory=");
    let conf = std::fs::read_to_string(kit().join("corekv.conf")).expect("corekv.conf");
    let lines: Vec<&str> = conf.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("unixsocket "))
        .expect("corekv.conf has unixsocket");
    let help = lines[..at]
        .iter()
        .rev()
        .take_while(|l| l.starts_with('#'))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let path = format!("/run/{runtime}/corekv.sock");
    assert!(
        help.contains(&path),
        "corekv.conf's unixsocket comment names {path}: {help}"
    );
}

#[test]
fn install_dry_run_prints_every_step_and_changes_nothing() {
    let script = kit().join("install.sh");
    let syntax = Command::new("sh").arg("-n").arg(&script).status().unwrap();
    assert!(syntax.success(), "install.sh parses");
    let before = [
        Path::new("/etc/corekv").exists(),
        Path::new("/etc/systemd/system/corekv.service").exists(),
    ];
    let out = Command::new("sh")
        .arg(&script)
        .args(["--dry-run", "--with-sentinel", "--binary", binary()])
        .stdin(Stdio::null())
        .output()
        .expect("run install.sh");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in text.lines() {
        assert!(
            ["would run: ", "ok: ", "note: ", "next: "]
                .iter()
                .any(|p| line.starts_with(p)),
            "every line says what it would do or what is done: {line}"
        );
    }
    let step = |what: &str| {
        text.lines()
            .any(|l| l.contains(what) && (l.starts_with("would run: ") || l.starts_with("ok: ")))
    };
    for what in [
        "corekv-server",
        "/usr/local/bin/corekv-server",
        "/var/lib/corekv",
        "/etc/corekv/corekv.conf",
        "/etc/systemd/system/corekv.service",
        "/etc/systemd/system/corekv@.service",
        "/etc/systemd/system/corekv-sentinel.service",
        "/etc/corekv/sentinel/sentinel.conf",
        "corekv",
    ] {
        assert!(step(what), "a step for {what}:\n{text}");
    }
    assert!(
        text.contains("useradd") || text.contains("ok: user corekv exists"),
        "{text}"
    );
    assert!(
        text.contains("would run: systemctl daemon-reload") || text.contains("units unchanged"),
        "{text}"
    );
    let after = [
        Path::new("/etc/corekv").exists(),
        Path::new("/etc/systemd/system/corekv.service").exists(),
    ];
    assert_eq!(before, after, "a dry run changes nothing");

    let refused = Command::new("sh")
        .arg(&script)
        .arg("--no-such-option")
        .output()
        .unwrap();
    assert!(!refused.status.success());
}

/// Waits for one datagram from `server`; its text.
fn notification(socket: &UnixDatagram, server: &Server) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no notification: {e}\n{}", server.log_text()));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn supervised_systemd_notifies_ready_after_loading_and_stopping_at_shutdown() {
    let dir = DataDir::new("notify");
    {
        let server = common::start_in(&dir, &["--shards", "2"]);
        let mut con = server.raw();
        let value = "v".repeat(64);
        for batch in 0..PRELOADED_KEYS / PRELOAD_BATCH {
            let mut args = vec!["MSET".to_string()];
            for i in 0..PRELOAD_BATCH {
                args.push(format!("key:{batch}:{i}"));
                args.push(value.clone());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert_eq!(con.cmd(&args), "OK");
        }
    }
    // A fresh port: the killed server's connections linger on its own.
    let port = free_port();

    let socket_dir = unique_dir("notify-socket");
    std::fs::create_dir_all(&socket_dir).unwrap();
    let socket_path = socket_dir.join("notify");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the fake NOTIFY_SOCKET");
    socket.set_read_timeout(Some(NOTIFY_TIMEOUT)).unwrap();
    let log = socket_dir.join("server.log");
    let child = Command::new(binary())
        .args(["--port", &port.to_string(), "--dir"])
        .arg(dir.path())
        .args(["--shards", "2", "--supervised", "systemd", "--logfile"])
        .arg(&log)
        .env("NOTIFY_SOCKET", &socket_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut server = Server::adopt(child, port, dir.path(), &log);

    let ready = notification(&socket, &server);
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    let mut con = server.raw();
    let info = con.cmd(&["INFO", "persistence"]);
    assert_eq!(
        common::info_value(&info, "loading").as_deref(),
        Some("0"),
        "{info}"
    );
    assert_eq!(con.cmd(&["DBSIZE"]), PRELOADED_KEYS.to_string());

    server.signal(libc::SIGTERM);
    let stopping = notification(&socket, &server);
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping}");
    assert!(server.wait_exit(EXIT_TIMEOUT).is_some());
    let _ = std::fs::remove_dir_all(&socket_dir);
}
