//! GitHub-flavoured Markdown.

use super::doc::{Block, Doc};

pub fn render(doc: &Doc) -> String {
    let mut out = String::new();
    for block in &doc.blocks {
        match block {
            Block::Heading(h) => out.push_str(&format!("## {h}\n\n")),
            Block::Text(t) => out.push_str(&format!("{t}\n\n")),
            Block::KeyValues(kv) => {
                for (k, v) in kv {
                    out.push_str(&format!("- **{k}**: {}\n", escape(&v.text)));
                }
                out.push('\n');
            }
            Block::Table(t) => {
                if let Some(title) = &t.title {
                    out.push_str(&format!("**{title}**\n\n"));
                }
                out.push_str(&format!(
                    "| {} |\n",
                    t.headers.iter().map(|h| escape(h)).collect::<Vec<_>>().join(" | ")
                ));
                let rule: Vec<&str> = (0..t.headers.len())
                    .map(|i| if t.numeric.contains(&i) { "---:" } else { "---" })
                    .collect();
                out.push_str(&format!("|{}|\n", rule.join("|")));
                for row in &t.rows {
                    out.push_str(&format!(
                        "| {} |\n",
                        row.iter().map(|c| escape(&c.text)).collect::<Vec<_>>().join(" | ")
                    ));
                }
                out.push('\n');
            }
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
