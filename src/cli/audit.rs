//! `karpdeck audit`: best-practice findings for a scenario.

use std::fmt::Write;

use super::{AuditArgs, Failure};
use crate::engine::advisor::{audit, Severity};
use crate::scenario::LoadOptions;

/// Run the command and return its output.
pub fn run(args: &AuditArgs) -> Result<String, Failure> {
    let options = LoadOptions {
        scales: Vec::new(),
        region: args.region.clone(),
    };
    let loaded = args.cluster.load(&options)?;
    let findings = audit(&loaded.snapshot);
    if args.json {
        let mut s = serde_json::to_string_pretty(&findings).map_err(Failure::bad_input)?;
        s.push('\n');
        return Ok(s);
    }
    let mut out = String::new();
    if findings.is_empty() {
        out.push_str("no findings\n");
    }
    for f in &findings {
        let tag = match f.severity {
            Severity::Warning => "WARN",
            Severity::Info => "INFO",
        };
        let _ = writeln!(out, "{tag} {}: {}", f.rule, f.message);
        let _ = writeln!(out, "     objects: {}", f.objects.join(", "));
        let _ = writeln!(out, "     fix: {}", f.fix);
    }
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let _ = writeln!(out, "{} finding(s), {warnings} warning(s)", findings.len());
    Ok(out)
}
