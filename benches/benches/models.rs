//! Whole testdata models on the scalar and SIMD backends: time of one `invoke()`; the SIMD
//! backend on 1 thread (`model/NAME/simd`) and on 2 (`model/NAME/simd/2t`).

use criterion::{Criterion, criterion_group, criterion_main};
use tflrs_benches::{BACKENDS, MODELS, interpreter_threads};
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
            let threads: &[usize] = if backend == "simd" { &[1, 2] } else { &[1] };
            for &t in threads {
                let mut interp = match interpreter_threads(&case, backend, t) {
                    Ok(i) => i,
                    Err(e) => {
                        eprintln!("skipped {name} on {backend}, {t} thread(s): {e}");
                        continue;
                    }
                };
                let id = if t == 1 {
                    format!("{name}/{backend}")
                } else {
                    format!("{name}/{backend}/{t}t")
                };
                group.bench_function(id, |b| b.iter(|| interp.invoke().expect("invoke")));
            }
        }
    }
    group.finish();
}

criterion_group!(benches, models);
criterion_main!(benches);
