//! What the user may do on a cluster, asked of the apiserver once per context (a
//! SelfSubjectAccessReview per permission karpdeck's actions need).

use std::collections::BTreeSet;

use ::kube::api::{Api, PostParams};
use ::kube::Client;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};

use super::connect::error_text;
use crate::control::Permission;

/// The permissions of [`Permission::ALL`] the user lacks (cluster-wide). A review the server
/// cannot answer counts as allowed: the API call itself will say, and nothing is hidden on a
/// guess.
pub async fn denied(client: &Client) -> BTreeSet<Permission> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut denied = BTreeSet::new();
    for p in Permission::ALL {
        let (verb, group, resource, subresource) = p.attributes();
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    subresource: (!subresource.is_empty()).then(|| subresource.into()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        match reviews.create(&PostParams::default(), &review).await {
            Ok(answer) if !answer.status.as_ref().is_some_and(|s| s.allowed) => {
                denied.insert(p);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(permission = %p.describe(), error = %error_text(&e), "access review failed")
            }
        }
    }
    denied
}
