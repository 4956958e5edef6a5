//! Calibration for full-integer quantization: run a float model over representative samples
//! and record the range of every float tensor of its main subgraph.

use crate::{Error, Interpreter, Model};
use tflrs_ir::{DType, Graph, ValueId};
use tflrs_passes::quantize::Ranges;

/// How the per-tensor range is taken from the samples.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Method {
    /// The global minimum and maximum over all samples and elements, NaN skipped: the
    /// converter's calibrator.
    #[default]
    MinMax,
    /// The exponential moving average of each sample's minimum and maximum,
    /// `new = smoothing * old + (1 - smoothing) * sample` (the AI Edge Quantizer's default, with
    /// smoothing 0.95); the first sample starts it.
    MovingAverage(f32),
    /// The `p` and `1 - p` quantiles of all elements of all samples (`p` = 0.9999 clips the
    /// 0.01% most extreme values at each end), from a 2048-bin histogram over the min/max range:
    /// the samples run twice.
    Percentile(f64),
    /// The range that minimizes the expected int8 quantization error of each tensor's values
    /// (rounding error `scale^2 / 12` inside the range, the clipping error outside it), searched
    /// over the min/max range narrowed by factors 1.0, 0.98, ..., 0.5, from the same histogram
    /// as [`Percentile`](Self::Percentile): the samples run twice.
    Mse,
}

/// Why calibration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrateError {
    /// No samples.
    #[error("calibration needs at least one sample")]
    NoSamples,
    /// A sample holds the wrong number of inputs.
    #[error("sample {sample} holds {got} inputs, the model has {want}")]
    Inputs {
        /// The sample.
        sample: usize,
        /// Inputs given.
        got: usize,
        /// Model inputs.
        want: usize,
    },
    /// An input of a sample has the wrong number of elements.
    #[error("sample {sample}, input {input}: {got} values, the input holds {want}")]
    Elements {
        /// The sample.
        sample: usize,
        /// The input.
        input: usize,
        /// Values given.
        got: usize,
        /// Elements of the model's input.
        want: usize,
    },
    /// A model input is not float32.
    #[error("input {input} is {dtype}, calibration needs a float32 model")]
    NotFloat {
        /// The input.
        input: usize,
        /// Its type.
        dtype: DType,
    },
    /// A bad method parameter.
    #[error("calibration method: {0}")]
    Method(String),
    /// The model failed to load or run.
    #[error(transparent)]
    Run(#[from] Error),
}

/// [`calibrate_with`] with the converter's [`Method::MinMax`].
pub fn calibrate(graph: &Graph<'_>, samples: &[Vec<Vec<f32>>]) -> Result<Ranges, CalibrateError> {
    calibrate_with(graph, samples, Method::MinMax)
}

/// Runs the float model `graph` (scalar reference kernels) on each sample (`samples[s][i]`: the
/// values of input `i`, in the input's shape) and returns the range of every non-constant
/// float32 value of subgraph 0, by `method`.
pub fn calibrate_with(
    graph: &Graph<'_>,
    samples: &[Vec<Vec<f32>>],
    method: Method,
) -> Result<Ranges, CalibrateError> {
    if samples.is_empty() {
        return Err(CalibrateError::NoSamples);
    }
    match method {
        Method::MovingAverage(s) if !(0.0..1.0).contains(&s) => {
            return Err(CalibrateError::Method(format!(
                "smoothing {s} is not in [0, 1)"
            )));
        }
        Method::Percentile(p) if !(0.5..=1.0).contains(&p) => {
            return Err(CalibrateError::Method(format!(
                "percentile {p} is not in [0.5, 1]"
            )));
        }
        _ => {}
    }
    let Some(sg) = graph.subgraphs.first() else {
        return Ok(Ranges::default());
    };
    // Every float value a node computes becomes an output of a copy of the graph.
    let inputs = sg.inputs.clone();
    let mut watched: Vec<ValueId> = Vec::new();
    for node in &sg.nodes {
        for &o in &node.outputs {
            let Some(v) = sg.value(o) else { continue };
            if v.dtype == DType::Float32
                && !v.is_constant()
                && !inputs.contains(&o)
                && !watched.contains(&o)
            {
                watched.push(o);
            }
        }
    }
    let mut g = graph.clone();
    g.subgraphs[0].outputs = watched.clone();
    g.signatures.clear();
    let model = Model::from_graph(g);
    let mut it = Interpreter::builder(&model)
        .reference_kernels(true)
        .build()?;
    for (i, &v) in inputs.iter().enumerate() {
        let dtype = sg.value(v).map_or(DType::Float32, |v| v.dtype);
        if dtype != DType::Float32 {
            return Err(CalibrateError::NotFloat { input: i, dtype });
        }
    }
    for (s, sample) in samples.iter().enumerate() {
        if sample.len() != inputs.len() {
            return Err(CalibrateError::Inputs {
                sample: s,
                got: sample.len(),
                want: inputs.len(),
            });
        }
        for (i, x) in sample.iter().enumerate() {
            let want = it.input_bytes_mut(i)?.len() / 4;
            if x.len() != want {
                return Err(CalibrateError::Elements {
                    sample: s,
                    input: i,
                    got: x.len(),
                    want,
                });
            }
        }
    }
    // The tensors: inputs first, then the watched values.
    let all: Vec<ValueId> = inputs.iter().chain(&watched).copied().collect();
    let mut stats: Vec<Stat> = vec![Stat::default(); all.len()];
    let smoothing = match method {
        Method::MovingAverage(s) => Some(s),
        _ => None,
    };
    let mut run = |stats: &mut Vec<Stat>, f: &mut dyn FnMut(&mut Stat, &[f32])| {
        for sample in samples {
            for (i, x) in sample.iter().enumerate() {
                let b = it.input_bytes_mut(i)?;
                for (d, v) in b.chunks_exact_mut(4).zip(x) {
                    d.copy_from_slice(&v.to_le_bytes());
                }
                f(&mut stats[i], x);
            }
            it.invoke()?;
            let mut buf = Vec::new();
            for k in 0..watched.len() {
                buf.clear();
                buf.extend(
                    it.output_bytes(k)?
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                );
                f(&mut stats[inputs.len() + k], &buf);
            }
        }
        Ok::<(), CalibrateError>(())
    };
    run(&mut stats, &mut |st, x| st.update(x, smoothing))?;
    if matches!(method, Method::Percentile(_) | Method::Mse) {
        for st in &mut stats {
            st.hist = vec![0; BINS];
        }
        run(&mut stats, &mut |st, x| st.histogram(x))?;
        for st in &mut stats {
            match method {
                Method::Percentile(p) => st.clip(p),
                _ => st.min_mse(),
            }
        }
    }
    let mut ranges = Ranges::new(sg.values.len());
    for (v, st) in all.iter().zip(&stats) {
        let (lo, hi) = if st.lo <= st.hi {
            (st.lo, st.hi)
        } else {
            (0.0, 0.0)
        };
        ranges.set(*v, lo, hi);
    }
    Ok(ranges)
}

const BINS: usize = 2048;

#[derive(Clone)]
struct Stat {
    lo: f32,
    hi: f32,
    samples: usize,
    hist: Vec<u64>,
}

impl Default for Stat {
    fn default() -> Self {
        Self {
            lo: f32::INFINITY,
            hi: f32::NEG_INFINITY,
            samples: 0,
            hist: Vec::new(),
        }
    }
}

impl Stat {
    fn update(&mut self, x: &[f32], smoothing: Option<f32>) {
        let (lo, hi) = x
            .iter()
            .filter(|v| !v.is_nan())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if lo > hi {
            return;
        }
        match smoothing {
            Some(s) if self.samples > 0 => {
                self.lo = s * self.lo + (1.0 - s) * lo;
                self.hi = s * self.hi + (1.0 - s) * hi;
            }
            _ => {
                self.lo = self.lo.min(lo);
                self.hi = self.hi.max(hi);
            }
        }
        self.samples += 1;
    }

    fn bin(&self, v: f32) -> usize {
        let w = (f64::from(self.hi) - f64::from(self.lo)) / BINS as f64;
        if w <= 0.0 {
            return 0;
        }
        (((f64::from(v) - f64::from(self.lo)) / w) as usize).min(BINS - 1)
    }

    fn histogram(&mut self, x: &[f32]) {
        if self.lo > self.hi {
            return;
        }
        for &v in x.iter().filter(|v| !v.is_nan()) {
            let b = self.bin(v);
            self.hist[b] += 1;
        }
    }

    /// Narrows `[lo, hi]` (widened to include 0) by the factor that minimizes the expected
    /// quantization error of the histogram's values.
    fn min_mse(&mut self) {
        let total: u64 = self.hist.iter().sum();
        if total == 0 || self.lo >= self.hi {
            return;
        }
        let (lo0, hi0) = (f64::from(self.lo.min(0.0)), f64::from(self.hi.max(0.0)));
        let w = (f64::from(self.hi) - f64::from(self.lo)) / BINS as f64;
        let centers: Vec<f64> = (0..BINS)
            .map(|b| f64::from(self.lo) + w * (b as f64 + 0.5))
            .collect();
        let mut best = (f64::INFINITY, 1.0);
        for k in 0..=25 {
            let a = 1.0 - 0.02 * f64::from(k);
            let (lo, hi) = (lo0 * a, hi0 * a);
            let scale = (hi - lo) / 255.0;
            let mut err = 0.0;
            for (&c, &n) in centers.iter().zip(&self.hist) {
                if n == 0 {
                    continue;
                }
                let e = if c < lo {
                    (lo - c).powi(2)
                } else if c > hi {
                    (c - hi).powi(2)
                } else {
                    scale * scale / 12.0
                };
                err += e * n as f64;
            }
            if err < best.0 {
                best = (err, a);
            }
        }
        if best.1 < 1.0 {
            self.lo = (lo0 * best.1) as f32;
            self.hi = (hi0 * best.1) as f32;
        }
    }

    /// Narrows `[lo, hi]` to the `1 - p` and `p` quantiles (bin edges, outward).
    fn clip(&mut self, p: f64) {
        let total: u64 = self.hist.iter().sum();
        if total == 0 || self.lo >= self.hi {
            return;
        }
        let cut = ((1.0 - p) * total as f64).floor() as u64;
        let w = (f64::from(self.hi) - f64::from(self.lo)) / BINS as f64;
        let (mut acc, mut first) = (0u64, 0usize);
        for (b, &c) in self.hist.iter().enumerate() {
            if acc + c > cut {
                first = b;
                break;
            }
            acc += c;
        }
        let (mut acc, mut last) = (0u64, BINS - 1);
        for (b, &c) in self.hist.iter().enumerate().rev() {
            if acc + c > cut {
                last = b;
                break;
            }
            acc += c;
        }
        let lo = f64::from(self.lo) + w * first as f64;
        let hi = f64::from(self.lo) + w * (last + 1) as f64;
        self.lo = (lo as f32).max(self.lo);
        self.hi = (hi as f32).min(self.hi);
    }
}
