//! `karpdeck journal`: history, plans left unfinished by a process that died, and abandoning one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::DateTime;
use karpdeck::exec::journal::{append, Entry, Outcome};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "karpdeck-journal-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn karpdeck(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_karpdeck"))
        .args(args)
        .env("XDG_STATE_HOME", dir.join("state"))
        .output()
        .expect("run karpdeck")
}

fn line(plan: &str, outcome: Outcome, step: Option<&str>) -> Entry {
    Entry {
        time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        context: "sim".into(),
        user: "oncall".into(),
        plan: plan.into(),
        action: "drain".into(),
        targets: vec![format!("node-{plan}")],
        outcome,
        step: step.map(str::to_string),
        detail: None,
    }
}

#[test]
fn a_plan_cut_off_mid_drain_is_reported_and_can_be_abandoned() {
    let dir = scratch("mid-drain");
    // The default location: $XDG_STATE_HOME/karpdeck/journal.jsonl.
    let file = dir.join("state/karpdeck/journal.jsonl");
    for e in [
        line("p1", Outcome::Approved, None),
        line("p1", Outcome::Done, None),
        line("p2", Outcome::Approved, None),
        line("p2", Outcome::StepDone, Some("cordon node-p2")),
        line("p2", Outcome::StepDone, Some("evict ns/a (1 of 3)")),
        line("p2", Outcome::StepStarted, Some("evict ns/b (2 of 3)")),
    ] {
        append(&file, &e).unwrap();
    }
    let out = karpdeck(&dir, &["journal"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("UNFINISHED plan p2 (drain node-p2), approved by oncall")
            && text.contains("2 step(s) done, last step-started evict ns/b (2 of 3)"),
        "{text}"
    );
    assert!(!text.contains("UNFINISHED plan p1"), "{text}");

    let out = karpdeck(&dir, &["journal", "--abandon", "p2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing was re-run"));
    let text = String::from_utf8_lossy(&karpdeck(&dir, &["journal"]).stdout).to_string();
    assert!(!text.contains("UNFINISHED"), "{text}");
    assert!(text.contains("abandoned"), "{text}");

    let again = karpdeck(&dir, &["journal", "--abandon", "p2"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("no unfinished plan \"p2\""));
}

#[test]
fn a_damaged_journal_is_a_one_line_error() {
    let dir = scratch("damaged");
    let file = dir.join("j.jsonl");
    append(&file, &line("p1", Outcome::Approved, None)).unwrap();
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("garbage\n");
    text.push_str(&serde_json::to_string(&line("p1", Outcome::Done, None)).unwrap());
    text.push('\n');
    std::fs::write(&file, text).unwrap();
    let out = karpdeck(&dir, &["journal", "--file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("j.jsonl:2: not a journal entry"), "{err}");
}

#[test]
fn journal_finds_the_simulators_journal_beside_the_clusters() {
    let dir = scratch("both");
    let state = dir.join("state/karpdeck");
    append(
        &state.join("journal.jsonl"),
        &line("p1", Outcome::Approved, None),
    )
    .unwrap();
    let mut sim = line("p7", Outcome::Approved, None);
    sim.action = "scale-out".into();
    append(&state.join("sim-journal.jsonl"), &sim).unwrap();
    let out = karpdeck(&dir, &["journal"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("journal.jsonl") && text.contains("sim-journal.jsonl"),
        "{text}"
    );
    assert!(
        text.contains("UNFINISHED plan p1") && text.contains("UNFINISHED plan p7"),
        "{text}"
    );
    // A plan is abandoned in the journal that holds it.
    let out = karpdeck(&dir, &["journal", "--abandon", "p7"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sim-journal.jsonl"));
    let sim_text = std::fs::read_to_string(state.join("sim-journal.jsonl")).unwrap();
    assert!(sim_text.contains("abandoned"), "{sim_text}");
    let json: serde_json::Value =
        serde_json::from_slice(&karpdeck(&dir, &["journal", "--json"]).stdout).unwrap();
    assert_eq!(json["journals"].as_array().unwrap().len(), 2, "{json}");
}

#[test]
fn without_a_journal_it_says_so_and_a_missing_file_is_an_error() {
    let dir = scratch("none");
    let out = karpdeck(&dir, &["journal"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "no journal yet: karpdeck has not acted here\n"
    );
    let missing = dir.join("nope.jsonl");
    let out = karpdeck(&dir, &["journal", "--file", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope.jsonl: no such journal file"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
