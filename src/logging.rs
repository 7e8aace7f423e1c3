//! Logging to a file, never to the terminal (the TUI owns it).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// `$XDG_STATE_HOME/karpdeck` (default `~/.local/state/karpdeck`).
pub fn state_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
        .map(|d| d.join("karpdeck"))
}

/// Send `tracing` events to `path` (default `karpdeck.log` in the state directory), filtered by
/// `KARPDECK_LOG` (default `info`). If the file cannot be opened, logging stays off rather than
/// writing to the terminal.
pub fn init(path: Option<&Path>) {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => match state_dir() {
            Some(d) => d.join("karpdeck.log"),
            None => return,
        },
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(file) = OpenOptions::new().create(true).append(true).open(&path) else {
        return;
    };
    let filter = EnvFilter::try_from_env("KARPDECK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
}
