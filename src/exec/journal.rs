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
        .read(true)
        .open(path)
        .map_err(|e| fail(format!("cannot open for appending: {e}")))?;
    // A line cut short (a process killed mid-write, a full disk) is closed first: this entry
    // starts a line of its own, and the torn one stays a line apart that readers skip.
    if !ends_with_newline(&mut file).map_err(|e| fail(format!("cannot read: {e}")))? {
        line.insert(0, '\n');
    }
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_data())
        .map_err(|e| fail(format!("cannot write: {e}")))
}

/// Whether the file is empty or ends with a newline.
fn ends_with_newline(file: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// The start of every entry karpdeck writes (`time` is its first field).
const ENTRY_START: &str = "{\"time\":";

/// A journal as read back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Journal {
    /// Every complete line, in order.
    pub entries: Vec<Entry>,
    /// Lines cut short (a process died while writing them), by line number: skipped.
    pub torn: Vec<(usize, String)>,
}

/// Read a journal; a missing file is an empty journal. A line cut short — an entry whose JSON
/// ends early, wherever it is — is a write a process did not finish: skipped and listed in
/// [`Journal::torn`]; an entry an older karpdeck appended onto such a line is kept. Any other
/// malformed line is an error naming it.
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
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => journal.entries.push(e),
            Err(e) if e.is_eof() => journal.torn.push((i + 1, line.to_string())),
            // Written whole onto a torn line (before appends started lines of their own).
            Err(_) if recovered(line).is_some() => {
                let (torn, entry) = recovered(line).expect("just checked");
                journal.torn.push((i + 1, torn.to_string()));
                journal.entries.push(entry);
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

/// An entry written whole after a torn one on the same line: the torn part and the entry.
fn recovered(line: &str) -> Option<(&str, Entry)> {
    let at = line.rfind(ENTRY_START).filter(|&at| at > 0)?;
    let entry = serde_json::from_str::<Entry>(&line[at..]).ok()?;
    Some((&line[..at], entry))
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
    /// The line that ends this plan: `outcome` (abandoned, resumed) by `user` at `time`.
    pub fn ending(
        &self,
        outcome: Outcome,
        user: &str,
        time: DateTime<Utc>,
        detail: String,
    ) -> Entry {
        Entry {
            time,
            context: self.first.context.clone(),
            user: user.to_string(),
            plan: self.first.plan.clone(),
            action: self.first.action.clone(),
            targets: self.first.targets.clone(),
            outcome,
            step: None,
            detail: Some(detail),
        }
    }

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
    fn after_a_torn_line_the_next_append_starts_a_line_and_nothing_whole_is_lost() {
        let dir = std::env::temp_dir().join(format!("karpdeck-torn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal.jsonl");
        append(&path, &entry("p1", Outcome::Approved, None)).unwrap();
        // Killed mid-write: the line ends without its newline.
        let whole =
            serde_json::to_string(&entry("p1", Outcome::StepStarted, Some("cordon n1"))).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&whole[..whole.len() / 2]);
        std::fs::write(&path, &text).unwrap();
        append(&path, &entry("p2", Outcome::Approved, None)).unwrap();
        append(&path, &entry("p2", Outcome::Done, None)).unwrap();
        let j = read(&path).unwrap();
        let plans: Vec<(&str, Outcome)> = j
            .entries
            .iter()
            .map(|e| (e.plan.as_str(), e.outcome))
            .collect();
        assert_eq!(
            plans,
            [
                ("p1", Outcome::Approved),
                ("p2", Outcome::Approved),
                ("p2", Outcome::Done)
            ]
        );
        assert_eq!(j.torn.len(), 1);
        assert_eq!(j.torn[0].0, 2);
        // A journal an older karpdeck poisoned (an entry appended onto the torn line) reads too.
        let poisoned = format!(
            "{}{}\n",
            &whole[..whole.len() / 2],
            serde_json::to_string(&entry("p3", Outcome::Approved, None)).unwrap()
        );
        let j = parse("j", &poisoned).unwrap();
        assert_eq!(j.entries.len(), 1);
        assert_eq!(j.entries[0].plan, "p3");
        assert_eq!(j.torn.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_a_bad_middle_line_is_an_error() {
        let good = serde_json::to_string(&entry("p", Outcome::Approved, None)).unwrap();
        let torn = format!("{good}\n{{\"time\":\"2023");
        let j = parse("j", &torn).unwrap();
        assert_eq!(j.entries.len(), 1);
        assert_eq!(j.torn.len(), 1);
        let bad = format!("{good}\nnot json\n{good}\n");
        let e = parse("j.jsonl", &bad).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.to_string().starts_with("j.jsonl:2: not a journal entry"),
            "{e}"
        );
    }
}
