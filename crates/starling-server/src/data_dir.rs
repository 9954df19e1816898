//! The data directory holds SCRAM keys, messages and the server's secrets:
//! it is created `0700` and every file in it `0600` from the start (by
//! the mode given to `mkdir`/`open`, never by a `chmod` afterwards), and a
//! server or an admin command refuses to use a directory or a secret file
//! that other users can open, naming the `chmod` to run.
//!
//! [`exposure`] is the pure decision (mode bits in, verdict out); the rest
//! is the thin layer of file-system calls around it.
//!
//! ```
//! use starling_server::data_dir::{Kind, exposure};
//!
//! assert!(exposure(Kind::Directory, 0o700).is_none());
//! let e = exposure(Kind::Directory, 0o755).unwrap();
//! assert_eq!(e.wanted, 0o700);
//! assert!(exposure(Kind::File, 0o644).is_some());
//! ```

use std::fs::{DirBuilder, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::config::Config;

/// Mode of the data directory and of the directories in it.
pub const DIR_MODE: u32 = 0o700;

/// Mode of every file the server creates in the data directory.
pub const FILE_MODE: u32 = 0o600;

/// The permission bits of the group and of other users.
const OTHERS: u32 = 0o077;

/// What a path is, for the mode it should have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory (wanted: [`DIR_MODE`]).
    Directory,
    /// A file (wanted: [`FILE_MODE`]).
    File,
}

impl Kind {
    /// The mode this kind of path is created with.
    pub fn wanted(self) -> u32 {
        match self {
            Kind::Directory => DIR_MODE,
            Kind::File => FILE_MODE,
        }
    }
}

/// A path's mode gives its group or other users some access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    /// The permission bits found (`mode & 0o777`).
    pub mode: u32,
    /// The mode to set instead.
    pub wanted: u32,
}

/// Whether `mode` lets the group or other users read, write or search a
/// path of `kind`: any of the bits `0o077` is set.
pub fn exposure(kind: Kind, mode: u32) -> Option<Exposure> {
    let mode = mode & 0o777;
    (mode & OTHERS != 0).then_some(Exposure {
        mode,
        wanted: kind.wanted(),
    })
}

/// The data directory or a file in it cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// A file-system call failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Other users can open these paths.
    #[error("{}", exposed_message(.0))]
    Exposed(Vec<(PathBuf, Exposure)>),
}

/// "P is open to other users (mode M)…", then the `chmod` commands that
/// fix every listed path.
fn exposed_message(paths: &[(PathBuf, Exposure)]) -> String {
    let mut msg = String::new();
    for (p, e) in paths {
        msg.push_str(&format!(
            "{} is open to other users (mode {:04o}); ",
            p.display(),
            e.mode
        ));
    }
    msg.push_str("it holds account keys, messages or secrets, so it is refused. Run:");
    for wanted in [DIR_MODE, FILE_MODE] {
        let list: Vec<String> = paths
            .iter()
            .filter(|(_, e)| e.wanted == wanted)
            .map(|(p, _)| p.display().to_string())
            .collect();
        if !list.is_empty() {
            msg.push_str(&format!(" chmod {wanted:o} {};", list.join(" ")));
        }
    }
    msg.pop();
    msg
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The exposure of an existing path; `None` when it is private or
/// missing.
fn exposed(path: &Path, kind: Kind) -> Result<Option<Exposure>, DataDirError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(exposure(kind, m.permissions().mode())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Checks an existing path's mode; a missing path is fine.
pub fn check(path: &Path, kind: Kind) -> Result<(), DataDirError> {
    match exposed(path, kind)? {
        None => Ok(()),
        Some(e) => Err(DataDirError::Exposed(vec![(path.to_owned(), e)])),
    }
}

/// Creates `dir` (and missing parents) with mode `0700`, or checks the
/// mode of the existing one.
pub fn ensure_private_dir(dir: &Path) -> Result<(), DataDirError> {
    create_private_dir(dir)?;
    check(dir, Kind::Directory)
}

/// Creates `dir` and its missing parents with mode `0700`; an existing
/// directory is left as it is.
fn create_private_dir(dir: &Path) -> Result<(), DataDirError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io(dir))
}

/// Creates `path` empty with mode `0600` if it does not exist (so that a
/// program which creates it later, such as SQLite, finds it private), or
/// checks the mode of the existing file.
pub fn ensure_private_file(path: &Path) -> Result<(), DataDirError> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => check(path, Kind::File),
        Err(e) => Err(io(path)(e)),
    }
}

/// Makes an existing file private (`0600`) when it is not; a missing file
/// is fine. For the files another program created beside ours.
pub fn make_private(path: &Path) -> Result<(), DataDirError> {
    match check(path, Kind::File) {
        Err(DataDirError::Exposed(_)) => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))
                .map_err(io(path))
        }
        other => other,
    }
}

/// Reads the secret kept at `path` if it is valid (refusing a file others
/// can read), or writes a new one made by `make` into a new file created
/// with mode `0600` (then renamed over an invalid old one).
pub fn load_or_create_secret<E: std::fmt::Display>(
    path: &Path,
    valid: impl Fn(&[u8]) -> bool,
    make: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, DataDirError> {
    check(path, Kind::File)?;
    match std::fs::read(path) {
        Ok(bytes) if valid(&bytes) => return Ok(bytes),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    let secret = make().map_err(|e| io(path)(std::io::Error::other(e.to_string())))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(&tmp)(e)),
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(&secret).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(secret)
}

/// The SQLite files of a database: the file and its `-wal` and `-shm`.
pub fn database_files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    [db.to_owned(), with("-wal"), with("-shm")]
}

/// The files of the data directory that hold secrets: `secret.key`,
/// `dialback.key`, the generated certificate keys (`certs/*.key`), and the
/// database files.
fn secret_files(config: &Config) -> Result<Vec<PathBuf>, DataDirError> {
    let dir = &config.data_dir;
    let mut files = vec![dir.join("secret.key"), dir.join("dialback.key")];
    let certs = dir.join("certs");
    match std::fs::read_dir(&certs) {
        Ok(entries) => {
            for e in entries {
                let p = e.map_err(io(&certs))?.path();
                if p.extension().is_some_and(|x| x == "key") {
                    files.push(p);
                }
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(io(&certs)(e)),
    }
    files.extend(database_files(&config.database_path()));
    Ok(files)
}

/// Creates the data directory (`0700`) if missing and refuses it, or any
/// of the files that hold secrets, when other users can open them.
pub fn prepare(config: &Config) -> Result<(), DataDirError> {
    create_private_dir(&config.data_dir)?;
    check_existing(config)
}

/// Checks the modes of the data directory and its secret files without
/// creating anything (`check-config`); the error lists every exposed path.
pub fn check_existing(config: &Config) -> Result<(), DataDirError> {
    let dirs = [config.data_dir.clone(), config.data_dir.join("certs")];
    let paths = dirs
        .into_iter()
        .map(|d| (d, Kind::Directory))
        .chain(secret_files(config)?.into_iter().map(|f| (f, Kind::File)));
    let mut found = Vec::new();
    for (p, kind) in paths {
        if let Some(e) = exposed(&p, kind)? {
            found.push((p, e));
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(DataDirError::Exposed(found))
    }
}

#[cfg(test)]
mod tests;
