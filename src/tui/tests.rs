//! The debugger on real replays: every trace here comes from the embedded Python running
//! the sample workflows, not from hand-made fixtures.
//!
//! Python can be initialised once per process and the harness keeps one code root on
//! `sys.path` at a time, so all replays go through [`replayed`]: one shared interpreter,
//! one replay at a time (a lock), results cached per (history, code, options). Each test
//! then builds its own `App` from a cached outcome.
//!
//! Render tests draw the whole UI on a `TestBackend` at 80×24 and 120×40 and snapshot it
//! with insta (`src/tui/snapshots/`); durations and temp paths are filtered out.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, Pane};
use super::app::{App, Effect, Pos, Replay};
use super::event_loop::{self, Background, Input, Replayer};
use super::theme::Theme;
use super::trace::ReplayFailure;
use deja_core::history::{self, LoadedHistory};
use crate::replay::embed::Interpreter;
use deja_core::trace::{CodeConfig, ReplayOutcome, Verdict};

const CART: &str = "histories/shopping_cart.json";
const ORDER: &str = "histories/order_fulfillment.json";
const LARGE: &str = "histories/catalog_reindex_large.json";
const CODE: &str = "histories/code/workflows.py";
const CODE_V2: &str = "histories/code_v2/workflows.py";

// ------------------------------------------------------------------ fixtures

fn interpreter() -> &'static Interpreter {
    static INTERP: OnceLock<Interpreter> = OnceLock::new();
    INTERP.get_or_init(|| {
        crate::replay::start_interpreter(None).expect("a Python environment (./.venv) with temporalio, and Python starts")
    })
}

/// Serialises every use of the harness (imports and replays).
static PYTHON: Mutex<()> = Mutex::new(());

fn code_config(workflows: &str, queries: &[&str], unsandboxed: bool) -> CodeConfig {
    CodeConfig {
        workflows: vec![workflows.to_string()],
        queries: queries.iter().map(|q| q.to_string()).collect(),
        record_state: true,
        unsandboxed,
        ..Default::default()
    }
}

/// Load the code afresh and replay, as `deja debug` does (also on `r`).
fn replay_now(history: &LoadedHistory, code: &CodeConfig) -> Result<ReplayOutcome, ReplayFailure> {
    let _lock = PYTHON.lock().unwrap_or_else(|e| e.into_inner());
    let fail = |e: crate::replay::embed::EmbedError| ReplayFailure { message: e.to_string(), detail: e.detail().to_string() };
    let session = interpreter().load(code).map_err(fail)?;
    let out = session.replay(&history.encode(), &history.workflow_id).map_err(fail);
    session.close();
    out
}

type Cached = (LoadedHistory, Result<ReplayOutcome, ReplayFailure>);

/// A history and its replay against `workflows`, cached for the whole test run.
fn replayed(history: &str, workflows: &str, queries: &[&str]) -> Cached {
    static CACHE: Mutex<Option<HashMap<String, Cached>>> = Mutex::new(None);
    let key = format!("{history}|{workflows}|{queries:?}");
    if let Some(hit) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(HashMap::new).get(&key) {
        return hit.clone();
    }
    let h = history::load_path(Path::new(history), None).expect("history loads");
    let out = replay_now(&h, &code_config(workflows, queries, false));
    let value = (h, out);
    CACHE.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(HashMap::new).insert(key, value.clone());
    value
}

fn app(history: &str, workflows: &str, queries: &[&str]) -> App {
    let (h, out) = replayed(history, workflows, queries);
    App::new(h, out, Theme::plain(), workflows.to_string())
}

fn cart() -> App {
    app(CART, CODE_V2, &["cart"])
}

fn order() -> App {
    app(ORDER, CODE, &["status"])
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| f.render_widget(app, f.area())).expect("draw");
    t.backend().to_string()
}

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            filters => vec![
                (r"replay \d+\.\d+ s", "replay [duration] s"),
                (r"/tmp/deja-tui-[0-9a-z-]*", "[tmp]"),
                // Python's traceback names this machine's paths and varies by version.
                (r"(?s)Python said:.*?└", "Python said: [traceback]\n└"),
                (r"workflow code… \d+ s", "workflow code… [n] s"),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, $value);
        });
    };
}

/// A scratch copy of a code directory (for editing it and pressing `r`).
fn scratch_code(from: &str, tag: &str) -> PathBuf {
    // Fixed width, so wrapped messages naming the path wrap the same on every run.
    let dir = std::env::temp_dir().join(format!("deja-tui-{tag}-{:010}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    for f in ["workflows.py", "activities.py"] {
        std::fs::copy(Path::new(from).join(f), dir.join(f)).expect("copy code");
    }
    dir
}

// ------------------------------------------------------------------ render snapshots

#[test]
fn divergent_history_renders_each_view() {
    let mut a = cart();
    assert_eq!(a.pos, Pos::Event(23), "opens at the divergence");
    snap!("cart_80x24_step", screen(&a, 80, 24));
    snap!("cart_120x40_step_source", screen(&a, 120, 40));
    a.update(Action::Focus(Pane::Source));
    snap!("cart_80x24_source", screen(&a, 80, 24));
    a.update(Action::Focus(Pane::State));
    snap!("cart_80x24_state", screen(&a, 80, 24));
    snap!("cart_120x40_state", screen(&a, 120, 40));
    a.update(Action::Focus(Pane::Detail));
    snap!("cart_80x24_detail", screen(&a, 80, 24));
    snap!("cart_120x40_detail", screen(&a, 120, 40));
    a.update(Action::ToggleHelp);
    snap!("cart_80x24_help", screen(&a, 80, 24));
}

/// `w` on a real replay explained against `--baseline` (a folder of old code): the Source
/// pane shows the cause line, the changed line marked `~` and the lines that ran `•`.
#[test]
fn the_cause_key_shows_the_cause_line_with_changed_and_ran_lines() {
    let fixtures = "tests/fixtures/causes";
    let h = history::load_path(Path::new(&format!("{fixtures}/histories/billing.json")), None).expect("history loads");
    let code = code_config(&format!("{fixtures}/variants/constant_changed/shop_workflows.py"), &[], false);
    let outcome = {
        let _lock = PYTHON.lock().unwrap_or_else(|e| e.into_inner());
        let session = interpreter().load(&code).expect("variant loads");
        let mut out = session.replay_as(&h.encode(), &h.workflow_id, true).expect("replays");
        session.close();
        let old = crate::baseline::resolve(&format!("{fixtures}/app_v1"), &code).expect("baseline folder");
        out.baseline = Some(Box::new(crate::baseline::replay(interpreter(), &old, (&h.encode(), &h.workflow_id), 0).expect("baseline replays")));
        out
    };
    let mut a = App::new(h, Ok(outcome), Theme::plain(), code.workflows[0].clone());
    a.update(Action::Cause);
    assert!(a.show_cause);
    let src = &a.inspect.source;
    assert_eq!(src.mark, Some(17), "the cause line, shop_workflows.py:18");
    assert!(src.changed.contains(&17), "{:?}", src.changed);
    assert!(src.ran.contains(&82), "the loop that reads the constant ran in this task: {:?}", src.ran);
    let shot = screen(&a, 120, 40);
    assert!(shot.contains("~▶ 18 │ CYCLES_PER_RUN = 2"), "{shot}");
    snap!("causes_120x40_cause", shot);
    // Moving on leaves the cause view.
    a.update(Action::PrevEvent);
    assert!(!a.show_cause);
}

#[test]
fn clean_history_renders_each_view() {
    let mut a = order();
    assert_eq!(a.pos, Pos::Task(0), "a clean replay opens at the start");
    snap!("order_80x24_start", screen(&a, 80, 24));
    a.update(Action::NextTask);
    a.update(Action::NextEvent);
    snap!("order_120x40_task2", screen(&a, 120, 40));
    a.update(Action::Focus(Pane::State));
    snap!("order_80x24_state", screen(&a, 80, 24));
    a.update(Action::ToggleBookkeeping);
    a.update(Action::ToggleExpand);
    a.update(Action::Focus(Pane::Detail));
    snap!("order_120x40_bookkeeping_detail", screen(&a, 120, 40));
}

#[test]
fn tiny_and_odd_sizes_do_not_panic() {
    let a = cart();
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (79, 23), (200, 60)] {
        let _ = screen(&a, w, h);
    }
}

// ------------------------------------------------------------------ navigation

#[test]
fn stepping_forwards_and_back() {
    let mut a = cart();
    a.update(Action::First);
    assert_eq!(a.pos, Pos::Task(0));
    a.update(Action::NextEvent);
    assert_eq!(a.pos, Pos::Event(1));
    a.update(Action::NextEvent);
    assert_eq!(a.pos, Pos::Event(3), "folded and bookkeeping events are skipped");
    a.update(Action::NextEvent);
    assert_eq!(a.pos, Pos::Task(1), "task headers are stops");
    a.update(Action::PrevEvent);
    assert_eq!(a.pos, Pos::Event(3));
    a.update(Action::NextTask);
    a.update(Action::NextTask);
    assert_eq!(a.pos, Pos::Task(2));
    a.update(Action::NextEvent);
    a.update(Action::PrevTask);
    assert_eq!(a.pos, Pos::Task(2), "K inside a task goes to its header first");
    a.update(Action::PrevTask);
    assert_eq!(a.pos, Pos::Task(1));
    a.update(Action::Last);
    assert_eq!(a.pos, Pos::Event(35));
    a.update(Action::NextEvent);
    assert_eq!(a.pos, Pos::Event(35), "stops at the end");
    assert_eq!(a.inspect.task, 6);
}

#[test]
fn jump_to_divergence_and_step_back() {
    let mut a = cart();
    a.update(Action::First);
    a.update(Action::Divergence);
    assert_eq!(a.pos, Pos::Event(23));
    assert_eq!(a.inspect.task, 4);
    assert!(a.message.as_deref().is_some_and(|m| m.contains("event 23")));
    a.update(Action::PrevEvent);
    assert_eq!(a.pos, Pos::Event(19));
    let mut clean = order();
    clean.update(Action::Divergence);
    assert_eq!(clean.pos, Pos::Task(0));
    assert!(clean.message.as_deref().is_some_and(|m| m.contains("no divergence")));
}

#[test]
fn breakpoints_and_continue() {
    let mut a = order();
    a.update(Action::First);
    a.update(Action::ContinueForward);
    assert!(a.message.as_deref().is_some_and(|m| m.contains("no breakpoint ahead")));
    // Breakpoint on event 5's row, then on a task header.
    while a.pos != Pos::Event(5) {
        a.update(Action::NextEvent);
    }
    a.update(Action::ToggleBreakpoint);
    a.update(Action::NextTask);
    a.update(Action::NextTask);
    let header = a.pos;
    a.update(Action::ToggleBreakpoint);
    assert_eq!(a.breakpoints.len(), 2);
    a.update(Action::First);
    a.update(Action::ContinueForward);
    assert_eq!(a.pos, Pos::Event(5));
    a.update(Action::ContinueForward);
    assert_eq!(a.pos, header);
    a.update(Action::ContinueForward);
    assert_eq!(a.pos, header, "nothing further");
    a.update(Action::ContinueBackward);
    assert_eq!(a.pos, Pos::Event(5));
    a.update(Action::ToggleBreakpoint);
    assert_eq!(a.breakpoints.len(), 1);
}

#[test]
fn continue_stops_at_the_divergence() {
    let mut a = cart();
    a.update(Action::First);
    a.update(Action::ContinueForward);
    assert_eq!(a.pos, Pos::Event(23));
    assert!(a.message.as_deref().is_some_and(|m| m.contains("divergence")));
}

#[test]
fn search_by_name_payload_and_id() {
    let mut a = cart();
    a.update(Action::First);
    a.update(Action::StartSearch);
    for c in "sku-mug".chars() {
        a.update(Action::SearchInput(c));
    }
    a.update(Action::SearchSubmit);
    let first = a.pos;
    let matches = a.search.as_ref().map(|s| s.matches.clone()).unwrap_or_default();
    assert!(matches.len() >= 2, "payload text is searched: {matches:?}");
    assert_eq!(first, Pos::Event(matches[0]));
    a.update(Action::NextMatch);
    assert_eq!(a.pos, Pos::Event(matches[1]));
    a.update(Action::PrevMatch);
    assert_eq!(a.pos, first);
    // A match inside a folded group expands it.
    a.update(Action::StartSearch);
    for c in "ActivityTaskCompleted".chars() {
        a.update(Action::SearchInput(c));
    }
    a.update(Action::SearchSubmit);
    assert_eq!(a.pos, Pos::Event(25));
    assert!(a.expanded.contains(&23));
    assert_eq!(a.row_of(Pos::Event(25)), Some(a.cursor_row()));
}

#[test]
fn bookkeeping_filter_and_expansion() {
    let mut a = cart();
    let hidden = a.rows.len();
    a.update(Action::ToggleBookkeeping);
    assert!(a.rows.len() > hidden + 10, "WorkflowTask* events appear");
    assert_eq!(a.pos, Pos::Event(23), "the position survives");
    a.update(Action::ToggleExpand);
    assert!(a.expanded.contains(&23));
    a.update(Action::NextEvent);
    assert_eq!(a.pos, Pos::Event(24), "followers follow their head");
    a.update(Action::ToggleExpand);
    assert_eq!(a.pos, Pos::Event(23), "Enter on a follower folds it back into its head");
    a.update(Action::ToggleBookkeeping);
    assert_eq!(a.rows.len(), hidden);
}

#[test]
fn panes_cycle_and_page() {
    let mut a = cart();
    let _ = screen(&a, 80, 24);
    a.update(Action::NextPane);
    assert_eq!(a.focus, Pane::Step);
    a.update(Action::NextPane);
    a.update(Action::NextPane);
    assert_eq!((a.focus, a.lower, a.inspector), (Pane::State, Pane::State, Pane::State));
    a.update(Action::Focus(Pane::Source));
    a.update(Action::PageDown);
    assert!(a.scroll[Pane::Source.index()].is_some());
    a.update(Action::PrevEvent);
    assert_eq!(a.scroll[Pane::Source.index()], None, "a new position re-centres the panes");
    assert_eq!(a.update(Action::Quit), Effect::Quit);
}

#[test]
fn the_loop_quits_and_reports_first_frame() {
    let mut a = cart();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    let mut keys = vec![
        Event::Resize(100, 30),
        Event::Key(KeyEvent::new(KeyCode::Char('g'), KeyModifiers::NONE)),
        Event::Key(KeyEvent::new(KeyCode::Char('d'), KeyModifiers::NONE)),
        Event::Key(KeyEvent::new(KeyCode::Char('k'), KeyModifiers::NONE)),
        Event::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)),
    ]
    .into_iter();
    let mut frames = 0;
    let mut idle = Background::spawn(Box::new(NoReplay)).expect("worker");
    event_loop::run(&mut terminal, &mut a, |_| Ok(keys.next().map_or(Input::End, Input::Event)), &mut idle, || frames += 1).expect("loop");
    assert_eq!(frames, 1);
    assert_eq!(a.pos, Pos::Event(19));
}

struct NoReplay;
impl Replayer for NoReplay {
    fn replay(&mut self) -> Result<ReplayOutcome, ReplayFailure> {
        Err(ReplayFailure { message: "not in this test".into(), detail: String::new() })
    }
}

// ------------------------------------------------------------------ replay errors and `r`

#[test]
fn an_unregistered_workflow_type_is_a_message_not_a_crash() {
    let mut a = app(CART, "histories/code/workflows.py:OrderFulfillmentWorkflow", &[]);
    let t = a.trace().expect("the SDK still answers with a verdict");
    assert_eq!(t.report.verdict, Verdict::Error);
    let _ = screen(&a, 80, 24);
    a.update(Action::Divergence);
    assert!(a.message.is_some());
    snap!("unregistered_80x24", screen(&a, 80, 24));
}

/// Replays a scratch copy of the code, as `r` does.
struct ScratchReplayer {
    history: LoadedHistory,
    code: CodeConfig,
}

impl Replayer for ScratchReplayer {
    fn replay(&mut self) -> Result<ReplayOutcome, ReplayFailure> {
        replay_now(&self.history, &self.code)
    }
}

#[test]
fn an_import_error_is_shown_in_the_ui_and_r_recovers() {
    let dir = scratch_code("histories/code_v2", "broken");
    let file = dir.join("workflows.py");
    let good = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, format!("{good}\nthis is not python\n")).expect("write");
    let h = history::load_path(Path::new(CART), None).expect("history");
    let mut r = ScratchReplayer { history: h.clone(), code: code_config(&file.display().to_string(), &[], false) };
    let mut a = App::new(h, r.replay(), Theme::plain(), file.display().to_string());
    assert!(matches!(a.replay, Replay::Failed(_)));
    snap!("import_error_80x24", screen(&a, 80, 24));
    a.update(Action::Divergence);
    assert!(a.message.as_deref().is_some_and(|m| m.contains("no trace")));
    // Fix the file, press r.
    std::fs::write(&file, &good).expect("write");
    assert_eq!(a.update(Action::Reload), Effect::Reload);
    a.set_replay(r.replay());
    let t = a.trace().expect("a trace after the fix");
    assert_eq!(t.report.verdict, Verdict::Nondeterminism);
    let _ = std::fs::remove_dir_all(dir);
}

/// The edit-and-retry loop: fix the non-determinism in the file, press `r`, and the
/// replay must run the edited code — sandboxed and unsandboxed.
#[test]
fn reload_picks_up_an_edited_file() {
    for unsandboxed in [false, true] {
        let dir = scratch_code("histories/code_v2", if unsandboxed { "edit-unsandboxed" } else { "edit" });
        let file = dir.join("workflows.py");
        let h = history::load_path(Path::new(CART), None).expect("history");
        let mut r = ScratchReplayer { history: h.clone(), code: code_config(&file.display().to_string(), &[], unsandboxed) };
        let mut a = App::new(h, r.replay(), Theme::plain(), String::new());
        assert_eq!(a.trace().map(|t| t.report.verdict), Some(Verdict::Nondeterminism));
        a.update(Action::First);
        a.update(Action::NextTask);
        let pos = a.pos;
        // The fix: drop the v2 cool-off timer.
        let src = std::fs::read_to_string(&file).expect("read");
        let fixed = src.replacen("        await workflow.sleep(timedelta(minutes=5))\n", "", 1);
        assert_ne!(src, fixed);
        std::fs::write(&file, fixed).expect("write");
        a.set_replay(r.replay());
        assert_eq!(
            a.trace().map(|t| t.report.verdict),
            Some(Verdict::Pass),
            "unsandboxed={unsandboxed}: r must replay the edited file; {:?}",
            a.message
        );
        assert_eq!(a.pos, pos, "r keeps the position");
        assert!(a.message.as_deref().is_some_and(|m| m.contains("✓ pass (was ✗ nondeterminism at event 23)")), "{:?}", a.message);
        let _ = std::fs::remove_dir_all(dir);
    }
}

// ------------------------------------------------------------------ scale

/// The 11.7k-event history must open in well under 1.5 s once the replay is done, and a
/// frame must cost the same anywhere in it.
#[test]
fn large_history_opens_fast() {
    let (h, out) = replayed(LARGE, CODE, &[]);
    assert!(h.events().len() > 10_000);
    let started = Instant::now();
    let mut a = App::new(h, out, Theme::plain(), CODE.into());
    let _ = screen(&a, 120, 40);
    let open = started.elapsed();
    assert!(open.as_millis() < 1500, "opening took {open:?}");
    a.update(Action::Last);
    let started = Instant::now();
    for _ in 0..50 {
        a.update(Action::PrevEvent);
        let _ = screen(&a, 120, 40);
    }
    let per_frame = started.elapsed() / 50;
    assert!(per_frame.as_millis() < 100, "a step + frame took {per_frame:?}");
    // The first search builds the search text of every event.
    let started = Instant::now();
    a.update(Action::StartSearch);
    for c in "reindex_product #3000".chars() {
        a.update(Action::SearchInput(c));
    }
    a.update(Action::SearchSubmit);
    let search = started.elapsed();
    assert!(matches!(a.pos, Pos::Event(_)), "{:?}", a.message);
    assert!(search.as_millis() < 1500, "first search took {search:?}");
    eprintln!("large history: open {open:?}, step+frame {per_frame:?}, first search {search:?}");
}

// ------------------------------------------------------------------ replay off the UI thread

/// A replay that does not finish until the test says so (or drops the sender).
struct Blocked(std::sync::mpsc::Receiver<()>);
impl Replayer for Blocked {
    fn replay(&mut self) -> Result<ReplayOutcome, ReplayFailure> {
        let _ = self.0.recv();
        Err(ReplayFailure { message: "released".into(), detail: String::new() })
    }
}

/// Hands back a finished outcome (the real cart replay) after a short while.
struct Slow(Option<Result<ReplayOutcome, ReplayFailure>>);
impl Replayer for Slow {
    fn replay(&mut self) -> Result<ReplayOutcome, ReplayFailure> {
        std::thread::sleep(std::time::Duration::from_millis(300));
        self.0.take().unwrap_or_else(|| Err(ReplayFailure { message: "once only".into(), detail: String::new() }))
    }
}

#[test]
fn while_the_first_replay_runs_the_timeline_works_and_says_so() {
    let (h, _) = replayed(CART, CODE_V2, &["cart"]);
    let mut a = App::replaying(h, Theme::plain(), CODE_V2.to_string());
    assert!(matches!(a.replay, Replay::Pending));
    snap!("replaying_80x24", screen(&a, 80, 24));
    let text = screen(&a, 120, 40);
    assert!(text.contains("… replaying") && text.contains("replaying 35 events"), "{text}");
    // The timeline is usable from the history alone.
    a.update(Action::NextEvent);
    assert_eq!(a.pos, Pos::Event(1));
    a.update(Action::Divergence);
    assert!(a.message.as_deref().is_some_and(|m| m.contains("still running")), "{:?}", a.message);
    assert_eq!(a.update(Action::Reload), Effect::None, "one replay at a time");
    assert_eq!(a.update(Action::Quit), Effect::Quit);
}

#[test]
fn q_quits_at_once_while_the_replay_is_still_running() {
    let (h, _) = replayed(CART, CODE_V2, &["cart"]);
    let mut a = App::replaying(h, Theme::plain(), String::new());
    let (release, wait) = std::sync::mpsc::channel();
    let mut replays = Background::spawn(Box::new(Blocked(wait))).expect("worker");
    replays.start();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    let mut keys = [KeyCode::Char('j'), KeyCode::Char('q')].into_iter();
    let started = Instant::now();
    let mut waits = Vec::new();
    event_loop::run(
        &mut terminal,
        &mut a,
        |wait| {
            waits.push(wait);
            Ok(keys.next().map_or(Input::End, |k| Input::Event(Event::Key(KeyEvent::new(k, KeyModifiers::NONE)))))
        },
        &mut replays,
        || {},
    )
    .expect("loop");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "quit took {:?}", started.elapsed());
    assert!(replays.busy(), "the replay is still running when the UI has quit");
    assert!(matches!(a.replay, Replay::Pending));
    assert_eq!(a.pos, Pos::Event(1), "keys were handled while replaying");
    assert!(waits.iter().all(|w| w.is_some()), "the loop never blocks while a replay runs: {waits:?}");
    drop(release);
}

#[test]
fn the_trace_fills_in_when_the_replay_finishes() {
    let (h, out) = replayed(CART, CODE_V2, &["cart"]);
    let mut a = App::replaying(h, Theme::plain(), String::new());
    let mut replays = Background::spawn(Box::new(Slow(Some(out)))).expect("worker");
    replays.start();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    let mut ticks = 0;
    event_loop::run(
        &mut terminal,
        &mut a,
        |wait| match wait {
            // Busy: let time pass, as a terminal poll would.
            Some(t) if ticks < 100 => {
                ticks += 1;
                std::thread::sleep(t);
                Ok(Input::Idle)
            }
            _ => Ok(Input::Event(Event::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE)))),
        },
        &mut replays,
        || {},
    )
    .expect("loop");
    assert!(ticks >= 1, "the first frames were drawn before the replay finished");
    let t = a.trace().expect("the trace arrived");
    assert_eq!(t.report.verdict, Verdict::Nondeterminism);
    assert_eq!(a.pos, Pos::Event(23), "opens at the divergence once it is known (the user had not moved)");
    let text = screen(&a, 80, 24);
    assert!(text.contains("✗ nondeterminism at event 23") && !text.contains("… replaying"), "{text}");
    assert!(a.replaying.is_none());
}

#[test]
fn steps_fill_in_as_the_first_replay_goes() {
    let (h, out) = replayed(CART, CODE_V2, &["cart"]);
    let out = out.expect("a replay");
    let mut a = App::replaying(h, Theme::plain(), String::new());
    let steps: Vec<_> = out.steps.iter().filter(|s| !s.is_eviction()).cloned().collect();
    assert!(steps.len() >= 3, "{}", steps.len());
    // The first two activations arrive (tasks 1 and 2).
    a.add_steps(steps[..1].to_vec());
    a.add_steps(steps[1..2].to_vec());
    assert!(a.replay.is_running());
    snap!("replaying_partial_80x24", screen(&a, 80, 24));
    let text = screen(&a, 120, 40);
    assert!(text.contains("2 activations so far") && text.contains("… replaying"), "{text}");
    assert!(text.contains("delivered to the code"), "task 1's step is shown:\n{text}");
    a.go(Pos::Task(4));
    let text = screen(&a, 120, 40);
    assert!(text.contains("… replaying: this task's activations"), "task 5 is not replayed yet:\n{text}");
    a.go(Pos::Task(0));
    // The end: the real verdict, at the divergence.
    a.set_replay(Ok(out));
    assert!(!a.replay.is_running());
    assert_eq!(a.pos, Pos::Event(23));
    // Later batches (none should come) cannot turn a finished replay back into a partial one.
    a.add_steps(steps[..1].to_vec());
    assert!(matches!(a.replay, Replay::Ready(_)));
}

#[test]
fn history_strings_are_shown_escaped() {
    let evil = "\x1b]0;pwned\x07\r\n::error::x\0";
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(CART).expect("cart")).expect("JSON");
    doc["events"][0]["workflowExecutionStartedEventAttributes"]["workflowId"] = format!("cart-{evil}").into();
    doc["events"][5]["workflowExecutionSignaledEventAttributes"]["signalName"] = format!("sig-{evil}").into();
    let path = std::env::temp_dir().join(format!("deja-tui-evil-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(&doc).expect("JSON")).expect("write");
    let a = app(&path.display().to_string(), CODE, &[]);
    let s = screen(&a, 160, 50);
    let _ = std::fs::remove_file(&path);
    assert!(s.contains(r"cart-\x1b]0;pwned\x07\r\n::error::x\0"), "{s}");
    assert!(s.contains(r"sig-\x1b]0;pwned\x07\r\n::error::x\0"), "{s}");
}

#[test]
fn drift_is_marked_on_the_timeline_and_in_the_step_and_d_jumps_to_it() {
    let h = "tests/fixtures/drift/activity_input.json";
    let mut a = app(h, "tests/fixtures/drift/code_v2/drift_workflows.py", &[]);
    a.update(Action::First);
    a.update(Action::NextDrift);
    assert_eq!(a.pos, Pos::Event(5), "the scheduled event whose input drifted");
    assert!(a.message.as_deref().is_some_and(|m| m.starts_with("drift 1/1: drift activity-input · event 5")), "{:?}", a.message);
    let s = screen(&a, 120, 40);
    assert!(s.contains("≈  5 "), "marked on the timeline:\n{s}");
    assert!(s.contains("≈ drift activity-input · event 5 · input: recorded [\"o-1\","), "in the step diff:\n{s}");
    snap!("drift_activity_input_120x40", s);
    // On a passing replay `d` goes to the drift too.
    a.update(Action::First);
    a.update(Action::Divergence);
    assert_eq!(a.pos, Pos::Event(5));

    let mut clean = app(h, "tests/fixtures/drift/code/drift_workflows.py", &[]);
    clean.update(Action::NextDrift);
    assert!(clean.message.as_deref().is_some_and(|m| m.starts_with("no drift")), "{:?}", clean.message);
    assert!(!screen(&clean, 120, 40).contains('≈'));
}

#[test]
fn the_drift_policy_applies_in_the_debugger_after_a_replay() {
    let h = "tests/fixtures/drift/activity_input.json";
    let code = "tests/fixtures/drift/code_v2/drift_workflows.py";
    let (history, out) = replayed(h, code, &[]);
    let mut a = App::new(history.clone(), out.clone(), Theme::plain(), code.to_string());
    a.drift_policy = deja_core::diff::drift::DriftPolicy { strict: true, ..Default::default() };
    a.set_replay(out.clone());
    assert_eq!(a.verdict_text(), "✗ drift (SDK: pass)");
    a.drift_policy = deja_core::diff::drift::DriftPolicy { allow: vec![deja_core::diff::drift::DriftKind::ActivityInput], ..Default::default() };
    a.set_replay(out);
    assert!(a.trace().is_some_and(|t| t.report.drift.is_empty()), "allowed kinds are not shown");
    assert_eq!(a.verdict_text(), "✓ pass");
}
