//! `karpdeck catalog`: the embedded instance catalog, filtered.

use std::collections::BTreeMap;

use serde::Serialize;

use super::table::Table;
use super::{CatalogArgs, Failure};
use crate::catalog::{Basis, Catalog, InstanceType, NodeSettings, PodDensity, TypeFilter};
use crate::model::quantity::{format_bytes_human, format_millis};
use crate::model::Operator;

/// One row of `catalog --json`.
#[derive(Debug, Serialize)]
struct TypeJson {
    name: String,
    family: String,
    size: String,
    category: String,
    generation: Option<u32>,
    vcpus: u32,
    memory_mib: u64,
    arch: &'static str,
    cpu_manufacturer: String,
    hypervisor: String,
    bare_metal: bool,
    burstable: bool,
    gpu_count: u32,
    gpu_name: Option<String>,
    gpu_memory_mib: Option<u64>,
    accelerator_count: u32,
    accelerator_name: Option<String>,
    local_nvme_gb: u32,
    network_mbps: u32,
    enis: u32,
    ipv4_per_eni: u32,
    max_pods: i64,
    max_pods_eks_managed: i64,
    capacity: BTreeMap<String, String>,
    allocatable: BTreeMap<String, String>,
    region: String,
    zones: Vec<String>,
    on_demand_price: Option<f64>,
    on_demand_price_basis: Option<Basis>,
    spot_price: Option<f64>,
    spot_price_basis: Option<Basis>,
    spot_savings_pct: Option<u8>,
    interruption_bucket: Option<&'static str>,
    labels: BTreeMap<String, String>,
}

fn type_json(
    catalog: &Catalog,
    region: &str,
    it: &InstanceType,
    settings: &NodeSettings,
    managed: &NodeSettings,
) -> TypeJson {
    let offer = catalog.offer(region, &it.name);
    let od = offer.and_then(|o| o.on_demand);
    let spot = offer.and_then(|o| o.spot);
    let labels = it
        .requirements()
        .iter()
        .filter(|(_, r)| r.operator() == Operator::In)
        .filter_map(|(k, r)| Some((k.to_string(), r.values().iter().next()?.clone())))
        .collect();
    TypeJson {
        name: it.name.clone(),
        family: it.family.clone(),
        size: it.size.clone(),
        category: it.category.clone(),
        generation: it.generation,
        vcpus: it.vcpus,
        memory_mib: it.memory_mib,
        arch: it.arch.as_str(),
        cpu_manufacturer: it.cpu_manufacturer.clone(),
        hypervisor: it.hypervisor.clone(),
        bare_metal: it.bare_metal,
        burstable: it.burstable,
        gpu_count: it.gpu.as_ref().map_or(0, |g| g.count),
        gpu_name: it.gpu.as_ref().map(|g| g.name.clone()),
        gpu_memory_mib: it.gpu.as_ref().map(|g| g.memory_mib),
        accelerator_count: it.accelerator.as_ref().map_or(0, |a| a.count),
        accelerator_name: it.accelerator.as_ref().map(|a| a.name.clone()),
        local_nvme_gb: it.local_nvme_gb,
        network_mbps: it.network_mbps,
        enis: it.enis,
        ipv4_per_eni: it.ipv4_per_eni,
        max_pods: settings.max_pods(it),
        max_pods_eks_managed: managed.max_pods(it),
        capacity: settings.capacity(it).to_quantity_map(),
        allocatable: settings.allocatable(it).to_quantity_map(),
        region: region.to_string(),
        zones: offer.map(|o| o.zones.clone()).unwrap_or_default(),
        on_demand_price: od.map(|p| p.usd_per_hour),
        on_demand_price_basis: od.map(|p| p.basis),
        spot_price: spot.map(|s| s.price.usd_per_hour),
        spot_price_basis: spot.map(|s| s.price.basis),
        spot_savings_pct: spot.map(|s| s.savings_pct),
        interruption_bucket: spot.and_then(|s| s.interruption).map(|b| b.label()),
        labels,
    }
}

fn price_cell(price: Option<f64>, basis: Option<Basis>) -> String {
    match (price, basis) {
        (Some(p), Some(Basis::Estimated)) => format!("~{p:.4}"),
        (Some(p), _) => format!("{p:.4}"),
        (None, _) => "-".into(),
    }
}

/// Run the command and return its output.
pub fn run(args: &CatalogArgs) -> Result<String, Failure> {
    let catalog = Catalog::embedded();
    if catalog.region(&args.region).is_none() {
        let known: Vec<&str> = catalog.regions().collect();
        return Err(Failure::bad_input(format!(
            "--region {}: not in the embedded catalog (known: {})",
            args.region,
            known.join(", ")
        )));
    }
    let filter = TypeFilter {
        region: Some(args.region.clone()),
        arch: args.arch,
        min_vcpus: args.min_vcpus,
        min_memory_bytes: args.min_memory,
        gpu: args.gpu,
    };
    let mut types = filter.apply(&catalog);
    // Families together, smallest first within a family.
    types.sort_by(|a, b| {
        (&a.family, a.vcpus, a.memory_mib, &a.name).cmp(&(
            &b.family,
            b.vcpus,
            b.memory_mib,
            &b.name,
        ))
    });
    let settings = NodeSettings::default();
    let managed = NodeSettings {
        density: PodDensity::ManagedNodeGroup,
        ..NodeSettings::default()
    };
    let rows: Vec<TypeJson> = types
        .iter()
        .map(|it| type_json(&catalog, &args.region, it, &settings, &managed))
        .collect();
    if args.json {
        let mut s = serde_json::to_string_pretty(&rows).map_err(Failure::bad_input)?;
        s.push('\n');
        return Ok(s);
    }
    let mut table = Table::new(&[
        "NAME",
        "VCPU",
        "MEMORY",
        "ARCH",
        "GPU",
        "PODS",
        "ALLOC CPU",
        "ALLOC MEM",
        "OD $/H",
        "SPOT $/H",
        "SAVE",
        "INTERRUPT",
    ]);
    for (it, row) in types.iter().zip(&rows) {
        let alloc = settings.allocatable(it);
        table.row(vec![
            row.name.clone(),
            row.vcpus.to_string(),
            format_bytes_human((row.memory_mib as i64) << 20),
            row.arch.to_string(),
            it.gpu
                .as_ref()
                .map_or("-".into(), |g| format!("{}×{}", g.count, g.name)),
            row.max_pods.to_string(),
            format_millis(alloc.cpu_millis),
            format_bytes_human(alloc.memory_bytes),
            price_cell(row.on_demand_price, row.on_demand_price_basis),
            price_cell(row.spot_price, row.spot_price_basis),
            row.spot_savings_pct.map_or("-".into(), |s| format!("{s}%")),
            row.interruption_bucket.unwrap_or("n/a").to_string(),
        ]);
    }
    let mut out = table.render();
    out.push_str(&format!(
        "{} instance types in {} (~ marks an estimated price; see `--json` for the basis of each)\n",
        rows.len(),
        args.region
    ));
    Ok(out)
}
