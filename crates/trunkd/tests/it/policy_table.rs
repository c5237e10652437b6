//! The default policy, checked end to end with noauth identities: every endpoint, called by
//! every kind of caller, on a resource owned by project `p1` (see tests/policy_cases).

use crate::common;
use crate::policy_cases;

use common::{Client, Identity, Server};

#[tokio::test]
async fn default_policy_over_every_endpoint() {
    // Every case makes its own network and ports in one project: more than its quotas.
    let server = Server::start_with(&["--network-quota", "-1", "--port-quota", "-1"]);
    let owner = server.as_(Identity::member("p1"));
    let clients: Vec<Client> = policy_cases::identities()
        .into_iter()
        .map(|i| server.as_(i))
        .collect();
    policy_cases::check(&owner, &clients, &server.anonymous()).await;
}
