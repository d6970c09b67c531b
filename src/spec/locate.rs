//! Finds the line of a field in a YAML document, so semantic errors (found after deserializing, when
//! serde no longer knows positions) can still point at `file:line`.
//!
//! It understands the block-mapping subset our specs use: `key: value` lines, nesting by indentation,
//! comments and list items. A path is dot-separated (`architecture.hidden_size`); a path that is not
//! found falls back to its longest found prefix, so the error still points near the problem.

/// 1-based line of the field at `path` (dot-separated), or of its nearest present ancestor.
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let wanted: Vec<&str> = path.split('.').filter(|s| !s.is_empty()).collect();
    if wanted.is_empty() {
        return None;
    }
    // stack of (indent, key) for the mapping keys enclosing the current line
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut best: Option<(usize, usize)> = None; // (matched depth, line)
    for (idx, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with("---") {
            continue;
        }
        let mut indent = line.len() - trimmed.len();
        let mut body = trimmed;
        if let Some(rest) = body.strip_prefix("- ") {
            indent += 2;
            body = rest.trim_start();
        }
        let Some(colon) = key_end(body) else { continue };
        let key = body[..colon].trim().trim_matches(|c| c == '"' || c == '\'');
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, key.to_string()));
        let depth = matched_depth(&stack, &wanted);
        if depth == stack.len() && best.is_none_or(|(d, _)| depth > d) {
            best = Some((depth, idx + 1));
            if depth == wanted.len() {
                break;
            }
        }
    }
    best.map(|(_, line)| line)
}

fn strip_comment(line: &str) -> &str {
    // a '#' starts a comment at line start or after whitespace, outside quotes
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (None, b'"') | (None, b'\'') => quote = Some(b),
            (None, b'#') if i == 0 || bytes[i - 1].is_ascii_whitespace() => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Byte offset of the `:` that ends a mapping key, if the line holds one.
fn key_end(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (None, b'"') | (None, b'\'') if i == 0 => quote = Some(b),
            (None, b':') if bytes.get(i + 1).is_none_or(|c| c.is_ascii_whitespace()) => return Some(i),
            (None, b'{') | (None, b'[') if i == 0 => return None,
            _ => {}
        }
    }
    None
}

fn matched_depth(stack: &[(usize, String)], wanted: &[&str]) -> usize {
    stack.iter().zip(wanted).take_while(|((_, k), w)| k == *w).count()
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const DOC: &str = "id: x # the id\nname: X\narchitecture:\n  hidden_size: 10\n  layers: 2\nvision:\n  hidden_size: 4\n  layers: 1\n";

    #[test]
    fn finds_nested_fields_by_path() {
        assert_eq!(line_of(DOC, "id"), Some(1));
        assert_eq!(line_of(DOC, "architecture.hidden_size"), Some(4));
        assert_eq!(line_of(DOC, "vision.hidden_size"), Some(7));
        assert_eq!(line_of(DOC, "vision.layers"), Some(8));
    }

    #[test]
    fn missing_field_points_at_its_parent() {
        assert_eq!(line_of(DOC, "architecture.kv_heads"), Some(3));
        assert_eq!(line_of(DOC, "nothing"), None);
    }

    #[test]
    fn list_items_and_comments() {
        let doc = "gpus:\n  - id: a\n    memory_mib: 1 # c\n  - id: b\n";
        assert_eq!(line_of(doc, "gpus.memory_mib"), Some(3));
    }
}
