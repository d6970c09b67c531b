//! Command glue: resolve ids against the catalog, call `plan`, render with `report`. Thin on purpose.

use crate::cli::{Cli, Command, DetectArgs, EccArg, EstimateArgs, PlotArgs, ProbeArg, ReportArgs, ValidateArgs};
use crate::estimate::{arch::check_declared, EccMode, Runtime};
use crate::import;
use crate::measure::detect::{self, DetectReport, DetectedGpu};
use crate::measure::{self, DeviceRequest, Probe, ValidateOptions};
use crate::plan::workload::Workload;
use crate::plan::{self, Options};
use crate::report::charts::{self, ImageFormat};
use crate::report::{self, units::parse_tokens, views, OutputFormat};
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
            let gpu = gpu(&catalog, &a.gpu)?;
            let opts = options(&a.est, a.context.as_deref())?;
            report::render(f, &plan::fit(&model, &gpu, &opts), views::fit::fit)
        }
        Command::Compare(a) => {
            let models = a
                .models
                .iter()
                .map(|m| model(&catalog, m))
                .collect::<Result<Vec<_>>>()?;
            let gpu = gpu(&catalog, &a.gpu)?;
            let opts = options(&a.est, a.context.as_deref())?;
            report::render(f, &plan::compare::compare(&models, &gpu, &opts), views::fit::compare)
        }
        Command::Records(a) => {
            let records = measure::records::load_dir(&a.dir)?;
            report::render(
                f,
                &measure::records::check(&records, &catalog)?,
                views::records::records,
            )
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
            } else if a.gpu.iter().any(|g| g.trim().eq_ignore_ascii_case("local")) {
                let mut all = local_gpus(&catalog)?;
                for g in a.gpu.iter().filter(|g| !g.trim().eq_ignore_ascii_case("local")) {
                    all.push(gpu(&catalog, g)?);
                }
                all
            } else {
                a.gpu.iter().map(|g| gpu(&catalog, g)).collect::<Result<_>>()?
            };
            let precisions = formats(&a.precision)?;
            let contexts = token_counts(&a.context)?;
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
        Command::Report(a) => report_cmd(&catalog, f, &a),
        Command::Plot(a) => plot(&catalog, &a),
        Command::Detect(a) => report::render(f, &detect_report(&catalog, &a)?, views::detect::detect),
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
        precision: a.precision.as_deref().map(format_of).transpose()?,
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

fn report_cmd(catalog: &Catalog, f: OutputFormat, a: &ReportArgs) -> Result<String> {
    let workload = Workload::load(&a.workload, catalog)?;
    let sizing = plan::sizing::size(&workload);
    match &a.out {
        Some(out) => {
            let files = report::sizing::write(&sizing, out, a.charts)?;
            let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
            Ok(format!(
                "{}\nwrote {}\n",
                match &sizing.recommendation {
                    Some(r) => format!("recommended: #{} {}", r.rank, r.label),
                    None => format!(
                        "no recommendation: {}",
                        sizing.no_recommendation.as_deref().unwrap_or("-")
                    ),
                },
                names.join(", ")
            ))
        }
        None if f == OutputFormat::Html => report::sizing::html(&sizing),
        None => report::render(f, &sizing, views::sizing::sizing),
    }
}

fn plot(catalog: &Catalog, a: &PlotArgs) -> Result<String> {
    let format =
        ImageFormat::from_path(&a.out).ok_or_else(|| anyhow!("--out {}: name a .png or .svg file", a.out.display()))?;
    let workload = match (&a.workload, &a.model) {
        (Some(path), _) => Workload::load(path, catalog)?,
        (None, Some(m)) => {
            let model = model(catalog, m)?;
            let formats = a.precision.iter().map(|p| format_of(p)).collect::<Result<Vec<_>>>()?;
            let gpus: Vec<GpuSpec> = if a.gpu.is_empty() {
                catalog.gpu_specs().cloned().collect()
            } else {
                a.gpu.iter().map(|g| gpu(catalog, g)).collect::<Result<_>>()?
            };
            let context = match &a.context {
                Some(c) => parse_tokens(c).map_err(|e| anyhow!(e)).context("--context")?,
                None => plan::DEFAULT_CONTEXT.min(model.max_context),
            };
            Workload::single_sequence(model, formats, gpus, runtime(&a.runtime)?, context)
        }
        (None, None) => bail!("give --workload FILE or --model ID"),
    };
    let sizing = plan::sizing::size(&workload);
    charts::write(a.kind, &sizing.charts, format, &a.out)?;
    Ok(format!("wrote {}\n", a.out.display()))
}

fn detect_report(catalog: &Catalog, a: &DetectArgs) -> Result<DetectReport> {
    let found = match detect::detect() {
        Ok(d) => d,
        Err(why) => {
            return Ok(DetectReport {
                not_found: Some(why.to_string()),
                driver_version: None,
                cuda_version: None,
                gpus: vec![],
            })
        }
    };
    let models: Vec<ModelSpec> = if a.models.is_empty() {
        catalog.model_specs().cloned().collect()
    } else {
        a.models.iter().map(|m| model(catalog, m)).collect::<Result<_>>()?
    };
    let precisions = formats(&a.precision)?;
    let contexts = token_counts(a.context.as_slice())?;
    let opts = Options {
        runtime: runtime(&a.runtime)?,
        ..Options::default()
    };
    let gpus = found
        .gpus
        .into_iter()
        .map(|local| {
            let matched = detect::match_catalog(&local, catalog);
            let fits = match matched.as_ref().and_then(|m| catalog.gpu(&m.id).ok()) {
                Some(spec) => {
                    plan::matrix::matrix(
                        &models,
                        &[detect::local_spec(&local, &spec)],
                        &precisions,
                        &contexts,
                        &opts,
                    )
                    .cells
                }
                None => vec![],
            };
            DetectedGpu {
                local,
                catalog: matched,
                fits,
            }
        })
        .collect();
    Ok(DetectReport {
        not_found: None,
        driver_version: found.driver_version,
        cuda_version: found.cuda_version,
        gpus,
    })
}

/// A GPU by catalog id (or path), or `local` / `local:N`: this machine's GPU N (default 0) as its
/// catalog entry with the memory free right now.
fn gpu(catalog: &Catalog, key: &str) -> Result<GpuSpec> {
    let k = key.trim().to_ascii_lowercase();
    let index = match k.strip_prefix("local") {
        Some("") => 0,
        Some(rest) => match rest.strip_prefix(':').map(str::parse::<u32>) {
            Some(Ok(i)) => i,
            _ => return Ok(catalog.gpu(key)?),
        },
        None => return Ok(catalog.gpu(key)?),
    };
    let found = detect::detect().map_err(|e| anyhow!("--gpu {key}: {e}"))?;
    let local = found
        .gpus
        .iter()
        .find(|g| g.index == index)
        .ok_or_else(|| anyhow!("--gpu {key}: no local GPU {index} ({} found)", found.gpus.len()))?;
    local_as_spec(catalog, local)
}

/// Every local GPU as catalog specs with their free memory.
fn local_gpus(catalog: &Catalog) -> Result<Vec<GpuSpec>> {
    let found = detect::detect().map_err(|e| anyhow!("--gpu local: {e}"))?;
    found.gpus.iter().map(|g| local_as_spec(catalog, g)).collect()
}

fn local_as_spec(catalog: &Catalog, local: &detect::LocalGpu) -> Result<GpuSpec> {
    let m = detect::match_catalog(local, catalog).ok_or_else(|| {
        anyhow!(
            "local GPU {} ({}, {} MiB) is not in the catalog: add a gpus/<id>.yaml listing \"{}\" in nvml_names and pass --catalog DIR",
            local.index,
            local.name,
            local.memory_total_bytes / crate::spec::gpu::MIB,
            local.name
        )
    })?;
    Ok(detect::local_spec(local, &catalog.gpu(&m.id)?))
}

/// The single place model keys resolve: a config.json, model directory or .gguf path is imported
/// (headers only); anything else is a catalog id, alias, Hugging Face id or model YAML.
fn model(catalog: &Catalog, key: &str) -> Result<ModelSpec> {
    if import::is_importable(key) {
        return Ok(import::import_path(std::path::Path::new(key))?.spec);
    }
    Ok(catalog.model(key, check_declared)?)
}

fn formats(ids: &[String]) -> Result<Vec<&'static Format>> {
    ids.iter().map(|p| format_of(p)).collect()
}

fn token_counts(values: &[String]) -> Result<Vec<u64>> {
    values.iter().map(|c| parse_tokens(c).map_err(|e| anyhow!(e))).collect()
}

fn format_of(s: &str) -> Result<&'static Format> {
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
    if a.pipeline == 0 {
        bail!("--pipeline must be at least 1");
    }
    Ok(Options {
        precision: a.precision.as_deref().map(format_of).transpose()?,
        kv: a.kv_precision.as_deref().map(kv_precision).transpose()?,
        runtime: runtime(&a.runtime)?,
        context: context
            .map(|c| parse_tokens(c).map_err(|e| anyhow!(e)))
            .transpose()
            .context("--context")?,
        batch: a.batch,
        gpus: a.gpus,
        pipeline: a.pipeline,
        images: a.images,
        crops: a.crops,
        ecc: match a.ecc {
            None => EccMode::Default,
            Some(EccArg::On) => EccMode::On,
            Some(EccArg::Off) => EccMode::Off,
        },
    })
}
