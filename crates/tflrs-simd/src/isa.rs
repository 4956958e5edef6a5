//! Instruction sets as values: an [`Isa`] names a level, and a token type per x86-64 level
//! (`x86::Avx2Fma`, ...) exists only once the running CPU was checked for it. A kernel compiled
//! with `#[target_feature]` for a level takes the token, so that calling it is sound by
//! construction: the token is the proof that the CPU has the features.
//!
//! [`Isa::detected`] is the best level of the host; [`Isa::selected`] is what the backend uses by
//! default: the detected level, lowered by the environment variable `TFLRS_SIMD_ISA`
//! (`portable`, `sse41`, `avx2`, `avx512`) for tests and benches. Nothing is compiled with
//! `-C target-cpu=native`: one binary runs on any x86-64 and picks its kernels at run time.

use std::sync::OnceLock;

/// An instruction-set level, ordered from the least to the most capable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust, no explicit vector instructions (the compiler's auto-vectorization only).
    Portable,
    /// x86-64 SSE4.1.
    Sse41,
    /// x86-64 AVX2 with FMA.
    Avx2Fma,
    /// x86-64 AVX-512 F, BW and VL (with AVX2 and FMA).
    Avx512,
}

impl Isa {
    /// Every level, least capable first.
    pub const ALL: [Isa; 4] = [Isa::Portable, Isa::Sse41, Isa::Avx2Fma, Isa::Avx512];

    /// The level's name as kernels and plan reports spell it (`avx2` in
    /// `fully_connected_f32__avx2_6x16`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Sse41 => "sse41",
            Isa::Avx2Fma => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The level named `name` (as [`name`](Self::name) spells it).
    pub fn from_name(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Whether the running CPU has this level.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Sse41 => x86::Sse41::new().is_some(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => x86::Avx2Fma::new().is_some(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => x86::Avx512::new().is_some(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best level of the running CPU (detected once).
    pub fn detected() -> Isa {
        static DETECTED: OnceLock<Isa> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            Isa::ALL
                .into_iter()
                .rev()
                .find(|i| i.is_available())
                .unwrap_or(Isa::Portable)
        })
    }

    /// The level the backend uses by default: [`detected`](Self::detected), or the lower level
    /// `TFLRS_SIMD_ISA` names (an unknown name or a level above the host's is ignored).
    pub fn selected() -> Isa {
        static SELECTED: OnceLock<Isa> = OnceLock::new();
        *SELECTED.get_or_init(|| {
            let host = Isa::detected();
            std::env::var("TFLRS_SIMD_ISA")
                .ok()
                .and_then(|n| Isa::from_name(n.trim()))
                .filter(|&i| i <= host)
                .unwrap_or(host)
        })
    }

    /// Calls `f` for every level the host has, least capable first, and prints a line naming
    /// each level it does not have, so that a test run shows what it did not check.
    pub fn for_each_available(mut f: impl FnMut(Isa)) {
        for isa in Isa::ALL {
            if isa.is_available() {
                f(isa);
            } else {
                println!("SKIP: {} is not available on this host", isa.name());
            }
        }
    }
}

impl core::fmt::Display for Isa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Tokens of the x86-64 levels: each can only be made on a CPU that has its features.
#[cfg(target_arch = "x86_64")]
pub mod x86 {
    /// Proof that the CPU has SSE4.1.
    #[derive(Debug, Clone, Copy)]
    pub struct Sse41(());

    impl Sse41 {
        /// The token, if the CPU has SSE4.1.
        pub fn new() -> Option<Self> {
            std::arch::is_x86_feature_detected!("sse4.1").then_some(Self(()))
        }
    }

    /// Proof that the CPU has AVX2 and FMA.
    #[derive(Debug, Clone, Copy)]
    pub struct Avx2Fma(());

    impl Avx2Fma {
        /// The token, if the CPU has AVX2 and FMA.
        pub fn new() -> Option<Self> {
            (std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma"))
            .then_some(Self(()))
        }
    }

    /// Proof that the CPU has AVX-512 F, BW and VL (and AVX2 and FMA).
    #[derive(Debug, Clone, Copy)]
    pub struct Avx512(());

    impl Avx512 {
        /// The token, if the CPU has AVX-512 F, BW and VL, AVX2 and FMA.
        pub fn new() -> Option<Self> {
            (std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && Avx2Fma::new().is_some())
            .then_some(Self(()))
        }

        /// The AVX2 token this level implies.
        pub fn avx2(self) -> Avx2Fma {
            Avx2Fma(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_named_both_ways() {
        for w in Isa::ALL.windows(2) {
            assert!(w[0] < w[1]);
        }
        for isa in Isa::ALL {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
        }
        assert_eq!(Isa::from_name("native"), None);
    }

    #[test]
    fn the_detected_level_is_available_and_selected_is_not_above_it() {
        assert!(Isa::detected().is_available());
        assert!(Isa::Portable.is_available());
        assert!(Isa::selected() <= Isa::detected());
        // Every level below an available one is available too.
        let best = Isa::detected();
        assert!(
            Isa::ALL
                .iter()
                .filter(|&&i| i <= best)
                .all(|i| i.is_available())
        );
    }
}

/// The level a kernel runs at: the best a family implements that is not above the backend's,
/// with its token (families match on it to enter their micro-kernels).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tier {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Sse41(x86::Sse41),
    #[cfg(target_arch = "x86_64")]
    Avx2(x86::Avx2Fma),
}

impl Tier {
    /// The best tier at or below `isa` that the host has.
    pub(crate) fn at(isa: Isa) -> Tier {
        #[cfg(target_arch = "x86_64")]
        {
            if isa >= Isa::Avx2Fma
                && let Some(t) = x86::Avx2Fma::new()
            {
                return Tier::Avx2(t);
            }
            if isa >= Isa::Sse41
                && let Some(t) = x86::Sse41::new()
            {
                return Tier::Sse41(t);
            }
        }
        let _ = isa;
        Tier::Portable
    }

    /// Its instruction-set level.
    pub(crate) fn isa(self) -> Isa {
        match self {
            Tier::Portable => Isa::Portable,
            #[cfg(target_arch = "x86_64")]
            Tier::Sse41(_) => Isa::Sse41,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2(_) => Isa::Avx2Fma,
        }
    }
}
