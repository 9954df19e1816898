use super::*;

use DepKind::{Build, Dev, Normal};

fn dep(from: &str, to: &str, kind: DepKind) -> Dep {
    Dep {
        from: from.into(),
        to: to.into(),
        kind,
    }
}

/// Every crate of the table, and xtask.
fn workspace() -> Vec<String> {
    CRATES
        .iter()
        .map(|&(name, _)| name.to_owned())
        .chain(["xtask".to_owned()])
        .collect()
}

/// The violation for one dependency in the full workspace, if any.
fn verdict(from: &str, to: &str, kind: DepKind) -> Option<String> {
    let mut violations = check_declared(&workspace(), &[dep(from, to, kind)]);
    assert!(violations.len() <= 1, "{violations:#?}");
    violations.pop()
}

#[test]
fn allowed_dependencies() {
    let allowed = [
        ("starling-xml", "memchr", Normal),
        ("starling-xml", "criterion", Dev),
        ("starling-stream", "starling-xml", Normal),
        ("starling-stream", "starling-jid", Normal),
        ("starling-stanza", "starling-xml", Build),
        ("starling-stanza", "starling-stream", Dev),
        ("starling-stanza", "starling-stanza", Dev),
        ("starling-net", "starling-auth", Normal),
        ("starling-client", "starling-net", Normal),
        ("starling-server", "starling-net", Normal),
        ("starling-server", "starling-auth", Normal),
        ("starling-client", "starling-client", Dev),
        ("starling-auth", "starling-testkit", Dev),
        ("starling-client", "starling-testkit", Dev),
        ("starling-server", "starling-testkit", Dev),
        ("starling-testkit", "starling-auth", Normal),
        ("starling-testkit", "starling-net", Normal),
        ("starling-testkit", "starling-xml", Build),
        ("starling-testkit", "starling-client", Dev),
        ("starling-testkit", "starling-server", Dev),
        ("xtask", "starling-server", Normal),
        ("xtask", "starling-testkit", Normal),
    ];
    for (from, to, kind) in allowed {
        assert_eq!(verdict(from, to, kind), None, "{from} -> {to} ({kind})");
    }
}

#[test]
fn forbidden_dependencies_name_the_rule() {
    let siblings = "starling-client and starling-server are siblings (layer 6): they must not \
                    depend on each other, in any kind of dependency";
    let forbidden = [
        ("starling-server", "starling-client", Normal, siblings),
        ("starling-server", "starling-client", Dev, siblings),
        ("starling-client", "starling-server", Build, siblings),
        ("starling-client", "starling-server", Dev, siblings),
        (
            "starling-jid",
            "starling-xml",
            Normal,
            "it must not depend on any Starling crate",
        ),
        (
            "starling-xml",
            "starling-jid",
            Dev,
            "starling-xml and starling-jid are siblings (layer 1)",
        ),
        (
            "starling-stream",
            "starling-stanza",
            Normal,
            "it may only depend on the layers below it (starling-xml, starling-jid)",
        ),
        (
            "starling-stanza",
            "starling-stanza",
            Build,
            "a crate cannot depend on itself",
        ),
        (
            "starling-stanza",
            "starling-auth",
            Dev,
            "its dev-dependencies may only use itself, the layers below it",
        ),
        (
            "starling-net",
            "starling-client",
            Normal,
            "(starling-xml, starling-jid, starling-stream, starling-stanza, starling-auth)",
        ),
        (
            "starling-testkit",
            "starling-client",
            Normal,
            "test support may depend normally only on the layers up to starling-net",
        ),
        (
            "starling-testkit",
            "starling-server",
            Build,
            "test support may depend normally only",
        ),
        (
            "starling-client",
            "starling-testkit",
            Normal,
            "test support may only be a dev-dependency",
        ),
    ];
    for (from, to, kind, rule) in forbidden {
        let violation = verdict(from, to, kind)
            .unwrap_or_else(|| panic!("{from} -> {to} ({kind}) was allowed"));
        assert!(violation.starts_with(&format!("`{from}` (")), "{violation}");
        assert!(
            violation.contains(&format!("has a {kind} on `{to}`")),
            "{violation}"
        );
        assert!(violation.contains(rule), "{violation}\nshould say: {rule}");
    }
}

#[test]
fn a_violation_reads_as_one_sentence() {
    assert_eq!(
        verdict("starling-server", "starling-client", Dev).unwrap(),
        "`starling-server` (layer 6) has a dev-dependency on `starling-client` (layer 6): \
         starling-client and starling-server are siblings (layer 6): they must not depend on \
         each other, in any kind of dependency"
    );
    assert_eq!(
        verdict("starling-testkit", "starling-client", Normal).unwrap(),
        "`starling-testkit` (test support) has a normal dependency on `starling-client` \
         (layer 6): test support may depend normally only on the layers up to starling-net \
         (starling-xml, starling-jid, starling-stream, starling-stanza, starling-auth, \
         starling-net), so that the crates above can use it as a dev-dependency"
    );
}

#[test]
fn the_rules_hold_without_the_optional_crates() {
    // A workspace without starling-net and starling-testkit.
    let packages: Vec<String> = [
        "starling-xml",
        "starling-jid",
        "starling-stream",
        "starling-stanza",
        "starling-auth",
        "starling-client",
        "starling-server",
    ]
    .map(str::to_owned)
    .to_vec();
    let deps = [
        dep("starling-client", "starling-auth", Normal),
        dep("starling-server", "starling-auth", Normal),
        dep("starling-server", "starling-client", Normal),
    ];
    let violations = check_declared(&packages, &deps);
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert!(violations[0].contains("are siblings"), "{violations:#?}");
}

#[test]
fn unknown_starling_crates_fail() {
    let packages = ["starling-xml", "starling-extras"].map(str::to_owned);
    let deps = [
        dep("starling-extras", "starling-xml", Normal),
        dep("starling-xml", "starling-macros", Dev),
    ];
    let violations = check_declared(&packages, &deps);
    assert_eq!(violations.len(), 2, "{violations:#?}");
    assert!(
        violations
            .iter()
            .any(|v| v.contains("`starling-extras` is not in the layer table"))
    );
    assert!(
        violations
            .iter()
            .any(|v| v.contains("`starling-macros`, which is not in the layer table"))
    );
}

#[test]
fn the_order_shows_siblings_and_test_support() {
    assert_eq!(
        describe_order(),
        "starling-xml, starling-jid < starling-stream < starling-stanza < starling-auth < \
         starling-net < {starling-client, starling-server}; test support (dev-dependency \
         only): starling-testkit"
    );
}

#[test]
fn metadata_is_read_for_members_only() {
    let json = r#"{
        "packages": [
            {"name": "starling-jid", "id": "path+file:///w/crates/starling-jid#0.1.0",
             "features": {"default": [], "serde": ["dep:serde"]},
             "dependencies": [
                {"name": "idna", "kind": null, "rename": null},
                {"name": "starling-xml", "kind": "dev", "rename": "xml"},
                {"name": "cc", "kind": "build"}
             ]},
            {"name": "outsider", "id": "registry+x#outsider@1.0.0",
             "features": {"cli": []},
             "dependencies": [{"name": "starling-server", "kind": null}]}
        ],
        "workspace_members": ["path+file:///w/crates/starling-jid#0.1.0"]
    }"#;
    let metadata = parse_metadata(json).unwrap();
    assert_eq!(metadata.names(), ["starling-jid"]);
    assert!(metadata.declares("starling-jid", "serde"));
    assert!(!metadata.declares("starling-jid", "cli"));
    assert!(!metadata.declares("outsider", "cli"));
    assert_eq!(
        metadata.deps,
        [
            dep("starling-jid", "cc", Build),
            dep("starling-jid", "idna", Normal),
            dep("starling-jid", "starling-xml", Dev),
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
        banned_in_tree(tree, IO_CRATES),
        ["hickory-resolver v0.25.0", "tokio v1.45.0"]
    );
    assert!(banned_in_tree("starling-xml v0.1.0 (/w)\nmemchr v2.8.0\n", IO_CRATES).is_empty());
    let server =
        "starling-server v0.1.0 (/w)\nstarling-client v0.1.0 (/w/c)\nstarling-clientele v1\n";
    assert_eq!(
        banned_in_tree(server, &["starling-client"]),
        ["starling-client v0.1.0"]
    );
}

/// The rule for `package`.
fn rule(package: &str) -> &'static TreeRule {
    TREE_RULES
        .iter()
        .find(|r| r.package == package)
        .unwrap_or_else(|| panic!("no tree rule for {package}"))
}

#[test]
fn the_tree_rules() {
    for r in TREE_RULES {
        assert!(place(r.package).is_some(), "{} is not in CRATES", r.package);
    }
    let table: [(&str, &[&str], _, _); 5] = [
        ("starling-xml", IO_CRATES, None, "normal"),
        ("starling-stanza", IO_CRATES, None, "normal"),
        (
            "starling-auth",
            &["rustls", "rcgen", "ring"],
            Some("tls"),
            "normal",
        ),
        (
            "starling-client",
            &["clap", "serde_json", "rcgen"],
            Some("cli"),
            "normal",
        ),
        (
            "starling-server",
            &["starling-client"],
            None,
            "normal,build,dev",
        ),
    ];
    for (package, banned, feature, edges) in table {
        let r = rule(package);
        assert_eq!((r.banned, r.once_feature), (banned, feature), "{package}");
        let at = r.args.iter().position(|&a| a == "--edges").unwrap();
        assert_eq!(r.args[at + 1], edges, "{package}");
    }
    assert!(
        rule("starling-auth")
            .args
            .contains(&"--no-default-features")
    );
    assert!(
        !rule("starling-client")
            .args
            .contains(&"--no-default-features")
    );
}

#[test]
fn feature_rules_wait_for_their_feature() {
    let mut metadata = Metadata::default();
    let auth = rule("starling-auth");
    assert_eq!(
        applies(auth, &metadata),
        Applies::Skip("`starling-auth` is not in the workspace".into())
    );
    metadata
        .packages
        .insert("starling-auth".into(), BTreeSet::from(["default".into()]));
    assert_eq!(
        applies(auth, &metadata),
        Applies::Skip(
            "`starling-auth` declares no `tls` feature yet; enforced once it does".into()
        )
    );
    metadata
        .packages
        .get_mut("starling-auth")
        .unwrap()
        .insert("tls".into());
    assert_eq!(applies(auth, &metadata), Applies::Yes);
    metadata
        .packages
        .insert("starling-server".into(), BTreeSet::new());
    assert_eq!(applies(rule("starling-server"), &metadata), Applies::Yes);
}

#[test]
fn a_tree_violation_names_crate_dependency_and_rule() {
    let message = tree_violation(rule("starling-auth"), "ring v0.17.14");
    assert_eq!(
        message,
        "`starling-auth` has `ring v0.17.14` in its normal dependencies with \
         --no-default-features; it must stay free of rustls, rcgen, ring: TLS is behind the \
         `tls` feature and certificate generation behind `cert-gen`"
    );
    let message = tree_violation(rule("starling-stream"), "hickory-proto v0.25.2");
    assert!(
        message.contains("free of tokio, rustls, hickory-*"),
        "{message}"
    );
}
