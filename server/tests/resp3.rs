//! RESP3 on the wire, byte for byte: `HELLO` switches a connection's protocol, and
//! replies that have a RESP3 type (maps, sets, `_` nulls, verbatim strings) are sent
//! exactly as Redis 7.0 sends them. The expected bytes were recorded from
//! `redis-server` 7.0.15 over a raw socket after `HELLO 3`; [`same_bytes_as_redis`]
//! also compares against a live `redis-server` (required: install `redis-server`).

mod common;

use common::{info_value, Raw, Redis, Server};

/// `HELLO 3`'s reply as Redis 7.0.15 sends it, for client id `id`.
fn hello3(id: &str) -> String {
    format!(
        "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n\
         $5\r\nproto\r\n:3\r\n$2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
         $4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
    )
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("UTF-8 reply")
}

fn cmd(c: &mut Raw, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    text(c.cmd_raw(&args))
}

#[test]
fn hello_switches_the_protocol_both_ways() {
    let server = Server::with_shards(4, &[]);
    let mut c = server.raw();
    let id = c.cmd(&["CLIENT", "ID"]);
    assert_eq!(
        cmd(&mut c, &["GET", "missing"]),
        "$-1\r\n",
        "RESP2 by default"
    );
    assert_eq!(cmd(&mut c, &["HELLO", "3"]), hello3(&id));
    assert_eq!(cmd(&mut c, &["GET", "missing"]), "_\r\n");
    assert!(cmd(&mut c, &["CLIENT", "INFO"]).contains(" resp=3 "));
    // HELLO without a version answers in the protocol in use.
    assert!(cmd(&mut c, &["HELLO"]).starts_with("%7\r\n"));
    let hello2 = cmd(&mut c, &["HELLO", "2"]);
    assert!(hello2.starts_with("*14\r\n"), "{hello2}");
    assert!(hello2.contains("$5\r\nproto\r\n:2\r\n"), "{hello2}");
    assert_eq!(cmd(&mut c, &["GET", "missing"]), "$-1\r\n");
    assert!(cmd(&mut c, &["CLIENT", "INFO"]).contains(" resp=2 "));

    // RESET goes back to RESP2, and answers in RESP2.
    assert!(cmd(&mut c, &["HELLO", "3"]).starts_with("%7\r\n"));
    assert_eq!(cmd(&mut c, &["RESET"]), "+RESET\r\n");
    assert_eq!(cmd(&mut c, &["GET", "missing"]), "$-1\r\n");

    // A failed HELLO changes nothing.
    assert_eq!(
        cmd(&mut c, &["HELLO", "4"]),
        "-NOPROTO unsupported protocol version\r\n"
    );
    assert_eq!(
        cmd(&mut c, &["HELLO", "3", "AUTH", "default"]),
        "-ERR Syntax error in HELLO option 'AUTH'\r\n"
    );
    assert_eq!(cmd(&mut c, &["GET", "missing"]), "$-1\r\n");
}

#[test]
fn a_pipeline_switches_protocol_between_commands() {
    // Keys on every shard, so the commands after HELLO run on other cores too.
    let server = Server::with_shards(4, &[]);
    let mut c = server.raw();
    let mut batch = Vec::new();
    for args in [
        &["MGET", "a", "b", "c", "d"][..],
        &["HELLO", "3"],
        &["MGET", "a", "b", "c", "d"],
        &["GET", "e"],
        &["HELLO", "2"],
        &["GET", "f"],
    ] {
        batch.extend(common::encode_str(args));
    }
    c.send(&batch);
    let holes = "*4\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n";
    assert_eq!(text(c.read_reply()), holes);
    assert!(text(c.read_reply()).starts_with("%7\r\n"));
    assert_eq!(text(c.read_reply()), "*4\r\n_\r\n_\r\n_\r\n_\r\n");
    assert_eq!(text(c.read_reply()), "_\r\n");
    assert!(text(c.read_reply()).starts_with("*14\r\n"));
    assert_eq!(text(c.read_reply()), "$-1\r\n");
}

#[test]
fn resp3_replies_match_redis_7() {
    let server = Server::with_shards(4, &[]);
    let mut c = server.raw();
    let id = c.cmd(&["CLIENT", "ID"]);
    assert_eq!(cmd(&mut c, &["HELLO", "3"]), hello3(&id));
    assert_eq!(cmd(&mut c, &["GET", "missing"]), "_\r\n");
    assert_eq!(cmd(&mut c, &["SET", "a", "1"]), "+OK\r\n");
    // Keys on different shards: the holes come from other cores.
    assert_eq!(
        cmd(&mut c, &["MGET", "a", "missing", "b", "c", "d"]),
        "*5\r\n$1\r\n1\r\n_\r\n_\r\n_\r\n_\r\n"
    );
    assert_eq!(cmd(&mut c, &["SET", "b", "2", "GET"]), "_\r\n");
    assert_eq!(cmd(&mut c, &["OBJECT", "ENCODING", "nokey"]), "_\r\n");
    assert_eq!(cmd(&mut c, &["COMMAND", "INFO", "nosuch"]), "*1\r\n_\r\n");
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "port"]),
        format!(
            "%1\r\n$4\r\nport\r\n${}\r\n{}\r\n",
            server.port().to_string().len(),
            server.port()
        )
    );
    assert_eq!(
        cmd(&mut c, &["CONFIG", "GET", "maxclients", "timeout"]),
        "%2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n$7\r\ntimeout\r\n$1\r\n0\r\n"
    );
    // COMMAND INFO: flags, ACL categories, tips and subcommands are sets (the
    // whole reply is compared with Redis's in command_docs.rs).
    let info = cmd(&mut c, &["COMMAND", "INFO", "get"]);
    assert!(
        info.starts_with(
            "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~"
        ),
        "{info}"
    );
    assert!(info.ends_with("~0\r\n"), "{info}");
    // COMMAND DOCS: a map of command names to maps.
    let docs = cmd(&mut c, &["COMMAND", "DOCS", "get"]);
    assert!(
        docs.starts_with("%1\r\n$3\r\nget\r\n%") && docs.contains("$7\r\nsummary\r\n"),
        "{docs}"
    );
    // INFO, CLIENT INFO and CLIENT LIST: verbatim text.
    let info = cmd(&mut c, &["INFO", "server"]);
    let body = info.split_once("\r\n").expect("header").1;
    assert!(body.starts_with("txt:# Server\r\nredis_version:7.0.15\r\n"));
    assert_eq!(info, format!("={}\r\n{body}", body.len() - 2));
    assert!(body.ends_with("\r\n\r\n"), "{info:?}");
    for sub in ["INFO", "LIST"] {
        let me = cmd(&mut c, &["CLIENT", sub]);
        let body = me.split_once("\r\n").expect("header").1;
        // CLIENT LIST may also show a connection of the harness still closing.
        let own = body
            .trim_start_matches("txt:")
            .lines()
            .find(|l| l.starts_with(&format!("id={id} ")))
            .unwrap_or_else(|| panic!("this client in {me}"));
        assert!(body.starts_with("txt:id="), "{me}");
        assert!(own.contains(" resp=3 "), "{me}");
        assert_eq!(me, format!("={}\r\n{body}", body.len() - 2));
    }
}

#[test]
fn hello_auth_on_a_server_with_a_password() {
    let server = Server::with_shards(2, &["--requirepass", "secret"]);
    let mut c = server.raw();
    assert_eq!(
        cmd(&mut c, &["HELLO", "3"]),
        "-NOAUTH HELLO must be called with the client already authenticated, otherwise \
         the HELLO AUTH <user> <pass> option can be used to authenticate the client and \
         select the RESP protocol version at the same time\r\n"
    );
    assert_eq!(
        cmd(&mut c, &["HELLO", "3", "AUTH", "default", "wrong"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        cmd(&mut c, &["HELLO", "3", "AUTH", "nouser", "secret"]),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(
        cmd(&mut c, &["GET", "k"]),
        "-NOAUTH Authentication required.\r\n"
    );
    let hello = cmd(
        &mut c,
        &["HELLO", "3", "AUTH", "default", "secret", "SETNAME", "n1"],
    );
    let id = c.cmd(&["CLIENT", "ID"]);
    assert_eq!(hello, hello3(&id));
    assert_eq!(cmd(&mut c, &["CLIENT", "GETNAME"]), "$2\r\nn1\r\n");
    assert_eq!(cmd(&mut c, &["GET", "k"]), "_\r\n");
}

#[test]
fn info_has_the_cluster_section_where_redis_has_it() {
    let server = Server::with_shards(2, &[]);
    let mut c = server.raw();
    for args in [
        &["INFO"][..],
        &["INFO", "default"],
        &["INFO", "all"],
        &["INFO", "everything"],
        &["INFO", "cluster"],
    ] {
        let info = c.cmd(args);
        assert_eq!(
            info_value(&info, "cluster_enabled").as_deref(),
            Some("0"),
            "{args:?}: {info}"
        );
    }
    assert!(!c.cmd(&["INFO", "server"]).contains("# Cluster"));
    // Redis's order: ... CPU, (Commandstats), Cluster, Keyspace.
    let headers: Vec<String> = c
        .cmd(&["INFO", "all"])
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let at = |h: &str| headers.iter().position(|x| x == h).expect(h);
    assert!(at("# Commandstats") < at("# Cluster"), "{headers:?}");
    assert_eq!(at("# Cluster") + 1, at("# Keyspace"), "{headers:?}");
}

/// The same commands, in RESP3, get the same bytes from corekv and from Redis
/// (client ids and ports put in as placeholders).
#[test]
fn same_bytes_as_redis() {
    let redis = Redis::start();
    let corekv = Server::with_shards(4, &[]);
    let script: &[&[&str]] = &[
        &["HELLO", "3"],
        &["HELLO"],
        &["GET", "missing"],
        &["SET", "a", "1"],
        &["MGET", "a", "missing", "b", "c"],
        &["SET", "b", "2", "GET"],
        &["GETDEL", "nokey"],
        &["GETEX", "nokey"],
        &["OBJECT", "ENCODING", "nokey"],
        &["COMMAND", "INFO", "nosuch"],
        &["CONFIG", "GET", "port"],
        &["CONFIG", "GET", "timeout"],
        &["INCRBYFLOAT", "f", "1.5"],
        &["HELLO", "4"],
        &["HELLO", "x"],
        &["HELLO", "3", "foo"],
        &["HELLO", "3", "SETNAME", "a b"],
        &["HELLO", "3", "SETNAME", "n1"],
        &["CLIENT", "GETNAME"],
        &["TTL", "a"],
        &["HELLO", "2"],
        &["GET", "missing"],
        &["MGET", "a", "missing"],
    ];
    let run = |port: u16| -> Vec<String> {
        let mut c = Raw::connect(port);
        let id = c.cmd(&["CLIENT", "ID"]);
        script
            .iter()
            .map(|args| {
                cmd(&mut c, args)
                    .replace(&format!("id\r\n:{id}\r\n"), "id\r\n:<id>\r\n")
                    .replace(&port.to_string(), "<port>")
            })
            .collect()
    };
    let want = run(redis.port);
    let got = run(corekv.port());
    for ((args, want), got) in script.iter().zip(&want).zip(&got) {
        assert_eq!(got, want, "{args:?}");
    }
}
