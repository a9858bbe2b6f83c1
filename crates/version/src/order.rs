//! The field comparison of depot-format §5.3, and a hash that agrees with it.
//!
//! A dotted string is a list of fields; each field is a leading run of ASCII digits plus a
//! remainder. Two fields compare by the digit run as an unsigned integer of any length (an
//! empty run sorts below every number, including 0), then by the remainder bytewise. This one
//! rule also covers the spec's "both all-digit" case (the remainders are then both empty), and
//! it never allocates or overflows: `99999999999999999999` is just a longer digit run.

use std::cmp::Ordering;
use std::hash::Hasher;

/// Compares two dotted strings field by field; when all shared fields are equal the one with
/// more fields is greater (so `1.0` < `1.0.0`).
pub(crate) fn cmp_dotted(a: &str, b: &str) -> Ordering {
    let mut fields_a = a.split('.');
    let mut fields_b = b.split('.');
    loop {
        match (fields_a.next(), fields_b.next()) {
            (Some(x), Some(y)) => match cmp_field(x, y) {
                Ordering::Equal => {}
                unequal => return unequal,
            },
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (None, None) => return Ordering::Equal,
        }
    }
}

/// Compares one field: digit run numerically, then the remainder as bytes.
pub(crate) fn cmp_field(a: &str, b: &str) -> Ordering {
    let (digits_a, rest_a) = split_field(a);
    let (digits_b, rest_b) = split_field(b);
    cmp_digit_runs(digits_a, digits_b).then_with(|| rest_a.as_bytes().cmp(rest_b.as_bytes()))
}

/// Splits a field into its leading ASCII-digit run and the remainder.
fn split_field(field: &str) -> (&str, &str) {
    let digits = field.bytes().take_while(u8::is_ascii_digit).count();
    field.split_at(digits)
}

fn cmp_digit_runs(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => {
            // Without leading zeros a longer run is a larger number; equal lengths compare
            // digit by digit, which for ASCII digits is plain byte order.
            let a = a.trim_start_matches('0');
            let b = b.trim_start_matches('0');
            a.len().cmp(&b.len()).then_with(|| a.cmp(b))
        }
    }
}

/// Feeds `state` with exactly what [`cmp_dotted`] looks at, so that strings comparing equal
/// hash equal: per field, whether it has a digit run, the run without leading zeros, and the
/// remainder. `str` hashing is prefix-free, so field boundaries need no extra marker; the
/// field count closes the list.
pub(crate) fn hash_dotted<H: Hasher>(dotted: &str, state: &mut H) {
    let mut count: usize = 0;
    for field in dotted.split('.') {
        let (digits, rest) = split_field(field);
        state.write_u8(u8::from(!digits.is_empty()));
        state.write(digits.trim_start_matches('0').as_bytes());
        state.write_u8(0xff);
        state.write(rest.as_bytes());
        state.write_u8(0xff);
        count += 1;
    }
    state.write_usize(count);
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn numeric_fields_of_any_length() {
        assert_eq!(cmp_dotted("010", "10"), Equal);
        assert_eq!(cmp_dotted("0", "000"), Equal);
        assert_eq!(cmp_dotted("9", "10"), Less);
        let huge = "123456789012345678901234567890123456789";
        assert_eq!(cmp_dotted(huge, "18446744073709551616"), Greater);
        assert_eq!(cmp_dotted(&format!("000{huge}"), huge), Equal);
        assert_eq!(cmp_dotted(&format!("{huge}0"), &format!("{huge}1")), Less);
    }

    #[test]
    fn mixed_fields() {
        assert_eq!(cmp_field("1vmw", "3vmw"), Less);
        assert_eq!(cmp_field("3vmw", "10vmw"), Less);
        assert_eq!(cmp_field("1vmw", "1OEM"), Greater, "remainder compares bytewise");
        assert_eq!(cmp_field("vmw", "0vmw"), Less, "empty digit run < 0");
        assert_eq!(cmp_field("", "0"), Less);
        assert_eq!(cmp_field("10", "10a"), Less);
        assert_eq!(cmp_field("010a", "10a"), Equal);
    }

    #[test]
    fn more_fields_win() {
        assert_eq!(cmp_dotted("1.0", "1.0.0"), Less);
        assert_eq!(cmp_dotted("0.20", "0.55"), Less);
        assert_eq!(cmp_dotted("1..0", "1.0"), Less);
        assert_eq!(cmp_dotted("", ""), Equal);
    }
}
