//! The architecture's invariants, checked by reading `src/`: only `edge/`
//! touches the `worker` crate, only `db/` holds SQL, dependencies point
//! down, and a long function says why it is long.

use std::path::{Path, PathBuf};

fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The top-level module a source file belongs to.
fn module_of(rel: &str) -> &str {
    rel.split('/').next().unwrap().trim_end_matches(".rs")
}

/// Lower layers first; a module may use only modules ranked below it.
const LAYERS: [&str; 16] = [
    "ids", "refresh", "settings", "strict", "logline", "whatsapp", "channels", "keys", "session",
    "outbound", "inbound", "erasure", "relay", "db", "api", "edge",
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|m| *m == module)
}

#[test]
fn only_the_edge_touches_the_worker_crate() {
    for (rel, text) in sources() {
        if module_of(&rel) == "edge" {
            continue;
        }
        assert!(
            !text.contains("worker::") && !text.contains("use worker"),
            "{rel} uses the worker crate"
        );
    }
}

#[test]
fn only_db_holds_sql() {
    const KEYWORDS: [&str; 7] = [
        "\"SELECT ",
        "\"INSERT ",
        "\"UPDATE ",
        "\"DELETE ",
        "\"WITH ",
        "\"CREATE ",
        "\"ALTER ",
    ];
    for (rel, text) in sources() {
        if module_of(&rel) == "db" {
            continue;
        }
        for k in KEYWORDS {
            assert!(
                !text.contains(k),
                "{rel} holds SQL ({})",
                k.trim_matches('"')
            );
        }
    }
}

#[test]
fn dependencies_point_down() {
    for (rel, text) in sources() {
        let own = module_of(&rel);
        if own == "lib" {
            continue;
        }
        let own_rank = rank(own).unwrap_or_else(|| panic!("{own} is not in LAYERS"));
        for (i, _) in text.match_indices("crate::") {
            let used: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `cols!`, the contact and the raw-parts macros are db's, exported
            // at the crate root.
            const DB_MACROS: [&str; 6] = [
                "cols",
                "contact_of",
                "contact_at",
                "named_contact",
                "parts_owner",
                "parts_named",
            ];
            let used = if DB_MACROS.contains(&used.as_str()) {
                "db".to_owned()
            } else {
                used
            };
            if used == own || used.is_empty() {
                continue;
            }
            let used_rank = rank(&used).unwrap_or_else(|| panic!("{used} is not in LAYERS"));
            assert!(
                used_rank < own_rank,
                "{rel} ({own}) uses {used}, which is not below it"
            );
        }
    }
}

/// Functions longer than this say why, in a comment or doc line right
/// above them that contains "long".
const LONG_FN_LINES: usize = 80;

#[test]
fn long_functions_say_why() {
    let mut unexplained = Vec::new();
    for (rel, text) in sources() {
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let l = lines[i].trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "pub(crate) fn ",
                "async fn ",
                "pub async fn ",
            ]
            .iter()
            .any(|p| l.starts_with(p));
            if !is_fn {
                i += 1;
                continue;
            }
            let indent = lines[i].len() - l.len();
            // The body ends at the first line that closes it at the fn's indent.
            let end = (i + 1..lines.len())
                .find(|&j| {
                    let t = lines[j];
                    t.len() > indent
                        && t[..indent].trim().is_empty()
                        && t[indent..].starts_with('}')
                        || t == "}" && indent == 0
                })
                .unwrap_or(i);
            let length = end - i + 1;
            if length > LONG_FN_LINES {
                let reason = (0..i)
                    .rev()
                    .take_while(|&k| {
                        let t = lines[k].trim_start();
                        t.starts_with("//") || t.starts_with("#[")
                    })
                    .any(|k| lines[k].to_lowercase().contains("long"));
                if !reason {
                    unexplained.push(format!("{rel}:{} ({length} lines)", i + 1));
                }
            }
            i = end + 1;
        }
    }
    assert!(
        unexplained.is_empty(),
        "long functions without a reason: {unexplained:?}"
    );
}
