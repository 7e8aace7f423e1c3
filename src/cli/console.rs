//! `karpdeck console` (and `karpdeck` with no command): the console on a live cluster, in
//! observe mode — Karpenter acts, karpdeck shows what it will do next — where the operator's
//! own actions (drain, cordon, replace) are previewed, approved and run through the API, unless
//! `--read-only`.

use std::io::Write;
use std::time::{Duration, Instant};

use super::cluster::live_failure;
use super::{ConsoleArgs, Failure};
use crate::catalog::Catalog;
use crate::control::{first_free_plan, SourceHealth, SourceState, Supervisor};
use crate::exec::journal;
use crate::kube::cluster::LiveCluster;
use crate::ui::app::View;
use crate::ui::console::{self, ConsoleOptions};

/// How long `--snapshot` waits for every source to list.
const SNAPSHOT_SYNC: Duration = Duration::from_secs(60);

/// `--snapshot VIEW`'s view, or a one-line error naming the views.
pub fn snapshot_view(name: &str) -> Result<View, Failure> {
    View::parse(name).ok_or_else(|| {
        let names: Vec<&str> = View::ALL.iter().map(|v| v.name()).collect();
        Failure::bad_input(format!(
            "--snapshot {name}: not a view (one of {})",
            names.join(", ")
        ))
    })
}

/// Open the console on the live cluster (or print one frame with `--snapshot`).
pub fn run(args: &ConsoleArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let view = args.snapshot.as_deref().map(snapshot_view).transpose()?;
    let target = args.live.target();
    let cluster = LiveCluster::open(&target, Catalog::embedded()).map_err(live_failure)?;
    let context = cluster.context().to_string();
    let source = format!("context {context}");
    let journal_path = journal::default_path();
    let earlier = match &journal_path {
        Some(p) => journal::read(p).map_err(Failure::bad_input)?,
        None => journal::Journal::default(),
    };
    let options = ConsoleOptions {
        theme: args.theme.clone(),
        keymap: args.keymap.clone(),
        read_only: args.read_only,
        journal: if view.is_some() { None } else { journal_path },
        // Observed, Karpenter answers interruptions itself.
        approve_interruptions: false,
    };
    let mut app = console::app(
        |settings| {
            let mut sup = Supervisor::observing(cluster, settings, first_free_plan(&earlier));
            sup.found_unfinished(&earlier);
            sup
        },
        source,
        &options,
    )
    .map_err(|e| Failure::failed(format!("cannot start the console: {e}")))?;
    let unfinished: Vec<String> = earlier
        .unfinished()
        .iter()
        .filter(|u| u.first.context == context)
        .map(|u| u.label())
        .collect();
    if !unfinished.is_empty() {
        app.status = format!(
            "journal: {} unfinished when karpdeck stopped; what each left is in the events; :resume PLAN plans it again",
            unfinished.join(", ")
        );
    }
    let Some(view) = view else {
        return console::run(app).map_err(Failure::failed);
    };
    // A frame of a cluster still listing would show a partial one.
    let started = Instant::now();
    loop {
        app.settle();
        let sources = &app.world.sources;
        if !sources.is_empty() && sources.iter().all(|s| s.state == SourceState::Live) {
            break;
        }
        if started.elapsed() > SNAPSHOT_SYNC {
            return Err(Failure::failed(format!(
                "not synced after {} s: still waiting for {}",
                SNAPSHOT_SYNC.as_secs(),
                waiting_for(sources)
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = console::render_text(&mut app, view, args.width, args.height);
    app.link.close().map_err(Failure::failed)?;
    out.write_all(text.as_bytes()).map_err(Failure::output)
}

/// The sources not yet live, each with its latest error: `pods (forbidden …), nodes`.
pub fn waiting_for(sources: &[SourceHealth]) -> String {
    let waiting: Vec<String> = sources
        .iter()
        .filter(|s| s.state != SourceState::Live)
        .map(|s| match &s.state {
            SourceState::Reconnecting { error, .. } => format!("{} ({error})", s.name),
            _ => s.name.clone(),
        })
        .collect();
    waiting.join(", ")
}
