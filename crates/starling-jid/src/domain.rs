//! Preparation and enforcement of the domainpart (RFC 7622 §3.2).
//!
//! The `idna` crate implements UTS #46, not IDNA2008. It is used here for
//! what the two share (A-label decoding, the hyphen, joiner and Bidi
//! checks, NFC validation of decoded labels) and wrapped so that the result
//! follows IDNA2008:
//!
//! 1. Before UTS #46 sees the input, this module applies the mappings that
//!    RFC 7622 §3.2.2 asks for in the style of RFC 5895: width mapping,
//!    Unicode toLowerCase(), NFC, and U+3002 IDEOGRAPHIC FULL STOP as a
//!    label separator.
//! 2. Every code point of every non-A-label is then checked against the
//!    IDNA2008 derived property (RFC 5892) and its contextual rules, so what
//!    UTS #46 would silently map or drop but IDNA2008 disallows (`ﬁ`, `①`,
//!    `ℌ`, U+00AD SOFT HYPHEN, …) is rejected instead.
//! 3. UTS #46 runs with nontransitional processing, `UseSTD3ASCIIRules`,
//!    `CheckHyphens`, `CheckBidi` and `CheckJoiners`.
//! 4. Labels decoded from A-labels are checked against the IDNA2008
//!    property too and must already be in mapped form; every label must fit
//!    in 63 bytes as an A-label; and UTS #46 must have left every other
//!    label unchanged.

use std::borrow::Cow;
use std::net::Ipv6Addr;

use idna::uts46::{AsciiDenyList, ErrorPolicy, Hyphens, ProcessingSuccess, Uts46};

use crate::error::{JidError, Part};
use crate::prep::{BAD, MAX_PART, MAX_RAW, NON_ASCII, OK, Prep, UPPER, class_error};
use crate::unicode::{self, Class, NFC, Width};

/// Maximum length of a label in A-label form (RFC 5890 §2.3.2.1, via
/// RFC 1034).
const MAX_LABEL: usize = 63;

/// Domain byte classes: LDH (RFC 5890 §2.3.1), with `.` handled by the
/// caller.
static DOMAIN: [u8; 256] = {
    let mut t = [BAD; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = if b >= 0x80 {
            NON_ASCII
        } else if b >= b'A' as usize && b <= b'Z' as usize {
            UPPER
        } else if (b >= b'a' as usize && b <= b'z' as usize)
            || (b >= b'0' as usize && b <= b'9' as usize)
            || b == b'-' as usize
        {
            OK
        } else {
            BAD
        };
        b += 1;
    }
    t
};

/// Prepares and enforces a domainpart (RFC 7622 §3.2).
pub(crate) fn domainpart(s: &str) -> Result<Prep<'_>, JidError> {
    // RFC 7622 §3.2: a final label separator is stripped before any other
    // canonicalization step.
    let (s, stripped) = match s.strip_suffix('.') {
        Some(rest) => (rest, true),
        None => (s, false),
    };
    if s.is_empty() {
        return Err(JidError::EmptyDomain);
    }
    if s.as_bytes()[0] == b'[' {
        return ip_literal(s);
    }
    match ascii_domain(s)? {
        Some(p) => Ok(p),
        None => unicode_domain(s, stripped),
    }
}

/// The ASCII fast path. `Ok(None)` means the slow path is needed (non-ASCII
/// or an A-label).
fn ascii_domain(s: &str) -> Result<Option<Prep<'_>>, JidError> {
    let bytes = s.as_bytes();
    let mut flags = OK;
    let mut label_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'.' {
            if ascii_label(&bytes[label_start..i])? {
                return Ok(None);
            }
            label_start = i + 1;
            continue;
        }
        let class = DOMAIN[usize::from(b)];
        if class == NON_ASCII {
            return Ok(None);
        }
        if class == BAD {
            return Err(JidError::ForbiddenChar {
                part: Part::Domainpart,
                ch: char::from(b),
            });
        }
        flags |= class;
    }
    if ascii_label(&bytes[label_start..])? {
        return Ok(None);
    }
    if s.len() > MAX_PART {
        return Err(JidError::DomainTooLong { len: s.len() });
    }
    Ok(Some(if flags & UPPER == 0 {
        Prep::Verbatim(s)
    } else {
        Prep::Lower(s)
    }))
}

/// Checks an LDH label (any ASCII case). Returns `true` if it is an A-label
/// candidate (`xn--`), which needs decoding.
fn ascii_label(label: &[u8]) -> Result<bool, JidError> {
    if label.is_empty() {
        return Err(JidError::EmptyLabel);
    }
    if label.len() > MAX_LABEL {
        return Err(JidError::LabelTooLong { len: label.len() });
    }
    if label[0] == b'-' || label[label.len() - 1] == b'-' {
        return Err(JidError::Hyphen);
    }
    if label.len() >= 4 && label[2] == b'-' && label[3] == b'-' {
        if label[..2].eq_ignore_ascii_case(b"xn") {
            return Ok(true);
        }
        // An R-LDH label that is not an A-label: reserved (RFC 5890
        // §2.3.1).
        return Err(JidError::Hyphen);
    }
    Ok(false)
}

/// `[IPv6]` literal (RFC 7622 §3.2, RFC 3986 `IP-literal`). The stored form
/// is the RFC 5952 canonical text form. IPvFuture literals are not
/// supported.
fn ip_literal(s: &str) -> Result<Prep<'_>, JidError> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or(JidError::InvalidIpLiteral)?;
    let addr: Ipv6Addr = inner.parse().map_err(|_| JidError::InvalidIpLiteral)?;
    let canonical = format!("[{addr}]");
    Ok(if canonical == s {
        Prep::Verbatim(s)
    } else {
        Prep::Owned(canonical)
    })
}

/// The RFC 5895-style mapping that RFC 7622 §3.2.2 requires: width
/// mapping, toLowerCase(), NFC; U+3002 IDEOGRAPHIC FULL STOP becomes `.`
/// (U+FF0E and U+FF61 reach `.` or U+3002 through the width mapping).
/// Borrowed when nothing changes.
fn map_domain(s: &str) -> Result<Cow<'_, str>, JidError> {
    let changes = |c: char| {
        if c.is_ascii() {
            c.is_ascii_uppercase()
        } else {
            !is_mapping_fixed_point(c)
        }
    };
    let mapped = match s.find(changes) {
        None => Cow::Borrowed(s),
        Some(first) => {
            let mut m = String::with_capacity(s.len() + 8);
            m.push_str(&s[..first]);
            for c in s[first..].chars() {
                let c = match unicode::width_map(c) {
                    Width::Unchanged => c,
                    Width::Mapped(x) => x,
                    Width::Rejected => {
                        return Err(JidError::ForbiddenChar {
                            part: Part::Domainpart,
                            ch: c,
                        });
                    }
                };
                if c == '\u{3002}' {
                    m.push('.');
                } else {
                    m.extend(c.to_lowercase());
                }
            }
            Cow::Owned(m)
        }
    };
    Ok(match NFC.normalize(&mapped) {
        Cow::Borrowed(_) => mapped,
        Cow::Owned(o) => Cow::Owned(o),
    })
}

/// The length of `label` (a U-label) in A-label form, or an upper bound of
/// it when that bound is within the limit (so the exact length is computed
/// only when it might exceed the limit). Punycode spends at most 9 characters on
/// one non-ASCII code point of a label that fits in 63 bytes (each digit of
/// a delta carries a factor of at least 10 and a delta is below
/// 0x110000 × 64), and one on each ASCII character, plus `xn--` and a
/// delimiter.
fn a_label_len(label: &str) -> usize {
    let (ascii, other) =
        label.chars().fold(
            (0, 0),
            |(a, o), c| if c.is_ascii() { (a + 1, o) } else { (a, o + 1) },
        );
    let bound = 4 + ascii + 1 + 9 * other;
    if bound <= MAX_LABEL {
        return bound.min(label.len());
    }
    idna::punycode::encode_str(label).map_or(usize::MAX, |p| p.len() + 4)
}

fn is_a_label(label: &str) -> bool {
    label.len() >= 4 && label.as_bytes()[..4].eq_ignore_ascii_case(b"xn--")
}

/// Hyphen restrictions of RFC 5891 §4.2.3.1 on a U-label.
fn check_hyphens(label: &str) -> Result<(), JidError> {
    if label.starts_with('-') || label.ends_with('-') {
        return Err(JidError::Hyphen);
    }
    let mut it = label.chars().skip(2);
    if it.next() == Some('-') && it.next() == Some('-') {
        return Err(JidError::Hyphen);
    }
    Ok(())
}

fn unicode_domain(s: &str, stripped: bool) -> Result<Prep<'_>, JidError> {
    if s.len() > MAX_RAW {
        return Err(JidError::DomainTooLong { len: s.len() });
    }
    let mut mapped = map_domain(s)?;
    // A final U+3002 (or its width variants) is a final label separator
    // too; strip it unless an ASCII one was already stripped.
    if !stripped && mapped.ends_with('.') {
        mapped.to_mut().pop();
    }
    if mapped.is_empty() {
        return Err(JidError::EmptyDomain);
    }

    // IDNA2008 checks on the labels as given (A-labels are checked once
    // decoded).
    for label in mapped.split('.') {
        if label.is_empty() {
            return Err(JidError::EmptyLabel);
        }
        if is_a_label(label) {
            continue;
        }
        if label.is_ascii() {
            ascii_label(label.as_bytes())?;
            if let Some(b) = label.bytes().find(|&b| DOMAIN[usize::from(b)] != OK) {
                return Err(JidError::ForbiddenChar {
                    part: Part::Domainpart,
                    ch: char::from(b),
                });
            }
        } else {
            unicode::check_class(label, Class::Idna2008)
                .map_err(|e| class_error(Part::Domainpart, e))?;
            check_hyphens(label)?;
        }
    }

    let mut sink = String::new();
    let result = Uts46::new().process(
        mapped.as_bytes(),
        AsciiDenyList::STD3,
        Hyphens::Check,
        ErrorPolicy::FailFast,
        |_, _, _| true,
        &mut sink,
        None,
    );
    let out: Cow<'_, str> = match result {
        Ok(ProcessingSuccess::Passthrough) => Cow::Borrowed(&mapped),
        Ok(ProcessingSuccess::WroteToSink) => Cow::Owned(sink),
        Err(_) => return Err(diagnose(&mapped)),
    };

    let bidi_domain = unicode::has_rtl(&out);
    let mut in_labels = mapped.split('.');
    for out_label in out.split('.') {
        let in_label = in_labels.next().ok_or(JidError::Idna)?;
        let a_label_len = if is_a_label(in_label) {
            if out_label.is_ascii() {
                return Err(JidError::InvalidALabel);
            }
            unicode::check_class(out_label, Class::Idna2008)
                .map_err(|e| class_error(Part::Domainpart, e))?;
            check_hyphens(out_label)?;
            // The decoded label must be in mapped form already, or a second
            // preparation of the stored form would change it.
            if let Some(ch) = out_label.chars().find(|&c| !is_mapping_fixed_point(c)) {
                return Err(JidError::ForbiddenChar {
                    part: Part::Domainpart,
                    ch,
                });
            }
            in_label.len()
        } else {
            if in_label != out_label {
                // UTS #46 mapped or removed something that IDNA2008 would
                // not; the checks above should have caught it already.
                let ch = in_label
                    .chars()
                    .zip(out_label.chars())
                    .find(|(a, b)| a != b)
                    .map_or('\u{FFFD}', |(a, _)| a);
                return Err(JidError::ForbiddenChar {
                    part: Part::Domainpart,
                    ch,
                });
            }
            if out_label.is_ascii() {
                out_label.len()
            } else {
                a_label_len(out_label)
            }
        };
        if a_label_len > MAX_LABEL {
            return Err(JidError::LabelTooLong { len: a_label_len });
        }
        if bidi_domain && !unicode::bidi_rule(out_label) {
            return Err(JidError::BidiRule {
                part: Part::Domainpart,
            });
        }
    }
    if in_labels.next().is_some() {
        return Err(JidError::Idna);
    }
    if out.len() > MAX_PART {
        return Err(JidError::DomainTooLong { len: out.len() });
    }
    Ok(if out == s {
        Prep::Verbatim(s)
    } else {
        Prep::Owned(out.into_owned())
    })
}

/// Whether the domain mapping leaves `c` unchanged.
fn is_mapping_fixed_point(c: char) -> bool {
    !(unicode::is_width_char(c) || c == '\u{3002}' || unicode::changes_when_lowercased(c))
}

/// Finds a specific reason for a UTS #46 failure.
fn diagnose(mapped: &str) -> JidError {
    for label in mapped.split('.') {
        if is_a_label(label) {
            match idna::punycode::decode_to_string(&label[4..]) {
                Some(u) if !u.is_ascii() => {
                    if let Err(e) = unicode::check_class(&u, Class::Idna2008) {
                        return class_error(Part::Domainpart, e);
                    }
                    if let Err(e) = check_hyphens(&u) {
                        return e;
                    }
                    if !NFC.is_normalized(&u) {
                        return JidError::InvalidALabel;
                    }
                }
                _ => return JidError::InvalidALabel,
            }
        }
    }
    let labels = || {
        mapped.split('.').map(|l| {
            if is_a_label(l) {
                idna::punycode::decode_to_string(&l[4..]).map_or(Cow::Borrowed(l), Cow::Owned)
            } else {
                Cow::Borrowed(l)
            }
        })
    };
    if labels().any(|l| unicode::has_rtl(&l)) && labels().any(|l| !unicode::bidi_rule(&l)) {
        return JidError::BidiRule {
            part: Part::Domainpart,
        };
    }
    JidError::Idna
}
