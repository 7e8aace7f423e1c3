//! The journal: one JSON line per approval and per step outcome, appended to
//! `$XDG_STATE_HOME/karpdeck/journal.jsonl`, so that what karpdeck did survives it. On start the
//! plans whose last line is not an ending are reported — resuming or abandoning them is the
//! operator's call, never an automatic re-run.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The journal's file name inside the state directory.
pub const FILE_NAME: &str = "journal.jsonl";

/// What happened to a plan at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The operator approved the previewed plan.
    Approved,
    /// A step began.
    StepStarted,
    /// A step finished.
    StepDone,
    /// A step failed (the plan stops, or carries on when the step was optional).
    StepFailed,
    /// A step was refused for now (a PodDisruptionBudget) and is being retried.
    StepBlocked,
    /// Every step finished.
    Done,
    /// The plan stopped on an error.
    Failed,
    /// The operator cancelled it between steps.
    Cancelled,
    /// The operator chose not to resume a plan found unfinished.
    Abandoned,
    /// A plan found unfinished was planned again, from the cluster as it is, as another plan
    /// (the detail names it).
    Resumed,
}

impl Outcome {
    /// The kebab-case name the journal file uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::StepStarted => "step-started",
            Self::StepDone => "step-done",
            Self::StepFailed => "step-failed",
            Self::StepBlocked => "step-blocked",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Abandoned => "abandoned",
            Self::Resumed => "resumed",
        }
    }

    /// Whether the plan is over after this.
    pub fn is_ending(self) -> bool {
        matches!(
            self,
            Self::Done | Self::Failed | Self::Cancelled | Self::Abandoned | Self::Resumed
        )
    }
}

/// One journal line. Never holds credentials: names and outcomes only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When it was written.
    pub time: DateTime<Utc>,
    /// Where: the kube context, or `sim` for the simulator.
    pub context: String,
    /// Who approved (the local user name).
    pub user: String,
    /// The plan's id; all lines of one plan share it.
    pub plan: String,
    /// The action kind (`drain`, `delete`, `replace`, `scale-out`, `cordon`, ...).
    pub action: String,
    /// Nodes, NodeClaims or pods it acts on.
    pub targets: Vec<String>,
    /// What happened.
    pub outcome: Outcome,
    /// The step, when the line is about one (`evict nlb/nginx-1 (2 of 5)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Error text or other detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Entry {
    /// `step — detail`, or the targets when the line is about the whole plan.
    pub fn subject(&self) -> String {
        let mut s = self.step.clone().unwrap_or_else(|| self.targets.join(", "));
        if let Some(d) = &self.detail {
            s.push_str(" — ");
            s.push_str(d);
        }
        s
    }
}

/// A journal that cannot be read, naming the file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalError {
    /// The journal file.
    pub file: String,
    /// 1-based line, when a line is at fault.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for JournalError {}

/// `$XDG_STATE_HOME/karpdeck/journal.jsonl` (default under `~/.local/state`).
pub fn default_path() -> Option<PathBuf> {
    crate::logging::state_dir().map(|d| d.join(FILE_NAME))
}

/// Append one line and flush it to disk before returning, so an approval is on record before
/// anything acts on it.
pub fn append(path: &Path, entry: &Entry) -> Result<(), JournalError> {
    let fail = |message: String| JournalError {
        file: path.display().to_string(),
        line: None,
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create directory: {e}")))?;
    }
    let mut line = serde_json::to_string(entry).map_err(|e| fail(e.to_string()))?;
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| fail(format!("cannot open for appending: {e}")))?;
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| fail(format!("cannot write: {e}")))
}

/// A journal as read back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Journal {
    /// Every complete line, in order.
    pub entries: Vec<Entry>,
    /// A last line cut short (the process died while writing it), if any: ignored.
    pub torn_tail: Option<String>,
}

/// Read a journal; a missing file is an empty journal. A malformed line is an error naming it,
/// except a last line without its newline, which is a write the process did not finish.
pub fn read(path: &Path) -> Result<Journal, JournalError> {
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Journal::default()),
        Err(e) => {
            return Err(JournalError {
                file,
                line: None,
                message: format!("cannot read: {e}"),
            })
        }
    };
    parse(&file, &text)
}

/// Parse journal text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Journal, JournalError> {
    let mut journal = Journal::default();
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => journal.entries.push(e),
            Err(_) if i + 1 == lines.len() && !complete => {
                journal.torn_tail = Some(line.to_string());
            }
            Err(e) => {
                return Err(JournalError {
                    file: file.to_string(),
                    line: Some(i + 1),
                    message: format!("not a journal entry: {e}"),
                })
            }
        }
    }
    Ok(journal)
}

/// A plan whose last journal line is not an ending: it was executing (or approved) when
/// karpdeck stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct Unfinished {
    /// The plan's first line (its approval, normally).
    pub first: Entry,
    /// Its last line: how far it got.
    pub last: Entry,
    /// Steps recorded as done.
    pub steps_done: usize,
}

impl Unfinished {
    /// `p3 (drain node-a, node-b)`: the plan, its action and its targets.
    pub fn label(&self) -> String {
        format!(
            "{} ({} {})",
            self.first.plan,
            self.first.action,
            self.first.targets.join(", ")
        )
    }
}

impl Journal {
    /// Plans without an ending, oldest first.
    pub fn unfinished(&self) -> Vec<Unfinished> {
        let mut by_plan: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        let mut order = Vec::new();
        for e in &self.entries {
            let lines = by_plan.entry(e.plan.as_str()).or_default();
            if lines.is_empty() {
                order.push(e.plan.as_str());
            }
            lines.push(e);
        }
        order
            .into_iter()
            .filter_map(|plan| {
                let lines = &by_plan[plan];
                let last = lines.last()?;
                (!last.outcome.is_ending()).then(|| Unfinished {
                    first: lines[0].clone(),
                    last: (*last).clone(),
                    steps_done: lines
                        .iter()
                        .filter(|e| e.outcome == Outcome::StepDone)
                        .count(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(plan: &str, outcome: Outcome, step: Option<&str>) -> Entry {
        Entry {
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            context: "sim".into(),
            user: "oncall".into(),
            plan: plan.into(),
            action: "drain".into(),
            targets: vec!["node-a".into()],
            outcome,
            step: step.map(str::to_string),
            detail: None,
        }
    }

    #[test]
    fn appended_lines_read_back_and_unfinished_plans_are_found() {
        let dir = std::env::temp_dir().join(format!("karpdeck-journal-{}", std::process::id()));
        let path = dir.join("nested").join(FILE_NAME);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            read(&path).unwrap(),
            Journal::default(),
            "missing file: empty"
        );
        let lines = [
            entry("p1", Outcome::Approved, None),
            entry("p1", Outcome::StepDone, Some("cordon node-a")),
            entry("p1", Outcome::Done, None),
            entry("p2", Outcome::Approved, None),
            entry("p2", Outcome::StepDone, Some("cordon node-b")),
            entry("p2", Outcome::StepStarted, Some("evict ns/p (1 of 3)")),
        ];
        for l in &lines {
            append(&path, l).unwrap();
        }
        let j = read(&path).unwrap();
        assert_eq!(j.entries, lines);
        let u = j.unfinished();
        assert_eq!(u.len(), 1);
        assert_eq!(u[0].first.plan, "p2");
        assert_eq!(u[0].last.step.as_deref(), Some("evict ns/p (1 of 3)"));
        assert_eq!(u[0].steps_done, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn outcome_names_are_the_file_format() {
        for o in [
            Outcome::Approved,
            Outcome::StepStarted,
            Outcome::StepDone,
            Outcome::StepFailed,
            Outcome::StepBlocked,
            Outcome::Done,
            Outcome::Failed,
            Outcome::Cancelled,
            Outcome::Abandoned,
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_a_bad_middle_line_is_an_error() {
        let good = serde_json::to_string(&entry("p", Outcome::Approved, None)).unwrap();
        let torn = format!("{good}\n{{\"time\":\"2023");
        let j = parse("j", &torn).unwrap();
        assert_eq!(j.entries.len(), 1);
        assert!(j.torn_tail.is_some());
        let bad = format!("{good}\nnot json\n{good}\n");
        let e = parse("j.jsonl", &bad).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.to_string().starts_with("j.jsonl:2: not a journal entry"),
            "{e}"
        );
    }
}
