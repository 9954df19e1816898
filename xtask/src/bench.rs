//! Running the criterion benchmarks and turning their results into the
//! comparison tables of `docs/performance.md`.
//!
//! Benchmark groups name Starling's function `starling` and each peer by its
//! own name (`quick_xml_ns`, `rxml`, `jid`, ...). Criterion stores every
//! result under `target/criterion/<group>/<function>[/<input>]/new/` as
//! `benchmark.json` (ids and throughput) and `estimates.json` (statistics, in
//! nanoseconds).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use crate::args::BenchOptions;
use crate::util::{self, Result, Stream, three_digits};

/// The function name of Starling's own implementation in every group.
pub(crate) const STARLING: &str = "starling";

/// Criterion arguments for `--quick`.
const QUICK_ARGS: &[&str] = &["--warm-up-time", "1", "--measurement-time", "2"];

/// `cargo xtask bench`.
pub(crate) fn run(options: &BenchOptions) -> Result<bool> {
    let root = util::workspace_root();
    let criterion_dir = criterion_home(&root)?;
    if options.report {
        let results = collect(&criterion_dir, None)?;
        if results.is_empty() {
            println!("No benchmark results under {}", criterion_dir.display());
            return Ok(false);
        }
        print!("{}", render_report(&results, &[]));
        return Ok(true);
    }

    let started = SystemTime::now();
    let mut command = util::cargo(&root);
    command.arg("bench");
    match &options.package {
        Some(package) => command.args(["--package", package]),
        None => command.arg("--workspace"),
    };
    // Only `[[bench]]` targets: `--benches` would also run the libtest
    // harnesses of lib and bin targets (`bench = true` by default), which
    // reject criterion's options. `--bench` takes a glob.
    let name = options.name.as_deref().unwrap_or("*");
    command.args(["--bench", name]);
    let mut bench_args: Vec<String> = Vec::new();
    if options.quick {
        bench_args.extend(QUICK_ARGS.iter().map(|&arg| arg.to_owned()));
    }
    bench_args.extend(options.criterion_args.iter().cloned());
    if !bench_args.is_empty() {
        command.arg("--").args(&bench_args);
    }

    let mut extras = Vec::new();
    let status = util::run_tee(&mut command, Stream::Stdout, |line| {
        if is_extra_measurement(line) {
            extras.push(line.trim().to_owned());
        }
        true
    })?;
    let results = collect(&criterion_dir, Some(started))?;
    println!();
    if results.is_empty() {
        println!("No criterion results were written by this run.");
    } else {
        print!("{}", render_report(&results, &extras));
    }
    if status.success() {
        Ok(true)
    } else {
        println!("`cargo bench` failed ({status})");
        Ok(false)
    }
}

/// Where criterion keeps its results: `$CRITERION_HOME`, else
/// `<target directory>/criterion`.
fn criterion_home(root: &Path) -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return Ok(PathBuf::from(home));
    }
    let json =
        util::capture(util::cargo(root).args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let metadata: Value = serde_json::from_str(&json)?;
    let target = metadata["target_directory"]
        .as_str()
        .ok_or("cargo metadata: no `target_directory`")?;
    Ok(Path::new(target).join("criterion"))
}

/// A criterion throughput setting: the amount of work in one iteration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Throughput {
    /// Bits, shown per second in decimal units.
    Bits(u64),
    /// Bytes, shown in binary units (KiB/s, MiB/s) as criterion does.
    Bytes(u64),
    /// Bytes, shown in decimal units (KB/s, MB/s).
    BytesDecimal(u64),
    /// Elements (tokens, stanzas, ...).
    Elements(u64),
    /// Both elements and bytes.
    ElementsAndBytes {
        /// Elements per iteration.
        elements: u64,
        /// Bytes per iteration.
        bytes: u64,
    },
}

/// One benchmark result.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BenchResult {
    /// The criterion group.
    pub(crate) group: String,
    /// The function (`starling` or a peer); the group name for a benchmark
    /// outside a group.
    pub(crate) function: String,
    /// The input parameter, for parameterized benchmarks.
    pub(crate) input: Option<String>,
    /// Mean time per iteration, nanoseconds.
    pub(crate) mean_ns: f64,
    /// Work per iteration, if the benchmark declares it.
    pub(crate) throughput: Option<Throughput>,
}

/// Reads one result from the contents of its `benchmark.json` and
/// `estimates.json`.
pub(crate) fn parse_result(benchmark_json: &str, estimates_json: &str) -> Result<BenchResult> {
    let benchmark: Value = serde_json::from_str(benchmark_json)?;
    let estimates: Value = serde_json::from_str(estimates_json)?;
    let group = benchmark["group_id"]
        .as_str()
        .ok_or("benchmark.json: no `group_id`")?
        .to_owned();
    let function = benchmark["function_id"]
        .as_str()
        .map_or_else(|| group.clone(), str::to_owned);
    let input = benchmark["value_str"].as_str().map(str::to_owned);
    let mean_ns = estimates["mean"]["point_estimate"]
        .as_f64()
        .ok_or("estimates.json: no `mean.point_estimate`")?;
    Ok(BenchResult {
        group,
        function,
        input,
        mean_ns,
        throughput: parse_throughput(&benchmark["throughput"]),
    })
}

/// Reads criterion's serialized `Throughput` (`{"Bytes": 1234}`, ...).
fn parse_throughput(value: &Value) -> Option<Throughput> {
    let (kind, amount) = value.as_object()?.iter().next()?;
    Some(match kind.as_str() {
        "Bits" => Throughput::Bits(amount.as_u64()?),
        "Bytes" => Throughput::Bytes(amount.as_u64()?),
        "BytesDecimal" => Throughput::BytesDecimal(amount.as_u64()?),
        "Elements" => Throughput::Elements(amount.as_u64()?),
        "ElementsAndBytes" => Throughput::ElementsAndBytes {
            elements: amount["elements"].as_u64()?,
            bytes: amount["bytes"].as_u64()?,
        },
        _ => return None,
    })
}

/// Finds every `new/` result under `dir`, keeping only those written at or
/// after `since` when it is given.
fn collect(dir: &Path, since: Option<SystemTime>) -> Result<Vec<BenchResult>> {
    let mut results = Vec::new();
    if !dir.is_dir() {
        return Ok(results);
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let estimates = current.join("estimates.json");
        let benchmark = current.join("benchmark.json");
        if util::file_name_is(&current, "new") && estimates.is_file() && benchmark.is_file() {
            if let Some(since) = since {
                let written = std::fs::metadata(&estimates)?.modified()?;
                if written < since {
                    continue;
                }
            }
            let result = parse_result(
                &std::fs::read_to_string(&benchmark)?,
                &std::fs::read_to_string(&estimates)?,
            )
            .map_err(|error| format!("{}: {error}", current.display()))?;
            results.push(result);
            continue;
        }
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(results)
}

/// Whether a line of benchmark output is an extra measurement in the form
/// `label: starling 1.5, peer 3, other 2.25 unit` (such as
/// `allocs per token: starling 0.5, quick_xml_ns 1.25`).
pub(crate) fn is_extra_measurement(line: &str) -> bool {
    // The last `: ` ends the label, which may itself contain one
    // (`xml_small: allocs per token: starling 0.01, rxml 0.5`).
    let Some((label, rest)) = line.trim().rsplit_once(": ") else {
        return false;
    };
    if label.trim().is_empty() {
        return false;
    }
    let mut has_starling = false;
    for item in rest.split(',') {
        let Some((name, value)) = item.trim().split_once(' ') else {
            return false;
        };
        let identifier = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !identifier || !value.trim_start().starts_with(|c: char| c.is_ascii_digit()) {
            return false;
        }
        has_starling |= name == STARLING;
    }
    has_starling
}

/// Formats an amount per second with a scaled unit.
fn scaled(per_sec: f64, base: f64, units: [&str; 4]) -> String {
    let mut value = per_sec;
    let mut unit = units[0];
    for next in &units[1..] {
        if value < base {
            break;
        }
        value /= base;
        unit = next;
    }
    format!("{} {unit}", three_digits(value))
}

/// Formats the throughput of one iteration taking `mean_ns`.
pub(crate) fn format_throughput(throughput: &Throughput, mean_ns: f64) -> String {
    #[allow(clippy::cast_precision_loss, reason = "display only")]
    let per_sec = |amount: u64| amount as f64 * 1e9 / mean_ns;
    match *throughput {
        Throughput::Bits(n) => scaled(per_sec(n), 1000.0, ["b/s", "Kb/s", "Mb/s", "Gb/s"]),
        Throughput::Bytes(n) => scaled(per_sec(n), 1024.0, ["B/s", "KiB/s", "MiB/s", "GiB/s"]),
        Throughput::BytesDecimal(n) => scaled(per_sec(n), 1000.0, ["B/s", "KB/s", "MB/s", "GB/s"]),
        Throughput::Elements(n) => scaled(
            per_sec(n),
            1000.0,
            ["elem/s", "Kelem/s", "Melem/s", "Gelem/s"],
        ),
        Throughput::ElementsAndBytes { elements, bytes } => format!(
            "{}, {}",
            format_throughput(&Throughput::Elements(elements), mean_ns),
            format_throughput(&Throughput::Bytes(bytes), mean_ns)
        ),
    }
}

/// Orders inputs numerically when they are numbers, else as text.
fn input_order(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    let number = |s: Option<&str>| s.and_then(|s| s.parse::<f64>().ok());
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.cmp(&b),
    }
}

/// Renders one markdown table per group, plus the extra measurements.
pub(crate) fn render_report(results: &[BenchResult], extras: &[String]) -> String {
    let mut groups: BTreeMap<&str, Vec<&BenchResult>> = BTreeMap::new();
    for result in results {
        groups.entry(&result.group).or_default().push(result);
    }
    let mut out = String::new();
    for (group, mut rows) in groups {
        rows.sort_by(|a, b| {
            input_order(a.input.as_deref(), b.input.as_deref())
                .then_with(|| (a.function != STARLING).cmp(&(b.function != STARLING)))
                .then_with(|| a.function.cmp(&b.function))
        });
        let with_input = rows.iter().any(|row| row.input.is_some());
        out.push_str(&format!("### {group}\n\n"));
        if with_input {
            out.push_str("| function | input | mean time | throughput | Starling speed-up |\n");
            out.push_str("|:---|:---|---:|---:|---:|\n");
        } else {
            out.push_str("| function | mean time | throughput | Starling speed-up |\n");
            out.push_str("|:---|---:|---:|---:|\n");
        }
        for row in &rows {
            let baseline = rows
                .iter()
                .find(|other| other.function == STARLING && other.input == row.input);
            let ratio = match baseline {
                Some(_) if row.function == STARLING => "1.00 (baseline)".to_owned(),
                Some(starling) if starling.mean_ns > 0.0 => {
                    format!("{:.2}×", row.mean_ns / starling.mean_ns)
                }
                _ => "–".to_owned(),
            };
            let throughput = row
                .throughput
                .as_ref()
                .map_or_else(|| "–".to_owned(), |t| format_throughput(t, row.mean_ns));
            let input = if with_input {
                format!(" {} |", row.input.as_deref().unwrap_or("–"))
            } else {
                String::new()
            };
            out.push_str(&format!(
                "| {} |{input} {} | {throughput} | {ratio} |\n",
                row.function,
                util::format_nanos(row.mean_ns)
            ));
        }
        out.push('\n');
    }
    out.push_str(
        "Mean time per iteration (criterion's mean estimate). Starling speed-up = the \
         function's mean time / `starling`'s mean time on the same input: above 1 means \
         Starling is faster.\n",
    );
    if !extras.is_empty() {
        out.push_str("\nOther measurements printed by the benchmarks:\n\n");
        for extra in extras {
            out.push_str(&format!("- {extra}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESTIMATES: &str = r#"{
        "mean": {"confidence_interval": {"confidence_level": 0.95, "lower_bound": 1190.0, "upper_bound": 1210.0},
                 "point_estimate": 1200.0, "standard_error": 5.1},
        "median": {"confidence_interval": {"confidence_level": 0.95, "lower_bound": 1180.0, "upper_bound": 1200.0},
                   "point_estimate": 1195.0, "standard_error": 4.0},
        "median_abs_dev": {"confidence_interval": {"confidence_level": 0.95, "lower_bound": 1.0, "upper_bound": 3.0},
                           "point_estimate": 2.0, "standard_error": 0.5},
        "slope": null,
        "std_dev": {"confidence_interval": {"confidence_level": 0.95, "lower_bound": 10.0, "upper_bound": 30.0},
                    "point_estimate": 20.0, "standard_error": 2.0}
    }"#;

    fn result(group: &str, function: &str, input: Option<&str>, mean_ns: f64) -> BenchResult {
        BenchResult {
            group: group.into(),
            function: function.into(),
            input: input.map(Into::into),
            mean_ns,
            throughput: Some(Throughput::Bytes(1024)),
        }
    }

    #[test]
    fn parses_criterion_json() {
        let benchmark = r#"{"group_id":"xml_parse/small","function_id":"quick_xml_ns","value_str":null,
            "throughput":{"Bytes":12345},"full_id":"xml_parse/small/quick_xml_ns",
            "directory_name":"xml_parse_small/quick_xml_ns","title":"xml_parse/small/quick_xml_ns"}"#;
        assert_eq!(
            parse_result(benchmark, ESTIMATES).unwrap(),
            BenchResult {
                group: "xml_parse/small".into(),
                function: "quick_xml_ns".into(),
                input: None,
                mean_ns: 1200.0,
                throughput: Some(Throughput::Bytes(12345)),
            }
        );
    }

    #[test]
    fn parses_other_throughputs_and_ungrouped_benchmarks() {
        let benchmark = r#"{"group_id":"jid_parse","function_id":null,"value_str":"64",
            "throughput":{"ElementsAndBytes":{"elements":10,"bytes":640}}}"#;
        let parsed = parse_result(benchmark, ESTIMATES).unwrap();
        assert_eq!(parsed.function, "jid_parse");
        assert_eq!(parsed.input.as_deref(), Some("64"));
        assert_eq!(
            parsed.throughput,
            Some(Throughput::ElementsAndBytes {
                elements: 10,
                bytes: 640
            })
        );
        let none =
            r#"{"group_id":"g","function_id":"starling","value_str":null,"throughput":null}"#;
        assert_eq!(parse_result(none, ESTIMATES).unwrap().throughput, None);
        assert!(parse_result("{}", ESTIMATES).is_err());
        assert!(parse_result(none, "{}").is_err());
    }

    #[test]
    fn throughput_formatting() {
        // 1 MiB in 1 ms.
        assert_eq!(
            format_throughput(&Throughput::Bytes(1 << 20), 1e6),
            "1000 MiB/s"
        );
        assert_eq!(
            format_throughput(&Throughput::Bytes(1 << 20), 1e5),
            "9.77 GiB/s"
        );
        assert_eq!(
            format_throughput(&Throughput::BytesDecimal(2_000_000), 1e9),
            "2.00 MB/s"
        );
        assert_eq!(
            format_throughput(&Throughput::Elements(500), 1e9),
            "500 elem/s"
        );
        assert_eq!(
            format_throughput(&Throughput::Elements(1_500), 1e6),
            "1.50 Melem/s"
        );
        assert_eq!(
            format_throughput(
                &Throughput::ElementsAndBytes {
                    elements: 1000,
                    bytes: 1024
                },
                1e9
            ),
            "1.00 Kelem/s, 1.00 KiB/s"
        );
    }

    #[test]
    fn renders_a_table_with_ratios() {
        let results = vec![
            result("xml", "rxml", None, 3000.0),
            result("xml", "starling", None, 1000.0),
            result("xml", "quick_xml_ns", None, 500.0),
        ];
        let report = render_report(&results, &["allocs per token: starling 0.5, rxml 2".into()]);
        let expected_table = "\
### xml

| function | mean time | throughput | Starling speed-up |
|:---|---:|---:|---:|
| starling | 1.00 µs | 977 MiB/s | 1.00 (baseline) |
| quick_xml_ns | 500 ns | 1.91 GiB/s | 0.50× |
| rxml | 3.00 µs | 326 MiB/s | 3.00× |
";
        assert!(report.starts_with(expected_table), "{report}");
        assert!(
            report.contains("- allocs per token: starling 0.5, rxml 2\n"),
            "{report}"
        );
    }

    #[test]
    fn parameterized_groups_compare_per_input() {
        let results = vec![
            result("jid", "jid", Some("1024"), 400.0),
            result("jid", "starling", Some("1024"), 200.0),
            result("jid", "jid", Some("64"), 30.0),
            result("jid", "starling", Some("64"), 20.0),
            result("jid", "xmpp_parsers", Some("8"), 5.0),
        ];
        let report = render_report(&results, &[]);
        let rows: Vec<&str> = report
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| function"))
            .collect();
        assert_eq!(
            rows,
            [
                "| xmpp_parsers | 8 | 5.00 ns | 191 GiB/s | – |",
                "| starling | 64 | 20.0 ns | 47.7 GiB/s | 1.00 (baseline) |",
                "| jid | 64 | 30.0 ns | 31.8 GiB/s | 1.50× |",
                "| starling | 1024 | 200 ns | 4.77 GiB/s | 1.00 (baseline) |",
                "| jid | 1024 | 400 ns | 2.38 GiB/s | 2.00× |",
            ]
        );
    }

    #[test]
    fn extra_measurement_lines() {
        assert!(is_extra_measurement(
            "allocs per token: starling 0.50, quick_xml_ns 1.25"
        ));
        assert!(is_extra_measurement(
            "  peak heap: starling 12 KiB, rxml 40 KiB"
        ));
        assert!(is_extra_measurement(
            "stanzas_small: allocs per stanza: starling 3.0, xmpp_parsers 41.5"
        ));
        assert!(!is_extra_measurement(
            "stanzas_small: 1.20 MB, 5000 stanzas (3000 messages, 1000 presences, 1000 iqs)"
        ));
        assert!(!is_extra_measurement(
            "allocs per token: quick_xml_ns 1.25, rxml 2"
        ));
        assert!(!is_extra_measurement(
            "xml/starling           time:   [1.2 µs 1.3 µs 1.4 µs]"
        ));
        assert!(!is_extra_measurement(
            "Benchmarking xml/starling: Warming up for 1.0000 s"
        ));
        assert!(!is_extra_measurement(
            "Found 3 outliers among 100 measurements (3.00%)"
        ));
        assert!(!is_extra_measurement("starling 1, rxml 2"));
    }
}
