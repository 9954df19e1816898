//! The crate layering rules.
//!
//! Starling's crates form a stack of layers ([`CRATES`]). A crate may
//! depend only on crates of lower layers; the foundation crates (layer 1)
//! depend on no Starling crate at all; crates of the same layer are
//! siblings that never depend on each other, in any kind of dependency
//! (the client and the server: the server's end-to-end suites live in the
//! test-support crate, which may use both). The test-support crate is a
//! dev-dependency of the others and never a normal one; its own normal
//! dependencies stay at or below [`TESTKIT_CEILING`].
//!
//! On top of the declared dependencies, [`TREE_RULES`] check resolved
//! dependency trees (`cargo tree`) with given features: the lower crates
//! pull in no async runtime, TLS or DNS resolver; the optional parts of
//! auth and client stay behind their features; and the server's tree
//! (dev-dependencies included) has no client in it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::util::{self, Result};

/// Where a Starling crate stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// In the stack, at this layer (0: the foundation).
    Layer(u8),
    /// Test support: a dev-dependency of the others, never a normal one.
    TestSupport,
}

/// The Starling crates and their places, lowest layer first. A crate of
/// the table that does not exist (yet) is simply not checked.
pub(crate) const CRATES: &[(&str, Place)] = &[
    ("starling-xml", Place::Layer(0)),
    ("starling-jid", Place::Layer(0)),
    ("starling-stream", Place::Layer(1)),
    ("starling-stanza", Place::Layer(2)),
    ("starling-auth", Place::Layer(3)),
    ("starling-net", Place::Layer(4)),
    ("starling-client", Place::Layer(5)),
    ("starling-server", Place::Layer(5)),
    ("starling-testkit", Place::TestSupport),
];

/// The highest layer the test-support crate may have a normal dependency
/// on (`starling-net`): below the client and the server, so that both can
/// use it without depending on each other.
pub(crate) const TESTKIT_CEILING: u8 = 4;

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

/// The place of a Starling crate.
fn place(name: &str) -> Option<Place> {
    CRATES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|&(_, place)| place)
}

/// The crates of `layer`, for messages.
fn layer_members(layer: u8) -> Vec<&'static str> {
    CRATES
        .iter()
        .filter(|(_, place)| *place == Place::Layer(layer))
        .map(|&(name, _)| name)
        .collect()
}

/// The crates of the layers `0..end`, for messages.
fn layers_below(end: u8) -> String {
    let names: Vec<&str> = (0..end).flat_map(layer_members).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The layer order as one line: `a, b < c < {d, e}; t: test support`.
pub(crate) fn describe_order() -> String {
    let top = CRATES
        .iter()
        .filter_map(|(_, place)| match place {
            Place::Layer(layer) => Some(*layer),
            Place::TestSupport => None,
        })
        .max()
        .unwrap_or(0);
    let mut layers = Vec::new();
    for layer in 0..=top {
        let members = layer_members(layer);
        layers.push(match members.len() {
            0 => continue,
            1 => members[0].to_owned(),
            _ if layer == 0 => members.join(", "),
            _ => format!("{{{}}}", members.join(", ")),
        });
    }
    let support: Vec<&str> = CRATES
        .iter()
        .filter(|(_, place)| *place == Place::TestSupport)
        .map(|&(name, _)| name)
        .collect();
    format!(
        "{}; test support (dev-dependency only): {}",
        layers.join(" < "),
        support.join(", ")
    )
}

/// The rule `dep` breaks, if any: `(from, to)` are the places of its two
/// ends.
fn broken_rule(dep: &Dep, from: Place, to: Place) -> Option<String> {
    let normal = matches!(dep.kind, DepKind::Normal | DepKind::Build);
    match (from, to) {
        (Place::TestSupport, _) if !normal => None,
        (Place::TestSupport, Place::Layer(t)) if t <= TESTKIT_CEILING => None,
        (Place::TestSupport, _) => Some(format!(
            "test support may depend normally only on the layers up to {} ({}), so that \
             the crates above can use it as a dev-dependency",
            layer_members(TESTKIT_CEILING).join(", "),
            layers_below(TESTKIT_CEILING + 1)
        )),
        (Place::Layer(_), Place::TestSupport) if normal => Some(
            "test support may only be a dev-dependency (never a normal or build-dependency)"
                .to_owned(),
        ),
        (Place::Layer(_), Place::TestSupport) => None,
        (Place::Layer(f), Place::Layer(t)) => {
            if dep.from == dep.to {
                return normal.then(|| "a crate cannot depend on itself".to_owned());
            }
            if f == 0 && normal {
                return Some("it must not depend on any Starling crate".to_owned());
            }
            if t == f {
                return Some(format!(
                    "{} are siblings (layer {}): they must not depend on each other, in \
                     any kind of dependency",
                    layer_members(f).join(" and "),
                    f + 1
                ));
            }
            (t > f).then(|| match dep.kind {
                DepKind::Dev => format!(
                    "its dev-dependencies may only use itself, the layers below it ({}) \
                     and test support",
                    layers_below(f)
                ),
                _ => format!(
                    "it may only depend on the layers below it ({})",
                    layers_below(f)
                ),
            })
        }
    }
}

/// A place for messages: `layer N` or `test support`.
fn describe_place(place: Place) -> String {
    match place {
        Place::Layer(layer) => format!("layer {}", layer + 1),
        Place::TestSupport => "test support".to_owned(),
    }
}

/// Checks the declared dependencies of the workspace packages against the
/// layering rules. Returns one message per violation, sorted; each names
/// the crate, the dependency and the rule.
pub(crate) fn check_declared(packages: &[String], deps: &[Dep]) -> Vec<String> {
    let mut violations = BTreeSet::new();
    for package in packages {
        if package.starts_with(PREFIX) && place(package).is_none() {
            violations.insert(format!(
                "`{package}` is not in the layer table; add it to CRATES in xtask/src/layering.rs"
            ));
        }
    }
    for dep in deps {
        if !dep.from.starts_with(PREFIX) || !dep.to.starts_with(PREFIX) {
            continue;
        }
        let Some(from) = place(&dep.from) else {
            // Already reported as an unknown package.
            continue;
        };
        let Some(to) = place(&dep.to) else {
            violations.insert(format!(
                "`{}` has a {} on `{}`, which is not in the layer table",
                dep.from, dep.kind, dep.to
            ));
            continue;
        };
        if let Some(rule) = broken_rule(dep, from, to) {
            violations.insert(format!(
                "`{}` ({}) has a {} on `{}` ({}): {rule}",
                dep.from,
                describe_place(from),
                dep.kind,
                dep.to,
                describe_place(to)
            ));
        }
    }
    violations.into_iter().collect()
}

/// The workspace as `cargo metadata --no-deps` describes it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Metadata {
    /// The workspace packages and the features each declares.
    pub(crate) packages: BTreeMap<String, BTreeSet<String>>,
    /// Their declared dependencies.
    pub(crate) deps: Vec<Dep>,
}

impl Metadata {
    /// The package names.
    pub(crate) fn names(&self) -> Vec<String> {
        self.packages.keys().cloned().collect()
    }

    /// Whether `package` is in the workspace.
    pub(crate) fn has(&self, package: &str) -> bool {
        self.packages.contains_key(package)
    }

    /// Whether `package` declares `feature` in its manifest.
    pub(crate) fn declares(&self, package: &str, feature: &str) -> bool {
        self.packages
            .get(package)
            .is_some_and(|features| features.contains(feature))
    }
}

/// Reads the workspace packages, their features and their declared
/// dependencies from the output of `cargo metadata --format-version 1
/// --no-deps`.
pub(crate) fn parse_metadata(json: &str) -> Result<Metadata> {
    let metadata: Value = serde_json::from_str(json)?;
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata: no `workspace_members`")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut out = Metadata::default();
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
        let features = package["features"]
            .as_object()
            .map(|features| features.keys().cloned().collect())
            .unwrap_or_default();
        out.packages.insert(name.to_owned(), features);
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
            out.deps.push(Dep {
                from: name.to_owned(),
                to: to.to_owned(),
                kind,
            });
        }
    }
    out.deps.sort();
    out.deps.dedup();
    Ok(out)
}

/// A check of one package's resolved dependency tree.
#[derive(Debug)]
pub(crate) struct TreeRule {
    /// The package whose tree is resolved.
    pub(crate) package: &'static str,
    /// The `cargo tree` options that choose its features and edges.
    pub(crate) args: &'static [&'static str],
    /// What tree that is, for messages.
    pub(crate) tree: &'static str,
    /// Crates that must not be in it: exact names, or prefixes when they
    /// end in `-`.
    pub(crate) banned: &'static [&'static str],
    /// The rule applies once the package declares this feature (until then
    /// it is skipped with a note).
    pub(crate) once_feature: Option<&'static str>,
    /// Why, for messages.
    pub(crate) why: &'static str,
}

/// What the lower crates must not pull in.
const IO_CRATES: &[&str] = &["tokio", "rustls", "hickory-"];

/// The lower crates' reason.
const IO_FREE: &str = "the lower layers build without an async runtime, TLS or DNS resolver";

/// The tree checks, in the order they run.
pub(crate) const TREE_RULES: &[TreeRule] = &[
    io_free("starling-xml"),
    io_free("starling-jid"),
    io_free("starling-stream"),
    io_free("starling-stanza"),
    TreeRule {
        package: "starling-auth",
        args: &["--no-default-features", "--edges", "normal"],
        tree: "normal dependencies with --no-default-features",
        banned: &["rustls", "rcgen", "ring"],
        once_feature: Some("tls"),
        why: "TLS is behind the `tls` feature and certificate generation behind `cert-gen`",
    },
    TreeRule {
        package: "starling-client",
        args: &["--edges", "normal"],
        tree: "normal dependencies with default features",
        banned: &["clap", "serde_json", "rcgen"],
        once_feature: Some("cli"),
        why: "the command-line tool's dependencies are behind the `cli` feature",
    },
    TreeRule {
        package: "starling-server",
        args: &["--edges", "normal,build,dev"],
        tree: "dependencies of every kind, dev-dependencies included",
        banned: &["starling-client"],
        once_feature: None,
        why: "client and server are siblings; the suites that drive the server with the \
              client live in starling-testkit",
    },
];

/// The rule for one of the lower crates.
const fn io_free(package: &'static str) -> TreeRule {
    TreeRule {
        package,
        args: &["--edges", "normal"],
        tree: "normal dependencies with default features",
        banned: IO_CRATES,
        once_feature: None,
        why: IO_FREE,
    }
}

/// Whether a crate name is one of `banned`.
fn is_banned(name: &str, banned: &[&str]) -> bool {
    banned.iter().any(|&b| {
        if b.ends_with('-') {
            name.starts_with(b)
        } else {
            name == b
        }
    })
}

/// The `banned` crates (`name vVERSION`) in the output of
/// `cargo tree --prefix none`, sorted and without duplicates.
pub(crate) fn banned_in_tree(tree: &str, banned: &[&str]) -> Vec<String> {
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

/// What to do with a tree rule for this workspace.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Applies {
    /// Check it.
    Yes,
    /// Skip it, saying why.
    Skip(String),
}

/// Whether `rule` applies to the workspace `metadata`.
pub(crate) fn applies(rule: &TreeRule, metadata: &Metadata) -> Applies {
    if !metadata.has(rule.package) {
        return Applies::Skip(format!("`{}` is not in the workspace", rule.package));
    }
    match rule.once_feature {
        Some(feature) if !metadata.declares(rule.package, feature) => Applies::Skip(format!(
            "`{}` declares no `{feature}` feature yet; enforced once it does",
            rule.package
        )),
        _ => Applies::Yes,
    }
}

/// The banned crates of `rule` for messages (prefixes as `name-*`).
fn banned_list(rule: &TreeRule) -> String {
    let banned: Vec<String> = rule
        .banned
        .iter()
        .map(|b| {
            if b.ends_with('-') {
                format!("{b}*")
            } else {
                (*b).to_owned()
            }
        })
        .collect();
    banned.join(", ")
}

/// The message for a banned crate found in a tree.
pub(crate) fn tree_violation(rule: &TreeRule, found: &str) -> String {
    format!(
        "`{}` has `{found}` in its {}; it must stay free of {}: {}",
        rule.package,
        rule.tree,
        banned_list(rule),
        rule.why
    )
}

/// `cargo tree` for `rule` with `extra` arguments.
fn cargo_tree(root: &Path, rule: &TreeRule, extra: &[&str]) -> Result<String> {
    util::capture(
        util::cargo(root)
            .args(["tree", "--package", rule.package, "--target", "all"])
            .args(rule.args)
            .args(extra),
    )
}

/// Runs one tree rule, printing what it finds; returns the violations.
fn check_tree(root: &Path, rule: &TreeRule, metadata: &Metadata) -> Result<Vec<String>> {
    if let Applies::Skip(why) = applies(rule, metadata) {
        println!("{}: skipped ({why})", rule.package);
        return Ok(Vec::new());
    }
    // `cargo tree -p` resolves features for this package alone (resolver
    // 2 and later); `--target all` includes every platform's dependencies.
    let tree = cargo_tree(root, rule, &["--prefix", "none", "--format", "{p}"])?;
    let found = banned_in_tree(&tree, rule.banned);
    let mut violations = Vec::new();
    for crate_found in &found {
        let message = tree_violation(rule, crate_found);
        println!("layering violation: {message}");
        let name = crate_found.split_whitespace().next().unwrap_or(crate_found);
        println!("  how it gets there:");
        let path = cargo_tree(root, rule, &["--invert", name])
            .unwrap_or_else(|error| format!("(cargo tree --invert failed: {error})\n"));
        for line in path.lines() {
            println!("    {line}");
        }
        violations.push(message);
    }
    if found.is_empty() {
        println!(
            "{}: none of {} in its {}",
            rule.package,
            banned_list(rule),
            rule.tree
        );
    }
    Ok(violations)
}

/// Runs all layering checks on the workspace at `root`, printing each
/// violation. Returns the number of violations.
pub(crate) fn check(root: &Path) -> Result<usize> {
    println!("Checking crate layering: {}", describe_order());
    let json =
        util::capture(util::cargo(root).args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let metadata = parse_metadata(&json)?;
    let names = metadata.names();
    let starling: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|p| p.starts_with(PREFIX))
        .collect();
    if starling.is_empty() {
        println!("No Starling crates in the workspace yet.");
    } else {
        println!("Starling crates: {}", starling.join(", "));
    }

    let mut violations = check_declared(&names, &metadata.deps);
    for violation in &violations {
        println!("layering violation: {violation}");
    }
    for rule in TREE_RULES {
        violations.extend(check_tree(root, rule, &metadata)?);
    }

    if violations.is_empty() {
        println!("layering: OK");
    } else {
        println!("layering: {} violation(s)", violations.len());
    }
    Ok(violations.len())
}

#[cfg(test)]
mod tests;
