//! A node's effective configuration: every XEP-0060 option the service
//! supports with its value, PEP's defaults (XEP-0163 §4), the changes a
//! configuration form or publish-options may make, and the stored form.

use starling_stanza::{AccessModel, MaxItems, NodeConfig, PublishModel, SendLastPublished};

/// A configuration change the service refuses (`not-acceptable`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unsupported(pub(super) String);

/// A node's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Settings {
    pub(super) access: AccessModel,
    pub(super) publish_model: PublishModel,
    /// `None`: `max` (the service's limit).
    pub(super) max_items: Option<u32>,
    pub(super) persist: bool,
    pub(super) deliver_notifications: bool,
    pub(super) deliver_payloads: bool,
    pub(super) notify_retract: bool,
    pub(super) notify_delete: bool,
    pub(super) notify_config: bool,
    pub(super) send_last: SendLastPublished,
    pub(super) roster_groups: Vec<String>,
    pub(super) title: Option<String>,
    pub(super) payload_type: Option<String>,
}

impl Default for Settings {
    /// PEP's defaults (XEP-0163 §4): `presence` access, owner publishes,
    /// one item kept, last item on subscription and presence.
    fn default() -> Settings {
        Settings {
            access: AccessModel::Presence,
            publish_model: PublishModel::Publishers,
            max_items: Some(1),
            persist: true,
            deliver_notifications: true,
            deliver_payloads: true,
            notify_retract: true,
            notify_delete: true,
            notify_config: false,
            send_last: SendLastPublished::OnSubAndPresence,
            roster_groups: Vec::new(),
            title: None,
            payload_type: None,
        }
    }
}

fn access_str(a: AccessModel) -> &'static str {
    match a {
        AccessModel::Open => "open",
        AccessModel::Presence => "presence",
        AccessModel::Roster => "roster",
        AccessModel::Authorize => "authorize",
        AccessModel::Whitelist => "whitelist",
    }
}

fn publish_str(p: PublishModel) -> &'static str {
    match p {
        PublishModel::Publishers => "publishers",
        PublishModel::Subscribers => "subscribers",
        PublishModel::Open => "open",
    }
}

fn send_last_str(s: SendLastPublished) -> &'static str {
    match s {
        SendLastPublished::Never => "never",
        SendLastPublished::OnSub => "on_sub",
        SendLastPublished::OnSubAndPresence => "on_sub_and_presence",
    }
}

impl Settings {
    /// The number of items kept, with the service's cap.
    pub(super) fn kept(&self, cap: usize) -> usize {
        let wanted = self.max_items.map_or(cap, |n| n as usize);
        if self.persist { wanted.min(cap) } else { 1 }
    }

    /// Applies the options set in `c`.
    pub(super) fn apply(&mut self, c: &NodeConfig, cap: usize) -> Result<(), Unsupported> {
        if let Some(a) = c.access_model {
            if a == AccessModel::Authorize {
                return Err(Unsupported("access model 'authorize'".to_owned()));
            }
            self.access = a;
        }
        if let Some(p) = c.publish_model {
            self.publish_model = p;
        }
        match c.max_items {
            Some(MaxItems::Count(n)) if n as usize > cap => {
                return Err(Unsupported(format!("max_items above {cap}")));
            }
            Some(MaxItems::Count(0)) => return Err(Unsupported("max_items 0".to_owned())),
            Some(MaxItems::Count(n)) => self.max_items = Some(n),
            Some(MaxItems::Max) => self.max_items = None,
            None => {}
        }
        let flags = [
            (c.persist_items, &mut self.persist),
            (c.deliver_notifications, &mut self.deliver_notifications),
            (c.deliver_payloads, &mut self.deliver_payloads),
            (c.notify_retract, &mut self.notify_retract),
            (c.notify_delete, &mut self.notify_delete),
            (c.notify_config, &mut self.notify_config),
        ];
        for (v, slot) in flags {
            if let Some(v) = v {
                *slot = v;
            }
        }
        if let Some(s) = c.send_last_published_item {
            self.send_last = s;
        }
        if let Some(g) = &c.roster_groups_allowed {
            self.roster_groups.clone_from(g);
        }
        if let Some(t) = &c.title {
            self.title = Some(t.clone()).filter(|t| !t.is_empty());
        }
        if let Some(t) = &c.payload_type {
            self.payload_type = Some(t.clone()).filter(|t| !t.is_empty());
        }
        Ok(())
    }

    /// Every option, as a configuration.
    pub(super) fn to_config(&self) -> NodeConfig {
        NodeConfig {
            access_model: Some(self.access),
            publish_model: Some(self.publish_model),
            max_items: Some(self.max_items.map_or(MaxItems::Max, MaxItems::Count)),
            persist_items: Some(self.persist),
            deliver_notifications: Some(self.deliver_notifications),
            deliver_payloads: Some(self.deliver_payloads),
            notify_retract: Some(self.notify_retract),
            notify_delete: Some(self.notify_delete),
            notify_config: Some(self.notify_config),
            send_last_published_item: Some(self.send_last),
            roster_groups_allowed: Some(self.roster_groups.clone()),
            title: Some(self.title.clone().unwrap_or_default()),
            payload_type: Some(self.payload_type.clone().unwrap_or_default()),
            max_payload_size: None,
            other: Vec::new(),
        }
    }

    /// Whether publish-options preconditions hold (XEP-0060 §7.1.5): every
    /// option given equals this node's (`max_items` `max` equals the
    /// service's cap).
    pub(super) fn satisfies(&self, wanted: &NodeConfig, cap: usize) -> bool {
        let mut probe = self.clone();
        if probe.apply(wanted, cap).is_err() {
            return false;
        }
        let same_max = match (wanted.max_items, self.max_items) {
            (Some(MaxItems::Max), Some(n)) => n as usize == cap,
            (Some(MaxItems::Count(n)), None) => n as usize == cap,
            _ => true,
        };
        if same_max {
            probe.max_items = self.max_items;
        }
        probe == *self
    }

    /// The stored form: one `key=value` line each (values escaped).
    pub(super) fn encode(&self) -> String {
        let mut out = format!(
            "access={}\npublish={}\nmax_items={}\npersist={}\nnotifications={}\npayloads={}\n\
             notify_retract={}\nnotify_delete={}\nnotify_config={}\nsend_last={}\n",
            access_str(self.access),
            publish_str(self.publish_model),
            self.max_items.map_or("max".to_owned(), |n| n.to_string()),
            self.persist,
            self.deliver_notifications,
            self.deliver_payloads,
            self.notify_retract,
            self.notify_delete,
            self.notify_config,
            send_last_str(self.send_last),
        );
        for g in &self.roster_groups {
            out.push_str(&format!("group={}\n", escape(g)));
        }
        if let Some(t) = &self.title {
            out.push_str(&format!("title={}\n", escape(t)));
        }
        if let Some(t) = &self.payload_type {
            out.push_str(&format!("type={}\n", escape(t)));
        }
        out
    }

    /// Reads [`Settings::encode`]'s form; unknown or bad lines keep the
    /// defaults (the stored form comes from this module).
    pub(super) fn decode(s: &str) -> Settings {
        let mut st = Settings::default();
        for line in s.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let b = v == "true";
            match k {
                "access" => st.access = parse_access(v).unwrap_or(st.access),
                "publish" => st.publish_model = parse_publish(v).unwrap_or(st.publish_model),
                "max_items" => st.max_items = v.parse().ok(),
                "persist" => st.persist = b,
                "notifications" => st.deliver_notifications = b,
                "payloads" => st.deliver_payloads = b,
                "notify_retract" => st.notify_retract = b,
                "notify_delete" => st.notify_delete = b,
                "notify_config" => st.notify_config = b,
                "send_last" => st.send_last = parse_send_last(v).unwrap_or(st.send_last),
                "group" => st.roster_groups.push(unescape(v)),
                "title" => st.title = Some(unescape(v)),
                "type" => st.payload_type = Some(unescape(v)),
                _ => {}
            }
        }
        st
    }
}

fn parse_access(v: &str) -> Option<AccessModel> {
    [
        AccessModel::Open,
        AccessModel::Presence,
        AccessModel::Roster,
        AccessModel::Authorize,
        AccessModel::Whitelist,
    ]
    .into_iter()
    .find(|a| access_str(*a) == v)
}

fn parse_publish(v: &str) -> Option<PublishModel> {
    [
        PublishModel::Publishers,
        PublishModel::Subscribers,
        PublishModel::Open,
    ]
    .into_iter()
    .find(|p| publish_str(*p) == v)
}

fn parse_send_last(v: &str) -> Option<SendLastPublished> {
    [
        SendLastPublished::Never,
        SendLastPublished::OnSub,
        SendLastPublished::OnSubAndPresence,
    ]
    .into_iter()
    .find(|s| send_last_str(*s) == v)
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let mut s = Settings {
            access: AccessModel::Roster,
            max_items: None,
            roster_groups: vec!["Friends\nand = family\\".to_owned(), "Work".to_owned()],
            title: Some("My node".to_owned()),
            ..Settings::default()
        };
        assert_eq!(Settings::decode(&s.encode()), s);
        s.max_items = Some(17);
        s.deliver_payloads = false;
        s.send_last = SendLastPublished::Never;
        assert_eq!(Settings::decode(&s.encode()), s);
    }

    #[test]
    fn preconditions() {
        let node = Settings {
            access: AccessModel::Whitelist,
            max_items: None,
            ..Settings::default()
        };
        let wanted = |f: fn(&mut NodeConfig)| {
            let mut c = NodeConfig::default();
            f(&mut c);
            c
        };
        let table: &[(NodeConfig, bool)] = &[
            (NodeConfig::default(), true),
            (
                wanted(|c| c.access_model = Some(AccessModel::Whitelist)),
                true,
            ),
            (wanted(|c| c.access_model = Some(AccessModel::Open)), false),
            (wanted(|c| c.max_items = Some(MaxItems::Max)), true),
            (wanted(|c| c.max_items = Some(MaxItems::Count(256))), true),
            (wanted(|c| c.max_items = Some(MaxItems::Count(5))), false),
            (wanted(|c| c.persist_items = Some(true)), true),
            (wanted(|c| c.persist_items = Some(false)), false),
            (
                wanted(|c| c.send_last_published_item = Some(SendLastPublished::Never)),
                false,
            ),
        ];
        for (w, ok) in table {
            assert_eq!(node.satisfies(w, 256), *ok, "{w:?}");
        }
    }

    #[test]
    fn apply_refuses_what_the_service_does_not_do() {
        let mut s = Settings::default();
        let c = NodeConfig {
            access_model: Some(AccessModel::Authorize),
            ..NodeConfig::default()
        };
        assert!(s.apply(&c, 10).is_err());
        let c = NodeConfig {
            max_items: Some(MaxItems::Count(11)),
            ..NodeConfig::default()
        };
        assert!(s.apply(&c, 10).is_err());
        assert_eq!(s, Settings::default());
        let c = NodeConfig {
            max_items: Some(MaxItems::Count(10)),
            ..NodeConfig::default()
        };
        s.apply(&c, 10).unwrap();
        assert_eq!(s.kept(10), 10);
    }
}
