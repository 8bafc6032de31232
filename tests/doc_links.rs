//! Every relative link in the README, ARCHITECTURE.md and `docs/*.md` leads
//! somewhere: the file exists and, for `page.md#anchor`, the page has a
//! heading with that anchor (GitHub's rule: lower case, spaces to `-`,
//! punctuation dropped, `-1`, `-2` … for repeats). Pages move and headings
//! change wording; this catches the link left behind.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md"), root().join("ARCHITECTURE.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.expect("a readable docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The text outside fenced code blocks and inline code spans.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop `code spans`: a `[x](y)` inside one is not a link.
        let mut in_code = false;
        for c in line.chars() {
            if c == '`' {
                in_code = !in_code;
            } else if !in_code {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// GitHub's anchor for a heading's text.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    // A link in a heading counts by its text: `[x](y)` -> `x`.
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match (after.find("]("), after.find(')')) {
            (Some(close), Some(end)) if close < end => {
                text.push_str(&after[..close]);
                rest = &after[end + 1..];
            }
            _ => {
                text.push('[');
                rest = after;
            }
        }
    }
    text.push_str(rest);
    text.trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(page: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(page).expect("a readable page");
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if fenced || hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(line[hashes..].trim().trim_end_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// The targets of `[text](target)` links, but for web addresses.
fn relative_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find([')', ' ', '\n']).unwrap_or(after.len());
        let target = &after[..end];
        if !target.contains("://") && !target.starts_with("mailto:") && !target.is_empty() {
            links.push(target.to_string());
        }
        rest = &after[end..];
    }
    links
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("a readable page");
        for target in relative_links(&prose(&text)) {
            checked += 1;
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let dest = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("a page has a folder").join(file)
            };
            let name = page.strip_prefix(root()).unwrap_or(&page).display().to_string();
            if !dest.exists() {
                broken.push(format!("{name}: `{target}`: no such file"));
            } else if !anchor.is_empty() && !anchors(&dest).contains(anchor) {
                broken.push(format!("{name}: `{target}`: no heading with that anchor"));
            }
        }
    }
    assert!(checked > 20, "only {checked} links found; is the link reader broken?");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_follow_githubs_rule() {
    assert_eq!(
        slug("Two commands on a fresh machine"),
        "two-commands-on-a-fresh-machine"
    );
    assert_eq!(slug("`[tables.NAME]`"), "tablesname");
    assert_eq!(
        slug("The built-in `rfm` and `clv` views"),
        "the-built-in-rfm-and-clv-views"
    );
    assert_eq!(slug("Server: Arrow Flight SQL"), "server-arrow-flight-sql");
    assert_eq!(
        relative_links("see [a](docs/a.md#x) and [b](https://x.org)"),
        ["docs/a.md#x"]
    );
    assert_eq!(prose("a `[x](y)` b\n```\n[c](d)\n```\n"), "a  b\n");
}
