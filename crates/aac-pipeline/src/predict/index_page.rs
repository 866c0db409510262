//! `index.html`: the QC page of an output folder, one table row per scan.

use super::{Row, COLUMNS};
use anyhow::Result;
use std::path::Path;

/// Text escaped for HTML content and quoted attributes. Five replacements, so
/// written here rather than taken from a crate.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes `out/index.html` over the rows of its scores.csv.
pub(crate) fn write_index(out: &Path, rows: &[Row]) -> Result<()> {
    let mut html = String::from("<!doctype html><html><head><meta charset=\"utf-8\"><title>aac predictions</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 8px}th{cursor:pointer;background:#eee}tr.flagged{background:#fff3cd}tr.error{background:#f8d7da}img{height:120px}</style></head><body><h1>AAC24 predictions</h1><p>Click a column header to sort. Yellow rows are flagged for review, red rows failed.</p><table id=\"t\"><thead><tr><th>thumbnail</th>");
    for c in COLUMNS {
        html.push_str(&format!("<th>{c}</th>"));
    }
    html.push_str("</tr></thead><tbody>");
    for r in rows {
        let id = &r.id;
        let thumb = super::thumb_path(out, id);
        let cell = if thumb.exists() {
            // Ids come from file names: URL-encoded in paths, escaped in text.
            let file =
                percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            format!(
                "<a href=\"overlays/{file}.jpg\"><img src=\"thumbs/{file}.png\" alt=\"{}\" loading=\"lazy\"></a>",
                html_escape(id)
            )
        } else {
            String::new()
        };
        html.push_str(&format!(
            "<tr class=\"{}\"><td>{cell}</td>",
            html_escape(r.status.name())
        ));
        for f in &r.fields() {
            html.push_str(&format!("<td>{}</td>", html_escape(f)));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table><script>document.querySelectorAll('#t th').forEach((th,i)=>th.onclick=()=>{const tb=document.querySelector('#t tbody');const rows=[...tb.rows];const asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';rows.sort((a,b)=>{const x=a.cells[i].innerText,y=b.cells[i].innerText;const nx=parseFloat(x),ny=parseFloat(y);const c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?c:-c});rows.forEach(r=>tb.appendChild(r));});</script></body></html>\n");
    aac_io::write_string_atomic(&out.join("index.html"), &html)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_inject_markup_into_the_qc_page() {
        let dir = tempfile::tempdir().unwrap();
        let id = "x\" onerror=\"alert(1)";
        std::fs::create_dir_all(dir.path().join("thumbs")).unwrap();
        std::fs::write(dir.path().join("thumbs").join(format!("{id}.png")), b"png").unwrap();
        let mut row = Row::error(id, String::new(), super::super::LandmarkSource::Given);
        row.message = "ok\"><script>".into();
        write_index(dir.path(), &[row]).unwrap();
        let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
        assert!(!html.contains("onerror=\"alert"), "{html}");
        assert!(!html.contains("<script>alert") && !html.contains("\"><script>"));
        assert!(html.contains("thumbs/x%22%20onerror%3D%22alert%281%29.png"));
        assert!(html.contains("alt=\"x&quot; onerror=&quot;alert(1)\""));
    }
}
