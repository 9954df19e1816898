use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::storage::SqliteStorage;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn set_mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

#[test]
fn exposure_table() {
    let cases = [
        (Kind::Directory, 0o700, None),
        (Kind::Directory, 0o40700, None),
        (Kind::Directory, 0o500, None),
        (Kind::Directory, 0o755, Some(0o755)),
        (Kind::Directory, 0o710, Some(0o710)),
        (Kind::Directory, 0o701, Some(0o701)),
        (Kind::File, 0o600, None),
        (Kind::File, 0o100400, None),
        (Kind::File, 0o644, Some(0o644)),
        (Kind::File, 0o640, Some(0o640)),
        (Kind::File, 0o620, Some(0o620)),
        (Kind::File, 0o604, Some(0o604)),
        (Kind::File, 0o777, Some(0o777)),
    ];
    for (kind, m, want) in cases {
        let got = exposure(kind, m);
        assert_eq!(got.map(|e| e.mode), want, "{kind:?} {m:o}");
        if let Some(e) = got {
            assert_eq!(e.wanted, kind.wanted(), "{kind:?} {m:o}");
        }
    }
}

#[test]
fn the_message_names_each_path_and_the_chmod_to_run() {
    let err = DataDirError::Exposed(vec![
        (
            PathBuf::from("/d"),
            Exposure {
                mode: 0o755,
                wanted: 0o700,
            },
        ),
        (
            PathBuf::from("/d/secret.key"),
            Exposure {
                mode: 0o644,
                wanted: 0o600,
            },
        ),
        (
            PathBuf::from("/d/starling.db"),
            Exposure {
                mode: 0o640,
                wanted: 0o600,
            },
        ),
    ]);
    let msg = err.to_string();
    assert!(
        msg.contains("/d is open to other users (mode 0755)"),
        "{msg}"
    );
    assert!(
        msg.contains("/d/secret.key is open to other users (mode 0644)"),
        "{msg}"
    );
    assert!(
        msg.ends_with("Run: chmod 700 /d; chmod 600 /d/secret.key /d/starling.db"),
        "{msg}"
    );
}

#[test]
fn directories_and_files_are_created_private_and_exposed_ones_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("a/b");
    ensure_private_dir(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&tmp.path().join("a")), 0o700, "missing parents too");
    let f = dir.join("f");
    ensure_private_file(&f).unwrap();
    assert_eq!(mode(&f), 0o600);
    ensure_private_file(&f).unwrap();

    set_mode(&f, 0o644);
    assert!(matches!(
        ensure_private_file(&f),
        Err(DataDirError::Exposed(_))
    ));
    make_private(&f).unwrap();
    assert_eq!(mode(&f), 0o600);
    make_private(&dir.join("missing")).unwrap();

    set_mode(&dir, 0o755);
    match ensure_private_dir(&dir) {
        Err(DataDirError::Exposed(v)) => assert_eq!(v[0].0, dir),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn secrets_are_written_private_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("secret.key");
    let valid = |b: &[u8]| b.len() == 4;
    let made = load_or_create_secret(&p, valid, || Ok::<_, String>(vec![1, 2, 3, 4])).unwrap();
    assert_eq!(made, [1, 2, 3, 4]);
    assert_eq!(mode(&p), 0o600);
    let again =
        load_or_create_secret(&p, valid, || Err::<Vec<u8>, _>("must not be made again")).unwrap();
    assert_eq!(again, made);

    // An invalid secret is replaced, by a private file.
    std::fs::write(&p, b"xx").unwrap();
    set_mode(&p, 0o600);
    let new = load_or_create_secret(&p, valid, || Ok::<_, String>(vec![5; 4])).unwrap();
    assert_eq!((new, std::fs::read(&p).unwrap()), (vec![5; 4], vec![5; 4]));
    assert_eq!(mode(&p), 0o600);

    // One that others can read is refused, not used.
    set_mode(&p, 0o644);
    assert!(matches!(
        load_or_create_secret(&p, valid, || Ok::<_, String>(vec![6; 4])),
        Err(DataDirError::Exposed(_))
    ));
    assert_eq!(std::fs::read(&p).unwrap(), vec![5; 4]);
    assert!(
        load_or_create_secret(&tmp.path().join("other"), valid, || Err::<Vec<u8>, _>("no"))
            .is_err()
    );
}

/// SQLite creates `-wal` and `-shm` with the mode of the database file:
/// a database file created `0600` before SQLite opens it keeps all three
/// private whatever the umask.
#[test]
fn sqlite_files_follow_the_mode_of_the_precreated_database() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("starling.db");
    ensure_private_file(&db).unwrap();
    let storage = SqliteStorage::open(&db).unwrap();
    let files = database_files(&db);
    for f in &files {
        assert!(
            f.exists(),
            "{} exists while the database is open",
            f.display()
        );
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    drop(storage);
}

#[test]
fn prepare_creates_the_directory_and_lists_every_exposed_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: tmp.path().join("data"),
        ..Config::default()
    };
    prepare(&config).unwrap();
    assert_eq!(mode(&config.data_dir), 0o700);
    check_existing(&config).unwrap();

    let key = config.data_dir.join("secret.key");
    std::fs::write(&key, [0u8; 32]).unwrap();
    set_mode(&key, 0o644);
    let certs = config.data_dir.join("certs");
    std::fs::create_dir(&certs).unwrap();
    set_mode(&certs, 0o700);
    let cert_key = certs.join("localhost.key");
    std::fs::write(&cert_key, "k").unwrap();
    set_mode(&cert_key, 0o640);
    // A certificate is public: its mode is not checked.
    std::fs::write(certs.join("localhost.crt"), "c").unwrap();
    set_mode(&certs.join("localhost.crt"), 0o644);
    set_mode(&config.data_dir, 0o755);
    match prepare(&config) {
        Err(DataDirError::Exposed(v)) => {
            let paths: Vec<&Path> = v.iter().map(|(p, _)| p.as_path()).collect();
            assert_eq!(paths, [config.data_dir.as_path(), &key, &cert_key]);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
