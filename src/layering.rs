//! The layering rule, checked: every `crate::` path in `src/` points down the layer table of
//! `docs/architecture.md` ("Layers"). A module may name modules of the rows below its own, never
//! its own row's peers or anything above; a module missing from the table fails the test, so a
//! new module gets a place before it gets callers. `lib.rs` and `main.rs` stand above the table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layer table: the first fenced block after the `## Layers` heading, one row per line, top
/// first; the names on a row are peers.
fn layers(doc: &str) -> BTreeMap<String, usize> {
    let section = doc
        .split("\n## Layers")
        .nth(1)
        .expect("docs/architecture.md has a `## Layers` section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the Layers section holds a fenced block");
    let rows: Vec<&str> = block
        .lines()
        .skip(1) // the fence's info string
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut rank = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        for name in row.split_whitespace() {
            let old = rank.insert(name.to_string(), rows.len() - i);
            assert!(old.is_none(), "{name} is on two rows of the layer table");
        }
    }
    rank
}

/// The code of `src` with comments, string and char literals blanked out (lines kept).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, bytes: &[u8]| {
        for &c in bytes {
            out.push(if c == b'\n' { '\n' } else { ' ' });
        }
    };
    while i < b.len() {
        let rest = &b[i..];
        let end = if rest.starts_with(b"//") {
            i + rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            i + 2 + find(&rest[2..], b"*/").map_or(rest.len() - 2, |p| p + 2)
        } else if rest.starts_with(b"r#") || rest.starts_with(b"r\"") {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let open = 1 + hashes + 1;
            i + open + find(&rest[open..], &close).map_or(rest.len() - open, |p| p + close.len())
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            i + (j + 1).min(rest.len())
        } else if rest[0] == b'\'' && rest.get(1) == Some(&b'\\') {
            i + 2
                + rest[2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map_or(0, |p| p + 1)
        } else if rest[0] == b'\'' && rest.get(2) == Some(&b'\'') {
            i + 3
        } else {
            let c = src[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
            continue;
        };
        // An `r` that ends an identifier (`for"`) starts no raw string (`br"` does): keep it.
        let ident = |k: usize| b[k].is_ascii_alphanumeric() || b[k] == b'_';
        let byte_raw = i > 0 && b[i - 1] == b'b' && (i < 2 || !ident(i - 2));
        if rest[0] == b'r' && i > 0 && ident(i - 1) && !byte_raw {
            out.push('r');
            i += 1;
            continue;
        }
        blank(&mut out, &b[i..end.min(b.len())]);
        i = end.min(b.len());
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The top-level names each `crate::` path of `code` starts with, with its line number:
/// `crate::a::b` gives `a`; `crate::{a::b, c}` gives `a` and `c`.
fn crate_paths(code: &str) -> Vec<(String, usize)> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(p) = code[from..].find("crate::") {
        let at = from + p;
        from = at + "crate::".len();
        if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_' || b[at - 1] == b'$') {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at depth one, each after `{` or `,`.
            let mut depth = 1;
            let mut expect_name = true;
            let mut name = String::new();
            for c in group.chars() {
                if depth == 1 && expect_name && (c.is_alphanumeric() || c == '_') {
                    name.push(c);
                    continue;
                }
                if !name.is_empty() {
                    found.push((std::mem::take(&mut name), line));
                    expect_name = false;
                }
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => expect_name = true,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push((name, line));
        }
    }
    found
}

/// The module a `crate::` name belongs to: the crate root's re-exports are their modules'.
fn module_of(name: &str) -> &str {
    match name {
        "Error" | "Result" => "error",
        other => other,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn imports_point_down_the_layer_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md")).expect("read doc");
    let rank = layers(&doc);
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src/");
        let top = rel
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" || top == "layering" {
            continue;
        }
        let Some(&own) = rank.get(&top) else {
            problems.push(format!(
                "src/{}: module `{top}` has no row in docs/architecture.md's layer table",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read source");
        for (name, line) in crate_paths(&code_only(&text)) {
            let target = module_of(&name);
            if target == top {
                continue;
            }
            match rank.get(target) {
                Some(&r) if r < own => {}
                Some(_) => problems.push(format!(
                    "src/{}:{line}: `{top}` uses `crate::{name}`, which is not below it",
                    rel.display()
                )),
                None => problems.push(format!(
                    "src/{}:{line}: `crate::{name}` is in no row of the layer table",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "imports against the layer order (docs/architecture.md, \"Layers\"):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_scanner_sees_paths_and_skips_comments_and_strings() {
    let code = code_only(
        "use crate::a::b; // crate::c\nlet s = \"crate::d\"; let r = r#\"crate::e\"#;\n\
         use crate::{f::g, h, i::{j, k}};\nlet c = '\"'; x(crate::l::m); /* crate::n */\n",
    );
    let names: Vec<String> = crate_paths(&code).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["a", "f", "h", "i", "l"]);
    let rank = layers("x\n## Layers\ntext\n```text\ntop\nmid peer\nleaf\n```\n");
    assert_eq!(rank["top"], 3);
    assert_eq!(rank["peer"], 2);
    assert_eq!(rank["leaf"], 1);
}
