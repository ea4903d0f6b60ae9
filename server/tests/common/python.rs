//! redis-py scripts under `tests/py/`, run against a server: `python3 SCRIPT PORT`,
//! which prints `ok` last when every check held. Without `python3` at all the caller's
//! test is skipped with a message (CI installs it with redis-py).

use std::process::Command;

use super::Server;

/// Runs `tests/py/<script>` against `server`, failing the test with the script's
/// output unless it succeeds and prints `ok` last. `false` when `python3` is missing.
pub fn run_script(script: &str, server: &Server) -> bool {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 is not installed; redis-py cannot be run");
        return false;
    }
    let path = format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(&path)
        .arg(server.port().to_string())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}\n(redis-py missing? \
         `pip install 'redis>=5'`)",
        out.status
    );
    assert!(stdout.ends_with("ok\n"), "{stdout}");
    true
}
