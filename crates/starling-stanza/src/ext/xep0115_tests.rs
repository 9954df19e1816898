//! The test vectors of XEP-0115 §5.2 and §5.3 and the rejections of §5.4.

use super::*;
use crate::Condition;
use crate::payload::Identity;

fn id(category: &str, t: &str, lang: Option<&str>, name: Option<&str>) -> Identity {
    Identity {
        category: category.into(),
        identity_type: t.into(),
        name: name.map(Into::into),
        lang: lang.map(Into::into),
    }
}

fn features(f: &[&str]) -> Vec<String> {
    f.iter().map(|s| (*s).to_owned()).collect()
}

const BASE_FEATURES: [&str; 4] = [
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/disco#items",
    "http://jabber.org/protocol/muc",
];

fn el(s: &str) -> Element {
    s.parse().unwrap_or_else(|e| panic!("{e}: {s}"))
}

/// §5.2, "Simple Generation Example".
fn simple() -> DiscoInfo {
    DiscoInfo {
        identities: vec![id("client", "pc", None, Some("Exodus 0.9.1"))],
        features: features(&BASE_FEATURES),
        ..DiscoInfo::default()
    }
}

const SOFTWARE_FORM: &str = "<x xmlns='jabber:x:data' type='result'>\
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
    <field var='ip_version' type='text-multi'><value>ipv4</value><value>ipv6</value></field>\
    <field var='os'><value>Mac</value></field>\
    <field var='os_version'><value>10.5.1</value></field>\
    <field var='software'><value>Psi</value></field>\
    <field var='software_version'><value>0.11</value></field></x>";

/// §5.3, "Complex Generation Example" (identities and features in another
/// order than the sorted one, on purpose).
fn complex() -> DiscoInfo {
    let mut f = features(&BASE_FEATURES);
    f.reverse();
    DiscoInfo {
        node: Some("http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w=".into()),
        identities: vec![
            id("client", "pc", Some("el"), Some("Ψ 0.11")),
            id("client", "pc", Some("en"), Some("Psi 0.11")),
        ],
        features: f,
        extensions: vec![el(SOFTWARE_FORM)],
    }
}

#[test]
fn simple_example() {
    let s = verification_string(&simple()).unwrap();
    assert_eq!(
        s,
        "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<\
         http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<\
         http://jabber.org/protocol/muc<"
    );
    assert_eq!(
        ver(&simple(), CapsHash::Sha1).unwrap(),
        "QgayPKawpkPSDYmwT/WM94uAlu0="
    );
}

#[test]
fn complex_example() {
    let s = verification_string(&complex()).unwrap();
    assert_eq!(
        s,
        "client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<\
         http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<\
         http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<\
         ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<software_version<0.11<"
    );
    assert_eq!(
        ver(&complex(), CapsHash::Sha1).unwrap(),
        "q07IKJEyjvHSyhy//CH0CxmKi8w="
    );
    let caps = Caps {
        hash: "sha-1".into(),
        node: "http://psi-im.org".into(),
        ver: "q07IKJEyjvHSyhy//CH0CxmKi8w=".into(),
    };
    assert_eq!(verify(&caps, &complex()), Ok(true));
    let wrong = Caps {
        ver: "QgayPKawpkPSDYmwT/WM94uAlu0=".into(),
        ..caps.clone()
    };
    assert_eq!(verify(&wrong, &complex()), Ok(false));
    let sha256 = Caps {
        hash: "SHA-256".into(),
        ver: ver(&complex(), CapsHash::Sha256).unwrap(),
        ..caps.clone()
    };
    assert_eq!(verify(&sha256, &complex()), Ok(true));
    let md5 = Caps {
        hash: "md5".into(),
        ..caps
    };
    assert_eq!(
        verify(&md5, &complex()),
        Err(CapsError::UnsupportedHash("md5".into()))
    );
}

fn form(fields: &str) -> Element {
    el(&format!(
        "<x xmlns='jabber:x:data' type='result'>{fields}</x>"
    ))
}

const FT_A: &str = "<field var='FORM_TYPE' type='hidden'><value>urn:a</value></field>";

/// §5.4 step 3: what makes the whole result unusable, and what only
/// leaves a form out.
#[test]
fn processing_rules() {
    type Change = fn(&mut DiscoInfo);
    let table: &[(&str, Change, Result<(), CapsError>)] = &[
        ("unchanged", |_| {}, Ok(())),
        (
            "duplicate identity",
            |i| i.identities.push(i.identities[0].clone()),
            Err(CapsError::DuplicateIdentity(
                "client/pc//Exodus 0.9.1".into(),
            )),
        ),
        (
            "same identity, other lang",
            |i| {
                let mut other = i.identities[0].clone();
                other.lang = Some("en".into());
                i.identities.push(other);
            },
            Ok(()),
        ),
        (
            "duplicate feature",
            |i| i.features.push(BASE_FEATURES[1].into()),
            Err(CapsError::DuplicateFeature(BASE_FEATURES[1].into())),
        ),
        (
            "two forms with one FORM_TYPE",
            |i| i.extensions = vec![form(FT_A), form(FT_A)],
            Err(CapsError::DuplicateFormType("urn:a".into())),
        ),
        (
            "FORM_TYPE with two values",
            |i| {
                i.extensions = vec![form(
                    "<field var='FORM_TYPE' type='hidden'><value>urn:a</value><value>urn:b</value></field>",
                )]
            },
            Err(CapsError::FormTypeValues(2)),
        ),
        (
            "invalid form",
            |i| i.extensions = vec![el("<x xmlns='jabber:x:data'/>")],
            Err(CapsError::BadForm("a data form must have a 'type'".into())),
        ),
    ];
    let base = verification_string(&simple()).unwrap();
    for (what, change, want) in table {
        let mut info = simple();
        change(&mut info);
        let got = verification_string(&info).map(|_| ());
        assert_eq!(&got, want, "{what}");
    }
    // Forms left out: the string is that of the result without them.
    let ignored: &[(&str, &str)] = &[
        ("no FORM_TYPE", "<field var='os'><value>Mac</value></field>"),
        (
            "FORM_TYPE not hidden",
            "<field var='FORM_TYPE'><value>urn:a</value></field>",
        ),
        (
            "FORM_TYPE without value",
            "<field var='FORM_TYPE' type='hidden'/>",
        ),
    ];
    for (what, fields) in ignored {
        let mut info = simple();
        info.extensions = vec![form(fields), el("<other xmlns='urn:x'/>")];
        assert_eq!(verification_string(&info).unwrap(), base, "{what}");
    }
}

#[test]
fn caps_element() {
    let parse = |s: &str| Caps::from_element(&el(s));
    let c = parse(
        "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v' ext='legacy'/>",
    )
    .unwrap();
    assert_eq!(
        c,
        Caps {
            hash: "sha-1".into(),
            node: "n".into(),
            ver: "v".into()
        }
    );
    assert_eq!(c.disco_node(), "n#v");
    assert_eq!(c.to_element().attr("ext"), None);
    for bad in [
        "<c xmlns='http://jabber.org/protocol/caps' node='n' ver='v'/>",
        "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' ver='v'/>",
        "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n'/>",
        "<c xmlns='urn:other' hash='sha-1' node='n' ver='v'/>",
    ] {
        assert_eq!(
            parse(bad).unwrap_err().condition,
            Condition::BadRequest,
            "{bad}"
        );
    }
    let made = Caps::for_info(&simple(), "https://x", CapsHash::Sha1).unwrap();
    assert_eq!(made.ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
    assert_eq!(CapsHash::from_name("SHA-1"), Some(CapsHash::Sha1));
    assert_eq!(CapsHash::from_name("md5"), None);
}
