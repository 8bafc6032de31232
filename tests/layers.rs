//! Dependency rules for `src/`, checked on the crate's own source text.
//!
//! Every top-level module of `src/` sits on a layer (see `LAYERS`). A file may import only from a module on a
//! lower layer, and no files may import each other in a circle, so the crate stays a stack that can be read,
//! tested and changed from the bottom up: a lower layer never needs to know what is built on top of it.
//!
//! Imports are read as text, with no compiler and no crates: every `crate::`, `super::` and `self::` path, and
//! every path that starts with a child module's bare name (`pub use child::X`, `child::f()` in a mod.rs), in
//! `use` declarations and inline in code, test code included. Each path is resolved to the file it reaches by
//! walking the module files on disk.
//!
//! How to fix a failure: move the shared item down into the lower module (or into `util`), or have the higher
//! module pass it in (a parameter, a trait object, a callback). For a circle between two files, decide which
//! one owns the item and make the other one the only importer; a child imports its siblings directly, not
//! through its parent's `pub use`. A new top-level module needs a layer here and in ARCHITECTURE.md.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;

/// The layers, lowest first. An import from module A to module B (A != B) is allowed only if rank(B) < rank(A).
/// Names of modules that do not exist yet are fine here.
const LAYERS: &[(usize, &[&str])] = &[
    // Helpers and errors, usable from everywhere.
    (0, &["error", "util"]),
    // Locations, formats, object stores, the state folder, Parquet and result writing.
    (1, &["storage"]),
    // oneview.toml and segment files: the config sections with their validation.
    (2, &["project"]),
    // The project's tables and views as a DataFusion schema; it knows no feature.
    (3, &["catalog"]),
    // Running SQL text and writing its results.
    (4, &["exec"]),
    // The features. A feature never imports another feature (same layer, so the rule forbids it).
    (5, &["identity", "scoring", "segments", "reports", "datagen"]),
    // The one place that registers the features' tables, views and functions.
    (6, &["session"]),
    // The Arrow Flight SQL server.
    (7, &["server"]),
    // The command line over all of it.
    (8, &["cli"]),
];

/// Why an import breaks the layers: it goes up, or sideways to another module on its own layer.
const UPWARDS: &str = "an import may only go to a lower layer";
const SIDEWAYS: &str = "modules on one layer may not import each other";

/// The crate roots declare the modules and re-export; they are exempt from the layers.
const ROOTS: &[&str] = &["src/lib.rs", "src/main.rs"];

/// One import path found in a file.
struct Import {
    line: usize,
    /// The inline modules (`mod tests { … }`) around the import, outermost first.
    scope: Vec<String>,
    /// The path's segments as written, e.g. `["super", "super", "config", "LinkType"]`.
    path: Vec<String>,
    /// The import as written, for messages: `use super::super::config::LinkType` or `crate::reports::run`.
    text: String,
}

/// The file graph: file → file it imports → the text of the first import in the file that reaches it.
type Graph<'a> = BTreeMap<&'a str, BTreeMap<&'a str, &'a str>>;

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_word(token: &str) -> bool {
    token.chars().next().is_some_and(|c| is_ident(c) && !c.is_ascii_digit())
}

/// Splits source into (line, token): words (`$crate` read as `crate`), `::` and single punctuation characters.
/// Comments (nested block comments too), string literals (raw ones too) and char literals are skipped, so a
/// `crate::` in a doc comment or a string does not count. A quote not closed after one char is a lifetime.
fn tokens(src: &str) -> Vec<(usize, String)> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    // The index just past the first `end` at or after `i`, or the end of the text.
    let past = |i: usize, end: &[char]| {
        (i..c.len())
            .find(|&j| c[j..].starts_with(end))
            .map_or(c.len(), |j| j + end.len())
    };
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    while i < c.len() {
        let start = i;
        if at(i) == '/' && at(i + 1) == '/' {
            i = past(i, &['\n']);
        } else if at(i) == '/' && at(i + 1) == '*' {
            // Block comments nest: count openings and closings until they balance.
            let mut depth = 0;
            while i < c.len() && (depth > 0 || i == start) {
                let pair = (at(i), at(i + 1));
                let step = i32::from(pair == ('/', '*')) - i32::from(pair == ('*', '/'));
                (depth, i) = (depth + step, i + 1 + usize::from(step != 0));
            }
        } else if at(i) == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += 1 + usize::from(c[i] == '\\');
            }
            i += 1;
        } else if at(i) == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A char literal: step over its first char (maybe an escaped quote), then to the closing quote.
            i = past(i + 2 + usize::from(at(i + 1) == '\\'), &['\'']);
        } else if is_ident(at(i)) || (at(i) == '$' && is_ident(at(i + 1))) {
            i += 1 + c[i + 1..].iter().take_while(|&&ch| is_ident(ch)).count();
            let word: String = c[start..i].iter().collect();
            let hashes = (i..).take_while(|&j| at(j) == '#').count();
            if matches!(word.as_str(), "r" | "br" | "cr") && at(i + hashes) == '"' {
                // A raw string ends at a quote followed by as many `#` as it opened with.
                i = past(i + hashes + 1, &[&['"'][..], &vec!['#'; hashes]].concat());
            } else {
                out.push((line, if word == "$crate" { "crate".into() } else { word }));
            }
        } else {
            i += 1 + usize::from(at(i) == ':' && at(i + 1) == ':');
            if !c[start].is_whitespace() {
                out.push((line, c[start..i].iter().collect()));
            }
        }
        line += c[start..i.min(c.len())].iter().filter(|&&ch| ch == '\n').count();
    }
    out
}

/// Expands the `use` tree at `t[*i]` (`a::{b, c::{self, D}}`) into full paths that start with `path`.
fn use_tree(t: &[&str], i: &mut usize, mut path: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        match t.get(*i).copied() {
            Some("{") => {
                *i += 1;
                while !matches!(t.get(*i).copied(), Some("}") | None) {
                    let before = *i;
                    use_tree(t, i, path.clone(), out);
                    // Past the comma, or past a token no tree starts with (so a surprise cannot loop forever).
                    if t.get(*i) == Some(&",") || *i == before {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            // `a::{self}` names `a` itself.
            Some("self") if !path.is_empty() => *i += 1,
            Some(w) if is_word(w) || w == "*" => {
                path.push(w.to_string());
                *i += 1;
            }
            _ => {}
        }
        if t.get(*i) != Some(&"::") {
            *i += if t.get(*i) == Some(&"as") { 2 } else { 0 }; // `as name` only renames
            out.extend((!path.is_empty()).then_some(path));
            return;
        }
        *i += 1;
    }
}

/// Finds every import path in one file's source, with the inline modules around it.
fn parse(src: &str) -> Vec<Import> {
    let toks = tokens(src);
    let tok = |i: usize| toks.get(i).map_or("", |t| t.1.as_str());
    let mut imports = Vec::new();
    // The open inline modules, each with the brace depth outside it.
    let (mut scope, mut depth): (Vec<(String, usize)>, usize) = (Vec::new(), 0);
    let mut i = 0;
    while i < toks.len() {
        let (mut found, mut next) = (Vec::new(), i + 1); // found: (text, path)
        // A path in code starts with a word: not in the middle of a path, nor a method (`x.f::<T>()`).
        let path_starts = tok(i + 1) == "::" && is_word(tok(i + 2)) && !matches!(tok(i.wrapping_sub(1)), "::" | ".");
        match tok(i) {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if scope.last().is_some_and(|s| s.1 == depth) {
                    scope.pop();
                }
            }
            // `mod name;` is not an import (a parent declaring its child); `mod name {` opens a module level.
            "mod" if is_word(tok(i + 1)) && tok(i + 2) == "{" => scope.push((tok(i + 1).to_string(), depth)),
            // A `use` declaration (not `use<'a>` capturing); a leading `::` names an external crate.
            "use" if tok(i + 1) != "<" => {
                let end = (i..toks.len()).find(|&j| tok(j) == ";").unwrap_or(toks.len());
                let tree: Vec<&str> = (i + 1..end).map(tok).collect();
                next = end + 1;
                let mut paths = Vec::new();
                if tree.first() != Some(&"::") {
                    use_tree(&tree, &mut 0, Vec::new(), &mut paths);
                }
                found.extend(paths.into_iter().map(|p| (format!("use {}", p.join("::")), p)));
            }
            w if is_word(w) && path_starts => {
                let mut path = vec![w.to_string()];
                while tok(i + 2 * path.len() - 1) == "::" && is_word(tok(i + 2 * path.len())) {
                    path.push(tok(i + 2 * path.len()).to_string());
                }
                found.push((path.join("::"), path));
            }
            _ => {}
        }
        for (text, path) in found {
            let scope = scope.iter().map(|s| s.0.clone()).collect();
            imports.push(Import {
                line: toks[i].0,
                scope,
                path,
                text,
            });
        }
        i = next;
    }
    imports
}

/// The module path of a file below `src/`: `a/b.rs` and `a/b/mod.rs` are `a::b`, `lib.rs` is the root.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.trim_end_matches(".rs").split('/').map(String::from).collect();
    if parts.last().is_some_and(|p| p == "mod") || parts == ["lib"] {
        parts.pop();
    }
    parts
}

/// The file an import in a file of module `file` reaches: start at the module the path is relative to, walk
/// the segments while a module file exists, and land in the file that holds the module reached.
fn resolve(modules: &BTreeMap<Vec<String>, String>, file: &[String], imp: &Import) -> Option<String> {
    let mut at: Vec<String> = file.iter().chain(&imp.scope).cloned().collect();
    let child = |at: &[String], seg: &str| [at, &[seg.to_string()]].concat();
    // `crate` starts at the root, `self` and `super` here; a bare first segment counts only when it names a
    // child module (`pub use child::X` in a mod.rs): anything else is an external crate.
    match imp.path.first()?.as_str() {
        "crate" => at.clear(),
        "self" | "super" => {}
        first if modules.contains_key(&child(&at, first)) => {}
        _ => return None,
    }
    for seg in &imp.path {
        match seg.as_str() {
            "crate" | "self" => {}
            "super" => _ = at.pop()?,
            _ if modules.contains_key(&child(&at, seg)) => at.push(seg.clone()),
            _ => break,
        }
    }
    // An inline module (`mod tests`) lives in the file of its nearest enclosing module file.
    while !modules.contains_key(&at) {
        at.pop()?;
    }
    modules.get(&at).cloned()
}

/// The crate's files: `src/…` → source. `src/main.rs` is left out: it is its own crate, using this one by name.
fn crate_files() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (mut dirs, mut files) = (vec![root.join("src")], BTreeMap::new());
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                files.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    files.remove("src/main.rs");
    files
}

/// Every file-to-file import in `src/` as (from, to, import), in file and line order. Imports of the file itself
/// and of `src/lib.rs` (which only declares and re-exports) are left out.
fn crate_edges() -> Vec<(String, String, Import)> {
    let files = crate_files();
    let modules = files.keys().map(|f| (module_of(&f[4..]), f.clone())).collect();
    let mut edges = Vec::new();
    for (from, src) in &files {
        for imp in parse(src) {
            match resolve(&modules, &module_of(&from[4..]), &imp) {
                Some(to) if to != *from && to != "src/lib.rs" => edges.push((from.clone(), to, imp)),
                _ => {}
            }
        }
    }
    edges
}

/// The top-level module of a file (`src/identity/graph.rs` → `identity`); none for the crate roots.
fn top_module(file: &str) -> Option<&str> {
    let first = file.strip_prefix("src/")?.split('/').next()?;
    (!ROOTS.contains(&file)).then(|| first.trim_end_matches(".rs"))
}

fn layer(module: &str) -> Option<usize> {
    let (rank, _) = LAYERS.iter().find(|(_, names)| names.contains(&module))?;
    Some(*rank)
}

/// A file's top-level module and its layer, when it has both.
fn layer_of(file: &str) -> Option<(&str, usize)> {
    top_module(file).and_then(|m| Some((m, layer(m)?)))
}

/// Tarjan's strongly connected components that have two or more files: the tangles that circles live in.
fn tangles<'a>(graph: &Graph<'a>) -> Vec<Vec<&'a str>> {
    #[derive(Default)]
    struct State<'a> {
        index: BTreeMap<&'a str, (usize, usize)>, // file → (visit order, lowest order reachable on the stack)
        stack: Vec<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(graph: &Graph<'a>, s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, (n, n));
        s.stack.push(v);
        for &w in graph.get(v).into_iter().flat_map(|m| m.keys()) {
            if !s.index.contains_key(w) {
                visit(graph, s, w);
            }
            // A file still on the stack belongs to the component being built; a finished one does not.
            if s.stack.contains(&w) {
                let low = s.index[v].1.min(s.index[w].1);
                s.index.get_mut(v).unwrap().1 = low;
            }
        }
        if s.index[v].0 == s.index[v].1 {
            let from = s.stack.iter().rposition(|&x| x == v).unwrap();
            let scc: Vec<&str> = s.stack.drain(from..).collect();
            s.out.extend((scc.len() > 1).then_some(scc));
        }
    }
    let mut s = State::default();
    for &v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(graph, &mut s, v);
        }
    }
    s.out.iter_mut().for_each(|scc| scc.sort());
    s.out.sort();
    s.out
}

/// The shortest circle from `start` back to itself (breadth first), as its files, `start` first.
fn shortest_cycle<'a>(graph: &Graph<'a>, start: &'a str) -> Vec<&'a str> {
    let (mut prev, mut queue) = (BTreeMap::new(), VecDeque::from([start]));
    while let Some(u) = queue.pop_front() {
        for &v in graph.get(u).into_iter().flat_map(|m| m.keys()) {
            if v == start {
                let mut path = vec![u];
                while let Some(&p) = prev.get(path.last().unwrap()) {
                    path.push(p);
                }
                path.reverse();
                return path;
            }
            if !prev.contains_key(v) {
                prev.insert(v, u);
                queue.push_back(v);
            }
        }
    }
    unreachable!("{start} is in a tangle, so some circle leads back to it")
}

/// One line per circle, with enough circles per tangle that each of its files is named at least once. Each
/// file is followed by the import in it that leads to the next file.
fn cycle_report(edges: &[(String, String, Import)]) -> Vec<String> {
    let mut graph = Graph::new();
    for (from, to, imp) in edges {
        let targets = graph.entry(from.as_str()).or_default();
        targets.entry(to.as_str()).or_insert(imp.text.as_str());
    }
    let mut lines = Vec::new();
    for scc in tangles(&graph) {
        let mut covered = BTreeSet::new();
        for start in scc {
            if covered.contains(start) {
                continue;
            }
            let cycle = shortest_cycle(&graph, start);
            let mut line = format!("cycle: {start}");
            for k in 1..=cycle.len() {
                let (file, next) = (cycle[k % cycle.len()], cycle[(k + 1) % cycle.len()]);
                line += &format!(" -> {file} ({})", graph[file][next]);
            }
            covered.extend(cycle);
            lines.push(line);
        }
    }
    lines
}

/// Fails with one line per violation, if there is any.
fn report(what: &str, lines: Vec<String>) {
    assert!(lines.is_empty(), "{} {what}:\n{}\n", lines.len(), lines.join("\n"));
}

#[test]
fn every_module_has_a_layer() {
    let files = crate_files();
    let modules: BTreeSet<&str> = files.keys().filter_map(|f| top_module(f)).collect();
    let missing = modules.into_iter().filter(|m| layer(m).is_none());
    let hint = "has no layer; add it to LAYERS in tests/layers.rs and to ARCHITECTURE.md";
    let lines = missing.map(|m| format!("module `{m}` {hint}")).collect();
    report("modules without a layer", lines);
}

#[test]
fn imports_only_go_down_the_layers() {
    // One line per file and path (at its first use), so a path written ten times is reported once.
    let (mut seen, mut bad) = (BTreeSet::new(), Vec::new());
    for (from, to, imp) in crate_edges() {
        // A module without a layer is reported by `every_module_has_a_layer`.
        let (Some((a, ra)), Some((b, rb))) = (layer_of(&from), layer_of(&to)) else {
            continue;
        };
        let path = imp.path.join("::");
        if a != b && rb >= ra && seen.insert((from.clone(), path.clone())) {
            let why = if ra == rb { SIDEWAYS } else { UPWARDS };
            let at = format!("{from}:{}", imp.line);
            let line = format!("{at} imports {path} ({a}, layer {ra} -> {b}, layer {rb}): {why}");
            bad.push(line);
        }
    }
    report("imports break the layers", bad);
}

#[test]
fn no_file_imports_itself_through_a_circle() {
    report("import circles", cycle_report(&crate_edges()));
}

/// Imports of `src/lib.rs` are left out of the graph (it only declares modules and re-exports the error type), so
/// the root must not become a way around the rules: no file takes the root whole (`use crate::*`, `use crate as c`,
/// `use super::*` in a top-level module), and the root re-exports nothing but `error`'s items.
#[test]
fn the_crate_root_is_no_way_around_the_layers() {
    let files = crate_files();
    let modules = files.keys().map(|f| (module_of(&f[4..]), f.clone())).collect();
    let mut bad = Vec::new();
    for (from, src) in &files {
        for imp in parse(src) {
            let whole = matches!(
                imp.path.last().map(String::as_str),
                Some("*" | "crate" | "super" | "self")
            );
            let to_root = resolve(&modules, &module_of(&from[4..]), &imp).as_deref() == Some("src/lib.rs");
            if from != "src/lib.rs" && imp.text.starts_with("use ") && whole && to_root {
                bad.push(format!("{from}:{} `{}` takes the crate root whole", imp.line, imp.text));
            }
            if from == "src/lib.rs" && imp.text.starts_with("use ") && imp.path[0] != "error" {
                bad.push(format!(
                    "src/lib.rs:{} `{}` re-exports more than the error type",
                    imp.line, imp.text
                ));
            }
        }
    }
    report("ways around the layers", bad);
}

/// The imports in `src` that start at `crate`, `super` or `self`, one per line as `line [inline modules] import`.
fn show(src: &str) -> String {
    let relative = parse(src)
        .into_iter()
        .filter(|i| matches!(i.path[0].as_str(), "crate" | "super" | "self"));
    relative
        .map(|i| format!("{} [{}] {}\n", i.line, i.scope.join("::"), i.text))
        .collect()
}

#[test]
fn parser_expands_use_groups_nested_groups_self_and_globs() {
    let src = "pub use crate::{a::X, b::{Y, c::Z}};\npub(crate) use super::{self, foo as bar};\nuse self::x::*;";
    let want = "1 [] use crate::a::X\n1 [] use crate::b::Y\n1 [] use crate::b::c::Z\n\
                2 [] use super\n2 [] use super::foo\n3 [] use self::x::*\n";
    assert_eq!(show(src), want);
}

#[test]
fn parser_reads_paths_in_code_and_tracks_inline_modules() {
    let src = "mod child;\nfn f() { if x { crate::reports::run::<T>(y.g::<u8>()) } }\n#[cfg(test)]\nmod tests {\n\
               fn t() { use super::A; }\nmod deeper { use super::super::config::LinkType; }\nuse crate::C;\n}\n\
               use self::D;";
    let want = "2 [] crate::reports::run\n5 [tests] use super::A\n\
                6 [tests::deeper] use super::super::config::LinkType\n7 [tests] use crate::C\n9 [] use self::D\n";
    assert_eq!(show(src), want);
}

#[test]
fn parser_ignores_comments_strings_and_chars_but_keeps_lifetimes() {
    let src = "/// see crate::a::X\n// crate::b\n/* outer /* crate::c */ crate::d */\n\
               const S: &str = \"crate::e \\\" crate::f\";\nconst R: &str = r#\"crate::g \" crate::h\"#;\n\
               const B: &[u8] = br\"crate::i\";\nconst Q: [char; 2] = ['\"', '\\''];\n\
               fn f<'a>(x: &'a str) -> &'static str { crate::j::K; x }\nuse crate::l::M;";
    assert_eq!(show(src), "8 [] crate::j::K\n9 [] use crate::l::M\n");
}

#[test]
fn resolver_walks_module_files_and_leaves_inline_modules_in_their_file() {
    let files = "lib.rs error.rs identity/mod.rs identity/graph.rs identity/probabilistic/mod.rs";
    let modules = files.split(' ').map(|f| (module_of(f), format!("src/{f}"))).collect();
    // The files the imports in `src` reach from `file`, `-` for none.
    let at = |file: &str, src: &str| -> Vec<String> {
        let to = parse(src).into_iter().map(|i| resolve(&modules, &module_of(file), &i));
        to.map(|f| f.map_or("-".into(), |f| f[4..].into())).collect()
    };
    let src = "use crate::error::Error; use super::graph::Graph; use super::Thing; use std::sync::Arc;";
    let want = ["error.rs", "identity/graph.rs", "identity/mod.rs", "-"];
    assert_eq!(at("identity/probabilistic/mod.rs", src), want);
    let src = "mod tests { use super::Graph; use super::super::probabilistic::X; }";
    let want = ["identity/graph.rs", "identity/probabilistic/mod.rs"];
    assert_eq!(at("identity/graph.rs", src), want);
    // A bare child module name in a mod.rs counts; a bare external crate name does not.
    let src = "pub use graph::Graph; use datafusion::X;";
    assert_eq!(at("identity/mod.rs", src), ["identity/graph.rs", "-"]);
}

#[test]
fn cycle_report_names_each_file_with_the_import_that_leads_on() {
    let edge = |from: &str, to: &str, src: &str| (from.to_string(), to.to_string(), parse(src).remove(0));
    let edges = [
        edge("a.rs", "b.rs", "use super::b::B;"),
        edge("b.rs", "a.rs", "super::a::f()"),
        edge("b.rs", "c.rs", "use c::C;"),
    ];
    let want = "cycle: a.rs -> b.rs (super::a::f) -> a.rs (use super::b::B)";
    assert_eq!(cycle_report(&edges), [want]);
    assert!(cycle_report(&edges[..1]).is_empty());
}
