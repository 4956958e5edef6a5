//! Times `invoke()` of testdata models and prints one JSON object per line and thread count:
//! `{"model": name, "threads": t, "median_us": t, "runs": n}` (or `"error"`). Used by
//! `cargo xtask bench`.
//!
//! Usage: `time-models [--runs N] [--backend scalar|simd] [--threads 1,2] [MODEL ...]`
//! (default: the models of `tflrs_benches::MODELS` on the scalar backend, one thread).

use std::time::Instant;
use tflrs_benches::{MODELS, interpreter_threads};
use tflrs_testdata::Case;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut runs = 50usize;
    if let Some(p) = args.iter().position(|a| a == "--runs") {
        runs = args.get(p + 1).and_then(|r| r.parse().ok()).unwrap_or(runs);
        args.drain(p..(p + 2).min(args.len()));
    }
    let mut backend = String::from("scalar");
    if let Some(p) = args.iter().position(|a| a == "--backend") {
        if let Some(b) = args.get(p + 1) {
            backend = b.clone();
        }
        args.drain(p..(p + 2).min(args.len()));
    }
    let mut threads = vec![1usize];
    if let Some(p) = args.iter().position(|a| a == "--threads") {
        if let Some(list) = args.get(p + 1) {
            threads = list.split(',').filter_map(|t| t.parse().ok()).collect();
        }
        args.drain(p..(p + 2).min(args.len()));
    }
    let names: Vec<String> = if args.is_empty() {
        MODELS.iter().map(|s| s.to_string()).collect()
    } else {
        args
    };
    for (name, threads) in names
        .iter()
        .flat_map(|n| threads.iter().map(move |&t| (n.clone(), t)))
    {
        let result = Case::load(&name)
            .map_err(|e| e.to_string())
            .and_then(|case| interpreter_threads(&case, &backend, threads))
            .and_then(|mut interp| {
                interp.invoke().map_err(|e| e.to_string())?; // warm up
                let mut times: Vec<f64> = (0..runs.max(1))
                    .map(|_| {
                        let t = Instant::now();
                        interp.invoke().map(|()| t.elapsed().as_secs_f64() * 1e6)
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string())?;
                times.sort_by(f64::total_cmp);
                Ok(times[times.len() / 2])
            });
        let line = match result {
            Ok(median) => {
                serde_json::json!({"model": name, "backend": backend, "threads": threads, "median_us": median, "runs": runs})
            }
            Err(e) => serde_json::json!({"model": name, "threads": threads, "error": e}),
        };
        println!("{line}");
    }
}
