//! XEP-0106 JID escaping of localparts.
//!
//! The escape sequences are `\20 \22 \26 \27 \2f \3a \3c \3e \40 \5c` (lower
//! case only) for space `" & ' / : < > @ \`. A backslash is escaped only
//! where it starts one of these sequences, so that strings with other
//! backslashes are left alone (XEP-0106 §4 "Business Rules": partial and
//! unknown sequences are ignored).

use std::borrow::Cow;

use crate::error::JidError;

/// The characters XEP-0106 escapes, with their sequences.
const ESCAPES: [(char, &str); 10] = [
    (' ', "20"),
    ('"', "22"),
    ('&', "26"),
    ('\'', "27"),
    ('/', "2f"),
    (':', "3a"),
    ('<', "3c"),
    ('>', "3e"),
    ('@', "40"),
    ('\\', "5c"),
];

/// If `s` starts with the two hex digits of an escape sequence, the
/// character it stands for.
fn sequence_at(s: &str) -> Option<char> {
    let code = s.get(..2)?;
    ESCAPES.iter().find(|(_, e)| *e == code).map(|(c, _)| *c)
}

/// Escapes a localpart as XEP-0106 describes, for example when a user or a
/// gateway supplies `d'artagnan`.
///
/// Fails if `unescaped` is empty, or begins or ends with a space (the
/// sequence `\20` must not be the first or last of an escaped localpart).
/// The result still has to pass localpart preparation; see
/// [`NodePart::from_unescaped`](crate::NodePart::from_unescaped).
///
/// ```
/// use starling_jid::escape_node;
///
/// assert_eq!(escape_node("space cadet")?, "space\\20cadet");
/// assert_eq!(escape_node("c:\\5commas")?, "c\\3a\\5c5commas");
/// assert_eq!(escape_node("foo\\bar")?, "foo\\bar"); // not a sequence
/// assert!(escape_node(" leading").is_err());
/// # Ok::<(), starling_jid::JidError>(())
/// ```
pub fn escape_node(unescaped: &str) -> Result<Cow<'_, str>, JidError> {
    if unescaped.is_empty() {
        return Err(JidError::EmptyLocalpart);
    }
    if unescaped.starts_with(' ') || unescaped.ends_with(' ') {
        return Err(JidError::EscapedSpaceAtEdge);
    }
    let needs = |i: usize, c: char| match c {
        '\\' => sequence_at(&unescaped[i + 1..]).is_some(),
        _ => c != '\\' && ESCAPES.iter().any(|(e, _)| *e == c),
    };
    let Some(first) = unescaped.char_indices().position(|(i, c)| needs(i, c)) else {
        return Ok(Cow::Borrowed(unescaped));
    };
    let mut out = String::with_capacity(unescaped.len() + 8);
    for (n, (i, c)) in unescaped.char_indices().enumerate() {
        if n >= first && needs(i, c) {
            out.push('\\');
            out.push_str(ESCAPES.iter().find(|(e, _)| *e == c).map_or("", |(_, s)| s));
        } else {
            out.push(c);
        }
    }
    Ok(Cow::Owned(out))
}

/// Undoes XEP-0106 escaping of a localpart, for display or for gateways.
///
/// Only the ten defined sequences are replaced; `\20` is left alone at the
/// very start or end, where XEP-0106 says it cannot stand for an escaped
/// space.
///
/// ```
/// use starling_jid::unescape_node;
///
/// assert_eq!(unescape_node("d\\27artagnan"), "d'artagnan");
/// assert_eq!(unescape_node("c\\3a\\5c5commas"), "c:\\5commas");
/// assert_eq!(unescape_node("foob\\41r"), "foob\\41r");
/// assert_eq!(unescape_node("\\20callme"), "\\20callme");
/// ```
pub fn unescape_node(escaped: &str) -> Cow<'_, str> {
    if !escaped.contains('\\') {
        return Cow::Borrowed(escaped);
    }
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    let mut changed = false;
    while let Some(pos) = rest.find('\\') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let absolute = escaped.len() - rest.len() + pos;
        let at_edge = absolute == 0 || absolute + 3 == escaped.len();
        match sequence_at(after) {
            Some(' ') if at_edge => {
                out.push('\\');
                rest = after;
            }
            Some(c) => {
                out.push(c);
                rest = &after[2..];
                changed = true;
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(escaped)
    }
}
