//! `cargo xtask bench-pep`: PEP fan-out (XEP-0163) — one publisher with N
//! contacts online that want its node's notifications (XEP-0115 caps with
//! `NODE+notify`), the same scenario against Starling and Prosody in one
//! run.
//!
//! For each server: start it with N + 1 accounts (`u0` publishes, `u1` …
//! `uN` are its contacts) and mutual subscriptions between the publisher
//! and each contact: written into Prosody's roster files before anyone
//! logs in (Prosody rewrites a user's whole roster file at each change, so
//! 500 over the protocol took 107 s to over 120 s on the loaded machine);
//! on Starling made over the protocol after the logins (the publisher asks
//! each contact for its presence, each contact approves and asks back, the
//! publisher approves; a contact's roster push with `both` says it is
//! done). Everyone logs in with an initial presence without caps (RSS
//! with the sessions);
//! then each contact sends a presence with caps, answers the server's
//! disco#info queries, and the publisher publishes a probe item each second
//! until every contact has been notified of one — the server has learned
//! every contact's caps (RSS again: the difference is what the caps cost);
//! then the publisher publishes K items one at a time, each when the
//! previous one reached every contact (or timed out). Reported: the time
//! from a publish to the last of its N notifications (median, p99), the
//! latency of each notification, notifications/s, server CPU per publish.

mod caps;
mod clients;
mod report;
mod state;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use starling_jid::Jid;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::args::PepOptions;
use crate::load::generator::Target;
use crate::load::procstat;
use crate::load::servers::{self, Account, DOMAIN, Extras, Server};
use crate::util::{self, Result};
use caps::DiscoSet;
use clients::{Command, ContactPhase};
use report::Measurement;
use state::{Bench, bench_id, probe_id, quantile};

/// Time for the server to settle before a memory reading.
const SETTLE: Duration = Duration::from_secs(2);

/// How long the logins, the subscriptions and learning the caps may take,
/// each.
const STEP_LIMIT: Duration = Duration::from_secs(120);

/// How long making one contact's subscription mutual over the protocol
/// may take, at most.
const SUBSCRIBE_LIMIT_PER_CONTACT: Duration = Duration::from_millis(600);

/// How often a probe is published while waiting for the caps.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Subscriptions asked for at once.
const SUBSCRIBE_BATCH: usize = 10;

/// Refused probe publishes, with nobody notified, after which the server
/// is taken to have no PEP.
const REFUSED_PROBES: u64 = 3;

/// How often a waiting loop looks at the counters.
const POLL: Duration = Duration::from_millis(1);

/// Runs `cargo xtask bench-pep`.
pub(crate) fn run(options: &PepOptions) -> Result<bool> {
    let root = util::workspace_root();
    if crate::load::build_release(&root, options.no_build, &options.servers)? {
        return Ok(true);
    }
    crate::load::check_open_files(options.contacts + 1);
    let accounts = servers::accounts(options.contacts + 1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (results, all) = crate::load::health::measure_each(
        &options.servers,
        |name| {
            println!("\n== {name}: 1 publisher, {} contacts ==", options.contacts);
            Server::start(name, &accounts, &root, None, Extras::Pep)
        },
        |server| runtime.block_on(measure(server, &accounts, options)),
        |m| &mut m.health,
    );
    println!();
    print!("{}", report::table(options, &results));
    Ok(all && results.iter().all(|m| !m.health.crashed && m.complete()))
}

/// Polls `done` until it holds or `limit` passes; whether it held.
async fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}

/// The JID of an account.
fn jid(account: &Account) -> Result<Jid> {
    format!("{}@{DOMAIN}", account.user)
        .parse()
        .map_err(|e| format!("a benchmark JID: {e}").into())
}

/// Makes the publisher's subscription with each contact mutual over the
/// protocol, and waits until the contacts' roster pushes say it is.
async fn subscribe(
    bench: &Bench,
    commands: &mpsc::UnboundedSender<Command>,
    contacts: &[Account],
    m: &mut Measurement,
) -> Result<()> {
    let started = Instant::now();
    let n = u32::try_from(contacts.len()).unwrap_or(u32::MAX);
    let deadline = started + STEP_LIMIT.max(SUBSCRIBE_LIMIT_PER_CONTACT * n);
    let logged_in = m.logged_in;
    let mut asked = 0;
    let mut all = true;
    // In batches: a server may cap the requests pending for one user
    // (Starling refuses more than 20 from one domain with
    // resource-constraint), and each contact's request back to the
    // publisher is pending until the publisher approves it.
    for batch in contacts.chunks(SUBSCRIBE_BATCH) {
        let bare_jids = batch
            .iter()
            .map(|a| format!("{}@{DOMAIN}", a.user))
            .collect();
        commands
            .send(Command::Subscribe(bare_jids))
            .map_err(|_| "the publisher's task ended")?;
        asked += batch.len();
        let want = asked.min(logged_in);
        let limit = deadline.saturating_duration_since(Instant::now());
        if !wait_for(limit, || bench.subscribed.load(Ordering::Relaxed) >= want).await {
            all = false;
            break;
        }
    }
    m.subscribed = bench.subscribed.load(Ordering::Relaxed);
    m.subscribe_seconds = Some(started.elapsed().as_secs_f64());
    if !all {
        m.health.notes.push(format!(
            "only {} of {} subscriptions became mutual",
            m.subscribed, m.logged_in
        ));
    }
    Ok(())
}

/// Runs the scenario against a started server.
async fn measure(
    server: &Server,
    accounts: &[Account],
    options: &PepOptions,
) -> Result<Measurement> {
    let pid = server.pid;
    let me = std::process::id();
    let cpu = |pid| procstat::cpu_seconds(pid).unwrap_or(0.0);
    let contacts = &accounts[1..];
    let n = contacts.len();
    let bench = Arc::new(Bench::new(n, options.items));
    let target = Target::new(&server.address, &server.ca_file)?;
    let mut m = Measurement {
        name: server.name.to_owned(),
        contacts: n,
        ..Measurement::default()
    };
    tokio::time::sleep(SETTLE).await;
    m.rss_idle = procstat::rss_kib(pid).unwrap_or(0);
    let preset = server.preset_mutual_rosters(&accounts[0], contacts)?;
    m.subscriptions_preset = preset;

    // The publisher, then the contacts at the login rate.
    let (commands, queue) = mpsc::unbounded_channel();
    let (ready, is_ready) = oneshot::channel();
    let publisher_jid = jid(&accounts[0])?;
    let publisher_bare: Arc<str> = Arc::from(publisher_jid.to_string());
    let publisher = tokio::spawn(clients::publisher(
        Arc::clone(&bench),
        publisher_jid,
        accounts[0].clone(),
        target.clone(),
        options.payload_bytes,
        queue,
        ready,
    ));
    is_ready.await.map_err(|_| "the publisher's task ended")??;
    let (phase, _) = watch::channel(ContactPhase::Plain);
    let variants: Vec<Arc<DiscoSet>> = (0..options.caps_variants)
        .map(|v| Arc::new(DiscoSet::variant(v)))
        .collect();
    let mut tasks = JoinSet::new();
    let login_started = Instant::now();
    let spacing = Duration::from_secs(1) / options.login_rate.max(1);
    for (index, account) in contacts.iter().enumerate() {
        tokio::time::sleep_until(
            tokio::time::Instant::from_std(login_started)
                + spacing * u32::try_from(index).unwrap_or(u32::MAX),
        )
        .await;
        tasks.spawn(clients::contact(
            Arc::clone(&bench),
            index,
            jid(account)?,
            account.clone(),
            target.clone(),
            Arc::clone(&publisher_bare),
            Arc::clone(&variants[index % variants.len()]),
            phase.subscribe(),
        ));
    }
    let logins_done = || {
        bench.logged_in.load(Ordering::Relaxed) + bench.login_failed.load(Ordering::Relaxed) >= n
    };
    if !wait_for(STEP_LIMIT, logins_done).await {
        m.health
            .notes
            .push("not every login finished in time".to_owned());
    }
    m.logged_in = bench.logged_in.load(Ordering::Relaxed);
    m.login_failed = bench.login_failed.load(Ordering::Relaxed);
    println!(
        "{}: {} contacts logged in, {} failed, in {:.1} s",
        m.name,
        m.logged_in,
        m.login_failed,
        login_started.elapsed().as_secs_f64()
    );

    // Mutual subscriptions, over the protocol where they were not written
    // into the server's files.
    if !preset {
        subscribe(&bench, &commands, contacts, &mut m).await?;
    }
    tokio::time::sleep(SETTLE).await;
    m.rss_online = procstat::rss_kib(pid).unwrap_or(0);

    // The caps: presence with caps, then probes until all are notified.
    let started = Instant::now();
    let cpu_before = cpu(pid);
    phase.send_replace(ContactPhase::Caps);
    let mut probes = 0;
    let learned = loop {
        if bench.probed.load(Ordering::Relaxed) >= m.logged_in {
            break true;
        }
        if started.elapsed() >= STEP_LIMIT {
            break false;
        }
        if bench.probed.load(Ordering::Relaxed) == 0
            && bench.publish_errors.load(Ordering::Relaxed) >= REFUSED_PROBES
        {
            m.health.notes.push(format!(
                "the server refused {REFUSED_PROBES} probe publishes and notified nobody"
            ));
            break false;
        }
        commands
            .send(Command::Publish(probe_id(probes)))
            .map_err(|_| "the publisher's task ended")?;
        probes += 1;
        let probed = || bench.probed.load(Ordering::Relaxed) >= m.logged_in;
        wait_for(PROBE_EVERY, probed).await;
    };
    m.caps_seconds = learned.then(|| started.elapsed().as_secs_f64());
    m.probes = probes;
    m.probed = bench.probed.load(Ordering::Relaxed);
    tokio::time::sleep(SETTLE).await;
    m.caps_cpu = cpu(pid) - cpu_before;
    m.disco_queries = bench.disco_queries.load(Ordering::Relaxed);
    m.rss_caps = procstat::rss_kib(pid).unwrap_or(0);
    println!(
        "{}: {} of {} contacts notified of a probe ({probes} probes, {} disco#info queries answered)",
        m.name, m.probed, m.logged_in, m.disco_queries
    );
    if !learned {
        m.health
            .notes
            .push("the server did not learn every contact's caps in time".to_owned());
    }

    // The measured publishes, one at a time.
    let want = u32::try_from(m.probed).unwrap_or(u32::MAX);
    let started = Instant::now();
    let (server_before, me_before) = (cpu(pid), cpu(me));
    let items = if m.probed == 0 { 0 } else { options.items };
    let mut published = 0;
    for seq in 0..items {
        published += 1;
        bench.mark_published(seq);
        commands
            .send(Command::Publish(bench_id(seq)))
            .map_err(|_| "the publisher's task ended")?;
        wait_for(options.item_timeout, || bench.received(seq) >= want).await;
        if bench.received(seq) == 0 {
            m.health.notes.push(format!(
                "item {seq} reached nobody in {:.1} s: publishing stopped",
                options.item_timeout.as_secs_f64()
            ));
            break;
        }
        if !server.is_running() {
            break;
        }
    }
    m.publish_seconds = started.elapsed().as_secs_f64();
    m.publish_cpu = cpu(pid) - server_before;
    m.generator_cpu = cpu(me) - me_before;
    m.items = published;
    m.notifications = bench.notifications.load(Ordering::Relaxed);
    m.duplicates = bench.duplicates.load(Ordering::Relaxed);
    let (times, incomplete) = bench.fan_out_times();
    m.complete_items = times.len();
    m.incomplete_items = incomplete;
    m.fan_out_p50 = quantile(&times, 0.5);
    m.fan_out_p99 = quantile(&times, 0.99);
    m.fan_out_max = times.last().copied();
    m.notify_p50 = bench.latency.quantile(0.5);
    m.notify_p99 = bench.latency.quantile(0.99);
    m.rss_peak = procstat::peak_rss_kib(pid).unwrap_or(0);

    // Everybody out.
    phase.send_replace(ContactPhase::Quit);
    drop(commands);
    let quit = tokio::time::timeout(Duration::from_secs(60), async {
        while tasks.join_next().await.is_some() {}
        let _ = publisher.await;
    })
    .await;
    if quit.is_err() {
        m.health
            .notes
            .push("some client tasks did not end; aborted".to_owned());
        tasks.abort_all();
    }
    m.publish_acks = bench.publish_acks.load(Ordering::Relaxed);
    m.publish_errors = bench.publish_errors.load(Ordering::Relaxed);
    m.error_stanzas = bench.error_stanzas.load(Ordering::Relaxed);
    m.stray = bench.stray.load(Ordering::Relaxed);
    m.disconnects = bench.disconnects.load(Ordering::Relaxed);
    m.health.problems = bench.problems();
    m.health.crashed = !server.is_running();
    Ok(m)
}
