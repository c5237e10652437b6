//! Fresh PostgreSQL databases for tests. When `TRUNKD_TEST_DATABASE_URL` names a server (an
//! admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`), every test server and
//! harness gets its own new database, dropped afterwards; otherwise tests use SQLite. A server
//! that cannot be reached fails the test: nothing is skipped.
#![allow(dead_code)]

use std::io::Write;

use sqlx::Connection;

pub const ENV: &str = "TRUNKD_TEST_DATABASE_URL";
/// When set, each created database's name is appended to this file (CI counts them to prove
/// the PostgreSQL pass really ran on PostgreSQL).
pub const LOG_ENV: &str = "TRUNKD_TEST_DATABASE_LOG";

pub struct TempDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

/// Runs a future on a private runtime in its own thread, so it works from sync and async code.
fn run<T: Send + 'static>(work: impl std::future::Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work)
    })
    .join()
    .expect("database helper thread")
}

fn with_database(admin_url: &str, name: &str) -> String {
    match admin_url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("{ENV} must end in /DATABASE: {admin_url}"),
    }
}

impl TempDatabase {
    /// A new empty database, or `None` when the tests run on SQLite.
    pub fn create() -> Option<TempDatabase> {
        let admin_url = std::env::var(ENV).ok().filter(|u| !u.is_empty())?;
        let name = format!("trunkd_test_{}", uuid::Uuid::new_v4().simple());
        let (admin, statement) = (admin_url.clone(), format!("CREATE DATABASE {name}"));
        run(async move {
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("{ENV}={admin}: {e}"));
            sqlx::query(&statement)
                .execute(&mut conn)
                .await
                .expect("create database");
        });
        if let Ok(log) = std::env::var(LOG_ENV) {
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
            {
                let _ = writeln!(file, "{name}");
            }
        }
        Some(TempDatabase {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
        })
    }
}

impl TempDatabase {
    /// Waits until no connection uses the database. A server killed with SIGKILL leaves its
    /// backends running until they notice: one that had received COMMIT finishes it, so a
    /// transaction of the dead server can still become visible after another server has
    /// started and read. Tests that restart on the same data wait here first.
    pub fn wait_until_unused(&self, limit: std::time::Duration) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        run(async move {
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("connect as admin");
            let deadline = std::time::Instant::now() + limit;
            loop {
                let users: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                        .bind(&name)
                        .fetch_one(&mut conn)
                        .await
                        .expect("pg_stat_activity");
                if users == 0 {
                    return;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{users} connections still use {name} {limit:?} after its server stopped"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (admin, statement) = (
            self.admin_url.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        run(async move {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&statement).execute(&mut conn).await;
            }
        });
    }
}
