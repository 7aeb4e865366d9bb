//! Exit codes: a contract for CI scripts, so they are named and documented here and in
//! `docs/CLI.md`.

/// Every history replayed clean (or the command had nothing to judge, like `show`).
pub const OK: u8 = 0;
/// Non-determinism or another replay failure was found in at least one history.
pub const FAILURES: u8 = 1;
/// Usage, input or environment error: bad flag, unreadable or invalid history, missing
/// Python environment, user code that does not import, unreachable server…
pub const ERROR: u8 = 2;
