//! The `tflrs` command-line tool.
//!
//! Each subcommand lives in its own module with an `Args` struct (clap derive) and a
//! `run(args) -> anyhow::Result<()>`; adding one (run, optimize, bench, embed, graph) is a new
//! module and a new variant of [`Command`].

mod bench;
mod embed;
mod inspect;
mod optimize;
mod run;
mod table;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// tflrs: work with TensorFlow Lite (`.tflite`) models.
#[derive(Debug, Parser)]
#[command(name = "tflrs", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Show a model's subgraphs, signatures, operators, tensors and a summary.
    Inspect(inspect::Args),
    /// Run a model on .npy inputs; print the outputs and optionally write them as .npy.
    Run(run::Args),
    /// Time `invoke()` of a model: median, percentiles and minimum, on a chosen backend.
    Bench(bench::Args),
    /// Read a model through the graph IR, run optimization passes, write it back (no pass
    /// runs without flags).
    Optimize(optimize::Args),
    /// Write a model as a C or Rust source array (16-byte aligned) for firmware, headed by
    /// its operators, inputs, outputs and arena size.
    Embed(embed::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Optimize(args) => optimize::run(&args),
        Command::Embed(args) => embed::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, joined by `: `.
///
/// A cause whose message its parent already includes is left out (errors that format their
/// source into their own message and also return it from `source()`), and multi-line
/// messages (the FlatBuffers verifier's trace) are folded into one line.
fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() && !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("out of bounds.\n\twhile verifying `x`\n")
        }
    }
    impl std::error::Error for Inner {}

    #[derive(Debug)]
    struct Outer(Inner);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "malformed: {}", self.0)
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn errors_print_on_one_line_without_repeats() {
        let err = anyhow::Error::new(Outer(Inner)).context("m.tflite is not a valid model");
        assert_eq!(
            one_line(&err),
            "m.tflite is not a valid model: malformed: out of bounds. while verifying `x`"
        );
        let err = anyhow::Error::new(Inner).context("cannot read m.tflite");
        assert_eq!(
            one_line(&err),
            "cannot read m.tflite: out of bounds. while verifying `x`"
        );
    }
}
