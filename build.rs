//! Embeds the rpath of the libpython deja was built against.
//!
//! pyo3 links `libpython3.X.so` from the interpreter named by `PYO3_PYTHON` (the Makefile
//! sets it to the venv's python). Without an rpath the loader would pick whatever
//! `libpython3.X.so.1.0` is on the default path — on Debian that is a *different* 3.11
//! build than the venv's — and the SDK's compiled extension would then run against an
//! interpreter it was not installed for.
fn main() {
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-changed=python/deja_harness.py");
    println!("cargo:rerun-if-changed=python/deja_sandbox_reuse.py");
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
