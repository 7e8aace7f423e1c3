//! `karpdeck bench`: the engine alone at the sizes the issues name, timed on one core.

use std::fmt::Write;
use std::time::Instant;

use super::table::Table;
use super::{BenchArgs, Failure};
use crate::catalog::Catalog;
use crate::engine::disruption::{disrupt, DisruptionOptions};
use crate::engine::plan::{plan, Strategy};
use crate::engine::scheduling::Options;
use crate::scenario::generate::{generate, GenOptions};
use crate::scenario::{load_str, LoadOptions};

/// A memory figure of this process from /proc/self/status, in KiB (Linux): `VmHWM` is the peak
/// resident memory (reset where possible so each size is measured on its own), `VmRSS` the
/// resident memory now.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn peak_rss_kib() -> Option<u64> {
    proc_status_kib("VmHWM")
}

fn rss_kib() -> Option<u64> {
    proc_status_kib("VmRSS")
}

fn reset_peak_rss() {
    // "5" resets the peak RSS counter (Linux ≥ 4.0); harmless where unsupported.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Time reading a live cluster: discovery and every source's first list, through the watchers
/// the console uses, then the memory they hold once the lists' buffers are gone.
fn run_sync(args: &BenchArgs) -> Result<String, Failure> {
    use crate::kube::{self, SourceKind};
    let target = args.live.target();
    let before = rss_kib();
    let rt = kube::runtime().map_err(super::cluster::live_failure)?;
    rt.block_on(async {
        let conn = kube::connect(&target).await?;
        let t = Instant::now();
        let mut watching = kube::sync(&conn, kube::SYNC_TIMEOUT, Catalog::embedded()).await?;
        let sync = t.elapsed();
        // Steady state: the list pages' buffers are freed by now.
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let after = rss_kib();
        let store = &mut watching.store;
        let (nodes, pods) = (store.len(SourceKind::Nodes), store.len(SourceKind::Pods));
        // What the console redoes after each batch of watch events (the events themselves
        // change one object each, in place).
        let t = Instant::now();
        let snapshot = store.snapshot_mut();
        snapshot.link_pdbs();
        let region = crate::scenario::infer_region(snapshot);
        let finish = t.elapsed();
        let mib = |k: Option<u64>| k.map_or("n/a".into(), |k| format!("{} MiB", k / 1024));
        let per_pod = match (before, after) {
            (Some(b), Some(a)) if pods > 0 => format!("{} B", (a.saturating_sub(b) * 1024) / pods as u64),
            _ => "n/a".into(),
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "context {}: {nodes} nodes, {pods} pods, {} objects in all\nsync {:.2} s (discovery and every source listed); resident {} (before connecting {}); {per_pod} per pod (resident growth / pods, an upper bound: nodes and the rest count too); after a change, PDB links and region ({}) redone in {:.1} ms",
            conn.context,
            store.statuses().map(|s| store.len(s.kind)).sum::<usize>(),
            sync.as_secs_f64(),
            mib(after),
            mib(before),
            region.unwrap_or_default(),
            finish.as_secs_f64() * 1000.0,
        );
        Ok::<_, kube::LiveError>(out)
    })
    .map_err(super::cluster::live_failure)
}

/// A generated cluster of `--nodes` × `--running-per-node` running pods (none pending), loaded;
/// and how long loading took.
fn generated_cluster(
    args: &BenchArgs,
) -> Result<(crate::scenario::Loaded, std::time::Duration), Failure> {
    let catalog = Catalog::embedded();
    let options = GenOptions {
        nodes: args.nodes,
        running_per_node: args.running_per_node,
        pending: 0,
        seed: args.seed,
        types: args.types,
        region: args.region.clone(),
    };
    let text = generate(&options, &catalog);
    let t = Instant::now();
    let loaded = load_str("bench.yaml", &text, &LoadOptions::default(), catalog)
        .map_err(Failure::bad_input)?;
    Ok((loaded, t.elapsed()))
}

/// Time one disruption pass over a generated cluster of `--nodes` × `--running-per-node` pods.
fn run_consolidation(args: &BenchArgs) -> Result<String, Failure> {
    let (loaded, _) = generated_cluster(args)?;
    // A fixed "now" a day after the generated nodes' creation: reproducible ages.
    let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(Failure::bad_input)?;
    reset_peak_rss();
    let t = Instant::now();
    let plan = disrupt(&loaded.snapshot, now, &DisruptionOptions::default());
    let elapsed = t.elapsed();
    let mut table = Table::new(&[
        "NODES",
        "PODS",
        "TYPES",
        "PASS",
        "ACTION",
        "NODES OUT",
        "$/H SAVED",
        "PEAK RSS",
    ]);
    let a = plan.actions.first();
    table.row(vec![
        args.nodes.to_string(),
        loaded.snapshot.pods.len().to_string(),
        args.types.to_string(),
        format!("{:.0} ms", elapsed.as_secs_f64() * 1000.0),
        a.map_or("none".into(), |a| {
            format!("{:?} {}", a.method, a.kind.as_str())
        }),
        a.map_or(0, |a| a.nodes.len()).to_string(),
        format!("{:.2}", a.map_or(0.0, |a| a.savings_per_hour)),
        peak_rss_kib().map_or("n/a".into(), |k| format!("{} MiB", k / 1024)),
    ]);
    let mut out = table.render();
    out.push_str("one disruption pass (candidates, budgets, emptiness, drift, multi- then single-node consolidation), one thread\n");
    Ok(out)
}

/// Time the console over a generated cluster: deriving what the views show, and drawing each
/// view into an off-screen 200×50 buffer (terminal output costs the changed cells, whatever the
/// cluster's size).
fn run_render(args: &BenchArgs) -> Result<String, Failure> {
    use crate::control::Supervisor;
    use crate::sim::{Sim, SimConfig};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use crate::ui::app::{App, Msg, View};
    use crate::ui::console::{render_frame, render_text};
    use crate::ui::driver::{Command, Reply, Update};
    use crate::ui::keymap::Keymap;
    use crate::ui::theme::Theme;
    use crate::ui::world::{Interest, World};

    let (loaded, load) = generated_cluster(args)?;
    let config = SimConfig {
        interruption_multiplier: 0.0,
        ..SimConfig::default()
    };
    let sim = Sim::at_scenario_time(loaded.snapshot, config, Vec::new());
    let sup = Supervisor::new(sim, crate::exec::Settings::new(None), false, 1);
    let mut warnings = Vec::new();
    let theme = Theme::load("default", None, &mut warnings);
    let keymap = Keymap::load("default", None, &mut warnings);
    const REFRESHES: u32 = 5;
    let t = Instant::now();
    for _ in 0..REFRESHES {
        std::hint::black_box(World::of(&sup, &Interest::default()));
    }
    let data = t.elapsed() / REFRESHES;
    // The part a live cluster does not pay per refresh: it keeps these totals as pods change.
    let t = Instant::now();
    for _ in 0..REFRESHES {
        std::hint::black_box(crate::model::PodTally::of(sup.cluster().snapshot()));
    }
    let totals = t.elapsed() / REFRESHES;
    let mut app = App::new(sup, "bench".into(), theme, keymap, warnings)
        .map_err(|e| Failure::failed(format!("cannot start the console: {e}")))?;
    let mut table = Table::new(&["VIEW", "FRAME (mean of 50)", "WORST"]);
    for view in View::ALL {
        let mut worst = std::time::Duration::ZERO;
        // Switching views may ask for more data (Pending): that is not a frame.
        let _ = render_text(&mut app, view, 200, 50);
        let t = Instant::now();
        for _ in 0..50 {
            let f = Instant::now();
            let _ = render_frame(&mut app, 200, 50);
            worst = worst.max(f.elapsed());
        }
        table.row(vec![
            view.name().to_string(),
            format!("{:.2} ms", t.elapsed().as_secs_f64() * 1000.0 / 50.0),
            format!("{:.2} ms", worst.as_secs_f64() * 1000.0),
        ]);
    }
    // Keys and frames while the cluster side works through a minute (a disruption pass
    // included): the console takes each key and draws without waiting for it.
    let _ = render_text(&mut app, View::Nodes, 200, 50);
    app.link.send(Command::Advance(60));
    const DONE: u64 = u64::MAX;
    app.link.send(Command::Sync(DONE));
    let t = Instant::now();
    let mut busy_worst = std::time::Duration::ZERO;
    let mut busy_frames = 0u32;
    let down = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE);
    'minute: loop {
        let f = Instant::now();
        app.update(Msg::Key(down));
        let _ = render_frame(&mut app, 200, 50);
        busy_worst = busy_worst.max(f.elapsed());
        busy_frames += 1;
        while let Some(u) = app.link.try_recv() {
            if matches!(u, Update::Reply(Reply::Synced(DONE))) {
                break 'minute;
            }
            app.update(u.into());
        }
    }
    let minute = t.elapsed();
    let mut out = format!(
        "{} nodes, {} pods: load {:.1} s; console data {:.0} ms per refresh (on the cluster thread), of which adding up the pods per node {:.0} ms (a live cluster keeps those totals per watch event); peak RSS {}\n",
        args.nodes,
        app.world.pod_count,
        load.as_secs_f64(),
        data.as_secs_f64() * 1000.0,
        totals.as_secs_f64() * 1000.0,
        peak_rss_kib().map_or("n/a".into(), |k| format!("{} MiB", k / 1024)),
    );
    out.push_str(&format!(
        "while the cluster thread ran one virtual minute ({:.2} s): {busy_frames} keys+frames, worst {:.2} ms\n",
        minute.as_secs_f64(),
        busy_worst.as_secs_f64() * 1000.0
    ));
    out.push_str(&table.render());
    out.push_str(
        "a frame draws one view into a 200x50 buffer (text extraction included), one thread\n",
    );
    app.link.close().map_err(Failure::failed)?;
    Ok(out)
}

/// Run the benchmark and return its report.
pub fn run(args: &BenchArgs) -> Result<String, Failure> {
    if args.live.given() && !args.sync {
        return Err(Failure::bad_input(
            "--kubeconfig and --context go with --sync (the other benchmarks generate their clusters)",
        ));
    }
    if args.sync {
        return run_sync(args);
    }
    if args.render {
        return run_render(args);
    }
    if args.consolidation {
        return run_consolidation(args);
    }
    let catalog = Catalog::embedded();
    let mut table = Table::new(&[
        "PENDING",
        "TYPES",
        "NODES",
        "LOAD",
        "KARPENTER",
        "PODS/S",
        "OPTIMIZED",
        "CLAIMS K/O",
        "$/H K/O",
        "PEAK RSS",
    ]);
    for &pending in &args.pending {
        let options = GenOptions {
            running_per_node: args.running_per_node,
            nodes: args.nodes,
            pending,
            seed: args.seed,
            types: args.types,
            region: args.region.clone(),
        };
        let text = generate(&options, &catalog);
        let t0 = Instant::now();
        let loaded = load_str(
            "bench.yaml",
            &text,
            &LoadOptions::default(),
            catalog.clone(),
        )
        .map_err(Failure::bad_input)?;
        let load = t0.elapsed();
        drop(text);
        reset_peak_rss();
        let t1 = Instant::now();
        let greedy = plan(&loaded.snapshot, Strategy::Karpenter, &Options::default());
        let karpenter = t1.elapsed();
        let t2 = Instant::now();
        let optimized = plan(&loaded.snapshot, Strategy::Optimized, &Options::default());
        let optimizing = t2.elapsed();
        let peak = peak_rss_kib();
        let scheduled = greedy.scheduled_pods();
        table.row(vec![
            pending.to_string(),
            args.types.to_string(),
            args.nodes.to_string(),
            format!("{:.0} ms", load.as_secs_f64() * 1000.0),
            format!("{:.0} ms", karpenter.as_secs_f64() * 1000.0),
            format!(
                "{:.0}",
                scheduled as f64 / karpenter.as_secs_f64().max(1e-9)
            ),
            format!("{:.0} ms", optimizing.as_secs_f64() * 1000.0),
            format!("{}/{}", greedy.nodeclaims.len(), optimized.nodeclaims.len()),
            format!(
                "{:.2}/{:.2}",
                greedy.new_per_hour(),
                optimized.new_per_hour()
            ),
            peak.map_or("n/a".into(), |k| format!("{} MiB", k / 1024)),
        ]);
        tracing::info!(
            pending,
            ms = karpenter.as_millis() as u64,
            "bench size done"
        );
    }
    let mut out = table.render();
    let _ = writeln!(
        out,
        "engine only (scenario generation and loading excluded), one thread; OPTIMIZED includes a full Karpenter pass; PEAK RSS is the process peak while planning"
    );
    Ok(out)
}
