//! Property tests: quantity parsing never panics and round-trips exactly; requirement intersection
//! agrees with set semantics over a small universe of values.

use karpdeck::model::quantity::{format_bytes, format_millis};
use karpdeck::model::{Operator, Quantity, Requirement, Requirements};
use proptest::prelude::*;

proptest! {
    #[test]
    fn parse_never_panics(s in "\\PC{0,24}") {
        let _ = Quantity::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_quantity_like_text(
        sign in "[+-]?", int in "[0-9]{0,30}", frac in "(\\.[0-9]{0,12})?",
        suffix in "(|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|n|u|[eE][+-]?[0-9]{1,3}|[A-Za-z]{1,3})",
    ) {
        let _ = Quantity::parse(&format!("{sign}{int}{frac}{suffix}"));
    }

    #[test]
    fn millis_round_trip(m in 0i64..=4_000_000_000_000) {
        let q = Quantity::parse(&format_millis(m)).unwrap();
        prop_assert_eq!(q.milli_ceil(), m);
    }

    #[test]
    fn bytes_round_trip(b in 0i64..=(1i64 << 50)) {
        let q = Quantity::parse(&format_bytes(b)).unwrap();
        prop_assert_eq!(q.units_ceil(), b);
    }

    #[test]
    fn binary_and_decimal_suffixes_scale_exactly(n in 0i64..1_000_000, idx in 0usize..4) {
        let (bin, dec) = [("Ki", "k"), ("Mi", "M"), ("Gi", "G"), ("Ti", "T")][idx];
        let shift = 10 * (idx as u32 + 1);
        prop_assert_eq!(Quantity::parse(&format!("{n}{bin}")).unwrap().units_ceil(), n << shift);
        prop_assert_eq!(
            Quantity::parse(&format!("{n}{dec}")).unwrap().units_ceil(),
            n * 1000i64.pow(idx as u32 + 1)
        );
    }

    #[test]
    fn fractions_round_up(whole in 0i64..10_000, frac in 1u32..1000) {
        // whole.frac cores in millis, with `frac` as three digits: exact.
        let s = format!("{whole}.{frac:03}");
        prop_assert_eq!(Quantity::parse(&s).unwrap().milli_ceil(), whole * 1000 + frac as i64);
        // A fourth digit always rounds up to the next milli.
        let s = format!("{whole}.{frac:03}1");
        prop_assert_eq!(Quantity::parse(&s).unwrap().milli_ceil(), whole * 1000 + frac as i64 + 1);
    }
}

/// Values the requirement strategies draw from: names and small integers.
const UNIVERSE: [&str; 8] = ["a", "b", "c", "1", "2", "3", "5", "8"];

fn requirement() -> impl Strategy<Value = Requirement> {
    let values = proptest::sample::subsequence(&UNIVERSE[..], 0..4);
    let int = prop_oneof![Just("0"), Just("2"), Just("4"), Just("7")];
    prop_oneof![
        values.clone().prop_filter_map("In needs values", |v| {
            let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            Requirement::new(Operator::In, &v).ok()
        }),
        values.prop_filter_map("NotIn needs values", |v| {
            let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            Requirement::new(Operator::NotIn, &v).ok()
        }),
        Just(Requirement::exists()),
        Just(Requirement::does_not_exist()),
        int.clone()
            .prop_map(|n| Requirement::new(Operator::Gt, &[n.to_string()]).unwrap()),
        int.prop_map(|n| Requirement::new(Operator::Lt, &[n.to_string()]).unwrap()),
    ]
}

/// Probe values: the universe plus ones no requirement names.
const PROBES: [&str; 11] = ["a", "b", "c", "d", "1", "2", "3", "5", "6", "8", "9"];

proptest! {
    #[test]
    fn intersection_is_set_intersection(a in requirement(), b in requirement()) {
        let both = a.intersection(&b);
        for v in PROBES {
            prop_assert_eq!(both.has(v), a.has(v) && b.has(v), "value {} in {} ∩ {} = {}", v, a, b, both);
        }
    }

    #[test]
    fn intersection_commutes(a in requirement(), b in requirement()) {
        let (ab, ba) = (a.intersection(&b), b.intersection(&a));
        for v in PROBES {
            prop_assert_eq!(ab.has(v), ba.has(v));
        }
        prop_assert_eq!(ab.operator(), ba.operator());
    }

    #[test]
    fn intersects_matches_a_witness(a in requirement(), b in requirement()) {
        // Over a finite universe: if some probe is in both, they must intersect.
        let witness = PROBES.iter().any(|v| a.has(v) && b.has(v));
        if witness {
            prop_assert!(a.intersects(&b), "{} and {} share a value", a, b);
        }
        // The allocation-free check agrees with the materialised intersection.
        prop_assert_eq!(a.intersects(&b), !a.intersection(&b).is_empty());
    }

    #[test]
    fn compatibility_is_symmetric_for_shared_keys(a in requirement(), b in requirement()) {
        let mut ra = Requirements::new();
        ra.add("k", a);
        let mut rb = Requirements::new();
        rb.add("k", b);
        prop_assert_eq!(ra.intersects(&rb).is_ok(), rb.intersects(&ra).is_ok());
    }
}

proptest! {
    #[test]
    fn subset_agrees_with_membership(a in requirement(), b in requirement()) {
        if a.is_subset_of(&b) {
            for v in PROBES {
                prop_assert!(!a.has(v) || b.has(v), "{} ⊆ {} but {} is only in the first", a, b, v);
            }
        }
        // Intersecting with a superset changes nothing observable.
        if a.is_subset_of(&b) {
            let both = a.intersection(&b);
            for v in PROBES {
                prop_assert_eq!(both.has(v), a.has(v));
            }
        }
    }
}
