//! The crate layering rules.
//!
//! Starling's crates form a stack. Each crate may depend only on crates
//! strictly below it (the client and the server are siblings on the top
//! layer: neither depends on the other); the two foundation crates depend on
//! no Starling crate at all; and the lower crates (everything a client or
//! server builds on) stay free of an async runtime, TLS and DNS resolution,
//! so that they can be used in any I/O model. A few crates have further
//! rules on what their dependency tree may hold ([`TREE_RULES`]).

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::util::{self, Result};

/// The Starling crates, lowest layer first; crates that share a layer are
/// siblings.
pub(crate) const LAYERS: &[&[&str]] = &[
    &["starling-xml"],
    &["starling-jid"],
    &["starling-stream"],
    &["starling-stanza"],
    &["starling-auth"],
    &["starling-net"],
    &["starling-client", "starling-server"],
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

/// A rule on the normal dependency tree of one crate built a given way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeRule {
    /// The crate.
    pub(crate) krate: &'static str,
    /// Extra `cargo tree` arguments (the features it is built with).
    pub(crate) args: &'static [&'static str],
    /// How it is built, for messages.
    pub(crate) how: &'static str,
    /// What it must not pull in: exact names, or prefixes ending in `-`.
    pub(crate) banned: &'static [&'static str],
}

/// Further dependency-tree rules: the SASL and negotiation layer builds
/// without TLS, and the client library without the command line's and the
/// server's dependencies.
pub(crate) const TREE_RULES: &[TreeRule] = &[
    TreeRule {
        krate: "starling-auth",
        args: &["--no-default-features"],
        how: "without default features",
        banned: &[
            "tokio", "rustls", "rustls-", "hickory-", "ring", "rcgen", "webpki-",
        ],
    },
    TreeRule {
        krate: "starling-client",
        args: &[],
        how: "with its default features",
        banned: &["rcgen", "clap", "serde_json"],
    },
];

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

/// The position of a crate's layer in [`LAYERS`].
fn layer(name: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&name))
}

/// The layers in order, siblings joined with `|`.
fn order(separator: &str) -> String {
    LAYERS
        .iter()
        .map(|layer| layer.join(" | "))
        .collect::<Vec<_>>()
        .join(separator)
}

/// Checks the declared dependencies of the workspace packages against the
/// layering rules. Returns one message per violation, sorted.
pub(crate) fn check_declared(packages: &[String], deps: &[Dep]) -> Vec<String> {
    let mut violations = BTreeSet::new();
    for package in packages {
        if package.starts_with(PREFIX) && layer(package).is_none() {
            violations.insert(format!(
                "`{package}` is not in the layer order ({}); add it to LAYERS in xtask/src/layering.rs",
                order(", ")
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
        LAYERS[..index]
            .iter()
            .flat_map(|layer| layer.iter().copied())
            .collect::<Vec<_>>()
            .join(", ")
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

/// Whether a crate name is one of `banned`.
fn is_banned(name: &str, banned: &[&str]) -> bool {
    banned.iter().any(|&banned| {
        if banned.ends_with('-') {
            name.starts_with(banned)
        } else {
            name == banned
        }
    })
}

/// The banned crates (`name vVERSION`) in the output of
/// `cargo tree --prefix none`, sorted and without duplicates.
#[cfg(test)]
pub(crate) fn banned_in_tree(tree: &str) -> Vec<String> {
    found_in_tree(tree, BANNED)
}

/// The crates of `banned` in the output of `cargo tree --prefix none`.
pub(crate) fn found_in_tree(tree: &str, banned: &[&str]) -> Vec<String> {
    let mut found = BTreeSet::new();
    for line in tree.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), version) = (words.next(), words.next()) else {
            continue;
        };
        if is_banned(name, banned) {
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
    println!("Checking crate layering: {}", order(" < "));
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

    let io_free = IO_FREE.iter().map(|&krate| TreeRule {
        krate,
        args: &[],
        how: "with its default features",
        banned: BANNED,
    });
    for rule in io_free.chain(TREE_RULES.iter().copied()) {
        if !packages.iter().any(|p| p == rule.krate) {
            continue;
        }
        let found = check_tree(root, &rule)?;
        if found.is_empty() {
            println!(
                "{}: none of {} in its dependency tree {}",
                rule.krate,
                names_of(rule.banned),
                rule.how
            );
        }
        violations.extend(found);
    }

    if violations.is_empty() {
        println!("layering: OK");
    } else {
        println!("layering: {} violation(s)", violations.len());
    }
    Ok(violations.len())
}

/// The banned names for messages: prefixes with a `*`.
fn names_of(banned: &[&str]) -> String {
    banned
        .iter()
        .map(|b| {
            if b.ends_with('-') {
                format!("{b}*")
            } else {
                (*b).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks one crate's normal dependency tree against a rule, printing how
/// each banned crate gets there. Returns one message per banned crate.
fn check_tree(root: &Path, rule: &TreeRule) -> Result<Vec<String>> {
    let krate = rule.krate;
    // `cargo tree -p` resolves features for this package alone (resolver 2
    // and later), so this is the tree a user of the crate gets built that
    // way; `--target all` includes every platform's dependencies.
    let tree = util::capture(
        util::cargo(root)
            .args(["tree", "--package", krate, "--edges", "normal"])
            .args(rule.args)
            .args(["--target", "all", "--prefix", "none", "--format", "{p}"]),
    )?;
    let mut messages = Vec::new();
    for found in found_in_tree(&tree, rule.banned) {
        let message = format!(
            "`{krate}` pulls in `{found}` {}; it must stay free of {}",
            rule.how,
            names_of(rule.banned)
        );
        println!("layering violation: {message}");
        let name = found.split_whitespace().next().unwrap_or(&found);
        println!("  how it gets there:");
        let path = util::capture(
            util::cargo(root)
                .args(["tree", "--package", krate, "--edges", "normal"])
                .args(rule.args)
                .args(["--target", "all", "--invert", name]),
        )
        .unwrap_or_else(|error| format!("(cargo tree --invert failed: {error})\n"));
        for line in path.lines() {
            println!("    {line}");
        }
        messages.push(message);
    }
    Ok(messages)
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
    fn siblings_may_not_depend_on_each_other() {
        let packages = names(&["starling-net", "starling-client", "starling-server"]);
        let deps = vec![
            dep("starling-client", "starling-net", DepKind::Normal),
            dep("starling-server", "starling-net", DepKind::Normal),
            // Tests of one may use the other.
            dep("starling-server", "starling-client", DepKind::Dev),
            dep("starling-server", "starling-client", DepKind::Normal),
        ];
        let violations = check_declared(&packages, &deps);
        assert_eq!(violations.len(), 1, "{violations:#?}");
        assert!(violations[0].starts_with(
            "`starling-server` (layer 7) has a normal dependency on `starling-client` (layer 7)"
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
