//! The layers of docs/ARCHITECTURE.md, read from the source: the core never imports an edge,
//! the simulators import only the messages and their store, nothing outside `src/storage`
//! names SQLite, and handlers stay thin.

use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// The edges: what serves HTTP, simulates outside parties, or wires everything together.
const EDGES: &[&str] = &[
    "web",
    "api",
    "sim",
    "startup",
    "demo",
    "bench",
    "operator",
    "state",
    "tls",
    "telemetry",
];

/// The core and the domain: each of these may import only core and neutral modules.
const CORE: &[&str] = &[
    "domain",
    "checkout",
    "threeds",
    "acquirer",
    "notify",
    "storage",
    "crypto",
    "installments",
    "merchants.rs",
    "config.rs",
    "error.rs",
    "limits.rs",
    "clock.rs",
    "i18n.rs",
    "form.rs",
    "files.rs",
    "outbound.rs",
    "assets.rs",
    "simstore.rs",
    "observe.rs",
    "wire",
];

/// What the simulators may use: the messages, their store, value types and neutral helpers.
const SIM_ALLOWED: &[&str] = &[
    "sim", "wire", "simstore", "domain", "clock", "i18n", "form", "limits", "assets",
];

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut files = vec![];
    for entry in std::fs::read_dir(path).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            files.push(p);
        }
    }
    files
}

/// The first segment of every `crate::…` path in `text`, `use crate::{a, b::c}` groups
/// included; askama templates are not Rust and are not read here.
fn crate_roots(text: &str) -> Vec<String> {
    let mut roots = vec![];
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && c == ',' {
                    roots.push(first_segment(&item));
                    item.clear();
                } else {
                    item.push(c);
                }
            }
            roots.push(first_segment(&item));
        } else {
            roots.push(first_segment(rest));
        }
    }
    roots.retain(|r| !r.is_empty());
    roots
}

fn first_segment(s: &str) -> String {
    s.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The code of a file without its test module (tests may reach anywhere: the fakes live
/// there) and without comments (which may name anything).
fn without_tests(text: &str) -> String {
    let code = text.find("#[cfg(test)]").map_or(text, |i| &text[..i]);
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn relative(p: &Path) -> String {
    p.strip_prefix(SRC).unwrap().display().to_string()
}

#[test]
fn layers_only_point_down() {
    let mut upward = vec![];
    for part in CORE {
        for file in rust_files(&Path::new(SRC).join(part)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for root in crate_roots(&without_tests(&text)) {
                if EDGES.contains(&root.as_str()) {
                    upward.push(format!("{} imports crate::{root}", relative(&file)));
                }
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn the_simulators_know_only_the_messages_and_their_store() {
    let mut found = vec![];
    for file in rust_files(&Path::new(SRC).join("sim")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for root in crate_roots(&without_tests(&text)) {
            if !SIM_ALLOWED.contains(&root.as_str()) {
                found.push(format!("{} imports crate::{root}", relative(&file)));
            }
        }
    }
    found.sort();
    found.dedup();
    assert!(found.is_empty(), "simulator imports:\n{}", found.join("\n"));
}

#[test]
fn only_storage_names_the_database() {
    let mut found = vec![];
    for file in rust_files(Path::new(SRC)) {
        let rel = relative(&file);
        if rel.starts_with("storage/") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // The drivers' types and sqlx itself; settings may name the databases (`database.url`,
        // `database.sqlite_synchronous`), and the benchmark reports which one it ran on.
        for needle in [
            "sqlx::",
            "SqlitePool",
            "SqliteConnect",
            "SqliteRow",
            "PgPool",
            "PgConnection",
            "AnyPool",
        ] {
            if text.contains(needle) {
                found.push(format!("{rel} names {needle}"));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// The `async fn`s of a file with their length in lines (from the signature to the closing
/// brace at the same indentation).
fn async_fns(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = vec![];
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed
            .strip_prefix("pub async fn ")
            .or_else(|| trimmed.strip_prefix("async fn "))
        else {
            continue;
        };
        let indent = line.len() - trimmed.len();
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let closing = format!("{}}}", " ".repeat(indent));
        let end = lines[i..]
            .iter()
            .position(|l| *l == closing)
            .map_or(lines.len(), |p| i + p);
        out.push((name, end - i + 1));
    }
    out
}

#[test]
fn handlers_are_thin() {
    let mut long = vec![];
    for dir in ["web", "api", "sim"] {
        for file in rust_files(&Path::new(SRC).join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (name, len) in async_fns(&without_tests(&text)) {
                if len > 40 {
                    long.push(format!("{}: {name} is {len} lines", relative(&file)));
                }
            }
        }
    }
    assert!(
        long.is_empty(),
        "handlers over 40 lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_reader_of_imports_reads_groups() {
    let roots =
        crate_roots("use crate::{a::b, c::{d, e}, f};\nfn x() { crate::g::h(); crate::{i}; }");
    assert_eq!(roots, ["a", "c", "f", "g", "i"]);
}
