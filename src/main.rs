//! The `hirebridge` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    hirebridge::cli::main()
}
