//! The dependency rule of the server's layout, checked on the source: HTTP and pages on
//! top, the domain in the middle, the store at the bottom, `platform` usable by all.
//!
//! ```text
//! routes ─┬─> api ──┐
//!         └─> web ──┴─> auth, licensing, catalogue, commerce ──> store ──> platform
//! app, cli, testkit: wire everything together (nothing below imports them)
//! ```
//!
//! A module "imports" another when any of its files names `crate::<other>`. The check
//! is textual on purpose: it is cheap, needs no build, and a reader can rerun it by eye.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The domain: rules and operations, free of HTTP and of the app's wiring.
const DOMAIN: [&str; 5] = ["auth", "licensing", "catalogue", "commerce", "releases"];
/// What sits above the domain or wires it; the domain and below never import these.
const ABOVE_DOMAIN: [&str; 8] = [
    "api",
    "web",
    "routes",
    "app",
    "cli",
    "http_server",
    "testkit",
    "main",
];

/// Top-level module → the top-level modules its files name.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect(&src, &mut files);
    let tops: BTreeSet<String> = std::fs::read_dir(&src)
        .expect("src")
        .filter_map(|e| e.ok())
        .map(|e| top_name(&e.path(), &src))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let from = top_name(&file, &src);
        let text = std::fs::read_to_string(&file).expect("read");
        let deps = graph.entry(from.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name != from && tops.contains(&name) {
                deps.insert(name);
            }
        }
    }
    graph
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("dir").filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/licensing/keys.rs` → `licensing`; `src/app.rs` → `app`.
fn top_name(path: &Path, src: &Path) -> String {
    let first = path
        .strip_prefix(src)
        .expect("under src")
        .components()
        .next()
        .expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.strip_suffix(".rs").unwrap_or(&name).to_owned()
}

fn violations(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    banned: &[&str],
) -> Vec<String> {
    graph
        .get(from)
        .into_iter()
        .flatten()
        .filter(|to| banned.contains(&to.as_str()))
        .map(|to| format!("{from} -> {to}"))
        .collect()
}

#[test]
fn the_domain_never_imports_http_pages_or_the_app() {
    let graph = imports();
    let broken: Vec<String> = DOMAIN
        .iter()
        .flat_map(|m| violations(&graph, m, &ABOVE_DOMAIN))
        .collect();
    assert!(broken.is_empty(), "layer rule broken: {broken:?}");
}

#[test]
fn the_store_and_the_platform_import_nothing_above_them() {
    let graph = imports();
    let mut above_store: Vec<&str> = ABOVE_DOMAIN.to_vec();
    above_store.extend(DOMAIN);
    let mut broken = violations(&graph, "store", &above_store);
    above_store.push("store");
    broken.extend(violations(&graph, "platform", &above_store));
    assert!(broken.is_empty(), "layer rule broken: {broken:?}");
}

#[test]
fn top_level_modules_have_no_import_cycles() {
    let graph = imports();
    // Depth-first search; a module met again while still on the path closes a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(node, &graph, &mut path, &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}
