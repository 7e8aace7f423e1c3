//! Interruption response: what Karpenter does when EC2 warns that an instance is going away, and
//! whether the drain finishes before it does.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::drain::{drain_plan, DrainPlan, PodAction, KARPENTER_DRAIN};
use crate::model::{CapacityType, Snapshot};

/// How long EC2 gives a Spot instance after the interruption warning.
pub const SPOT_NOTICE: Duration = Duration::seconds(120);
/// How long Karpenter keeps an interrupted offering out of launches.
pub const UNAVAILABLE_FOR: Duration = Duration::seconds(180);

/// The kinds of event Karpenter's interruption controller reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    /// `EC2 Spot Instance Interruption Warning`.
    SpotInterruption,
    /// `EC2 Instance Rebalance Recommendation`.
    RebalanceRecommendation,
    /// `EC2 Instance State-change Notification` with this state.
    StateChange(String),
    /// `AWS Health Event`, EC2 scheduled change.
    ScheduledChange,
    /// `EC2 Capacity Reservation Instance Interruption Warning`.
    CapacityReservationInterruption,
    /// Anything else: ignored, never an error.
    Other(String),
}

/// A parsed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptionEvent {
    /// Kind.
    pub kind: MessageKind,
    /// EC2 instance IDs it concerns.
    pub instance_ids: Vec<String>,
    /// When EventBridge sent it.
    pub time: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    time: DateTime<Utc>,
    #[serde(default)]
    detail: serde_json::Value,
}

/// Parse an EventBridge message (the shapes of reference/aws.md §1.1). Field names are matched
/// exactly: serde, unlike Go, is case-sensitive.
pub fn parse_event(json: &str) -> Result<InterruptionEvent, String> {
    let e: Envelope =
        serde_json::from_str(json).map_err(|e| format!("not an EventBridge event: {e}"))?;
    let id = |d: &serde_json::Value| {
        d.get("instance-id")
            .and_then(|v| v.as_str())
            .map(|s| vec![s.to_string()])
            .unwrap_or_default()
    };
    let (kind, ids) = match (e.source.as_str(), e.detail_type.as_str()) {
        ("aws.ec2", "EC2 Spot Instance Interruption Warning") => {
            (MessageKind::SpotInterruption, id(&e.detail))
        }
        ("aws.ec2", "EC2 Instance Rebalance Recommendation") => {
            (MessageKind::RebalanceRecommendation, id(&e.detail))
        }
        ("aws.ec2", "EC2 Instance State-change Notification") => {
            let state = e
                .detail
                .get("state")
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_string();
            (MessageKind::StateChange(state), id(&e.detail))
        }
        ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning") => {
            (MessageKind::CapacityReservationInterruption, id(&e.detail))
        }
        ("aws.health", "AWS Health Event") => {
            let d = &e.detail;
            let is_ec2_change = d.get("service").and_then(|s| s.as_str()) == Some("EC2")
                && d.get("eventTypeCategory").and_then(|s| s.as_str()) == Some("scheduledChange");
            let ids = d
                .get("affectedEntities")
                .and_then(|a| a.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.get("entityValue").and_then(|v| v.as_str()))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if is_ec2_change {
                (MessageKind::ScheduledChange, ids)
            } else {
                (MessageKind::Other(e.detail_type.clone()), ids)
            }
        }
        _ => (MessageKind::Other(e.detail_type.clone()), id(&e.detail)),
    };
    Ok(InterruptionEvent {
        kind,
        instance_ids: ids,
        time: e.time,
    })
}

/// What Karpenter does about an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// Nothing (rebalance recommendations, states that do not end the instance, other events).
    NoAction,
    /// Cordon, drain and delete the node, launching replacements; budgets do not apply.
    CordonAndDrain,
}

/// The response to one event on one node.
#[derive(Debug, Clone)]
pub struct InterruptionResponse {
    /// The event.
    pub event: InterruptionEvent,
    /// The node it hits, if the instance is one of the snapshot's.
    pub node: Option<usize>,
    /// Karpenter's response.
    pub response: Response,
    /// The offering Karpenter marks unavailable, and until when.
    pub unavailable: Option<((String, String, CapacityType), DateTime<Utc>)>,
    /// The drain (with replacements) it starts.
    pub drain: Option<DrainPlan>,
    /// When the instance goes (spot: two minutes after the warning).
    pub deadline: Option<DateTime<Utc>>,
    /// Seconds the graceful drain needs: groups in Karpenter's order, each as long as its longest
    /// grace period.
    pub drain_seconds: i64,
    /// Pods whose eviction a PodDisruptionBudget refuses: the drain stalls on them.
    pub blocked_pods: Vec<usize>,
}

impl InterruptionResponse {
    /// Whether the drain can finish before the deadline (`None` without a deadline): not when an
    /// eviction is refused, nor when the grace periods outlast the notice.
    pub fn completes_in_time(&self) -> Option<bool> {
        let deadline = self.deadline?;
        let window = (deadline - self.event.time).num_seconds();
        Some(self.blocked_pods.is_empty() && self.drain_seconds <= window)
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoAction => "no action",
            Self::CordonAndDrain => "cordon and drain",
        })
    }
}

/// Karpenter's response to `event`.
pub fn respond(snapshot: &Snapshot, event: &InterruptionEvent) -> Vec<InterruptionResponse> {
    let response = match &event.kind {
        MessageKind::SpotInterruption
        | MessageKind::ScheduledChange
        | MessageKind::CapacityReservationInterruption => Response::CordonAndDrain,
        MessageKind::StateChange(s)
            if matches!(
                s.as_str(),
                "stopping" | "stopped" | "shutting-down" | "terminated"
            ) =>
        {
            Response::CordonAndDrain
        }
        _ => Response::NoAction,
    };
    event
        .instance_ids
        .iter()
        .map(|id| {
            let node = snapshot
                .nodes
                .iter()
                .position(|n| n.instance_id() == Some(id.as_str()));
            let mut r = InterruptionResponse {
                event: event.clone(),
                node,
                response,
                unavailable: None,
                drain: None,
                deadline: (event.kind == MessageKind::SpotInterruption)
                    .then(|| event.time + SPOT_NOTICE),
                drain_seconds: 0,
                blocked_pods: Vec::new(),
            };
            // Karpenter drops events for instances it does not manage.
            let managed = node.is_some_and(|n| snapshot.nodes[n].nodepool().is_some());
            if !managed {
                r.response = Response::NoAction;
            }
            let Some(ni) = node.filter(|_| r.response == Response::CordonAndDrain) else {
                return r;
            };
            let n = &snapshot.nodes[ni];
            let mut view = snapshot.clone();
            if event.kind == MessageKind::SpotInterruption {
                if let (Some(t), Some(z)) = (n.instance_type(), n.zone()) {
                    let key = (t.to_string(), z.to_string(), n.capacity_type());
                    view.unavailable_offerings.insert(key.clone());
                    r.unavailable = Some((key, event.time + UNAVAILABLE_FOR));
                }
            }
            let plan = drain_plan(&view, &[ni], &KARPENTER_DRAIN);
            r.drain_seconds = drain_seconds(&view, &plan);
            r.blocked_pods = plan
                .steps
                .iter()
                .filter(|s| matches!(s.action, PodAction::Blocked(_)))
                .map(|s| s.pod)
                .collect();
            r.drain = Some(plan);
            r
        })
        .collect()
}

/// Graceful drain time: Karpenter evicts in groups (non-critical, then critical), each group in
/// parallel, so each costs its longest grace period.
fn drain_seconds(snapshot: &Snapshot, plan: &DrainPlan) -> i64 {
    let group = |critical: bool| {
        plan.steps
            .iter()
            .filter(|s| s.critical == critical && !matches!(s.action, PodAction::Skip))
            .filter(|s| !snapshot.pods[s.pod].is_daemon())
            .map(|s| s.grace_seconds.max(0))
            .max()
            .unwrap_or(0)
    };
    group(false).saturating_add(group(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_event_shapes() {
        let spot = r#"{"version":"0","id":"1","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","time":"2023-07-12T15:00:00Z","region":"ap-southeast-1","resources":[],"detail":{"instance-id":"i-0abc","instance-action":"terminate"}}"#;
        let e = parse_event(spot).unwrap();
        assert_eq!(e.kind, MessageKind::SpotInterruption);
        assert_eq!(e.instance_ids, ["i-0abc"]);
        let health = r#"{"version":"0","detail-type":"AWS Health Event","source":"aws.health","time":"2023-07-12T15:00:00Z","detail":{"service":"EC2","eventTypeCategory":"scheduledChange","affectedEntities":[{"entityValue":"i-1"},{"entityValue":"i-2"}]}}"#;
        let e = parse_event(health).unwrap();
        assert_eq!(e.kind, MessageKind::ScheduledChange);
        assert_eq!(e.instance_ids, ["i-1", "i-2"]);
        let other =
            r#"{"detail-type":"Something New","source":"aws.ec2","time":"2023-07-12T15:00:00Z"}"#;
        assert!(matches!(
            parse_event(other).unwrap().kind,
            MessageKind::Other(_)
        ));
        assert!(parse_event("{}").is_err());
        assert!(parse_event("not json").is_err());
    }
}
