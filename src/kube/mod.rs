//! A live cluster through the Kubernetes API: kubeconfig and contexts as kubectl finds them,
//! discovery of what the server serves, one watcher per source feeding a store of slim objects
//! (converted by [`crate::k8s`], the scenario loader's converter), and a one-shot read for the
//! headless commands.

pub mod access;
pub mod act;
pub mod backoff;
pub mod claim;
pub mod cluster;
pub mod connect;
pub mod dump;
pub mod lever;
pub mod raw;
pub mod sources;
pub mod store;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use crate::catalog::Catalog;
use crate::control::SourceState;
use crate::scenario::{self, LoadOptions, Loaded, ScenarioError, Warning};

pub use connect::{ConnectError, Connection, Contexts, Target};
pub use sources::{Source, SourceKind};
pub use store::{Change, SourceStatus, Store};
pub use watch::Watching;

/// How long a one-shot read waits for every source's first list.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(120);

/// What a cluster without Karpenter's CRDs is told: normal, not an error.
pub const NO_KARPENTER: &str = "no Karpenter: the server has no karpenter.sh NodePools or Provisioners (plans show what Karpenter would do were it installed)";

/// Why a live cluster could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// No client could be made (kubeconfig, context).
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The API answered with an error, or not at all.
    #[error("context {context}: {what}: {message}")]
    Api {
        /// The context.
        context: String,
        /// What was being done.
        what: String,
        /// The error, on one line.
        message: String,
    },
    /// Not every source had listed in time.
    #[error("context {context}: not synced after {seconds} s: still listing {sources}")]
    Timeout {
        /// The context.
        context: String,
        /// How long it waited.
        seconds: u64,
        /// The sources still listing.
        sources: String,
    },
    /// `--scale` named nothing, or similar.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

impl LiveError {
    /// Whether the operator's input is at fault (kubeconfig, context, `--scale`), not the cluster.
    pub fn is_bad_input(&self) -> bool {
        // Too many replicas to invent is the cluster's state, not the operator's input.
        matches!(
            self,
            LiveError::Connect(_) | LiveError::Scenario(ScenarioError::Scale { .. })
        )
    }
}

/// How long the API server may take to answer discovery (kube-client sets no read timeout:
/// a server that accepts connections and never answers would otherwise hang karpdeck).
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// A tokio runtime for the live side of a command.
pub fn runtime() -> Result<tokio::runtime::Runtime, LiveError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("karpdeck-kube")
        .enable_all()
        .build()
        .map_err(|e| LiveError::Api {
            context: String::new(),
            what: "cannot start the runtime".into(),
            message: e.to_string(),
        })
}

/// The sources the server serves, or why it could not say within [`DISCOVERY_TIMEOUT`].
pub async fn discover(conn: &Connection) -> Result<Vec<Source>, LiveError> {
    let error = |message: String| LiveError::Api {
        context: conn.context.clone(),
        what: format!("discovering the API of {}", conn.server),
        message,
    };
    match tokio::time::timeout(DISCOVERY_TIMEOUT, sources::discover(&conn.client)).await {
        Ok(Ok(sources)) => Ok(sources),
        Ok(Err(e)) => Err(error(connect::error_text(&e))),
        Err(_) => Err(error(format!(
            "no answer within {} s",
            DISCOVERY_TIMEOUT.as_secs()
        ))),
    }
}

/// Connect to the cluster `target` names.
pub async fn connect(target: &Target) -> Result<Connection, LiveError> {
    let contexts = Contexts::read(target)?;
    let context = contexts.resolve(target.context.as_deref())?;
    Ok(contexts.connect(&context).await?)
}

/// Read the cluster once, through the same watchers the console uses, and finish it as a
/// scenario file is finished (`--scale`, missing replicas, PDB links, region).
pub fn load(
    target: &Target,
    options: &LoadOptions,
    catalog: Arc<Catalog>,
) -> Result<Loaded, LiveError> {
    let rt = runtime()?;
    rt.block_on(async {
        let conn = connect(target).await?;
        let mut watching = sync(&conn, SYNC_TIMEOUT, catalog).await?;
        let store = &mut watching.store;
        let location = format!("context {}", conn.context);
        let mut warnings: Vec<Warning> = store
            .refused()
            .into_iter()
            .map(|message| Warning {
                location: location.clone(),
                message: format!("skipped: {message}"),
            })
            .collect();
        for s in store.statuses().filter(|s| !s.synced_once) {
            if let SourceState::Reconnecting { error, .. } = &s.state {
                warnings.push(Warning {
                    location: location.clone(),
                    message: format!("cannot read the {}: {error}", s.kind.name()),
                });
            }
        }
        if !store.has_karpenter() {
            warnings.push(Warning {
                location: location.clone(),
                message: NO_KARPENTER.to_string(),
            });
        }
        Ok(scenario::finish(
            store.take_snapshot(),
            warnings,
            options,
            &location,
        )?)
    })
}

/// Discover the sources, start their watchers and wait until each has listed once. A source
/// whose first list fails ends the wait with that error (a one-shot read has nothing to show
/// meanwhile); later failures are the watchers' to retry.
pub async fn sync(
    conn: &Connection,
    timeout: Duration,
    catalog: Arc<Catalog>,
) -> Result<Watching, LiveError> {
    let sources = discover(conn).await?;
    let mut watching = Watching::start(conn, sources, catalog);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let store = &watching.store;
        if store.synced() {
            return Ok(watching);
        }
        let failed = store.statuses().find_map(|s| match &s.state {
            // Retrying cures the rest: the wait goes on until the deadline.
            SourceState::Reconnecting { error, .. }
                if !s.synced_once && s.permanent && !s.kind.optional() =>
            {
                Some((s.kind, error.clone()))
            }
            _ => None,
        });
        if let Some((kind, error)) = failed {
            return Err(LiveError::Api {
                context: conn.context.clone(),
                what: format!("cannot list {}", kind.name()),
                message: error,
            });
        }
        match tokio::time::timeout_at(deadline, watching.next()).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(LiveError::Api {
                    context: conn.context.clone(),
                    what: "watching".into(),
                    message: "every watcher stopped".into(),
                })
            }
            Err(_) => {
                let sources: Vec<&str> = watching
                    .store
                    .statuses()
                    .filter(|s| !s.synced_once)
                    .map(|s| s.kind.name())
                    .collect();
                return Err(LiveError::Timeout {
                    context: conn.context.clone(),
                    seconds: timeout.as_secs(),
                    sources: sources.join(", "),
                });
            }
        }
    }
}
