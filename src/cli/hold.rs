//! `karpdeck supervise`, `release`, `freeze` and `unfreeze`: karpdeck's holds on a live
//! cluster's NodePools, through the same workflow as the console's actions — previewed (and
//! only previewed without `--yes`), checked against the user's permissions, approved, run and
//! journaled.

use std::io::Write;
use std::time::{Duration, Instant};

use super::cluster::live_failure;
use super::{Failure, HoldArgs};
use crate::catalog::Catalog;
use crate::control::{first_free_plan, Cluster, EventKind, Supervisor};
use crate::exec::action::NOTHING_TO_DO;
use crate::exec::executor::{holder, local_user};
use crate::exec::journal::Outcome;
use crate::exec::{journal, Action, Settings, State};
use crate::kube::cluster::LiveCluster;
use crate::model::HoldKind;

/// How long the cluster may take to list before the command gives up.
const SYNC: Duration = Duration::from_secs(60);

/// How long the changes may take (each is one read and one patch per NodePool).
const RUN: Duration = Duration::from_secs(60);

/// Take (`take`) or release the hold of `kind` on the pools `args` names (every NodePool when
/// it names none).
pub fn run(
    args: &HoldArgs,
    kind: HoldKind,
    take: bool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let cluster =
        LiveCluster::open(&args.live.target(), Catalog::embedded()).map_err(live_failure)?;
    let journal_path = journal::default_path();
    let earlier = match &journal_path {
        Some(p) => journal::read(p).map_err(Failure::bad_input)?,
        None => journal::Journal::default(),
    };
    let settings = Settings {
        journal: journal_path,
        ..Settings::new(None)
    };
    let mut sup = Supervisor::observing(cluster, settings, first_free_plan(&earlier));
    let started = Instant::now();
    while !sup.cluster().synced() {
        if started.elapsed() > SYNC {
            return Err(Failure::failed(format!(
                "context {}: not synced after {} s: still waiting for {}",
                sup.cluster().context(),
                SYNC.as_secs(),
                super::console::waiting_for(&sup.cluster().sources())
            )));
        }
        sup.refresh();
        std::thread::sleep(Duration::from_millis(50));
    }
    let pools = args.pools.clone();
    let by = holder(&local_user());
    let id = match sup.submit(move |id, s| Action::hold(id, s, kind, take, &pools, &by)) {
        Ok(id) => id,
        Err(why) if why.0.starts_with(NOTHING_TO_DO) => {
            return writeln!(out, "{why}").map_err(Failure::output);
        }
        Err(why) => return Err(Failure::failed(why)),
    };
    let action = sup
        .executor(&id)
        .map(|x| x.action().clone())
        .ok_or_else(|| Failure::failed(format!("plan {id} was not kept")))?;
    let mut text = format!(
        "plan {id} {} on context {}: {}\n",
        action.kind.as_str(),
        sup.cluster().context(),
        action.summary
    );
    for line in &action.preview {
        text.push_str(&format!("  {line}\n"));
    }
    if !args.yes {
        text.push_str("nothing changed: run again with --yes to approve\n");
        return out.write_all(text.as_bytes()).map_err(Failure::output);
    }
    out.write_all(text.as_bytes()).map_err(Failure::output)?;
    sup.approve(&id).map_err(Failure::failed)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the runtime: {e}")))?;
    let started = Instant::now();
    let mut shown = sup.cluster().events().len();
    loop {
        sup.refresh();
        rt.block_on(sup.tick());
        // The workflow's reports of this plan: each step with what it changed.
        let events = sup.cluster().events();
        for e in events[shown.min(events.len())..]
            .iter()
            .filter(|e| e.kind == EventKind::PlanStep && e.objects.contains(&id))
            .filter(|e| !e.message.contains(Outcome::StepStarted.as_str()))
        {
            writeln!(out, "  {}", e.message).map_err(Failure::output)?;
        }
        shown = events.len();
        let x = sup
            .executor(&id)
            .ok_or_else(|| Failure::failed(format!("plan {id} was not kept")))?;
        if x.state().is_final() {
            return match x.state() {
                State::Done => writeln!(out, "plan {id} done").map_err(Failure::output),
                state => Err(Failure::failed(format!(
                    "plan {id} {}: {}",
                    state.as_str(),
                    x.report().unwrap_or("no report")
                ))),
            };
        }
        if started.elapsed() > RUN {
            return Err(Failure::failed(format!(
                "plan {id} still {} after {} s (the journal has how far it got)",
                x.state().as_str(),
                RUN.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
