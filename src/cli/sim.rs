//! `karpdeck sim`: run the simulated cluster headless and print its event stream.

use std::fmt::Write;

use chrono::Duration;

use super::{Failure, SimArgs};
use crate::catalog::Catalog;
use crate::scenario::{self, LoadOptions};
use crate::sim::{demo_hpas, Sim, SimConfig, DEMO_SCENARIO};

/// Run the command and return its output.
pub fn run(args: &SimArgs) -> Result<String, Failure> {
    if !args.autopilot {
        return Err(Failure::bad_input(
            "supervised simulation needs the plan executor, which is not built yet: pass --autopilot",
        ));
    }
    let options = LoadOptions {
        scales: Vec::new(),
        region: args.region.clone(),
    };
    let (loaded, hpas) = match &args.scenario {
        Some(path) => (
            scenario::load_file(path, &options, Catalog::embedded()).map_err(Failure::bad_input)?,
            Vec::new(),
        ),
        None => (
            scenario::load_str("demo", DEMO_SCENARIO, &options, Catalog::embedded())
                .map_err(Failure::bad_input)?,
            demo_hpas(),
        ),
    };
    let config = SimConfig {
        seed: args.seed,
        interruption_multiplier: args.interruptions,
        insufficient_capacity: args.insufficient_capacity,
        ..SimConfig::default()
    };
    let mut sim = Sim::at_scenario_time(loaded.snapshot, config, hpas);
    sim.run_for(args.duration);
    let mut out = String::new();
    for e in sim.events() {
        if args.events_json {
            let line = serde_json::to_string(e).map_err(Failure::bad_input)?;
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(out, "{}", e.line());
        }
    }
    if !args.events_json {
        let s = sim.snapshot();
        let pending = s.pods.iter().filter(|p| p.is_pending()).count();
        let _ = writeln!(
            out,
            "after {}: {} node(s), {} nodeclaim(s), {} pod(s), {pending} pending",
            format_duration(args.duration),
            s.nodes.len(),
            s.nodeclaims.len(),
            s.pods.len()
        );
    }
    Ok(out)
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
    }
}
