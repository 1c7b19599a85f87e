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
