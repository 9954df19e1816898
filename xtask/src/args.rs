//! Hand-written command-line parsing for `cargo xtask`.

use std::time::Duration;

use crate::util::Result;

mod pep;

pub(crate) use pep::PepOptions;

/// Default number of seconds each target runs under `cargo xtask fuzz`.
pub(crate) const DEFAULT_FUZZ_TIME: u64 = 60;

/// A parsed `cargo xtask` invocation.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// `cargo xtask help`.
    Help,
    /// `cargo xtask ci`.
    Ci(CiOptions),
    /// `cargo xtask fuzz`.
    Fuzz(FuzzOptions),
    /// `cargo xtask bench`.
    Bench(BenchOptions),
    /// `cargo xtask layering`.
    Layering,
    /// `cargo xtask load`.
    Load(LoadOptions),
    /// `cargo xtask soak`.
    Soak(SoakOptions),
    /// `cargo xtask bench-pep`.
    BenchPep(PepOptions),
}

/// Which runs `cargo xtask soak` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SoakMode {
    /// Normal users only.
    Clean,
    /// Normal users and the abusers.
    Abusive,
    /// The clean run, then the abusive one, side by side.
    Both,
}

/// Options of `cargo xtask soak`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoakOptions {
    /// Length of the traffic phase of each run.
    pub(crate) duration: Duration,
    /// Normal users.
    pub(crate) users: usize,
    /// Which runs.
    pub(crate) mode: SoakMode,
    /// Where to write the results as JSON.
    pub(crate) json: Option<std::path::PathBuf>,
    /// The seed of the users' choices (the same in both runs).
    pub(crate) seed: u64,
    /// Do not build anything.
    pub(crate) no_build: bool,
}

impl Default for SoakOptions {
    fn default() -> Self {
        SoakOptions {
            duration: Duration::from_secs(1800),
            users: 300,
            mode: SoakMode::Both,
            json: None,
            seed: 1,
            no_build: false,
        }
    }
}

/// Options of `cargo xtask ci`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CiOptions {
    /// Steps not to run.
    pub(crate) skip: Vec<String>,
    /// If not empty, the only steps to run.
    pub(crate) only: Vec<String>,
    /// Seconds per fuzz target; `None` means the environment or the default.
    pub(crate) fuzz_secs: Option<u64>,
    /// Print the steps and exit.
    pub(crate) list: bool,
}

/// Options of `cargo xtask fuzz`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FuzzOptions {
    /// The target to run; all targets when `None`.
    pub(crate) target: Option<String>,
    /// Seconds per target.
    pub(crate) time: u64,
    /// Extra arguments for libFuzzer.
    pub(crate) libfuzzer_args: Vec<String>,
}

/// Options of `cargo xtask bench`.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BenchOptions {
    /// Only this bench target.
    pub(crate) name: Option<String>,
    /// Only the benches of this package.
    pub(crate) package: Option<String>,
    /// Shorter warm-up and measurement times.
    pub(crate) quick: bool,
    /// Only print the tables of the stored results.
    pub(crate) report: bool,
    /// Extra arguments for the criterion bench binaries.
    pub(crate) criterion_args: Vec<String>,
}

/// The servers `cargo xtask load` knows, in the order it runs them:
/// `baseline` is Starling from another binary (`--baseline PATH`), for a
/// before/after comparison in one run.
pub(crate) const LOAD_SERVERS: [&str; 3] = ["starling", "baseline", "prosody"];

/// The offered message rates (messages/s) of `cargo xtask load --saturation`.
pub(crate) const DEFAULT_STEPS: [u64; 18] = [
    1_000, 1_500, 2_000, 3_000, 4_000, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 40_000,
    50_000, 60_000, 80_000, 100_000, 130_000, 160_000,
];

/// Options of `cargo xtask load`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LoadOptions {
    /// Number of simultaneous users.
    pub(crate) users: usize,
    /// Every user enables XEP-0198 stream management (`--sm`).
    pub(crate) sm: bool,
    /// Logins started per second.
    pub(crate) login_rate: u32,
    /// Time between two messages of one user.
    pub(crate) interval: Duration,
    /// Length of the message phase.
    pub(crate) duration: Duration,
    /// The servers to measure, from [`LOAD_SERVERS`], in the order given.
    pub(crate) servers: Vec<String>,
    /// Ramp the message rate instead of the fixed-rate scenario.
    pub(crate) saturation: bool,
    /// The p99 delivery latency a saturation step may reach and still pass.
    pub(crate) max_p99: Duration,
    /// The offered total message rates of the saturation ramp.
    pub(crate) steps: Vec<u64>,
    /// Length of each saturation step.
    pub(crate) step_duration: Duration,
    /// Do not build anything (use the binaries already built).
    pub(crate) no_build: bool,
    /// Another `starling` binary, measured as the server `baseline`.
    pub(crate) baseline: Option<std::path::PathBuf>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            users: 1000,
            sm: false,
            login_rate: 200,
            interval: Duration::from_secs(1),
            duration: Duration::from_secs(20),
            servers: vec!["starling".to_owned(), "prosody".to_owned()],
            saturation: false,
            max_p99: Duration::from_millis(100),
            steps: DEFAULT_STEPS.to_vec(),
            step_duration: Duration::from_secs(8),
            no_build: false,
            baseline: None,
        }
    }
}

/// Parses the arguments that follow `cargo xtask`.
pub(crate) fn parse(args: impl IntoIterator<Item = String>) -> Result<Command> {
    let mut args = args.into_iter();
    let Some(command) = args.next() else {
        return Ok(Command::Help);
    };
    let mut parser = Parser { args, command };
    match parser.command.as_str() {
        "help" | "-h" | "--help" => {
            parser.no_more()?;
            Ok(Command::Help)
        }
        "ci" => parse_ci(parser).map(Command::Ci),
        "fuzz" => parse_fuzz(parser).map(Command::Fuzz),
        "bench" => parse_bench(parser).map(Command::Bench),
        "load" => parse_load(parser).map(Command::Load),
        "soak" => parse_soak(parser).map(Command::Soak),
        "bench-pep" => pep::parse_pep(parser).map(Command::BenchPep),
        "layering" => {
            parser.no_more()?;
            Ok(Command::Layering)
        }
        other => bail!("unknown command `{other}`"),
    }
}

fn parse_ci(mut parser: Parser<impl Iterator<Item = String>>) -> Result<CiOptions> {
    let mut options = CiOptions::default();
    while let Some(arg) = parser.next_arg()? {
        match arg {
            Arg::Option(name, inline) => match name.as_str() {
                "--skip" => options
                    .skip
                    .extend(split_list(&parser.value(&name, inline)?)),
                "--only" => options
                    .only
                    .extend(split_list(&parser.value(&name, inline)?)),
                "--fuzz-secs" => {
                    options.fuzz_secs = Some(parse_seconds(&name, &parser.value(&name, inline)?)?);
                }
                "--list" => {
                    parser.flag(&name, inline)?;
                    options.list = true;
                }
                _ => return Err(parser.unknown(&name)),
            },
            Arg::Positional(value) => bail!("`ci` takes no argument `{value}`"),
            Arg::Rest(_) => bail!("`ci` takes no arguments after `--`"),
        }
    }
    Ok(options)
}

fn parse_fuzz(mut parser: Parser<impl Iterator<Item = String>>) -> Result<FuzzOptions> {
    let mut options = FuzzOptions {
        target: None,
        time: DEFAULT_FUZZ_TIME,
        libfuzzer_args: Vec::new(),
    };
    while let Some(arg) = parser.next_arg()? {
        match arg {
            Arg::Option(name, inline) => match name.as_str() {
                "--time" | "-t" => {
                    options.time = parse_seconds(&name, &parser.value(&name, inline)?)?
                }
                _ => return Err(parser.unknown(&name)),
            },
            Arg::Positional(value) => {
                if let Some(target) = &options.target {
                    bail!("`fuzz` takes one target, got `{target}` and `{value}`");
                }
                options.target = Some(value);
            }
            Arg::Rest(rest) => options.libfuzzer_args = rest,
        }
    }
    Ok(options)
}

fn parse_bench(mut parser: Parser<impl Iterator<Item = String>>) -> Result<BenchOptions> {
    let mut options = BenchOptions::default();
    while let Some(arg) = parser.next_arg()? {
        match arg {
            Arg::Option(name, inline) => match name.as_str() {
                "--quick" => {
                    parser.flag(&name, inline)?;
                    options.quick = true;
                }
                "--report" => {
                    parser.flag(&name, inline)?;
                    options.report = true;
                }
                "--package" | "-p" => options.package = Some(parser.value(&name, inline)?),
                _ => return Err(parser.unknown(&name)),
            },
            Arg::Positional(value) => {
                if let Some(name) = &options.name {
                    bail!("`bench` takes one bench name, got `{name}` and `{value}`");
                }
                options.name = Some(value);
            }
            Arg::Rest(rest) => options.criterion_args = rest,
        }
    }
    if options.report && (options.name.is_some() || options.package.is_some() || options.quick) {
        bail!(
            "`bench --report` only prints stored results; it takes no bench name, package or --quick"
        );
    }
    Ok(options)
}

fn parse_soak(mut parser: Parser<impl Iterator<Item = String>>) -> Result<SoakOptions> {
    let mut options = SoakOptions::default();
    while let Some(arg) = parser.next_arg()? {
        match arg {
            Arg::Option(name, inline) => {
                let mode = match name.as_str() {
                    "--clean" => Some(SoakMode::Clean),
                    "--abusers" => Some(SoakMode::Abusive),
                    "--both" => Some(SoakMode::Both),
                    _ => None,
                };
                if let Some(mode) = mode {
                    parser.flag(&name, inline)?;
                    options.mode = mode;
                    continue;
                }
                if name == "--no-build" {
                    parser.flag(&name, inline)?;
                    options.no_build = true;
                    continue;
                }
                let value = parser.value(&name, inline)?;
                match name.as_str() {
                    "--duration" => options.duration = parse_duration(&name, &value)?,
                    "--users" | "-n" => options.users = parse_count(&name, &value)?,
                    "--json" => options.json = Some(value.into()),
                    "--seed" => options.seed = parse_count(&name, &value)? as u64,
                    _ => return Err(parser.unknown(&name)),
                }
            }
            Arg::Positional(value) => bail!("`soak` takes no argument `{value}`"),
            Arg::Rest(_) => bail!("`soak` takes no arguments after `--`"),
        }
    }
    if options.users < 2 {
        bail!("--users: the soak needs at least 2 users");
    }
    Ok(options)
}

fn parse_load(mut parser: Parser<impl Iterator<Item = String>>) -> Result<LoadOptions> {
    let mut options = LoadOptions::default();
    while let Some(arg) = parser.next_arg()? {
        match arg {
            Arg::Option(name, inline) => {
                if matches!(name.as_str(), "--saturation" | "--no-build" | "--sm") {
                    parser.flag(&name, inline)?;
                    match name.as_str() {
                        "--saturation" => options.saturation = true,
                        "--sm" => options.sm = true,
                        _ => options.no_build = true,
                    }
                    continue;
                }
                let value = parser.value(&name, inline)?;
                match name.as_str() {
                    "--users" | "-n" => options.users = parse_count(&name, &value)?,
                    "--login-rate" => {
                        options.login_rate = u32::try_from(parse_count(&name, &value)?)
                            .map_err(|_| format!("{name}: `{value}` is too large"))?;
                    }
                    "--interval" => options.interval = parse_duration(&name, &value)?,
                    "--duration" => options.duration = parse_duration(&name, &value)?,
                    "--step-duration" => options.step_duration = parse_duration(&name, &value)?,
                    "--baseline" => options.baseline = Some(value.into()),
                    "--max-p99-ms" => {
                        options.max_p99 =
                            Duration::from_secs_f64(parse_positive(&name, &value)? / 1e3);
                    }
                    "--servers" => options.servers = parse_servers(&name, &value, &LOAD_SERVERS)?,
                    "--steps" => {
                        options.steps = split_list(&value)
                            .map(|step| parse_count(&name, &step).map(|n| n as u64))
                            .collect::<Result<_>>()?;
                        if options.steps.is_empty() {
                            bail!("{name}: no rate given");
                        }
                    }
                    _ => return Err(parser.unknown(&name)),
                }
            }
            Arg::Positional(value) => bail!("`load` takes no argument `{value}`"),
            Arg::Rest(_) => bail!("`load` takes no arguments after `--`"),
        }
    }
    let named = options.servers.iter().any(|s| s == "baseline");
    match (&options.baseline, named) {
        (None, true) => bail!("the server `baseline` needs --baseline PATH"),
        (Some(_), false) => {
            // Right after Starling, so the two are measured side by side.
            let at = options
                .servers
                .iter()
                .position(|s| s == "starling")
                .map_or(0, |i| i + 1);
            options.servers.insert(at, "baseline".to_owned());
        }
        _ => {}
    }
    Ok(options)
}

/// Parses a list of server names, each one of `known`.
fn parse_servers(what: &str, value: &str, known: &[&str]) -> Result<Vec<String>> {
    let mut servers: Vec<String> = split_list(value).collect();
    if let Some(bad) = servers.iter().find(|s| !known.contains(&s.as_str())) {
        bail!(
            "{what}: unknown server `{bad}` (known: {})",
            known.join(", ")
        );
    }
    if servers.is_empty() {
        bail!("{what}: no server named");
    }
    servers.dedup();
    Ok(servers)
}

/// Parses a positive whole number.
fn parse_count(what: &str, value: &str) -> Result<usize> {
    match value.trim().replace('_', "").parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{what}: expected a positive whole number, got `{value}`"),
    }
}

/// Parses a positive finite number.
fn parse_positive(what: &str, value: &str) -> Result<f64> {
    match value.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 && x < 1e9 => Ok(x),
        _ => bail!("{what}: expected a positive number, got `{value}`"),
    }
}

/// Parses a positive number of seconds, with a fraction if wanted.
fn parse_duration(what: &str, value: &str) -> Result<Duration> {
    let seconds = value.trim().strip_suffix('s').unwrap_or(value.trim());
    Ok(Duration::from_secs_f64(parse_positive(what, seconds)?))
}

/// One command-line argument, classified.
enum Arg {
    /// `--name` or `--name=value` (the value is the second field).
    Option(String, Option<String>),
    /// A plain argument.
    Positional(String),
    /// Everything after `--`.
    Rest(Vec<String>),
}

/// Walks the arguments of one command.
struct Parser<I> {
    args: I,
    command: String,
}

impl<I: Iterator<Item = String>> Parser<I> {
    fn next_arg(&mut self) -> Result<Option<Arg>> {
        let Some(arg) = self.args.next() else {
            return Ok(None);
        };
        if arg == "--" {
            return Ok(Some(Arg::Rest(self.args.by_ref().collect())));
        }
        if arg.starts_with('-') && arg.len() > 1 {
            return Ok(Some(match arg.split_once('=') {
                Some((name, value)) => Arg::Option(name.to_owned(), Some(value.to_owned())),
                None => Arg::Option(arg, None),
            }));
        }
        Ok(Some(Arg::Positional(arg)))
    }

    /// The value of an option: inline (`--x=v`) or the next argument.
    fn value(&mut self, name: &str, inline: Option<String>) -> Result<String> {
        if let Some(value) = inline {
            return Ok(value);
        }
        match self.args.next() {
            Some(value) if value != "--" => Ok(value),
            _ => bail!("`{} {name}` needs a value", self.command),
        }
    }

    /// Checks that a flag was not given a value.
    fn flag(&self, name: &str, inline: Option<String>) -> Result<()> {
        match inline {
            Some(value) => bail!("`{} {name}` takes no value (got `{value}`)", self.command),
            None => Ok(()),
        }
    }

    fn unknown(&self, name: &str) -> crate::util::Error {
        format!("unknown option `{name}` for `{}`", self.command).into()
    }

    fn no_more(&mut self) -> Result<()> {
        match self.args.next() {
            Some(arg) => bail!("`{}` takes no arguments (got `{arg}`)", self.command),
            None => Ok(()),
        }
    }
}

/// Splits `a,b, c` into its non-empty items.
fn split_list(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
}

/// Parses a positive number of seconds.
pub(crate) fn parse_seconds(what: &str, value: &str) -> Result<u64> {
    match value.trim().parse::<u64>() {
        Ok(secs) if secs > 0 => Ok(secs),
        _ => bail!("{what}: expected a positive whole number of seconds, got `{value}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Command> {
        parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn no_command_is_help() {
        assert_eq!(parse_str("").unwrap(), Command::Help);
        assert_eq!(parse_str("help").unwrap(), Command::Help);
        assert_eq!(parse_str("--help").unwrap(), Command::Help);
        assert!(parse_str("help me").is_err());
    }

    #[test]
    fn unknown_command_is_an_error() {
        let error = parse_str("frobnicate").unwrap_err().to_string();
        assert!(error.contains("frobnicate"), "{error}");
    }

    #[test]
    fn ci_defaults() {
        assert_eq!(parse_str("ci").unwrap(), Command::Ci(CiOptions::default()));
    }

    #[test]
    fn ci_skip_only_and_fuzz_secs() {
        let Command::Ci(options) =
            parse_str("ci --skip fuzz,doc --skip=clippy --only test, --fuzz-secs=5").unwrap()
        else {
            panic!("not ci");
        };
        assert_eq!(options.skip, ["fuzz", "doc", "clippy"]);
        assert_eq!(options.only, ["test"]);
        assert_eq!(options.fuzz_secs, Some(5));
        assert!(!options.list);
    }

    #[test]
    fn ci_rejects_bad_input() {
        assert!(parse_str("ci --fuzz-secs").is_err());
        assert!(parse_str("ci --fuzz-secs zero").is_err());
        assert!(parse_str("ci --fuzz-secs 0").is_err());
        assert!(parse_str("ci --list=yes").is_err());
        assert!(parse_str("ci --frob").is_err());
        assert!(parse_str("ci extra").is_err());
        assert!(parse_str("ci -- x").is_err());
    }

    #[test]
    fn fuzz_target_time_and_passthrough() {
        assert_eq!(
            parse_str("fuzz").unwrap(),
            Command::Fuzz(FuzzOptions {
                target: None,
                time: DEFAULT_FUZZ_TIME,
                libfuzzer_args: Vec::new(),
            })
        );
        assert_eq!(
            parse_str("fuzz xml_raw --time 5 -- -jobs=2 -max_len=64").unwrap(),
            Command::Fuzz(FuzzOptions {
                target: Some("xml_raw".into()),
                time: 5,
                libfuzzer_args: vec!["-jobs=2".into(), "-max_len=64".into()],
            })
        );
        assert!(parse_str("fuzz a b").is_err());
        assert!(parse_str("fuzz --time").is_err());
        assert!(parse_str("fuzz --time -- -jobs=2").is_err());
    }

    #[test]
    fn bench_options() {
        assert_eq!(
            parse_str("bench xml --quick -p starling-xml -- --sample-size 10").unwrap(),
            Command::Bench(BenchOptions {
                name: Some("xml".into()),
                package: Some("starling-xml".into()),
                quick: true,
                report: false,
                criterion_args: vec!["--sample-size".into(), "10".into()],
            })
        );
        assert_eq!(
            parse_str("bench --report").unwrap(),
            Command::Bench(BenchOptions {
                report: true,
                ..BenchOptions::default()
            })
        );
        assert!(parse_str("bench xml --report").is_err());
        assert!(parse_str("bench a b").is_err());
        assert!(parse_str("bench --quick=1").is_err());
    }

    #[test]
    fn load_defaults_and_options() {
        assert_eq!(
            parse_str("load").unwrap(),
            Command::Load(LoadOptions::default())
        );
        let Command::Load(options) = parse_str(
            "load --users 5000 --login-rate=400 --interval 0.5 --duration 30s \
             --servers prosody --saturation --max-p99-ms 50 --steps 1000,3000 \
             --step-duration 5 --no-build",
        )
        .unwrap() else {
            panic!("not load");
        };
        assert_eq!(options.users, 5000);
        assert_eq!(options.login_rate, 400);
        assert_eq!(options.interval, Duration::from_millis(500));
        assert_eq!(options.duration, Duration::from_secs(30));
        assert_eq!(options.servers, ["prosody"]);
        assert!(options.saturation);
        assert_eq!(options.max_p99, Duration::from_millis(50));
        assert_eq!(options.steps, [1000, 3000]);
        assert_eq!(options.step_duration, Duration::from_secs(5));
        assert!(options.no_build);
    }

    #[test]
    fn load_rejects_bad_input() {
        assert!(parse_str("load --users 0").is_err());
        assert!(parse_str("load --users many").is_err());
        assert!(parse_str("load --interval -1").is_err());
        assert!(parse_str("load --interval nan").is_err());
        assert!(parse_str("load --servers ejabberd").is_err());
        assert!(parse_str("load --servers starling,baseline").is_err());
        let Ok(Command::Load(options)) = parse_str("load --baseline /tmp/old/starling") else {
            panic!("--baseline parses");
        };
        assert_eq!(options.servers, ["starling", "baseline", "prosody"]);
        assert_eq!(
            options.baseline.as_deref(),
            Some(std::path::Path::new("/tmp/old/starling"))
        );
        assert!(parse_str("load --servers ,").is_err());
        assert!(parse_str("load --saturation=yes").is_err());
        assert!(parse_str("load --steps").is_err());
        assert!(parse_str("load extra").is_err());
    }

    #[test]
    fn soak_options() {
        assert_eq!(
            parse_str("soak").unwrap(),
            Command::Soak(SoakOptions::default())
        );
        let Command::Soak(options) = parse_str(
            "soak --duration 20 --users 20 --abusers --json /tmp/s.json --seed 7 --no-build",
        )
        .unwrap() else {
            panic!("not soak");
        };
        assert_eq!(options.duration, Duration::from_secs(20));
        assert_eq!(options.users, 20);
        assert_eq!(options.mode, SoakMode::Abusive);
        assert_eq!(
            options.json.as_deref(),
            Some(std::path::Path::new("/tmp/s.json"))
        );
        assert_eq!(options.seed, 7);
        assert!(options.no_build);
        for (flag, mode) in [("--clean", SoakMode::Clean), ("--both", SoakMode::Both)] {
            let Ok(Command::Soak(o)) = parse_str(&format!("soak --abusers {flag}")) else {
                panic!("{flag}");
            };
            assert_eq!(o.mode, mode, "the last mode flag wins");
        }
        assert!(parse_str("soak --users 1").is_err());
        assert!(parse_str("soak --duration 0").is_err());
        assert!(parse_str("soak --clean=yes").is_err());
        assert!(parse_str("soak --json").is_err());
        assert!(parse_str("soak extra").is_err());
        assert!(parse_str("soak --saturation").is_err());
    }

    #[test]
    fn layering_takes_nothing() {
        assert_eq!(parse_str("layering").unwrap(), Command::Layering);
        assert!(parse_str("layering --fix").is_err());
    }
}
