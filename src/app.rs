//! Command glue: resolve ids against the catalog, call `plan`, render with `report`. Thin on purpose.

use crate::cli::{Cli, Command, EccArg, EstimateArgs, ProbeArg, ValidateArgs};
use crate::estimate::{arch::check_declared, EccMode, Runtime};
use crate::measure::{self, DeviceRequest, Probe, ValidateOptions};
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
            let models = a
                .models
                .iter()
                .map(|m| model(&catalog, m))
                .collect::<Result<Vec<_>>>()?;
            let gpu = catalog.gpu(&a.gpu)?;
            let opts = options(&a.est, a.context.as_deref())?;
            report::render(f, &plan::compare::compare(&models, &gpu, &opts), views::fit::compare)
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
                a.gpu
                    .iter()
                    .map(|g| catalog.gpu(g).map_err(Into::into))
                    .collect::<Result<_>>()?
            };
            let precisions = a.precision.iter().map(|p| format(p)).collect::<Result<Vec<_>>>()?;
            let contexts = a
                .context
                .iter()
                .map(|c| parse_tokens(c).map_err(|e| anyhow!(e)))
                .collect::<Result<Vec<_>>>()?;
            let opts = Options {
                runtime: runtime(&a.runtime)?,
                batch: a.batch,
                kv: a.kv_precision.as_deref().map(kv_precision).transpose()?,
                ..Options::default()
            };
            report::render(
                f,
                &plan::matrix::matrix(&models, &gpus, &precisions, &contexts, &opts),
                views::matrix::matrix,
            )
        }
        Command::Validate(a) => {
            let opts = validate_options(&catalog, &a)?;
            report::render(f, &measure::validate(&opts, &catalog)?, views::validate::validate)
        }
    }
}

fn validate_options(catalog: &Catalog, a: &ValidateArgs) -> Result<ValidateOptions> {
    use std::io::IsTerminal;
    Ok(ValidateOptions {
        models: a.models.iter().map(|m| model(catalog, m)).collect::<Result<_>>()?,
        precision: a.precision.as_deref().map(format).transpose()?,
        context: a
            .context
            .as_deref()
            .map(|c| parse_tokens(c).map_err(|e| anyhow!(e)))
            .transpose()
            .context("--context")?,
        batch: a.batch,
        decode: a.decode,
        images: a.images,
        crops: a.crops,
        device: DeviceRequest::parse(&a.device)?,
        weights: a.weights.clone(),
        record: Some(a.record.clone()),
        write_records: !a.no_record,
        probe: a.probe.map(|p| match p {
            ProbeArg::Context => Probe::Context,
            ProbeArg::Cublas => Probe::Cublas,
        }),
        // progress bars only where someone watches (not in CI logs or pipes)
        progress: std::io::stderr().is_terminal(),
        log: |m| eprintln!("{m}"),
    })
}

fn model(catalog: &Catalog, key: &str) -> Result<ModelSpec> {
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
        context: context
            .map(|c| parse_tokens(c).map_err(|e| anyhow!(e)))
            .transpose()
            .context("--context")?,
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
