use crate::harness::{run, TestShard};

#[test]
fn push_pop_and_ranges() {
    let mut s = TestShard::default();
    assert_eq!(run(&mut s, &["RPUSH", "l", "a", "b", "c"]), "3");
    assert_eq!(run(&mut s, &["LPUSH", "l", "x", "y"]), "5");
    assert_eq!(run(&mut s, &["LRANGE", "l", "0", "-1"]), "[y, x, a, b, c]");
    assert_eq!(run(&mut s, &["LRANGE", "l", "-2", "100"]), "[b, c]");
    assert_eq!(run(&mut s, &["LRANGE", "l", "3", "1"]), "[]");
    assert_eq!(run(&mut s, &["TYPE", "l"]), "list");
    assert_eq!(run(&mut s, &["OBJECT", "ENCODING", "l"]), "quicklist");
    assert_eq!(run(&mut s, &["LPOP", "l"]), "y");
    assert_eq!(run(&mut s, &["RPOP", "l", "2"]), "[c, b]");
    assert_eq!(run(&mut s, &["LPOP", "l", "0"]), "[]");
    assert_eq!(run(&mut s, &["LPOP", "nokey", "2"]), "(nil)");
    assert_eq!(run(&mut s, &["LPOP", "nokey"]), "(nil)");
    assert_eq!(run(&mut s, &["LLEN", "l"]), "2");
    assert_eq!(run(&mut s, &["LPUSHX", "nokey", "a"]), "0");
    assert_eq!(run(&mut s, &["RPUSHX", "l", "z"]), "3");
    assert_eq!(run(&mut s, &["RPOP", "l", "10"]), "[z, a, x]");
    assert_eq!(run(&mut s, &["EXISTS", "l"]), "0");
}

#[test]
fn index_set_insert_rem_trim_pos() {
    let mut s = TestShard::default();
    run(&mut s, &["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(run(&mut s, &["LINDEX", "l", "-1"]), "a");
    assert_eq!(run(&mut s, &["LINDEX", "l", "9"]), "(nil)");
    assert_eq!(run(&mut s, &["LSET", "l", "1", "B"]), "OK");
    assert_eq!(
        run(&mut s, &["LSET", "l", "9", "B"]),
        "-ERR index out of range"
    );
    assert_eq!(
        run(&mut s, &["LSET", "nokey", "0", "B"]),
        "-ERR no such key"
    );
    assert_eq!(run(&mut s, &["LINSERT", "l", "AFTER", "c", "d"]), "6");
    assert_eq!(run(&mut s, &["LINSERT", "l", "before", "zz", "d"]), "-1");
    assert_eq!(run(&mut s, &["LINSERT", "nokey", "before", "a", "d"]), "0");
    assert_eq!(
        run(&mut s, &["LINSERT", "l", "middle", "a", "d"]),
        "-ERR syntax error"
    );
    assert_eq!(run(&mut s, &["LPOS", "l", "a"]), "0");
    assert_eq!(run(&mut s, &["LPOS", "l", "a", "RANK", "-1"]), "5");
    assert_eq!(run(&mut s, &["LPOS", "l", "a", "COUNT", "0"]), "[0, 2, 5]");
    assert_eq!(
        run(&mut s, &["LPOS", "l", "a", "RANK", "2", "COUNT", "5"]),
        "[2, 5]"
    );
    assert_eq!(
        run(&mut s, &["LPOS", "l", "a", "COUNT", "0", "MAXLEN", "3"]),
        "[0, 2]"
    );
    assert_eq!(run(&mut s, &["LPOS", "l", "zz"]), "(nil)");
    assert_eq!(run(&mut s, &["LPOS", "nokey", "a", "COUNT", "1"]), "[]");
    assert_eq!(run(&mut s, &["LREM", "l", "-1", "a"]), "1");
    assert_eq!(run(&mut s, &["LRANGE", "l", "0", "-1"]), "[a, B, a, c, d]");
    assert_eq!(run(&mut s, &["LREM", "l", "0", "a"]), "2");
    assert_eq!(run(&mut s, &["LTRIM", "l", "1", "-1"]), "OK");
    assert_eq!(run(&mut s, &["LRANGE", "l", "0", "-1"]), "[c, d]");
    assert_eq!(run(&mut s, &["LTRIM", "l", "5", "1"]), "OK");
    assert_eq!(run(&mut s, &["EXISTS", "l"]), "0");
}

#[test]
fn errors_are_redis_texts() {
    let mut s = TestShard::default();
    run(&mut s, &["SET", "str", "v"]);
    run(&mut s, &["RPUSH", "l", "a"]);
    let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    for cmd in [
        &["LPUSH", "str", "a"][..],
        &["LLEN", "str"],
        &["LRANGE", "str", "0", "1"],
        &["LPOP", "str"],
        &["LMOVE", "str", "l", "LEFT", "LEFT"],
        &["LMOVE", "l", "str", "LEFT", "LEFT"],
        &["LMPOP", "2", "nokey", "str", "LEFT"],
    ] {
        assert_eq!(run(&mut s, cmd), wrong, "{cmd:?}");
    }
    assert_eq!(run(&mut s, &["GET", "l"]), wrong);
    assert_eq!(
        run(&mut s, &["LMOVE", "nokey", "str", "LEFT", "LEFT"]),
        "(nil)"
    );
    let cases: [(&[&str], &str); 9] = [
        (&["LPOP", "l", "-1"], "ERR value is out of range, must be positive"),
        (&["LPOS", "l", "a", "COUNT", "-1"], "ERR COUNT can't be negative"),
        (&["LPOS", "l", "a", "MAXLEN", "x"], "ERR MAXLEN can't be negative"),
        (&["LPOS", "l", "a", "RANK", "0"], "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"),
        (&["LMPOP", "0", "l", "LEFT"], "ERR numkeys should be greater than 0"),
        (&["LMPOP", "3", "l", "LEFT"], "ERR syntax error"),
        (&["LMPOP", "1", "l", "LEFT", "COUNT", "0"], "ERR count should be greater than 0"),
        (&["LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "1"], "ERR syntax error"),
        (&["LMOVE", "l", "m", "UP", "LEFT"], "ERR syntax error"),
    ];
    for (cmd, text) in cases {
        assert_eq!(run(&mut s, cmd), format!("-{text}"), "{cmd:?}");
    }
    assert_eq!(run(&mut s, &["LINDEX", "nokey", "x"]), "(nil)");
    assert_eq!(
        run(&mut s, &["LINDEX", "l", "x"]),
        "-ERR value is not an integer or out of range"
    );
}

#[test]
fn moves_and_mpop() {
    let mut s = TestShard::default();
    run(&mut s, &["RPUSH", "a", "1", "2", "3"]);
    assert_eq!(run(&mut s, &["RPOPLPUSH", "a", "b"]), "3");
    assert_eq!(run(&mut s, &["LMOVE", "a", "b", "LEFT", "RIGHT"]), "1");
    assert_eq!(run(&mut s, &["LRANGE", "b", "0", "-1"]), "[3, 1]");
    assert_eq!(run(&mut s, &["LMOVE", "a", "a", "LEFT", "RIGHT"]), "2");
    assert_eq!(run(&mut s, &["LRANGE", "a", "0", "-1"]), "[2]");
    assert_eq!(
        run(&mut s, &["LMOVE", "nokey", "a", "LEFT", "RIGHT"]),
        "(nil)"
    );
    assert_eq!(
        run(
            &mut s,
            &["LMPOP", "3", "x", "b", "a", "RIGHT", "COUNT", "5"]
        ),
        "[b, [1, 3]]"
    );
    assert_eq!(run(&mut s, &["LMPOP", "2", "x", "b", "LEFT"]), "(nil)");
    assert_eq!(run(&mut s, &["LMPOP", "2", "x", "a", "LEFT"]), "[a, [2]]");
    assert_eq!(run(&mut s, &["DBSIZE"]), "0");
}
