//! Alignment on its own: small histories built event by event, traces built command by
//! command, one case per kind of command (and the cases core accepts that a naive diff
//! would flag).

use std::collections::BTreeMap;

use deja_proto::coresdk::workflow_activation::WorkflowActivation;
use deja_proto::coresdk::workflow_commands::{self as wc, WorkflowCommand, workflow_command::Variant as C};
use deja_proto::coresdk::workflow_completion::{Success, WorkflowActivationCompletion, workflow_activation_completion::Status};
use deja_proto::temporal::api::common::v1::{ActivityType, Payload, Payloads, SearchAttributes, WorkflowType};
use deja_proto::temporal::api::history::v1::{self as h, HistoryEvent, history_event::Attributes as A};

use super::{RowStatus, align};
use crate::history::tasks::Timeline;
use crate::history::{EventType, History, LoadedHistory, Source};
use crate::trace::{ReplayOutcome, SandboxUse, Step, Verdict};

/// Builds a history one workflow task at a time.
struct Hist {
    events: Vec<HistoryEvent>,
}

impl Hist {
    fn new() -> Hist {
        let mut b = Hist { events: Vec::new() };
        b.push(EventType::WorkflowExecutionStarted, A::WorkflowExecutionStartedEventAttributes(Box::new(h::WorkflowExecutionStartedEventAttributes {
            workflow_type: Some(WorkflowType { name: "Wf".into() }),
            workflow_id: "wf-1".into(),
            ..Default::default()
        })));
        b
    }

    fn push(&mut self, t: EventType, a: A) -> i64 {
        let id = self.events.len() as i64 + 1;
        self.events.push(HistoryEvent { event_id: id, event_type: t as i32, attributes: Some(a), ..Default::default() });
        id
    }

    /// A workflow task that completed with these command events; returns its started id.
    fn task(&mut self, commands: Vec<(EventType, A)>) -> i64 {
        let scheduled = self.push(EventType::WorkflowTaskScheduled, A::WorkflowTaskScheduledEventAttributes(Box::new(Default::default())));
        let started = self.push(
            EventType::WorkflowTaskStarted,
            A::WorkflowTaskStartedEventAttributes(Box::new(h::WorkflowTaskStartedEventAttributes { scheduled_event_id: scheduled, ..Default::default() })),
        );
        self.push(
            EventType::WorkflowTaskCompleted,
            A::WorkflowTaskCompletedEventAttributes(Box::new(h::WorkflowTaskCompletedEventAttributes { scheduled_event_id: scheduled, started_event_id: started, ..Default::default() })),
        );
        for (t, a) in commands {
            self.push(t, a);
        }
        started
    }

    fn done(self) -> LoadedHistory {
        LoadedHistory {
            history: History { events: self.events },
            source: Source::File("test.json".into()),
            format: crate::history::Format::Json,
            workflow_id: "wf-1".into(),
            workflow_id_source: crate::history::WorkflowIdSource::StartedEvent,
            run_id: None,
        }
    }
}

fn json_payload(v: serde_json::Value) -> Payload {
    Payload { metadata: BTreeMap::from([("encoding".to_string(), b"json/plain".to_vec())]), data: v.to_string().into_bytes(), ..Default::default() }
}

fn activity(ty: &str, id: &str) -> (EventType, A) {
    (
        EventType::ActivityTaskScheduled,
        A::ActivityTaskScheduledEventAttributes(Box::new(h::ActivityTaskScheduledEventAttributes {
            activity_id: id.into(),
            activity_type: Some(ActivityType { name: ty.into() }),
            ..Default::default()
        })),
    )
}

fn timer(id: &str) -> (EventType, A) {
    (EventType::TimerStarted, A::TimerStartedEventAttributes(Box::new(h::TimerStartedEventAttributes { timer_id: id.into(), ..Default::default() })))
}

fn patch(id: &str, deprecated: bool) -> (EventType, A) {
    let details = BTreeMap::from([(
        "patch-data".to_string(),
        Payloads { payloads: vec![json_payload(serde_json::json!({"id": id, "deprecated": deprecated}))] },
    )]);
    (EventType::MarkerRecorded, A::MarkerRecordedEventAttributes(Box::new(h::MarkerRecordedEventAttributes { marker_name: "core_patch".into(), details, ..Default::default() })))
}

fn change_version_upsert() -> (EventType, A) {
    let fields = BTreeMap::from([("TemporalChangeVersion".to_string(), json_payload(serde_json::json!(["p-1"])))]);
    (
        EventType::UpsertWorkflowSearchAttributes,
        A::UpsertWorkflowSearchAttributesEventAttributes(Box::new(h::UpsertWorkflowSearchAttributesEventAttributes {
            search_attributes: Some(SearchAttributes { indexed_fields: fields }),
            ..Default::default()
        })),
    )
}

fn complete() -> (EventType, A) {
    (EventType::WorkflowExecutionCompleted, A::WorkflowExecutionCompletedEventAttributes(Box::new(Default::default())))
}

fn cmd(v: C) -> WorkflowCommand {
    WorkflowCommand { variant: Some(v), ..Default::default() }
}

fn schedule(ty: &str, id: &str, seq: u32) -> WorkflowCommand {
    cmd(C::ScheduleActivity(wc::ScheduleActivity { seq, activity_id: id.into(), activity_type: ty.into(), ..Default::default() }))
}

fn start_timer(seq: u32) -> WorkflowCommand {
    cmd(C::StartTimer(wc::StartTimer { seq, ..Default::default() }))
}

fn complete_cmd() -> WorkflowCommand {
    cmd(C::CompleteWorkflowExecution(Default::default()))
}

fn step(history_length: i64, commands: Vec<WorkflowCommand>) -> Step {
    let n = commands.len();
    Step {
        activation: WorkflowActivation { history_length: history_length as u32, ..Default::default() },
        completion: WorkflowActivationCompletion { status: Some(Status::Successful(Success { commands, ..Default::default() })), ..Default::default() },
        command_sites: vec![None; n],
        state: None,
        patch_calls: Vec::new(),
        lines: Vec::new(),
    }
}

fn outcome(verdict: Verdict, message: &str, steps: Vec<Step>) -> ReplayOutcome {
    ReplayOutcome { verdict, error_kind: None, message: message.into(), raw: String::new(), frames: Vec::new(), steps, seconds: 0.0, sandbox: SandboxUse::None, sandbox_note: None, warnings: Vec::new(), output: String::new(), update_rejections: Vec::new(), handlers: Default::default(), explained: false, baseline: None }
}

fn statuses(h: &LoadedHistory, o: &ReplayOutcome) -> (Vec<RowStatus>, Option<i64>) {
    let tl = Timeline::new(h.events());
    let a = align(h, &tl, o);
    let first = a.divergence().and_then(|r| r.recorded.as_ref().map(|x| x.event_id));
    (a.rows.iter().map(|r| r.status).collect(), first)
}

use RowStatus::*;

#[test]
fn activities_match_and_a_changed_type_differs_at_its_event() {
    let mut b = Hist::new();
    let t1 = b.task(vec![activity("reserve", "1")]);
    let t2 = b.task(vec![activity("charge", "2")]);
    let t3 = b.task(vec![complete()]);
    let h = b.done();
    let ok = outcome(Verdict::Pass, "", vec![step(t1, vec![schedule("reserve", "1", 1)]), step(t2, vec![schedule("charge", "2", 2)]), step(t3, vec![complete_cmd()])]);
    assert_eq!(statuses(&h, &ok), (vec![Match, Match, Match], None));
    let bad = outcome(Verdict::Nondeterminism, "Activity type of scheduled event 'charge' does not match", vec![step(t1, vec![schedule("reserve", "1", 1)]), step(t2, vec![schedule("refund", "2", 2)])]);
    let (rows, first) = statuses(&h, &bad);
    assert_eq!(first, Some(9), "event 9 is the charge activity");
    assert_eq!(rows[..2], [Match, Differs]);
    assert_eq!(rows[2], NotReached, "the completion after the failing task is not compared");
}

#[test]
fn a_timer_inserted_before_an_activity() {
    let mut b = Hist::new();
    let t1 = b.task(vec![activity("price", "1")]);
    let h = b.done();
    let o = outcome(Verdict::Nondeterminism, "Timer machine does not handle this event: HistoryEvent(id: 5, ActivityTaskScheduled)", vec![step(t1, vec![start_timer(1), schedule("price", "1", 1)])]);
    let (rows, first) = statuses(&h, &o);
    assert_eq!(first, Some(5));
    assert!(rows.contains(&Differs) || rows.contains(&OnlyCode), "{rows:?}");
}

#[test]
fn patches_core_upserts_and_deprecated_patches() {
    // Patch marker + the upsert core writes itself: the upsert is skipped, not a divergence.
    let mut b = Hist::new();
    let t1 = b.task(vec![patch("p-1", false), change_version_upsert(), activity("a", "1")]);
    let h = b.done();
    let with_patch = outcome(Verdict::Pass, "", vec![step(t1, vec![cmd(C::SetPatchMarker(wc::SetPatchMarker { patch_id: "p-1".into(), deprecated: false })), schedule("a", "1", 1)])]);
    assert_eq!(statuses(&h, &with_patch).0, vec![Match, Skipped, Match]);
    // The patch call removed: the marker is only in history.
    let removed = outcome(Verdict::Nondeterminism, "Non-deprecated patch marker encountered for change p-1", vec![step(t1, vec![schedule("a", "1", 1)])]);
    let (rows, first) = statuses(&h, &removed);
    assert_eq!(first, Some(5));
    assert_eq!(rows, vec![OnlyHistory, Skipped, Match]);
    // A deprecated patch may be dropped from code: skipped.
    let mut b = Hist::new();
    let t1 = b.task(vec![patch("p-1", true), change_version_upsert(), activity("a", "1")]);
    let h = b.done();
    let dropped = outcome(Verdict::Pass, "", vec![step(t1, vec![schedule("a", "1", 1)])]);
    assert_eq!(statuses(&h, &dropped).0, vec![Skipped, Skipped, Match]);
}

#[test]
fn local_activity_markers() {
    let details = BTreeMap::from([(
        "data".to_string(),
        Payloads { payloads: vec![json_payload(serde_json::json!({"seq": 1, "activity_id": "1", "activity_type": "score"}))] },
    )]);
    let mut b = Hist::new();
    let t1 = b.task(vec![(EventType::MarkerRecorded, A::MarkerRecordedEventAttributes(Box::new(h::MarkerRecordedEventAttributes { marker_name: "core_local_activity".into(), details, ..Default::default() })))]);
    let h = b.done();
    let la = |ty: &str| cmd(C::ScheduleLocalActivity(wc::ScheduleLocalActivity { seq: 1, activity_id: "1".into(), activity_type: ty.into(), ..Default::default() }));
    assert_eq!(statuses(&h, &outcome(Verdict::Pass, "", vec![step(t1, vec![la("score")])])).0, vec![Match]);
    assert_eq!(statuses(&h, &outcome(Verdict::Nondeterminism, "", vec![step(t1, vec![la("other")])])).0, vec![Differs]);
}

#[test]
fn children_by_type_and_id() {
    let mut b = Hist::new();
    let t1 = b.task(vec![(
        EventType::StartChildWorkflowExecutionInitiated,
        A::StartChildWorkflowExecutionInitiatedEventAttributes(Box::new(h::StartChildWorkflowExecutionInitiatedEventAttributes {
            workflow_id: "child-1".into(),
            workflow_type: Some(WorkflowType { name: "Ship".into() }),
            ..Default::default()
        })),
    )]);
    let h = b.done();
    let child = |ty: &str| cmd(C::StartChildWorkflowExecution(wc::StartChildWorkflowExecution { seq: 1, workflow_id: "child-1".into(), workflow_type: ty.into(), ..Default::default() }));
    assert_eq!(statuses(&h, &outcome(Verdict::Pass, "", vec![step(t1, vec![child("Ship")])])).0, vec![Match]);
    let (rows, first) = statuses(&h, &outcome(Verdict::Nondeterminism, "Child workflow type", vec![step(t1, vec![child("Deliver")])]));
    assert_eq!((rows, first), (vec![Differs], Some(5)));
}

#[test]
fn updates_accept_complete_and_reject() {
    let mut b = Hist::new();
    let t1 = b.task(vec![
        (
            EventType::WorkflowExecutionUpdateAccepted,
            A::WorkflowExecutionUpdateAcceptedEventAttributes(Box::new(h::WorkflowExecutionUpdateAcceptedEventAttributes { protocol_instance_id: "u-1".into(), ..Default::default() })),
        ),
        (
            EventType::WorkflowExecutionUpdateCompleted,
            A::WorkflowExecutionUpdateCompletedEventAttributes(Box::new(h::WorkflowExecutionUpdateCompletedEventAttributes {
                meta: Some(deja_proto::temporal::api::update::v1::Meta { update_id: "u-1".into(), ..Default::default() }),
                accepted_event_id: 5,
                ..Default::default()
            })),
        ),
    ]);
    let h = b.done();
    use wc::update_response::Response;
    let resp = |id: &str, r: Response| cmd(C::UpdateResponse(wc::UpdateResponse { protocol_instance_id: id.into(), response: Some(r) }));
    let o = outcome(
        Verdict::Pass,
        "",
        vec![step(
            t1,
            vec![
                // A rejected update (validator said no) writes no event: not a row at all.
                resp("u-0", Response::Rejected(Default::default())),
                resp("u-1", Response::Accepted(Default::default())),
                resp("u-1", Response::Completed(json_payload(serde_json::json!("ok")))),
            ],
        )],
    );
    assert_eq!(statuses(&h, &o).0, vec![Match, Match]);
}

#[test]
fn cancellations_of_timers_and_activities() {
    let mut b = Hist::new();
    let t1 = b.task(vec![activity("slow", "1"), timer("2")]);
    let t2 = b.task(vec![
        (EventType::ActivityTaskCancelRequested, A::ActivityTaskCancelRequestedEventAttributes(Box::new(h::ActivityTaskCancelRequestedEventAttributes { scheduled_event_id: 5, ..Default::default() }))),
        (EventType::TimerCanceled, A::TimerCanceledEventAttributes(Box::new(h::TimerCanceledEventAttributes { timer_id: "2".into(), ..Default::default() }))),
    ]);
    let h = b.done();
    let o = outcome(
        Verdict::Pass,
        "",
        vec![
            step(t1, vec![schedule("slow", "1", 1), start_timer(2)]),
            step(t2, vec![cmd(C::RequestCancelActivity(wc::RequestCancelActivity { seq: 1 })), cmd(C::CancelTimer(wc::CancelTimer { seq: 2 }))]),
        ],
    );
    assert_eq!(statuses(&h, &o).0, vec![Match, Match, Match, Match]);
}

#[test]
fn commands_issued_a_task_early_still_match() {
    // Sequential → parallel: the code schedules both activities in task 1; history has the
    // second in task 2. Core accepts this; the diff must too (with a note).
    let mut b = Hist::new();
    let t1 = b.task(vec![activity("a", "1")]);
    let t2 = b.task(vec![activity("b", "2")]);
    let h = b.done();
    let o = outcome(Verdict::Pass, "", vec![step(t1, vec![schedule("a", "1", 1), schedule("b", "2", 2)]), step(t2, vec![])]);
    let tl = Timeline::new(h.events());
    let a = align(&h, &tl, &o);
    assert!(a.rows.iter().all(|r| r.status == Match), "{:?}", a.rows);
    assert!(a.rows[1].note.as_deref().unwrap_or("").contains("earlier"), "{:?}", a.rows[1].note);
}

// --- The real patching histories (tests/fixtures/histories/patching, recorded by
// tests/fixtures/histories/generate.py from tests/fixtures/code/patching/). Traces are the
// commands the named code version emits; messages are core's (manifest.json).

fn patching_history(name: &str) -> LoadedHistory {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/histories/patching").join(name);
    crate::history::load_path(&path, None).unwrap()
}

/// The divergence the header and JSON show is the very row the table marks.
fn agreed_divergence(h: &LoadedHistory, o: &ReplayOutcome) -> super::Row {
    let tl = Timeline::new(h.events());
    let a = align(h, &tl, o);
    let first = a.first_divergence.expect("a marked row");
    let d = a.divergence().expect("a divergence").clone();
    assert_eq!(serde_json::to_value(&d).unwrap(), serde_json::to_value(&a.rows[first]).unwrap(), "divergence vs marked row: {:#?}", a.rows);
    d
}

fn greet(seq: u32) -> WorkflowCommand {
    schedule("compose_greeting", &seq.to_string(), seq)
}

#[test]
fn removed_patch_call_blames_the_marker_alone_in_every_view() {
    // v2 history (patched marker 5, core's upsert 6, activity 7) with v1 code (no patch call).
    let h = patching_history("patch_v2.json");
    let o = outcome(
        Verdict::Nondeterminism,
        "[TMPRL1100] Nondeterminism error: Non-deprecated patch marker encountered for change my-patch, but there is no corresponding change command!",
        vec![step(3, vec![greet(1)])],
    );
    let d = agreed_divergence(&h, &o);
    assert_eq!(d.status, OnlyHistory);
    assert_eq!(d.recorded.as_ref().map(|r| r.event_id), Some(5));
    assert!(d.emitted.is_none(), "core found no patch command; the activity is not what it compared: {d:?}");
}

#[test]
fn a_deprecated_marker_core_skips_is_never_the_divergence() {
    // v3 history (deprecated marker 5, upsert 6, activity 7, timer 13) with code that has no
    // patch call and schedules another activity type: core skips the deprecated marker and
    // compares activity 7 with the new activity (its message names no event).
    let h = patching_history("patch_v3.json");
    let o = outcome(
        Verdict::Nondeterminism,
        "[TMPRL1100] Nondeterminism error: Activity type of scheduled event 'compose_greeting' does not match activity type of activity command 'compose_farewell'",
        vec![step(3, vec![schedule("compose_farewell", "1", 1)])],
    );
    let d = agreed_divergence(&h, &o);
    assert_eq!(d.recorded.as_ref().map(|r| r.event_id), Some(7), "{d:?}");
    assert_eq!(d.emitted.as_ref().map(|e| e.item.key.as_str()), Some("compose_farewell #1"));
    assert_eq!(d.status, Differs);

    // v1 code against the same history: core names TimerStarted 13 and compared it with the
    // completion the code emitted (not "nothing").
    let o = outcome(
        Verdict::Nondeterminism,
        "[TMPRL1100] Nondeterminism error: Complete workflow machine does not handle this event: HistoryEvent(id: 13, TimerStarted)",
        vec![step(3, vec![greet(1)]), step(11, vec![complete_cmd()])],
    );
    let d = agreed_divergence(&h, &o);
    assert_eq!(d.recorded.as_ref().map(|r| r.event_id), Some(13));
    assert_eq!(d.emitted.as_ref().map(|e| e.item.command), Some("CompleteWorkflowExecution"));
    let tl = Timeline::new(h.events());
    let a = align(&h, &tl, &o);
    assert_eq!(a.rows[0].status, Skipped, "the deprecated marker: {:?}", a.rows[0]);
}
