//! Validates the job catalog and embeds it, resolved, in the binary: a bad catalog fails the build, and a cold start
//! reads no file or parameter.

fn main() {
    sparkplug::catalog::build_script_main();
}
