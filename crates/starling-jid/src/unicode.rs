//! Unicode building blocks: the PRECIS (RFC 8264 §8) and IDNA2008
//! (RFC 5892 §3) derived properties, their contextual rules (RFC 5892
//! Appendix A), the Bidi Rule (RFC 5893 §2) and the width mapping of
//! RFC 8265 / RFC 5895.
//!
//! All character properties come from the ICU4X data crates
//! (`icu_properties`, `icu_normalizer`), so every rule here works on one
//! Unicode version, the one those tables were generated from.

use icu_normalizer::{ComposingNormalizerBorrowed, DecomposingNormalizerBorrowed};
use icu_properties::props::{
    BidiClass, CanonicalCombiningClass, ChangesWhenNfkcCasefolded, DefaultIgnorableCodePoint,
    GeneralCategory, HangulSyllableType, JoinControl, JoiningType, NoncharacterCodePoint, Script,
    WhiteSpace,
};
use std::sync::OnceLock;

use icu_properties::{CodePointMapData, CodePointMapDataBorrowed, CodePointSetData};

const GC: CodePointMapDataBorrowed<'static, GeneralCategory> =
    CodePointMapData::<GeneralCategory>::new();
const BIDI: CodePointMapDataBorrowed<'static, BidiClass> = CodePointMapData::<BidiClass>::new();
const SCRIPT: CodePointMapDataBorrowed<'static, Script> = CodePointMapData::<Script>::new();
const JOINING: CodePointMapDataBorrowed<'static, JoiningType> =
    CodePointMapData::<JoiningType>::new();
const CCC: CodePointMapDataBorrowed<'static, CanonicalCombiningClass> =
    CodePointMapData::<CanonicalCombiningClass>::new();
const HST: CodePointMapDataBorrowed<'static, HangulSyllableType> =
    CodePointMapData::<HangulSyllableType>::new();

pub(crate) const NFC: ComposingNormalizerBorrowed<'static> = ComposingNormalizerBorrowed::new_nfc();
const NFKC: ComposingNormalizerBorrowed<'static> = ComposingNormalizerBorrowed::new_nfkc();
const NFKD: DecomposingNormalizerBorrowed<'static> = DecomposingNormalizerBorrowed::new_nfkd();

/// A PRECIS or IDNA2008 derived property value (RFC 8264 §8, RFC 5892 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Property {
    /// Allowed.
    Pvalid,
    /// Allowed where the RFC 5892 Appendix A.1/A.2 rule holds.
    ContextJ,
    /// Allowed where the RFC 5892 Appendix A.3–A.9 rule holds.
    ContextO,
    /// Not allowed.
    Disallowed,
    /// Not assigned in the tables in use; not allowed.
    Unassigned,
}

/// Which base string class (or IDNA2008) a property is derived for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// PRECIS IdentifierClass (RFC 8264 §4.2), used by localparts.
    Identifier,
    /// PRECIS FreeformClass (RFC 8264 §4.3), used by resourceparts.
    Freeform,
    /// IDNA2008 (RFC 5892), used by domain labels.
    Idna2008,
}

/// RFC 5892 §2.6 "Exceptions" (category F), shared by IDNA2008 and PRECIS
/// (RFC 8264 §9.6).
fn exception(c: char) -> Option<Property> {
    Some(match c {
        '\u{00DF}' | '\u{03C2}' | '\u{06FD}' | '\u{06FE}' | '\u{0F0B}' | '\u{3007}' => {
            Property::Pvalid
        }
        '\u{00B7}' | '\u{0375}' | '\u{05F3}' | '\u{05F4}' | '\u{30FB}' => Property::ContextO,
        '\u{0660}'..='\u{0669}' | '\u{06F0}'..='\u{06F9}' => Property::ContextO,
        '\u{0640}'
        | '\u{07FA}'
        | '\u{302E}'
        | '\u{302F}'
        | '\u{3031}'..='\u{3035}'
        | '\u{303B}' => Property::Disallowed,
        _ => return None,
    })
}

/// Noncharacter_Code_Point (a subset of General_Category Cn).
fn is_noncharacter(c: char) -> bool {
    CodePointSetData::new::<NoncharacterCodePoint>().contains(c)
}

/// RFC 8264 §9.9 / RFC 5892 §2.9: Hangul_Syllable_Type L, V or T.
fn is_old_hangul_jamo(c: char) -> bool {
    matches!(
        HST.get(c),
        HangulSyllableType::LeadingJamo
            | HangulSyllableType::VowelJamo
            | HangulSyllableType::TrailingJamo
    )
}

/// RFC 8264 §9.17 HasCompat: `toNFKC(cp) != cp`.
fn has_compat(c: char) -> bool {
    let mut buf = [0u8; 4];
    !NFKC.is_normalized(c.encode_utf8(&mut buf))
}

/// RFC 8264 §9.1 / RFC 5892 §2.1 LetterDigits: Ll, Lu, Lo, Nd, Lm, Mn, Mc.
fn is_letter_digit(gc: GeneralCategory) -> bool {
    matches!(
        gc,
        GeneralCategory::LowercaseLetter
            | GeneralCategory::UppercaseLetter
            | GeneralCategory::OtherLetter
            | GeneralCategory::DecimalNumber
            | GeneralCategory::ModifierLetter
            | GeneralCategory::NonspacingMark
            | GeneralCategory::SpacingMark
    )
}

/// RFC 8264 §9.18 OtherLetterDigits, §9.14 Spaces, §9.15 Symbols and §9.16
/// Punctuation:
/// the categories that are `ID_DIS` in the IdentifierClass and `FREE_PVAL`
/// in the FreeformClass.
fn is_freeform_extra(gc: GeneralCategory) -> bool {
    matches!(
        gc,
        // OtherLetterDigits (§9.18)
        GeneralCategory::TitlecaseLetter
            | GeneralCategory::LetterNumber
            | GeneralCategory::OtherNumber
            | GeneralCategory::EnclosingMark
            // Spaces (§9.14)
            | GeneralCategory::SpaceSeparator
            // Symbols (§9.15)
            | GeneralCategory::MathSymbol
            | GeneralCategory::CurrencySymbol
            | GeneralCategory::ModifierSymbol
            | GeneralCategory::OtherSymbol
            // Punctuation (§9.16)
            | GeneralCategory::ConnectorPunctuation
            | GeneralCategory::DashPunctuation
            | GeneralCategory::OpenPunctuation
            | GeneralCategory::ClosePunctuation
            | GeneralCategory::InitialPunctuation
            | GeneralCategory::FinalPunctuation
            | GeneralCategory::OtherPunctuation
    )
}

/// The derived property of `c` for `class`: RFC 8264 §8 for the PRECIS
/// classes, RFC 5892 §3 for IDNA2008. (The BackwardCompatible category is
/// empty in both and therefore omitted.)
#[cfg(test)]
pub(crate) fn property(c: char, class: Class) -> Property {
    property_with(c, class)
}

/// The derived property of `c` for `class` (see [`property`]).
///
/// The steps are those of RFC 8264 §8 in order; where a later step cannot
/// change the outcome, the more expensive look-ups (HasCompat above all)
/// are skipped, which gives the same value.
fn property_with(c: char, class: Class) -> Property {
    if let Some(p) = exception(c) {
        return p;
    }
    let gc = GC.get(c);
    // Unassigned (RFC 8264 §9.10, RFC 5892 §2.10): Cn and not a
    // noncharacter.
    if gc == GeneralCategory::Unassigned && !is_noncharacter(c) {
        return Property::Unassigned;
    }
    if class == Class::Idna2008 {
        return idna2008_property(c, gc);
    }
    // ASCII7 (§9.11)
    if ('\u{21}'..='\u{7E}').contains(&c) {
        return Property::Pvalid;
    }
    // JoinControl (§9.8)
    if CodePointSetData::new::<JoinControl>().contains(c) {
        return Property::ContextJ;
    }
    // OldHangulJamo (§9.9)
    if is_old_hangul_jamo(c) {
        return Property::Disallowed;
    }
    // PrecisIgnorableProperties (§9.13): Default_Ignorable_Code_Point or
    // Noncharacter_Code_Point (noncharacters are Cn).
    if CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || gc == GeneralCategory::Unassigned
    {
        return Property::Disallowed;
    }
    // Controls (§9.12)
    if gc == GeneralCategory::Control {
        return Property::Disallowed;
    }
    match class {
        // HasCompat (§9.17) is ID_DIS and every later category but
        // LetterDigits (§9.1) is ID_DIS or DISALLOWED.
        Class::Identifier => {
            if is_letter_digit(gc) && !has_compat(c) {
                Property::Pvalid
            } else {
                Property::Disallowed
            }
        }
        // HasCompat, LetterDigits, OtherLetterDigits, Spaces, Symbols and
        // Punctuation are all FREE_PVAL or PVALID.
        Class::Freeform | Class::Idna2008 => {
            if is_letter_digit(gc) || is_freeform_extra(gc) || has_compat(c) {
                Property::Pvalid
            } else {
                Property::Disallowed
            }
        }
    }
}

/// RFC 5892 §3 after the Exceptions, BackwardCompatible and Unassigned steps.
fn idna2008_property(c: char, gc: GeneralCategory) -> Property {
    // LDH (§2.5)
    if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
        return Property::Pvalid;
    }
    if CodePointSetData::new::<JoinControl>().contains(c) {
        return Property::ContextJ;
    }
    // Unstable (§2.2): toNFKC(toCaseFold(toNFKC(cp))) != cp. The
    // Changes_When_NFKC_Casefolded property differs from it only for
    // Default_Ignorable_Code_Point characters, which the next step
    // disallows anyway.
    if CodePointSetData::new::<ChangesWhenNfkcCasefolded>().contains(c) {
        return Property::Disallowed;
    }
    // IgnorableProperties (§2.3)
    if CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointSetData::new::<WhiteSpace>().contains(c)
        || is_noncharacter(c)
    {
        return Property::Disallowed;
    }
    // IgnorableBlocks (§2.4): Combining Diacritical Marks for Symbols,
    // Musical Symbols, Ancient Greek Musical Notation.
    if matches!(c, '\u{20D0}'..='\u{20FF}' | '\u{1D100}'..='\u{1D24F}') {
        return Property::Disallowed;
    }
    if is_old_hangul_jamo(c) {
        return Property::Disallowed;
    }
    if is_letter_digit(gc) {
        Property::Pvalid
    } else {
        Property::Disallowed
    }
}

/// Two-bit codes of a derived property in [`bmp_table`].
const CODE_PVALID: u8 = 0;
const CODE_CONTEXT: u8 = 1;
const CODE_DISALLOWED: u8 = 2;
const CODE_UNASSIGNED: u8 = 3;

fn code(p: Property) -> u8 {
    match p {
        Property::Pvalid => CODE_PVALID,
        Property::ContextJ | Property::ContextO => CODE_CONTEXT,
        Property::Disallowed => CODE_DISALLOWED,
        Property::Unassigned => CODE_UNASSIGNED,
    }
}

fn shift(class: Class) -> u8 {
    match class {
        Class::Identifier => 0,
        Class::Freeform => 2,
        Class::Idna2008 => 4,
    }
}

/// [`bmp_table`] bit: toLowerCase() changes the code point.
const LOWER_BIT: u8 = 1 << 6;
/// [`bmp_table`] bit: the width mapping changes the code point.
const WIDTH_BIT: u8 = 1 << 7;

fn lowercase_changes(c: char) -> bool {
    let mut lower = c.to_lowercase();
    !(lower.next() == Some(c) && lower.next().is_none())
}

/// Whether toLowerCase() (the standard library's, which follows the same
/// Unicode version as the ICU4X tables) changes `c`.
pub(crate) fn changes_when_lowercased(c: char) -> bool {
    match u16::try_from(u32::from(c)) {
        Ok(cp) if cp < 0x80 => c.is_ascii_uppercase(),
        Ok(cp) => bmp_table()[usize::from(cp)] & LOWER_BIT != 0,
        Err(_) => lowercase_changes(c),
    }
}

/// Whether the width mapping changes `c` (or rejects it).
pub(crate) fn is_width_char(c: char) -> bool {
    match u16::try_from(u32::from(c)) {
        Ok(cp) if cp < 0x80 => false,
        Ok(cp) => bmp_table()[usize::from(cp)] & WIDTH_BIT != 0,
        Err(_) => false,
    }
}

/// The derived properties of every BMP code point for the three classes,
/// two bits each, plus [`LOWER_BIT`] and [`WIDTH_BIT`], computed once from the ICU4X tables on first use (64 KiB;
/// a few milliseconds). This turns the several property look-ups per code
/// point into one array index for all but supplementary-plane characters.
/// (The width mapping only concerns U+3000 and U+FF01–U+FFEE, all in the
/// BMP.)
fn bmp_table() -> &'static [u8] {
    static TABLE: OnceLock<Box<[u8]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=0xFFFFu32)
            .map(|cp| match char::from_u32(cp) {
                Some(c) => {
                    let props = [Class::Identifier, Class::Freeform, Class::Idna2008]
                        .into_iter()
                        .fold(0, |acc, class| {
                            acc | code(property_with(c, class)) << shift(class)
                        });
                    let lower = if lowercase_changes(c) { LOWER_BIT } else { 0 };
                    let width = if matches!(width_map(c), Width::Unchanged) {
                        0
                    } else {
                        WIDTH_BIT
                    };
                    props | lower | width
                }
                // Surrogates are not characters; they never reach here.
                None => 0b10_10_10,
            })
            .collect()
    })
}

/// Why [`check_class`] rejected a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClassError {
    /// Disallowed code point.
    Disallowed(char),
    /// Unassigned code point.
    Unassigned(char),
    /// A contextual rule failed for this code point.
    Context(char),
}

/// Checks that every code point of `s` is allowed by `class`, evaluating the
/// contextual rules of RFC 5892 Appendix A for `CONTEXTJ` and `CONTEXTO`
/// code points with `s` as the context (a label, for IDNA2008).
pub(crate) fn check_class(s: &str, class: Class) -> Result<(), ClassError> {
    let mut table: Option<&[u8]> = None;
    for (i, c) in s.char_indices() {
        if c.is_ascii() {
            // ASCII is fully determined without the tables.
            let ok = match class {
                Class::Identifier => ('\u{21}'..='\u{7E}').contains(&c),
                Class::Freeform => ('\u{20}'..='\u{7E}').contains(&c),
                Class::Idna2008 => c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
            };
            if !ok {
                return Err(ClassError::Disallowed(c));
            }
            continue;
        }
        let value = match u16::try_from(u32::from(c)) {
            Ok(cp) => {
                let t = *table.get_or_insert_with(bmp_table);
                (t[usize::from(cp)] >> shift(class)) & 0b11
            }
            Err(_) => code(property_with(c, class)),
        };
        match value {
            CODE_PVALID => {}
            CODE_CONTEXT => {
                if !context_rule(s, i, c) {
                    return Err(ClassError::Context(c));
                }
            }
            CODE_UNASSIGNED => return Err(ClassError::Unassigned(c)),
            _ => return Err(ClassError::Disallowed(c)),
        }
    }
    Ok(())
}

/// Evaluates the RFC 5892 Appendix A rule for `c`, found at byte offset `i`
/// of `s`.
fn context_rule(s: &str, i: usize, c: char) -> bool {
    let before = s[..i].chars().next_back();
    let after = s[i + c.len_utf8()..].chars().next();
    match c {
        // A.1 ZERO WIDTH NON-JOINER
        '\u{200C}' => {
            if before.is_some_and(|b| CCC.get(b) == CanonicalCombiningClass::Virama) {
                return true;
            }
            let left = s[..i]
                .chars()
                .rev()
                .find(|&x| JOINING.get(x) != JoiningType::Transparent);
            let right = s[i + c.len_utf8()..]
                .chars()
                .find(|&x| JOINING.get(x) != JoiningType::Transparent);
            left.is_some_and(|x| {
                matches!(
                    JOINING.get(x),
                    JoiningType::LeftJoining | JoiningType::DualJoining
                )
            }) && right.is_some_and(|x| {
                matches!(
                    JOINING.get(x),
                    JoiningType::RightJoining | JoiningType::DualJoining
                )
            })
        }
        // A.2 ZERO WIDTH JOINER
        '\u{200D}' => before.is_some_and(|b| CCC.get(b) == CanonicalCombiningClass::Virama),
        // A.3 MIDDLE DOT: between two 'l'.
        '\u{00B7}' => before == Some('l') && after == Some('l'),
        // A.4 GREEK LOWER NUMERAL SIGN (KERAIA): followed by Greek.
        '\u{0375}' => after.is_some_and(|a| SCRIPT.get(a) == Script::Greek),
        // A.5, A.6 HEBREW PUNCTUATION GERESH and GERSHAYIM: after Hebrew.
        '\u{05F3}' | '\u{05F4}' => before.is_some_and(|b| SCRIPT.get(b) == Script::Hebrew),
        // A.7 KATAKANA MIDDLE DOT: some Hiragana, Katakana or Han in the
        // string.
        '\u{30FB}' => s.chars().any(|x| {
            matches!(
                SCRIPT.get(x),
                Script::Hiragana | Script::Katakana | Script::Han
            )
        }),
        // A.8 ARABIC-INDIC DIGITS: no EXTENDED ARABIC-INDIC DIGITS too.
        '\u{0660}'..='\u{0669}' => !s.chars().any(|x| matches!(x, '\u{06F0}'..='\u{06F9}')),
        // A.9 EXTENDED ARABIC-INDIC DIGITS: no ARABIC-INDIC DIGITS too.
        '\u{06F0}'..='\u{06F9}' => !s.chars().any(|x| matches!(x, '\u{0660}'..='\u{0669}')),
        _ => false,
    }
}

fn bidi(c: char) -> BidiClass {
    BIDI.get(c)
}

/// Whether `s` contains a right-to-left character: Bidi class R, AL or AN
/// (the RFC 5893 §1.4 definition of an "RTL label").
pub(crate) fn has_rtl(s: &str) -> bool {
    s.chars().any(|c| {
        !c.is_ascii()
            && matches!(
                bidi(c),
                BidiClass::RightToLeft | BidiClass::ArabicLetter | BidiClass::ArabicNumber
            )
    })
}

/// The Bidi Rule of RFC 5893 §2 (all six conditions).
pub(crate) fn bidi_rule(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return true;
    };
    // The last character that is not NSM (conditions 3 and 6 allow a
    // trailing run of NSM).
    let last = s
        .chars()
        .rev()
        .map(bidi)
        .find(|&b| b != BidiClass::NonspacingMark);
    match bidi(first) {
        // Condition 1, RTL label.
        BidiClass::RightToLeft | BidiClass::ArabicLetter => {
            let mut en = false;
            let mut an = false;
            for c in s.chars() {
                match bidi(c) {
                    // Condition 2.
                    BidiClass::RightToLeft
                    | BidiClass::ArabicLetter
                    | BidiClass::EuropeanSeparator
                    | BidiClass::CommonSeparator
                    | BidiClass::EuropeanTerminator
                    | BidiClass::OtherNeutral
                    | BidiClass::BoundaryNeutral
                    | BidiClass::NonspacingMark => {}
                    BidiClass::EuropeanNumber => en = true,
                    BidiClass::ArabicNumber => an = true,
                    _ => return false,
                }
            }
            // Condition 4.
            if en && an {
                return false;
            }
            // Condition 3.
            matches!(
                last,
                Some(
                    BidiClass::RightToLeft
                        | BidiClass::ArabicLetter
                        | BidiClass::EuropeanNumber
                        | BidiClass::ArabicNumber
                )
            )
        }
        // Condition 1, LTR label.
        BidiClass::LeftToRight => {
            // Condition 5.
            let allowed = s.chars().all(|c| {
                matches!(
                    bidi(c),
                    BidiClass::LeftToRight
                        | BidiClass::EuropeanNumber
                        | BidiClass::EuropeanSeparator
                        | BidiClass::CommonSeparator
                        | BidiClass::EuropeanTerminator
                        | BidiClass::OtherNeutral
                        | BidiClass::BoundaryNeutral
                        | BidiClass::NonspacingMark
                )
            });
            // Condition 6.
            allowed
                && matches!(
                    last,
                    Some(BidiClass::LeftToRight | BidiClass::EuropeanNumber)
                )
        }
        _ => false,
    }
}

/// Result of the width mapping of one code point.
pub(crate) enum Width {
    /// Not a fullwidth or halfwidth code point.
    Unchanged,
    /// Fullwidth or halfwidth; maps to this code point.
    Mapped(char),
    /// Fullwidth or halfwidth, but its decomposition mapping is itself a
    /// compatibility character (U+FFE3 maps to U+00AF; U+FFA0–U+FFDC map to
    /// Hangul Compatibility Jamo), which neither the IdentifierClass nor
    /// IDNA2008 allows. Rejecting here gives the same outcome without
    /// needing the one-step decomposition mapping, which the normalisation
    /// tables do not expose (they only give the full NFKD).
    Rejected,
}

/// The Width Mapping Rule (RFC 8265 §3.3.1, RFC 5895 §2 step 2): map a
/// code point with a `<wide>` or `<narrow>` decomposition to that
/// decomposition.
///
/// In the Unicode Character Database every such code point is U+3000 or in
/// U+FF01–U+FFEE, and every code point there with a compatibility
/// decomposition is `<wide>` or `<narrow>` (the unit tests check this shape
/// against the tables in use). For all of them except those
/// [`Width::Rejected`] covers, the full NFKD form is the single decomposition
/// target, so NFKD gives the mapping.
pub(crate) fn width_map(c: char) -> Width {
    if c != '\u{3000}' && !('\u{FF01}'..='\u{FFEE}').contains(&c) {
        return Width::Unchanged;
    }
    if ('\u{FFA0}'..='\u{FFDC}').contains(&c) || c == '\u{FFE3}' {
        return Width::Rejected;
    }
    let mut buf = [0u8; 4];
    let s = c.encode_utf8(&mut buf);
    let d = NFKD.normalize(s);
    let mut it = d.chars();
    match (it.next(), it.next()) {
        (Some(m), None) if m != c => Width::Mapped(m),
        _ => Width::Unchanged,
    }
}

/// Whether `c` is a non-ASCII space (General_Category Zs other than U+0020),
/// which the OpaqueString profile maps to U+0020 (RFC 8265 §4.2.2).
pub(crate) fn is_non_ascii_space(c: char) -> bool {
    !c.is_ascii() && GC.get(c) == GeneralCategory::SpaceSeparator
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_mapping_shape_matches_tables() {
        // Every code point in the Halfwidth and Fullwidth Forms block (and
        // U+3000) that has a compatibility decomposition: 225 + 1 in the
        // Unicode versions since 6.3. If a table update adds one, the
        // assumptions documented on `width_map` need rechecking.
        let count = core::iter::once('\u{3000}')
            .chain('\u{FF00}'..='\u{FFEF}')
            .filter(|&c| has_compat(c))
            .count();
        assert_eq!(count, 226);
        assert!(matches!(width_map('\u{FF21}'), Width::Mapped('A')));
        assert!(matches!(width_map('\u{3000}'), Width::Mapped(' ')));
        assert!(matches!(width_map('\u{FF76}'), Width::Mapped('\u{30AB}')));
        assert!(matches!(width_map('\u{FFE3}'), Width::Rejected));
        assert!(matches!(width_map('a'), Width::Unchanged));
    }

    #[test]
    fn derived_properties_spot_checks() {
        use Class::*;
        use Property::*;
        let cases: &[(char, Class, Property)] = &[
            ('a', Identifier, Pvalid),
            (' ', Identifier, Disallowed),
            (' ', Freeform, Pvalid), // Spaces: FREE_PVAL
            ('\u{00DF}', Identifier, Pvalid),
            ('\u{03C2}', Identifier, Pvalid),
            ('\u{2163}', Identifier, Disallowed), // ROMAN NUMERAL FOUR: HasCompat
            ('\u{2163}', Freeform, Pvalid),
            ('\u{265A}', Identifier, Disallowed), // BLACK CHESS KING: Symbol
            ('\u{265A}', Freeform, Pvalid),
            ('\u{200D}', Identifier, ContextJ),
            ('\u{00B7}', Identifier, ContextO),
            ('\u{0640}', Freeform, Disallowed),
            ('\u{00AD}', Freeform, Disallowed), // SOFT HYPHEN: default ignorable
            ('\u{E000}', Freeform, Disallowed), // private use
            ('\u{FDD0}', Freeform, Disallowed), // noncharacter
            ('\u{0378}', Freeform, Unassigned),
            ('\u{1100}', Freeform, Disallowed), // old Hangul jamo
            ('A', Idna2008, Disallowed),        // unstable (case folds)
            ('\u{00E9}', Idna2008, Pvalid),
            ('\u{FB01}', Idna2008, Disallowed), // LATIN SMALL LIGATURE FI
            ('\u{20D0}', Idna2008, Disallowed), // ignorable block
        ];
        for &(c, class, want) in cases {
            assert_eq!(property(c, class), want, "U+{:04X} {class:?}", c as u32);
        }
    }

    /// The derived properties computed here agree with the `precis-core`
    /// crate, whose tables are the IANA PRECIS registry for Unicode 6.3.0,
    /// on every code point assigned in Unicode 6.3.0 (contextual code
    /// points aside, which need a context).
    #[test]
    fn derived_properties_match_iana_6_3_tables() {
        use precis_core::{DerivedPropertyValue as D, FreeformClass, IdentifierClass, StringClass};
        let id = IdentifierClass::default();
        let free = FreeformClass::default();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            for (class, theirs) in [
                (Class::Identifier, id.get_value_from_char(c)),
                (Class::Freeform, free.get_value_from_char(c)),
            ] {
                let expected = match theirs {
                    D::PValid | D::SpecClassPval => Property::Pvalid,
                    D::SpecClassDis | D::Disallowed => Property::Disallowed,
                    D::ContextJ => Property::ContextJ,
                    D::ContextO => Property::ContextO,
                    // Assigned since Unicode 6.3.0.
                    D::Unassigned => continue,
                };
                assert_eq!(property(c, class), expected, "U+{:04X} {class:?}", c as u32);
            }
        }
    }

    #[test]
    fn bmp_table_matches_property() {
        let t = bmp_table();
        for c in ('\0'..='\u{FFFF}').filter(|c| !c.is_ascii()) {
            for class in [Class::Identifier, Class::Freeform, Class::Idna2008] {
                let p = property(c, class);
                assert_eq!(
                    (t[c as usize] >> shift(class)) & 3,
                    code(p),
                    "U+{:04X}",
                    c as u32
                );
                let ok = check_class(c.encode_utf8(&mut [0; 4]), class);
                match p {
                    Property::Pvalid => assert_eq!(ok, Ok(())),
                    Property::Disallowed => assert_eq!(ok, Err(ClassError::Disallowed(c))),
                    Property::Unassigned => assert_eq!(ok, Err(ClassError::Unassigned(c))),
                    Property::ContextJ | Property::ContextO => {}
                }
            }
        }
    }

    #[test]
    fn tables_agree_with_std() {
        // The case mapping uses the standard library's tables and everything
        // else the ICU4X tables; they must be of the same Unicode version.
        // Comparing two derived properties over all code points detects any
        // difference in version.
        use icu_properties::props::{Alphabetic, Lowercase};
        assert_eq!(char::UNICODE_VERSION, (17, 0, 0));
        let alpha = CodePointSetData::new::<Alphabetic>();
        let lower = CodePointSetData::new::<Lowercase>();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(alpha.contains(c), c.is_alphabetic(), "U+{:04X}", c as u32);
            assert_eq!(lower.contains(c), c.is_lowercase(), "U+{:04X}", c as u32);
        }
    }
}
