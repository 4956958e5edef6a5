//! `tflrs run --backend host-device`: `--plan` prints the device partitions and the transfers at
//! their edges, and the outputs are the scalar backend's.

use std::path::PathBuf;
use std::process::Command;
use tflrs_testdata::{Case, testdata_dir};

fn tflrs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tflrs"))
}

fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tflrs-run-device-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The lines of the `--plan` section that starts with `title`, without its header.
fn section<'a>(stdout: &'a str, title: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .skip_while(|l| *l != title)
        .skip(2)
        .take_while(|l| !l.is_empty() && !l.starts_with("transferred") && !l.starts_with("arena"))
        .collect()
}

#[test]
fn plan_shows_partitions_and_transfers_and_outputs_match_scalar() {
    let case = Case::load("cnn_small_float32").unwrap();
    let root = testdata_dir();
    let model = root.join(&case.entry.model);
    let input = root.join(&case.entry.inputs[0].file);
    let dir = scratch_dir("cnn");
    let run = |extra: &[&str], out: &str| {
        let out_dir = dir.join(out);
        let o = tflrs()
            .arg("run")
            .arg(&model)
            .arg("-i")
            .arg(&input)
            .args(extra)
            .arg("-o")
            .arg(&out_dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let npy = std::fs::read(out_dir.join("output_0.npy")).unwrap();
        (String::from_utf8(o.stdout).unwrap(), npy)
    };
    let (plan, device_out) = run(
        &[
            "--backend",
            "host-device",
            "--device-ops",
            "CONV_2D,MAX_POOL_2D",
            "--plan",
        ],
        "device",
    );
    let (scalar_plan, scalar_out) = run(&["--plan"], "scalar");
    assert_eq!(device_out, scalar_out);
    assert!(!scalar_plan.contains("partitions:"), "{scalar_plan}");

    // Nodes 0, 2, 4-5 and 7 are the CONV_2D and MAX_POOL_2D runs of cnn_small.
    let partitions = section(&plan, "partitions:");
    let ranges: Vec<&str> = partitions
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(ranges, ["0..1", "2..3", "4..6", "7..8"], "{plan}");
    assert!(
        partitions.iter().all(|l| l.contains("host-device")),
        "{plan}"
    );

    let transfers = section(&plan, "transfers per invoke:");
    let to_device = transfers.iter().filter(|l| l.contains("to device")).count();
    let to_host = transfers.iter().filter(|l| l.contains("to host")).count();
    // Each partition uploads the one activation it reads; the pool-and-conv partition
    // returns both its results (both feed the concatenation), the others one each.
    assert_eq!((to_device, to_host), (4, 5), "{plan}");
    assert!(plan.contains("transferred: "), "{plan}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn device_ops_need_the_host_device_backend() {
    let case = Case::load("cnn_small_float32").unwrap();
    let root = testdata_dir();
    let o = tflrs()
        .arg("run")
        .arg(root.join(&case.entry.model))
        .arg("-i")
        .arg(root.join(&case.entry.inputs[0].file))
        .args(["--device-ops", "CONV_2D"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--backend host-device"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
