fn main() {
    for e in std::fs::read_dir("testdata/models").unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(p.join("model.tflite")).unwrap();
        let g = tflrs_ir::Graph::from_tflite(&bytes).unwrap();
        for sg in &g.subgraphs {
            for n in &sg.nodes {
                let t = |i: usize| n.input(i).map(|v| sg.values[v.index()].dtype.name()).unwrap_or("-");
                let o = n.outputs.first().map(|v| sg.values[v.index()].dtype.name()).unwrap_or("-");
                println!("{} {} {} {} -> {} v{:?} {:?}", n.op.name(), t(0), t(1), n.inputs.len(), o, n.version.unwrap(), n.op);
            }
        }
    }
}
