//! `karpdeck dump`: the live cluster as a scenario file on stdout.

use chrono::Utc;

use super::cluster::live_failure;
use super::{DumpArgs, Failure};
use crate::kube;

/// Run the command and return the scenario text.
pub fn run(args: &DumpArgs) -> Result<String, Failure> {
    let target = args.live.target();
    let rt = kube::runtime().map_err(live_failure)?;
    rt.block_on(async {
        let conn = kube::connect(&target).await?;
        kube::dump::dump(&conn, Utc::now()).await
    })
    .map_err(live_failure)
}
