//! `karpdeck journal`: what karpdeck has done, and plans it left unfinished.

use std::fmt::Write;
use std::path::PathBuf;

use chrono::Utc;

use super::sim::SIM_JOURNAL;
use super::{Failure, JournalArgs};
use crate::exec::journal::{self, Entry, Journal, Outcome, Unfinished};

/// The journals the command reads: `--file` (which must exist), else every journal in the
/// state directory — real clusters' and the simulator's — that exists.
fn journals(args: &JournalArgs) -> Result<Vec<PathBuf>, Failure> {
    if let Some(file) = &args.file {
        if !file.exists() {
            return Err(Failure::bad_input(format!(
                "{}: no such journal file",
                file.display()
            )));
        }
        return Ok(vec![file.clone()]);
    }
    let Some(dir) = crate::logging::state_dir() else {
        return Err(Failure::bad_input(
            "no journal location: set XDG_STATE_HOME or HOME, or pass --file",
        ));
    };
    Ok([journal::FILE_NAME, SIM_JOURNAL]
        .iter()
        .map(|name| dir.join(name))
        .filter(|p| p.exists())
        .collect())
}

/// Run the command and return its output.
pub fn run(args: &JournalArgs) -> Result<String, Failure> {
    let paths = journals(args)?;
    let read: Vec<(PathBuf, Journal)> = paths
        .into_iter()
        .map(|p| {
            journal::read(&p)
                .map(|j| (p, j))
                .map_err(Failure::bad_input)
        })
        .collect::<Result<_, _>>()?;
    if let Some(plan) = &args.abandon {
        return abandon(&read, plan);
    }
    if args.json {
        let v = serde_json::json!({
            "journals": read.iter().map(|(path, j)| serde_json::json!({
                "file": path.display().to_string(),
                "entries": j.entries,
                "unfinished": j.unfinished().iter().map(|u| serde_json::json!({
                    "plan": u.first.plan,
                    "action": u.first.action,
                    "targets": u.first.targets,
                    "steps_done": u.steps_done,
                    "last": u.last,
                })).collect::<Vec<_>>(),
                "torn_lines": j.torn.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        let mut s = serde_json::to_string_pretty(&v).map_err(Failure::bad_input)?;
        s.push('\n');
        return Ok(s);
    }
    let mut out = String::new();
    if read.is_empty() {
        let _ = writeln!(out, "no journal yet: karpdeck has not acted here");
    }
    for (path, j) in &read {
        print_journal(&mut out, path, j);
    }
    Ok(out)
}

/// Record that an unfinished plan will not be resumed, in the journal that holds it.
fn abandon(read: &[(PathBuf, Journal)], plan: &str) -> Result<String, Failure> {
    let holding: Vec<(&PathBuf, Unfinished)> = read
        .iter()
        .flat_map(|(path, j)| j.unfinished().into_iter().map(move |u| (path, u)))
        .filter(|(_, u)| u.first.plan == plan)
        .collect();
    let files = || {
        read.iter()
            .map(|(p, _)| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (path, u) = match holding.len() {
        1 => holding.into_iter().next().expect("one"),
        0 => {
            return Err(Failure::bad_input(format!(
                "{}: no unfinished plan {plan:?}",
                if read.is_empty() {
                    "no journal".to_string()
                } else {
                    files()
                }
            )))
        }
        _ => {
            return Err(Failure::bad_input(format!(
                "plan {plan:?} is unfinished in several journals ({}): choose one with --file",
                files()
            )))
        }
    };
    let entry = u.ending(
        Outcome::Abandoned,
        &crate::exec::executor::local_user(),
        Utc::now(),
        format!(
            "abandoned after {} step(s); last: {}",
            u.steps_done,
            describe(&u.last)
        ),
    );
    journal::append(path, &entry).map_err(Failure::failed)?;
    Ok(format!(
        "plan {plan} marked abandoned in {}; nothing was re-run. Check {} by hand: {}\n",
        path.display(),
        u.first.targets.join(", "),
        describe(&u.last)
    ))
}

/// One journal as text: its entries, its torn lines, and the plans it left unfinished.
fn print_journal(out: &mut String, path: &std::path::Path, j: &Journal) {
    let _ = writeln!(out, "journal {}", path.display());
    if j.entries.is_empty() {
        let _ = writeln!(out, "no entries");
    }
    for e in &j.entries {
        let _ = writeln!(
            out,
            "{}  {:<10} {:<12} {:<12} {}",
            e.time.format("%Y-%m-%dT%H:%M:%SZ"),
            e.plan,
            e.action,
            e.outcome.as_str(),
            e.subject()
        );
    }
    for (line, _) in &j.torn {
        let _ = writeln!(
            out,
            "warning: {}:{line}: cut short (karpdeck stopped while writing it); skipped",
            path.display()
        );
    }
    for u in j.unfinished() {
        let _ = writeln!(
            out,
            "UNFINISHED plan {}, approved by {} at {}: {} step(s) done, last {}. It will not be re-run: `:resume {}` in the console plans it again from the cluster as it is, or `karpdeck journal --abandon {}`.",
            u.label(),
            u.first.user,
            u.first.time.format("%Y-%m-%dT%H:%M:%SZ"),
            u.steps_done,
            describe(&u.last),
            u.first.plan,
            u.first.plan
        );
    }
}

/// `outcome step — detail`.
fn describe(e: &Entry) -> String {
    format!("{} {}", e.outcome.as_str(), e.subject())
}
