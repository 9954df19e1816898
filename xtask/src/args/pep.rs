//! Options of `cargo xtask bench-pep`.

use std::time::Duration;

use super::{Arg, Parser, parse_count, parse_duration, parse_servers};
use crate::util::Result;

/// Options of `cargo xtask bench-pep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PepOptions {
    /// Contacts of the publisher, online with `+notify` caps.
    pub(crate) contacts: usize,
    /// Items the publisher publishes, one at a time.
    pub(crate) items: usize,
    /// Distinct disco#info sets (and caps `ver`s) among the contacts: 1
    /// is one client software for all, `contacts` one each.
    pub(crate) caps_variants: usize,
    /// Bytes of text in each item's payload.
    pub(crate) payload_bytes: usize,
    /// How long to wait for the last notification of an item before
    /// publishing the next one.
    pub(crate) item_timeout: Duration,
    /// Logins started per second.
    pub(crate) login_rate: u32,
    /// The servers to measure (`starling`, `prosody`), in the order given.
    pub(crate) servers: Vec<String>,
    /// Do not build anything (use the binaries already built).
    pub(crate) no_build: bool,
}

impl Default for PepOptions {
    fn default() -> Self {
        PepOptions {
            contacts: 500,
            items: 200,
            caps_variants: 1,
            payload_bytes: 100,
            item_timeout: Duration::from_secs(10),
            login_rate: 200,
            servers: vec!["starling".to_owned(), "prosody".to_owned()],
            no_build: false,
        }
    }
}

/// The servers `cargo xtask bench-pep` knows.
const PEP_SERVERS: [&str; 2] = ["starling", "prosody"];

/// The largest payload an item may be given, in bytes.
const MAX_PAYLOAD: usize = 64 * 1024;

/// Parses the arguments of `cargo xtask bench-pep`.
pub(super) fn parse_pep(mut parser: Parser<impl Iterator<Item = String>>) -> Result<PepOptions> {
    let mut options = PepOptions::default();
    while let Some(arg) = parser.next_arg()? {
        match arg {
            Arg::Option(name, inline) => {
                if name == "--no-build" {
                    parser.flag(&name, inline)?;
                    options.no_build = true;
                    continue;
                }
                let value = parser.value(&name, inline)?;
                match name.as_str() {
                    "--contacts" | "-n" => options.contacts = parse_count(&name, &value)?,
                    "--items" | "-k" => options.items = parse_count(&name, &value)?,
                    "--caps-variants" => options.caps_variants = parse_count(&name, &value)?,
                    "--payload-bytes" => options.payload_bytes = parse_count(&name, &value)?,
                    "--item-timeout" => options.item_timeout = parse_duration(&name, &value)?,
                    "--login-rate" => {
                        options.login_rate = u32::try_from(parse_count(&name, &value)?)
                            .map_err(|_| format!("{name}: `{value}` is too large"))?;
                    }
                    "--servers" => {
                        options.servers = parse_servers(&name, &value, &PEP_SERVERS)?;
                    }
                    _ => return Err(parser.unknown(&name)),
                }
            }
            Arg::Positional(value) => bail!("`bench-pep` takes no argument `{value}`"),
            Arg::Rest(_) => bail!("`bench-pep` takes no arguments after `--`"),
        }
    }
    if options.caps_variants > options.contacts {
        bail!(
            "--caps-variants: at most one per contact ({})",
            options.contacts
        );
    }
    if options.payload_bytes > MAX_PAYLOAD {
        bail!("--payload-bytes: at most {MAX_PAYLOAD}");
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::super::{Command, parse};
    use super::*;

    fn parse_str(line: &str) -> Result<Command> {
        parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn defaults_and_options() {
        assert_eq!(
            parse_str("bench-pep").unwrap(),
            Command::BenchPep(PepOptions::default())
        );
        let Command::BenchPep(options) = parse_str(
            "bench-pep --contacts 50 --items=20 --caps-variants 50 --payload-bytes 10 \
             --item-timeout 2.5 --login-rate 100 --servers prosody --no-build",
        )
        .unwrap() else {
            panic!("not bench-pep");
        };
        assert_eq!(
            options,
            PepOptions {
                contacts: 50,
                items: 20,
                caps_variants: 50,
                payload_bytes: 10,
                item_timeout: Duration::from_millis(2500),
                login_rate: 100,
                servers: vec!["prosody".to_owned()],
                no_build: true,
            }
        );
    }

    #[test]
    fn rejects_bad_input() {
        for line in [
            "bench-pep --contacts 0",
            "bench-pep --items many",
            "bench-pep --contacts 10 --caps-variants 11",
            "bench-pep --payload-bytes 1000000",
            "bench-pep --servers baseline",
            "bench-pep --servers ejabberd",
            "bench-pep --servers ,",
            "bench-pep --no-build=yes",
            "bench-pep --item-timeout -1",
            "bench-pep extra",
            "bench-pep --frobnicate 1",
        ] {
            assert!(parse_str(line).is_err(), "{line}");
        }
    }
}
