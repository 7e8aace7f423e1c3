//! `karpdeck sim`: run the simulated cluster headless and stream its event stream — with
//! Karpenter in autopilot, or supervised: karpdeck proposes, and runs what is approved.

use std::io::Write;
use std::path::PathBuf;

use chrono::Duration;

use super::{Failure, SimArgs};
use crate::catalog::Catalog;
use crate::control::{first_free_plan, ClusterEvent, Supervisor};
use crate::engine::drain::{drain_plan, DrainOptions};
use crate::exec::action::{Action, Refusal};
use crate::exec::journal;
use crate::exec::Settings;
use crate::scenario::{self, LoadOptions};
use crate::sim::{Sim, SimConfig};

/// The supervised simulation's journal, in the state directory.
pub const SIM_JOURNAL: &str = "sim-journal.jsonl";

/// The simulation and who acts in it.
enum Driver {
    Autopilot(Box<Sim>),
    Supervised(Box<Supervisor<Sim>>),
}

impl Driver {
    fn sim(&self) -> &Sim {
        match self {
            Self::Autopilot(sim) => sim,
            Self::Supervised(s) => s.cluster(),
        }
    }

    async fn step(&mut self) {
        match self {
            Self::Autopilot(sim) => sim.step(),
            Self::Supervised(s) => s.step().await,
        }
    }
}

/// The simulation of a scenario file, or of the compiled-in lab demo (with its HPA load test).
pub(super) fn simulation(
    scenario: Option<&std::path::Path>,
    region: Option<String>,
    config: SimConfig,
) -> Result<Sim, Failure> {
    let options = LoadOptions {
        scales: Vec::new(),
        region,
    };
    match scenario {
        Some(path) => {
            let loaded = scenario::load_file(path, &options, Catalog::embedded())
                .map_err(Failure::bad_input)?;
            Ok(Sim::at_scenario_time(loaded.snapshot, config, Vec::new()))
        }
        None => crate::sim::demo(config, &options).map_err(Failure::bad_input),
    }
}

/// A supervised simulation's journal — `explicit`, else apart from real clusters' journal (its
/// timestamps are virtual) — as earlier runs left it, and the `--file` hint that shows it with
/// `karpdeck journal`.
pub(super) fn sim_journal(
    explicit: Option<PathBuf>,
) -> Result<(Option<PathBuf>, journal::Journal, String), Failure> {
    let path = explicit.or_else(|| crate::logging::state_dir().map(|d| d.join(SIM_JOURNAL)));
    let earlier = match &path {
        Some(p) => journal::read(p).map_err(Failure::bad_input)?,
        None => journal::Journal::default(),
    };
    let hint = path
        .as_ref()
        .map_or(String::new(), |p| format!(" --file {}", p.display()));
    Ok((path, earlier, hint))
}

/// Run the command, writing events to `out` as they happen.
pub fn run(args: &SimArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let config = SimConfig {
        seed: args.seed,
        interruption_multiplier: args.interruptions,
        insufficient_capacity: args.insufficient_capacity,
        autopilot: !args.supervised,
        ..SimConfig::default()
    };
    let sim = simulation(args.scenario.as_deref(), args.region.clone(), config)?;
    let mut driver = if args.supervised {
        Driver::Supervised(Box::new(supervisor(args, sim)?))
    } else {
        Driver::Autopilot(Box::new(sim))
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let played = play(args, &mut driver, out).await;
        // Whatever happened to the output, running plans are closed in the journal.
        if let Driver::Supervised(sup) = &mut driver {
            let printed = sup.cluster().events().len();
            sup.end().await;
            if played.is_ok() {
                print_events(args, &sup.cluster().events()[printed..], out)?;
            }
        }
        played
    })?;
    if args.events_json {
        return Ok(());
    }
    let s = driver.sim().snapshot();
    let pending = s.pods.iter().filter(|p| p.is_pending()).count();
    let mut text = format!(
        "after {}: {} node(s), {} nodeclaim(s), {} pod(s), {pending} pending\n",
        format_duration(args.duration),
        s.nodes.len(),
        s.nodeclaims.len(),
        s.pods.len()
    );
    if let Driver::Supervised(sup) = &driver {
        for x in sup.executors() {
            let a = x.action();
            let (done, total) = x.progress();
            let blocked = x
                .blocked()
                .map(|(why, n)| format!(" — blocked: {why} ({n} attempts)"));
            text.push_str(&format!(
                "plan {} {} {}: {} ({done}/{total} steps){}\n",
                a.id,
                a.kind.as_str(),
                x.state().as_str(),
                a.summary,
                x.report()
                    .map(|r| format!(" — {r}"))
                    .or(blocked)
                    .unwrap_or_default()
            ));
        }
    }
    write(out, &text)
}

fn write(out: &mut dyn Write, text: &str) -> Result<(), Failure> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Failure::output)
}

/// Step the simulation second by second, printing each second's events, paced by `--speed`.
async fn play(args: &SimArgs, driver: &mut Driver, out: &mut dyn Write) -> Result<(), Failure> {
    let pace = args
        .speed
        .map(|x| std::time::Duration::from_secs_f64(1.0 / x));
    let end = driver.sim().now() + args.duration;
    let mut printed = 0;
    loop {
        let events = &driver.sim().events()[printed..];
        print_events(args, events, out)?;
        printed += events.len();
        if driver.sim().now() >= end {
            return Ok(());
        }
        driver.step().await;
        if let Some(pace) = pace {
            tokio::time::sleep(pace).await;
        }
    }
}

/// Print events as lines (or JSON lines).
fn print_events(
    args: &SimArgs,
    events: &[ClusterEvent],
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let mut text = String::new();
    for e in events {
        if args.events_json {
            text.push_str(&serde_json::to_string(e).map_err(Failure::bad_input)?);
        } else {
            text.push_str(&e.line());
        }
        text.push('\n');
    }
    write(out, &text)
}

/// The supervised driver: its journal (plans left unfinished by an earlier run are reported,
/// never re-run) and the operator's drains from `--drain`.
fn supervisor(args: &SimArgs, sim: Sim) -> Result<Supervisor<Sim>, Failure> {
    let (path, earlier, file) = sim_journal(args.journal.clone())?;
    for u in earlier.unfinished() {
        eprintln!(
            "karpdeck: warning: plan {} was {} when karpdeck stopped; it will not be re-run (see `karpdeck journal{file}`)",
            u.label(),
            u.last.step.as_deref().map_or("approved".to_string(), |s| format!("at \"{s}\""))
        );
    }
    let settings = Settings {
        approve_interruptions: args.approve_interruptions,
        ..Settings::new(path)
    };
    let mut sup = Supervisor::new(sim, settings, args.approve_all, first_free_plan(&earlier));
    let options = DrainOptions {
        ignore_daemonsets: true,
        delete_emptydir_data: true,
        force: false,
        disable_eviction: args.disable_eviction,
    };
    for node in &args.drains {
        let node = node.clone();
        sup.submit(move |id, snapshot| {
            let i = snapshot
                .nodes
                .iter()
                .position(|n| n.name == node)
                .ok_or_else(|| Refusal(format!("--drain {node}: no such node")))?;
            Action::drain(
                id,
                snapshot,
                &drain_plan(snapshot, &[i], &options),
                &options,
            )
        })
        .map_err(Failure::bad_input)?;
    }
    Ok(sup)
}

/// Parse a positive finite speed.
pub fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

/// Parse a non-negative finite multiplier.
pub fn parse_multiplier(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a non-negative number")),
    }
}

/// Parse a probability in [0, 1].
pub fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

/// The longest simulation: a week of virtual time.
const MAX_SECONDS: i64 = 7 * 24 * 3600;

/// Parse `90s`, `30m`, `2h`, `1h30m` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (use e.g. 90s, 30m, 1h30m)");
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = s.parse::<i64>() {
        return (0..=MAX_SECONDS)
            .contains(&n)
            .then(|| Duration::seconds(n))
            .ok_or_else(bad);
    }
    let mut total = 0i64;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
        let n: i64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total > MAX_SECONDS {
        return Err(bad());
    }
    Ok(Duration::seconds(total))
}

fn format_duration(d: Duration) -> String {
    let s = d.num_seconds();
    format!("{}m{:02}s", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Ok(Duration::minutes(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("45"), Ok(Duration::seconds(45)));
        for bad in [
            "",
            "m",
            "3x",
            "10m5",
            "-5",
            "9999h",
            "99999999",
            "9223372036854775807",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_probability("0.25"), Ok(0.25));
        assert!(parse_probability("1.5").is_err() && parse_probability("NaN").is_err());
        assert_eq!(parse_multiplier("2000"), Ok(2000.0));
        assert!(parse_multiplier("-1").is_err() && parse_multiplier("inf").is_err());
        assert_eq!(parse_speed("60"), Ok(60.0));
        for bad in ["0", "-2", "inf", "fast"] {
            assert!(parse_speed(bad).is_err(), "{bad}");
        }
    }
}
