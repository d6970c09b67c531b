//! The catalog: the embedded `models/`, `gpus/` and `hosts/` specs, extended or overridden by user
//! directories (`--catalog DIR`, `GPUPLAN_CATALOG=DIR[:DIR..]`), each holding `models/*.yaml`,
//! `gpus/*.yaml` and/or `hosts/*.yaml`. Wherever a model, GPU or host id is accepted, a path to a YAML
//! file works too.

use super::error::SpecError;
use super::gpu::GpuSpec;
use super::host::HostSpec;
use super::model::ModelSpec;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

/// Where a spec came from, and its text (kept for error locations).
#[derive(Debug, Clone)]
pub struct Origin {
    pub path: PathBuf,
    pub embedded: bool,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Entry<T> {
    pub spec: T,
    pub origin: Origin,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub models: Vec<Entry<ModelSpec>>,
    pub gpus: Vec<Entry<GpuSpec>>,
    pub hosts: Vec<Entry<HostSpec>>,
}

/// A check the catalog runs on each model after parsing (the estimator's declared-vs-derived check):
/// Err((field, message)).
pub type ModelCheck = fn(&ModelSpec) -> Result<(), (String, String)>;

impl Catalog {
    /// The embedded catalog alone.
    pub fn embedded(check: ModelCheck) -> Result<Catalog, SpecError> {
        let mut c = Catalog::default();
        for (path, text) in embedded::EMBEDDED_MODELS {
            c.add_model(Path::new(path), text.to_string(), true, check)?;
        }
        for (path, text) in embedded::EMBEDDED_GPUS {
            c.add_gpu(Path::new(path), text.to_string(), true)?;
        }
        for (path, text) in embedded::EMBEDDED_HOSTS {
            c.add_host(Path::new(path), text.to_string(), true)?;
        }
        Ok(c)
    }

    /// The embedded catalog plus user directories; a user spec with an existing id replaces it.
    pub fn load(dirs: &[PathBuf], check: ModelCheck) -> Result<Catalog, SpecError> {
        let mut c = Catalog::embedded(check)?;
        for dir in dirs {
            if !dir.is_dir() {
                return Err(SpecError::Io {
                    path: dir.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "catalog directory not found"),
                });
            }
            for path in yaml_files(&dir.join("models"))? {
                let text = read(&path)?;
                c.add_model(&path, text, false, check)?;
            }
            for path in yaml_files(&dir.join("gpus"))? {
                let text = read(&path)?;
                c.add_gpu(&path, text, false)?;
            }
            for path in yaml_files(&dir.join("hosts"))? {
                let text = read(&path)?;
                c.add_host(&path, text, false)?;
            }
        }
        Ok(c)
    }

    fn add_model(&mut self, path: &Path, text: String, embedded: bool, check: ModelCheck) -> Result<(), SpecError> {
        let spec = parse_model(path, &text, check)?;
        let origin = Origin {
            path: path.to_path_buf(),
            embedded,
            text,
        };
        upsert(&mut self.models, Entry { spec, origin }, |e| &e.spec.id, "model")
    }

    fn add_gpu(&mut self, path: &Path, text: String, embedded: bool) -> Result<(), SpecError> {
        let spec = GpuSpec::from_yaml(path, &text)?;
        let origin = Origin {
            path: path.to_path_buf(),
            embedded,
            text,
        };
        upsert(&mut self.gpus, Entry { spec, origin }, |e| &e.spec.id, "gpu")
    }

    fn add_host(&mut self, path: &Path, text: String, embedded: bool) -> Result<(), SpecError> {
        let spec = HostSpec::from_yaml(path, &text)?;
        let origin = Origin {
            path: path.to_path_buf(),
            embedded,
            text,
        };
        upsert(&mut self.hosts, Entry { spec, origin }, |e| &e.spec.id, "host")
    }

    /// A host by id, alias or name (case-insensitive), or path to a YAML file.
    pub fn host(&self, key: &str) -> Result<HostSpec, SpecError> {
        if looks_like_file(key) {
            let path = Path::new(key);
            return HostSpec::from_yaml(path, &read(path)?);
        }
        self.host_by_name(key)
    }

    /// A host by id, name or alias (case-insensitive); never reads a file.
    pub fn host_by_name(&self, key: &str) -> Result<HostSpec, SpecError> {
        find(&self.hosts, key, |e| {
            let s = &e.spec;
            std::iter::once(s.id.as_str())
                .chain(std::iter::once(s.name.as_str()))
                .chain(s.aliases.iter().map(String::as_str))
        })
        .map(|e| e.spec.clone())
        .ok_or_else(|| unknown("host", key, self.hosts.iter().map(|e| e.spec.id.as_str())))
    }

    pub fn host_specs(&self) -> impl Iterator<Item = &HostSpec> {
        self.hosts.iter().map(|e| &e.spec)
    }

    /// A model by id, alias, Hugging Face id (case-insensitive), or path to a YAML file.
    pub fn model(&self, key: &str, check: ModelCheck) -> Result<ModelSpec, SpecError> {
        if looks_like_file(key) {
            let path = Path::new(key);
            return parse_model(path, &read(path)?, check);
        }
        self.model_by_name(key)
    }

    /// A model by id, alias or Hugging Face id (case-insensitive); never reads a file.
    pub fn model_by_name(&self, key: &str) -> Result<ModelSpec, SpecError> {
        find(&self.models, key, |e| {
            let s = &e.spec;
            std::iter::once(s.id.as_str())
                .chain(s.aliases.iter().map(String::as_str))
                .chain(s.hf_id.as_deref())
                // the repository name alone, as GGUF files and local directories are named
                .chain(
                    s.hf_id
                        .as_deref()
                        .and_then(|h| h.rsplit_once('/'))
                        .map(|(_, name)| name),
                )
        })
        .map(|e| e.spec.clone())
        .ok_or_else(|| unknown("model", key, self.models.iter().map(|e| e.spec.id.as_str())))
    }

    /// A GPU by id, alias, display name or NVML name (case-insensitive), or path to a YAML file.
    pub fn gpu(&self, key: &str) -> Result<GpuSpec, SpecError> {
        if looks_like_file(key) {
            let path = Path::new(key);
            return GpuSpec::from_yaml(path, &read(path)?);
        }
        self.gpu_by_name(key)
    }

    /// A GPU by id, alias, display name or NVML name (case-insensitive); never reads a file.
    pub fn gpu_by_name(&self, key: &str) -> Result<GpuSpec, SpecError> {
        find(&self.gpus, key, |e| {
            let s = &e.spec;
            std::iter::once(s.id.as_str())
                .chain(std::iter::once(s.name.as_str()))
                .chain(s.aliases.iter().map(String::as_str))
                .chain(s.nvml_names.iter().map(String::as_str))
        })
        .map(|e| e.spec.clone())
        .ok_or_else(|| unknown("gpu", key, self.gpus.iter().map(|e| e.spec.id.as_str())))
    }

    pub fn model_specs(&self) -> impl Iterator<Item = &ModelSpec> {
        self.models.iter().map(|e| &e.spec)
    }

    pub fn gpu_specs(&self) -> impl Iterator<Item = &GpuSpec> {
        self.gpus.iter().map(|e| &e.spec)
    }
}

fn parse_model(path: &Path, text: &str, check: ModelCheck) -> Result<ModelSpec, SpecError> {
    let spec = ModelSpec::from_yaml(path, text)?;
    if let Err((field, message)) = check(&spec) {
        return Err(SpecError::invalid(path, text, &field, message));
    }
    Ok(spec)
}

fn looks_like_file(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    (lower.ends_with(".yaml") || lower.ends_with(".yml")) || (key.contains('/') && Path::new(key).is_file())
}

fn read(path: &Path) -> Result<String, SpecError> {
    std::fs::read_to_string(path).map_err(|source| SpecError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, SpecError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let rd = std::fs::read_dir(dir).map_err(|source| SpecError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

fn upsert<T>(
    list: &mut Vec<Entry<T>>,
    entry: Entry<T>,
    id: fn(&Entry<T>) -> &String,
    kind: &'static str,
) -> Result<(), SpecError> {
    match list.iter().position(|e| id(e).eq_ignore_ascii_case(id(&entry))) {
        // a user file replaces an embedded entry; two files of the same origin clash
        Some(i) if list[i].origin.embedded && !entry.origin.embedded => {
            list[i] = entry;
            Ok(())
        }
        Some(i) => Err(SpecError::Duplicate {
            kind,
            id: id(&entry).clone(),
            first: list[i].origin.path.clone(),
            second: entry.origin.path,
        }),
        None => {
            list.push(entry);
            Ok(())
        }
    }
}

fn find<'a, T, I>(list: &'a [Entry<T>], key: &str, names: impl Fn(&'a Entry<T>) -> I) -> Option<&'a Entry<T>>
where
    I: Iterator<Item = &'a str>,
{
    let key = key.trim();
    list.iter().find(|e| names(e).any(|n| n.eq_ignore_ascii_case(key)))
}

fn unknown<'a>(kind: &'static str, key: &str, ids: impl Iterator<Item = &'a str>) -> SpecError {
    let k = key.to_ascii_lowercase();
    let mut near: Vec<&str> = ids
        .filter(|id| {
            let id = id.to_ascii_lowercase();
            id.contains(&k) || k.contains(&id) || edit_distance(&id, &k) <= 2
        })
        .collect();
    near.truncate(5);
    let hint = if near.is_empty() {
        format!(" (list them with `gpuplan {kind}s`)")
    } else {
        format!(" (did you mean: {}?)", near.join(", "))
    };
    SpecError::Unknown {
        kind,
        id: key.to_string(),
        hint,
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
