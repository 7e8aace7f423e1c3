//! The embedded EC2 instance catalog: specs, per-region zones, prices and Spot health, compiled in.
//!
//! The data files under `data/` are karpdeck's own TSV. They are parsed once, on first use; a later
//! live refresh (EC2 and the Pricing API) replaces them at run time.

mod allocatable;
mod data;
mod filter;
mod instance_type;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

pub use allocatable::{kube_reserved_cpu_millis, NodeSettings, PodDensity};
pub use filter::TypeFilter;
pub use instance_type::{Accelerator, Arch, InstanceType};

use crate::model::CapacityType;

/// Whether a figure is published by AWS or derived by karpdeck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// Taken from a published AWS price list or the Spot Instance Advisor.
    Published,
    /// Derived (regional ratio, family average): good for ranking, not for invoices.
    Estimated,
}

/// A Spot Instance Advisor interruption-frequency bucket (trailing month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InterruptionBucket {
    /// Under 5 %.
    Under5,
    /// 5–10 %.
    From5To10,
    /// 10–15 %.
    From10To15,
    /// 15–20 %.
    From15To20,
    /// Over 20 %.
    Over20,
}

impl InterruptionBucket {
    /// From the advisor's range index (0..=4).
    pub fn from_index(i: u8) -> Option<Self> {
        Some(match i {
            0 => Self::Under5,
            1 => Self::From5To10,
            2 => Self::From10To15,
            3 => Self::From15To20,
            4 => Self::Over20,
            _ => return None,
        })
    }

    /// The advisor's label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Under5 => "<5%",
            Self::From5To10 => "5-10%",
            Self::From10To15 => "10-15%",
            Self::From15To20 => "15-20%",
            Self::Over20 => ">20%",
        }
    }
}

/// An hourly price in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// USD per hour.
    pub usd_per_hour: f64,
    /// Published or estimated.
    pub basis: Basis,
}

/// What Spot typically looks like for a type in a region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpotProfile {
    /// Typical price in the cheapest zone.
    pub price: Price,
    /// Savings against on-demand, percent.
    pub savings_pct: u8,
    /// Interruption frequency, when the advisor lists the type.
    pub interruption: Option<InterruptionBucket>,
}

/// One type in one region: where it is offered and what it costs.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionalOffer {
    /// Zone names (`ap-southeast-1a`).
    pub zones: Vec<String>,
    /// On-demand Linux price.
    pub on_demand: Option<Price>,
    /// Spot profile.
    pub spot: Option<SpotProfile>,
}

/// One purchasable (zone, capacity type) of a type, as the engine consumes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Offering {
    /// Zone.
    pub zone: String,
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// USD per hour.
    pub price: f64,
    /// Whether it can be launched now (priced and not known to be out of capacity).
    pub available: bool,
}

/// A region's zones and offers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Region {
    /// Every standard zone of the region that offers some type.
    pub zones: Vec<String>,
    offers: HashMap<usize, RegionalOffer>,
}

/// The instance catalog.
#[derive(Clone, PartialEq)]
pub struct Catalog {
    types: Vec<InstanceType>,
    index: HashMap<String, usize>,
    regions: BTreeMap<String, Region>,
}

/// Why embedded or supplied catalog data could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("catalog {file} line {line}: {message}")]
pub struct CatalogError {
    /// Data file.
    pub file: &'static str,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

static EMBEDDED: LazyLock<Arc<Catalog>> = LazyLock::new(|| {
    // The embedded files are tested (`embedded_catalog_parses`), so this cannot fail at run time.
    Arc::new(data::parse_embedded().expect("embedded catalog data is valid"))
});

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn embedded() -> Arc<Catalog> {
        EMBEDDED.clone()
    }

    /// Build from parts (used by the data parser and tests).
    pub fn from_parts(types: Vec<InstanceType>, regions: BTreeMap<String, Region>) -> Self {
        let index = types
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Self {
            types,
            index,
            regions,
        }
    }

    /// Every type, sorted by name.
    pub fn types(&self) -> &[InstanceType] {
        &self.types
    }

    /// A type by name.
    pub fn get(&self, name: &str) -> Option<&InstanceType> {
        self.index.get(name).map(|&i| &self.types[i])
    }

    /// Region names the catalog knows, sorted.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.regions.keys().map(String::as_str)
    }

    /// A region's data.
    pub fn region(&self, region: &str) -> Option<&Region> {
        self.regions.get(region)
    }

    /// Where and for how much a type is offered in a region.
    pub fn offer(&self, region: &str, type_name: &str) -> Option<&RegionalOffer> {
        let i = *self.index.get(type_name)?;
        self.regions.get(region)?.offers.get(&i)
    }

    /// Every (zone, capacity type) offering of a type in a region, on-demand before spot, zones in
    /// order. Spot offerings carry the region's typical price in every zone until live zonal
    /// prices replace it.
    pub fn offerings(&self, region: &str, type_name: &str) -> Vec<Offering> {
        let Some(offer) = self.offer(region, type_name) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(offer.zones.len() * 2);
        for (capacity_type, price) in [
            (
                CapacityType::OnDemand,
                offer.on_demand.map(|p| p.usd_per_hour),
            ),
            (CapacityType::Spot, offer.spot.map(|s| s.price.usd_per_hour)),
        ] {
            let Some(price) = price else { continue };
            for zone in &offer.zones {
                out.push(Offering {
                    zone: zone.clone(),
                    capacity_type,
                    price,
                    available: true,
                });
            }
        }
        out
    }
}

impl std::fmt::Debug for Catalog {
    /// A summary: the full catalog would bury any message it appears in.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("types", &self.types.len())
            .field("regions", &self.regions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Region {
    /// Build a region from its zones and offers keyed by type index.
    pub(crate) fn new(zones: Vec<String>, offers: HashMap<usize, RegionalOffer>) -> Self {
        Self { zones, offers }
    }

    /// Number of types offered.
    pub fn type_count(&self) -> usize {
        self.offers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalog_parses() {
        let c = data::parse_embedded().unwrap();
        assert!(c.types().len() >= 500, "{} types", c.types().len());
        for r in ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1"] {
            let region = c.region(r).unwrap_or_else(|| panic!("region {r}"));
            assert!(region.type_count() > 300, "{r}");
            assert!(region.zones.len() >= 3, "{r}");
        }
    }

    #[test]
    fn coverage_of_families() {
        let c = Catalog::embedded();
        for name in [
            "m5.large",
            "m7i.48xlarge",
            "c7g.16xlarge",
            "r6i.metal",
            "t3.micro",
            "t4g.xlarge",
            "i4i.4xlarge",
            "d3.xlarge",
            "p3.8xlarge",
            "g5.xlarge",
            "inf2.xlarge",
            "x2idn.16xlarge",
        ] {
            assert!(c.get(name).is_some(), "{name}");
        }
        let arm = c.types().iter().filter(|t| t.arch == Arch::Arm64).count();
        assert!(arm > 100);
        assert!(c.types().iter().any(|t| t.bare_metal));
    }

    #[test]
    fn offerings_cover_zones_and_capacity_types() {
        let c = Catalog::embedded();
        let offers = c.offerings("ap-southeast-1", "c6g.2xlarge");
        assert!(offers
            .iter()
            .any(|o| o.capacity_type == CapacityType::Spot && o.zone == "ap-southeast-1a"));
        assert!(offers
            .iter()
            .any(|o| o.capacity_type == CapacityType::OnDemand));
        let od = offers
            .iter()
            .find(|o| o.capacity_type == CapacityType::OnDemand)
            .unwrap();
        let spot = offers
            .iter()
            .find(|o| o.capacity_type == CapacityType::Spot)
            .unwrap();
        assert!(spot.price < od.price);
        assert!(c.offerings("mars-north-1", "c6g.2xlarge").is_empty());
    }
}
