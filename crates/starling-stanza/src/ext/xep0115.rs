//! XEP-0115 Entity Capabilities (`http://jabber.org/protocol/caps`): the
//! `<c/>` element an entity puts in its presence (and a server in its
//! stream features, §6.3), and the verification string (§5.1) with the
//! validity checks of §5.4.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use sha2::Sha256;
use starling_xml::Element;

use super::{expect, required};
use crate::error::ParseError;
use crate::ext::xep0004::{DataForm, FORM_TYPE, FieldType};
use crate::ns;
use crate::payload::{DiscoInfo, Payload};

/// An entity's capabilities as advertised: `<c xmlns='http://jabber.org/protocol/caps'
/// hash='sha-1' node='…' ver='…'/>` (XEP-0115 §4).
///
/// The legacy `ext` attribute (§7) is tolerated and dropped; an element
/// without `hash` (pre-1.5 "legacy" caps) does not parse.
///
/// ```
/// use starling_stanza::{Caps, Payload};
/// use starling_xml::Element;
///
/// let el: Element = "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
///     node='https://example.org/client' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/>".parse().unwrap();
/// let caps = Caps::from_element(&el).unwrap();
/// assert_eq!(caps.disco_node(), "https://example.org/client#QgayPKawpkPSDYmwT/WM94uAlu0=");
/// assert_eq!(caps.to_element(), el);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Caps {
    /// The hash function's name in the IANA registry (`sha-1`, …).
    pub hash: String,
    /// A URI naming the software.
    pub node: String,
    /// The verification string.
    pub ver: String,
}

impl Caps {
    /// The node to query disco#info at: `NODE#VER` (§6.2).
    pub fn disco_node(&self) -> String {
        format!("{}#{}", self.node, self.ver)
    }

    /// The caps of `info` under `node`, hashed with `hash`.
    pub fn for_info(info: &DiscoInfo, node: &str, hash: CapsHash) -> Result<Caps, CapsError> {
        Ok(Caps {
            hash: hash.name().to_owned(),
            node: node.to_owned(),
            ver: ver(info, hash)?,
        })
    }
}

impl Payload for Caps {
    const NAME: &'static str = "c";
    const NS: &'static str = ns::CAPS;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        Ok(Caps {
            hash: required(el, "hash")?.to_owned(),
            node: required(el, "node")?.to_owned(),
            ver: required(el, "ver")?.to_owned(),
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        el.set_attr("hash", Some(self.hash.as_str()));
        el.set_attr("node", Some(self.node.as_str()));
        el.set_attr("ver", Some(self.ver.as_str()));
        el
    }
}

/// A hash function for verification strings (§5.1 step 7; the names are
/// those of the IANA Hash Function Textual Names registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapsHash {
    /// `sha-1`, which every implementation supports (§5.1).
    Sha1,
    /// `sha-256`.
    Sha256,
}

impl CapsHash {
    /// Its registry name.
    pub fn name(self) -> &'static str {
        match self {
            CapsHash::Sha1 => "sha-1",
            CapsHash::Sha256 => "sha-256",
        }
    }

    /// The function named `name` (case-insensitive, as the registry's
    /// names are), if supported.
    pub fn from_name(name: &str) -> Option<CapsHash> {
        if name.eq_ignore_ascii_case("sha-1") {
            Some(CapsHash::Sha1)
        } else if name.eq_ignore_ascii_case("sha-256") {
            Some(CapsHash::Sha256)
        } else {
            None
        }
    }

    /// The Base64 of the hash of `s`.
    pub fn hash(self, s: &[u8]) -> String {
        match self {
            CapsHash::Sha1 => STANDARD.encode(Sha1::digest(s)),
            CapsHash::Sha256 => STANDARD.encode(Sha256::digest(s)),
        }
    }
}

/// Why a disco#info result gives no verification string (§5.4 step 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapsError {
    /// Two identities with the same category, type, xml:lang and name.
    #[error("duplicate identity {0}")]
    DuplicateIdentity(String),
    /// Two features with the same var.
    #[error("duplicate feature {0}")]
    DuplicateFeature(String),
    /// Two extended forms with the same FORM_TYPE.
    #[error("two forms with FORM_TYPE {0}")]
    DuplicateFormType(String),
    /// A FORM_TYPE field with more than one value.
    #[error("FORM_TYPE field with {0} values")]
    FormTypeValues(usize),
    /// A `jabber:x:data` extension that is not a valid data form.
    #[error("invalid extended form: {0}")]
    BadForm(String),
    /// The hash function is not one this library computes.
    #[error("unsupported hash function {0:?}")]
    UnsupportedHash(String),
}

/// The verification string `S` of `info`, before hashing (§5.1 steps
/// 1–6), after the checks of §5.4: duplicate identities, features or
/// FORM_TYPEs and FORM_TYPE fields with several values are errors; a form
/// without FORM_TYPE, or whose FORM_TYPE field is not hidden, is left out.
pub fn verification_string(info: &DiscoInfo) -> Result<String, CapsError> {
    let mut s = String::new();
    let mut ids: Vec<[&str; 4]> = info
        .identities
        .iter()
        .map(|i| {
            [
                i.category.as_str(),
                i.identity_type.as_str(),
                i.lang.as_deref().unwrap_or(""),
                i.name.as_deref().unwrap_or(""),
            ]
        })
        .collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(CapsError::DuplicateIdentity(w[0].join("/")));
    }
    for id in &ids {
        s.push_str(&id.join("/"));
        s.push('<');
    }
    let mut features: Vec<&str> = info.features.iter().map(String::as_str).collect();
    features.sort_unstable();
    if let Some(w) = features.windows(2).find(|w| w[0] == w[1]) {
        return Err(CapsError::DuplicateFeature(w[0].to_owned()));
    }
    for f in features {
        s.push_str(f);
        s.push('<');
    }
    let mut forms = extended_forms(info)?;
    forms.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = forms.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(CapsError::DuplicateFormType(w[0].0.clone()));
    }
    for (form_type, form) in &forms {
        s.push_str(form_type);
        s.push('<');
        let mut fields: Vec<(&str, Vec<&str>)> = form
            .fields
            .iter()
            .filter_map(|f| {
                let var = f.var.as_deref()?;
                (var != FORM_TYPE).then(|| (var, f.values.iter().map(String::as_str).collect()))
            })
            .collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        for (var, mut values) in fields {
            s.push_str(var);
            s.push('<');
            values.sort_unstable();
            for v in values {
                s.push_str(v);
                s.push('<');
            }
        }
    }
    Ok(s)
}

/// The extended forms of `info` that take part in the string, with their
/// FORM_TYPE.
fn extended_forms(info: &DiscoInfo) -> Result<Vec<(String, DataForm)>, CapsError> {
    let mut forms = Vec::new();
    for x in info.extensions.iter().filter(|x| x.is("x", ns::DATA_FORMS)) {
        let form = DataForm::from_element(x).map_err(|e| CapsError::BadForm(e.reason))?;
        let Some(ft) = form.field(FORM_TYPE) else {
            continue;
        };
        if ft.field_type != Some(FieldType::Hidden) {
            continue;
        }
        let form_type = match ft.values.as_slice() {
            [v] => v.clone(),
            [] => continue,
            vs => return Err(CapsError::FormTypeValues(vs.len())),
        };
        forms.push((form_type, form));
    }
    Ok(forms)
}

/// The verification string of `info` hashed with `hash` and encoded in
/// Base64 (§5.1 step 7): the `ver` attribute.
///
/// ```
/// use starling_stanza::{CapsHash, DiscoInfo, Identity, caps_ver};
///
/// // XEP-0115 §5.2.
/// let info = DiscoInfo {
///     identities: vec![Identity {
///         category: "client".into(), identity_type: "pc".into(),
///         name: Some("Exodus 0.9.1".into()), lang: None,
///     }],
///     features: ["http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
///         "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/muc"]
///         .map(String::from).to_vec(),
///     ..DiscoInfo::default()
/// };
/// assert_eq!(caps_ver(&info, CapsHash::Sha1).unwrap(), "QgayPKawpkPSDYmwT/WM94uAlu0=");
/// ```
pub fn ver(info: &DiscoInfo, hash: CapsHash) -> Result<String, CapsError> {
    Ok(hash.hash(verification_string(info)?.as_bytes()))
}

/// Whether `info` hashes to `caps.ver` with `caps.hash` (§5.4 steps
/// 3–5): the check before caching what a `ver` stands for.
pub fn verify(caps: &Caps, info: &DiscoInfo) -> Result<bool, CapsError> {
    let hash = CapsHash::from_name(&caps.hash)
        .ok_or_else(|| CapsError::UnsupportedHash(caps.hash.clone()))?;
    Ok(ver(info, hash)? == caps.ver)
}

#[cfg(test)]
#[path = "xep0115_tests.rs"]
mod tests;
