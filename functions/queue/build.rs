//! Validates the job catalog and embeds it, resolved, in the binary: a bad catalog fails the build, and a cold start
//! reads no file or parameter.

fn main() {
    if let Err(problem) = sparkplug::load::embed_from_build_env() {
        eprintln!("{problem}");
        std::process::exit(1);
    }
}
