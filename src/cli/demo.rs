//! `karpdeck demo`: the console over the simulated lab cluster (or a scenario), supervised —
//! karpdeck proposes, the operator approves.

use std::io::Write;

use super::sim::{sim_journal, simulation};
use super::{DemoArgs, Failure};
use crate::control::{first_free_plan, Supervisor};
use crate::sim::SimConfig;
use crate::ui::app::MAX_SPEED;
use crate::ui::console::{self, ConsoleOptions};

/// Run the console (or render one frame with `--snapshot`).
pub fn run(args: &DemoArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let config = SimConfig {
        seed: args.seed,
        interruption_multiplier: args.interruptions,
        insufficient_capacity: args.insufficient_capacity,
        // Observed, the simulated Karpenter acts; supervised, karpdeck does.
        autopilot: args.observe,
        ..SimConfig::default()
    };
    let sim = simulation(args.scenario.as_deref(), None, config)?;
    let (journal_path, earlier, file) = sim_journal(args.journal.clone())?;
    let view = args
        .snapshot
        .as_deref()
        .map(super::console::snapshot_view)
        .transpose()?;
    let options = ConsoleOptions {
        theme: args.theme.clone(),
        keymap: args.keymap.clone(),
        read_only: args.read_only,
        // A snapshot changes nothing and writes no journal.
        journal: if view.is_some() {
            None
        } else {
            journal_path.clone()
        },
        approve_interruptions: args.approve_interruptions,
    };
    let source = match &args.scenario {
        Some(p) => p.display().to_string(),
        None => "demo: lab cluster".to_string(),
    };
    let first_plan = first_free_plan(&earlier);
    let mut app = console::app(
        |settings| match args.observe {
            true => Supervisor::observing(sim, settings, first_plan),
            false => Supervisor::new(sim, settings, false, first_plan),
        },
        source,
        &options,
    )
    .map_err(|e| Failure::failed(format!("cannot start the console: {e}")))?;
    if let Some(s) = args.speed {
        // The same ceiling as the + key.
        app.speed = s.min(MAX_SPEED);
    }
    let unfinished: Vec<String> = earlier.unfinished().iter().map(|u| u.label()).collect();
    if !unfinished.is_empty() {
        app.status = format!(
            "journal: {} unfinished when karpdeck stopped; not re-run (see karpdeck journal{file})",
            unfinished.join(", ")
        );
    }
    let Some(view) = view else {
        return console::run(app).map_err(Failure::failed);
    };
    app.advance(args.at.num_seconds());
    let text = console::render_text(&mut app, view, args.width, args.height);
    // A frame from a cluster side that crashed is not printed as if it were good.
    app.link.close().map_err(Failure::failed)?;
    out.write_all(text.as_bytes()).map_err(Failure::output)
}
