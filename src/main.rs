//! `karpdeck` binary: parse the command line, run, and exit with the command's status.

fn main() {
    std::process::exit(karpdeck::cli::main());
}
