//! The passes by name: what `tflrs optimize --passes` and `--list-passes` offer, and the
//! default fusion set of `--fuse`.

use crate::DeadCodeElimination;
use crate::fold::FoldConstants;
use crate::fuse::{FoldBatchNorm, FuseActivation, PadIntoConv};
use crate::manager::{Pass, PassManager};
use crate::noop::{MergeReshapes, RemoveNoOps};
use crate::rule::{Rule, RulePass};

/// A pass known by name.
#[derive(Debug, Clone, Copy)]
pub struct PassInfo {
    /// Its name (`"fuse-activation"`).
    pub name: &'static str,
    /// What it does, in one line.
    pub about: &'static str,
    /// Whether `--fuse` (the default set, [`fuse_passes`]) runs it.
    pub in_fuse: bool,
    make: fn() -> Box<dyn Pass>,
}

impl PassInfo {
    /// A new instance of the pass.
    pub fn make(&self) -> Box<dyn Pass> {
        (self.make)()
    }
}

fn rule<R: Rule + Default + 'static>() -> Box<dyn Pass> {
    Box::new(RulePass(R::default()))
}

fn info<R: Rule + Default + 'static>(in_fuse: bool) -> PassInfo {
    let r = R::default();
    PassInfo {
        name: r.name(),
        about: r.about(),
        in_fuse,
        make: rule::<R>,
    }
}

/// Every pass, in the order the default set runs them.
pub fn passes() -> Vec<PassInfo> {
    let dequantize = FoldConstants::with_dequantize();
    vec![
        info::<FoldConstants>(true),
        PassInfo {
            name: dequantize.name(),
            about: dequantize.about(),
            in_fuse: false,
            make: || Box::new(RulePass(FoldConstants::with_dequantize())),
        },
        info::<RemoveNoOps>(true),
        info::<MergeReshapes>(true),
        info::<PadIntoConv>(true),
        info::<FoldBatchNorm>(true),
        info::<FuseActivation>(true),
        PassInfo {
            name: "dead-code-elimination",
            about: "nodes whose outputs nothing reads, then unused values",
            in_fuse: true,
            make: || Box::new(DeadCodeElimination),
        },
    ]
}

/// The pass called `name`.
pub fn pass(name: &str) -> Option<Box<dyn Pass>> {
    passes().iter().find(|p| p.name == name).map(PassInfo::make)
}

/// The default fusion set (`tflrs optimize --fuse`): folding, no-op removal, fusions, then
/// dead-code elimination. Every rule in it keeps integer outputs bit-exact; on float graphs
/// [`FoldBatchNorm`] changes rounding within float tolerance.
pub fn fuse_passes() -> PassManager {
    let mut m = PassManager::new();
    for p in passes().iter().filter(|p| p.in_fuse) {
        m.add_boxed(p.make());
    }
    m
}
