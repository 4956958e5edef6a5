//! Plain-text tables with aligned columns, for the human output of subcommands.

use std::fmt::Write as _;

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// A table of text cells, rendered with every column as wide as its widest cell.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and alignments.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            columns: columns
                .iter()
                .map(|&(name, align)| (name.to_string(), align))
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells are empty and extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the header and the rows, each line prefixed with `indent`. Columns are
    /// separated by two spaces, and lines carry no trailing spaces.
    pub fn render(&self, indent: &str, out: &mut String) {
        let cell = |row: &[String], c: usize| row.get(c).map_or("", String::as_str).to_string();
        let mut widths: Vec<usize> = self.columns.iter().map(|(h, _)| width(h)).collect();
        for row in &self.rows {
            for (c, w) in widths.iter_mut().enumerate() {
                *w = (*w).max(width(&cell(row, c)));
            }
        }
        let header: Vec<String> = self.columns.iter().map(|(h, _)| h.clone()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::from(indent);
            for (c, ((_, align), w)) in self.columns.iter().zip(&widths).enumerate() {
                let text = cell(row, c);
                let pad = " ".repeat(w.saturating_sub(width(&text)));
                if c > 0 {
                    line.push_str("  ");
                }
                match align {
                    Align::Left => {
                        line.push_str(&text);
                        line.push_str(&pad);
                    }
                    Align::Right => {
                        line.push_str(&pad);
                        line.push_str(&text);
                    }
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// An integer with thousands separators: `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn columns_align_and_lines_have_no_trailing_space() {
        let mut t = Table::new(&[("#", Align::Right), ("name", Align::Left)]);
        t.row(vec!["7".into(), "a".into()]);
        t.row(vec!["12".into(), "long name".into()]);
        t.row(vec!["3".into()]);
        let mut out = String::new();
        t.render("  ", &mut out);
        assert_eq!(out, "   #  name\n   7  a\n  12  long name\n   3\n");
    }
}
