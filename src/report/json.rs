//! JSON: the typed result serialized as is (the documented contract), pretty-printed.

pub fn render<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    Ok(s)
}
