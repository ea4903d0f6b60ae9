//! redis.conf syntax: a line is split into words as Redis's `sdssplitargs` splits
//! it (double quotes with `\n`, `\xHH`... escapes, single quotes with `\'`), `#`
//! starts a comment line, and `include <path-or-glob>` reads another file in place.
//! The result is the list of [`Directive`]s [`super::Config::load`] applies in order.

use std::path::{Path, PathBuf};

use corekv_engine::glob::glob_match;

/// How deep `include` may nest before a loop is assumed.
const INCLUDE_DEPTH_MAX: usize = 16;

/// One configuration line, split into words, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The directive's name (lower-cased) and its arguments.
    pub words: Vec<String>,
    /// `path:line`, or `command line`.
    pub origin: String,
    /// The line as written, for the error report.
    pub line: String,
}

impl Directive {
    pub fn name(&self) -> &str {
        &self.words[0]
    }

    pub fn args(&self) -> &[String] {
        &self.words[1..]
    }
}

/// Splits a line into words as Redis does; `None` on unbalanced quotes (or a
/// closing quote followed by something other than a space).
pub fn split_args(line: &str) -> Option<Vec<String>> {
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return Some(words);
        }
        let mut word = Vec::new();
        loop {
            match bytes.get(i) {
                None => break,
                Some(c) if c.is_ascii_whitespace() => break,
                Some(b'"') => i = double_quoted(bytes, i + 1, &mut word)?,
                Some(b'\'') => i = single_quoted(bytes, i + 1, &mut word)?,
                Some(&c) => {
                    word.push(c);
                    i += 1;
                }
            }
        }
        words.push(String::from_utf8_lossy(&word).into_owned());
    }
}

/// Reads a `"..."` section starting after its quote; the index after the closing one.
fn double_quoted(bytes: &[u8], mut i: usize, word: &mut Vec<u8>) -> Option<usize> {
    loop {
        match *bytes.get(i)? {
            b'\\'
                if bytes.get(i + 1) == Some(&b'x')
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 3).is_some_and(u8::is_ascii_hexdigit) =>
            {
                let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).ok()?;
                word.push(u8::from_str_radix(hex, 16).ok()?);
                i += 4;
            }
            b'\\' => {
                let c = *bytes.get(i + 1)?;
                word.push(match c {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'a' => 7,
                    c => c,
                });
                i += 2;
            }
            b'"' => return closing_quote(bytes, i),
            c => {
                word.push(c);
                i += 1;
            }
        }
    }
}

/// Reads a `'...'` section starting after its quote; the index after the closing one.
fn single_quoted(bytes: &[u8], mut i: usize, word: &mut Vec<u8>) -> Option<usize> {
    loop {
        match *bytes.get(i)? {
            b'\\' if bytes.get(i + 1) == Some(&b'\'') => {
                word.push(b'\'');
                i += 2;
            }
            b'\'' => return closing_quote(bytes, i),
            c => {
                word.push(c);
                i += 1;
            }
        }
    }
}

/// A closing quote must end the word.
fn closing_quote(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i + 1) {
        None => Some(i + 1),
        Some(c) if c.is_ascii_whitespace() => Some(i + 1),
        Some(_) => None,
    }
}

/// Why a configuration source could not be read, with Redis's report layout.
pub fn fatal(origin: &str, line: &str, why: &str) -> String {
    format!(
        "\n*** FATAL CONFIG FILE ERROR (corekv {}) ***\nReading the configuration file, at {origin}\n>>> '{line}'\n{why}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The directives of config text `text` read from `name`, with `include`s read in place.
pub fn parse_text(text: &str, name: &str, out: &mut Vec<Directive>) -> Result<(), String> {
    parse_nested(text, name, 0, out)
}

/// The directives of the file at `path` (the first argument, or `include`).
pub fn read_file(path: &Path, out: &mut Vec<Directive>) -> Result<(), String> {
    read_nested(path, 0, out)
}

fn read_nested(path: &Path, depth: usize, out: &mut Vec<Directive>) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "Fatal error, can't open config file '{}': {e}",
            path.display()
        )
    })?;
    parse_nested(&text, &path.display().to_string(), depth, out)
}

fn parse_nested(
    text: &str,
    name: &str,
    depth: usize,
    out: &mut Vec<Directive>,
) -> Result<(), String> {
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = format!("{name}:{}", n + 1);
        let Some(mut words) = split_args(line) else {
            return Err(fatal(
                &origin,
                line,
                "Unbalanced quotes in configuration line",
            ));
        };
        if words.is_empty() {
            continue;
        }
        words[0].make_ascii_lowercase();
        if words[0] == "include" {
            let [_, pattern] = words.as_slice() else {
                return Err(fatal(
                    &origin,
                    line,
                    "include takes one file name or pattern",
                ));
            };
            if depth >= INCLUDE_DEPTH_MAX {
                return Err(fatal(&origin, line, "include nested too deep (a loop?)"));
            }
            for path in expand_include(pattern).map_err(|e| fatal(&origin, line, &e))? {
                read_nested(&path, depth + 1, out)?;
            }
            continue;
        }
        out.push(Directive {
            words,
            origin,
            line: line.to_string(),
        });
    }
    Ok(())
}

/// The files an `include` names: the path itself, or the files matching a glob in
/// its last component (sorted, as Redis 7 reads them).
fn expand_include(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let path = Path::new(pattern);
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    if !file.contains(['*', '?', '[']) {
        return Ok(vec![path.to_path_buf()]);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("can't list {}: {e}", dir.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| glob_match(file.as_bytes(), e.file_name().as_encoded_bytes(), false))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<String> {
        split_args(line).expect("balanced")
    }

    #[test]
    fn words_split_as_redis_splits_them() {
        assert_eq!(
            split("save 3600 1  300 100"),
            ["save", "3600", "1", "300", "100"]
        );
        assert_eq!(split(r#"requirepass "a b\"c""#), ["requirepass", "a b\"c"]);
        assert_eq!(split(r#"x "\x41\n" 'it\'s' """#), ["x", "A\n", "it's", ""]);
        assert_eq!(split(r#"a"b c""#), ["ab c"]);
        assert_eq!(split_args(r#"x "open"#), None);
        assert_eq!(split_args(r#"x "a"b"#), None);
        assert_eq!(split_args("x 'a"), None);
        assert_eq!(split("   "), Vec::<String>::new());
    }

    #[test]
    fn includes_are_read_in_place_and_globbed() {
        let dir = std::env::temp_dir().join(format!("corekv-include-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(dir.join("conf.d/b.conf"), "timeout 2\n").unwrap();
        std::fs::write(dir.join("conf.d/a.conf"), "timeout 1\n").unwrap();
        std::fs::write(dir.join("conf.d/skip.txt"), "bogus\n").unwrap();
        let main = format!("port 1\nINCLUDE {}/conf.d/*.conf\nport 2\n", dir.display());
        let mut out = Vec::new();
        parse_text(&main, "main", &mut out).unwrap();
        let lines: Vec<_> = out.iter().map(|d| d.words.join(" ")).collect();
        assert_eq!(lines, ["port 1", "timeout 1", "timeout 2", "port 2"]);
        assert!(out[1].origin.ends_with("a.conf:1"), "{}", out[1].origin);
        std::fs::write(
            dir.join("loop.conf"),
            format!("include {}/loop.conf\n", dir.display()),
        )
        .unwrap();
        let err = read_file(&dir.join("loop.conf"), &mut Vec::new()).unwrap_err();
        assert!(err.contains("too deep"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
