//! Embeds the rpath of the libpython deja was built against.
//!
//! pyo3 links `libpython3.X.so` from the interpreter named by `PYO3_PYTHON` (the Makefile
//! sets it to the venv's python). Without an rpath the loader would pick whatever
//! `libpython3.X.so.1.0` is on the default path — on Debian that is a *different* 3.11
//! build than the venv's — and the SDK's compiled extension would then run against an
//! interpreter it was not installed for.
fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-changed=python");
    embed_harness();
    let config = pyo3_build_config::get();
    if let Some(dir) = config.lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    if let Some(exe) = config.executable() {
        println!("cargo:rustc-env=DEJA_BUILD_PYTHON={exe}");
    }
    let v = config.version();
    println!("cargo:rustc-env=DEJA_BUILD_PYTHON_VERSION={}.{}", v.major, v.minor);
}

/// Writes `harness_sources.rs`: every module of the `python/deja_harness` package as
/// `(module name, file name, include_str!(source))`, so adding a module needs no list
/// kept by hand. The binary serves them through `python/deja_bootstrap.py`.
fn embed_harness() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/deja_harness");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("python/deja_harness is there")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".py"))
        .collect();
    files.sort();
    let mut out = String::from("/// The harness package's modules: (module, file name, source).\npub const HARNESS_MODULES: &[(&str, &str, &str)] = &[\n");
    for f in &files {
        let stem = f.trim_end_matches(".py");
        let module = if stem == "__init__" { "deja_harness".to_string() } else { format!("deja_harness.{stem}") };
        let path = dir.join(f);
        out.push_str(&format!("    ({module:?}, \"deja_harness/{f}\", include_str!({:?})),\n", path.display().to_string()));
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("harness_sources.rs");
    std::fs::write(dest, out).expect("writing harness_sources.rs");
}
