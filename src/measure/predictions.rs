//! Predictions registered before a campaign runs: `validation/predictions/<date>-<device>.json` holds
//! every planned run with gpuplan's prediction and the commit that made it, committed before the runs.
//! Each record of the campaign names the entry it answers (`Record::prediction`), so `gpuplan
//! records` can show, beside today's error, the error of the prediction made before the result was
//! known (out of sample).

use super::record::{BuildInfo, Predicted, Registered};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One planned run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Planned {
    /// the name the run's record will have
    pub id: String,
    /// candle, candle-cpu or llama.cpp
    pub engine: crate::estimate::EngineId,
    pub model: String,
    pub precision: String,
    pub context: u64,
    pub batch: u64,
    #[serde(default)]
    pub images: u64,
    /// llama.cpp's settings
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<super::llamacpp::RunSettings>,
    /// the command that runs it
    pub command: String,
    pub predicted: Predicted,
}

/// A campaign's predictions file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Campaign {
    /// `<date>-<device>`, the file stem
    pub campaign: String,
    /// "cpu" or the catalog GPU id the predictions are for
    pub device: String,
    /// YYYY-MM-DD
    pub created: String,
    /// the gpuplan commit (`git rev-parse HEAD`) whose estimator made every prediction here
    pub commit: String,
    pub gpuplan: BuildInfo,
    pub runs: Vec<Planned>,
    /// where it was read from (not stored)
    #[serde(skip)]
    pub file: String,
}

impl Campaign {
    pub fn load(path: &Path) -> anyhow::Result<Campaign> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut c: Campaign = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: line {}: not a predictions file: {e}", path.display(), e.line()))?;
        c.file = path.display().to_string();
        Ok(c)
    }

    /// The registered prediction for the record named `id`.
    pub fn registered_for(&self, id: &str) -> Option<Registered> {
        self.runs.iter().find(|r| r.id == id).map(|r| Registered {
            file: self.file.clone(),
            id: r.id.clone(),
            commit: self.commit.clone(),
            predicted: r.predicted.clone(),
        })
    }

    /// Adds planned runs; an id already registered is an error (a prediction is made once).
    pub fn add(&mut self, runs: Vec<Planned>) -> anyhow::Result<()> {
        for r in runs {
            if self.runs.iter().any(|x| x.id == r.id) {
                anyhow::bail!(
                    "{}: `{}` is registered already; predictions are made once, before the run",
                    self.file,
                    r.id
                );
            }
            self.runs.push(r);
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| anyhow::anyhow!("{}: {e}", parent.display()))?;
        }
        std::fs::write(path, serde_json::to_string_pretty(self)? + "\n")
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}

/// Records that constants were fitted on (`validation/fits.json`): every other record is out of
/// sample.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fit {
    /// the profile and constants fitted, e.g. "candle: memory_efficiency, ..."
    pub what: String,
    /// how (script, method)
    pub how: String,
    /// the record names it was fitted on
    pub records: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Fits {
    pub fits: Vec<Fit>,
}

impl Fits {
    /// `fits.json` next to a records directory (validation/records -> validation/fits.json); none
    /// there means no record was fitted on.
    pub fn beside(records_dir: &Path) -> anyhow::Result<Fits> {
        let path = records_dir.parent().unwrap_or_else(|| Path::new(".")).join("fits.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: line {}: {e}", path.display(), e.line()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Fits::default()),
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }

    /// The fits that used this record.
    pub fn fitted_on(&self, record: &str) -> Vec<&Fit> {
        self.fits
            .iter()
            .filter(|f| f.records.iter().any(|r| r == record))
            .collect()
    }
}

/// Today's date, YYYY-MM-DD (UTC), from the system clock (civil-from-days, H. Hinnant's algorithm).
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

impl Campaign {
    /// The file at `path`, or a new campaign for `device` made by `commit`. A file made by another
    /// commit is refused: one campaign's predictions come from one estimator.
    pub fn open_or_new(path: &Path, device: &str, commit: &str) -> anyhow::Result<Campaign> {
        if path.exists() {
            let c = Campaign::load(path)?;
            if c.commit != commit {
                anyhow::bail!(
                    "{}: its predictions were made by commit {}, these by {commit}; start a new campaign file",
                    path.display(),
                    c.commit
                );
            }
            return Ok(c);
        }
        Ok(Campaign {
            campaign: path
                .file_stem()
                .map_or_else(|| "campaign".into(), |s| s.to_string_lossy().into_owned()),
            device: device.into(),
            created: today(),
            commit: commit.into(),
            gpuplan: super::build_info(),
            runs: vec![],
            file: path.display().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prediction_is_registered_once_and_found_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2026-12-03-cpu.json");
        let mut c = Campaign::open_or_new(&path, "cpu", "abc").unwrap();
        let planned = |id: &str| Planned {
            id: id.into(),
            engine: crate::estimate::EngineId::LlamaCpp,
            model: "m".into(),
            precision: "q4_k_m".into(),
            context: 4096,
            batch: 1,
            images: 0,
            settings: None,
            command: "x".into(),
            predicted: serde_json::from_value(serde_json::json!({
                "memory": {"weights_bytes": 1, "kv_cache_bytes": 2, "activations_bytes": 3,
                  "activation_peak_phase": "prefill", "overhead_bytes": 4, "total_bytes": 10,
                  "available_bytes": 100, "fits": true, "load_bytes": 1, "rope_tables_bytes": 0,
                  "context_bytes": 0, "workspace_bytes": 0, "allocator_rounding_bytes": 0},
                "throughput": null
            }))
            .unwrap(),
        };
        c.add(vec![planned("a"), planned("b")]).unwrap();
        assert!(c
            .add(vec![planned("a")])
            .unwrap_err()
            .to_string()
            .contains("registered already"));
        c.save(&path).unwrap();
        let again = Campaign::open_or_new(&path, "cpu", "abc").unwrap();
        let r = again.registered_for("b").unwrap();
        assert_eq!((r.commit.as_str(), r.predicted.memory.total_bytes), ("abc", 10));
        assert!(again.registered_for("c").is_none());
        assert!(Campaign::open_or_new(&path, "cpu", "def")
            .unwrap_err()
            .to_string()
            .contains("abc"));
    }

    #[test]
    fn today_is_a_date() {
        let t = today();
        assert_eq!(t.len(), 10);
        assert!(t.starts_with("20"), "{t}");
    }
}
