//! Starting the console: settings (config, theme, keymap), the workflow over the cluster, the
//! terminal, and the event loop — or one frame rendered as text (`--snapshot`).

use std::path::PathBuf;
use std::time::{Duration as WallDuration, Instant};

use crossterm::event::{Event, KeyEventKind};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::app::{App, Msg, View};
use super::keymap::Keymap;
use super::settings::{config_dir, parse_table, read_user_file, Warning};
use super::theme::Theme;
use crate::control::{Cluster, Supervisor};
use crate::exec::Settings;

/// What the console is asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct ConsoleOptions {
    /// `--theme`.
    pub theme: Option<String>,
    /// `--keymap`.
    pub keymap: Option<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// The journal file.
    pub journal: Option<PathBuf>,
    /// `--approve-interruptions`: interruption responses wait for a person.
    pub approve_interruptions: bool,
}

/// The settings the console runs with, and what was wrong in the files.
pub struct Loaded {
    /// Colors.
    pub theme: Theme,
    /// Keys.
    pub keymap: Keymap,
    /// Read-only (flag or config).
    pub read_only: bool,
    /// Contexts config.toml makes read-only (`[contexts.NAME] read_only = true`).
    pub read_only_contexts: std::collections::BTreeSet<String>,
    /// Problems found, each naming file and key.
    pub warnings: Vec<Warning>,
}

/// Read `config.toml`, `theme.toml` and `keymap.toml` from `dir` (flags win over the config).
pub fn load_settings(dir: Option<&std::path::Path>, options: &ConsoleOptions) -> Loaded {
    let mut warnings = Vec::new();
    let read = |name: &str, warnings: &mut Vec<Warning>| {
        let path = dir?.join(name);
        read_user_file(&path, warnings).map(|t| (path.display().to_string(), t))
    };
    let mut theme_name = "default".to_string();
    let mut keymap_name = "default".to_string();
    let mut read_only = false;
    let mut read_only_contexts = std::collections::BTreeSet::new();
    if let Some((file, text)) = read("config.toml", &mut warnings) {
        for (key, value) in parse_table(&file, &text, &mut warnings) {
            match (key.as_str(), &value) {
                ("contexts", toml::Value::Table(contexts)) => {
                    for (name, table) in contexts {
                        let at = format!("contexts.{name}");
                        let Some(table) = table.as_table() else {
                            warnings.push(Warning::new(&file, &at, "not a table; ignored"));
                            continue;
                        };
                        for (k, v) in table {
                            match (k.as_str(), v) {
                                ("read_only", toml::Value::Boolean(true)) => {
                                    read_only_contexts.insert(name.clone());
                                }
                                ("read_only", toml::Value::Boolean(false)) => {}
                                ("read_only", _) => warnings.push(Warning::new(
                                    &file,
                                    &format!("{at}.read_only"),
                                    format!("{v} has the wrong type; ignored"),
                                )),
                                _ => warnings.push(Warning::new(
                                    &file,
                                    &format!("{at}.{k}"),
                                    "unknown key; ignored",
                                )),
                            }
                        }
                    }
                }
                ("theme", toml::Value::String(s)) => theme_name = s.clone(),
                ("keymap", toml::Value::String(s)) => keymap_name = s.clone(),
                ("read_only", toml::Value::Boolean(b)) => read_only = *b,
                ("theme" | "keymap" | "read_only" | "contexts", _) => warnings.push(Warning::new(
                    &file,
                    &key,
                    format!("{value} has the wrong type; ignored"),
                )),
                _ => warnings.push(Warning::new(&file, &key, "unknown key; ignored")),
            }
        }
    }
    let theme_name = options.theme.clone().unwrap_or(theme_name);
    let keymap_name = options.keymap.clone().unwrap_or(keymap_name);
    let user_theme = read("theme.toml", &mut warnings);
    let user_keys = read("keymap.toml", &mut warnings);
    let theme = Theme::load(
        &theme_name,
        user_theme.as_ref().map(|(f, t)| (f.as_str(), t.as_str())),
        &mut warnings,
    );
    let keymap = Keymap::load(
        &keymap_name,
        user_keys.as_ref().map(|(f, t)| (f.as_str(), t.as_str())),
        &mut warnings,
    );
    Loaded {
        theme,
        keymap,
        read_only: read_only || options.read_only,
        read_only_contexts,
        warnings,
    }
}

/// The console over a supervised cluster, with the user's settings.
pub fn app<C: Cluster + 'static>(
    sup_of: impl FnOnce(Settings) -> Supervisor<C>,
    source: String,
    options: &ConsoleOptions,
) -> std::io::Result<App> {
    let dir = config_dir();
    let loaded = load_settings(dir.as_deref(), options);
    let mut settings = Settings::new(options.journal.clone());
    settings.read_only = loaded.read_only;
    settings.read_only_contexts = loaded.read_only_contexts.clone();
    settings.approve_interruptions = options.approve_interruptions;
    App::new(
        sup_of(settings),
        source,
        loaded.theme,
        loaded.keymap,
        loaded.warnings,
    )
}

/// Render one frame of `view` as text, `width`×`height`, rows trimmed on the right (after the
/// data the view needs has arrived).
pub fn render_text(app: &mut App, view: View, width: u16, height: u16) -> String {
    app.show(view);
    app.settle();
    render_frame(app, width, height)
}

/// Render the current view as it stands, without waiting for data.
pub fn render_frame(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(t) => t,
        Err(e) => return format!("cannot render: {e}\n"),
    };
    if let Err(e) = terminal.draw(|f| super::view::draw(f, app)) {
        return format!("cannot render: {e}\n");
    }
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        for x in 0..buffer.area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Run the console in the terminal until the operator quits.
pub fn run(mut app: App) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(std::io::Error::other(
            "the console needs a terminal; use --snapshot VIEW to print one frame",
        ));
    }
    // try_init installs a panic hook that restores the terminal before the report.
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            return Err(std::io::Error::other(format!(
                "cannot set up the terminal: {e}"
            )));
        }
    };
    on_panic_restore_and_exit();
    let result = runtime.block_on(event_loop(&mut terminal, &mut app));
    ratatui::restore();
    result
}

/// A panic on any thread ends karpdeck at once: the terminal is given back, one line says what
/// happened and where the journal stands, and the process exits 101. Nothing here takes the
/// stdout lock (the drawing thread may hold it), so it cannot hang on a frozen screen.
fn on_panic_restore_and_exit() {
    std::panic::set_hook(Box::new(|info| {
        let _ = crossterm::terminal::disable_raw_mode();
        if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
            let _ = crossterm::execute!(
                tty,
                crossterm::terminal::LeaveAlternateScreen,
                crossterm::cursor::Show
            );
        }
        let what = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("a panic");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "karpdeck: internal error: {what}{at}; plans that were running are left unfinished in the journal (karpdeck journal)"
        );
        std::process::exit(101);
    }));
}

async fn event_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App) -> std::io::Result<()> {
    let (tx, mut keys) = tokio::sync::mpsc::unbounded_channel();
    // Terminal input blocks: it gets its own thread and arrives as messages.
    std::thread::spawn(move || loop {
        match crossterm::event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                if tx.send(Msg::Key(k)).is_err() {
                    return;
                }
            }
            Ok(Event::Resize(..)) => {
                if tx.send(Msg::Resize).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    });
    let frame = WallDuration::from_millis(16);
    let mut dirty = true;
    let mut last_draw = Instant::now() - frame;
    app.send_clock();
    while !app.quit {
        if dirty && last_draw.elapsed() >= frame {
            terminal.draw(|f| super::view::draw(f, app))?;
            last_draw = Instant::now();
            dirty = false;
        }
        // At most ~60 frames a second: a change inside a frame's time waits for the next one.
        let next_frame = frame.saturating_sub(last_draw.elapsed());
        tokio::select! {
            msg = keys.recv() => {
                let Some(msg) = msg else { break };
                app.update(msg);
                dirty = true;
            }
            update = app.link.recv() => {
                // The cluster side only ends when told to: anything else is a crash, which
                // closing reports.
                let Some(update) = update else { break };
                app.update(update.into());
                dirty = true;
            }
            _ = tokio::time::sleep(next_frame), if dirty => {}
        }
    }
    // The simulated cluster goes with the console: running plans are closed in the journal.
    app.link.close()
}
