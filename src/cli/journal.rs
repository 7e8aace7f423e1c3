//! `karpdeck journal`: what karpdeck has done, and plans it left unfinished.

use std::fmt::Write;
use std::path::PathBuf;

use chrono::Utc;

use super::{Failure, JournalArgs};
use crate::exec::journal::{self, Entry, Outcome};

/// Run the command and return its output.
pub fn run(args: &JournalArgs) -> Result<String, Failure> {
    let path: PathBuf = match args.file.clone().or_else(journal::default_path) {
        Some(p) => p,
        None => {
            return Err(Failure::bad_input(
                "no journal location: set XDG_STATE_HOME or HOME, or pass --file",
            ))
        }
    };
    let j = journal::read(&path).map_err(Failure::bad_input)?;
    if let Some(plan) = &args.abandon {
        let Some(u) = j.unfinished().into_iter().find(|u| &u.first.plan == plan) else {
            return Err(Failure::bad_input(format!(
                "{}: no unfinished plan {plan:?}",
                path.display()
            )));
        };
        let entry = Entry {
            time: Utc::now(),
            context: u.first.context.clone(),
            user: crate::exec::executor::local_user(),
            plan: plan.clone(),
            action: u.first.action.clone(),
            targets: u.first.targets.clone(),
            outcome: Outcome::Abandoned,
            step: None,
            detail: Some(format!(
                "abandoned after {} step(s); last: {}",
                u.steps_done,
                describe(&u.last)
            )),
        };
        journal::append(&path, &entry).map_err(Failure::failed)?;
        return Ok(format!(
            "plan {plan} marked abandoned; nothing was re-run. Check {} by hand: {}\n",
            u.first.targets.join(", "),
            describe(&u.last)
        ));
    }
    if args.json {
        let v = serde_json::json!({
            "file": path.display().to_string(),
            "entries": j.entries,
            "unfinished": j.unfinished().iter().map(|u| serde_json::json!({
                "plan": u.first.plan,
                "action": u.first.action,
                "targets": u.first.targets,
                "steps_done": u.steps_done,
                "last": u.last,
            })).collect::<Vec<_>>(),
            "torn_tail": j.torn_tail.is_some(),
        });
        let mut s = serde_json::to_string_pretty(&v).map_err(Failure::bad_input)?;
        s.push('\n');
        return Ok(s);
    }
    let mut out = String::new();
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
    if j.torn_tail.is_some() {
        let _ = writeln!(
            out,
            "warning: the last line was cut short (karpdeck stopped while writing it) and is ignored"
        );
    }
    for u in j.unfinished() {
        let _ = writeln!(
            out,
            "UNFINISHED plan {}, approved by {} at {}: {} step(s) done, last {}. It will not be re-run; resume it from the console or `karpdeck journal --abandon {}`.",
            u.label(),
            u.first.user,
            u.first.time.format("%Y-%m-%dT%H:%M:%SZ"),
            u.steps_done,
            describe(&u.last),
            u.first.plan
        );
    }
    Ok(out)
}

/// `outcome step — detail`.
fn describe(e: &Entry) -> String {
    format!("{} {}", e.outcome.as_str(), e.subject())
}
