//! The token secret: `DOCKET_JWT_SECRET` if set, else a random one kept in the data directory.

use std::io::Write;

use crate::config::DataDir;

const MIN_SECRET_BYTES: usize = 32;

pub(crate) fn load_or_create(dir: &DataDir) -> Result<Vec<u8>, String> {
    if let Ok(secret) = std::env::var("DOCKET_JWT_SECRET") {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "DOCKET_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long"
            ));
        }
        return Ok(secret.into_bytes());
    }
    let path = dir.secret_path();
    match std::fs::read_to_string(&path) {
        Ok(hex) => {
            let secret = hex.trim();
            if secret.len() < MIN_SECRET_BYTES {
                return Err(format!(
                    "{} holds a secret shorter than {MIN_SECRET_BYTES} bytes",
                    path.display()
                ));
            }
            Ok(secret.as_bytes().to_vec())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a secret: {e}"))?;
            let secret = hex::encode(bytes);
            write_private(&path, &secret)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            // Another process may have won the race to create it: use what is on disk.
            let on_disk = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Ok(on_disk.trim().as_bytes().to_vec())
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Creates the file readable by its owner only, whole or not at all (written aside, then linked
/// into place); leaves an existing one alone.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let aside = path.with_extension(format!("new-{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&aside)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    let linked = std::fs::hard_link(&aside, path);
    std::fs::remove_file(&aside)?;
    match linked {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}
