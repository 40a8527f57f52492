//! The dev stack (real MariaDB, Redis, RabbitMQ on loopback), started once per test run.
//!
//! `scripts/devstack start` is idempotent, so every test binary may call [`DevStack::get`]:
//! the first call in a run starts the services, later ones reuse them. The test script stops
//! the stack at the end of the run, not after each test.

use crate::{HarnessError, repo_root};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Connection settings of the running dev stack.
#[derive(Debug, Clone)]
pub struct DevStack {
    pub store_url: String,
    pub cache_url: String,
    pub bus_url: String,
}

/// A dev stack service that tests may stop and start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Mariadb,
    Redis,
    Rabbitmq,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Mariadb => "mariadb",
            Service::Redis => "redis",
            Service::Rabbitmq => "rabbitmq",
        }
    }
}

static STACK: OnceLock<Result<DevStack, String>> = OnceLock::new();

fn script() -> PathBuf {
    repo_root().join("scripts/devstack")
}

fn run_script(args: &[&str]) -> Result<String, HarnessError> {
    let output = Command::new(script())
        .args(args)
        .output()
        .map_err(HarnessError::io(format!(
            "running scripts/devstack {}",
            args.join(" ")
        )))?;
    if !output.status.success() {
        return Err(HarnessError::Failed(format!(
            "scripts/devstack {} failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim().strip_prefix("export ").unwrap_or(line.trim());
            let (key, value) = line.split_once('=')?;
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            Some((key.to_owned(), value.to_owned()))
        })
        .collect()
}

impl DevStack {
    /// Starts the dev stack if it is not running and returns its settings. Panics with the
    /// script's output when the stack cannot start: every test that needs it would fail anyway.
    pub fn get() -> DevStack {
        STACK
            .get_or_init(|| Self::start().map_err(|e| e.to_string()))
            .clone()
            .unwrap_or_else(|e| panic!("the dev stack is not available: {e}"))
    }

    fn start() -> Result<DevStack, HarnessError> {
        run_script(&["start"])?;
        let env = parse_env(&run_script(&["env"])?);
        let field = |key: &str| {
            env.get(key)
                .cloned()
                .ok_or_else(|| HarnessError::Failed(format!("scripts/devstack env has no {key}")))
        };
        Ok(DevStack {
            store_url: field("FERROVOX_STORE_URL")?,
            cache_url: field("FERROVOX_CACHE_URL")?,
            bus_url: field("FERROVOX_BUS_URL")?,
        })
    }

    /// Stops one service (the others keep running).
    pub fn stop(&self, service: Service) -> Result<(), HarnessError> {
        run_script(&["stop", service.name()]).map(|_| ())
    }

    /// Starts one service again and waits until it answers.
    pub fn start_service(&self, service: Service) -> Result<(), HarnessError> {
        run_script(&["start", service.name()]).map(|_| ())
    }

    /// Creates an empty MariaDB database for one test and returns its URL.
    pub fn fresh_mysql_database(&self) -> Result<String, HarnessError> {
        let name = format!("ferrovox_test_{}", uuid::Uuid::new_v4().simple());
        let (base, _) = self.store_url.rsplit_once('/').ok_or_else(|| {
            HarnessError::Failed(format!("store url {} has no database", self.store_url))
        })?;
        let (credentials, host_port) = base
            .trim_start_matches("mysql://")
            .rsplit_once('@')
            .ok_or_else(|| {
                HarnessError::Failed(format!("store url {} has no credentials", self.store_url))
            })?;
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        let (host, port) = host_port.split_once(':').unwrap_or((host_port, "3306"));
        let output = Command::new("mariadb")
            .args(["-h", host, "-P", port, "-u", user])
            .arg(format!("-p{password}"))
            .args([
                "-e",
                &format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"),
            ])
            .output()
            .map_err(HarnessError::io("running the mariadb client"))?;
        if !output.status.success() {
            return Err(HarnessError::Failed(format!(
                "CREATE DATABASE {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(format!("{base}/{name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_env;

    #[test]
    fn reads_export_lines() {
        let env = parse_env(
            "export FERROVOX_STORE_URL=mysql://a:b@127.0.0.1:1/x\nexport FERROVOX_CACHE_URL=\"redis://127.0.0.1:2/\"\n# c\n",
        );
        assert_eq!(env["FERROVOX_STORE_URL"], "mysql://a:b@127.0.0.1:1/x");
        assert_eq!(env["FERROVOX_CACHE_URL"], "redis://127.0.0.1:2/");
        assert_eq!(env.len(), 2);
    }
}
