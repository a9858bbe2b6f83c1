//! Output for people and for programs: every command writes through one `Write`
//! (stdout, locked once), so output is never interleaved and errors such as a closed
//! pipe are returned, not panicked on. Tables are plain aligned text.

use std::io::{self, IsTerminal as _, Write};
use std::sync::OnceLock;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How this run talks to a person on stderr: progress bars and colours, decided once in
/// `main` from `--color`, `NO_COLOR`, `--no-progress`, `-q` and whether stderr is a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ui {
    /// Draw progress bars on stderr.
    pub progress: bool,
    /// Colour (ANSI escapes) in logs on stderr.
    pub color: bool,
    /// `-q`: no status lines on stderr either (`host collect`'s per-host lines).
    pub quiet: bool,
}

/// `--color`: when stderr gets colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set (to anything but the empty string)
    Auto,
    /// Always, NO_COLOR or not
    Always,
    /// Never
    Never,
}

/// `--log-format`: how log lines on stderr are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event
    Text,
    /// One JSON object per line (timestamp, level, fields, message), for log collectors
    Json,
}

impl Ui {
    /// The settings for this process: `stderr_is_terminal` and `no_color_env` (the value
    /// of `NO_COLOR`) are passed in so the rule can be tested.
    pub fn decide(
        color: ColorWhen,
        no_progress: bool,
        quiet: bool,
        stderr_is_terminal: bool,
        no_color_env: Option<&std::ffi::OsStr>,
    ) -> Ui {
        let no_color = no_color_env.is_some_and(|v| !v.is_empty());
        let color = match color {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => stderr_is_terminal && !no_color,
        };
        Ui { progress: stderr_is_terminal && !no_progress && !quiet, color, quiet }
    }

    /// [`Ui::decide`] for this process's stderr and environment.
    pub fn detect(color: ColorWhen, no_progress: bool, quiet: bool) -> Ui {
        Ui::decide(color, no_progress, quiet, io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref())
    }
}

static UI: OnceLock<Ui> = OnceLock::new();

/// Set once by `main`, before any command runs.
pub fn set_ui(ui: Ui) {
    let _ = UI.set(ui);
}

/// The settings `main` chose (no bars, no colour if it chose none).
pub fn ui() -> Ui {
    UI.get().copied().unwrap_or_default()
}

/// A progress bar of bytes on stderr, hidden unless [`Ui::progress`]:
/// `label [=====>    ] 1.2 MiB/3.4 MiB 5 MiB/s eta 1s`.
pub fn bytes_bar(label: &str, total: Option<u64>) -> ProgressBar {
    let target = if ui().progress { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(total, target);
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(label.to_owned());
    bar
}

/// The command's output writer: stdout, locked and buffered.
pub fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::new(io::stdout().lock())
}

/// Write a value as pretty JSON, followed by a newline.
pub fn write_json<T: serde::Serialize>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
    writeln!(out)
}

/// A table of text cells, columns padded to their widest cell. The last column is not
/// padded, so long summaries don't leave trailing blanks.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<I, S>(headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self { headers: headers.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cells: Vec<String> = cells.into_iter().map(Into::into).collect();
        cells.resize(self.headers.len().max(cells.len()), String::new());
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Write the table, each line starting with `indent`.
    pub fn write(&self, out: &mut dyn Write, indent: &str) -> io::Result<()> {
        let columns = self.rows.iter().map(Vec::len).chain([self.headers.len()]).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for line in std::iter::once(&self.headers).chain(&self.rows) {
            for (i, cell) in line.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        for line in std::iter::once(&self.headers).chain(&self.rows) {
            let mut text = String::from(indent);
            for (i, cell) in line.iter().enumerate() {
                text.push_str(cell);
                if i + 1 < line.len() {
                    let pad = widths[i] - cell.chars().count() + 2;
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{}", text.trim_end())?;
        }
        Ok(())
    }
}

/// `1536` → `1.5 KiB`; exact bytes below 1 KiB.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Precision loss is fine: this is for display, with one decimal.
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `n thing` / `n things`.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 { format!("{n} {singular}") } else { format!("{n} {plural}") }
}

/// The date part of an ISO-8601 timestamp (`2024-06-25T…` → `2024-06-25`).
pub fn date_only(timestamp: &str) -> &str {
    let t = timestamp.trim();
    match t.char_indices().nth(10) {
        Some((i, 'T' | ' ')) => &t[..i],
        _ => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(["NAME", "VERSION", "NOTE"]);
        t.row(["a", "1.0", "x"]);
        t.row(["longer-name", "2", ""]);
        let mut out = Vec::new();
        t.write(&mut out, "  ").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "  NAME         VERSION  NOTE\n  a            1.0      x\n  longer-name  2\n");
    }

    #[test]
    fn colour_and_progress_follow_flags_terminal_and_no_color() {
        use std::ffi::OsStr;
        let d = Ui::decide;
        assert_eq!(d(ColorWhen::Auto, false, false, true, None), Ui { progress: true, color: true, quiet: false });
        assert_eq!(d(ColorWhen::Auto, false, false, false, None), Ui { progress: false, color: false, quiet: false });
        assert!(!d(ColorWhen::Auto, false, false, true, Some(OsStr::new("1"))).color, "NO_COLOR");
        assert!(d(ColorWhen::Auto, false, false, true, Some(OsStr::new(""))).color, "empty NO_COLOR is unset");
        assert!(d(ColorWhen::Always, false, false, false, Some(OsStr::new("1"))).color);
        assert!(!d(ColorWhen::Never, false, false, true, None).color);
        assert!(!d(ColorWhen::Auto, true, false, true, None).progress, "--no-progress");
        assert!(!d(ColorWhen::Auto, false, true, true, None).progress, "-q");
    }

    #[test]
    fn sizes_and_dates() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(date_only("2024-06-25T10:00:00+00:00"), "2024-06-25");
        assert_eq!(date_only("2020-12-28"), "2020-12-28");
        assert_eq!(date_only(""), "");
    }
}
