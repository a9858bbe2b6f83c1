//! Timestamps without a date library: the build's one timestamp is Unix seconds (for the
//! ISO and tar mtimes) and ISO-8601 text (for `vmware.xml` and the image profile).

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `2024-06-25T07:22:11` (UTC) for Unix seconds.
pub fn to_iso8601(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Unix seconds of an ISO-8601 date or date-time as depots write them (`2024-06-25`,
/// `2024-06-25T00:00:00.000001+00:00`); fractions and zones are ignored (read as UTC).
pub fn parse_iso8601(text: &str) -> Option<i64> {
    let t = text.trim();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(range)?;
        if s.bytes().all(|b| b.is_ascii_digit()) { s.parse().ok() } else { None }
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if t.get(4..5) != Some("-") || t.get(7..8) != Some("-") || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (hh, mm, ss) = if t.len() > 10 {
        if !matches!(t.get(10..11), Some("T" | " ")) || t.get(13..14) != Some(":") || t.get(16..17) != Some(":") {
            return None;
        }
        (num(11..13)?, num(14..16)?, num(17..19)?)
    } else {
        (0, 0, 0)
    };
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_values() {
        assert_eq!(to_iso8601(0), "1970-01-01T00:00:00");
        assert_eq!(parse_iso8601("2024-06-25T07:22:11.326293"), Some(1_719_300_131));
        assert_eq!(to_iso8601(1_719_300_131), "2024-06-25T07:22:11");
        assert_eq!(parse_iso8601("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_iso8601("2024-06-25T00:00:00+00:00"), parse_iso8601("2024-06-25"));
        for secs in [-86_400 * 400, 0, 951_782_400, 4_102_444_799] {
            assert_eq!(parse_iso8601(&to_iso8601(secs)), Some(secs), "{secs}");
        }
        for bad in ["", "2024", "2024-13-01", "24-06-25", "2024/06/25", "2024-06-25T7:00:00"] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
