//! docs/CLI.md shows each command's `--help` exactly (clap is the source of truth).
//! Regenerate with `make cli-docs` after changing a flag or its help text.

mod common;

use common::*;

#[test]
fn cli_reference_matches_help() {
    let doc = std::fs::read_to_string(root().join("docs/CLI.md")).expect("docs/CLI.md");
    for command in ["show", "replay", "check", "debug", "fetch", "shadow", "shadow worker", "shadow start", "shadow status", "shadow stop"] {
        let heading = format!("## deja {command}\n\n```\n");
        let start = doc.find(&heading).unwrap_or_else(|| panic!("docs/CLI.md has no '## deja {command}' block")) + heading.len();
        let block = &doc[start..start + doc[start..].find("```\n").expect("closing fence")];
        let mut c = deja();
        c.args(command.split(' ')).arg("--help").env("COLUMNS", "100");
        for (k, _) in std::env::vars() {
            if k.starts_with("TEMPORAL_") || k.starts_with("DEJA_") {
                c.env_remove(k);
            }
        }
        let out = c.output().expect("deja runs");
        assert!(out.status.success());
        assert_eq!(block, stdout(&out), "docs/CLI.md is stale for `deja {command} --help`: run `make cli-docs`");
    }
}
