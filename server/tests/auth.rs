//! Authentication: with `--requirepass`, every command but the handshake ones gets
//! `-NOAUTH`, a wrong password `-WRONGPASS`, the right one works (`AUTH pass`,
//! `AUTH default pass`, `HELLO 2 AUTH`, a `redis://:pass@` URL), and with
//! `--instance-id` the managed services' `id:password` form is accepted.

mod common;

use common::{Raw, Server};

const NOAUTH: &str = "-NOAUTH Authentication required.";
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.";

fn unauthenticated_commands_are_refused(con: &mut Raw) {
    for args in [
        vec!["GET", "k"],
        vec!["SET", "k", "v"],
        vec!["PING"],
        vec!["MGET", "a", "b", "c", "d"],
        vec!["DBSIZE"],
        vec!["SCAN", "0"],
        vec!["INFO"],
        vec!["CONFIG", "GET", "requirepass"],
        vec!["CLIENT", "LIST"],
        vec!["SELECT", "1"],
        vec!["FLUSHALL"],
    ] {
        assert_eq!(con.cmd(&args), NOAUTH, "{args:?}");
    }
    assert_eq!(
        con.cmd(&["NOSUCHCMD"]),
        "-ERR unknown command 'NOSUCHCMD', with args beginning with: "
    );
}

#[test]
fn requirepass() {
    for shards in [1, 4] {
        let server = Server::with_shards(shards, &["--requirepass", "secret"]);
        let mut con = server.raw();
        unauthenticated_commands_are_refused(&mut con);
        assert_eq!(con.cmd(&["AUTH", "wrong"]), WRONGPASS);
        assert_eq!(con.cmd(&["AUTH", "default", "wrong"]), WRONGPASS);
        assert_eq!(con.cmd(&["AUTH", "someone", "secret"]), WRONGPASS);
        assert_eq!(con.cmd(&["AUTH", "a", "b", "c"]), "-ERR syntax error");
        assert_eq!(con.cmd(&["GET", "k"]), NOAUTH, "still refused");
        assert_eq!(con.cmd(&["AUTH", "secret"]), "OK");
        assert_eq!(con.cmd(&["SET", "k", "v"]), "OK");
        assert_eq!(con.cmd(&["MGET", "k", "a", "b"]), "[v, (nil), (nil)]");
        assert_eq!(con.cmd(&["AUTH", "wrong"]), WRONGPASS);
        assert_eq!(
            con.cmd(&["GET", "k"]),
            "v",
            "a failed AUTH keeps the session"
        );
        assert_eq!(con.cmd(&["RESET"]), "RESET");
        assert_eq!(
            con.cmd(&["GET", "k"]),
            NOAUTH,
            "RESET forgets authentication"
        );

        let mut user = server.raw();
        assert_eq!(user.cmd(&["AUTH", "default", "secret"]), "OK");
        assert_eq!(user.cmd(&["GET", "k"]), "v");

        let mut hello = server.raw();
        assert_eq!(
            hello.cmd(&["HELLO", "2"]),
            "-NOAUTH HELLO must be called with the client already authenticated, otherwise \
             the HELLO AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time"
        );
        assert_eq!(
            hello.cmd(&["HELLO", "2", "AUTH", "default", "nope"]),
            WRONGPASS
        );
        assert!(hello
            .cmd(&["HELLO", "2", "AUTH", "default", "secret"])
            .starts_with("[server, redis, version, 7.0.15, proto, 2,"));
        assert_eq!(hello.cmd(&["GET", "k"]), "v");

        let mut quit = server.raw();
        assert_eq!(quit.cmd(&["QUIT"]), "OK", "QUIT needs no authentication");
        assert!(quit.read_to_eof().is_empty());
    }
}

#[test]
fn redis_crate_url_with_password() {
    let server = Server::with_shards(4, &["--requirepass", "secret"]);
    assert!(server.url().starts_with("redis://:secret@127.0.0.1:"));
    let mut con = server.client();
    redis::cmd("MSET")
        .arg(&[("a", 1), ("b", 2), ("c", 3), ("d", 4)])
        .query::<()>(&mut con)
        .expect("MSET after URL authentication");
    let values: Vec<i64> = redis::cmd("MGET")
        .arg(&["a", "b", "c", "d"])
        .query(&mut con)
        .expect("MGET");
    assert_eq!(values, vec![1, 2, 3, 4]);

    let wrong = format!("redis://:nope@127.0.0.1:{}", server.port());
    let err = redis::Client::open(wrong)
        .expect("URL")
        .get_connection()
        .err()
        .expect("a wrong password fails to connect");
    assert_eq!(err.kind(), redis::ErrorKind::AuthenticationFailed, "{err}");

    let anonymous = format!("redis://127.0.0.1:{}", server.port());
    let mut con = redis::Client::open(anonymous)
        .expect("URL")
        .get_connection()
        .expect("connects without authenticating");
    let err = redis::cmd("GET")
        .arg("a")
        .query::<Option<String>>(&mut con)
        .expect_err("NOAUTH");
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");
}

#[test]
fn instance_id_prefix() {
    let server = Server::with_shards(2, &["--instance-id", "inst1", "--requirepass", "secret"]);
    let mut con = server.raw();
    assert_eq!(con.cmd(&["GET", "k"]), NOAUTH);
    assert_eq!(con.cmd(&["AUTH", "other:secret"]), WRONGPASS);
    assert_eq!(con.cmd(&["AUTH", "inst1:wrong"]), WRONGPASS);
    assert_eq!(con.cmd(&["AUTH", "inst1secret"]), WRONGPASS);
    assert_eq!(con.cmd(&["GET", "k"]), NOAUTH);
    assert_eq!(con.cmd(&["AUTH", "inst1:secret"]), "OK");
    assert_eq!(con.cmd(&["SET", "k", "v"]), "OK");

    let mut plain = server.raw();
    assert_eq!(
        plain.cmd(&["AUTH", "secret"]),
        "OK",
        "the bare password still works"
    );
    assert_eq!(plain.cmd(&["GET", "k"]), "v");

    let url = format!("redis://:inst1:secret@127.0.0.1:{}", server.port());
    let mut con = redis::Client::open(url)
        .expect("URL")
        .get_connection()
        .expect("id:password in the URL");
    let v: String = redis::cmd("GET").arg("k").query(&mut con).expect("GET");
    assert_eq!(v, "v");
}

#[test]
fn without_a_password_auth_is_an_error_and_nothing_is_refused() {
    let server = Server::with_shards(1, &[]);
    let mut con = server.raw();
    assert_eq!(con.cmd(&["SET", "k", "v"]), "OK");
    assert_eq!(
        con.cmd(&["AUTH", "x"]),
        "-ERR AUTH <password> called without any password configured for the default user. \
         Are you sure your configuration is correct?"
    );
    assert_eq!(con.cmd(&["AUTH", "default", "anything"]), "OK");
    assert_eq!(con.cmd(&["GET", "k"]), "v");
}
