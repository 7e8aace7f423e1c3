//! Which cluster a headless command reads: a scenario file, or a live cluster through its
//! kubeconfig. The one place the commands choose between them.

use std::path::PathBuf;

use super::Failure;
use crate::catalog::Catalog;
use crate::kube::{self, LiveError, Target};
use crate::scenario::{self, LoadOptions, Loaded};

/// `--kubeconfig FILE` and `--context NAME`: a live cluster, found as kubectl finds it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LiveArgs {
    /// Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl LiveArgs {
    /// The live cluster these flags name.
    pub fn target(&self) -> Target {
        Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }

    /// Whether either flag was given.
    pub fn given(&self) -> bool {
        self.kubeconfig.is_some() || self.context.is_some()
    }
}

/// `--scenario FILE`, or `--kubeconfig FILE` / `--context NAME` for a live cluster.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    /// Scenario file (kubectl `-o yaml` List output or multi-document YAML); without it, the
    /// live cluster of the kubeconfig's context.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kubeconfig", "context"])]
    pub scenario: Option<PathBuf>,
    /// The live cluster, when there is no scenario file.
    #[command(flatten)]
    pub live: LiveArgs,
}

impl ClusterArgs {
    /// Read the cluster: the scenario file, or the live cluster once it has synced.
    pub fn load(&self, options: &LoadOptions) -> Result<Loaded, Failure> {
        match &self.scenario {
            Some(file) => {
                scenario::load_file(file, options, Catalog::embedded()).map_err(Failure::bad_input)
            }
            None => {
                kube::load(&self.live.target(), options, Catalog::embedded()).map_err(live_failure)
            }
        }
    }
}

/// A live cluster's failure as the CLI reports it: the operator's input (kubeconfig, context,
/// `--scale`) exits 2, the cluster's answer 1.
pub fn live_failure(e: LiveError) -> Failure {
    if e.is_bad_input() {
        Failure::bad_input(e)
    } else {
        Failure::failed(e)
    }
}
