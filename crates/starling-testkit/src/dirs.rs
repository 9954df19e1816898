//! Temporary directories for servers, peers and certificates: one fresh
//! directory per use, removed when its guard is dropped unless
//! `STARLING_KEEP_TEST_DIR` (or `STARLING_KEEP_PEER_DIR`) is set.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::logs::note;

/// Environment variables that keep test directories after the test.
pub const KEEP_VARS: [&str; 2] = ["STARLING_KEEP_TEST_DIR", "STARLING_KEEP_PEER_DIR"];

/// A number unique within this process.
pub fn unique() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// 32 unpredictable hex digits (for names, cookies and secrets of tests).
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut file) = fs::File::open("/dev/urandom") {
        let _ = file.read_exact(&mut bytes);
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    bytes[..4]
        .iter_mut()
        .zip(nanos.to_le_bytes())
        .for_each(|(b, n)| *b ^= n);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether test directories are to be kept.
pub fn keep() -> bool {
    KEEP_VARS.iter().any(|var| std::env::var_os(var).is_some())
}

/// A fresh directory under the system temporary directory, removed on drop
/// (see [`keep`]). It is readable by everyone, so that a server running as
/// another user can be given it.
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// Creates `starling-KIND-PID-N-TOKEN` in the temporary directory.
    ///
    /// # Errors
    ///
    /// When no directory can be created there.
    pub fn new(kind: &str) -> Result<TestDir, String> {
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let path = base.join(format!(
                "starling-{kind}-{}-{}-{}",
                std::process::id(),
                unique(),
                &random_token()[..8]
            ));
            match fs::create_dir(&path) {
                Ok(()) => {
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    return Ok(TestDir { path });
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(format!("creating {}: {error}", path.display())),
            }
        }
        Err(format!("cannot create a directory in {}", base.display()))
    }

    /// [`TestDir::new`], panicking on failure.
    pub fn create(kind: &str) -> TestDir {
        TestDir::new(kind).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if keep() {
            note(&format!("kept {}", self.path.display()));
        } else if let Err(error) = fs::remove_dir_all(&self.path) {
            if error.kind() != std::io::ErrorKind::NotFound {
                note(&format!("cannot remove {}: {error}", self.path.display()));
            }
        }
    }
}

/// The path as text, if it has nothing that would need quoting in a Lua,
/// YAML or shell string (temporary directories never do).
///
/// # Errors
///
/// For other paths: set `TMPDIR` to a plain directory.
pub fn plain_path(path: &Path) -> Result<String, String> {
    let text = path
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))?;
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text}: unusual characters in the temporary directory (set TMPDIR)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_dir_is_fresh_and_removed() {
        let (a, b) = (TestDir::create("unit"), TestDir::create("unit"));
        assert_ne!(a.path(), b.path());
        let path = a.path().to_owned();
        assert!(path.is_dir());
        fs::write(a.join("file"), "x").unwrap();
        drop(a);
        assert_eq!(path.exists(), keep());
    }

    #[test]
    fn plain_paths() {
        assert!(plain_path(Path::new("/tmp/starling-x-1_2.3+4")).is_ok());
        assert!(plain_path(Path::new("/tmp/a b")).is_err());
        assert!(plain_path(Path::new("/tmp/a\"b")).is_err());
    }
}
