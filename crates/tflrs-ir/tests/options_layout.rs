//! The raw layout of every options table (used to keep unknown operators' options losslessly)
//! is generated from the schema; this test fails when `src/tflite/layout.rs` is stale, and
//! rewrites it when run with `UPDATE_LAYOUT=1`.

use std::collections::HashMap;
use std::path::Path;

fn strip_comments(s: &str) -> String {
    s.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `(keyword, name, body)` of each top-level `enum`, `union`, `table` and `struct`.
fn declarations(src: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(brace) = rest.find('{') {
        let head = &rest[..brace];
        let close = rest[brace..].find('}').expect("unbalanced braces") + brace;
        let body = rest[brace + 1..close].to_string();
        let head_decl = head.rsplit(';').next().unwrap_or("").trim();
        let words: Vec<&str> = head_decl.split_whitespace().collect();
        if let Some(pos) = words
            .iter()
            .position(|w| matches!(*w, "enum" | "union" | "table" | "struct"))
        {
            let name = words[pos + 1].trim_end_matches(':').to_string();
            let tail = words[pos + 2..].join(" ");
            out.push((words[pos].to_string(), name, format!("{tail}|{body}")));
        }
        rest = &rest[close + 1..];
    }
    out
}

fn scalar_size(ty: &str, enums: &HashMap<String, String>) -> Option<u8> {
    Some(match ty {
        "bool" | "byte" | "ubyte" | "int8" | "uint8" => 1,
        "short" | "ushort" | "int16" | "uint16" => 2,
        "int" | "uint" | "float" | "int32" | "uint32" | "float32" => 4,
        "long" | "ulong" | "double" | "int64" | "uint64" | "float64" => 8,
        other => return scalar_size(enums.get(other)?, enums),
    })
}

fn render(schema: &str) -> String {
    let src = strip_comments(schema);
    let decls = declarations(&src);
    let mut enums = HashMap::new();
    let mut tables = HashMap::new();
    let mut unions = HashMap::new();
    for (kw, name, rest) in &decls {
        let (tail, body) = rest.split_once('|').unwrap();
        match kw.as_str() {
            "enum" => {
                let ty = tail.trim_start_matches(':').trim().to_string();
                enums.insert(name.clone(), ty);
            }
            "table" => {
                tables.insert(name.clone(), body.to_string());
            }
            "union" => {
                let members: Vec<String> = body
                    .split(',')
                    .map(|m| m.split('(').next().unwrap().trim().to_string())
                    .filter(|m| !m.is_empty())
                    .collect();
                unions.insert(name.clone(), members);
            }
            _ => {}
        }
    }
    let mut out = String::new();
    out.push_str(
        "//! Raw field layout of every options table, generated from `schema/schema.fbs` by\n\
         //! `UPDATE_LAYOUT=1 cargo test -p tflrs-ir --test options_layout`. Do not edit.\n\
         //!\n\
         //! Each entry lists, by field id, the kind of the field: a scalar of 1, 2, 4 or 8 bytes\n\
         //! (`S*`), a string (`Str`), or a vector of scalars of 1, 2, 4 or 8 bytes (`V*`).\n\n\
         use super::raw::FieldKind::{self, *};\n",
    );
    for (union, konst) in [
        ("BuiltinOptions", "BUILTIN_OPTIONS"),
        ("BuiltinOptions2", "BUILTIN_OPTIONS_2"),
    ] {
        out.push_str(&format!(
            "\n/// Field kinds of each `{union}` member, indexed by union discriminant (0 is NONE).\n\
             pub(crate) const {konst}: &[(&str, &[FieldKind])] = &[\n    (\"NONE\", &[]),\n"
        ));
        for member in &unions[union] {
            let body = &tables[member];
            let mut kinds = Vec::new();
            for field in body.split(';') {
                let field = field.trim();
                if field.is_empty() {
                    continue;
                }
                let (_, ty) = field.split_once(':').expect("field without type");
                let ty = ty.split(['=', '(']).next().unwrap().trim();
                let kind = if ty == "string" {
                    "Str".to_string()
                } else if let Some(elem) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                    let size = scalar_size(elem.trim(), &enums)
                        .unwrap_or_else(|| panic!("{member}: vector of {elem} is not supported"));
                    format!("V{size}")
                } else {
                    let size = scalar_size(ty, &enums)
                        .unwrap_or_else(|| panic!("{member}: field type {ty} is not supported"));
                    format!("S{size}")
                };
                kinds.push(kind);
            }
            out.push_str(&format!("    (\"{member}\", &[{}]),\n", kinds.join(", ")));
        }
        out.push_str("];\n");
    }
    out
}

#[test]
fn options_layout_is_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = std::fs::read_to_string(root.join("../tflrs-schema/schema/schema.fbs")).unwrap();
    let expected = render(&schema);
    let path = root.join("src/tflite/layout.rs");
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        if std::env::var_os("UPDATE_LAYOUT").is_some() {
            std::fs::write(&path, &expected).unwrap();
            return;
        }
        panic!(
            "{} is stale; run `UPDATE_LAYOUT=1 cargo test -p tflrs-ir --test options_layout`",
            path.display()
        );
    }
}
