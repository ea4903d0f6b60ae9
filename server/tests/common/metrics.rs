//! The Prometheus endpoint as a scraper sees it: `GET` over HTTP/1.1, and the
//! text read by the `prometheus_client` library's own parser.

/// The status line and body of `GET path` on the metrics port.
pub fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(super::READ_TIMEOUT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a head");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse()
        .unwrap();
    assert_eq!(body.len(), length);
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// `text` through the `prometheus_client` parser (tests/py/parse_metrics.py):
/// per sample, (sample name, labels as JSON, value); `None` without python3 or
/// the package.
pub fn parse_metrics(text: &str) -> Option<Vec<(String, String, f64)>> {
    use std::io::Write;
    let script = format!("{}/tests/py/parse_metrics.py", env!("CARGO_MANIFEST_DIR"));
    let child = std::process::Command::new("python3")
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("SKIPPED: python3 is not installed");
        return None;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("No module named 'prometheus_client'") {
        eprintln!("SKIPPED: pip install prometheus_client");
        return None;
    }
    assert!(
        out.status.success(),
        "the parser refused:\n{stderr}\n{text}"
    );
    let samples = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let words: Vec<&str> = l.split(' ').collect();
            (
                words[2].to_string(),
                words[3].to_string(),
                words[4].parse().unwrap(),
            )
        })
        .collect();
    Some(samples)
}
