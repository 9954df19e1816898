//! Password preparation with the PRECIS `OpaqueString` profile
//! (RFC 8265 §4.2), which replaces SASLprep (RFC 4013) for SCRAM and PLAIN
//! (RFC 8265 §4.1 and §7).
//!
//! The profile, applied in the order RFC 8264 §7 gives:
//!
//! 1. no width mapping;
//! 2. additional mapping: every non-ASCII space (general category `Zs`
//!    other than U+0020) becomes U+0020;
//! 3. no case mapping;
//! 4. normalization: NFC;
//! 5. no directionality rule;
//! 6. every code point must be allowed by the `FreeformClass`
//!    (RFC 8264 §4.3): letters, digits, marks, symbols, punctuation, spaces
//!    and compatibility characters are; controls, default-ignorable code
//!    points, noncharacters, old Hangul jamo, format characters, private
//!    use, line and paragraph separators, unassigned code points and the
//!    RFC 5892 §2.6 exceptions (U+0640, U+07FA, U+302E, U+302F,
//!    U+3031–U+3035, U+303B) are not; the contextual rules of RFC 5892
//!    Appendix A apply to U+200C, U+200D, U+00B7, U+0375, U+05F3, U+05F4,
//!    U+30FB and the Arabic-Indic digits.
//!
//! The result must not be empty.
//!
//! # Differences from SASLprep
//!
//! SASLprep (RFC 4013) *mapped to nothing* the characters of RFC 3454
//! table B.1 — the soft hyphen U+00AD, the zero width joiners and
//! spaces, variation selectors and the like — so that `"I\u{00AD}X"`
//! prepared to `"IX"`. `OpaqueString` maps nothing away: these characters
//! are default-ignorable code points, which the `FreeformClass` disallows,
//! so such a password is rejected ([`PrepError::Disallowed`]). SASLprep
//! also applied NFKC, which folded compatibility characters (`"ⅸ"` became
//! `"ix"`, U+00AA `ª` became `a`); `OpaqueString` applies only NFC, so
//! those stay distinct. Passwords that contain only printable ASCII are
//! prepared identically by both.
//!
//! # Unicode data
//!
//! NFC, the canonical combining classes and the set of assigned code
//! points come from `unicode-normalization`. The handful of other
//! properties the class needs (default-ignorable code points, format
//! characters, old Hangul jamo) are listed below as code point ranges. The
//! script and joining-type conditions of the contextual rules are
//! approximated by code point blocks: a ZERO WIDTH NON-JOINER is accepted
//! after a virama, or between two non-ASCII alphabetic characters (combining
//! marks in between are skipped), instead of by the exact joining types.

use std::borrow::Cow;

use unicode_normalization::char::{canonical_combining_class, is_public_assigned};
use unicode_normalization::{UnicodeNormalization, is_nfc};

/// A password that the `OpaqueString` profile rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PrepError {
    /// The password is empty.
    #[error("the password is empty")]
    Empty,
    /// The password contains a code point that the profile disallows.
    #[error("the password contains the disallowed code point U+{:04X}", u32::from(*.0))]
    Disallowed(char),
    /// The password contains a code point whose contextual rule
    /// (RFC 5892 Appendix A) is not satisfied.
    #[error("the code point U+{:04X} is not allowed in this context", u32::from(*.0))]
    Context(char),
}

/// Prepares and enforces a password with the `OpaqueString` profile
/// (RFC 8265 §4.2).
///
/// A password of printable ASCII characters (U+0020 to U+007E) is returned
/// borrowed, without any Unicode processing.
///
/// ```
/// use starling_auth::sasl::{PrepError, opaque_string};
///
/// assert_eq!(opaque_string("correct horse battery staple").unwrap(), "correct horse battery staple");
/// // Non-ASCII spaces become U+0020.
/// assert_eq!(opaque_string("foo\u{1680}bar").unwrap(), "foo bar");
/// // NFC.
/// assert_eq!(opaque_string("e\u{0301}").unwrap(), "\u{00E9}");
/// // Controls are rejected.
/// assert_eq!(opaque_string("my cat is a \u{0009}by"), Err(PrepError::Disallowed('\t')));
/// // Unlike SASLprep, a soft hyphen is rejected rather than removed.
/// assert_eq!(opaque_string("I\u{00AD}X"), Err(PrepError::Disallowed('\u{00AD}')));
/// ```
pub fn opaque_string(input: &str) -> Result<Cow<'_, str>, PrepError> {
    if input.is_empty() {
        return Err(PrepError::Empty);
    }
    if input.is_ascii() {
        return match input.chars().find(|c| !(' '..='~').contains(c)) {
            None => Ok(Cow::Borrowed(input)),
            Some(c) => Err(PrepError::Disallowed(c)),
        };
    }
    let mapped: Cow<'_, str> = if input.chars().any(is_non_ascii_space) {
        Cow::Owned(
            input
                .chars()
                .map(|c| if is_non_ascii_space(c) { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(input)
    };
    let normalized: Cow<'_, str> = if is_nfc(&mapped) {
        mapped
    } else {
        Cow::Owned(mapped.nfc().collect())
    };
    check_freeform(&normalized)?;
    Ok(normalized)
}

/// General category `Zs` except U+0020.
fn is_non_ascii_space(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// Checks every code point of `s` against the `FreeformClass`.
fn check_freeform(s: &str) -> Result<(), PrepError> {
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if is_disallowed(c) {
            return Err(PrepError::Disallowed(c));
        }
        if !context_ok(&chars, i) {
            return Err(PrepError::Context(c));
        }
    }
    Ok(())
}

/// Whether the `FreeformClass` disallows `c` outright.
fn is_disallowed(c: char) -> bool {
    let cp = u32::from(c);
    // Unassigned (and private use, which is "otherwise" DISALLOWED).
    // Noncharacters are unassigned too.
    if !is_public_assigned(c) {
        return true;
    }
    c.is_control()
        || is_exception_disallowed(cp)
        || (is_default_ignorable(cp) && !matches!(cp, 0x200C | 0x200D))
        || is_old_hangul_jamo(cp)
        || is_other_format(cp)
        || matches!(cp, 0x2028 | 0x2029)
}

/// RFC 5892 §2.6: the exceptions whose value is DISALLOWED.
fn is_exception_disallowed(cp: u32) -> bool {
    matches!(
        cp,
        0x0640 | 0x07FA | 0x302E | 0x302F | 0x3031..=0x3035 | 0x303B
    )
}

/// `Default_Ignorable_Code_Point` (the `PrecisIgnorableProperties` of
/// RFC 8264 §9.13 with the noncharacters, which are unassigned).
fn is_default_ignorable(cp: u32) -> bool {
    matches!(
        cp,
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

/// `Hangul_Syllable_Type` L, V or T: the conjoining jamo (RFC 5892 §2.9).
fn is_old_hangul_jamo(cp: u32) -> bool {
    matches!(cp, 0x1100..=0x11FF | 0xA960..=0xA97F | 0xD7B0..=0xD7FF)
}

/// General category `Cf` code points that are not default-ignorable; no
/// `FreeformClass` category includes them.
fn is_other_format(cp: u32) -> bool {
    matches!(
        cp,
        0x0600..=0x0605
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0xFFF9..=0xFFFB
    )
}

const VIRAMA: u8 = 9;

/// The contextual rules of RFC 5892 Appendix A for the code point at `i`.
fn context_ok(chars: &[char], i: usize) -> bool {
    let before = i.checked_sub(1).map(|j| chars[j]);
    let after = chars.get(i + 1).copied();
    match u32::from(chars[i]) {
        // A.1 ZERO WIDTH NON-JOINER.
        0x200C => {
            before.is_some_and(|b| canonical_combining_class(b) == VIRAMA) || {
                let is_mark = |c: &&char| canonical_combining_class(**c) != 0;
                let joining =
                    |c: Option<&char>| c.is_some_and(|c| !c.is_ascii() && c.is_alphabetic());
                joining(chars[..i].iter().rev().find(|c| !is_mark(c)))
                    && joining(chars[i + 1..].iter().find(|c| !is_mark(c)))
            }
        }
        // A.2 ZERO WIDTH JOINER.
        0x200D => before.is_some_and(|b| canonical_combining_class(b) == VIRAMA),
        // A.3 MIDDLE DOT: between two "l".
        0x00B7 => before == Some('l') && after == Some('l'),
        // A.4 GREEK LOWER NUMERAL SIGN: followed by Greek.
        0x0375 => after.is_some_and(|a| is_greek(u32::from(a))),
        // A.5, A.6 HEBREW PUNCTUATION GERESH and GERSHAYIM: after Hebrew.
        0x05F3 | 0x05F4 => before.is_some_and(|b| is_hebrew(u32::from(b))),
        // A.7 KATAKANA MIDDLE DOT: with Hiragana, Katakana or Han.
        0x30FB => chars.iter().any(|&c| is_kana_or_han(u32::from(c))),
        // A.8 ARABIC-INDIC DIGITS: not mixed with extended ones.
        0x0660..=0x0669 => !chars
            .iter()
            .any(|&c| ('\u{06F0}'..='\u{06F9}').contains(&c)),
        // A.9 EXTENDED ARABIC-INDIC DIGITS: not mixed with Arabic-Indic ones.
        0x06F0..=0x06F9 => !chars
            .iter()
            .any(|&c| ('\u{0660}'..='\u{0669}').contains(&c)),
        _ => true,
    }
}

fn is_greek(cp: u32) -> bool {
    matches!(cp, 0x0370..=0x0373 | 0x0376..=0x03FF | 0x1D26..=0x1D2A | 0x1F00..=0x1FFF | 0x10140..=0x1018F)
}

fn is_hebrew(cp: u32) -> bool {
    matches!(cp, 0x0591..=0x05F4 | 0xFB1D..=0xFB4F)
}

fn is_kana_or_han(cp: u32) -> bool {
    matches!(
        cp,
        0x3005
            | 0x3007
            | 0x3021..=0x3029
            | 0x3038..=0x303B
            | 0x3041..=0x309F
            | 0x30A0..=0x30FA
            | 0x30FD..=0x30FF
            | 0x31F0..=0x31FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xF900..=0xFAFF
            | 0xFF66..=0xFF6F
            | 0xFF71..=0xFF9D
            | 0x1B000..=0x1B16F
            | 0x20000..=0x3134F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(s: &str) -> Result<String, PrepError> {
        opaque_string(s).map(Cow::into_owned)
    }

    /// The examples of RFC 8265 §4.3.
    #[test]
    fn rfc8265_examples() {
        assert_eq!(
            prep("correct horse battery staple").unwrap(),
            "correct horse battery staple"
        );
        assert_eq!(
            prep("Correct Horse Battery Staple").unwrap(),
            "Correct Horse Battery Staple"
        );
        assert_eq!(prep("πßå").unwrap(), "πßå");
        assert_eq!(prep("Jack of ♦s").unwrap(), "Jack of ♦s");
        assert_eq!(prep("foo\u{1680}bar").unwrap(), "foo bar");
        assert_eq!(prep(""), Err(PrepError::Empty));
        assert_eq!(
            prep("my cat is a \u{0009}by"),
            Err(PrepError::Disallowed('\t'))
        );
    }

    #[test]
    fn ascii_fast_path_borrows() {
        assert!(matches!(
            opaque_string("pencil"),
            Ok(Cow::Borrowed("pencil"))
        ));
        assert!(matches!(opaque_string(" ~ "), Ok(Cow::Borrowed(" ~ "))));
        assert_eq!(prep("a\u{7F}"), Err(PrepError::Disallowed('\u{7F}')));
        assert_eq!(prep("\0"), Err(PrepError::Disallowed('\0')));
    }

    #[test]
    fn non_ascii_spaces_are_mapped() {
        for sp in [
            '\u{00A0}', '\u{2000}', '\u{2003}', '\u{200A}', '\u{202F}', '\u{205F}', '\u{3000}',
        ] {
            assert_eq!(
                prep(&format!("a{sp}b")).unwrap(),
                "a b",
                "U+{:04X}",
                u32::from(sp)
            );
        }
    }

    #[test]
    fn nfc_is_applied() {
        assert_eq!(prep("A\u{030A}").unwrap(), "\u{00C5}");
        // The Angstrom sign is canonically equivalent to Å.
        assert_eq!(prep("\u{212B}").unwrap(), "\u{00C5}");
        // Compatibility characters are kept (SASLprep's NFKC folded them).
        assert_eq!(prep("\u{2178}").unwrap(), "\u{2178}");
        assert_eq!(prep("\u{00AA}").unwrap(), "\u{00AA}");
        assert_eq!(prep("\u{FB01}").unwrap(), "\u{FB01}");
    }

    #[test]
    fn saslprep_differences() {
        // SASLprep mapped the soft hyphen to nothing ("IX"); OpaqueString rejects it.
        assert_eq!(prep("I\u{00AD}X"), Err(PrepError::Disallowed('\u{00AD}')));
        // The same for other "commonly mapped to nothing" characters.
        assert_eq!(prep("a\u{FEFF}b"), Err(PrepError::Disallowed('\u{FEFF}')));
        assert_eq!(prep("a\u{FE0F}b"), Err(PrepError::Disallowed('\u{FE0F}')));
        assert_eq!(prep("a\u{200B}b"), Err(PrepError::Disallowed('\u{200B}')));
    }

    #[test]
    fn disallowed_classes() {
        for c in [
            '\u{0085}',   // control
            '\u{2028}',   // line separator
            '\u{2029}',   // paragraph separator
            '\u{E000}',   // private use
            '\u{10FFFD}', // private use
            '\u{FDD0}',   // noncharacter
            '\u{FFFF}',   // noncharacter
            '\u{1100}',   // conjoining jamo
            '\u{0600}',   // format
            '\u{0640}',   // exception: ARABIC TATWEEL
            '\u{E0001}',  // language tag
            '\u{0378}',   // unassigned
        ] {
            assert_eq!(
                prep(&format!("x{c}y")),
                Err(PrepError::Disallowed(c)),
                "U+{:04X}",
                u32::from(c)
            );
        }
    }

    #[test]
    fn allowed_classes() {
        for s in [
            "\u{00E9}t\u{00E9}",
            "Ελληνικά",
            "日本語のパスワード",
            "\u{1F600}",
            "٣٤٥",
            "¿Qué?",
            "ǅ",
            "Ⅸ",
        ] {
            assert_eq!(prep(s).unwrap(), s);
        }
    }

    #[test]
    fn contextual_rules() {
        // MIDDLE DOT between two l (Catalan).
        assert!(prep("col\u{00B7}lega").is_ok());
        assert_eq!(prep("a\u{00B7}b"), Err(PrepError::Context('\u{00B7}')));
        // ZERO WIDTH JOINER after a virama (Devanagari).
        assert!(prep("\u{0915}\u{094D}\u{200D}\u{0937}").is_ok());
        assert_eq!(prep("a\u{200D}b"), Err(PrepError::Context('\u{200D}')));
        // ZERO WIDTH NON-JOINER in Persian text.
        assert!(prep("\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}").is_ok());
        assert_eq!(prep("a\u{200C}b"), Err(PrepError::Context('\u{200C}')));
        // Greek numeral sign before Greek.
        assert!(prep("\u{0375}\u{03B1}").is_ok());
        assert_eq!(prep("\u{0375}a"), Err(PrepError::Context('\u{0375}')));
        // Hebrew geresh after Hebrew.
        assert!(prep("\u{05D0}\u{05F3}").is_ok());
        assert_eq!(prep("a\u{05F3}"), Err(PrepError::Context('\u{05F3}')));
        // Katakana middle dot with kana.
        assert!(prep("\u{30A2}\u{30FB}\u{30A4}").is_ok());
        assert_eq!(prep("a\u{30FB}b"), Err(PrepError::Context('\u{30FB}')));
        // Arabic-Indic digits not mixed with extended ones.
        assert_eq!(
            prep("\u{0661}\u{06F1}"),
            Err(PrepError::Context('\u{0661}'))
        );
    }

    #[test]
    fn idempotent() {
        for s in ["foo\u{1680}bar", "A\u{030A}", "\u{212B}x\u{3000}", "πßå"] {
            let once = prep(s).unwrap();
            assert_eq!(prep(&once).unwrap(), once);
        }
    }
}
