//! The command line: `karpdeck catalog`, `inspect`, `plan`.

mod audit;
mod bench;
mod catalog;
mod cluster;
mod console;
mod demo;
mod drain;
mod dump;
mod hold;
mod inspect;
mod journal;
mod plan;
mod sim;
mod table;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use chrono::{DateTime, Utc};

use crate::catalog::Arch;
use crate::engine::plan::Strategy;
use crate::engine::whatif::WhatIf;
use crate::model::{HoldKind, Quantity};
use crate::scenario::ScaleSpec;
pub use cluster::{ClusterArgs, LiveArgs};

/// Exit status for malformed input (files, flags).
pub const EXIT_BAD_INPUT: i32 = 2;
/// Exit status for other failures (writing output).
pub const EXIT_FAILURE: i32 = 1;

/// karpdeck: an operations console for Kubernetes node fleets on EC2 running Karpenter.
#[derive(Debug, Parser)]
#[command(name = "karpdeck", version, about)]
pub struct Cli {
    /// Log file (default: $XDG_STATE_HOME/karpdeck/karpdeck.log); level from KARPDECK_LOG.
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// The live cluster for the console, when no command is given.
    #[command(flatten)]
    pub live: LiveArgs,
    /// The console without a command: refuse every approval (nothing is changed on the
    /// cluster).
    #[arg(long)]
    pub read_only: bool,
    /// What to do (none: the console on the live cluster).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List EC2 instance types from the embedded catalog, filtered like ec2-instance-selector.
    Catalog(CatalogArgs),
    /// Show what a cluster (a scenario file or a live one) contains: nodes, pending pods,
    /// NodePools, warnings.
    Inspect(InspectArgs),
    /// Plan for a cluster (a scenario file or a live one): where pending pods go, new NodeClaims, why pods stay pending, and
    /// Karpenter's next disruption pass with a verdict per node; what-ifs and interruptions.
    Plan(PlanArgs),
    /// Show what draining nodes would do (kubectl's rules, PDBs, where pods land); changes nothing.
    Drain(DrainArgs),
    /// Check a cluster (a scenario file or a live one) against the EKS Karpenter best practices.
    Audit(AuditArgs),
    /// Write a synthetic scenario shaped like Karpenter's scheduling benchmark.
    Gen(GenArgs),
    /// Time the planning engine on generated scenarios.
    Bench(BenchArgs),
    /// Run the simulated cluster (default: the lab demo) on a virtual clock and print its events.
    Sim(SimArgs),
    /// Show the journal of approved actions and report plans left unfinished.
    Journal(JournalArgs),
    /// Open the console on the simulated lab cluster: karpdeck proposes, you approve.
    Demo(DemoArgs),
    /// Write the live cluster as a scenario file (what `--scenario` reads back).
    Dump(DumpArgs),
    /// Open the console on a live cluster (the kubeconfig's current context, or --context):
    /// karpdeck observes, showing what Karpenter will do next.
    Console(ConsoleArgs),
    /// Take NodePools from Karpenter: limits pinned to their usage and disruption budgets at
    /// zero, so that karpdeck proposes there instead (previewed; --yes approves).
    Supervise(PoolHoldArgs),
    /// Give supervised NodePools back to Karpenter, their limits and budgets as they were
    /// (also what a killed karpdeck supervised).
    Release(PoolHoldArgs),
    /// Stop Karpenter's voluntary disruption on every NodePool at once (budgets zero), the
    /// incident freeze (previewed; --yes approves).
    Freeze(HoldArgs),
    /// Lift the freeze: every NodePool's budgets as they were.
    Unfreeze(HoldArgs),
}

/// `karpdeck freeze` / `unfreeze` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HoldArgs {
    /// The live cluster.
    #[command(flatten)]
    pub live: LiveArgs,
    /// Approve the change previewed (without it nothing is changed).
    #[arg(long)]
    pub yes: bool,
    /// The NodePools (none: every NodePool).
    #[arg(skip)]
    pub pools: Vec<String>,
}

/// `karpdeck supervise` / `release` options.
#[derive(Debug, Clone, clap::Args)]
pub struct PoolHoldArgs {
    /// The NodePools.
    #[arg(required = true, value_name = "NODEPOOL")]
    pub pools: Vec<String>,
    /// The live cluster.
    #[command(flatten)]
    pub live: LiveArgs,
    /// Approve the change previewed (without it nothing is changed).
    #[arg(long)]
    pub yes: bool,
}

impl PoolHoldArgs {
    fn hold(&self) -> HoldArgs {
        HoldArgs {
            live: self.live.clone(),
            yes: self.yes,
            pools: self.pools.clone(),
        }
    }
}

/// `karpdeck console` options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConsoleArgs {
    /// The live cluster.
    #[command(flatten)]
    pub live: LiveArgs,
    /// Theme: default, light, high-contrast (default: config.toml's, else default).
    #[arg(long)]
    pub theme: Option<String>,
    /// Keymap: default, emacs (default: config.toml's, else default).
    #[arg(long)]
    pub keymap: Option<String>,
    /// Refuse every approval: karpdeck observes and previews, and changes nothing.
    #[arg(long)]
    pub read_only: bool,

    /// Render one frame of VIEW to stdout once every source has synced, and exit (nodes,
    /// pending, nodepools, tree, spot, plans, journal).
    #[arg(long, value_name = "VIEW")]
    pub snapshot: Option<String>,
    /// With --snapshot: columns.
    #[arg(long, default_value_t = 120)]
    pub width: u16,
    /// With --snapshot: rows.
    #[arg(long, default_value_t = 36)]
    pub height: u16,
}

/// `karpdeck dump` options.
#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// The live cluster.
    #[command(flatten)]
    pub live: LiveArgs,
}

/// `karpdeck journal` options.
#[derive(Debug, clap::Args)]
pub struct JournalArgs {
    /// Journal file (default: $XDG_STATE_HOME/karpdeck/journal.jsonl).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Record that an unfinished plan will not be resumed (nothing is re-run or undone).
    #[arg(long, value_name = "PLAN")]
    pub abandon: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `karpdeck sim` options.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Scenario file (default: the compiled-in lab demo, with its HPA load test).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Virtual time to simulate (90s, 30m, 1h30m).
    #[arg(long, default_value = "30m", value_parser = sim::parse_duration)]
    pub duration: chrono::Duration,
    /// Karpenter executes its own plans, as the real one does (the default).
    #[arg(long, conflicts_with = "supervised")]
    pub autopilot: bool,
    /// Karpenter is paused: karpdeck proposes each move and runs only what is approved.
    #[arg(long)]
    pub supervised: bool,
    /// With --supervised: approve every proposal as it is made (each approval is journaled).
    #[arg(long, requires = "supervised")]
    pub approve_all: bool,
    /// With --supervised: interruption responses wait for approval like any proposal (by
    /// default they run at once by standing policy).
    #[arg(long, requires = "supervised")]
    pub approve_interruptions: bool,
    /// With --supervised: propose draining NODE at the start; repeatable.
    #[arg(long = "drain", value_name = "NODE", requires = "supervised")]
    pub drains: Vec<String>,
    /// With --drain: delete pods instead of evicting them, bypassing PodDisruptionBudgets.
    #[arg(long, requires = "supervised")]
    pub disable_eviction: bool,
    /// Journal file for supervised runs (default: $XDG_STATE_HOME/karpdeck/sim-journal.jsonl).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Virtual seconds per wall-clock second (default: as fast as it runs).
    #[arg(long, value_name = "X", value_parser = sim::parse_speed)]
    pub speed: Option<f64>,
    /// Seed for interruptions and capacity errors.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Spot interruption rate as a multiple of the Spot advisor's buckets (0: none).
    #[arg(long, value_name = "X", default_value_t = 1.0, value_parser = sim::parse_multiplier)]
    pub interruptions: f64,
    /// Probability that an offering is out of capacity when a launch tries it.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = sim::parse_probability)]
    pub insufficient_capacity: f64,
    /// Region, when the scenario's nodes do not say.
    #[arg(long)]
    pub region: Option<String>,
    /// Print events as JSON lines.
    #[arg(long)]
    pub events_json: bool,
}

/// `karpdeck demo` options.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Scenario file (default: the compiled-in lab demo, with its HPA load test).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Seed for interruptions and capacity errors.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Spot interruption rate as a multiple of the advisor's buckets (the demo's default makes a
    /// few visible in half an hour).
    #[arg(long, value_name = "X", default_value_t = 10_000.0, value_parser = sim::parse_multiplier)]
    pub interruptions: f64,
    /// Probability that an offering is out of capacity when a launch tries it.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = sim::parse_probability)]
    pub insufficient_capacity: f64,
    /// Theme: default, light, high-contrast (default: config.toml's, else default).
    #[arg(long)]
    pub theme: Option<String>,
    /// Keymap: default, emacs (default: config.toml's, else default).
    #[arg(long)]
    pub keymap: Option<String>,
    /// Refuse every approval.
    #[arg(long)]
    pub read_only: bool,
    /// Interruption responses wait for approval like any proposal (by default they run at
    /// once by standing policy: the notice leaves no time to ask).
    #[arg(long)]
    pub approve_interruptions: bool,
    /// Observe instead of supervise: the simulated Karpenter acts on its own, and karpdeck
    /// predicts each of its moves and matches what it does against them (Plans view).
    #[arg(long)]
    pub observe: bool,
    /// Journal file (default: $XDG_STATE_HOME/karpdeck/sim-journal.jsonl).
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Virtual seconds per wall-clock second (default 5; + and - change it).
    #[arg(long, value_name = "X", value_parser = sim::parse_speed)]
    pub speed: Option<f64>,
    /// Render one frame of VIEW to stdout and exit (nodes, pending, nodepools, tree, spot,
    /// plans, journal).
    #[arg(long, value_name = "VIEW")]
    pub snapshot: Option<String>,
    /// With --snapshot: virtual time to run first (e.g. 4m).
    #[arg(long, default_value = "0s", value_parser = sim::parse_duration)]
    pub at: chrono::Duration,
    /// With --snapshot: columns.
    #[arg(long, default_value_t = 120)]
    pub width: u16,
    /// With --snapshot: rows.
    #[arg(long, default_value_t = 36)]
    pub height: u16,
}

/// `karpdeck drain` options.
#[derive(Debug, clap::Args)]
pub struct DrainArgs {
    /// The cluster: a scenario file or a live one.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Nodes to drain, in order.
    #[arg(required = true, value_name = "NODE")]
    pub nodes: Vec<String>,
    /// Change a workload's replicas first (NAMESPACE/NAME=N); repeatable.
    #[arg(long = "scale", value_name = "NS/NAME=N", value_parser = parse_scale)]
    pub scales: Vec<ScaleSpec>,
    /// Region, when the scenario's nodes do not say.
    #[arg(long)]
    pub region: Option<String>,
    /// Skip DaemonSet-managed pods.
    #[arg(long)]
    pub ignore_daemonsets: bool,
    /// Evict pods with emptyDir volumes (their data is lost).
    #[arg(long)]
    pub delete_emptydir_data: bool,
    /// Delete pods that declare no controller (they are not recreated).
    #[arg(long)]
    pub force: bool,
    /// Delete instead of evict, bypassing PodDisruptionBudgets.
    #[arg(long)]
    pub disable_eviction: bool,
    /// Accepted for kubectl parity: `karpdeck drain` only previews, on a file or a live cluster.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `karpdeck audit` options.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// The cluster: a scenario file or a live one.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Region, when the scenario's nodes do not say.
    #[arg(long)]
    pub region: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `karpdeck gen` options.
#[derive(Debug, clap::Args)]
pub struct GenArgs {
    /// Existing nodes.
    #[arg(long, default_value_t = 0)]
    pub nodes: usize,
    /// Running pods on each existing node.
    #[arg(long, default_value_t = 1)]
    pub running_per_node: usize,
    /// Pending pods.
    #[arg(long)]
    pub pending: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Instance types the main NodePool may use (0: all amd64 types offered).
    #[arg(long, default_value_t = 400)]
    pub types: usize,
    /// Region.
    #[arg(long, default_value = crate::scenario::DEFAULT_REGION)]
    pub region: String,
}

/// `karpdeck bench` options.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Pending-pod counts to run, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,20000")]
    pub pending: Vec<usize>,
    /// Instance types the main NodePool may use.
    #[arg(long, default_value_t = 400)]
    pub types: usize,
    /// Existing nodes.
    #[arg(long, default_value_t = 0)]
    pub nodes: usize,
    /// Running pods on each existing node.
    #[arg(long, default_value_t = 1)]
    pub running_per_node: usize,
    /// Time the disruption pass (consolidation) instead of provisioning; sizes come from
    /// --nodes and --running-per-node.
    #[arg(long)]
    pub consolidation: bool,
    /// Time the console instead: refreshing its data and drawing each view, for a cluster of
    /// --nodes × --running-per-node pods.
    #[arg(long, conflicts_with = "consolidation")]
    pub render: bool,
    /// Time reading a live cluster instead: connect, list and watch every source until synced;
    /// sync time, resident memory, bytes per pod (with --kubeconfig/--context).
    #[arg(long, conflicts_with_all = ["consolidation", "render"])]
    pub sync: bool,
    /// With --sync: the live cluster.
    #[command(flatten)]
    pub live: LiveArgs,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Region.
    #[arg(long, default_value = crate::scenario::DEFAULT_REGION)]
    pub region: String,
}

/// `karpdeck catalog` options.
#[derive(Debug, clap::Args)]
pub struct CatalogArgs {
    /// Region whose offerings and prices to show.
    #[arg(long, default_value = crate::scenario::DEFAULT_REGION)]
    pub region: String,
    /// Architecture: amd64 (x86_64) or arm64.
    #[arg(long, value_parser = parse_arch)]
    pub arch: Option<Arch>,
    /// At least this many vCPUs.
    #[arg(long, value_name = "N")]
    pub min_vcpus: Option<u32>,
    /// At least this much memory, as a quantity (8Gi, 16G, 16384Mi).
    #[arg(long, value_name = "QUANTITY", value_parser = parse_memory)]
    pub min_memory: Option<i64>,
    /// Only types with GPUs.
    #[arg(long)]
    pub gpu: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `karpdeck inspect` options.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The cluster: a scenario file or a live one.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Change a workload's replicas before inspecting (NAMESPACE/NAME=N); repeatable.
    #[arg(long = "scale", value_name = "NS/NAME=N", value_parser = parse_scale)]
    pub scales: Vec<ScaleSpec>,
    /// Region, when the scenario's nodes do not say.
    #[arg(long)]
    pub region: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `karpdeck plan` options.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The cluster: a scenario file or a live one.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Change a workload's replicas before planning (NAMESPACE/NAME=N); repeatable.
    #[arg(long = "scale", value_name = "NS/NAME=N", value_parser = parse_scale)]
    pub scales: Vec<ScaleSpec>,
    /// karpenter (what Karpenter would launch) or optimized (karpdeck's cheaper packing).
    #[arg(long, default_value = "karpenter", value_parser = parse_strategy)]
    pub strategy: Strategy,
    /// Region, when the scenario's nodes do not say.
    #[arg(long)]
    pub region: Option<String>,
    /// The time to plan at (RFC 3339), for node ages, consolidateAfter, expireAfter and budget
    /// schedules; default: now.
    #[arg(long, value_parser = parse_time)]
    pub now: Option<DateTime<Utc>>,
    /// Allow spot-to-spot consolidation (Karpenter's SpotToSpotConsolidation feature gate).
    #[arg(long)]
    pub spot_to_spot: bool,
    /// What if this zone went dark (its nodes and offerings gone)? Repeatable.
    #[arg(long, value_name = "ZONE")]
    pub lose_zone: Vec<String>,
    /// What if this offering ran out (TYPE:ZONE:CAPACITY_TYPE; its nodes interrupted)? Repeatable.
    #[arg(long, value_name = "TYPE:ZONE:CT", value_parser = WhatIf::parse_offering)]
    pub lose_offering: Vec<WhatIf>,
    /// What if a whole capacity type went (spot or on-demand)?
    #[arg(long, value_name = "CT", value_parser = WhatIf::parse_capacity_type)]
    pub lose_capacity_type: Vec<WhatIf>,
    /// What if a NodePool limit changed (POOL:RESOURCE=QUANTITY, e.g. default:cpu=100)? Repeatable.
    #[arg(long, value_name = "POOL:RES=Q", value_parser = WhatIf::parse_limit)]
    pub set_limit: Vec<WhatIf>,
    /// Show Karpenter's response to a Spot interruption warning for this node, now.
    #[arg(long, value_name = "NODE")]
    pub interrupt: Vec<String>,
    /// Show Karpenter's response to an EventBridge interruption event (JSON file).
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// Print plan JSON (field names as in DESIGN.md).
    #[arg(long)]
    pub json: bool,
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    s.parse()
}

fn parse_arch(s: &str) -> Result<Arch, String> {
    Arch::parse(s).ok_or_else(|| format!("unknown architecture {s:?} (use amd64 or arm64)"))
}

fn parse_memory(s: &str) -> Result<i64, String> {
    let q = Quantity::parse(s).map_err(|e| e.to_string())?;
    if q.is_negative() {
        return Err("must not be negative".into());
    }
    Ok(q.units_ceil())
}

fn parse_scale(s: &str) -> Result<ScaleSpec, String> {
    s.parse::<ScaleSpec>().map_err(|e| match e {
        crate::scenario::ScenarioError::Scale { message, .. } => message,
        other => other.to_string(),
    })
}

/// A failed command: what to print and the exit status.
#[derive(Debug)]
pub struct Failure {
    /// Exit status.
    pub code: i32,
    /// One line for stderr.
    pub message: String,
}

impl Failure {
    /// Output that could not be written. A closed pipe (`| head`) is no error: the reader has
    /// what it wanted.
    pub fn output(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Self {
                code: 0,
                message: String::new(),
            };
        }
        Self {
            code: EXIT_FAILURE,
            message: format!("cannot write output: {e}"),
        }
    }

    /// Anything else that went wrong (exit 1).
    pub fn failed(message: impl ToString) -> Self {
        Self {
            code: EXIT_FAILURE,
            message: message.to_string(),
        }
    }

    /// Malformed input.
    pub fn bad_input(message: impl ToString) -> Self {
        Self {
            code: EXIT_BAD_INPUT,
            message: message.to_string(),
        }
    }
}

/// Run a parsed command line, writing results to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), Failure> {
    crate::logging::init(cli.log_file.as_deref());
    let Some(command) = cli.command else {
        let args = ConsoleArgs {
            live: cli.live,
            read_only: cli.read_only,
            ..ConsoleArgs::default()
        };
        return console::run(&args, out);
    };
    if cli.live.given() || cli.read_only {
        // Before a command they would silently not apply to it: the wrong cluster is worse
        // than an error.
        return Err(Failure::bad_input(
            "--kubeconfig, --context and --read-only go after the command (karpdeck plan --context C), or alone for the console",
        ));
    }
    let text = match command {
        Command::Catalog(args) => catalog::run(&args)?,
        Command::Inspect(args) => inspect::run(&args)?,
        Command::Plan(args) => plan::run(&args)?,
        Command::Drain(args) => drain::run(&args)?,
        Command::Audit(args) => audit::run(&args)?,
        Command::Gen(args) => {
            let catalog = crate::catalog::Catalog::embedded();
            if catalog.region(&args.region).is_none() {
                return Err(Failure::bad_input(format!(
                    "--region {}: not in the embedded catalog",
                    args.region
                )));
            }
            crate::scenario::generate::generate(
                &crate::scenario::generate::GenOptions {
                    nodes: args.nodes,
                    running_per_node: args.running_per_node,
                    pending: args.pending,
                    seed: args.seed,
                    types: args.types,
                    region: args.region.clone(),
                },
                &catalog,
            )
        }
        Command::Bench(args) => bench::run(&args)?,
        Command::Sim(args) => return sim::run(&args, out),
        Command::Demo(args) => return demo::run(&args, out),
        Command::Console(args) => return console::run(&args, out),
        Command::Supervise(args) => return hold::run(&args.hold(), HoldKind::Supervise, true, out),
        Command::Release(args) => return hold::run(&args.hold(), HoldKind::Supervise, false, out),
        Command::Freeze(args) => return hold::run(&args, HoldKind::Freeze, true, out),
        Command::Unfreeze(args) => return hold::run(&args, HoldKind::Freeze, false, out),
        Command::Journal(args) => journal::run(&args)?,
        Command::Dump(args) => dump::run(&args)?,
    };
    out.write_all(text.as_bytes()).map_err(Failure::output)
}

/// Entry point for the binary: parse `std::env::args`, run, print a one-line error on failure.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; usage errors exit 2, as clap's own do.
            let _ = e.print();
            return e.exit_code();
        }
    };
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    match run(cli, &mut lock) {
        Ok(()) => 0,
        Err(f) if f.message.is_empty() => f.code,
        Err(f) => {
            tracing::error!(message = %f.message, "command failed");
            eprintln!("karpdeck: error: {}", f.message);
            f.code
        }
    }
}
