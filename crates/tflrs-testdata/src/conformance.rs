//! The golden suite, per backend: every case of the manifest through an interpreter the caller
//! builds, compared with LiteRT's reference outputs, with each backend's known gaps and a check
//! that the backend under test ran the nodes it is expected to claim.
//!
//! This crate does not depend on the interpreter (the runtime's tests depend on this crate), so
//! the caller supplies the run: a closure from a [`Case`] to a [`CaseRun`], the outputs and the
//! plan report (which kernel, of which backend, runs each node). [`Suite::run`] does the rest:
//!
//! - **Outputs** match LiteRT's reference kernels under the manifest's tolerance (integers bit
//!   for bit).
//! - **Known gaps** ([`known_gaps`]): a case that fails must be listed, and a listed case must
//!   fail, so the list only shrinks.
//! - **Claims** ([`Suite::must_claim`]): every node the predicate selects must have been
//!   planned with a kernel of the backend under test, and the predicate must select at least
//!   one node over the suite. A backend answering `Ok(None)` for every node falls back to the
//!   scalar backend everywhere and would otherwise pass all cases.
//!
//! ```no_run
//! use tflrs_testdata::conformance::{CaseRun, Suite};
//!
//! # fn run_with_my_backend(_: &tflrs_testdata::Case) -> Result<CaseRun, String> { todo!() }
//! let report = Suite::new("simd")
//!     .must_claim(|_case, node| node.op == "CONV_2D")
//!     .run(run_with_my_backend)
//!     .unwrap();
//! report.check().unwrap();
//! ```

use crate::{Case, CaseEntry, Error, Npy, testdata_dir};
use std::path::PathBuf;

/// Directory of the known-gaps lists, `known_gaps/<backend>.txt` in this crate.
pub fn known_gaps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("known_gaps")
}

/// Names listed in a known-gaps text: one case a line, `#` starting a comment line.
pub fn parse_known_gaps(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The cases a suite run with `backend` under test is known to fail: those of
/// `known_gaps/scalar.txt` (the scalar backend runs every node another backend declines, so
/// its gaps are every backend's) and those of `known_gaps/<backend>.txt` when that file exists.
pub fn known_gaps(backend: &str) -> Result<Vec<String>, Error> {
    let mut gaps = Vec::new();
    for name in ["scalar", backend] {
        let path = known_gaps_dir().join(format!("{name}.txt"));
        if name == backend && name != "scalar" && !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path, source })?;
        for gap in parse_known_gaps(&text) {
            if !gaps.contains(&gap) {
                gaps.push(gap);
            }
        }
    }
    Ok(gaps)
}

/// One node of an interpreter's plan (what the runtime's `PlanEntry` holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedNode {
    /// Subgraph of the node.
    pub subgraph: usize,
    /// Index of the node in its subgraph.
    pub node: usize,
    /// The operator's builtin name (`"CONV_2D"`).
    pub op: String,
    /// The kernel's name (`"conv_2d_i8__scalar"`).
    pub kernel: String,
    /// The backend that made the kernel (`"runtime"` for nodes the runtime handles itself).
    pub backend: String,
}

/// What running a case produced.
#[derive(Debug, Clone)]
pub struct CaseRun {
    /// The outputs, in model order.
    pub outputs: Vec<Npy>,
    /// The plan the outputs were computed with.
    pub plan: Vec<PlannedNode>,
}

/// One case of a suite run.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case.
    pub name: String,
    /// `Ok` when the outputs match LiteRT's; otherwise what went wrong.
    pub result: Result<(), String>,
    /// Whether the case is a known gap of the backend.
    pub known_gap: bool,
    /// The plan, when the interpreter was built.
    pub plan: Vec<PlannedNode>,
}

/// Which nodes the backend under test must claim.
type Claims<'a> = Box<dyn Fn(&CaseEntry, &PlannedNode) -> bool + 'a>;

/// Which cases a suite runs.
type CaseFilter<'a> = Box<dyn Fn(&CaseEntry) -> bool + 'a>;

/// The golden suite for one backend; see the [module docs](self).
pub struct Suite<'a> {
    backend: String,
    must_claim: Option<Claims<'a>>,
    filter: Option<CaseFilter<'a>>,
}

impl std::fmt::Debug for Suite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suite")
            .field("backend", &self.backend)
            .field("must_claim", &self.must_claim.is_some())
            .field("filter", &self.filter.is_some())
            .finish()
    }
}

impl<'a> Suite<'a> {
    /// The suite for `backend` (its name as in plan reports), over every case, checking
    /// outputs and known gaps only until [`must_claim`](Self::must_claim) is given.
    pub fn new(backend: &str) -> Self {
        Self {
            backend: backend.to_owned(),
            must_claim: None,
            filter: None,
        }
    }

    /// Nodes the backend must have claimed: for each planned node of each case that produced
    /// a plan, whether its kernel must come from the backend under test.
    pub fn must_claim(mut self, f: impl Fn(&CaseEntry, &PlannedNode) -> bool + 'a) -> Self {
        self.must_claim = Some(Box::new(f));
        self
    }

    /// Runs only the cases `f` selects (known gaps of other cases are then not checked).
    pub fn cases(mut self, f: impl Fn(&CaseEntry) -> bool + 'a) -> Self {
        self.filter = Some(Box::new(f));
        self
    }

    /// Runs every case with `run` and compares; prints one line a case (seen with
    /// `--nocapture`). Fails only when the manifest, the gaps list or a case's files cannot be
    /// read; what the cases show is in the [`Report`].
    pub fn run(
        &self,
        mut run: impl FnMut(&Case) -> Result<CaseRun, String>,
    ) -> Result<Report, Error> {
        let root = testdata_dir();
        let manifest = crate::Manifest::load(&root)?;
        let gaps = known_gaps(&self.backend)?;
        let mut report = Report {
            backend: self.backend.clone(),
            cases: Vec::new(),
            unclaimed: Vec::new(),
            must_claim: self.must_claim.as_ref().map(|_| 0),
        };
        for entry in &manifest.cases {
            if self.filter.as_ref().is_some_and(|f| !f(entry)) {
                continue;
            }
            let case = Case::from_entry(&root, entry)?;
            let (result, plan) = match run(&case) {
                Ok(CaseRun { outputs, plan }) => (
                    case.check_ref_outputs(&outputs).map_err(|e| e.to_string()),
                    plan,
                ),
                Err(e) => (Err(e), Vec::new()),
            };
            if let (Some(f), Some(n)) = (&self.must_claim, &mut report.must_claim) {
                for node in plan.iter().filter(|p| f(entry, p)) {
                    *n += 1;
                    if node.backend != self.backend {
                        report.unclaimed.push(format!(
                            "{}: subgraph {} node {} ({}) ran {} of backend {}",
                            entry.name,
                            node.subgraph,
                            node.node,
                            node.op,
                            node.kernel,
                            node.backend
                        ));
                    }
                }
            }
            match &result {
                Ok(()) => println!("PASS {:<48} [{}]", entry.name, self.backend),
                Err(e) => println!("FAIL {:<48} [{}] {e}", entry.name, self.backend),
            }
            report.cases.push(CaseResult {
                name: entry.name.clone(),
                result,
                known_gap: gaps.contains(&entry.name),
                plan,
            });
        }
        println!(
            "{} of {} cases pass with backend {}",
            report.passed(),
            report.cases.len(),
            self.backend
        );
        Ok(report)
    }
}

/// What a [`Suite`] run showed.
#[derive(Debug, Clone)]
pub struct Report {
    /// The backend under test.
    pub backend: String,
    /// Every case run, in manifest order.
    pub cases: Vec<CaseResult>,
    /// Nodes the backend had to claim and did not, described.
    pub unclaimed: Vec<String>,
    /// How many planned nodes [`Suite::must_claim`] selected (`None` without a predicate).
    pub must_claim: Option<usize>,
}

impl Report {
    /// Number of cases whose outputs match.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.result.is_ok()).count()
    }

    /// Cases that fail and are not known gaps, with why.
    pub fn unexpected_failures(&self) -> Vec<String> {
        self.cases
            .iter()
            .filter(|c| !c.known_gap)
            .filter_map(|c| c.result.as_ref().err().map(|e| format!("{}: {e}", c.name)))
            .collect()
    }

    /// Known gaps that pass (remove them from the list).
    pub fn unexpected_passes(&self) -> Vec<String> {
        self.cases
            .iter()
            .filter(|c| c.known_gap && c.result.is_ok())
            .map(|c| c.name.clone())
            .collect()
    }

    /// Every planned node of every case, with its case's name.
    pub fn planned_nodes(&self) -> impl Iterator<Item = (&str, &PlannedNode)> {
        self.cases
            .iter()
            .flat_map(|c| c.plan.iter().map(move |p| (c.name.as_str(), p)))
    }

    /// `Ok` when every case behaves as its gaps list says and the backend claimed what it
    /// must; otherwise everything that is wrong, one line each.
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let failures = self.unexpected_failures();
        if !failures.is_empty() {
            problems.push(format!(
                "cases failing with backend {} that known_gaps does not list:\n  {}",
                self.backend,
                failures.join("\n  ")
            ));
        }
        let passes = self.unexpected_passes();
        if !passes.is_empty() {
            problems.push(format!(
                "cases passing with backend {} that known_gaps still lists (remove them):\n  {}",
                self.backend,
                passes.join("\n  ")
            ));
        }
        if self.must_claim == Some(0) {
            problems.push(format!(
                "no planned node is one backend {} must claim: the claims check would be vacuous",
                self.backend
            ));
        }
        if !self.unclaimed.is_empty() {
            problems.push(format!(
                "nodes backend {} must claim but did not:\n  {}",
                self.backend,
                self.unclaimed.join("\n  ")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

/// Element-type spellings kernel names use.
const NAME_DTYPES: &[&str] = &[
    "bool", "f16", "bf16", "f32", "f64", "i4", "i8", "i16", "i32", "i64", "u8", "u16", "u32",
    "u64", "c64", "c128", "str",
];

/// Operators whose kernels move whole tensors of any element type (control flow, variables),
/// so their names carry no dtype.
const UNTYPED_OPS: &[&str] = &[
    "WHILE",
    "IF",
    "CALL_ONCE",
    "VAR_HANDLE",
    "READ_VARIABLE",
    "ASSIGN_VARIABLE",
];

/// The kernel name the runtime gives nodes it runs by aliasing memory, not with a kernel.
pub const ALIAS_KERNEL: &str = "alias__runtime";

/// Checks a planned node's kernel name against the grammar
/// `{op}_{dtypes}__{backend}[_{variant}]`:
///
/// - `op` is the node's builtin name in lower case (`conv_2d`);
/// - `dtypes` is one element type (`f32`, `i8`, ...), optionally prefixed `hybrid_` for float
///   kernels on int8 weights, or two for conversions (`cast_i32_f32`, `quantize_f32_i8`: from,
///   to), and absent only for control-flow and variable operators ([`UNTYPED_OPS`]);
/// - `backend` is the node's backend;
/// - `variant`, lower case with underscores, tells apart kernels of one op, dtype and backend
///   (`per_channel`, `i64out`).
///
/// [`ALIAS_KERNEL`] is the one name outside the grammar, for nodes of backend `runtime`.
pub fn check_kernel_name(node: &PlannedNode) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "kernel {} for {} of backend {}: {why}",
            node.kernel, node.op, node.backend
        ))
    };
    if node.kernel == ALIAS_KERNEL {
        return if node.backend == "runtime" {
            Ok(())
        } else {
            bad("only the runtime aliases")
        };
    }
    let Some((head, tail)) = node.kernel.split_once("__") else {
        return bad("no `__` before the backend");
    };
    let op = node.op.to_ascii_lowercase();
    let Some(rest) = head.strip_prefix(op.as_str()) else {
        return bad(&format!("does not start with the op, `{op}`"));
    };
    let dtypes: Vec<&str> = match rest.strip_prefix('_') {
        Some(r) => r.split('_').collect(),
        None if rest.is_empty() => Vec::new(),
        None => return bad(&format!("`{rest}` after the op")),
    };
    let dtypes_ok = match dtypes.as_slice() {
        [] => UNTYPED_OPS.contains(&node.op.as_str()),
        [d] | ["hybrid", d] => NAME_DTYPES.contains(d),
        [a, b] => NAME_DTYPES.contains(a) && NAME_DTYPES.contains(b),
        _ => false,
    };
    if !dtypes_ok {
        return bad(&format!("`{}` is not a dtype part", dtypes.join("_")));
    }
    let Some(variant) = tail.strip_prefix(node.backend.as_str()) else {
        return bad("the backend after `__` is not the node's");
    };
    let variant_ok = variant.is_empty()
        || variant.strip_prefix('_').is_some_and(|v| {
            v.split('_').all(|w| {
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })
        });
    if !variant_ok {
        return bad(&format!("`{variant}` is not a `_variant`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op: &str, kernel: &str, backend: &str) -> PlannedNode {
        PlannedNode {
            subgraph: 0,
            node: 0,
            op: op.into(),
            kernel: kernel.into(),
            backend: backend.into(),
        }
    }

    #[test]
    fn kernel_names_follow_the_grammar() {
        for (op, kernel, backend) in [
            ("CONV_2D", "conv_2d_i8__scalar", "scalar"),
            ("CONV_2D", "conv_2d_hybrid_i8__scalar_per_channel", "scalar"),
            ("ARG_MAX", "arg_max_f32__scalar_i64out", "scalar"),
            ("CAST", "cast_i32_f32__scalar", "scalar"),
            ("WHILE", "while__scalar", "scalar"),
            ("ADD", "add_f32__avx2", "avx2"),
            ("RESHAPE", ALIAS_KERNEL, "runtime"),
        ] {
            check_kernel_name(&node(op, kernel, backend)).unwrap();
        }
        for (op, kernel, backend) in [
            ("CONV_2D", "conv2d_i8__scalar", "scalar"),
            ("CONV_2D", "conv_2d_i8_scalar", "scalar"),
            ("CONV_2D", "conv_2d__scalar", "scalar"),
            ("CONV_2D", "conv_2d_int8__scalar", "scalar"),
            ("CONV_2D", "conv_2d_i8_f32_i8__scalar", "scalar"),
            ("ADD", "add_f32__scalar", "simd"),
            ("ADD", "add_f32__scalar_", "scalar"),
            ("ADD", "add_f32__scalar_Fast", "scalar"),
            ("ADD", "add_f32__scalarx", "scalar"),
            ("RESHAPE", ALIAS_KERNEL, "scalar"),
        ] {
            assert!(
                check_kernel_name(&node(op, kernel, backend)).is_err(),
                "{kernel} passes"
            );
        }
    }

    #[test]
    fn gaps_lists_parse_and_scalars_apply_to_every_backend() {
        assert_eq!(
            parse_known_gaps("# why\n\n a \nb\n# c\n"),
            ["a".to_owned(), "b".to_owned()]
        );
        let scalar = known_gaps("scalar").unwrap();
        assert!(!scalar.is_empty());
        assert_eq!(known_gaps("no_such_backend").unwrap(), scalar);
    }

    fn result(name: &str, ok: bool, known_gap: bool) -> CaseResult {
        CaseResult {
            name: name.into(),
            result: if ok { Ok(()) } else { Err("differs".into()) },
            known_gap,
            plan: vec![node("ADD", "add_f32__scalar", "scalar")],
        }
    }

    #[test]
    fn the_report_fails_on_surprises_and_on_vacuous_claims() {
        let mut report = Report {
            backend: "scalar".into(),
            cases: vec![result("a", true, false), result("b", false, true)],
            unclaimed: Vec::new(),
            must_claim: Some(1),
        };
        report.check().unwrap();
        assert_eq!(report.planned_nodes().count(), 2);
        report.cases.push(result("c", false, false));
        report.cases.push(result("d", true, true));
        let e = report.check().unwrap_err();
        assert!(e.contains("c: differs") && e.contains("\n  d"), "{e}");
        report.cases.truncate(2);
        report.must_claim = Some(0);
        assert!(report.check().unwrap_err().contains("vacuous"));
        report.must_claim = Some(3);
        report.unclaimed.push("a: node 0".into());
        assert!(report.check().unwrap_err().contains("a: node 0"));
    }

    /// A runner that answers LiteRT's own outputs, with every node planned by `backend`.
    fn fake(backend: &'static str) -> impl FnMut(&Case) -> Result<CaseRun, String> {
        move |case| {
            Ok(CaseRun {
                outputs: case.ref_outputs.clone(),
                plan: case
                    .entry
                    .operators
                    .iter()
                    .enumerate()
                    .map(|(i, op)| PlannedNode {
                        node: i,
                        ..node(
                            op,
                            &format!("{}_f32__{backend}", op.to_lowercase()),
                            backend,
                        )
                    })
                    .collect(),
            })
        }
    }

    #[test]
    fn a_backend_declining_every_node_fails_the_suite() {
        let suite = Suite::new("lazy")
            .cases(|c| c.name.starts_with("op_add_f32"))
            .must_claim(|_, n| n.op == "ADD");
        // Every node fell back to the scalar backend: the outputs match, the suite fails.
        let report = suite.run(fake("scalar")).unwrap();
        assert!(report.passed() > 0 && report.unexpected_failures().is_empty());
        let e = report.check().unwrap_err();
        assert!(e.contains("must claim but did not"), "{e}");
        suite.run(fake("lazy")).unwrap().check().unwrap();
        // A predicate selecting nothing is refused.
        let none = Suite::new("lazy")
            .cases(|c| c.name.starts_with("op_add_f32"))
            .must_claim(|_, n| n.op == "NO_SUCH_OP");
        let e = none.run(fake("lazy")).unwrap().check().unwrap_err();
        assert!(e.contains("vacuous"), "{e}");
    }
}
