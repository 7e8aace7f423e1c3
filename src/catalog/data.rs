//! Parsing of the catalog's TSV data files (compiled in with `include_str!`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::instance_type::{category_and_generation, Accelerator, Arch, InstanceType};
use super::{
    Basis, Catalog, CatalogError, InterruptionBucket, Price, Region, RegionalOffer, SpotProfile,
};

const INSTANCE_TYPES: &str = include_str!("data/instance-types.tsv");
const OFFERINGS: &str = include_str!("data/offerings.tsv");
const PRICES: &str = include_str!("data/prices.tsv");

/// Parse the embedded files.
pub fn parse_embedded() -> Result<Catalog, CatalogError> {
    parse(INSTANCE_TYPES, OFFERINGS, PRICES)
}

/// Rows of a TSV file with named columns.
struct Table<'a> {
    file: &'static str,
    columns: HashMap<&'a str, usize>,
    rows: Vec<(usize, Vec<&'a str>)>,
}

impl<'a> Table<'a> {
    fn new(file: &'static str, text: &'a str) -> Result<Self, CatalogError> {
        let mut lines = text.lines().enumerate();
        let header = lines.next().map(|(_, l)| l).unwrap_or_default();
        let columns: HashMap<&str, usize> = header
            .split('\t')
            .enumerate()
            .map(|(i, c)| (c, i))
            .collect();
        let width = columns.len();
        let mut rows = Vec::new();
        for (i, line) in lines {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let cells: Vec<&str> = line.split('\t').collect();
            if cells.len() != width {
                return Err(CatalogError {
                    file,
                    line: i + 1,
                    message: format!("expected {width} columns, found {}", cells.len()),
                });
            }
            rows.push((i + 1, cells));
        }
        Ok(Self {
            file,
            columns,
            rows,
        })
    }

    fn col(&self, name: &str) -> Result<usize, CatalogError> {
        self.columns.get(name).copied().ok_or(CatalogError {
            file: self.file,
            line: 1,
            message: format!("missing column {name:?}"),
        })
    }
}

/// Typed access to one row's cells.
struct Row<'t, 'a> {
    table: &'t Table<'a>,
    line: usize,
    cells: &'t [&'a str],
}

impl<'a> Row<'_, 'a> {
    fn err(&self, message: String) -> CatalogError {
        CatalogError {
            file: self.table.file,
            line: self.line,
            message,
        }
    }

    fn str(&self, column: &str) -> Result<&'a str, CatalogError> {
        Ok(self.cells[self.table.col(column)?])
    }

    fn num<T: std::str::FromStr>(&self, column: &str) -> Result<T, CatalogError> {
        let raw = self.str(column)?;
        raw.parse()
            .map_err(|_| self.err(format!("column {column}: {raw:?} is not a number")))
    }

    fn opt_num<T: std::str::FromStr>(&self, column: &str) -> Result<Option<T>, CatalogError> {
        if self.str(column)?.is_empty() {
            Ok(None)
        } else {
            self.num(column).map(Some)
        }
    }

    fn flag(&self, column: &str) -> Result<bool, CatalogError> {
        Ok(self.num::<u8>(column)? != 0)
    }

    fn basis(&self, column: &str) -> Result<Basis, CatalogError> {
        match self.str(column)? {
            "published" => Ok(Basis::Published),
            "estimated" => Ok(Basis::Estimated),
            other => Err(self.err(format!("column {column}: unknown basis {other:?}"))),
        }
    }
}

fn each_row<'t, 'a>(table: &'t Table<'a>) -> impl Iterator<Item = Row<'t, 'a>> {
    table.rows.iter().map(move |(line, cells)| Row {
        table,
        line: *line,
        cells,
    })
}

fn accelerator(row: &Row, prefix: &str) -> Result<Option<Accelerator>, CatalogError> {
    let count: u32 = row.num(&format!("{prefix}_count"))?;
    if count == 0 {
        return Ok(None);
    }
    let memory_column = format!("{prefix}_memory_mib");
    let memory_mib = match row.table.columns.contains_key(memory_column.as_str()) {
        true => row.num(&memory_column)?,
        false => 0,
    };
    Ok(Some(Accelerator {
        count,
        name: row.str(&format!("{prefix}_name"))?.to_string(),
        manufacturer: row.str(&format!("{prefix}_manufacturer"))?.to_string(),
        memory_mib,
    }))
}

fn instance_type(row: &Row) -> Result<InstanceType, CatalogError> {
    let name = row.str("name")?;
    let (family, size) = name
        .split_once('.')
        .ok_or_else(|| row.err(format!("instance type {name:?} has no size")))?;
    let (category, generation) = category_and_generation(family);
    let arch_raw = row.str("arch")?;
    Ok(InstanceType {
        name: name.to_string(),
        family: family.to_string(),
        size: size.to_string(),
        category,
        generation,
        arch: Arch::parse(arch_raw)
            .ok_or_else(|| row.err(format!("unknown architecture {arch_raw:?}")))?,
        vcpus: row.num("vcpus")?,
        memory_mib: row.num("memory_mib")?,
        hypervisor: row.str("hypervisor")?.to_string(),
        bare_metal: row.flag("bare_metal")?,
        burstable: row.flag("burstable")?,
        cpu_manufacturer: row.str("cpu_manufacturer")?.to_string(),
        enis: row.num("enis")?,
        ipv4_per_eni: row.num("ipv4_per_eni")?,
        gpu: accelerator(row, "gpu")?,
        accelerator: accelerator(row, "accel")?,
        local_nvme_gb: row.num("local_nvme_gb")?,
        network_mbps: row.num("network_mbps")?,
        ebs_mbps: row.num("ebs_mbps")?,
        encryption_in_transit: row.flag("encryption_in_transit")?,
    })
}

/// Parse the three files into a catalog.
pub fn parse(
    types_tsv: &str,
    offerings_tsv: &str,
    prices_tsv: &str,
) -> Result<Catalog, CatalogError> {
    let table = Table::new("instance-types.tsv", types_tsv)?;
    let types = each_row(&table)
        .map(|row| instance_type(&row))
        .collect::<Result<Vec<_>, _>>()?;
    let index: HashMap<&str, usize> = types
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();

    let mut offers: BTreeMap<String, HashMap<usize, RegionalOffer>> = BTreeMap::new();
    let table = Table::new("offerings.tsv", offerings_tsv)?;
    for row in each_row(&table) {
        let region = row.str("region")?;
        let name = row.str("instance_type")?;
        let Some(&i) = index.get(name) else {
            return Err(row.err(format!("unknown instance type {name:?}")));
        };
        let zones = row
            .str("zones")?
            .chars()
            .map(|letter| format!("{region}{letter}"))
            .collect();
        offers.entry(region.to_string()).or_default().insert(
            i,
            RegionalOffer {
                zones,
                on_demand: None,
                spot: None,
            },
        );
    }

    let table = Table::new("prices.tsv", prices_tsv)?;
    for row in each_row(&table) {
        let region = row.str("region")?;
        let name = row.str("instance_type")?;
        let offer = index
            .get(name)
            .and_then(|i| offers.get_mut(region)?.get_mut(i))
            .ok_or_else(|| {
                row.err(format!(
                    "price for {name} in {region}, which has no offering"
                ))
            })?;
        let od = Price {
            usd_per_hour: row.num("on_demand_usd")?,
            basis: row.basis("on_demand_basis")?,
        };
        offer.on_demand = Some(od);
        if let Some(savings) = row.opt_num::<u8>("spot_savings_pct")? {
            let interruption = match row.opt_num::<u8>("interruption")? {
                Some(i) => Some(
                    InterruptionBucket::from_index(i)
                        .ok_or_else(|| row.err(format!("interruption index {i} out of range")))?,
                ),
                None => None,
            };
            let spot_basis = row.basis("spot_basis")?;
            offer.spot = Some(SpotProfile {
                price: Price {
                    usd_per_hour: round_price(
                        od.usd_per_hour * (100 - savings.min(100)) as f64 / 100.0,
                    ),
                    basis: if od.basis == Basis::Published && spot_basis == Basis::Published {
                        Basis::Published
                    } else {
                        Basis::Estimated
                    },
                },
                savings_pct: savings,
                interruption,
            });
        }
    }

    let regions = offers
        .into_iter()
        .map(|(name, offers)| {
            let zones: BTreeSet<String> = offers.values().flat_map(|o| o.zones.clone()).collect();
            (name, Region::new(zones.into_iter().collect(), offers))
        })
        .collect();
    Ok(Catalog::from_parts(types, regions))
}

/// Prices to a hundredth of a cent, so derived figures print cleanly.
fn round_price(usd: f64) -> f64 {
    (usd * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPES: &str = "name\tarch\tvcpus\tmemory_mib\thypervisor\tbare_metal\tburstable\tcpu_manufacturer\tenis\tipv4_per_eni\tgpu_count\tgpu_name\tgpu_manufacturer\tgpu_memory_mib\taccel_count\taccel_name\taccel_manufacturer\tlocal_nvme_gb\tnetwork_mbps\tebs_mbps\tencryption_in_transit\n\
m5.large\tamd64\t2\t8192\tnitro\t0\t0\tintel\t3\t10\t0\t\t\t0\t0\t\t\t0\t750\t4750\t0\n";
    const OFFERS: &str = "region\tinstance_type\tzones\nus-east-1\tm5.large\tab\n";

    #[test]
    fn parses_and_derives_spot() {
        let prices = "region\tinstance_type\ton_demand_usd\ton_demand_basis\tspot_savings_pct\tinterruption\tspot_basis\n\
us-east-1\tm5.large\t0.096\tpublished\t60\t1\tpublished\n";
        let c = parse(TYPES, OFFERS, prices).unwrap();
        let offer = c.offer("us-east-1", "m5.large").unwrap();
        assert_eq!(offer.zones, vec!["us-east-1a", "us-east-1b"]);
        let spot = offer.spot.unwrap();
        assert_eq!(spot.price.usd_per_hour, 0.0384);
        assert_eq!(spot.interruption, Some(InterruptionBucket::From5To10));
    }

    #[test]
    fn errors_name_file_and_line() {
        let prices = "region\tinstance_type\ton_demand_usd\ton_demand_basis\tspot_savings_pct\tinterruption\tspot_basis\n\
us-east-1\tm5.large\tcheap\tpublished\t\t\t\n";
        let err = parse(TYPES, OFFERS, prices).unwrap_err();
        assert_eq!(
            err.to_string(),
            "catalog prices.tsv line 2: column on_demand_usd: \"cheap\" is not a number"
        );
        let err = parse(
            TYPES,
            "region\tinstance_type\tzones\nus-east-1\tz9.huge\ta\n",
            "region\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown instance type"));
    }
}
