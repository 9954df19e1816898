//! Persistence, process death and concurrent access.

use super::*;

// ---- persistence ----

#[test]
fn everything_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("persist.db");
    let juliet = jid("juliet@capulet.lit");
    let romeo = jid("romeo@montague.lit");
    let mut entry = RosterEntry::new(romeo.clone());
    entry.name = Some("Roméo".into());
    entry.groups = vec!["B".into(), "A".into()];
    entry.subscription = Subscription::From;
    entry.approved = true;
    let sha256 = creds(ScramHash::Sha256, 4);
    let messages = {
        let db = SqliteStorage::open(&path).unwrap();
        db.create_account(&juliet, std::slice::from_ref(&sha256))
            .unwrap();
        db.roster_put(&juliet, &RosterEntry::new(jid("tybalt@capulet.lit")))
            .unwrap();
        db.roster_put(&juliet, &entry).unwrap();
        db.roster_remove(&juliet, &jid("tybalt@capulet.lit"))
            .unwrap();
        add_req(&db, &juliet, &romeo, None).unwrap();
        push(&db, &juliet, "<message>one</message>", 10).unwrap();
        push(&db, &juliet, "<message>two</message>", 10).unwrap();
        db.offline_load(&juliet, 10).unwrap()
    };
    let db = SqliteStorage::open(&path).unwrap();
    assert_eq!(
        db.list_accounts(None).unwrap(),
        std::slice::from_ref(&juliet)
    );
    assert_eq!(
        db.credentials(&juliet, ScramHash::Sha256).unwrap(),
        Some(sha256)
    );
    assert_eq!(db.roster(&juliet).unwrap(), (3, vec![entry.clone()]));
    assert_eq!(
        db.subscription_requests(&juliet).unwrap(),
        [SubscriptionRequest::bare(romeo.clone())]
    );
    assert_eq!(db.offline_load(&juliet, 10).unwrap(), messages);
    // The version counter continues.
    assert_eq!(db.roster_put(&juliet, &entry).unwrap(), 4);
}

/// Environment variable telling the child process of
/// `committed_writes_survive_process_death` where to write.
const CRASH_CHILD: &str = "STARLING_SQLITE_CRASH_CHILD_DB";

#[test]
fn committed_writes_survive_process_death() {
    let juliet = jid("juliet@capulet.lit");
    if let Some(path) = std::env::var_os(CRASH_CHILD) {
        // Child: commit, then die without closing the database (no
        // destructors, no checkpoint), like `kill -9`.
        let db = SqliteStorage::open(Path::new(&path)).unwrap();
        db.create_account(&juliet, &[]).unwrap();
        for i in 0..50 {
            push(&db, &juliet, &format!("<message id='{i}'/>"), 1000).unwrap();
        }
        std::process::exit(17);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let name = format!(
        "{}::committed_writes_survive_process_death",
        module_path!().split_once("::").unwrap().1
    );
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name.as_str(), "--exact", "--test-threads=1"])
        .env(CRASH_CHILD, &path)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(17), "the child did not run to its exit");
    // The commits live only in the WAL: nothing checkpointed them.
    let wal = std::fs::metadata(dir.path().join("crash.db-wal")).unwrap();
    assert!(wal.len() > 0);
    let db = SqliteStorage::open(&path).unwrap();
    assert!(db.account_exists(&juliet).unwrap());
    assert_eq!(db.offline_count(&juliet).unwrap(), 50);
}

// ---- concurrency ----

#[test]
fn concurrent_writers_and_readers_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(SqliteStorage::open(&dir.path().join("conc.db")).unwrap());
    let owners: Vec<BareJid> = (0..8)
        .map(|i| jid(&format!("user{i}@example.lit")))
        .collect();
    for o in &owners {
        db.create_account(o, &[]).unwrap();
    }
    let shared = jid("shared@example.lit");
    db.create_account(&shared, &[]).unwrap();

    let threads: Vec<_> = owners
        .iter()
        .cloned()
        .map(|owner| {
            let db = Arc::clone(&db);
            let shared = shared.clone();
            std::thread::spawn(move || {
                let mut stored_shared = 0;
                for i in 0..200 {
                    assert!(push(&db, &owner, &format!("<m n='{i}'/>"), 10_000).unwrap());
                    // Reads see every write this thread made.
                    assert_eq!(db.offline_count(&owner).unwrap(), i + 1);
                    if i % 10 == 0 {
                        let loaded = db.offline_load(&owner, 1000).unwrap();
                        assert_eq!(loaded.len(), i + 1);
                        assert!(loaded.windows(2).all(|w| w[0].id < w[1].id));
                        assert!(db.roster(&shared).unwrap().1.is_empty());
                    }
                    // Everyone competes for one quota of 100.
                    if i < 25 && push(&db, &shared, "<m/>", 100).unwrap() {
                        stored_shared += 1;
                    }
                }
                stored_shared
            })
        })
        .collect();
    let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(accepted, 100);
    assert_eq!(db.offline_count(&shared).unwrap(), 100);
    for o in &owners {
        assert_eq!(db.offline_count(o).unwrap(), 200);
        let stanzas: Vec<String> = db
            .offline_load(o, 1000)
            .unwrap()
            .into_iter()
            .map(|m| m.stanza)
            .collect();
        let want: Vec<String> = (0..200).map(|i| format!("<m n='{i}'/>")).collect();
        assert_eq!(stanzas, want);
    }
    // The pool keeps at most READ_POOL_SIZE idle connections.
    let idle = db.readers.as_ref().unwrap().idle.lock().unwrap().len();
    assert!((1..=READ_POOL_SIZE).contains(&idle), "{idle}");
}

#[test]
fn reads_do_not_wait_for_an_open_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteStorage::open(&dir.path().join("snap.db")).unwrap();
    let romeo = jid("romeo@montague.lit");
    db.create_account(&romeo, &[]).unwrap();
    let juliet = jid("juliet@capulet.lit");
    // Hold the write lock with an uncommitted write, as a slow write
    // would.
    let mut writer = db.writer.lock().unwrap();
    let tx = writer
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    tx.execute(
        "INSERT INTO accounts VALUES (?1, 'capulet.lit', 0)",
        [juliet.as_str()],
    )
    .unwrap();
    let start = std::time::Instant::now();
    // The pool reads the last committed snapshot at once.
    assert!(db.account_exists(&romeo).unwrap());
    assert!(!db.account_exists(&juliet).unwrap());
    assert!(start.elapsed() < BUSY_TIMEOUT / 2);
    tx.commit().unwrap();
    drop(writer);
    assert!(db.account_exists(&juliet).unwrap());
}

#[test]
fn two_handles_on_one_file_wait_for_each_other() {
    // Like the server and the admin CLI: separate connections, each
    // with its own write lock, on one file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.db");
    let first = Arc::new(SqliteStorage::open(&path).unwrap());
    let second = Arc::new(SqliteStorage::open(&path).unwrap());
    let threads: Vec<_> = [Arc::clone(&first), Arc::clone(&second)]
        .into_iter()
        .enumerate()
        .map(|(n, db)| {
            std::thread::spawn(move || {
                for i in 0..100 {
                    db.create_account(&jid(&format!("u{n}-{i}@example.lit")), &[])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(first.list_accounts(None).unwrap().len(), 200);
    assert_eq!(second.list_accounts(None).unwrap().len(), 200);
}
