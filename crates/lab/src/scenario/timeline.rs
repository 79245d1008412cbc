//! A scenario's timeline: one line per step as it completes — when (since the start),
//! how long it took, and how many module gossip rounds and backup gossip rounds that
//! is — and the same steps as a JSON report.

use std::time::Instant;

use serde::Serialize;

/// One completed step.
#[derive(Serialize, Clone)]
pub struct Step {
    /// Short name (stable, for scripts).
    pub step: String,
    /// What was seen.
    pub detail: String,
    /// Seconds since the scenario started, when the step completed.
    pub at_s: f64,
    /// Seconds the step took.
    pub took_s: f64,
    /// `took_s` in module gossip rounds.
    pub rounds: f64,
    /// `took_s` in backup gossip rounds.
    pub backup_rounds: f64,
}

/// The steps so far, printed as they complete (to stdout, or to stderr when the
/// report goes to stdout as JSON).
pub struct Timeline {
    start: Instant,
    last: Instant,
    interval_ms: u64,
    backup_interval_ms: u64,
    to_stderr: bool,
    pub steps: Vec<Step>,
}

impl Timeline {
    pub fn new(interval_ms: u64, backup_interval_ms: u64, to_stderr: bool) -> Timeline {
        let now = Instant::now();
        Timeline {
            start: now,
            last: now,
            interval_ms,
            backup_interval_ms,
            to_stderr,
            steps: Vec::new(),
        }
    }

    /// Prints a line that is not a step (a header, an action taken).
    pub fn note(&self, text: &str) {
        let at = self.start.elapsed().as_secs_f64();
        self.print(&format!("{at:>7.1}s {:>7} {:>7} {:>7}  {text}", "", "", ""));
    }

    /// Prints the column heads.
    pub fn heads(&self) {
        self.print(&format!(
            "{:>8} {:>7} {:>7} {:>7}  step",
            "at", "took", "rounds", "backup"
        ));
    }

    /// Records a step that ends now and began when the previous one ended.
    pub fn step(&mut self, step: &str, detail: String) {
        let took = self.last.elapsed().as_secs_f64();
        self.step_took(step, detail, took);
    }

    /// Records a step that ends now and took `took_s` (measured by the caller, e.g.
    /// from a deployment's own time to the last node running it).
    pub fn step_took(&mut self, step: &str, detail: String, took_s: f64) {
        self.last = Instant::now();
        let s = Step {
            step: step.to_string(),
            detail,
            at_s: round2(self.start.elapsed().as_secs_f64()),
            took_s: round2(took_s),
            rounds: round2(took_s * 1000.0 / self.interval_ms as f64),
            backup_rounds: round2(took_s * 1000.0 / self.backup_interval_ms as f64),
        };
        self.print(&format!(
            "{:>7.1}s {:>6.2}s {:>7.1} {:>7.1}  {}: {}",
            s.at_s, s.took_s, s.rounds, s.backup_rounds, s.step, s.detail
        ));
        self.steps.push(s);
    }

    /// Restarts the clock of the next step (time spent between steps is not counted).
    pub fn restart_step(&mut self) {
        self.last = Instant::now();
    }

    pub fn print(&self, line: &str) {
        if self.to_stderr {
            esay!("{line}");
        } else {
            say!("{line}");
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
