//! Reading the console's TOML files: embedded defaults with partial user overrides, where a bad
//! entry is a warning naming the file and key, never a failure.

use std::path::{Path, PathBuf};

/// A problem in a settings file: which file, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

impl Warning {
    /// `file: key: problem`.
    pub fn new(file: &str, key: &str, problem: impl std::fmt::Display) -> Self {
        Self(format!("{file}: {key}: {problem}"))
    }
}

/// Parse TOML into a table; a file that is not TOML gives one warning and an empty table.
pub fn parse_table(file: &str, text: &str, warnings: &mut Vec<Warning>) -> toml::Table {
    match text.parse::<toml::Table>() {
        Ok(t) => t,
        Err(e) => {
            let first = e.to_string().lines().next().unwrap_or_default().to_string();
            warnings.push(Warning(format!(
                "{file}: not valid TOML ({first}); ignored"
            )));
            toml::Table::new()
        }
    }
}

/// The `[section]` table of a settings file; other top-level keys are warned about.
pub fn section<'a>(
    file: &str,
    table: &'a toml::Table,
    name: &str,
    warnings: &mut Vec<Warning>,
) -> Option<&'a toml::Table> {
    for key in table.keys().filter(|k| k.as_str() != name) {
        warnings.push(Warning::new(file, key, "unknown key; ignored"));
    }
    match table.get(name) {
        None => None,
        Some(toml::Value::Table(t)) => Some(t),
        Some(_) => {
            warnings.push(Warning::new(file, name, "must be a table; ignored"));
            None
        }
    }
}

/// The embedded file called `name` among `files` (name, text); an unknown name is a warning and
/// the first file is used.
pub fn embedded<'a>(
    kind: &str,
    name: &str,
    files: &[(&str, &'a str)],
    warnings: &mut Vec<Warning>,
) -> &'a str {
    if let Some((_, text)) = files.iter().find(|(n, _)| *n == name) {
        return text;
    }
    let known: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    warnings.push(Warning(format!(
        "{kind} {name:?} is not one of {}; using {}",
        known.join(", "),
        known.first().copied().unwrap_or("none")
    )));
    files.first().map_or("", |(_, text)| text)
}

/// The user's configuration directory: `$XDG_CONFIG_HOME/karpdeck`, else `~/.config/karpdeck`
/// (on every Unix, macOS included).
pub fn config_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("karpdeck"))
}

/// A user file's text, if it exists; unreadable files are a warning.
pub fn read_user_file(path: &Path, warnings: &mut Vec<Warning>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            warnings.push(Warning(format!("{}: cannot read: {e}", path.display())));
            None
        }
    }
}
