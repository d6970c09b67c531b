//! What the engine would print and do, in its own words: the start-up figures under the names its
//! log uses (so a user can hold them against the log line by line), the verdict, and the command.

use crate::estimate::engine::{llamacpp, vllm, EngineReport, Figures, Refusal};
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, tokens, GIB, MIB};

/// The engine section of `fit`: verdict, figures, command.
pub fn section(d: &mut Doc, e: &EngineReport, context: u64) {
    let verdict = match &e.refusal {
        None => Cell::toned(format!("{} starts", e.name), Tone::Good),
        Some(r) => Cell::toned(format!("{} refuses to start: {}", e.name, refusal(r)), Tone::Bad),
    };
    let mut kv = vec![
        ("engine".to_string(), Cell::from(e.version)),
        ("verdict".into(), verdict),
    ];
    if let Some(cmd) = &e.command {
        kv.push(("command".into(), cmd.clone().into()));
    }
    if let Some(o) = &e.ollama {
        kv.push((
            "ollama".into(),
            format!(
                "OLLAMA_NUM_PARALLEL={} OLLAMA_KV_CACHE_TYPE={} OLLAMA_FLASH_ATTENTION={} ollama serve; num_ctx {}",
                o.num_parallel,
                o.kv_cache_type,
                u8::from(o.flash_attention),
                o.num_ctx
            )
            .into(),
        ));
    }
    if let Some(Figures::LlamaCpp(f)) = &e.figures {
        if let Some((note, tone)) = graph_note(f.compute_graph) {
            kv.push(("note".into(), Cell::toned(note, tone)));
        }
    }
    d.kv(kv);
    match &e.figures {
        Some(Figures::Vllm(f)) => d.table(vllm_table(f, context)),
        Some(Figures::LlamaCpp(f)) => d.table(llamacpp_table(f)),
        None => {}
    }
}

fn vllm_table(f: &vllm::Figures, context: u64) -> Table {
    let mut t = Table::new(&["vLLM log line", "predicted"]).titled("What vLLM prints at start-up (per GPU)");
    let gib = |b: u64| format!("{:.2} GiB", b as f64 / GIB);
    t.row(vec![
        "Total GPU memory (torch)".into(),
        gib(f.total_gpu_memory_bytes).into(),
    ]);
    t.row(vec![
        "requested memory (utilization x total)".into(),
        gib(f.budget_bytes).into(),
    ]);
    t.row(vec!["model weights take".into(), gib(f.weights_bytes).into()]);
    if let Some(o) = &f.cpu_offload {
        // 0.12+ (offloader/uva.py): "Total CPU offloaded parameters: %s" (format_gib)
        t.row(vec![
            "Total CPU offloaded parameters".into(),
            gib(o.offloaded_bytes).into(),
        ]);
    }
    t.row(vec!["non-torch memory".into(), gib(f.non_torch_bytes).into()]);
    t.row(vec![
        "PyTorch activation peak memory".into(),
        gib(f.activation_peak_bytes).into(),
    ]);
    t.row(vec![
        "CUDA graph memory (after the KV cache)".into(),
        gib(f.cuda_graph_bytes).into(),
    ]);
    t.row(vec![
        "Available KV cache memory".into(),
        format!("{:.2} GiB", f.available_kv_cache_bytes as f64 / GIB).into(),
    ]);
    t.row(vec![
        "GPU KV cache size".into(),
        format!("{} tokens", f.kv_cache_tokens).into(),
    ]);
    t.row(vec![
        format!("Maximum concurrency for {} tokens per request", tokens(context)).into(),
        format!("{:.2}x", f.max_concurrency).into(),
    ]);
    t
}

fn llamacpp_table(f: &llamacpp::Figures) -> Table {
    let mut t = Table::new(&["llama.cpp log line", "predicted"]).titled(format!(
        "What llama.cpp prints at start-up (n_ctx {}, {} slot(s) of {}, flash attention {})",
        f.n_ctx,
        f.n_seq_max,
        f.n_ctx_per_seq,
        if f.flash_attn { "on" } else { "off" }
    ));
    let mib = |b: u64| format!("{:.2} MiB", b as f64 / MIB);
    let mut rows = vec![
        ("CUDA0 model buffer size", f.model_buffer_bytes),
        ("CPU_Mapped model buffer size", f.host_model_buffer_bytes),
        ("CUDA0 KV buffer size", f.kv_buffer_bytes - f.kv_swa_buffer_bytes),
    ];
    if f.kv_swa_buffer_bytes > 0 {
        rows.push(("CUDA0 KV buffer size (sliding-window cache)", f.kv_swa_buffer_bytes));
    }
    if f.host_kv_buffer_bytes > 0 {
        rows.push(("CPU KV buffer size", f.host_kv_buffer_bytes));
    }
    rows.extend([
        ("CUDA0 compute buffer size", f.compute_buffer_bytes),
        ("CUDA_Host compute buffer size", f.host_compute_buffer_bytes),
        ("CUDA_Host output buffer size", f.output_buffer_bytes),
    ]);
    for (line, b) in rows {
        t.row(vec![line.into(), mib(b).into()]);
    }
    t.row(vec![
        "(not printed) CUDA context + cuBLAS".into(),
        bytes(f.cuda_context_bytes).into(),
    ]);
    t
}

/// What a compute graph gpuplan does not replay means for the figures.
fn graph_note(g: llamacpp::ComputeGraph) -> Option<(&'static str, Tone)> {
    match g {
        llamacpp::ComputeGraph::Modeled => None,
        llamacpp::ComputeGraph::Approximated => Some((
            "gpuplan does not replay llama.cpp's graph for this architecture: the compute buffer is that of a Llama graph of the same shapes (approximate), the KV buffer that of plain attention",
            Tone::Muted,
        )),
        llamacpp::ComputeGraph::Unsupported => Some((
            "the figures are those of a Llama graph of the same shapes, which llama.cpp would not build for this model",
            Tone::Bad,
        )),
    }
}

/// The engine's reason in words.
pub fn refusal(r: &Refusal) -> String {
    match r {
        Refusal::KvCacheTooSmall {
            max_model_len,
            needed_bytes,
            available_bytes,
            estimated_max_model_len,
        } => format!(
            "to serve at least one request with the model's max seq len ({max_model_len}), {:.2} GiB KV cache is needed, which is larger than the available KV cache memory ({:.2} GiB); the estimated maximum model length is {estimated_max_model_len}: lower --max-model-len or raise --gpu-memory-utilization",
            *needed_bytes as f64 / GIB,
            *available_bytes as f64 / GIB
        ),
        Refusal::NoKvCacheMemory { short_bytes } => format!(
            "no available memory for the cache blocks: weights, non-torch memory and the profile run's peak exceed the budget by {}",
            bytes(*short_bytes)
        ),
        Refusal::FreeBelowRequested {
            free_bytes,
            requested_bytes,
        } => format!(
            "free memory on device ({}) on startup is less than desired GPU memory utilization ({})",
            bytes(*free_bytes),
            bytes(*requested_bytes)
        ),
        Refusal::HeadsNotDivisible { heads, tp } => format!(
            "total number of attention heads ({heads}) must be divisible by tensor parallel size ({tp})"
        ),
        Refusal::BadSetting { flag, value, allowed } => format!("{flag} {value}: must be {allowed}"),
        Refusal::ContextAboveModelMax { requested, max } => format!(
            "max_model_len {requested} is above the model's maximum {max} (vLLM needs VLLM_ALLOW_LONG_MAX_MODEL_LEN=1)"
        ),
        Refusal::QuantizedVNeedsFlashAttn => "a quantized V cache requires flash attention (-fa on)".into(),
        Refusal::UnsupportedArchitecture { architecture } => format!(
            "llama.cpp has no {architecture} architecture (convert_hf_to_gguf.py rejects the model), so no GGUF of it loads"
        ),
        Refusal::OutOfMemory {
            needed_bytes,
            available_bytes,
        } => format!(
            "out of memory: needs {} of {}",
            bytes(*needed_bytes),
            bytes(*available_bytes)
        ),
    }
}
