//! The interactive shell, driven through a real pseudo-terminal (Python's
//! `pty`, present wherever the test suite runs).

use std::process::Command;

use crate::support::demo_dir;

const DRIVER: &str = r#"
import os, pty, select, sys, time
binary, cwd = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.chdir(cwd)
    os.execv(binary, [binary, "sql"])

def read_until(token, timeout=30):
    buf = b""
    end = time.time() + timeout
    while token not in buf and time.time() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf

out = read_until(b"oneview> ")
os.write(fd, b"SELECT count(*) AS n\r")
out += read_until(b"...> ")
os.write(fd, b"FROM orders;\r")
out += read_until(b"oneview> ")
os.write(fd, b"SELEC oops;\r")
out += read_until(b"oneview> ")
os.write(fd, b"\\d\r")
out += read_until(b"oneview> ")
os.write(fd, b"\\d orders\r")
out += read_until(b"oneview> ")
os.write(fd, b"\\q\r")
out += read_until(b"never printed", 5)
os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
"#;

#[test]
fn the_shell_runs_multi_line_statements_survives_errors_and_keeps_history() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            DRIVER,
            env!("CARGO_BIN_EXE_oneview"),
            demo_dir().to_str().unwrap(),
        ])
        .env("HOME", home.path())
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let orders = crate::support::demo_csv("SELECT count(*) FROM orders");
    assert!(
        text.contains(&format!("| {}", orders[0])),
        "count missing from the session:\n{text}"
    );
    assert!(
        text.contains("SQL syntax error"),
        "the bad statement's error is shown:\n{text}"
    );
    assert!(
        text.contains("crm_contacts") && text.contains("web_events"),
        "\\d lists tables:\n{text}"
    );
    assert!(
        text.contains("ship_postcode") && text.contains("is_returned"),
        "\\d orders describes it:\n{text}"
    );
    let history = std::fs::read_to_string(home.path().join(".oneview_history")).expect("history saved");
    assert!(history.contains("SELECT count(*) AS n"), "{history}");
    assert!(history.contains("FROM orders;"), "{history}");
}
