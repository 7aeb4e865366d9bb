//! `deja --version`: deja's own version, and what it found in the Python environment —
//! the `temporalio` that will decide verdicts, whether deja supports it, and which of
//! deja's optimisations are active with it. Never fails: a missing or unsupported
//! environment is reported as such (exit 0), since this is what people run to find out.

use crate::replay::embed::Interpreter;
use crate::replay::pyenv;

pub fn report() -> String {
    // Paths, the version string and error texts come from the user's environment: each
    // line is shown with its control characters made visible (deja's own words have none).
    raw_report().lines().map(|l| format!("{}\n", crate::style::escape_terminal(l))).collect()
}

fn raw_report() -> String {
    let mut out = format!("deja {}\n", env!("CARGO_PKG_VERSION"));
    let env = match pyenv::resolve(None) {
        Ok(env) => env,
        Err(e) => {
            out.push_str(&format!("temporalio: no Python environment ({e})\n"));
            return out;
        }
    };
    out.push_str(&format!("python environment: {} (found by {})\n", env.root.display(), env.found_by));
    if let Some(host) = crate::replay::host::get() {
        out.push_str(&format!("python: {} {} (pip-installed deja runs inside it)\n", host.version, host.executable.display()));
    }
    match Interpreter::start(&env) {
        Ok(interp) => {
            let sdk = &interp.sdk;
            out.push_str(&format!("temporalio {} ({}; deja supports {})\n", sdk.version, sdk.status, sdk.supported_range));
            let opts = if sdk.optimisations.is_empty() { "none (plain SDK path)".to_string() } else { sdk.optimisations.join(", ") };
            out.push_str(&format!("optimisations: {opts}\n"));
            let yes_no = |b: bool| if b { "yes" } else { "no" };
            out.push_str(&format!(
                "replay: yes · command sites: {} · state/queries: {} · updates: {} · nexus: {}\n",
                yes_no(sdk.command_sites),
                yes_no(sdk.state_queries),
                yes_no(sdk.updates),
                yes_no(sdk.nexus)
            ));
            if sdk.protos_transcoded {
                out.push_str("activation protos: this SDK's own descriptors (they differ from the ones deja vendors)\n");
            }
            if let Some(notice) = &sdk.notice {
                out.push_str(&format!("note: {notice}\n"));
            }
        }
        Err(e) => out.push_str(&format!("temporalio: {e}\n")),
    }
    out
}
