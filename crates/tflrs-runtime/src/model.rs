//! A verified, imported model that many interpreters can share.

use crate::Error;
use alloc::vec::Vec;
use tflrs_ir::Graph;

/// A `.tflite` model, verified and imported into the graph IR once. `Model` is `Sync`: many
/// interpreters on many threads may share it.
///
/// Two forms:
/// - **borrowed**, [`Model::from_bytes`]: constants stay in the caller's bytes (zero-copy; the
///   form for `include_bytes!`, whose `&'static [u8]` gives a `Model<'static>`);
/// - **owned**, [`Model::from_vec`], [`Model::from_file`] and [`Model::from_arc`]: the model
///   keeps its bytes, constants are still read in place from them (nothing is copied), and the
///   result is a `Model<'static>` that can be moved into an [`Interpreter`](crate::Interpreter)
///   (`Interpreter::new(model)` gives an `Interpreter<'static>`, which can live in a struct or
///   be returned from a function).
#[derive(Debug)]
pub struct Model<'a> {
    /// The imported graph. For an owned model its constants borrow `bytes` (declared after
    /// it: dropped after it); [`Model::graph`] hands them out for the borrow of `self` only.
    graph: Graph<'a>,
    bytes: Option<Owned>,
}

/// Bytes an owned model keeps alive. Both forms keep their heap data at a fixed address when
/// moved, which is what lets the graph point into it.
enum Owned {
    Vec(#[allow(dead_code)] Vec<u8>),
    #[cfg(target_has_atomic = "ptr")]
    Arc(#[allow(dead_code)] alloc::sync::Arc<[u8]>),
}

impl core::fmt::Debug for Owned {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let len = match self {
            Owned::Vec(v) => v.len(),
            #[cfg(target_has_atomic = "ptr")]
            Owned::Arc(a) => a.len(),
        };
        write!(f, "{len} bytes")
    }
}

// A compile-time check that `Graph` is covariant in its lifetime, which `Model::graph` relies
// on to shorten an owned model's `Graph<'static>` to the borrow of the model.
const _: for<'s> fn(&'s Graph<'static>) -> &'s Graph<'s> = |g| g;

impl<'a> Model<'a> {
    /// Verifies `bytes` as a `.tflite` model and imports it. Constants stay in `bytes`.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        let model = tflrs_schema::Model::from_bytes(bytes)?;
        Ok(Self {
            graph: tflrs_ir::tflite::import(&model)?,
            bytes: None,
        })
    }

    /// Wraps a graph built or transformed in code.
    pub fn from_graph(graph: Graph<'a>) -> Self {
        Self { graph, bytes: None }
    }

    /// The model's graph, borrowed for as long as the model is.
    pub fn graph(&self) -> &Graph<'_> {
        &self.graph
    }

    /// Whether the model owns its bytes ([`from_vec`](Model::from_vec),
    /// [`from_file`](Model::from_file), [`from_arc`](Model::from_arc)).
    pub fn owns_bytes(&self) -> bool {
        self.bytes.is_some()
    }
}

impl Model<'static> {
    /// Imports the bytes `keep` owns and keeps them.
    fn owning(keep: Owned) -> Result<Self, Error> {
        let view: &[u8] = match &keep {
            Owned::Vec(v) => v,
            #[cfg(target_has_atomic = "ptr")]
            Owned::Arc(a) => a,
        };
        // SAFETY: `view` is the heap data that `keep` owns: a `Vec`'s or an `Arc`'s buffer,
        // which does not move when `keep` moves, is never written (the model makes no `&mut`
        // to it) and is freed only when `keep` drops, after `graph` (field order). The
        // `'static` borrows in `graph` never leave the model with that lifetime: `graph()`
        // shortens them to the borrow of `self` (covariance, checked above), and no method
        // hands out the graph by value.
        let bytes: &'static [u8] =
            unsafe { core::slice::from_raw_parts(view.as_ptr(), view.len()) };
        let model = tflrs_schema::Model::from_bytes(bytes)?;
        Ok(Self {
            graph: tflrs_ir::tflite::import(&model)?,
            bytes: Some(keep),
        })
    }

    /// Verifies and imports `bytes`, keeping them: an owned model, constants read in place.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self, Error> {
        Self::owning(Owned::Vec(bytes))
    }

    /// Verifies and imports shared bytes, keeping a reference to them (several models, or
    /// other owners, may share one buffer).
    #[cfg(target_has_atomic = "ptr")]
    pub fn from_arc(bytes: alloc::sync::Arc<[u8]>) -> Result<Self, Error> {
        Self::owning(Owned::Arc(bytes))
    }

    /// Reads the file at `path` and imports it: an owned model (LiteRT's
    /// `Interpreter(model_path=...)` is `Interpreter::new(Model::from_file(path)?)`).
    #[cfg(feature = "std")]
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: alloc::string::ToString::to_string(&path.display()),
            source,
        })?;
        Self::from_vec(bytes)
    }
}
