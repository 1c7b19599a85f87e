//! Rules that refuse: each learner's quotas of containers, volumes, networks and disk. Each
//! is checked under the learner's quota lock ([`super::server::Scope::quota_lock`]) together
//! with the create it guards, so parallel requests cannot all pass one check.

use serde_json::Value;

use super::refusal::Refusal;
use super::scope;
use super::server::Scope;

/// Refuses a new container when the learner has as many as the quota allows; names the
/// stopped ones, which are the usual ones to remove. Returns the learner's containers.
pub async fn container_quota(scope: &Scope) -> Result<Vec<Value>, Refusal> {
    let existing = scope::containers(scope, true).await?;
    let quota = scope.settings().quotas.containers;
    if existing.len() < quota {
        return Ok(existing);
    }
    let described = super::containers::describe(scope, &existing);
    let stopped: Vec<&str> = described
        .iter()
        .filter(|(_, state)| state.as_str() != "running" && state.as_str() != "paused")
        .map(|(name, _)| name.as_str())
        .collect();
    let hint = if stopped.is_empty() {
        "stop and remove one with docker rm -f NAME".to_owned()
    } else {
        format!(
            "{} stopped: {}; remove one with docker rm NAME, or all stopped ones with docker container prune",
            stopped.len(),
            stopped.join(", ")
        )
    };
    Err(Refusal::limit(format!(
        "you already have {} containers, the most this sandbox allows ({hint})",
        existing.len()
    )))
}

/// Refuses `adding` more volumes past the quota (anonymous ones count too).
pub async fn volume_quota(scope: &Scope, adding: usize) -> Result<(), Refusal> {
    if adding == 0 {
        return Ok(());
    }
    let count = scope::volumes(scope).await?.len();
    let quota = scope.settings().quotas.volumes;
    if count + adding > quota {
        return Err(Refusal::limit(format!(
            "you have {count} volumes and this needs {adding} more, past the {quota} this sandbox allows; remove some with docker volume rm NAME, or unused ones with docker volume prune"
        )));
    }
    Ok(())
}

/// Refuses a new network when the learner has as many as the quota allows (their default
/// network does not count).
pub async fn network_quota(scope: &Scope) -> Result<(), Refusal> {
    let own = scope::networks(scope).await?.len().saturating_sub(1);
    if own >= scope.settings().quotas.networks {
        return Err(Refusal::limit(format!(
            "you already have {own} networks, the most this sandbox allows; remove one with docker network rm NAME"
        )));
    }
    Ok(())
}

/// Refuses what would write more to disk while the learner is over their disk quota.
pub async fn disk(scope: &Scope, what: &str) -> Result<(), Refusal> {
    match scope.disk_over() {
        Some(report) => Err(Refusal::limit(format!("you cannot {what} now: {report}"))),
        None => Ok(()),
    }
}

/// What a learner asks of the engine that costs the engine itself (every learner's terminal
/// and checks go through it): paced per learner, so a loop of builds or runs cannot keep the
/// engine busy for everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Costly {
    /// Containers, execs, volumes, networks made.
    Create,
    /// Builds.
    Build,
}

impl Costly {
    /// (burst, seconds per token)
    fn bucket(self) -> (f64, f64) {
        match self {
            Costly::Create => (20.0, 0.2),
            Costly::Build => (10.0, 4.0),
        }
    }
}

/// A learner's token buckets.
#[derive(Debug, Default)]
pub struct Pace {
    buckets: std::sync::Mutex<std::collections::HashMap<&'static str, (f64, std::time::Instant)>>,
}

/// Waiting longer than this for a token is refused instead.
const MAX_PACE_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

impl Pace {
    /// How long to wait before `what` may go ahead (taking its token now).
    fn take(&self, what: Costly) -> std::time::Duration {
        let (burst, every) = what.bucket();
        let key = match what {
            Costly::Create => "create",
            Costly::Build => "build",
        };
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, at) = buckets.entry(key).or_insert((burst, now));
        let refilled = (*tokens + now.duration_since(*at).as_secs_f64() / every).min(burst);
        let left = refilled - 1.0;
        *tokens = left;
        *at = now;
        if left >= 0.0 {
            std::time::Duration::ZERO
        } else {
            std::time::Duration::from_secs_f64(-left * every)
        }
    }
}

/// Waits for the learner's turn at a costly request; refused when the wait would be long.
pub async fn pace(scope: &Scope, what: Costly) -> Result<(), Refusal> {
    let wait = scope.pace().take(what);
    if wait > MAX_PACE_WAIT {
        return Err(Refusal {
            status: 429,
            message: format!(
                "berth: you are asking the Docker engine for too much at once; try again in {} seconds",
                wait.as_secs()
            ),
        });
    }
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_pass_and_then_requests_are_paced() {
        let pace = Pace::default();
        for _ in 0..10 {
            assert!(pace.take(Costly::Build).is_zero());
        }
        let wait = pace.take(Costly::Build);
        assert!(wait > std::time::Duration::from_secs(3), "{wait:?}");
        assert!(pace.take(Costly::Create).is_zero());
    }
}
