//! Command glue: resolve ids against the catalog, call `plan`, render with `report`. Thin on purpose.

use crate::cli::{Cli, Command, EccArg, EstimateArgs};
use crate::estimate::{arch::check_declared, EccMode, Runtime};
use crate::import;
use crate::plan::{self, Options};
use crate::report::{self, units::parse_tokens, views};
use crate::spec::{Catalog, Format, GpuSpec, KvPrecision, ModelSpec};
use anyhow::{anyhow, bail, Context, Result};

pub fn run(cli: Cli) -> Result<String> {
    let catalog = Catalog::load(&cli.catalog, check_declared)?;
    let f = cli.format;
    match cli.command {
        Command::Models => report::render(f, &plan::catalog::models(catalog.model_specs()), views::catalog::models),
        Command::Gpus => report::render(f, &plan::catalog::gpus(catalog.gpu_specs()), views::catalog::gpus),
        Command::Formats => report::render(f, &plan::catalog::formats(), views::catalog::formats),
        Command::Fit(a) => {
            let model = model(&catalog, &a.model)?;
            let gpu = catalog.gpu(&a.gpu)?;
            let opts = options(&a.est, a.context.as_deref())?;
            report::render(f, &plan::fit(&model, &gpu, &opts), views::fit::fit)
        }
        Command::Compare(a) => {
            let models = a.models.iter().map(|m| model(&catalog, m)).collect::<Result<Vec<_>>>()?;
            let gpu = catalog.gpu(&a.gpu)?;
            let opts = options(&a.est, a.context.as_deref())?;
            report::render(f, &plan::compare::compare(&models, &gpu, &opts), views::fit::compare)
        }
        Command::Import(a) => {
            let imported = import::import_path(&a.path)?;
            if let Some(out) = &a.out {
                let yaml = import::to_yaml(&imported)?;
                std::fs::write(out, yaml).with_context(|| format!("writing {}", out.display()))?;
            }
            report::render(f, &imported, views::import::import)
        }
        Command::Matrix(a) => {
            let models: Vec<ModelSpec> = if a.models.is_empty() {
                catalog.model_specs().cloned().collect()
            } else {
                a.models.iter().map(|m| model(&catalog, m)).collect::<Result<_>>()?
            };
            let gpus: Vec<GpuSpec> = if a.gpu.is_empty() {
                catalog.gpu_specs().cloned().collect()
            } else {
                a.gpu.iter().map(|g| catalog.gpu(g).map_err(Into::into)).collect::<Result<_>>()?
            };
            let precisions = a.precision.iter().map(|p| format(p)).collect::<Result<Vec<_>>>()?;
            let contexts = a.context.iter().map(|c| parse_tokens(c).map_err(|e| anyhow!(e))).collect::<Result<Vec<_>>>()?;
            let opts = Options {
                runtime: runtime(&a.runtime)?,
                batch: a.batch,
                kv: a.kv_precision.as_deref().map(kv_precision).transpose()?,
                ..Options::default()
            };
            report::render(f, &plan::matrix::matrix(&models, &gpus, &precisions, &contexts, &opts), views::matrix::matrix)
        }
    }
}

/// The single place model keys resolve: a config.json, model directory or .gguf path is imported
/// (headers only); anything else is a catalog id, alias, Hugging Face id or model YAML.
fn model(catalog: &Catalog, key: &str) -> Result<ModelSpec> {
    if import::is_importable(key) {
        return Ok(import::import_path(std::path::Path::new(key))?.spec);
    }
    Ok(catalog.model(key, check_declared)?)
}

fn format(s: &str) -> Result<&'static Format> {
    Format::parse(s).ok_or_else(|| anyhow!("unknown precision `{s}` (known: {})", Format::ids().join(", ")))
}

fn kv_precision(s: &str) -> Result<KvPrecision> {
    KvPrecision::parse(s).ok_or_else(|| anyhow!("unknown KV precision `{s}` (known: {})", KvPrecision::ALL.join(", ")))
}

fn runtime(s: &str) -> Result<&'static Runtime> {
    Runtime::parse(s).ok_or_else(|| anyhow!("unknown runtime `{s}` (known: {})", Runtime::ids().join(", ")))
}

fn options(a: &EstimateArgs, context: Option<&str>) -> Result<Options> {
    if a.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if a.gpus == 0 {
        bail!("--gpus must be at least 1");
    }
    Ok(Options {
        precision: a.precision.as_deref().map(format).transpose()?,
        kv: a.kv_precision.as_deref().map(kv_precision).transpose()?,
        runtime: runtime(&a.runtime)?,
        context: context.map(|c| parse_tokens(c).map_err(|e| anyhow!(e))).transpose().context("--context")?,
        batch: a.batch,
        gpus: a.gpus,
        images: a.images,
        crops: a.crops,
        ecc: match a.ecc {
            None => EccMode::Default,
            Some(EccArg::On) => EccMode::On,
            Some(EccArg::Off) => EccMode::Off,
        },
    })
}
