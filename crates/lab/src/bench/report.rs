//! The bench's rows, the machine they ran on, and the table they print as.

use serde::Serialize;

use super::Plan;

/// One measured figure: every run's value and their spread.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Which group measured it (`hearsay-lab bench --only GROUP` reruns it).
    pub group: &'static str,
    pub name: String,
    pub unit: &'static str,
    /// One value per run (or per agent, for memory).
    pub values: Vec<f64>,
    pub min: f64,
    pub median: f64,
    pub max: f64,
    /// What to compare with: a bound from theory, a target, a peer's figure.
    pub reference: String,
    /// Whether the median meets the target, when the row has one.
    pub meets: Option<bool>,
}

impl Row {
    pub fn new(group: &'static str, name: impl Into<String>, unit: &'static str, values: Vec<f64>) -> Row {
        let [min, median, max] = spread(&values);
        Row {
            group,
            name: name.into(),
            unit,
            values,
            min,
            median,
            max,
            reference: String::new(),
            meets: None,
        }
    }

    /// A reference shown beside the figures, not judged.
    pub fn vs(mut self, reference: impl Into<String>) -> Row {
        self.reference = reference.into();
        self
    }

    /// A target the median must not exceed.
    pub fn at_most(mut self, limit: f64, reference: impl Into<String>) -> Row {
        self.meets = Some(self.median <= limit);
        self.reference = reference.into();
        self
    }

    /// The median must be at least `floor`.
    pub fn at_least(mut self, floor: f64, reference: impl Into<String>) -> Row {
        self.meets = Some(self.median >= floor);
        self.reference = reference.into();
        self
    }
}

/// `[min, median, max]` (the upper median for an even count); NaN when empty.
pub fn spread(values: &[f64]) -> [f64; 3] {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return [f64::NAN; 3];
    }
    v.sort_by(f64::total_cmp);
    [v[0], v[v.len() / 2], v[v.len() - 1]]
}

/// Where it ran.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
}

impl Machine {
    fn here() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
            .map_or("unknown".into(), |(_, m)| m.trim().to_string());
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: memory_kib / (1024.0 * 1024.0),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        }
    }
}

/// Everything one `hearsay-lab bench` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub hearsay: &'static str,
    /// The `hearsay` binary the agents ran (`target/dist/hearsay` is the shipped build).
    pub binary: String,
    pub machine: Machine,
    pub quick: bool,
    pub runs: usize,
    pub interval_ms: u64,
    pub rows: Vec<Row>,
    pub wall_seconds: f64,
}

impl Report {
    pub fn new(plan: &Plan) -> Report {
        Report {
            hearsay: env!("CARGO_PKG_VERSION"),
            binary: plan.hearsay.display().to_string(),
            machine: Machine::here(),
            quick: plan.quick,
            runs: plan.runs,
            interval_ms: plan.interval_ms,
            rows: Vec::new(),
            wall_seconds: 0.0,
        }
    }

    /// The Markdown table, the machine above it.
    pub fn table(&self) -> String {
        let m = &self.machine;
        let mut out = format!(
            "hearsay {} bench{} (agents: {}): {} runs per timing, gossip interval {} ms; {} × {} cores, {:.0} GiB, Linux {}; took {:.0} s\n\n",
            self.hearsay,
            if self.quick { " --quick" } else { "" },
            self.binary,
            self.runs,
            self.interval_ms,
            m.cpu,
            m.cores,
            m.memory_gib,
            m.kernel,
            self.wall_seconds
        );
        out.push_str("| group | measurement | unit | min | median | max | n | reference | ok |\n");
        out.push_str("|---|---|---|---:|---:|---:|---:|---|---|\n");
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.group,
                r.name,
                r.unit,
                num(r.min),
                num(r.median),
                num(r.max),
                r.values.len(),
                r.reference,
                match r.meets {
                    Some(true) => "yes",
                    Some(false) => "NO",
                    None => "",
                }
            ));
        }
        out
    }
}

/// Three significant figures or so, no exponent.
pub fn num(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x.abs() >= 100.0 || x == x.trunc() {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_targets() {
        assert_eq!(spread(&[3.0, 1.0, 2.0]), [1.0, 2.0, 3.0]);
        assert_eq!(spread(&[4.0, 1.0, 2.0, 3.0]), [1.0, 3.0, 4.0]);
        assert!(spread(&[]).iter().all(|x| x.is_nan()));
        let r = Row::new("g", "x", "s", vec![0.5, 0.7, 0.9]).at_most(0.6, "≤ 0.6 s");
        assert_eq!(r.meets, Some(false));
        let r = Row::new("g", "x", "s", vec![0.5, 0.55, 0.9]).at_most(0.6, "≤ 0.6 s");
        assert_eq!(r.meets, Some(true));
        assert_eq!(num(1234.5), "1234");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(0.1234), "0.12");
        assert_eq!(num(24.0), "24");
    }
}
