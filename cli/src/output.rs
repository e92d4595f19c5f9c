//! How the command prints: lines that end the program quietly when the reader has gone (`sparkplug plan X | head`),
//! tables, and a spinner for waits. The demo, `status` and the commands to come print through here, one way.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use comfy_table::presets::NOTHING;
use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};

/// Prints one line on standard output. A closed pipe ends the program with success, like other Unix tools, instead
/// of the panic `println!` gives.
pub fn line(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = writeln!(out, "{args}") {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` through [`line`].
macro_rules! say {
    () => { $crate::output::line(format_args!("")) };
    ($($arg:tt)*) => { $crate::output::line(format_args!($($arg)*)) };
}
pub(crate) use say;

/// A plain text table: a header row, then the rows; columns named in `right` are right-aligned (numbers).
pub fn table(header: &[&str], right: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut table = Table::new();
    table
        .load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec())
        .add_rows(rows);
    for (index, name) in header.iter().enumerate() {
        if let Some(column) = table.column_mut(index) {
            column.set_padding((0, 2));
            column.set_constraint(ColumnConstraint::ContentWidth);
            if right.contains(name) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    table
        .lines()
        .map(|line| line.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A spinner with the elapsed time on standard error while something slow happens; hidden when that is not a
/// terminal (CI logs keep the plain lines).
pub fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message.to_string());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A progress bar of `total` steps on standard error; hidden when that is not a terminal.
pub fn progress(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(total).with_message(message.to_string());
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar
}

/// A cost estimate for a table cell: `$0.00023` under a cent, `$0.79` above, `-` when there is none.
pub fn usd(value: Option<f64>) -> String {
    match value {
        Some(usd) if usd < 0.01 => format!("${usd:.5}"),
        Some(usd) => format!("${usd:.2}"),
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_show_five_decimals_under_a_cent_and_two_above() {
        assert_eq!(usd(Some(0.000234)), "$0.00023");
        assert_eq!(usd(Some(0.7862)), "$0.79");
        assert_eq!(usd(None), "-");
    }

    #[test]
    fn a_table_aligns_its_columns_and_right_aligns_numbers() {
        let text = table(
            &["scenario", "seconds"],
            &["seconds"],
            vec![
                vec!["a".into(), "5 s".into()],
                vec!["a longer one".into(), "120 s".into()],
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "scenario      seconds");
        assert_eq!(lines[1], "a                 5 s");
        assert_eq!(lines[2], "a longer one    120 s");
    }
}
