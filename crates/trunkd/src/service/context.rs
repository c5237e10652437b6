//! Who is calling, and the policy checks every operation makes before it reads or writes.

use crate::ids::ProjectId;
use crate::policy::{Action, Credentials, Policy, Target};
use crate::service::ServiceError;
use crate::store::idempotency::IdempotencyClaim;

/// The caller of one request.
#[derive(Debug, Clone)]
pub struct Context {
    pub credentials: Credentials,
    pub is_admin: bool,
    pub request_id: String,
    /// The host whose agent is calling, authenticated by that agent's own credential.
    pub agent_host: Option<String>,
    /// The idempotency key the caller sent, claimed by the request's write (`idempotency`).
    pub idempotency: Option<IdempotencyClaim>,
    /// The caller's id of the whole operation across services (oslo's global request id),
    /// recorded in the audit trail.
    pub global_request_id: Option<String>,
}

impl Context {
    pub fn new(credentials: Credentials, policy: &Policy, request_id: impl Into<String>) -> Self {
        let is_admin = policy.is_admin(&credentials);
        Self {
            credentials,
            is_admin,
            request_id: request_id.into(),
            agent_host: None,
            idempotency: None,
            global_request_id: None,
        }
    }

    /// The agent of `host` by its own token: a service-role caller that may act for that host
    /// only.
    pub fn agent(host: &str, policy: &Policy, request_id: impl Into<String>) -> Self {
        let credentials = Credentials::new(Some(format!("agent:{host}")), None, ["service"]);
        Self::agent_with(credentials, host, policy, request_id)
    }

    /// The agent of `host` with the credentials Keystone gave (policy checks its roles).
    pub fn agent_with(
        credentials: Credentials,
        host: &str,
        policy: &Policy,
        request_id: impl Into<String>,
    ) -> Self {
        Self {
            agent_host: Some(host.to_string()),
            ..Self::new(credentials, policy, request_id)
        }
    }

    pub fn project_id(&self) -> Option<ProjectId> {
        self.credentials.project_id.clone().map(ProjectId::new)
    }

    /// The project a new resource belongs to: the one asked for, else the caller's.
    pub fn owning_project(&self, requested: Option<ProjectId>) -> Result<ProjectId, ServiceError> {
        requested.or_else(|| self.project_id()).ok_or_else(|| {
            ServiceError::bad_request(
                "project_id",
                "Invalid input for project_id. Reason: the caller has no project and none was given.",
            )
        })
    }
}

/// Policy checks bound to one policy.
pub(crate) struct Guard<'a> {
    pub policy: &'a Policy,
    pub ctx: &'a Context,
}

impl Guard<'_> {
    pub fn allows(&self, action: Action, target: &Target) -> bool {
        self.policy.allows(action, target, &self.ctx.credentials)
    }

    /// The attribute rules of every attribute the caller gave: each `(rule, given)`.
    pub fn require_fields(
        &self,
        given: &[(Action, bool)],
        target: &Target,
    ) -> Result<(), ServiceError> {
        given
            .iter()
            .filter(|(_, present)| *present)
            .try_for_each(|(action, _)| self.require(*action, target))
    }

    /// Denied actions on visible resources are 403.
    pub fn require(&self, action: Action, target: &Target) -> Result<(), ServiceError> {
        if self.allows(action, target) {
            Ok(())
        } else {
            Err(ServiceError::policy_denied(action))
        }
    }
}

/// A target holding the owner twins every rule may use.
pub(crate) fn owned_target(project: &ProjectId) -> Target {
    let mut target = Target::new();
    target.insert("project_id".into(), project.as_str().into());
    target.insert("tenant_id".into(), project.as_str().into());
    target
}
