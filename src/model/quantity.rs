//! Kubernetes resource quantities: parsing every suffix exactly, and formatting in canonical form.
//!
//! A quantity is kept as an exact count of nano-units in an `i128`, which holds every value Kubernetes
//! accepts for node and pod resources (up to several exa-units) without rounding. Conversion to the
//! integer units the engine works in (millicores, bytes, counts) rounds up, as `Quantity.MilliValue()`
//! and `Quantity.Value()` do in apimachinery.

use std::fmt;

const NANO: i128 = 1_000_000_000;
/// Longest digit string accepted; more would overflow the nano representation.
const MAX_DIGITS: usize = 27;

/// How a quantity was written, kept so it can be printed back in the same style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityFormat {
    /// Powers of 1024: Ki, Mi, Gi, Ti, Pi, Ei.
    BinarySI,
    /// Powers of 1000: n, u, m, (none), k, M, G, T, P, E.
    DecimalSI,
    /// Scientific notation: `1e3`, `5E-2`.
    DecimalExponent,
}

/// An exact Kubernetes quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    nanos: i128,
    format: QuantityFormat,
}

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Nothing to parse.
    #[error("empty quantity")]
    Empty,
    /// The number part is missing or malformed.
    #[error("invalid quantity {0:?}: expected a number such as 500m, 1.5, 2Gi or 1e3")]
    BadNumber(String),
    /// The suffix is not one Kubernetes knows.
    #[error("invalid quantity {0:?}: unknown suffix {1:?} (use m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent)")]
    BadSuffix(String, String),
    /// The value does not fit.
    #[error("invalid quantity {0:?}: value out of range")]
    OutOfRange(String),
}

impl Quantity {
    /// A quantity of whole units (a count, bytes or cores).
    pub fn from_units(units: i64) -> Self {
        Self {
            nanos: units as i128 * NANO,
            format: QuantityFormat::DecimalSI,
        }
    }

    /// A quantity of milli-units (millicores).
    pub fn from_millis(millis: i64) -> Self {
        Self {
            nanos: millis as i128 * 1_000_000,
            format: QuantityFormat::DecimalSI,
        }
    }

    /// Parse a quantity string as Kubernetes does (`500m`, `1.5Gi`, `4G`, `1e3`, `+2`, `.5`).
    pub fn parse(input: &str) -> Result<Self, QuantityError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(QuantityError::Empty);
        }
        let (negative, rest) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let number_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let (number, suffix) = rest.split_at(number_len);
        let (mantissa, frac_digits) =
            parse_decimal(number).ok_or_else(|| QuantityError::BadNumber(input.to_string()))?;
        let (scale, format) = parse_suffix(suffix)
            .ok_or_else(|| QuantityError::BadSuffix(input.to_string(), suffix.to_string()))?;
        let out_of_range = || QuantityError::OutOfRange(input.to_string());
        // value = mantissa * 10^-frac * scale, in nanos: mantissa * 10^(9 - frac) * scale.
        let nanos = match scale {
            Scale::Binary(pow) => {
                let factor = 1024i128.checked_pow(pow).ok_or_else(out_of_range)?;
                let numerator = mantissa
                    .checked_mul(factor)
                    .and_then(|v| v.checked_mul(NANO))
                    .ok_or_else(out_of_range)?;
                div_ceil(numerator, 10i128.pow(frac_digits))
            }
            Scale::Decimal(exp) => {
                let exp10 = 9 + exp as i64 - frac_digits as i64;
                if exp10 >= 0 {
                    let factor = u32::try_from(exp10)
                        .ok()
                        .and_then(|e| 10i128.checked_pow(e))
                        .ok_or_else(out_of_range)?;
                    mantissa.checked_mul(factor).ok_or_else(out_of_range)?
                } else {
                    let divisor = u32::try_from(-exp10)
                        .ok()
                        .and_then(|e| 10i128.checked_pow(e));
                    match divisor {
                        Some(d) => div_ceil(mantissa, d),
                        // Smaller than one nano: rounds up to the smallest unit, as apimachinery does.
                        None => i128::from(mantissa > 0),
                    }
                }
            }
        };
        // Keep every quantity within what the engine's i64 units can hold.
        if nanos / NANO > i64::MAX as i128 {
            return Err(out_of_range());
        }
        Ok(Self {
            nanos: if negative { -nanos } else { nanos },
            format,
        })
    }

    /// The value in milli-units, rounded up (Kubernetes `MilliValue`).
    pub fn milli_ceil(&self) -> i64 {
        clamp_i64(div_ceil(self.nanos, 1_000_000))
    }

    /// The value in whole units, rounded up (Kubernetes `Value`).
    pub fn units_ceil(&self) -> i64 {
        clamp_i64(div_ceil(self.nanos, NANO))
    }

    /// Whether the quantity is below zero.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// The style the quantity was written in.
    pub fn format(&self) -> QuantityFormat {
        self.format
    }
}

impl fmt::Display for Quantity {
    /// Canonical form in the quantity's own style, as `Quantity.String()` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos % NANO != 0 {
            let millis = self.nanos / 1_000_000;
            if self.nanos % 1_000_000 == 0 {
                return write!(f, "{millis}m");
            }
            return write!(f, "{}n", self.nanos);
        }
        let units = clamp_i64(self.nanos / NANO);
        match self.format {
            QuantityFormat::BinarySI => f.write_str(&format_bytes(units)),
            _ => f.write_str(&format_decimal(units)),
        }
    }
}

/// Millicores in Karpenter's log style: `6825m`, or whole cores as `4`.
pub fn format_millis(millis: i64) -> String {
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Bytes in canonical binary form: the largest of Ki..Ei that divides exactly (`12025950Ki`, `16Gi`).
pub fn format_bytes(bytes: i64) -> String {
    format_scaled(bytes, 1024, &["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"])
}

/// Whole units in canonical decimal form (`4`, `1k`, `4G`).
pub fn format_decimal(units: i64) -> String {
    format_scaled(units, 1000, &["k", "M", "G", "T", "P", "E"])
}

/// `value` with the largest suffix whose power of `base` divides it exactly.
fn format_scaled(value: i64, base: i64, suffixes: &[&str]) -> String {
    if value == 0 {
        return "0".to_string();
    }
    let mut value = value;
    let mut suffix = "";
    for s in suffixes {
        if value % base != 0 {
            break;
        }
        value /= base;
        suffix = s;
    }
    format!("{value}{suffix}")
}

/// Bytes in whichever exact canonical form is shorter: `1324Mi`, `4G`, `4285130Ki`.
pub fn format_bytes_short(bytes: i64) -> String {
    let binary = format_bytes(bytes);
    let decimal = format_decimal(bytes);
    if decimal.len() < binary.len() {
        decimal
    } else {
        binary
    }
}

/// Bytes for people: `7.4Gi`, `512Mi`, `100Ki`, one decimal where it helps.
pub fn format_bytes_human(bytes: i64) -> String {
    const UNITS: [(&str, i64); 5] = [
        ("Pi", 1 << 50),
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (suffix, size) in UNITS {
        if bytes.abs() >= size {
            let whole = bytes / size;
            let tenths = (bytes % size).abs() * 10 / size;
            return if tenths == 0 || whole.abs() >= 100 {
                format!("{whole}{suffix}")
            } else {
                format!("{whole}.{tenths}{suffix}")
            };
        }
    }
    bytes.to_string()
}

enum Scale {
    Binary(u32),
    Decimal(i32),
}

fn parse_suffix(suffix: &str) -> Option<(Scale, QuantityFormat)> {
    use QuantityFormat::*;
    let decimal = |e| Some((Scale::Decimal(e), DecimalSI));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => Some((Scale::Binary(1), BinarySI)),
        "Mi" => Some((Scale::Binary(2), BinarySI)),
        "Gi" => Some((Scale::Binary(3), BinarySI)),
        "Ti" => Some((Scale::Binary(4), BinarySI)),
        "Pi" => Some((Scale::Binary(5), BinarySI)),
        "Ei" => Some((Scale::Binary(6), BinarySI)),
        _ => {
            let exp = suffix.strip_prefix(['e', 'E'])?;
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            Some((Scale::Decimal(exp.parse().ok()?), DecimalExponent))
        }
    }
}

/// `"12.50"` → (1250, 2). Accepts `5`, `5.`, `.5`, rejects `.` and empty.
fn parse_decimal(number: &str) -> Option<(i128, u32)> {
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || frac_part.contains('.')
        || int_part.len() + frac_part.len() > MAX_DIGITS
    {
        return None;
    }
    let mut mantissa: i128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        mantissa = mantissa * 10 + i128::from(b - b'0');
    }
    Some((mantissa, frac_part.len() as u32))
}

fn div_ceil(numerator: i128, divisor: i128) -> i128 {
    let q = numerator / divisor;
    if numerator % divisor > 0 {
        q + 1
    } else {
        q
    }
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(s: &str) -> i64 {
        Quantity::parse(s).unwrap().milli_ceil()
    }
    fn units(s: &str) -> i64 {
        Quantity::parse(s).unwrap().units_ceil()
    }

    #[test]
    fn decimal_suffixes() {
        assert_eq!(millis("500m"), 500);
        assert_eq!(millis("2"), 2000);
        assert_eq!(millis("0.5"), 500);
        assert_eq!(millis(".5"), 500);
        assert_eq!(millis("5."), 5000);
        assert_eq!(millis("+1"), 1000);
        assert_eq!(units("1k"), 1_000);
        assert_eq!(units("4G"), 4_000_000_000);
        assert_eq!(units("1M"), 1_000_000);
        assert_eq!(units("2T"), 2_000_000_000_000);
        assert_eq!(units("1P"), 1_000_000_000_000_000);
        assert_eq!(units("1E"), 1_000_000_000_000_000_000);
        assert_eq!(millis("100u"), 1);
        assert_eq!(millis("1000000n"), 1);
    }

    #[test]
    fn binary_suffixes() {
        assert_eq!(units("1Ki"), 1024);
        assert_eq!(units("1324Mi"), 1324 * 1024 * 1024);
        assert_eq!(units("1.5Gi"), 3 * 512 * 1024 * 1024);
        assert_eq!(units("1Ti"), 1 << 40);
        assert_eq!(units("1Pi"), 1 << 50);
        assert_eq!(units("1Ei"), 1 << 60);
        assert_eq!(units("16203828Ki"), 16203828 * 1024);
    }

    #[test]
    fn exponents() {
        assert_eq!(units("1e3"), 1000);
        assert_eq!(units("1E3"), 1000);
        assert_eq!(units("12e+2"), 1200);
        assert_eq!(millis("5e-3"), 5);
        assert_eq!(millis("1.5e1"), 15_000);
        assert_eq!(
            Quantity::parse("1e3").unwrap().format(),
            QuantityFormat::DecimalExponent
        );
    }

    #[test]
    fn rounding_is_up_like_apimachinery() {
        assert_eq!(millis("0.0001"), 1);
        assert_eq!(units("0.1"), 1);
        assert_eq!(units("1.0001Ki"), 1025);
        assert_eq!(millis("1n"), 1);
    }

    #[test]
    fn negatives_and_zero() {
        assert_eq!(millis("-500m"), -500);
        assert!(Quantity::parse("-1").unwrap().is_negative());
        assert_eq!(units("0"), 0);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "", "12XB", "abc", "1..2", ".", "1.2.3", "Gi", "1 Gi", "1e", "1eX", "1Kib", "--1",
            "1e99999",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(matches!(
            Quantity::parse("12XB"),
            Err(QuantityError::BadSuffix(_, s)) if s == "XB"
        ));
        assert!(matches!(
            Quantity::parse("99999999999999Ei"),
            Err(QuantityError::OutOfRange(_))
        ));
    }

    #[test]
    fn karpenter_log_style() {
        assert_eq!(format_millis(6825), "6825m");
        assert_eq!(format_millis(7000), "7");
        assert_eq!(format_bytes(12_314_572_800), "12025950Ki");
        assert_eq!(format_bytes(4_314_572_800), "4213450Ki");
        assert_eq!(format_bytes(16 << 30), "16Gi");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_decimal(4_000_000_000), "4G");
        assert_eq!(format_decimal(1000), "1k");
    }

    #[test]
    fn display_round_trips_style() {
        for s in ["500m", "4G", "16Gi", "12025950Ki", "3", "1k"] {
            assert_eq!(Quantity::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Quantity::parse("1024Mi").unwrap().to_string(), "1Gi");
        assert_eq!(Quantity::parse("1000m").unwrap().to_string(), "1");
    }

    #[test]
    fn short_bytes_pick_the_exact_shorter_form() {
        assert_eq!(format_bytes_short(1324 << 20), "1324Mi");
        assert_eq!(format_bytes_short(4_000_000_000), "4G");
        assert_eq!(format_bytes_short(4_387_973_120), "4285130Ki");
    }

    #[test]
    fn human_bytes() {
        assert_eq!(format_bytes_human(7577 << 20), "7.3Gi");
        assert_eq!(format_bytes_human(512 << 20), "512Mi");
        assert_eq!(format_bytes_human(100), "100");
    }
}
