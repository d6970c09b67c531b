//! Command glue: resolve ids against the catalog, call `plan`, render with `report`. Thin on purpose.

use crate::cli::{
    Cli, Command, CompareArgs, DetectArgs, EccArg, Engine, EngineArgs, EstimateArgs, FitArgs, FlashAttnArg, HostArgs,
    MatrixArgs, PlotArgs, ProbeArg, ReleaseArg, ReportArgs, SamplerArg, ValidateArgs,
};
use crate::estimate::engine::command as engine_command;
use crate::estimate::engine::offload::{self, OffloadFlags};
use crate::estimate::engine::{llamacpp, vllm, Flags};
use crate::estimate::{arch::check_declared, EccMode};
use crate::import;
use crate::measure::detect::{self, DetectReport, DetectedGpu};
use crate::measure::{self, Probe, ValidateOptions};
use crate::params::ModelKey;
use crate::plan::matrix::Matrix;
use crate::plan::workload::Workload;
use crate::plan::{self, FitReport, Options};
use crate::report::charts::{self, ImageFormat};
use crate::report::{self, views, OutputFormat};
use crate::spec::host::Host;
use crate::spec::intern::Pool;
use crate::spec::{Catalog, GpuSpec, ModelSpec};
use anyhow::{anyhow, bail, Context, Result};

pub fn run(cli: Cli) -> Result<String> {
    let catalog = Catalog::load(&cli.catalog, check_declared)?;
    let f = cli.format;
    let files = Resolver {
        catalog: &catalog,
        files: true,
    };
    match cli.command {
        Command::Models => report::render(f, &plan::catalog::models(catalog.model_specs()), views::catalog::models),
        Command::Gpus => report::render(f, &plan::catalog::gpus(catalog.gpu_specs()), views::catalog::gpus),
        Command::Formats => report::render(f, &plan::catalog::formats(), views::catalog::formats),
        Command::Hosts => report::render(f, &plan::catalog::hosts(catalog.host_specs()), views::catalog::hosts),
        Command::Fit(a) => report::render(f, &fit(&files, &a)?, views::fit::fit),
        Command::Compare(a) => report::render(f, &compare(&files, &a)?, views::fit::compare),
        Command::Records(a) => {
            let records = measure::records::load_dir(&a.dir)?;
            let fits = measure::predictions::Fits::beside(&a.dir)?;
            let rows = measure::records::check(&records, &catalog, &fits)?;
            let out = report::render(f, &rows, views::records::records)?;
            if a.check {
                let summary = measure::llamacpp::check::Summary::of(&rows);
                for gap in &summary.gaps {
                    eprintln!("not predicted: {gap}");
                }
                summary
                    .verdict(a.allow_unpredicted)
                    .map_err(|e| anyhow!("{out}\n{e}"))?;
                eprintln!("{}", summary.line());
            }
            Ok(out)
        }
        Command::Evidence(a) => {
            let logs = measure::field::load_dir(&a.dir)?;
            let summary = measure::field::summary::summarize(&logs, &catalog);
            report::render(f, &summary, views::evidence::evidence)
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
            let width = if a.wide { None } else { views::matrix::terminal_width() };
            report::render(f, &matrix(&files, &a)?, |m| views::matrix::matrix(m, width))
        }
        Command::Report(a) => report_cmd(&catalog, f, &a),
        Command::Plot(a) => plot(&catalog, &a),
        Command::Detect(a) => report::render(f, &detect_report(&catalog, &a)?, views::detect::detect),
        Command::Serve(a) => {
            crate::serve::run(catalog, &a)?;
            Ok(String::new())
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "gpuplan",
                &mut out,
            );
            Ok(String::from_utf8(out)?)
        }
        Command::Synth(a) => {
            let spec = model(&catalog, &a.model)?;
            let file = measure::synth::plan(&spec, a.precision)?.write(&a.out)?;
            report::render(f, &file, views::synth::synth)
        }
        Command::Predict(a) => {
            let (device, spec) = measure::device_for(&catalog, a.for_gpu.as_deref())?;
            let planned = match a.run.engine {
                Engine::LlamaCpp => measure::llamacpp::plan(&llamacpp_options(&catalog, &a.run)?, &spec, &device)?,
                Engine::Candle => {
                    let name = if a.for_gpu.is_some() {
                        device.name.as_str()
                    } else {
                        "cpu"
                    };
                    measure::plan_candle(&validate_options(&catalog, &a.run)?, &spec, name)?
                }
            };
            let commit = a.commit.clone().unwrap_or_else(|| measure::build_info().git_sha);
            let mut campaign = measure::predictions::Campaign::open_or_new(
                &a.campaign,
                a.for_gpu.as_deref().unwrap_or("cpu"),
                &commit,
            )?;
            campaign.add(planned.clone())?;
            campaign.save(&a.campaign)?;
            eprintln!("registered {} runs in {}", planned.len(), a.campaign.display());
            report::render(f, &planned, views::predictions::planned)
        }
        Command::Validate(a) if a.engine == Engine::LlamaCpp => {
            let opts = llamacpp_options(&catalog, &a)?;
            let records = measure::llamacpp::validate(&opts, &catalog)?;
            if !a.no_record {
                for file in measure::write_records(&records, Some(&a.record))? {
                    eprintln!("wrote {}", file.display());
                }
            }
            report::render(f, &records, views::validate::validate)
        }
        Command::Validate(a) => {
            let opts = validate_options(&catalog, &a)?;
            report::render(f, &measure::validate(&opts, &catalog)?, views::validate::validate)
        }
    }
}

/// Where model and GPU keys are looked up. The command line reads files as well (model YAML,
/// config.json, model directories, GGUF, GPU YAML); the API (`files: false`) looks up the catalog
/// only and takes a config.json as an inline object, so no request makes the server read a file.
#[derive(Debug, Clone, Copy)]
pub struct Resolver<'a> {
    pub catalog: &'a Catalog,
    pub files: bool,
}

impl Resolver<'_> {
    pub fn model(&self, key: &ModelKey) -> Result<ModelSpec> {
        match key {
            ModelKey::Config(config) => {
                let text = serde_json::to_string_pretty(config)?;
                Ok(import::hf_config::import_text(std::path::Path::new("config.json"), &text)?.spec)
            }
            ModelKey::Name(name) if self.files => model(self.catalog, name),
            ModelKey::Name(name) => Ok(self.catalog.model_by_name(name)?),
        }
    }

    pub fn gpu(&self, key: &str) -> Result<GpuSpec> {
        gpu(self.catalog, key, self.files)
    }

    /// The host a model may spill into (`--host`, `--host-memory`, `--host-bandwidth`): a catalog
    /// id (or, on the command line, a host YAML or `local`), or a host known only by its RAM size.
    /// Kept for the rest of the process, as the planner's options are `Copy` (`spec::intern`); the
    /// API takes no `local` host, whose free memory changes from one reading to the next.
    pub fn host(&self, a: &HostArgs) -> Result<Option<&'static Host>> {
        static HOSTS: Pool<Host> = Pool::new("hosts", 1024);
        let base = match a.host.as_deref() {
            Some(k) if k.trim().eq_ignore_ascii_case("local") => {
                if !self.files {
                    bail!("host `local` is for the command line: give host_memory (and host_bandwidth) instead");
                }
                Some(measure::host::local().map_err(|e| anyhow!("--host local: {e}"))?)
            }
            Some(k) if self.files => Some(self.catalog.host(k)?.host()),
            Some(k) => Some(self.catalog.host_by_name(k)?.host()),
            None => a.host_memory.map(Host::from_memory),
        };
        let Some(mut h) = base else {
            if a.host_bandwidth.is_some() {
                bail!("--host-bandwidth needs a host: add --host ID (see `gpuplan hosts`) or --host-memory SIZE");
            }
            return Ok(None);
        };
        if let Some(m) = a.host_memory {
            h = h.with_memory(m);
        }
        if let Some(bw) = a.host_bandwidth {
            h = h.with_bandwidth(bw);
        }
        Ok(Some(HOSTS.intern(h).map_err(|e| anyhow!("--host: {e}"))?))
    }

    /// The model of `fit`: the argument, or the model a pasted command names (tried as given, then
    /// as a GGUF repository's base model).
    fn fit_model(&self, arg: Option<&ModelKey>, cmd: Option<&engine_command::Command>) -> Result<ModelSpec> {
        if let Some(key) = arg {
            return self.model(key);
        }
        let named = cmd
            .and_then(|c| c.model.as_deref())
            .ok_or_else(|| anyhow!("give a MODEL, or a --cmd that names one"))?;
        engine_command::model_keys(named)
            .iter()
            .find_map(|k| self.model(&ModelKey::Name(k.to_string())).ok())
            .ok_or_else(|| {
                anyhow!("--cmd names the model `{named}`, which is neither a file here nor a catalog or Hugging Face id: give the model as the first argument")
            })
    }
}

/// `fit`: the same for the command line and `POST /api/fit`.
pub fn fit(r: &Resolver, a: &FitArgs) -> Result<FitReport> {
    let model = r.fit_model(a.model.as_ref(), a.est.engine.cmd.as_ref())?;
    let gpu = r.gpu(&a.gpu)?;
    let opts = options(r, &a.est, a.context, &model)?;
    check_context(&model, &opts, a.est.allow_long_context)?;
    check_limits(&opts)?;
    Ok(plan::fit(&model, &gpu, &opts))
}

/// `compare`: the same for the command line and `POST /api/compare`.
pub fn compare(r: &Resolver, a: &CompareArgs) -> Result<Vec<FitReport>> {
    if a.models.len() < 2 {
        bail!("compare takes at least two models");
    }
    let models = a.models.iter().map(|m| r.model(m)).collect::<Result<Vec<_>>>()?;
    let gpu = r.gpu(&a.gpu)?;
    let opts = options(r, &a.est, a.context, &models[0])?;
    for m in &models {
        check_context(m, &opts, a.est.allow_long_context)?;
    }
    check_limits(&opts)?;
    Ok(plan::compare::compare(&models, &gpu, &opts))
}

/// `matrix`: the same for the command line and `POST /api/matrix`.
pub fn matrix(r: &Resolver, a: &MatrixArgs) -> Result<Matrix> {
    let models: Vec<ModelSpec> = if a.models.is_empty() {
        r.catalog.model_specs().cloned().collect()
    } else {
        a.models.iter().map(|m| r.model(m)).collect::<Result<_>>()?
    };
    let gpus: Vec<GpuSpec> = if a.gpu.is_empty() {
        r.catalog.gpu_specs().cloned().collect()
    } else if a.gpu.iter().any(|g| g.trim().eq_ignore_ascii_case("local")) {
        let mut all = local_gpus(r.catalog)?;
        for g in a.gpu.iter().filter(|g| !g.trim().eq_ignore_ascii_case("local")) {
            all.push(r.gpu(g)?);
        }
        all
    } else {
        a.gpu.iter().map(|g| r.gpu(g)).collect::<Result<_>>()?
    };
    let opts = Options {
        runtime: a.runtime,
        batch: a.batch,
        kv: a.kv_precision,
        host: r.host(&a.host)?,
        ..Options::default()
    };
    Ok(plan::matrix::matrix(&models, &gpus, &a.precision, &a.context, &opts))
}

/// A context past the model's maximum (its position embeddings) is refused unless asked for, as
/// vLLM refuses `--max-model-len` above `max_position_embeddings` without
/// VLLM_ALLOW_LONG_MAX_MODEL_LEN=1.
fn check_context(model: &ModelSpec, opts: &Options, allow: bool) -> Result<()> {
    match opts.context {
        Some(c) if c > model.max_context && !allow => bail!(
            "context {} is longer than {}'s maximum of {} tokens: pass --allow-long-context (API: \"allow_long_context\": true) to estimate it anyway",
            c,
            model.id,
            model.max_context
        ),
        _ => Ok(()),
    }
}

/// The bounds of the command-line parsers (`params`), checked again on the merged options, since a
/// pasted `--cmd` sets the same values unparsed by clap; and bounds on the engines' sizes. Past them
/// an estimate means nothing.
fn check_limits(o: &Options) -> Result<()> {
    use crate::params::{MAX_BATCH, MAX_CONTEXT_TOKENS};
    use crate::plan::layout::MAX_GPUS;
    let range = |what: &str, v: Option<u64>, min: u64, max: u64| match v {
        Some(v) if !(min..=max).contains(&v) => Err(anyhow!("{what} {v} is out of range: {min} to {max}")),
        _ => Ok(()),
    };
    // the batch first: llama.cpp's -c is shared by its -np slots, so a huge -np also empties the context
    range("batch", Some(o.batch), 1, MAX_BATCH)?;
    range("context", o.context, 1, MAX_CONTEXT_TOKENS)?;
    range("tensor-parallel GPUs", Some(o.gpus), 1, MAX_GPUS)?;
    range("pipeline stages", Some(o.pipeline), 1, MAX_GPUS)?;
    let (v, l) = (&o.engine.vllm, &o.engine.llamacpp);
    // gpu_memory_utilization outside (0, 1] is vLLM's own refusal (the fit's `engine.refusal`)
    range("max_num_seqs", v.max_num_seqs, 1, MAX_BATCH)?;
    range(
        "max_num_batched_tokens",
        v.max_num_batched_tokens,
        1,
        MAX_CONTEXT_TOKENS,
    )?;
    range("block_size", v.block_size, 1, 1024)?;
    range("kv_cache_memory", v.kv_cache_memory, 1, 1 << 50)?;
    range("batch_size", l.batch_size, 1, MAX_CONTEXT_TOKENS)?;
    range("ubatch_size", l.ubatch_size, 1, MAX_CONTEXT_TOKENS)?;
    Ok(())
}

fn validate_options(catalog: &Catalog, a: &ValidateArgs) -> Result<ValidateOptions> {
    use std::io::IsTerminal;
    Ok(ValidateOptions {
        models: a.models.iter().map(|m| model(catalog, m)).collect::<Result<_>>()?,
        precision: a.precision,
        context: a.context,
        batch: a.batch,
        decode: a.decode,
        images: a.images,
        crops: a.crops,
        device: a.device,
        weights: a.weights.clone(),
        record: Some(a.record.clone()),
        registered: a.registered.clone(),
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

fn llamacpp_options(catalog: &Catalog, a: &ValidateArgs) -> Result<measure::llamacpp::Options> {
    let l = &a.llamacpp;
    let mut models: Vec<ModelSpec> = a.models.iter().map(|m| model(catalog, m)).collect::<Result<_>>()?;
    if models.is_empty() {
        match &l.gguf {
            Some(g) => models.push(import::import_path(g)?.spec),
            None => bail!("--engine llama.cpp: name the model(s) to run (or give --gguf FILE)"),
        }
    }
    let settings = l
        .settings
        .iter()
        .map(|s| measure::llamacpp::RunSettings {
            n_gpu_layers: l.n_gpu_layers,
            repack: !l.no_repack,
            n_cpu_moe: l.n_cpu_moe,
            n_cpu_ffn: l.n_cpu_ffn,
            rpc: l.rpc,
            ..s.clone()
        })
        .collect();
    Ok(measure::llamacpp::Options {
        models,
        precision: a.precision,
        settings,
        gguf: l.gguf.clone(),
        probe: l.probe_bin.clone(),
        work_dir: l.work_dir.clone(),
        keep_gguf: l.keep_gguf,
        bench: l.bench,
        registered: a.registered.clone(),
        timeout: std::time::Duration::from_secs(l.timeout),
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
            let formats = a.precision.clone();
            let gpus: Vec<GpuSpec> = if a.gpu.is_empty() {
                catalog.gpu_specs().cloned().collect()
            } else {
                a.gpu.iter().map(|g| gpu(catalog, g, true)).collect::<Result<_>>()?
            };
            let context = a.context.unwrap_or(plan::DEFAULT_CONTEXT.min(model.max_context));
            Workload::single_sequence(model, formats, gpus, a.runtime, context)
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
    let contexts: Vec<u64> = a.context.into_iter().collect();
    let opts = Options {
        runtime: a.runtime,
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
                        &a.precision,
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
/// `files: false` looks up the catalog only (never a YAML path).
fn gpu(catalog: &Catalog, key: &str, files: bool) -> Result<GpuSpec> {
    let lookup = || {
        Ok(if files {
            catalog.gpu(key)?
        } else {
            catalog.gpu_by_name(key)?
        })
    };
    let k = key.trim().to_ascii_lowercase();
    let index = match k.strip_prefix("local") {
        Some("") => 0,
        Some(rest) => match rest.strip_prefix(':').map(str::parse::<u32>) {
            Some(Ok(i)) => i,
            _ => return lookup(),
        },
        None => return lookup(),
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

/// The planning options of `fit` and `compare`: a pasted command's settings first, explicit flags
/// over them, then the engine's defaults.
fn options(r: &Resolver, a: &EstimateArgs, context: Option<u64>, model: &ModelSpec) -> Result<Options> {
    for (flag, v) in [("--batch", a.batch), ("--gpus", a.gpus), ("--pipeline", a.pipeline)] {
        if v == Some(0) {
            bail!("{flag} must be at least 1");
        }
    }
    let mut opts = Options::default();
    let cmd_flags = match &a.engine.cmd {
        Some(cmd) => {
            opts.apply_command(cmd, model);
            cmd.flags
        }
        None => Flags::default(),
    };
    opts.batch = a.batch.unwrap_or(opts.batch);
    opts.context = match (context, a.engine.ctx_size) {
        (Some(c), _) => Some(c),
        // llama.cpp -c: every slot's context together
        (None, Some(n)) => Some((n / opts.batch).max(1)),
        (None, None) => opts.context,
    };
    // a context given explicitly replaces the one llama.cpp's --fit would pick
    if context.is_some() || a.engine.ctx_size.is_some() {
        opts.context_fit = None;
    }
    opts.precision = a.precision.or(opts.precision);
    opts.kv = a.kv_precision.or(opts.kv);
    opts.runtime = a.runtime.or(opts.runtime);
    opts.engine = engine_flags(&a.engine, cmd_flags)?;
    opts.gpus = a.gpus.unwrap_or(opts.gpus);
    opts.pipeline = a.pipeline.unwrap_or(opts.pipeline);
    opts.images = a.images;
    opts.crops = a.crops;
    opts.host = r.host(&a.host)?;
    opts.ecc = match a.ecc {
        None => EccMode::Default,
        Some(EccArg::On) => EccMode::On,
        Some(EccArg::Off) => EccMode::Off,
    };
    Ok(opts)
}

/// Engine flags: each explicit flag over the pasted command's.
fn engine_flags(a: &EngineArgs, cmd: Flags) -> Result<Flags> {
    let v = cmd.vllm;
    let l = cmd.llamacpp;
    let overrides = if a.override_tensor.is_empty() {
        l.offload.overrides
    } else {
        offload::flags::intern(a.override_tensor.iter().flat_map(|o| o.0.iter().cloned()).collect())
            .map_err(|e| anyhow!("--override-tensor: {e}"))?
    };
    Ok(Flags {
        vllm: vllm::Flags {
            gpu_memory_utilization: a.gpu_memory_utilization.or(v.gpu_memory_utilization),
            max_num_seqs: a.max_num_seqs.or(v.max_num_seqs),
            max_num_batched_tokens: a.max_num_batched_tokens.or(v.max_num_batched_tokens),
            block_size: a.block_size.or(v.block_size),
            enforce_eager: a.enforce_eager || v.enforce_eager,
            kv_cache_memory: a.kv_cache_memory.or(v.kv_cache_memory),
            entry: if a.llm_class { vllm::Entry::LlmClass } else { v.entry },
            sampler: match a.vllm_sampler {
                Some(SamplerArg::Native) => vllm::Sampler::Native,
                Some(SamplerArg::Flashinfer) => vllm::Sampler::Flashinfer,
                None => v.sampler,
            },
            release: match a.vllm_release {
                Some(ReleaseArg::V0_11) => vllm::Release::V0_11,
                Some(ReleaseArg::V0_19) => vllm::Release::V0_19,
                None => v.release,
            },
            cpu_offload_gb: a.cpu_offload_gb.or(v.cpu_offload_gb),
            host_link: v.host_link,
        },
        llamacpp: llamacpp::Flags {
            batch_size: a.batch_size.or(l.batch_size),
            ubatch_size: a.ubatch_size.or(l.ubatch_size),
            flash_attn: a
                .flash_attn
                .map(|f| match f {
                    FlashAttnArg::On => llamacpp::FlashAttn::On,
                    FlashAttnArg::Off => llamacpp::FlashAttn::Off,
                    FlashAttnArg::Auto => llamacpp::FlashAttn::Auto,
                })
                .or(l.flash_attn),
            cache_type_k: a.cache_type_k.or(l.cache_type_k),
            cache_type_v: a.cache_type_v.or(l.cache_type_v),
            n_gpu_layers: match a.n_gpu_layers {
                Some(n) => n.count(),
                None => l.n_gpu_layers,
            },
            no_mmap: a.no_mmap || l.no_mmap,
            kv_unified: l.kv_unified,
            swa_full: l.swa_full,
            entry: l.entry,
            offload: OffloadFlags {
                overrides,
                cpu_moe: a.cpu_moe || l.offload.cpu_moe,
                n_cpu_moe: a.n_cpu_moe.unwrap_or(l.offload.n_cpu_moe),
                n_cpu_ffn: a.n_cpu_ffn.unwrap_or(l.offload.n_cpu_ffn),
                no_kv_offload: a.no_kv_offload || l.offload.no_kv_offload,
                no_op_offload: a.no_op_offload || l.offload.no_op_offload,
            },
        },
    })
}
