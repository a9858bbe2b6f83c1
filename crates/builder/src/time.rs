//! The build's one timestamp: Unix seconds (for the ISO and tar mtimes) and ISO-8601 text
//! (for `vmware.xml` and the image profile), through chrono.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// `2024-06-25T07:22:11` (UTC) for Unix seconds; the epoch for an out-of-range value.
pub fn to_iso8601(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Unix seconds of an ISO-8601 date or date-time as depots write them (`2024-06-25`,
/// `2024-06-25T00:00:00.000001+00:00`); fractions and zones are ignored (read as UTC).
pub fn parse_iso8601(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.len() == 10 {
        let date = NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()?;
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp());
    }
    // Date, `T` or space, time; whatever follows the seconds (fraction, zone) is ignored.
    let head = t.get(..19)?;
    let rest = &t[19..];
    if !(rest.is_empty() || rest.starts_with(['.', '+', '-', 'Z'])) {
        return None;
    }
    let head = head.replacen(' ', "T", 1);
    Some(NaiveDateTime::parse_from_str(&head, "%Y-%m-%dT%H:%M:%S").ok()?.and_utc().timestamp())
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
