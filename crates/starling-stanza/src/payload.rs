//! Typed payloads: the trait and the payloads the core needs.

use starling_jid::{BareJid, FullJid, Jid};
use starling_xml::{Element, names::XML_NS};

use crate::error::ParseError;
use crate::ns;

/// A typed stanza payload: an element with a fixed name and namespace.
///
/// Implement it for your own extensions to use them with
/// [`Iq::get`](crate::Iq::get), [`Iq::payload_as`](crate::Iq::payload_as)
/// and [`Message::payload`](crate::Message::payload).
///
/// ```
/// use starling_stanza::{Iq, ParseError, Payload};
/// use starling_xml::Element;
///
/// struct Time;
/// impl Payload for Time {
///     const NAME: &'static str = "time";
///     const NS: &'static str = "urn:xmpp:time";
///     fn from_element(_el: &Element) -> Result<Self, ParseError> {
///         Ok(Time)
///     }
///     fn to_element(&self) -> Element {
///         Element::new(Self::NAME, Self::NS)
///     }
/// }
/// let iq = Iq::get("t1", Time);
/// assert!(iq.payload_as::<Time>().unwrap().is_ok());
/// ```
pub trait Payload: Sized {
    /// Element name.
    const NAME: &'static str;
    /// Namespace.
    const NS: &'static str;
    /// Reads the payload from its element (name and namespace already match).
    fn from_element(el: &Element) -> Result<Self, ParseError>;
    /// The payload's element.
    fn to_element(&self) -> Element;
}

fn child_text(el: &Element, name: &str) -> Option<String> {
    el.get_child(name, el.ns()).map(Element::text)
}

fn text_el(name: &str, ns: &str, text: &str) -> Element {
    let mut e = Element::new(name, ns);
    e.append_text(text);
    e
}

/// Resource binding (RFC 6120 §7): the request names a resource (or
/// not); the result carries the bound full JID.
///
/// ```
/// use starling_stanza::{Bind, Payload};
///
/// let req = Bind::request(Some("balcony".into()));
/// assert_eq!(Bind::from_element(&req.to_element()).unwrap(), req);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Bind {
    /// The requested resource.
    pub resource: Option<String>,
    /// The bound full JID (in the result).
    pub jid: Option<FullJid>,
}

impl Bind {
    /// A request.
    pub fn request(resource: Option<String>) -> Self {
        Bind {
            resource,
            jid: None,
        }
    }

    /// A result.
    pub fn result(jid: FullJid) -> Self {
        Bind {
            resource: None,
            jid: Some(jid),
        }
    }
}

impl Payload for Bind {
    const NAME: &'static str = "bind";
    const NS: &'static str = ns::BIND;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        let resource = child_text(el, "resource");
        if resource.as_deref().is_some_and(str::is_empty) {
            return Err(ParseError::bad_request("empty <resource/>"));
        }
        let jid = match child_text(el, "jid") {
            None => None,
            Some(s) => Some(
                s.trim()
                    .parse::<FullJid>()
                    .map_err(|e| ParseError::jid_malformed("jid", e))?,
            ),
        };
        Ok(Bind { resource, jid })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        if let Some(r) = &self.resource {
            el.append_child(text_el("resource", Self::NS, r));
        }
        if let Some(j) = &self.jid {
            el.append_child(text_el("jid", Self::NS, j.as_ref()));
        }
        el
    }
}

/// Legacy session establishment (RFC 3921 §3; accepted as a no-op).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Session;

impl Payload for Session {
    const NAME: &'static str = "session";
    const NS: &'static str = ns::SESSION;
    fn from_element(_: &Element) -> Result<Self, ParseError> {
        Ok(Session)
    }
    fn to_element(&self) -> Element {
        Element::new(Self::NAME, Self::NS)
    }
}

/// XMPP Ping (XEP-0199).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Ping;

impl Payload for Ping {
    const NAME: &'static str = "ping";
    const NS: &'static str = ns::PING;
    fn from_element(_: &Element) -> Result<Self, ParseError> {
        Ok(Ping)
    }
    fn to_element(&self) -> Element {
        Element::new(Self::NAME, Self::NS)
    }
}

/// Roster item subscription state (RFC 6121 §2.1.2.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Subscription {
    /// Neither subscribes to the other.
    #[default]
    None,
    /// The user subscribes to the contact's presence.
    To,
    /// The contact subscribes to the user's presence.
    From,
    /// Both.
    Both,
    /// In a roster set: remove the item.
    Remove,
}

impl Subscription {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
            Subscription::Remove => "remove",
        }
    }

    fn parse(s: &str) -> Result<Self, ParseError> {
        Ok(match s {
            "none" => Subscription::None,
            "to" => Subscription::To,
            "from" => Subscription::From,
            "both" => Subscription::Both,
            "remove" => Subscription::Remove,
            _ => {
                return Err(ParseError::bad_request(format!(
                    "unknown subscription {s:?}"
                )));
            }
        })
    }
}

/// A roster item (RFC 6121 §2.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RosterItem {
    /// The contact (a bare JID).
    pub jid: BareJid,
    /// The handle the user gave the contact.
    pub name: Option<String>,
    /// Subscription state.
    pub subscription: Subscription,
    /// A subscription request to the contact is pending (`ask='subscribe'`).
    pub ask: bool,
    /// Pre-approved (RFC 6121 §3.4).
    pub approved: bool,
    /// Groups, each at most once.
    pub groups: Vec<String>,
}

impl RosterItem {
    /// An item with only a JID.
    pub fn new(jid: BareJid) -> Self {
        RosterItem {
            jid,
            name: None,
            subscription: Subscription::None,
            ask: false,
            approved: false,
            groups: Vec::new(),
        }
    }
}

/// A roster query: a get (no items), a set (one item), a result or a push
/// (RFC 6121 §2).
///
/// ```
/// use starling_stanza::{Payload, Roster, RosterItem};
///
/// let r: starling_xml::Element = "<query xmlns='jabber:iq:roster' ver='v2'>\
///     <item jid='nurse@example.com' name='Nurse' subscription='both'><group>Servants</group></item>\
///     </query>".parse().unwrap();
/// let roster = Roster::from_element(&r).unwrap();
/// assert_eq!(roster.ver.as_deref(), Some("v2"));
/// assert_eq!(roster.items[0].groups, ["Servants"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Roster {
    /// Roster version (RFC 6121 §2.6).
    pub ver: Option<String>,
    /// Items.
    pub items: Vec<RosterItem>,
}

impl Payload for Roster {
    const NAME: &'static str = "query";
    const NS: &'static str = ns::ROSTER;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        let mut items = Vec::new();
        for i in el.children().filter(|c| c.is("item", ns::ROSTER)) {
            let jid = i
                .attr("jid")
                .ok_or_else(|| ParseError::bad_request("roster item without 'jid'"))?;
            let jid: BareJid = jid
                .parse()
                .map_err(|e| ParseError::jid_malformed("jid", e))?;
            let subscription = match i.attr("subscription") {
                None => Subscription::None,
                Some(s) => Subscription::parse(s)?,
            };
            let ask = match i.attr("ask") {
                None => false,
                Some("subscribe") => true,
                Some(a) => return Err(ParseError::bad_request(format!("unknown ask value {a:?}"))),
            };
            let approved = matches!(i.attr("approved"), Some("true" | "1"));
            let mut groups: Vec<String> = Vec::new();
            for g in i.children().filter(|c| c.is("group", ns::ROSTER)) {
                let name = g.text();
                if name.is_empty() {
                    // RFC 6121 §2.1.2.4: a group name must not be empty.
                    return Err(ParseError::new(
                        crate::Condition::NotAcceptable,
                        "empty roster group name",
                    ));
                }
                if groups.contains(&name) {
                    return Err(ParseError::bad_request("duplicate roster group"));
                }
                groups.push(name);
            }
            items.push(RosterItem {
                jid,
                name: i.attr("name").map(str::to_owned),
                subscription,
                ask,
                approved,
                groups,
            });
        }
        Ok(Roster {
            ver: el.attr("ver").map(str::to_owned),
            items,
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        if let Some(v) = &self.ver {
            el.set_attr("ver", Some(v));
        }
        for i in &self.items {
            let mut e = Element::new("item", Self::NS);
            e.set_attr("jid", Some(i.jid.as_ref()));
            if let Some(n) = &i.name {
                e.set_attr("name", Some(n));
            }
            e.set_attr("subscription", Some(i.subscription.as_str()));
            if i.ask {
                e.set_attr("ask", Some("subscribe"));
            }
            if i.approved {
                e.set_attr("approved", Some("true"));
            }
            for g in &i.groups {
                e.append_child(text_el("group", Self::NS, g));
            }
            el.append_child(e);
        }
        el
    }
}

/// Software Version (XEP-0092): empty in a get, filled in a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Version {
    /// Software name.
    pub name: Option<String>,
    /// Software version.
    pub version: Option<String>,
    /// Operating system.
    pub os: Option<String>,
}

impl Payload for Version {
    const NAME: &'static str = "query";
    const NS: &'static str = ns::VERSION;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        Ok(Version {
            name: child_text(el, "name"),
            version: child_text(el, "version"),
            os: child_text(el, "os"),
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        for (n, v) in [
            ("name", &self.name),
            ("version", &self.version),
            ("os", &self.os),
        ] {
            if let Some(v) = v {
                el.append_child(text_el(n, Self::NS, v));
            }
        }
        el
    }
}

/// A disco#info identity (XEP-0030 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    /// Category (`server`, `client`, `account`, …).
    pub category: String,
    /// Type within the category (`im`, `pc`, `registered`, …).
    pub identity_type: String,
    /// Human-readable name.
    pub name: Option<String>,
    /// Language of the name.
    pub lang: Option<String>,
}

/// Service Discovery information (XEP-0030 §3).
///
/// ```
/// use starling_stanza::{DiscoInfo, Identity, Payload};
///
/// let info = DiscoInfo {
///     identities: vec![Identity { category: "server".into(), identity_type: "im".into(), name: None, lang: None }],
///     features: vec!["urn:xmpp:ping".into()],
///     ..DiscoInfo::default()
/// };
/// assert_eq!(DiscoInfo::from_element(&info.to_element()).unwrap(), info);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DiscoInfo {
    /// The node queried.
    pub node: Option<String>,
    /// Identities.
    pub identities: Vec<Identity>,
    /// Feature namespaces.
    pub features: Vec<String>,
    /// Extensions (data forms, XEP-0128), unchanged.
    pub extensions: Vec<Element>,
}

impl Payload for DiscoInfo {
    const NAME: &'static str = "query";
    const NS: &'static str = ns::DISCO_INFO;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        let mut info = DiscoInfo {
            node: el.attr("node").map(str::to_owned),
            ..DiscoInfo::default()
        };
        for c in el.children() {
            if c.is("identity", ns::DISCO_INFO) {
                let (Some(category), Some(t)) = (c.attr("category"), c.attr("type")) else {
                    return Err(ParseError::bad_request("identity without category or type"));
                };
                info.identities.push(Identity {
                    category: category.to_owned(),
                    identity_type: t.to_owned(),
                    name: c.attr("name").map(str::to_owned),
                    lang: c.lang().map(str::to_owned),
                });
            } else if c.is("feature", ns::DISCO_INFO) {
                let var = c
                    .attr("var")
                    .ok_or_else(|| ParseError::bad_request("feature without var"))?;
                info.features.push(var.to_owned());
            } else {
                info.extensions.push(c.clone());
            }
        }
        Ok(info)
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        if let Some(n) = &self.node {
            el.set_attr("node", Some(n));
        }
        for i in &self.identities {
            let mut e = Element::new("identity", Self::NS);
            e.set_attr("category", Some(&i.category));
            e.set_attr("type", Some(&i.identity_type));
            if let Some(n) = &i.name {
                e.set_attr("name", Some(n));
            }
            if let Some(l) = &i.lang {
                e.set_attr_ns(XML_NS, "lang", Some(l));
            }
            el.append_child(e);
        }
        for f in &self.features {
            let mut e = Element::new("feature", Self::NS);
            e.set_attr("var", Some(f));
            el.append_child(e);
        }
        for x in &self.extensions {
            el.append_child(x.clone());
        }
        el
    }
}

/// A disco#items item (XEP-0030 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiscoItem {
    /// The item's address.
    pub jid: Jid,
    /// The item's node.
    pub node: Option<String>,
    /// Human-readable name.
    pub name: Option<String>,
}

/// Service Discovery items (XEP-0030 §4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DiscoItems {
    /// The node queried.
    pub node: Option<String>,
    /// Items.
    pub items: Vec<DiscoItem>,
}

impl Payload for DiscoItems {
    const NAME: &'static str = "query";
    const NS: &'static str = ns::DISCO_ITEMS;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        let mut items = Vec::new();
        for c in el.children().filter(|c| c.is("item", ns::DISCO_ITEMS)) {
            let jid = c
                .attr("jid")
                .ok_or_else(|| ParseError::bad_request("item without jid"))?;
            items.push(DiscoItem {
                jid: jid
                    .parse()
                    .map_err(|e| ParseError::jid_malformed("jid", e))?,
                node: c.attr("node").map(str::to_owned),
                name: c.attr("name").map(str::to_owned),
            });
        }
        Ok(DiscoItems {
            node: el.attr("node").map(str::to_owned),
            items,
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        if let Some(n) = &self.node {
            el.set_attr("node", Some(n));
        }
        for i in &self.items {
            let mut e = Element::new("item", Self::NS);
            e.set_attr("jid", Some(i.jid.as_ref()));
            if let Some(n) = &i.node {
                e.set_attr("node", Some(n));
            }
            if let Some(n) = &i.name {
                e.set_attr("name", Some(n));
            }
            el.append_child(e);
        }
        el
    }
}

/// Delayed Delivery (XEP-0203): when a stanza was originally sent.
///
/// ```
/// use starling_stanza::{Delay, Payload};
///
/// let d = Delay::from_unix(1_002_387_600, None, Some("Offline Storage".into()));
/// assert_eq!(d.stamp, "2001-10-06T17:00:00Z");
/// assert_eq!(Delay::from_element(&d.to_element()).unwrap(), d);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Delay {
    /// The original time, an XEP-0082 DateTime in UTC.
    pub stamp: String,
    /// The entity that delayed the stanza.
    pub from: Option<Jid>,
    /// Why.
    pub reason: Option<String>,
}

impl Delay {
    /// A delay stamped with a Unix time (seconds).
    pub fn from_unix(secs: i64, from: Option<Jid>, reason: Option<String>) -> Self {
        Delay {
            stamp: format_datetime(secs),
            from,
            reason,
        }
    }

    /// The stamp as Unix seconds.
    pub fn unix(&self) -> Option<i64> {
        parse_datetime(&self.stamp)
    }
}

impl Payload for Delay {
    const NAME: &'static str = "delay";
    const NS: &'static str = ns::DELAY;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        let stamp = el
            .attr("stamp")
            .ok_or_else(|| ParseError::bad_request("delay without stamp"))?;
        if parse_datetime(stamp).is_none() {
            return Err(ParseError::bad_request(format!(
                "{stamp:?} is not an XEP-0082 DateTime"
            )));
        }
        let from = match el.attr("from") {
            None => None,
            Some(f) => Some(
                f.parse()
                    .map_err(|e| ParseError::jid_malformed("from", e))?,
            ),
        };
        let text = el.text();
        Ok(Delay {
            stamp: stamp.to_owned(),
            from,
            reason: (!text.is_empty()).then_some(text),
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        if let Some(f) = &self.from {
            el.set_attr("from", Some(f.as_ref()));
        }
        el.set_attr("stamp", Some(&self.stamp));
        if let Some(r) = &self.reason {
            el.append_text(r.as_str());
        }
        el
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Formats Unix seconds as an XEP-0082 DateTime in UTC.
pub fn format_datetime(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses an XEP-0082 DateTime (`CCYY-MM-DDThh:mm:ss[.sss]TZD`) to Unix
/// seconds.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i)? {
        b'Z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes() {
        assert_eq!(format_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_datetime("2002-09-10T23:08:25Z"), Some(1_031_699_305));
        assert_eq!(
            parse_datetime("2002-09-10T23:08:25.123Z"),
            Some(1_031_699_305)
        );
        assert_eq!(
            parse_datetime("2002-09-11T01:08:25+02:00"),
            Some(1_031_699_305)
        );
        assert_eq!(
            parse_datetime("2002-09-10T18:08:25-05:00"),
            Some(1_031_699_305)
        );
        assert_eq!(parse_datetime("2002-09-10 23:08:25Z"), None);
        assert_eq!(parse_datetime("2002-13-10T23:08:25Z"), None);
        assert_eq!(parse_datetime("2002-09-10T23:08:25"), None);
        assert_eq!(parse_datetime("2002-09-10T23:08:25.Z"), None);
        for secs in [0, 951_782_400, 1_700_000_000, -86_400, 4_102_444_800] {
            assert_eq!(parse_datetime(&format_datetime(secs)), Some(secs));
        }
    }
}
