//! Validates the job catalog and embeds it, resolved, in the binary: a bad catalog fails the build, and a cold start
//! reads no file or parameter.

use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let root = manifest.join("../..");
    if let Err(problem) = sparkplug::catalog::embed_for_build(&root, &out) {
        eprintln!("{problem}");
        std::process::exit(1);
    }
}
