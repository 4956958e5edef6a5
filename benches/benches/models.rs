//! Whole testdata models on the scalar and SIMD backends: time of one `invoke()`.

use criterion::{Criterion, criterion_group, criterion_main};
use tflrs_benches::{BACKENDS, MODELS, interpreter_with};
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
        for &backend in BACKENDS {
            let mut interp = match interpreter_with(&case, backend) {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("skipped {name} on {backend}: {e}");
                    continue;
                }
            };
            group.bench_function(format!("{name}/{backend}"), |b| {
                b.iter(|| interp.invoke().expect("invoke"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, models);
criterion_main!(benches);
