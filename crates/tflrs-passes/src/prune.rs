//! [`Prune`]: magnitude pruning of FULLY_CONNECTED and CONV_2D float32 weights, written as
//! dense zeros or in TFLite's sparse tensor format.
//!
//! Weights are seen as a matrix `[O, K]`: FULLY_CONNECTED `[O, I]` (K = I), CONV_2D
//! `[O, H, W, I]` (K = H·W·I, the input channel fastest). A block is `R` rows by `C`
//! consecutive columns (`C` divides I for a convolution, so a block never spans two taps); its
//! score is the sum of its magnitudes. Per layer (the default), the `sparsity` fraction of a
//! layer's blocks with the smallest scores become zero; with [`Prune::global`], one threshold
//! over all selected layers' block scores does.
//!
//! The sparse format is LiteRT's: the dense dimensions in order, then the block dimensions
//! (`block_map` names the dimensions they block); every dimension dense except the one that
//! holds the column blocks (the last dense dimension), which is CSR. FULLY_CONNECTED with 1x1
//! or 1x4 blocks reads the sparse weights itself (LiteRT's kernel has those two layouts); every
//! other case gets a DENSIFY node before the consumer, as the converter writes it.

use crate::manager::{Pass, PassCtx, PassError};
use tflrs_ir::{
    DType, DimFormat, DimMetadata, Graph, IndexVector, Node, Op, Patch, Sparsity, Value, ValueId,
};

/// How pruned weights are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PruneFormat {
    /// Dense tensors with zeros where blocks were pruned (same file size; shows accuracy).
    Dense,
    /// TFLite's sparse tensor format (smaller file), with DENSIFY where the consumer needs it.
    #[default]
    Sparse,
}

/// Magnitude pruning (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Prune {
    /// Fraction of blocks to zero, in `[0, 1)`.
    pub sparsity: f32,
    /// Block rows and columns (`(1, 1)`: single weights; `(1, 4)`, `(1, 16)`: LiteRT's).
    pub block: (usize, usize),
    /// Only layers whose weights or output name contains one of these (all when empty).
    pub layers: Vec<String>,
    /// One threshold over all layers instead of one per layer.
    pub global: bool,
    /// How the result is written.
    pub format: PruneFormat,
}

/// What pruning did to one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerReport {
    /// Subgraph and node index (before the pass).
    pub subgraph: usize,
    /// Node index.
    pub node: usize,
    /// `FULLY_CONNECTED` or `CONV_2D`.
    pub op: String,
    /// The weights' tensor name.
    pub weights: String,
    /// Weight elements.
    pub elements: usize,
    /// Zero weights before.
    pub zeros_before: usize,
    /// Zero weights after.
    pub zeros_after: usize,
    /// Why the layer was left as it was, if it was.
    pub skipped: Option<String>,
}

impl LayerReport {
    /// The fraction of zero weights after pruning.
    pub fn sparsity(&self) -> f64 {
        self.zeros_after as f64 / self.elements.max(1) as f64
    }
}

impl Prune {
    /// Pruning to `sparsity` with `block`, per layer, every layer, sparse format.
    pub fn new(sparsity: f32, block: (usize, usize)) -> Self {
        Self {
            sparsity,
            block,
            layers: Vec::new(),
            global: false,
            format: PruneFormat::Sparse,
        }
    }

    /// Prunes `graph`; reports every FULLY_CONNECTED and CONV_2D it looked at.
    pub fn apply(&self, graph: &mut Graph<'_>) -> Result<Vec<LayerReport>, PassError> {
        if !(0.0..1.0).contains(&self.sparsity) {
            return Err(PassError::Failed(format!(
                "sparsity {} is not in [0, 1)",
                self.sparsity
            )));
        }
        let (r, c) = self.block;
        if r == 0 || c == 0 {
            return Err(PassError::Failed(format!("block {r}x{c} has a zero side")));
        }
        let mut layers = Vec::new();
        let mut reports = Vec::new();
        for (s, sg) in graph.subgraphs.iter().enumerate() {
            for (n, node) in sg.nodes.iter().enumerate() {
                if let Some((layer, report)) = self.find(sg, s, n, node) {
                    if let Some(mut layer) = layer {
                        layer.report = reports.len();
                        layers.push(layer);
                    }
                    reports.push(report);
                }
            }
        }
        // Which blocks go: the smallest scores, per layer or over all layers.
        let mut ranked: Vec<(f32, usize, usize)> = Vec::new();
        let mut prune_lists: Vec<Vec<bool>> =
            layers.iter().map(|l| vec![false; l.scores.len()]).collect();
        let mark = |ranked: &mut Vec<(f32, usize, usize)>, lists: &mut Vec<Vec<bool>>| {
            let n = (ranked.len() as f64 * f64::from(self.sparsity)).floor() as usize;
            ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            for &(_, l, b) in ranked.iter().take(n) {
                lists[l][b] = true;
            }
            ranked.clear();
        };
        if self.global {
            for (l, layer) in layers.iter().enumerate() {
                ranked.extend(layer.scores.iter().enumerate().map(|(b, &s)| (s, l, b)));
            }
            mark(&mut ranked, &mut prune_lists);
        } else {
            for (l, layer) in layers.iter().enumerate() {
                ranked.extend(layer.scores.iter().enumerate().map(|(b, &s)| (s, l, b)));
                mark(&mut ranked, &mut prune_lists);
            }
        }
        // Edit from the last node back, so that inserted DENSIFY nodes do not move the nodes
        // still to be edited.
        let mut order: Vec<usize> = (0..layers.len()).collect();
        order.sort_by_key(|&l| core::cmp::Reverse((layers[l].subgraph, layers[l].node)));
        for l in order {
            let layer = &layers[l];
            let pruned = &prune_lists[l];
            let mut w = layer.weights.clone();
            for (b, &p) in pruned.iter().enumerate() {
                if p {
                    layer.geom.for_each_element(b, |i| w[i] = 0.0);
                }
            }
            reports[layer.report].zeros_after = w.iter().filter(|&&x| x == 0.0).count();
            self.write(graph, layer, &w, pruned)?;
        }
        if !layers.is_empty() {
            graph.compact();
        }
        Ok(reports)
    }

    /// Replaces `layer`'s weights by `w` (with `pruned` blocks zero) in the chosen format.
    fn write(
        &self,
        graph: &mut Graph<'_>,
        layer: &Layer,
        w: &[f32],
        pruned: &[bool],
    ) -> Result<(), PassError> {
        let sg = &graph.subgraphs[layer.subgraph];
        let old = sg
            .value(layer.w)
            .ok_or_else(|| PassError::Failed("pruned weights vanished".into()))?;
        let mut patch = Patch::new(sg);
        let mut consumer = sg.nodes[layer.node].clone();
        consumer.version = None;
        match self.format {
            PruneFormat::Dense => {
                let mut v =
                    Value::constant(format!("{}_pruned", old.name), old.shape.dims.clone(), w);
                v.shape = old.shape.clone();
                consumer.inputs[1] = Some(patch.add_value(v));
            }
            PruneFormat::Sparse => {
                let (sparsity, values) = layer.geom.encode(w, pruned);
                let mut v = Value::constant(
                    format!("{}_sparse", old.name),
                    [values.len() as i32],
                    &values,
                );
                v.shape = old.shape.clone();
                v.sparsity = Some(sparsity);
                let sparse = patch.add_value(v);
                let (r, c) = self.block;
                if layer.is_fc && r == 1 && (c == 1 || c == 4) {
                    consumer.inputs[1] = Some(sparse);
                } else {
                    let dense = Value::new(
                        format!("{}_densified", old.name),
                        DType::Float32,
                        old.shape.clone(),
                    );
                    let d = patch.add_value(dense);
                    patch.insert_node(
                        layer.node,
                        Node::new(Op::Densify, vec![Some(sparse)], vec![d]),
                    );
                    consumer.inputs[1] = Some(d);
                }
            }
        }
        patch.insert_node(layer.node, consumer);
        patch.remove_node(layer.node);
        patch.apply(graph, layer.subgraph)?;
        Ok(())
    }

    /// The layer node `n` is, if it is a FULLY_CONNECTED or CONV_2D with float32 weights,
    /// with its report (`None` layer: looked at but left alone, and why).
    fn find(
        &self,
        sg: &tflrs_ir::Subgraph<'_>,
        s: usize,
        n: usize,
        node: &Node<'_>,
    ) -> Option<(Option<Layer>, LayerReport)> {
        let is_fc = match &node.op {
            Op::FullyConnected(_) => true,
            Op::Conv2d(_) => false,
            _ => return None,
        };
        let w = node.input(1)?;
        let wv = sg.value(w)?;
        let out_name = node
            .outputs
            .first()
            .and_then(|&o| sg.value(o))
            .map(|v| v.name.as_str())
            .unwrap_or("");
        if !self.layers.is_empty()
            && !self
                .layers
                .iter()
                .any(|p| wv.name.contains(p.as_str()) || out_name.contains(p.as_str()))
        {
            return None;
        }
        let mut report = LayerReport {
            subgraph: s,
            node: n,
            op: node.op.name().into_owned(),
            weights: wv.name.clone(),
            elements: wv.shape.num_elements().unwrap_or(0) as usize,
            zeros_before: 0,
            zeros_after: 0,
            skipped: None,
        };
        let skip = |mut report: LayerReport, why: &str| {
            report.skipped = Some(why.into());
            Some((None, report))
        };
        if wv.dtype != DType::Float32
            || wv.quant.is_some()
            || !wv.is_constant()
            || wv.sparsity.is_some()
        {
            return skip(report, "weights are not dense float32 constants");
        }
        let Some(weights) = wv.constant_as::<f32>().map(|d| d.into_owned()) else {
            return skip(report, "weights are not dense float32 constants");
        };
        let dims: Vec<usize> = wv.shape.dims.iter().map(|&d| d.max(0) as usize).collect();
        if weights.len() != dims.iter().product::<usize>() || weights.is_empty() {
            return skip(report, "weights do not match their shape");
        }
        report.zeros_before = weights.iter().filter(|&&x| x == 0.0).count();
        report.zeros_after = report.zeros_before;
        let (r, c) = self.block;
        let inner = *dims.last().unwrap_or(&0);
        if !dims[0].is_multiple_of(r) || !inner.is_multiple_of(c) {
            return skip(
                report,
                &format!("{r}x{c} blocks do not tile weights {dims:?}"),
            );
        }
        let geom = Geom {
            dims: dims.clone(),
            r,
            c,
        };
        let scores = (0..geom.blocks())
            .map(|b| {
                let mut s = 0.0f32;
                geom.for_each_element(b, |i| s += weights[i].abs());
                s
            })
            .collect();
        Some((
            Some(Layer {
                subgraph: s,
                node: n,
                w,
                is_fc,
                weights,
                geom,
                scores,
                report: 0,
            }),
            report,
        ))
    }
}

impl Pass for Prune {
    fn name(&self) -> &str {
        "prune"
    }

    fn run(&self, graph: &mut Graph<'_>, _: &PassCtx<'_>) -> Result<bool, PassError> {
        let reports = self.apply(graph)?;
        Ok(reports
            .iter()
            .any(|r| r.zeros_after != r.zeros_before || r.skipped.is_none()))
    }
}

/// A layer to prune.
struct Layer {
    subgraph: usize,
    node: usize,
    w: ValueId,
    is_fc: bool,
    weights: Vec<f32>,
    geom: Geom,
    scores: Vec<f32>,
    report: usize,
}

/// The block structure of weights `dims` (`[O, ..., I]`) with `r`x`c` blocks: `r` output
/// channels by `c` consecutive input channels at one position of the middle dimensions.
struct Geom {
    dims: Vec<usize>,
    r: usize,
    c: usize,
}

impl Geom {
    /// `[O / r, middle dims..., I / c]`: the block grid.
    fn grid(&self) -> Vec<usize> {
        let mut g = self.dims.clone();
        g[0] /= self.r;
        let last = g.len() - 1;
        g[last] /= self.c;
        g
    }

    fn blocks(&self) -> usize {
        self.grid().iter().product()
    }

    /// Calls `f` with the flat index of every element of block `b` (row-major in the grid).
    fn for_each_element(&self, b: usize, mut f: impl FnMut(usize)) {
        let grid = self.grid();
        let rank = grid.len();
        // Block coordinates.
        let mut coord = vec![0usize; rank];
        let mut rest = b;
        for d in (0..rank).rev() {
            coord[d] = rest % grid[d];
            rest /= grid[d];
        }
        let strides: Vec<usize> = (0..rank)
            .map(|d| self.dims[d + 1..].iter().product())
            .collect();
        let base: usize = (0..rank)
            .map(|d| {
                let scale = if d == 0 {
                    self.r
                } else if d == rank - 1 {
                    self.c
                } else {
                    1
                };
                coord[d] * scale * strides[d]
            })
            .sum();
        for i in 0..self.r {
            for j in 0..self.c {
                f(base + i * strides[0] + j * strides[rank - 1]);
            }
        }
    }

    /// The sparse encoding of `w` keeping the blocks not `pruned`: the sparsity parameters and
    /// the stored values in traversal order.
    fn encode(&self, w: &[f32], pruned: &[bool]) -> (Sparsity, Vec<f32>) {
        let grid = self.grid();
        let rank = grid.len();
        let row_block = self.r > 1;
        let col_block = self.c > 1;
        let mut traversal_order: Vec<i32> = (0..rank as i32).collect();
        let mut block_map = Vec::new();
        if row_block {
            block_map.push(0);
        }
        if col_block {
            block_map.push(rank as i32 - 1);
        }
        for k in 0..block_map.len() {
            traversal_order.push((rank + k) as i32);
        }
        // Every grid position above the last dimension is a CSR row.
        let rows: usize = grid[..rank - 1].iter().product();
        let cols = grid[rank - 1];
        let mut segments = Vec::with_capacity(rows + 1);
        let mut indices = Vec::new();
        let mut values = Vec::new();
        segments.push(0usize);
        for row in 0..rows {
            for col in 0..cols {
                let b = row * cols + col;
                if pruned[b] {
                    continue;
                }
                indices.push(col);
                self.for_each_element(b, |i| values.push(w[i]));
            }
            segments.push(indices.len());
        }
        let mut dim_metadata: Vec<DimMetadata> =
            grid[..rank - 1].iter().map(|&d| dense(d)).collect();
        dim_metadata.push(DimMetadata {
            format: DimFormat::SparseCsr,
            dense_size: 0,
            array_segments: Some(index_vector(&segments)),
            array_indices: Some(index_vector(&indices)),
        });
        if row_block {
            dim_metadata.push(dense(self.r));
        }
        if col_block {
            dim_metadata.push(dense(self.c));
        }
        (
            Sparsity {
                traversal_order,
                block_map,
                dim_metadata,
            },
            values,
        )
    }
}

fn dense(size: usize) -> DimMetadata {
    DimMetadata {
        format: DimFormat::Dense,
        dense_size: size as i32,
        array_segments: None,
        array_indices: None,
    }
}

/// The narrowest index vector holding `v`.
fn index_vector(v: &[usize]) -> IndexVector {
    let max = v.iter().copied().max().unwrap_or(0);
    if max <= usize::from(u8::MAX) {
        IndexVector::U8(v.iter().map(|&x| x as u8).collect())
    } else if max <= usize::from(u16::MAX) {
        IndexVector::U16(v.iter().map(|&x| x as u16).collect())
    } else {
        IndexVector::I32(v.iter().map(|&x| x as i32).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tflrs_ir::{FullyConnectedAttrs, GraphBuilder};

    /// Two FULLY_CONNECTED layers: 4x8 weights of magnitude `i + 1`, then 2x4 of 100 + i.
    fn graph() -> Graph<'static> {
        let mut b = GraphBuilder::new();
        let x = b.input("x", DType::Float32, [1, 8]);
        let w1: Vec<f32> = (0..32)
            .map(|i| {
                if i % 2 == 0 {
                    1.0 + i as f32
                } else {
                    -1.0 - i as f32
                }
            })
            .collect();
        let w1 = b.constant_f32("w1", [4, 8], &w1);
        let y = b
            .op(Op::FullyConnected(FullyConnectedAttrs::default()), &[x, w1])
            .unwrap();
        let w2: Vec<f32> = (0..8).map(|i| 100.0 + i as f32).collect();
        let w2 = b.constant_f32("w2", [2, 4], &w2);
        let z = b
            .op(Op::FullyConnected(FullyConnectedAttrs::default()), &[y, w2])
            .unwrap();
        b.output(z);
        b.finish().unwrap()
    }

    fn weights(g: &Graph<'_>, node: usize) -> Vec<f32> {
        let sg = &g.subgraphs[0];
        let w = sg.nodes[node].input(1).unwrap();
        sg.value(w)
            .unwrap()
            .constant_as::<f32>()
            .unwrap()
            .into_owned()
    }

    #[test]
    fn per_layer_pruning_zeroes_the_smallest_blocks_of_each_layer() {
        let mut g = graph();
        let p = Prune {
            format: PruneFormat::Dense,
            ..Prune::new(0.5, (1, 4))
        };
        let r = p.apply(&mut g).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|l| (l.sparsity() - 0.5).abs() < 1e-9), "{r:?}");
        // Layer 1: blocks are row halves with growing magnitude: the first four go.
        let w = weights(&g, 0);
        assert!(w[..16].iter().all(|&x| x == 0.0) && w[16..].iter().all(|&x| x != 0.0));
        g.verify().unwrap();
    }

    #[test]
    fn global_pruning_uses_one_threshold() {
        let mut g = graph();
        let p = Prune {
            format: PruneFormat::Dense,
            global: true,
            ..Prune::new(0.5, (1, 4))
        };
        let r = p.apply(&mut g).unwrap();
        // 10 blocks, 5 go, all from the small first layer.
        assert_eq!(r[0].zeros_after, 20);
        assert_eq!(r[1].zeros_after, 0);
    }

    #[test]
    fn sparse_format_keeps_the_kept_blocks_in_csr() {
        let mut g = graph();
        let p = Prune::new(0.5, (1, 4));
        p.apply(&mut g).unwrap();
        g.verify().unwrap();
        let sg = &g.subgraphs[0];
        let w = sg.value(sg.nodes[0].input(1).unwrap()).unwrap();
        let s = w.sparsity.as_ref().unwrap();
        assert_eq!(s.traversal_order, [0, 1, 2]);
        assert_eq!(s.block_map, [1]);
        assert_eq!(
            s.dim_metadata[1].array_segments,
            Some(IndexVector::U8(vec![0, 0, 0, 2, 4]))
        );
        assert_eq!(
            s.dim_metadata[1].array_indices,
            Some(IndexVector::U8(vec![0, 1, 0, 1]))
        );
        assert_eq!(w.data.as_deref().map(<[u8]>::len), Some(16 * 4));
        assert_eq!(w.shape.dims, [4, 8]);
    }

    #[test]
    fn bad_arguments_and_untileable_weights() {
        let mut g = graph();
        assert!(Prune::new(1.0, (1, 4)).apply(&mut g).is_err());
        assert!(Prune::new(0.5, (0, 4)).apply(&mut g).is_err());
        let r = Prune::new(0.5, (1, 16)).apply(&mut g).unwrap();
        assert!(r.iter().all(|l| l.skipped.is_some()), "{r:?}");
    }
}
