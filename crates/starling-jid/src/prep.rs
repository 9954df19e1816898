//! Preparation and enforcement of the localpart (RFC 7622 §3.3, PRECIS
//! UsernameCaseMapped) and the resourcepart (RFC 7622 §3.4, PRECIS
//! OpaqueString), each with an ASCII fast path that uses no Unicode tables
//! and does not allocate.

use std::borrow::Cow;

use crate::error::{JidError, Part};
use crate::unicode::{self, Class, ClassError, NFC, Width};

/// Maximum length of a prepared part in bytes (RFC 7622 §3.2–§3.4).
pub(crate) const MAX_PART: usize = 1023;

/// Inputs longer than this are rejected before any Unicode processing,
/// so that hostile input cannot make preparation do unbounded work. No
/// mapping or normalisation step shrinks a string that can be accepted by
/// anywhere near a factor of four, so nothing valid is lost.
pub(crate) const MAX_RAW: usize = 4 * MAX_PART;

/// A prepared part, in the form cheapest to copy into the final buffer.
#[derive(Debug)]
pub(crate) enum Prep<'a> {
    /// The input slice is already in prepared form.
    Verbatim(&'a str),
    /// The input slice is ASCII; its prepared form is its ASCII lowercase.
    Lower(&'a str),
    /// The prepared form, built by the Unicode path.
    Owned(String),
}

impl Prep<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Prep::Verbatim(s) | Prep::Lower(s) => s.len(),
            Prep::Owned(s) => s.len(),
        }
    }

    pub(crate) fn is_verbatim(&self) -> bool {
        matches!(self, Prep::Verbatim(_))
    }
}

// Byte classes for the ASCII fast paths. A part's bytes are OR-ed together,
// so one pass decides between "done", "lowercase it" and "take the slow
// path".
pub(crate) const OK: u8 = 0;
pub(crate) const UPPER: u8 = 1;
pub(crate) const BAD: u8 = 2;
pub(crate) const NON_ASCII: u8 = 4;

/// Localpart byte classes: ASCII7 (U+0021–U+007E, PVALID in the
/// IdentifierClass) except the eight characters RFC 7622 §3.3.1 forbids.
static LOCAL: [u8; 256] = {
    let mut t = [BAD; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = if b >= 0x80 {
            NON_ASCII
        } else if b >= b'A' as usize && b <= b'Z' as usize {
            UPPER
        } else if b >= 0x21
            && b <= 0x7E
            && b != b'"' as usize
            && b != b'&' as usize
            && b != b'\'' as usize
            && b != b'/' as usize
            && b != b':' as usize
            && b != b'<' as usize
            && b != b'>' as usize
            && b != b'@' as usize
        {
            OK
        } else {
            BAD
        };
        b += 1;
    }
    t
};

/// Resourcepart byte classes: U+0020–U+007E (PVALID or FREE_PVAL in the
/// FreeformClass); the OpaqueString profile changes no ASCII character.
static RESOURCE: [u8; 256] = {
    let mut t = [BAD; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = if b >= 0x80 {
            NON_ASCII
        } else if b >= 0x20 && b <= 0x7E {
            OK
        } else {
            BAD
        };
        b += 1;
    }
    t
};

fn classify(s: &str, table: &[u8; 256]) -> u8 {
    s.bytes().fold(OK, |acc, b| acc | table[usize::from(b)])
}

fn first_bad(s: &str, table: &[u8; 256]) -> char {
    s.bytes()
        .find(|&b| table[usize::from(b)] == BAD)
        .map_or('\u{FFFD}', char::from)
}

pub(crate) fn class_error(part: Part, e: ClassError) -> JidError {
    match e {
        ClassError::Disallowed(ch) => JidError::ForbiddenChar { part, ch },
        ClassError::Unassigned(ch) => JidError::UnassignedChar { part, ch },
        ClassError::Context(ch) => JidError::ContextRule { part, ch },
    }
}

/// Prepares and enforces a localpart (RFC 7622 §3.3).
pub(crate) fn localpart(s: &str) -> Result<Prep<'_>, JidError> {
    if s.is_empty() {
        return Err(JidError::EmptyLocalpart);
    }
    let flags = classify(s, &LOCAL);
    if flags & (BAD | NON_ASCII) == 0 {
        if s.len() > MAX_PART {
            return Err(JidError::LocalpartTooLong { len: s.len() });
        }
        return Ok(if flags & UPPER == 0 {
            Prep::Verbatim(s)
        } else {
            Prep::Lower(s)
        });
    }
    if flags & NON_ASCII == 0 {
        return Err(JidError::ForbiddenChar {
            part: Part::Localpart,
            ch: first_bad(s, &LOCAL),
        });
    }
    if s.len() > MAX_RAW {
        return Err(JidError::LocalpartTooLong { len: s.len() });
    }
    let out = stabilise(
        s,
        Part::Localpart,
        enforce_username_case_mapped,
        username_output_is_fixed_point,
    )?;
    if out.len() > MAX_PART {
        return Err(JidError::LocalpartTooLong { len: out.len() });
    }
    Ok(out)
}

/// Prepares and enforces a resourcepart (RFC 7622 §3.4).
pub(crate) fn resourcepart(s: &str) -> Result<Prep<'_>, JidError> {
    if s.is_empty() {
        return Err(JidError::EmptyResource);
    }
    let flags = classify(s, &RESOURCE);
    if flags & (BAD | NON_ASCII) == 0 {
        if s.len() > MAX_PART {
            return Err(JidError::ResourceTooLong { len: s.len() });
        }
        return Ok(Prep::Verbatim(s));
    }
    if flags & NON_ASCII == 0 {
        return Err(JidError::ForbiddenChar {
            part: Part::Resourcepart,
            ch: first_bad(s, &RESOURCE),
        });
    }
    if s.len() > MAX_RAW {
        return Err(JidError::ResourceTooLong { len: s.len() });
    }
    let out = stabilise(
        s,
        Part::Resourcepart,
        enforce_opaque_string,
        opaque_output_is_fixed_point,
    )?;
    if out.len() > MAX_PART {
        return Err(JidError::ResourceTooLong { len: out.len() });
    }
    Ok(out)
}

/// Applies `enforce` until the result is stable, as RFC 8265 §6 recommends:
/// the rules are re-applied up to three additional times and the input is
/// rejected if the output still changes (or is no longer acceptable).
///
/// `enforce` returns a borrowed string exactly when every mapping step left
/// its input unchanged, that is when its input is a fixed point; then no
/// further round is needed.
///
/// `is_fixed_point` decides cheaply, and exactly, whether `enforce` would
/// leave its argument unchanged when that argument is an output of
/// `enforce`; only if it says no are the rules applied again in full.
fn stabilise<'a>(
    s: &'a str,
    part: Part,
    enforce: fn(&str) -> Result<Cow<'_, str>, JidError>,
    is_fixed_point: fn(&str) -> bool,
) -> Result<Prep<'a>, JidError> {
    let mut current = match enforce(s)? {
        Cow::Borrowed(_) => return Ok(Prep::Verbatim(s)),
        Cow::Owned(o) => o,
    };
    if is_fixed_point(&current) {
        return Ok(Prep::Owned(current));
    }
    for _ in 0..3 {
        match enforce(&current) {
            Ok(Cow::Borrowed(_)) => return Ok(Prep::Owned(current)),
            Ok(Cow::Owned(next)) => current = next,
            Err(_) => break,
        }
    }
    Err(JidError::Unstable { part })
}

/// Replaces `s` by `f(s)` only if some code point needs it.
fn map_chars<'a>(
    s: Cow<'a, str>,
    changes: impl Fn(char) -> bool,
    map: impl Fn(char, &mut String) -> Result<(), JidError>,
) -> Result<Cow<'a, str>, JidError> {
    let Some(first) = s.find(&changes) else {
        return Ok(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        map(c, &mut out)?;
    }
    Ok(Cow::Owned(out))
}

fn nfc(s: Cow<'_, str>) -> Cow<'_, str> {
    match NFC.normalize(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(o) => Cow::Owned(o),
    }
}

/// The UsernameCaseMapped profile (RFC 8265 §3.3) plus the localpart rules
/// of RFC 7622 §3.3.1, in the order RFC 7622 §3.3.2 gives: width mapping,
/// IdentifierClass check, case mapping, NFC, Bidi Rule; then the extra
/// forbidden characters.
pub(crate) fn enforce_username_case_mapped(s: &str) -> Result<Cow<'_, str>, JidError> {
    let part = Part::Localpart;
    // Preparation: Width Mapping Rule, then the IdentifierClass.
    let mapped = map_chars(Cow::Borrowed(s), unicode::is_width_char, |c, out| {
        match unicode::width_map(c) {
            Width::Unchanged => out.push(c),
            Width::Mapped(m) => out.push(m),
            Width::Rejected => return Err(JidError::ForbiddenChar { part, ch: c }),
        }
        Ok(())
    })?;
    unicode::check_class(&mapped, Class::Identifier).map_err(|e| class_error(part, e))?;
    // Case Mapping Rule: Unicode toLowerCase(), applied per code point (the
    // context-dependent final-sigma mapping is not applied; RFC 8265 §3.5
    // keeps "Σ", "σ" and "ς" distinct except for Σ → σ).
    let lower = map_chars(mapped, unicode::changes_when_lowercased, |c, out| {
        out.extend(c.to_lowercase());
        Ok(())
    })?;
    // Normalization Rule: NFC.
    let out = nfc(lower);
    // Directionality Rule: the Bidi Rule for strings with RTL characters.
    if unicode::has_rtl(&out) && !unicode::bidi_rule(&out) {
        return Err(JidError::BidiRule { part });
    }
    if out.is_empty() {
        return Err(JidError::EmptyLocalpart);
    }
    // RFC 7622 §3.3.1: characters that would be ambiguous in an address.
    if let Some(ch) = out
        .chars()
        .find(|c| matches!(c, '"' | '&' | '\'' | '/' | ':' | '<' | '>' | '@'))
    {
        return Err(JidError::ForbiddenChar { part, ch });
    }
    Ok(out)
}

/// Whether an output `o` of [`enforce_username_case_mapped`] is unchanged by
/// it. Of the steps, width mapping (its results and those of case mapping
/// and NFC are never fullwidth or halfwidth), NFC (`o` is NFC output) and
/// the Bidi and forbidden-character checks (already passed by `o`) cannot
/// change or reject `o`, so it remains to check the IdentifierClass and
/// the case mapping.
fn username_output_is_fixed_point(o: &str) -> bool {
    unicode::check_class(o, Class::Identifier).is_ok()
        && !o.chars().any(unicode::changes_when_lowercased)
}

/// Whether an output `o` of [`enforce_opaque_string`] is unchanged by it:
/// `o` is NFC output without non-ASCII spaces (NFC produces none from
/// other code points: the only canonical decompositions to a space,
/// U+2000 and U+2001, come from spaces, which were mapped before), so only
/// the FreeformClass check remains.
fn opaque_output_is_fixed_point(o: &str) -> bool {
    unicode::check_class(o, Class::Freeform).is_ok() && !o.chars().any(unicode::is_non_ascii_space)
}

/// The OpaqueString profile (RFC 8265 §4.2): FreeformClass check, non-ASCII
/// spaces mapped to U+0020, NFC. No width mapping, case mapping or Bidi
/// Rule.
pub(crate) fn enforce_opaque_string(s: &str) -> Result<Cow<'_, str>, JidError> {
    let part = Part::Resourcepart;
    unicode::check_class(s, Class::Freeform).map_err(|e| class_error(part, e))?;
    let mapped = map_chars(Cow::Borrowed(s), unicode::is_non_ascii_space, |c, out| {
        out.push(if unicode::is_non_ascii_space(c) {
            ' '
        } else {
            c
        });
        Ok(())
    })?;
    let out = nfc(mapped);
    if out.is_empty() {
        return Err(JidError::EmptyResource);
    }
    Ok(out)
}
