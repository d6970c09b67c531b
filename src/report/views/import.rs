//! `import` as a document: the spec's key facts, warnings, field provenance and the tensor bytes.

use crate::import::{Basis, Imported, SourceKind};
use crate::report::doc::{Cell, Doc, Table, Tone};
use crate::report::units::{bytes, params, tokens};

pub fn import(r: &Imported) -> Doc {
    let mut d = Doc::default();
    let kind = match r.kind {
        SourceKind::Config => "config.json",
        SourceKind::Directory => "config.json + safetensors headers",
        SourceKind::Gguf => "GGUF header",
    };
    d.heading(format!("{} ({kind})", r.spec.name));
    d.text(format!("from {}", r.source.display()));
    let arch = r
        .spec
        .architecture
        .as_ref()
        .map_or("-".to_string(), |a| a.kind.name().to_string());
    let mut kv = vec![
        ("id".to_string(), Cell::from(r.spec.id.clone())),
        ("architecture".into(), arch.into()),
        (
            "parameters".into(),
            if r.parameters_checked {
                Cell::toned(
                    format!(
                        "{} ({}; tensors and architecture agree)",
                        params(r.derived_parameters),
                        r.derived_parameters
                    ),
                    Tone::Good,
                )
            } else {
                Cell::from(format!(
                    "{} ({}; derived)",
                    params(r.derived_parameters),
                    r.derived_parameters
                ))
            },
        ),
    ];
    if r.derived_active_parameters != r.derived_parameters {
        kv.push((
            "active parameters".into(),
            format!(
                "{} ({})",
                params(r.derived_active_parameters),
                r.derived_active_parameters
            )
            .into(),
        ));
    }
    kv.push((
        "KV cache / token (16-bit)".into(),
        format!("{} B", r.kv_bytes_per_token_16bit).into(),
    ));
    kv.push(("max context".into(), tokens(r.spec.max_context).into()));
    kv.push(("dtype (default --precision)".into(), r.spec.dtype.clone().into()));
    if let Some(t) = &r.tensors {
        kv.push((
            "tensor bytes (exact)".into(),
            format!(
                "{} ({} B in {} tensors)",
                bytes(t.total_bytes),
                t.total_bytes,
                t.tensors.len()
            )
            .into(),
        ));
        if !t.not_counted.is_empty() {
            kv.push((
                "not counted as parameters".into(),
                Cell::toned(t.not_counted.join("; "), Tone::Muted),
            ));
        }
    }
    d.kv(kv);
    for w in &r.warnings {
        d.text(format!("warning: {w}"));
    }
    let mut p = Table::new(&["field", "value", "basis", "source"]).titled("Provenance");
    for n in &r.provenance {
        let tone = match n.basis {
            Basis::Exact => Tone::Good,
            Basis::Default => Tone::Muted,
            _ => Tone::Plain,
        };
        p.row(vec![
            n.field.clone().into(),
            n.value.clone().into(),
            Cell::toned(n.basis.label(), tone),
            n.source.clone().into(),
        ]);
    }
    d.table(p);
    if let Some(t) = &r.tensors {
        let mut by = Table::new(&["dtype", "tensors", "elements", "bytes"])
            .titled("Tensors by dtype")
            .numeric(&[1, 2, 3]);
        for l in &t.by_dtype {
            by.row(vec![
                l.dtype.clone().into(),
                l.tensors.to_string().into(),
                l.elements.to_string().into(),
                l.bytes.to_string().into(),
            ]);
        }
        d.table(by);
        let mut files = Table::new(&["file", "header bytes", "data bytes", "tensors"])
            .titled("Files")
            .numeric(&[1, 2, 3]);
        for f in &t.files {
            files.row(vec![
                f.path.display().to_string().into(),
                f.header_bytes.to_string().into(),
                f.data_bytes.to_string().into(),
                f.tensors.to_string().into(),
            ]);
        }
        d.table(files);
    }
    d
}
