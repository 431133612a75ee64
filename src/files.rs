//! Files only their owner may read (keys, the keyring, generated TLS keys).

use std::path::Path;

use anyhow::Context;

/// Creates `path` (it must not exist) readable and writable by its owner only.
#[cfg(unix)]
pub fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
pub fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    std::fs::write(path, content).with_context(|| format!("cannot create {}", path.display()))
}
