//! Character classes of XML 1.0 and Namespaces in XML, and reference decoding.

use std::borrow::Cow;

use crate::error::ErrorKind;

/// `NameStartChar` of XML 1.0 (5th edition) without `:` (NCName rules).
#[inline]
pub(crate) fn is_name_start(c: char) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' | '_' => true,
        c if (c as u32) < 0x80 => false,
        '\u{C0}'..='\u{D6}'
        | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}'
        | '\u{37F}'..='\u{1FFF}'
        | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}'
        | '\u{2C00}'..='\u{2FEF}'
        | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}'
        | '\u{FDF0}'..='\u{FFFD}'
        | '\u{10000}'..='\u{EFFFF}' => true,
        _ => false,
    }
}

/// `NameChar` of XML 1.0 (5th edition) without `:` (NCName rules).
#[inline]
pub(crate) fn is_name_char(c: char) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' | '.' => true,
        c if (c as u32) < 0x80 => false,
        '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}' => true,
        c => is_name_start(c),
    }
}

/// Whether `c` is a legal XML 1.0 `Char`.
#[inline]
pub(crate) fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Checks that `s` is an `NCName`.
pub(crate) fn check_ncname(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_ascii() {
        return match b.split_first() {
            Some((&first, rest)) => {
                (first.is_ascii_alphabetic() || first == b'_')
                    && rest
                        .iter()
                        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
            }
            None => false,
        };
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if is_name_start(c) => chars.all(is_name_char),
        _ => false,
    }
}

/// String equality that never calls `memcmp` for empty strings.
///
/// Empty `&str`s (and empty `ByteString`s) point at a dangling, unmapped
/// address; some `memcmp` implementations take a very slow path on such a
/// pointer even for length 0. Names and namespaces are often empty (no
/// prefix, no namespace), so every comparison of them goes through here.
#[inline]
pub(crate) fn str_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a.as_bytes() == b.as_bytes())
}

/// XML whitespace (`S`).
#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// What a scan of character data found.
#[derive(Default, Clone, Copy)]
pub(crate) struct TextScan {
    pub(crate) amp: bool,
    pub(crate) cr: bool,
    /// A tab or line feed (which attribute values normalise to spaces).
    pub(crate) ws: bool,
}

const CLASS_PLAIN: u8 = 0;
const CLASS_CTRL: u8 = 1;
const CLASS_AMP: u8 = 2;
const CLASS_CR: u8 = 3;
const CLASS_WS: u8 = 7;
const CLASS_BRACKET: u8 = 4;
const CLASS_EF: u8 = 5;
const CLASS_LT: u8 = 6;

static CLASSES: [u8; 256] = {
    let mut t = [CLASS_PLAIN; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = CLASS_CTRL;
        i += 1;
    }
    t[b'\t' as usize] = CLASS_WS;
    t[b'\n' as usize] = CLASS_WS;
    t[b'\r' as usize] = CLASS_CR;
    t[b'&' as usize] = CLASS_AMP;
    t[b']' as usize] = CLASS_BRACKET;
    t[0xEF] = CLASS_EF;
    t[b'<' as usize] = CLASS_LT;
    t
};

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether some byte of `w` is below 0x20 or is `&`, `<`, `]` or 0xEF —
/// the bytes [`scan_text`] must look at (SWAR: a few word operations per
/// eight bytes instead of a table lookup per byte).
#[inline]
fn word_has_special(w: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let below_space = w.wrapping_sub(LO * 0x20) & !w & HI;
    (below_space
        | has_zero(w ^ (LO * u64::from(b'&')))
        | has_zero(w ^ (LO * u64::from(b'<')))
        | has_zero(w ^ (LO * u64::from(b']')))
        | has_zero(w ^ (LO * 0xEF)))
        != 0
}

/// Where character data stands, which decides what is special in it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Character data between tags: `&` starts a reference, `]]>` is forbidden.
    Text,
    /// CDATA section content: only the character rules apply.
    Cdata,
    /// An attribute value: `&` starts a reference, `<` is forbidden.
    Attr,
}

/// Scans already UTF-8-validated character data for characters XML forbids
/// and for what needs transformation. Returns the offset of the first
/// offending byte with its error.
pub(crate) fn scan_text(s: &[u8], mode: Mode) -> Result<TextScan, (usize, ErrorKind)> {
    let cdata = mode == Mode::Cdata;
    let mut found = TextScan::default();
    let mut i = 0;
    while i < s.len() {
        // Skip eight ordinary bytes at a time.
        if let Some(word) = s.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            if !word_has_special(u64::from_le_bytes(w)) {
                i += 8;
                continue;
            }
        }
        let class = CLASSES[s[i] as usize];
        if class == CLASS_PLAIN {
            i += 1;
            continue;
        }
        match class {
            CLASS_CTRL => return Err((i, ErrorKind::IllegalChar(u32::from(s[i])))),
            CLASS_AMP if !cdata => found.amp = true,
            CLASS_CR => found.cr = true,
            CLASS_WS => found.ws = true,
            CLASS_BRACKET
                if mode == Mode::Text
                    && s.get(i + 1) == Some(&b']')
                    && s.get(i + 2) == Some(&b'>') =>
            {
                return Err((i, ErrorKind::CdataEndInText));
            }
            // U+FFFE and U+FFFF (EF BF BE, EF BF BF).
            CLASS_EF
                if s.get(i + 1) == Some(&0xBF) && matches!(s.get(i + 2), Some(0xBE | 0xBF)) =>
            {
                let c = if s[i + 2] == 0xBE { 0xFFFE } else { 0xFFFF };
                return Err((i, ErrorKind::IllegalChar(c)));
            }
            CLASS_LT if mode == Mode::Attr => return Err((i, ErrorKind::LtInAttribute)),
            _ => {}
        }
        i += 1;
    }
    Ok(found)
}

/// The longest reference accepted, `&` and `;` excluded. A reference is
/// judged by at most this many bytes after its `&`, so the tokenizer can cut
/// long text anywhere more than this far from an unterminated `&` and still
/// decide exactly as it would on the whole text.
pub(crate) const MAX_REFERENCE: usize = 40;

/// Decodes one reference starting right after `&` in `s`; returns the
/// decoded character and the number of bytes consumed including `;`.
fn decode_reference(s: &str) -> Result<(char, usize), ErrorKind> {
    let window = &s.as_bytes()[..s.len().min(MAX_REFERENCE)];
    let semi = match memchr::memchr(b';', window) {
        Some(i) if i > 0 => i,
        _ => return Err(ErrorKind::InvalidReference),
    };
    let name = &s[..semi];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            if let Some(num) = name.strip_prefix('#') {
                let value = if let Some(hex) = num.strip_prefix('x') {
                    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(ErrorKind::InvalidReference);
                    }
                    u32::from_str_radix(hex, 16).map_err(|_| ErrorKind::InvalidReference)?
                } else {
                    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(ErrorKind::InvalidReference);
                    }
                    num.parse::<u32>()
                        .map_err(|_| ErrorKind::InvalidReference)?
                };
                if !is_xml_char(value) {
                    return Err(ErrorKind::IllegalChar(value));
                }
                char::from_u32(value).ok_or(ErrorKind::IllegalChar(value))?
            } else if check_ncname(name) {
                return Err(ErrorKind::RestrictedXml(
                    crate::error::Restricted::EntityReference,
                ));
            } else {
                return Err(ErrorKind::InvalidReference);
            }
        }
    };
    Ok((c, semi + 1))
}

/// Decodes references and normalises line ends (and, for attribute values,
/// white space) in `s`. Borrows when nothing needs to change.
pub(crate) fn unescape(s: &str, attr: bool) -> Result<Cow<'_, str>, (usize, ErrorKind)> {
    let bytes = s.as_bytes();
    let needs = |b: u8| b == b'&' || b == b'\r' || (attr && (b == b'\t' || b == b'\n'));
    let Some(first) = bytes.iter().position(|&b| needs(b)) else {
        return Ok(Cow::Borrowed(s));
    };
    let mut out = String::with_capacity(s.len());
    out.push_str(&s[..first]);
    let mut i = first;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'&' => {
                let (c, used) = decode_reference(&s[i + 1..]).map_err(|e| (i, e))?;
                out.push(c);
                i += 1 + used;
            }
            b'\r' => {
                out.push(if attr { ' ' } else { '\n' });
                i += 1;
                if bytes.get(i) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\t' | b'\n' if attr => {
                out.push(' ');
                i += 1;
            }
            _ => {
                // Copy a run of ordinary bytes at once.
                let run = bytes[i..]
                    .iter()
                    .position(|&b| needs(b))
                    .map_or(bytes.len(), |p| i + p);
                out.push_str(&s[i..run]);
                i = run;
            }
        }
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_ncname("stream"));
        assert!(check_ncname("a-b.c_d9"));
        assert!(check_ncname("ñame"));
        assert!(!check_ncname("9a"));
        assert!(!check_ncname("a:b"));
        assert!(!check_ncname(""));
        assert!(!check_ncname("-a"));
    }

    #[test]
    fn references() {
        assert_eq!(unescape("a&lt;b&#65;&#x42;", false).unwrap(), "a<bAB");
        assert_eq!(unescape("plain", false).unwrap(), "plain");
        assert!(matches!(
            unescape("plain", false).unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(unescape("a\r\nb\rc", false).unwrap(), "a\nb\nc");
        assert_eq!(unescape("a\r\nb\tc\nd", true).unwrap(), "a b c d");
        assert_eq!(unescape("&#9;", true).unwrap(), "\t");
        assert!(matches!(
            unescape("&#0;", false),
            Err((0, ErrorKind::IllegalChar(0)))
        ));
        assert!(matches!(
            unescape("x&#xD800;", false),
            Err((1, ErrorKind::IllegalChar(0xD800)))
        ));
        assert!(matches!(
            unescape("&foo;", false),
            Err((
                0,
                ErrorKind::RestrictedXml(crate::error::Restricted::EntityReference)
            ))
        ));
        assert!(matches!(
            unescape("&;", false),
            Err((0, ErrorKind::InvalidReference))
        ));
        assert!(matches!(
            unescape("&amp", false),
            Err((0, ErrorKind::InvalidReference))
        ));
        assert!(matches!(
            unescape("&#x;", false),
            Err((0, ErrorKind::InvalidReference))
        ));
        assert!(matches!(
            unescape("&#99999999999;", false),
            Err((0, ErrorKind::InvalidReference))
        ));
    }

    #[test]
    fn text_scan() {
        assert!(scan_text(b"hello", Mode::Text).is_ok());
        assert!(scan_text(b"a&b", Mode::Text).unwrap().amp);
        assert!(scan_text(b"a\rb", Mode::Text).unwrap().cr);
        assert!(matches!(
            scan_text(b"a]]>b", Mode::Text),
            Err((1, ErrorKind::CdataEndInText))
        ));
        assert!(scan_text(b"a]]>b", Mode::Cdata).is_ok());
        assert!(scan_text(b"a]]>b", Mode::Attr).is_ok());
        assert!(matches!(
            scan_text(b"a<b", Mode::Attr),
            Err((1, ErrorKind::LtInAttribute))
        ));
        assert!(matches!(
            scan_text(b"a\x01", Mode::Text),
            Err((1, ErrorKind::IllegalChar(1)))
        ));
        assert!(matches!(
            scan_text("\u{FFFE}".as_bytes(), Mode::Text),
            Err((0, ErrorKind::IllegalChar(0xFFFE)))
        ));
        assert!(scan_text("\u{FFFD}".as_bytes(), Mode::Cdata).is_ok());
    }
}
