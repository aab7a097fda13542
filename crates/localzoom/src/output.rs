//! What the commands print: records as JSON or an aligned table, and a progress line for long jobs.

use clap::ValueEnum;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

/// Prints records as JSON (an array, or one object) or as an aligned table.
pub fn print_records(output: Output, columns: &[&str], rows: Vec<serde_json::Value>, one: bool) {
    if output == Output::Json {
        let value = if one {
            rows.into_iter().next().unwrap_or_default()
        } else {
            serde_json::Value::from(rows)
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return;
    }
    let cell = |row: &serde_json::Value, c: &str| match &row[c] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|c| {
            rows.iter()
                .map(|r| cell(r, c).len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    println!("{}", line(columns.iter().map(|c| c.to_string()).collect()));
    for row in &rows {
        println!("{}", line(columns.iter().map(|c| cell(row, c)).collect()));
    }
}

/// A progress line for long jobs: redrawn in place on a terminal (at most 5 times a second), one line per tenth
/// otherwise, so logs stay readable.
pub struct Progress {
    what: &'static str,
    total: u64,
    started: std::time::Instant,
    last: std::time::Instant,
    terminal: bool,
    next_tenth: u64,
}

impl Progress {
    pub fn new(what: &'static str, total: u64) -> Self {
        use std::io::IsTerminal;
        let now = std::time::Instant::now();
        Progress {
            what,
            total,
            started: now,
            last: now,
            terminal: std::io::stderr().is_terminal(),
            next_tenth: 1,
        }
    }

    pub fn show(&mut self, done: u64) {
        let finished = done >= self.total;
        let due = if self.terminal {
            finished || self.last.elapsed() >= std::time::Duration::from_millis(200)
        } else {
            finished || done * 10 >= self.next_tenth * self.total
        };
        if !due {
            return;
        }
        self.last = std::time::Instant::now();
        while self.next_tenth * self.total <= done * 10 && self.next_tenth <= 10 {
            self.next_tenth += 1;
        }
        let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let line = progress_line(self.what, done, self.total, rate);
        match (self.terminal, finished) {
            (true, false) => eprint!("\r{line}   "),
            (true, true) => eprintln!("\r{line}   "),
            (false, _) => eprintln!("{line}"),
        }
    }
}

/// `offboarding users: 3/10 (30%) · 1 user/s · ETA 7s`
fn progress_line(what: &str, done: u64, total: u64, rate: f64) -> String {
    let eta = total.saturating_sub(done) as f64 / rate.max(1.0);
    let rate = format!("{rate:.0}");
    let unit = if rate == "1" { "user/s" } else { "users/s" };
    format!(
        "{what}: {done}/{total} ({:.0}%) · {rate} {unit} · ETA {eta:.0}s",
        100.0 * done as f64 / total.max(1) as f64
    )
}

#[cfg(test)]
mod tests {
    use super::progress_line;

    #[test]
    fn progress_counts_one_user_in_the_singular() {
        assert_eq!(
            progress_line("offboarding users", 3, 10, 1.2),
            "offboarding users: 3/10 (30%) · 1 user/s · ETA 6s"
        );
        assert_eq!(
            progress_line("checking users", 10, 10, 12.4),
            "checking users: 10/10 (100%) · 12 users/s · ETA 0s"
        );
    }
}
