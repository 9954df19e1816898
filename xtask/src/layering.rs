//! The crate layering rules.
//!
//! Starling's crates form a stack. Each crate may depend only on crates
//! strictly below it; the two foundation crates depend on no Starling crate at
//! all; and the lower crates (everything a client or server builds on) stay
//! free of an async runtime, TLS and DNS resolution, so that they can be used
//! in any I/O model.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::util::{self, Result};

/// The Starling crates, lowest layer first.
pub(crate) const LAYERS: &[&str] = &[
    "starling-xml",
    "starling-jid",
    "starling-stream",
    "starling-stanza",
    "starling-auth",
    "starling-client",
    "starling-server",
];

/// Crates that must not depend on any other Starling crate.
pub(crate) const FOUNDATION: &[&str] = &["starling-xml", "starling-jid"];

/// Crates whose default normal dependency tree must not contain [`BANNED`]
/// crates.
pub(crate) const IO_FREE: &[&str] = &[
    "starling-xml",
    "starling-jid",
    "starling-stream",
    "starling-stanza",
];

/// Crates that the [`IO_FREE`] crates must not pull in: exact names, or
/// prefixes when they end in `-`.
pub(crate) const BANNED: &[&str] = &["tokio", "rustls", "hickory-"];

/// The prefix that marks a crate as part of Starling.
const PREFIX: &str = "starling-";

/// The kind of a dependency, as in a manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DepKind {
    /// `[dependencies]`.
    Normal,
    /// `[build-dependencies]`.
    Build,
    /// `[dev-dependencies]`.
    Dev,
}

impl fmt::Display for DepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Normal => "normal dependency",
            Self::Build => "build-dependency",
            Self::Dev => "dev-dependency",
        })
    }
}

/// A dependency declared by a workspace package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Dep {
    /// The depending package.
    pub(crate) from: String,
    /// The package depended on (its package name, not a rename).
    pub(crate) to: String,
    /// Which dependency table it is in.
    pub(crate) kind: DepKind,
}

/// The position of a crate in [`LAYERS`].
fn layer(name: &str) -> Option<usize> {
    LAYERS.iter().position(|&known| known == name)
}

/// Checks the declared dependencies of the workspace packages against the
/// layering rules. Returns one message per violation, sorted.
pub(crate) fn check_declared(packages: &[String], deps: &[Dep]) -> Vec<String> {
    let mut violations = BTreeSet::new();
    for package in packages {
        if package.starts_with(PREFIX) && layer(package).is_none() {
            violations.insert(format!(
                "`{package}` is not in the layer order ({}); add it to LAYERS in xtask/src/layering.rs",
                LAYERS.join(", ")
            ));
        }
    }
    for dep in deps {
        if !dep.from.starts_with(PREFIX) || !dep.to.starts_with(PREFIX) {
            continue;
        }
        let Some(from) = layer(&dep.from) else {
            // Already reported as an unknown package.
            continue;
        };
        let Some(to) = layer(&dep.to) else {
            violations.insert(format!(
                "`{}` has a {} on `{}`, which is not in the layer order",
                dep.from, dep.kind, dep.to
            ));
            continue;
        };
        let allowed = match dep.kind {
            DepKind::Normal | DepKind::Build => {
                !FOUNDATION.contains(&dep.from.as_str()) && to < from
            }
            DepKind::Dev => to <= from,
        };
        if !allowed {
            let rule = match dep.kind {
                DepKind::Normal | DepKind::Build if FOUNDATION.contains(&dep.from.as_str()) => {
                    "it must not depend on any Starling crate".to_owned()
                }
                DepKind::Normal | DepKind::Build => {
                    format!(
                        "it may only depend on the layers below it ({})",
                        below(from)
                    )
                }
                DepKind::Dev => format!(
                    "its dev-dependencies may only use its own layer or those below ({})",
                    below(from + 1)
                ),
            };
            violations.insert(format!(
                "`{}` (layer {}) has a {} on `{}` (layer {}): {rule}",
                dep.from,
                from + 1,
                dep.kind,
                dep.to,
                to + 1
            ));
        }
    }
    violations.into_iter().collect()
}

/// The crates strictly below layer index `index`, for messages.
fn below(index: usize) -> String {
    if index == 0 {
        "none".to_owned()
    } else {
        LAYERS[..index].join(", ")
    }
}

/// Reads the workspace packages and their declared dependencies from the
/// output of `cargo metadata --format-version 1 --no-deps`.
pub(crate) fn parse_metadata(json: &str) -> Result<(Vec<String>, Vec<Dep>)> {
    let metadata: Value = serde_json::from_str(json)?;
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata: no `workspace_members`")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut packages = Vec::new();
    let mut deps = Vec::new();
    for package in metadata["packages"]
        .as_array()
        .ok_or("cargo metadata: no `packages`")?
    {
        let id = package["id"].as_str().unwrap_or_default();
        if !members.contains(id) {
            continue;
        }
        let name = package["name"]
            .as_str()
            .ok_or("cargo metadata: package without a name")?;
        packages.push(name.to_owned());
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let to = dep["name"]
                .as_str()
                .ok_or("cargo metadata: dependency without a name")?;
            let kind = match dep["kind"].as_str() {
                None => DepKind::Normal,
                Some("build") => DepKind::Build,
                Some("dev") => DepKind::Dev,
                Some(other) => bail!("cargo metadata: unknown dependency kind `{other}`"),
            };
            deps.push(Dep {
                from: name.to_owned(),
                to: to.to_owned(),
                kind,
            });
        }
    }
    packages.sort();
    deps.sort();
    deps.dedup();
    Ok((packages, deps))
}

/// Whether a crate name is one of [`BANNED`].
fn is_banned(name: &str) -> bool {
    BANNED.iter().any(|&banned| {
        if banned.ends_with('-') {
            name.starts_with(banned)
        } else {
            name == banned
        }
    })
}

/// The banned crates (`name vVERSION`) in the output of
/// `cargo tree --prefix none`, sorted and without duplicates.
pub(crate) fn banned_in_tree(tree: &str) -> Vec<String> {
    let mut found = BTreeSet::new();
    for line in tree.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), version) = (words.next(), words.next()) else {
            continue;
        };
        if is_banned(name) {
            found.insert(match version {
                Some(version) if version.starts_with('v') => format!("{name} {version}"),
                _ => name.to_owned(),
            });
        }
    }
    found.into_iter().collect()
}

/// Runs all layering checks on the workspace at `root`, printing each
/// violation. Returns the number of violations.
pub(crate) fn check(root: &Path) -> Result<usize> {
    println!("Checking crate layering: {}", LAYERS.join(" < "));
    let json =
        util::capture(util::cargo(root).args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let (packages, deps) = parse_metadata(&json)?;
    let starling: Vec<&String> = packages.iter().filter(|p| p.starts_with(PREFIX)).collect();
    if starling.is_empty() {
        println!("No Starling crates in the workspace yet.");
    } else {
        println!(
            "Starling crates: {}",
            starling
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let mut violations = check_declared(&packages, &deps);
    for violation in &violations {
        println!("layering violation: {violation}");
    }

    for &krate in IO_FREE {
        if !packages.iter().any(|p| p == krate) {
            continue;
        }
        // `cargo tree -p` resolves features for this package alone (resolver
        // 2 and later), so this is the tree a user of the crate gets with its
        // default features; `--target all` includes every platform's
        // dependencies.
        let tree = util::capture(util::cargo(root).args([
            "tree",
            "--package",
            krate,
            "--edges",
            "normal",
            "--target",
            "all",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ]))?;
        let banned = banned_in_tree(&tree);
        for found in &banned {
            let message = format!(
                "`{krate}` pulls in `{found}` with its default features; it must stay free of {}",
                BANNED
                    .iter()
                    .map(|b| if b.ends_with('-') {
                        format!("{b}*")
                    } else {
                        (*b).to_owned()
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            println!("layering violation: {message}");
            let name = found.split_whitespace().next().unwrap_or(found);
            println!("  how it gets there:");
            let path = util::capture(util::cargo(root).args([
                "tree",
                "--package",
                krate,
                "--edges",
                "normal",
                "--target",
                "all",
                "--invert",
                name,
            ]))
            .unwrap_or_else(|error| format!("(cargo tree --invert failed: {error})\n"));
            for line in path.lines() {
                println!("    {line}");
            }
            violations.push(message);
        }
        if banned.is_empty() {
            println!("{krate}: no async runtime, TLS or DNS crates in its default dependency tree");
        }
    }

    if violations.is_empty() {
        println!("layering: OK");
    } else {
        println!("layering: {} violation(s)", violations.len());
    }
    Ok(violations.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(from: &str, to: &str, kind: DepKind) -> Dep {
        Dep {
            from: from.into(),
            to: to.into(),
            kind,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|&s| s.to_owned()).collect()
    }

    #[test]
    fn a_clean_graph_passes() {
        let packages = names(&[
            "starling-xml",
            "starling-jid",
            "starling-stream",
            "starling-stanza",
            "starling-client",
            "xtask",
        ]);
        let deps = vec![
            dep("starling-xml", "memchr", DepKind::Normal),
            dep("starling-xml", "criterion", DepKind::Dev),
            dep("starling-stream", "starling-xml", DepKind::Normal),
            dep("starling-stream", "starling-jid", DepKind::Normal),
            dep("starling-stanza", "starling-stream", DepKind::Normal),
            dep("starling-stanza", "starling-xml", DepKind::Build),
            dep("starling-stanza", "starling-stanza", DepKind::Dev),
            dep("starling-client", "starling-stanza", DepKind::Normal),
            dep("starling-client", "starling-client", DepKind::Dev),
            dep("xtask", "starling-server", DepKind::Normal),
        ];
        assert_eq!(check_declared(&packages, &deps), Vec::<String>::new());
    }

    #[test]
    fn upward_and_sideways_dependencies_fail() {
        let packages = names(&[
            "starling-xml",
            "starling-jid",
            "starling-stream",
            "starling-stanza",
        ]);
        let deps = vec![
            // Upward.
            dep("starling-stream", "starling-stanza", DepKind::Normal),
            // Same layer through a build-dependency.
            dep("starling-stanza", "starling-stanza", DepKind::Build),
            // Foundation crates depend on no Starling crate, not even a lower one.
            dep("starling-jid", "starling-xml", DepKind::Normal),
        ];
        let violations = check_declared(&packages, &deps);
        assert_eq!(violations.len(), 3, "{violations:#?}");
        assert!(violations.iter().any(|v| v.starts_with(
            "`starling-stream` (layer 3) has a normal dependency on `starling-stanza` (layer 4)"
        )));
        assert!(violations.iter().any(|v| v.starts_with(
            "`starling-stanza` (layer 4) has a build-dependency on `starling-stanza`"
        )));
        assert!(
            violations.iter().any(|v| v
                .starts_with("`starling-jid` (layer 2) has a normal dependency on `starling-xml`")
                && v.ends_with("it must not depend on any Starling crate"))
        );
    }

    #[test]
    fn dev_dependencies_may_not_go_up() {
        let packages = names(&[
            "starling-xml",
            "starling-stanza",
            "starling-stream",
            "starling-server",
        ]);
        let deps = vec![
            dep("starling-stanza", "starling-stream", DepKind::Dev),
            dep("starling-xml", "starling-xml", DepKind::Dev),
            dep("starling-xml", "starling-server", DepKind::Dev),
        ];
        let violations = check_declared(&packages, &deps);
        assert_eq!(violations.len(), 1, "{violations:#?}");
        assert!(violations[0].contains(
            "`starling-xml` (layer 1) has a dev-dependency on `starling-server` (layer 7)"
        ));
    }

    #[test]
    fn unknown_starling_crates_fail() {
        let packages = names(&["starling-xml", "starling-extras"]);
        let deps = vec![
            dep("starling-extras", "starling-xml", DepKind::Normal),
            dep("starling-xml", "starling-macros", DepKind::Dev),
        ];
        let violations = check_declared(&packages, &deps);
        assert_eq!(violations.len(), 2, "{violations:#?}");
        assert!(
            violations
                .iter()
                .any(|v| v.contains("`starling-extras` is not in the layer order"))
        );
        assert!(
            violations
                .iter()
                .any(|v| v.contains("`starling-macros`, which is not in the layer order"))
        );
    }

    #[test]
    fn metadata_is_read_for_members_only() {
        let json = r#"{
            "packages": [
                {"name": "starling-jid", "id": "path+file:///w/crates/starling-jid#0.1.0",
                 "dependencies": [
                    {"name": "idna", "kind": null, "rename": null},
                    {"name": "starling-xml", "kind": "dev", "rename": "xml"},
                    {"name": "cc", "kind": "build"}
                 ]},
                {"name": "outsider", "id": "registry+x#outsider@1.0.0",
                 "dependencies": [{"name": "starling-server", "kind": null}]}
            ],
            "workspace_members": ["path+file:///w/crates/starling-jid#0.1.0"]
        }"#;
        let (packages, deps) = parse_metadata(json).unwrap();
        assert_eq!(packages, ["starling-jid"]);
        assert_eq!(
            deps,
            [
                dep("starling-jid", "cc", DepKind::Build),
                dep("starling-jid", "idna", DepKind::Normal),
                dep("starling-jid", "starling-xml", DepKind::Dev),
            ]
        );
    }

    #[test]
    fn banned_crates_are_found_in_a_tree() {
        let tree = "\
starling-stream v0.1.0 (/w/crates/starling-stream)
bytes v1.12.0
tokio v1.45.0
tokio-macros v2.5.0 (proc-macro)
hickory-resolver v0.25.0
rustls-pki-types v1.12.0

starling-xml v0.1.0 (/w/crates/starling-xml)
tokio v1.45.0 (*)
";
        assert_eq!(
            banned_in_tree(tree),
            ["hickory-resolver v0.25.0", "tokio v1.45.0"]
        );
        assert!(banned_in_tree("starling-xml v0.1.0 (/w)\nmemchr v2.8.0\n").is_empty());
    }
}
