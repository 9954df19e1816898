//! The grammar of tags and of the XML declaration, written with `nom`.
//!
//! These parsers run over one complete tag (from `<` to `>`) that the
//! tokenizer has already cut out of the input and validated as UTF-8, so they
//! are "complete" parsers: they never ask for more input.

use nom::{
    IResult, Offset, Parser,
    bytes::complete::{tag, take_while1},
    character::complete::char,
    combinator::opt,
    sequence::{delimited, preceded},
};

type Res<'a, T> = IResult<&'a str, T>;

/// One attribute as written: name and raw (unnormalised) value, as byte
/// ranges of the tag.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawAttr {
    pub(crate) name: (u32, u32),
    pub(crate) value: (u32, u32),
}

/// What [`start_tag`] found.
pub(crate) struct RawStart<'a> {
    pub(crate) name: &'a str,
    pub(crate) empty: bool,
}

/// Bytes that may stand in a name: ASCII name characters and `:`, and every
/// byte of a non-ASCII character (those are checked precisely afterwards,
/// by `check_ncname`, only for names that have them).
static NAME_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || b == b'_'
            || b == b'-'
            || b == b'.'
            || b == b':'
            || b >= 0x80;
        i += 1;
    }
    t
};

/// Splits `i` after its first `n` bytes (a character boundary).
fn split(i: &str, n: usize) -> (&str, &str) {
    (&i[n..], &i[..n])
}

/// XML white space, possibly empty.
fn ws0(i: &str) -> Res<'_, &str> {
    let n = i
        .bytes()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .count();
    Ok(split(i, n))
}

/// A qualified name as written; its structure (`prefix:local`, both NCNames,
/// and the exact classes of non-ASCII characters) is checked by the caller.
/// Scanned byte by byte: a non-ASCII character is taken whole, since all
/// its bytes are name bytes, so the split falls on a character boundary.
fn qname(i: &str) -> Res<'_, &str> {
    let n = i.bytes().take_while(|&b| NAME_BYTE[b as usize]).count();
    if n == 0 {
        return Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::TakeWhile1,
        )));
    }
    Ok(split(i, n))
}

/// One ASCII byte `c`.
fn byte(c: u8) -> impl Fn(&str) -> Res<'_, u8> {
    move |i: &str| match i.as_bytes().first() {
        Some(&b) if b == c => Ok((&i[1..], b)),
        _ => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Char,
        ))),
    }
}

/// `Eq ::= S? '=' S?`
fn eq(i: &str) -> Res<'_, u8> {
    delimited(ws0, byte(b'='), ws0).parse(i)
}

/// A quoted value, either quote, without the quotes.
fn quoted(i: &str) -> Res<'_, &str> {
    let (i, q) = nom::branch::alt((byte(b'"'), byte(b'\''))).parse(i)?;
    // `q` is ASCII, so where memchr finds it is a character boundary.
    let Some(n) = memchr::memchr(q, i.as_bytes()) else {
        return Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Char,
        )));
    };
    let (rest, v) = split(i, n);
    Ok((&rest[1..], v))
}

/// An attribute: name, `=`, quoted value.
fn attribute(i: &str) -> Res<'_, (&str, &str)> {
    let (i, name) = qname(i)?;
    let (i, _) = eq(i)?;
    let (i, value) = quoted(i)?;
    Ok((i, (name, value)))
}

fn range(whole: &str, part: &str) -> (u32, u32) {
    let start = whole.offset(part);
    // Tags are bounded by `Limits::max_element_bytes`, far below u32::MAX;
    // saturate rather than wrap in case a caller configured more.
    let s = u32::try_from(start).unwrap_or(u32::MAX);
    let e = u32::try_from(start + part.len()).unwrap_or(u32::MAX);
    (s, e)
}

/// Why a tag did not parse: a message and the offset in the tag.
pub(crate) struct TagError {
    pub(crate) what: &'static str,
    pub(crate) at: usize,
    pub(crate) too_many_attributes: bool,
}

fn fail(whole: &str, rest: &str, what: &'static str) -> TagError {
    TagError {
        what,
        at: whole.offset(rest),
        too_many_attributes: false,
    }
}

/// Parses a start tag `<qname (S attr)* S? /?>`, pushing the attributes into
/// `attrs` (cleared first) and refusing more than `max_attrs` of them.
pub(crate) fn start_tag<'a>(
    t: &'a str,
    attrs: &mut Vec<RawAttr>,
    max_attrs: usize,
) -> Result<RawStart<'a>, TagError> {
    attrs.clear();
    let (mut rest, name) = preceded(char('<'), qname)
        .parse(t)
        .map_err(|_| fail(t, &t[1.min(t.len())..], "expected an element name"))?;
    loop {
        let (r, space) = ws0(rest).map_err(|_| fail(t, rest, "unexpected input"))?;
        if r == ">" {
            return Ok(RawStart { name, empty: false });
        }
        if r == "/>" {
            return Ok(RawStart { name, empty: true });
        }
        if space.is_empty() {
            return Err(fail(t, r, "expected white space, '>' or '/>'"));
        }
        let (r2, (an, av)) = attribute(r).map_err(|_| fail(t, r, "malformed attribute"))?;
        if attrs.len() == max_attrs {
            return Err(TagError {
                what: "too many attributes",
                at: t.offset(r),
                too_many_attributes: true,
            });
        }
        attrs.push(RawAttr {
            name: range(t, an),
            value: range(t, av),
        });
        rest = r2;
    }
}

/// Parses an end tag `</qname S?>` and returns the name.
pub(crate) fn end_tag(t: &str) -> Result<&str, TagError> {
    let (r, name) = preceded(tag("</"), qname)
        .parse(t)
        .map_err(|_| fail(t, t, "expected an element name"))?;
    let (r, _) = ws0(r).map_err(|_| fail(t, r, "unexpected input"))?;
    if r != ">" {
        return Err(fail(t, r, "expected '>' to end the end tag"));
    }
    Ok(name)
}

/// The pseudo-attributes of an XML declaration.
pub(crate) struct RawDecl<'a> {
    pub(crate) version: &'a str,
    pub(crate) encoding: Option<&'a str>,
    pub(crate) standalone: Option<&'a str>,
}

/// Parses `<?xml version=… (encoding=…)? (standalone=…)? S? ?>`.
pub(crate) fn xml_decl(t: &str) -> Option<RawDecl<'_>> {
    fn pseudo<'a>(
        name: &'static str,
    ) -> impl Parser<&'a str, Output = &'a str, Error = nom::error::Error<&'a str>> {
        preceded(
            (
                take_while1(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r')),
                tag(name),
                eq,
            ),
            quoted,
        )
    }
    let (r, _) = tag::<_, _, nom::error::Error<&str>>("<?xml")
        .parse(t)
        .ok()?;
    let (r, version) = pseudo("version").parse(r).ok()?;
    let (r, encoding) = opt(pseudo("encoding")).parse(r).ok()?;
    let (r, standalone) = opt(pseudo("standalone")).parse(r).ok()?;
    let (r, _) = ws0(r).ok()?;
    (r == "?>").then_some(RawDecl {
        version,
        encoding,
        standalone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_tags() {
        let mut attrs = Vec::new();
        let t = "<a:b x='1'  y = \"2\"/>";
        let s = start_tag(t, &mut attrs, 10).ok().unwrap();
        assert_eq!(s.name, "a:b");
        assert!(s.empty);
        assert_eq!(attrs.len(), 2);
        let a = attrs[1];
        assert_eq!(&t[a.name.0 as usize..a.name.1 as usize], "y");
        assert_eq!(&t[a.value.0 as usize..a.value.1 as usize], "2");
        assert!(start_tag("<a x='1'y='2'>", &mut attrs, 10).is_err());
        assert!(start_tag("<a x>", &mut attrs, 10).is_err());
        assert!(start_tag("<a x='1>", &mut attrs, 10).is_err());
        assert!(start_tag("< a>", &mut attrs, 10).is_err());
        assert!(start_tag("<a / >", &mut attrs, 10).is_err());
        let e = start_tag("<a x='1' y='2'>", &mut attrs, 1).err().unwrap();
        assert!(e.too_many_attributes);
    }

    #[test]
    fn end_tags() {
        assert_eq!(end_tag("</a:b >").ok(), Some("a:b"));
        assert!(end_tag("</a x>").is_err());
        assert!(end_tag("</>").is_err());
    }

    #[test]
    fn declarations() {
        let d = xml_decl("<?xml version='1.0' encoding=\"UTF-8\" standalone='yes'?>").unwrap();
        assert_eq!(d.version, "1.0");
        assert_eq!(d.encoding, Some("UTF-8"));
        assert_eq!(d.standalone, Some("yes"));
        assert!(xml_decl("<?xml version='1.0'?>").is_some());
        assert!(xml_decl("<?xml encoding='UTF-8'?>").is_none());
        assert!(xml_decl("<?xml version='1.0'encoding='UTF-8'?>").is_none());
    }
}
