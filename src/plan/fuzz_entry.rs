//! Entry point the `engine_cmd` cargo-fuzz target (fuzz/) and the corpus replay test
//! (tests/fuzz_corpus.rs) call with arbitrary bytes: a pasted engine command, parsed and then
//! planned as `gpuplan fit --cmd` plans it. Any panic is a bug; a parse error is the usual outcome.
//!
//! Invariant checked: a command that parses plans without panicking, and the command gpuplan emits
//! for the result parses back to the same engine.

use super::{fit, Options};
use crate::estimate::arch::check_declared;
use crate::estimate::engine::command;
use crate::spec::{Catalog, GpuSpec, ModelSpec};
use std::sync::OnceLock;

fn specs() -> &'static (ModelSpec, GpuSpec) {
    static SPECS: OnceLock<(ModelSpec, GpuSpec)> = OnceLock::new();
    SPECS.get_or_init(|| {
        let c = Catalog::embedded(check_declared).expect("the embedded catalog loads");
        (
            c.model("phi-3.5-moe", check_declared).expect("catalog model"),
            c.gpu("rtx-4090").expect("catalog gpu"),
        )
    })
}

/// `gpuplan fit phi-3.5-moe --gpu rtx-4090 --cmd <data>`.
pub fn engine_cmd(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(cmd) = command::parse(text) else { return };
    let (model, gpu) = specs();
    let mut opts = Options::default();
    opts.apply_command(&cmd, model);
    if opts.batch == 0 || opts.gpus == 0 || opts.pipeline == 0 {
        return;
    }
    // the solvers search contexts up to the model's maximum: keep the request inside it
    opts.context = opts.context.map(|c| c.min(model.max_context));
    let report = fit(model, gpu, &opts);
    if let Some(emitted) = &report.engine.command {
        let back = command::parse(emitted).expect("an emitted command parses");
        assert_eq!(
            back.engine,
            Some(report.runtime),
            "the emitted command runs the same engine"
        );
    }
}
