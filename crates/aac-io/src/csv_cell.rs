//! Spreadsheet formula-injection guard for CSV cells (OWASP "CSV Injection"):
//! a text cell that a spreadsheet would run as a formula (it starts with `=`,
//! `+`, `-`, `@`, a tab or a carriage return) is written with a leading `'`,
//! and that quote is removed again when aac reads its own tables back, so an
//! image named `=HYPERLINK(...).png` keeps its id through resume and merge.
//! Numbers (`-1.5`) are left as they are.

use std::borrow::Cow;

/// Characters that make a spreadsheet treat a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Quote marking a guarded cell.
const GUARD: char = '\'';

/// True when the cell must be written guarded: it reads as a formula, or it
/// already looks guarded (so that reading it back cannot strip a quote that
/// belongs to the id).
fn needs_guard(cell: &str) -> bool {
    match cell.strip_prefix(GUARD) {
        Some(rest) => needs_guard(rest),
        None => cell.starts_with(FORMULA_STARTS) && cell.parse::<f64>().is_err(),
    }
}

/// The cell as it is written: with a leading `'` when a spreadsheet would
/// otherwise read it as a formula.
pub fn guard_cell(cell: &str) -> Cow<'_, str> {
    if needs_guard(cell) {
        Cow::Owned(format!("{GUARD}{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The cell as it was before [`guard_cell`]: the leading `'` removed where
/// `guard_cell` added it.
pub fn unguard_cell(cell: &str) -> &str {
    match cell.strip_prefix(GUARD) {
        Some(rest) if needs_guard(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_quoted_and_read_back_unchanged() {
        for cell in ["=1+1", "+cmd", "-x", "@SUM(A1)", "\tx", "'=already", "''-x"] {
            let guarded = guard_cell(cell);
            assert_eq!(guarded, format!("'{cell}"));
            assert_eq!(unguard_cell(&guarded), cell);
        }
    }

    #[test]
    fn numbers_and_plain_text_are_left_alone() {
        for cell in ["-1.5", "+2", "case0001", "", "'quoted", "ok"] {
            assert_eq!(guard_cell(cell), cell);
            assert_eq!(unguard_cell(cell), cell);
        }
    }
}
