//! `synth` as a document: the file written, its bytes by GGML type, and how they compare with the
//! estimator's weight bytes.

use crate::measure::synth::SynthFile;
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, params, signed_bytes};

pub fn synth(f: &SynthFile) -> Doc {
    let s = &f.synth;
    let mut d = Doc::default();
    d.heading(format!("{} {} as GGUF ({})", s.model, s.format, s.arch));
    d.text(format!(
        "wrote {}: {} B ({} header, {} data incl. {} B alignment padding); the data is a hole (zeros, no disk used)",
        f.path.display(),
        f.file_bytes,
        bytes(f.header_bytes),
        bytes(f.data_bytes),
        f.padding_bytes
    ));
    d.kv(vec![
        (
            "tensors".to_string(),
            Cell::from(format!("{} ({} parameters)", s.tensors.len(), params(s.parameters))),
        ),
        (
            "tensor bytes".into(),
            format!("{} ({} B)", bytes(s.tensor_bytes), s.tensor_bytes).into(),
        ),
        (
            "gpuplan's weights".into(),
            if s.difference_bytes == 0 {
                Cell::toned(format!("{} B: equal", s.estimated_bytes), Tone::Good)
            } else {
                Cell::toned(
                    format!(
                        "{} B: the file holds {} more (1-D tensors and router in F32, as llama.cpp's converter writes them)",
                        s.estimated_bytes,
                        signed_bytes(s.difference_bytes)
                    ),
                    Tone::Muted,
                )
            },
        ),
    ]);
    let mut t = Table::new(&["GGML type", "tensors", "bytes"]).numeric(&[1, 2]);
    for l in &s.by_type {
        t.row(vec![l.ggml.into(), l.tensors.to_string().into(), bytes(l.bytes).into()]);
    }
    d.table(t);
    d
}
