//! Whole testdata models on the scalar backend: time of one `invoke()`.

use criterion::{Criterion, criterion_group, criterion_main};
use tflrs_benches::{MODELS, interpreter_for};
use tflrs_testdata::Case;

fn models(c: &mut Criterion) {
    let mut group = c.benchmark_group("model");
    for &name in MODELS {
        let case = match Case::load(name) {
            Ok(case) => case,
            Err(e) => {
                eprintln!("skipped {name}: {e}");
                continue;
            }
        };
        let mut interp = match interpreter_for(&case) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("skipped {name}: {e}");
                continue;
            }
        };
        group.bench_function(name, |b| b.iter(|| interp.invoke().expect("invoke")));
    }
    group.finish();
}

criterion_group!(benches, models);
criterion_main!(benches);
