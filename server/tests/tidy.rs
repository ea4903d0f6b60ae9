//! Tidiness rules for the whole workspace, checked as a test so they hold at every
//! commit:
//! - **No import cycle between the modules of a crate.** Dependencies point one way
//!   (`runtime → net → session → exec → shard → engine`); a cycle means two modules
//!   can only be understood, tested and changed together.
//! - **Functions short enough to read whole, files short enough to hold in mind.** A
//!   function over [`FUNCTION_LINES_MAX`] lines or a file over [`FILE_CODE_LINES_MAX`]
//!   code lines (before its `#[cfg(test)]` module) fails the test, with no list of
//!   exceptions: it gets split along a real seam instead.
//!
//! The scanner is lexical (comments, strings and char literals skipped; braces
//! matched), which is enough for rustfmt-formatted code.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Longest function, in lines from its `fn` line to its closing brace.
const FUNCTION_LINES_MAX: usize = 80;
/// Longest file, in lines before its `#[cfg(test)]` module.
const FILE_CODE_LINES_MAX: usize = 800;

/// Crates whose `src/` is checked.
const CRATES: &[&str] = &["engine", "server", "replication", "loadgen"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source with comments, string and char literal contents blanked (newlines kept),
/// so braces and `crate::` paths are only found in code.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |c: u8| if c == b'\n' { b'\n' } else { b' ' };
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == b'r' && matches!(b.get(i + 1), Some(b'#') | Some(b'"')) && !ident(b, i) {
            // Raw string: r#"..."#.
            let mut j = i + 1;
            while b.get(j) == Some(&b'#') {
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            out.extend(std::iter::repeat_n(b' ', j + 1 - i));
            i = j + 1;
            while i < b.len() {
                if b[i] == b'"'
                    && b[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == b'#')
                        .count()
                        == hashes
                {
                    out.extend(std::iter::repeat_n(b' ', hashes + 1));
                    i += hashes + 1;
                    break;
                }
                out.push(blank(b[i]));
                i += 1;
            }
        } else if c == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    out.push(b' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(b' ');
            i += 1;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{7f}') rather than a lifetime ('a).
            let end = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 2 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.extend(std::iter::repeat_n(b' ', end + 1 - i));
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn ident(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// The part of a file before its unit-test module.
fn before_tests(code: &str) -> &str {
    // Only the test module: a `#[cfg(test)]` item earlier in a file (a test-only
    // constructor, say) does not end the code that is checked.
    let mut from = 0;
    while let Some(at) = code[from..].find("#[cfg(test)]").map(|at| from + at) {
        let after = code[at + "#[cfg(test)]".len()..].trim_start();
        if after.starts_with("mod tests") {
            return &code[..at];
        }
        from = at + 1;
    }
    code
}

/// Module path of a file inside `src` (`a/b.rs` → `a::b`, `a/mod.rs` → `a`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file
        .strip_prefix(src)
        .expect("file under src")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

/// Module paths named in `code` by the module `name`, as their segments from the
/// crate root: `crate::a::b` as written, `super::b` (any number of `super::`)
/// resolved against `name`'s parent.
fn module_paths(code: &str, name: &str) -> Vec<Vec<String>> {
    let own: Vec<&str> = name.split("::").filter(|s| !s.is_empty()).collect();
    let mut paths = Vec::new();
    for (at, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let boundary = at == 0 || {
            let p = code.as_bytes()[at - 1];
            !(p.is_ascii_alphanumeric() || p == b'_' || p == b':')
        };
        if !boundary {
            continue;
        }
        let mut s = &code[at..];
        let mut segments: Vec<String> = Vec::new();
        if let Some(rest) = s.strip_prefix("crate::") {
            s = rest;
        } else {
            let mut up = 0;
            while let Some(rest) = s.strip_prefix("super::") {
                up += 1;
                s = rest;
            }
            if up > own.len() {
                continue;
            }
            segments.extend(own[..own.len() - up].iter().map(|p| p.to_string()));
        }
        let base = segments.len();
        loop {
            let len = s
                .bytes()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
                .count();
            if len == 0 {
                break;
            }
            segments.push(s[..len].to_string());
            s = &s[len..];
            match s.strip_prefix("::") {
                Some(next) => s = next,
                None => break,
            }
        }
        if segments.len() > base {
            paths.push(segments);
        }
    }
    paths
}

/// Import edges between the modules of one crate. A module naming its own
/// ancestor does not count (a child reaching its parent's items is how a module
/// tree reads), but a parent naming its children does: `a → a::b → c → a` is a
/// cycle.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            let code = code_only(&fs::read_to_string(f).expect("readable source"));
            (module_of(src, f), before_tests(&code).to_string())
        })
        .collect();
    let mut graph = BTreeMap::new();
    for (name, code) in &modules {
        let mut deps = BTreeSet::new();
        for path in module_paths(code, name) {
            for k in (1..=path.len()).rev() {
                let target = path[..k].join("::");
                if modules.contains_key(&target) {
                    let ancestor = &target == name || name.starts_with(&format!("{target}::"));
                    if !ancestor {
                        deps.insert(target);
                    }
                    break;
                }
            }
        }
        graph.insert(name.clone(), deps);
    }
    graph
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in &s.graph[v] {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().expect("v is on the stack");
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// `(name, lines)` of every function in `code` (blanked source), nested ones included.
fn functions(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else {
            continue;
        };
        // Find the body's opening brace (or a `;`: a declaration without body).
        let mut depth = 0usize;
        let mut opened = false;
        'scan: for (offset, l) in lines[start..].iter().enumerate() {
            for c in l.chars() {
                match c {
                    ';' if !opened && depth == 0 => break 'scan,
                    '{' => {
                        opened = true;
                        depth += 1;
                    }
                    '}' if opened => {
                        depth -= 1;
                        if depth == 0 {
                            found.push((name, offset + 1));
                            break 'scan;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    found
}

/// The function a line declares, if it does.
fn fn_name(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "fn")?;
    let qualifiers = ["pub", "const", "async", "unsafe", "extern", "default"];
    let qualified = words[..at]
        .iter()
        .all(|w| qualifiers.contains(w) || w.starts_with("pub("));
    if !qualified {
        return None;
    }
    let name: String = words
        .get(at + 1)?
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

#[test]
fn no_module_cycles() {
    let mut report = Vec::new();
    for krate in CRATES {
        let graph = module_graph(&workspace().join(krate).join("src"));
        for cycle in cycles(&graph) {
            report.push(format!("{krate}: {}", cycle.join(" ")));
        }
    }
    assert!(
        report.is_empty(),
        "import cycles between modules:\n{}",
        report.join("\n")
    );
}

#[test]
fn functions_and_files_stay_short() {
    let root = workspace();
    let mut problems = Vec::new();
    for krate in CRATES {
        let mut files = Vec::new();
        rust_files(&root.join(krate).join("src"), &mut files);
        files.sort();
        for file in files {
            let rel = file
                .strip_prefix(&root)
                .expect("under the workspace")
                .to_string_lossy()
                .into_owned();
            let code = code_only(&fs::read_to_string(&file).expect("readable source"));
            let code = before_tests(&code);
            let file_lines = code.lines().count();
            if file_lines > FILE_CODE_LINES_MAX {
                problems.push(format!(
                    "{rel} has {file_lines} code lines (limit {FILE_CODE_LINES_MAX}): split it"
                ));
            }
            for (name, lines) in functions(code) {
                if lines > FUNCTION_LINES_MAX {
                    problems.push(format!(
                        "{rel}: fn {name} has {lines} lines (limit {FUNCTION_LINES_MAX}): split it"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scanner_sees_what_it_should() {
    let src = "fn a() {\n    let s = \"{ not a brace\";\n    // } nor this\n    let c = '}';\n}\n\
               fn b<'x>(v: &'x str) -> &'x str {\n    v\n}\n";
    let code = code_only(src);
    assert_eq!(
        functions(&code),
        vec![("a".to_string(), 5), ("b".to_string(), 3)]
    );
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    graph.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&graph), vec![vec!["a".to_string(), "b".to_string()]]);
    let mut paths = module_paths(
        &code_only(
            "use crate::core::{Core, Msg};\nlet x = crate::info::f();\n\
             use super::ring::Ring;\nuse super::super::session;\nmy_crate::no;",
        ),
        "net::uring::conn",
    );
    paths.sort();
    let names: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        names,
        ["core", "info::f", "net::session", "net::uring::ring"]
    );
    // A parent naming its child counts, so a cycle through a parent is found.
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["a::b".to_string()]));
    graph.insert("a::b".to_string(), BTreeSet::from(["c".to_string()]));
    graph.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&graph).len(), 1);
}
