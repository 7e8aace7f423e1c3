//! A command's output in tests.

use std::process::Output;

/// Its standard output, after asserting that it succeeded (the failure shows its stderr).
pub fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}
