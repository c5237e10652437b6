//! `trunkd backup`: a consistent copy of the embedded database, taken while servers run.
//!
//! SQLite's `VACUUM INTO` reads one snapshot, in a read transaction that in WAL mode blocks no
//! writer, and writes it out as a fresh, compacted database file, the write-ahead log's commits
//! included. (Copying `trunkd.db` with `cp` is not a backup: while a server runs, the newest
//! commits are only in `trunkd.db-wal`, and a copy of the two taken at different moments may
//! not open.) The copy is written beside the target under a temporary name, checked (integrity,
//! schema version), flushed to disk and only then renamed into place, so a backup that failed
//! or was interrupted never leaves a file that looks like one.

use std::path::{Path, PathBuf};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};

/// What a backup holds, for the operator's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    pub path: PathBuf,
    pub bytes: u64,
    /// The newest migration applied in the copy.
    pub schema_version: i64,
    pub networks: i64,
    pub ports: i64,
    pub trunks: i64,
}

impl std::fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} bytes, schema version {}: {} networks, {} ports, {} trunks)",
            self.path.display(),
            self.bytes,
            self.schema_version,
            self.networks,
            self.ports,
            self.trunks
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("database {path}: {message}")]
    Source { path: String, message: String },
    #[error("backup file {path}: {message}")]
    Target { path: String, message: String },
}

/// Copies the database at `source` into the new file `target` (which must not exist).
pub async fn backup(source: &Path, target: &Path) -> Result<BackupSummary, BackupError> {
    let source_error = |message: String| BackupError::Source {
        path: source.display().to_string(),
        message,
    };
    let target_error = |message: String| BackupError::Target {
        path: target.display().to_string(),
        message,
    };
    if !source.exists() {
        return Err(source_error(
            "does not exist; `trunkd serve` or `trunkd migrate` creates it".into(),
        ));
    }
    if target.exists() {
        return Err(target_error(
            "already exists; name a new file (a backup never overwrites one)".into(),
        ));
    }
    let directory = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !directory.is_dir() {
        return Err(target_error(format!(
            "its directory {} does not exist",
            directory.display()
        )));
    }
    let file_name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| target_error("names no file".into()))?;
    let partial = directory.join(format!(".{file_name}.partial-{}", std::process::id()));
    // Made empty here first (VACUUM INTO takes an empty file), so that a directory this user
    // cannot write in is told as such rather than as SQLite's "unable to open database".
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .map_err(|e| target_error(format!("cannot write in {}: {e}", directory.display())))?;

    let copied = copy_into(source, &partial)
        .await
        .map_err(|message| source_error(format!("cannot copy it: {message}")));
    let summary = match copied {
        Ok(()) => check_copy(&partial).await.map_err(|message| {
            target_error(format!(
                "the copy failed its check ({message}); nothing kept"
            ))
        }),
        Err(error) => Err(error),
    };
    let finished = summary.and_then(|summary| {
        sync_file(&partial).map_err(|e| target_error(format!("cannot flush the copy: {e}")))?;
        std::fs::rename(&partial, target)
            .map_err(|e| target_error(format!("cannot move the copy into place: {e}")))?;
        // The rename is durable once the directory is.
        sync_file(&directory)
            .map_err(|e| target_error(format!("cannot flush {}: {e}", directory.display())))?;
        let bytes = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0);
        Ok(BackupSummary {
            path: target.to_path_buf(),
            bytes,
            ..summary
        })
    });
    if finished.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    finished
}

/// `VACUUM INTO` on a read-only connection of the live database.
async fn copy_into(source: &Path, partial: &Path) -> Result<(), String> {
    let options = SqliteConnectOptions::new()
        .filename(source)
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(10));
    let mut conn = options.connect().await.map_err(|e| e.to_string())?;
    let target = partial
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", partial.display()))?;
    let result = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let _ = conn.close().await;
    result
}

/// Opens the copy and checks it is whole and a trunkd database; what it holds.
async fn check_copy(partial: &Path) -> Result<BackupSummary, String> {
    let options = SqliteConnectOptions::new()
        .filename(partial)
        .read_only(true)
        .create_if_missing(false);
    let mut conn: SqliteConnection = options.connect().await.map_err(|e| e.to_string())?;
    let summary = summarise(&mut conn, partial).await;
    let _ = conn.close().await;
    summary
}

async fn summarise(conn: &mut SqliteConnection, path: &Path) -> Result<BackupSummary, String> {
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| e.to_string())?;
    if integrity != "ok" {
        return Err(format!("integrity check: {integrity}"));
    }
    let schema_version: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await
            .map_err(|_| "it holds no trunkd schema".to_string())?;
    let networks = count(conn, "networks").await?;
    let ports = count(conn, "ports").await?;
    let trunks = count(conn, "trunks").await?;
    Ok(BackupSummary {
        path: path.to_path_buf(),
        bytes: 0,
        schema_version: schema_version.ok_or("it holds no trunkd schema")?,
        networks,
        ports,
        trunks,
    })
}

async fn count(conn: &mut SqliteConnection, table: &'static str) -> Result<i64, String> {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(conn)
        .await
        .map_err(|e| format!("{table}: {e}"))
}

fn sync_file(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::Store;

    #[tokio::test]
    async fn a_backup_is_a_whole_database_and_never_overwrites() {
        let dir = tempfile::tempdir().expect("dir");
        let source = dir.path().join("trunkd.db");
        let store = SqliteStore::open(&source).await.expect("open");
        store.migrate().await.expect("migrate");
        let target = dir.path().join("copy.db");
        let summary = backup(&source, &target).await.expect("backup");
        assert_eq!(summary.schema_version, store.expected_schema_version());
        assert!(summary.bytes > 0);
        assert_eq!((summary.networks, summary.ports, summary.trunks), (0, 0, 0));
        // No partial file is left beside it.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains("partial"))
            .collect();
        assert!(names.is_empty(), "{names:?}");

        let again = backup(&source, &target).await;
        assert!(
            matches!(&again, Err(BackupError::Target { message, .. }) if message.contains("already exists")),
            "{again:?}"
        );
        store.close().await;
    }

    #[tokio::test]
    async fn a_missing_database_or_directory_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = backup(&dir.path().join("none.db"), &dir.path().join("b.db")).await;
        assert!(
            matches!(&missing, Err(BackupError::Source { message, .. }) if message.contains("does not exist")),
            "{missing:?}"
        );
        assert!(
            !dir.path().join("none.db").exists(),
            "the backup created the source"
        );
        let source = dir.path().join("trunkd.db");
        let store = SqliteStore::open(&source).await.expect("open");
        store.migrate().await.expect("migrate");
        let nowhere = backup(&source, &dir.path().join("no/such/dir/b.db")).await;
        assert!(
            matches!(&nowhere, Err(BackupError::Target { message, .. }) if message.contains("does not exist")),
            "{nowhere:?}"
        );
        store.close().await;
    }
}
