//! tmux as a terminal for tests: start a command, type keys, read the screen.

use std::process::Command;
use std::time::{Duration, Instant};

/// Run tmux with these arguments; its standard output.
pub fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux must be installed to run the terminal test");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tmux session running one command; killed when dropped.
pub struct Session(pub String);

impl Drop for Session {
    fn drop(&mut self) {
        tmux(&["kill-session", "-t", &self.0]);
    }
}

impl Session {
    /// The screen as text.
    pub fn screen(&self) -> String {
        tmux(&["capture-pane", "-t", &self.0, "-p"])
    }

    /// Type these keys (tmux send-keys names).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.0];
        args.extend(keys);
        tmux(&args);
    }

    /// Wait (up to 20 s) until the screen shows `text`.
    pub fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the screen never showed {text:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
