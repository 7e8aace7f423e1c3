//! The real binary in a real terminal: tmux runs `karpdeck demo`, keys go in with send-keys and
//! the screen comes back with capture-pane — open the demo, filter the nodes, drain one (typed
//! confirmation), quit, and the terminal is restored.

use std::path::Path;

#[path = "support/tmux.rs"]
mod tmux;

use tmux::{tmux, Session};

#[test]
fn demo_in_tmux_filter_drain_quit() {
    let dir = std::env::temp_dir().join(format!("karpdeck-tmux-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("journal.jsonl");
    let name = format!("karpdeck-test-{}", std::process::id());
    let command = format!(
        "XDG_STATE_HOME={d} XDG_CONFIG_HOME={d} {bin} demo --speed 2 --journal {j}; echo EXITED $?; sleep 60",
        d = dir.display(),
        bin = env!("CARGO_BIN_EXE_karpdeck"),
        j = journal.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "120",
        "-y",
        "36",
        &command,
    ]);
    let session = Session(name);
    session.wait_for("karpdeck demo: lab cluster");
    session.wait_for("ip-172-31-55-131");

    session.keys(&["/"]);
    session.keys(&["55131", "Enter"]);
    let s = session.wait_for("nodes (1 matching /55131");
    assert!(!s.contains("ip-172-31-75-60"), "{s}");

    session.keys(&["d"]);
    session.wait_for("drain ip-172-31-55-131.ap-southeast-1.compute.internal");
    session.keys(&["a"]);
    session.wait_for("type \"ip-172-31-55-131.ap-southeast-1.compute.internal\"");
    session.keys(&["ip-172-31-55-131.ap-southeast-1.compute.internal", "Enter"]);
    session.wait_for("approved p");
    session.wait_for("✓ cordon ip-172-31-55-131");

    session.keys(&["q"]);
    let s = session.wait_for("EXITED 0");
    assert!(
        !s.contains('┌') && !s.contains("karpdeck demo"),
        "the terminal is back to the shell:\n{s}"
    );
    assert_journal_has_the_drain(&journal);
    let _ = std::fs::remove_dir_all(&dir);
}

fn assert_journal_has_the_drain(path: &Path) {
    let j = karpdeck::exec::journal::read(path).unwrap();
    let drain = j
        .entries
        .iter()
        .find(|e| e.action == "drain" && e.outcome == karpdeck::exec::journal::Outcome::Approved)
        .expect("the drain's approval is journaled");
    assert_eq!(
        drain.targets,
        ["ip-172-31-55-131.ap-southeast-1.compute.internal"]
    );
    assert!(j.unfinished().is_empty(), "quitting closes running plans");
}

/// A panic on the cluster thread (injected) ends the console at once: the terminal is given
/// back, one line says what happened, and the exit status is 101 — never a frozen screen.
#[test]
fn a_panic_on_the_cluster_thread_restores_the_terminal_and_exits() {
    let dir = std::env::temp_dir().join(format!("karpdeck-tmux-panic-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("karpdeck-panic-{}", std::process::id());
    let command = format!(
        "KARPDECK_FAULT=panic XDG_STATE_HOME={d} XDG_CONFIG_HOME={d} {bin} demo; echo EXITED $?; sleep 60",
        d = dir.display(),
        bin = env!("CARGO_BIN_EXE_karpdeck"),
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "120",
        "-y",
        "36",
        &command,
    ]);
    let session = Session(name);
    // Drawn first, then the fault a second in.
    session.wait_for("karpdeck demo: lab cluster");
    let s = session.wait_for("EXITED 101");
    assert!(
        s.contains("karpdeck: internal error: injected fault (KARPDECK_FAULT=panic)"),
        "{s}"
    );
    assert!(
        !s.contains('┌') && !s.contains("karpdeck demo: lab cluster"),
        "the terminal is back to the shell:\n{s}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
