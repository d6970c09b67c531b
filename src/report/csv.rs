//! CSV (RFC 4180): every table of the document, one after another separated by a blank line; headings,
//! text and key/value blocks are left out (they have no tabular shape).

use super::doc::Doc;

pub fn render(doc: &Doc) -> String {
    let mut out = String::new();
    for (i, t) in doc.tables().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        line(&mut out, t.headers.iter().map(String::as_str));
        for row in &t.rows {
            line(&mut out, row.iter().map(|c| c.text.as_str()));
        }
    }
    out
}

fn line<'a>(out: &mut String, fields: impl Iterator<Item = &'a str>) {
    let fields: Vec<String> = fields.map(escape).collect();
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

fn escape(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::doc::Table;

    #[test]
    fn quotes_fields_that_need_it() {
        let mut d = Doc::default();
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["x,y".into(), "say \"hi\"".into()]);
        d.table(t);
        assert_eq!(render(&d), "a,b\r\n\"x,y\",\"say \"\"hi\"\"\"\r\n");
    }
}
