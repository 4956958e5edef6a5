//! `tflrs embed` run as a binary on testdata models: the C source compiles with
//! `gcc -Wall -Werror` and, linked into a program, holds the model's bytes 16-byte aligned; the
//! Rust source's bytes are the model's (and, compiled with rustc, aligned); the header names
//! what the runtime reports for the model.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tflrs_runtime::{Interpreter, Model};
use tflrs_testdata::testdata_dir;

fn tflrs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tflrs"))
        .args(args)
        .output()
        .expect("the tflrs binary runs")
}

fn model(name: &str) -> PathBuf {
    testdata_dir()
        .join("models")
        .join(name)
        .join("model.tflite")
}

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("embed-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn embed(model: &Path, extra: &[&str]) -> String {
    let mut args = vec!["embed", model.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = tflrs(&args);
    assert!(
        out.status.success(),
        "tflrs {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 source")
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The bytes of the `0x..` literals after the line containing `start`.
fn literal_bytes(text: &str, start: &str) -> Vec<u8> {
    let body = &text[text.find(start).expect("array start") + start.len()..];
    body.split([',', ' ', '\n'])
        .filter_map(|w| w.trim().strip_prefix("0x"))
        .map(|h| u8::from_str_radix(h, 16).expect("hex byte"))
        .collect()
}

#[test]
fn c_source_compiles_with_gcc_and_holds_the_model_aligned() {
    let path = model("mlp_int8");
    let bytes = std::fs::read(&path).unwrap();
    let dir = scratch("c");
    let src = dir.join("model_data.c");
    let out = tflrs(&[
        "embed",
        path.to_str().unwrap(),
        "--name",
        "mlp_model",
        "-o",
        src.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&src).unwrap();
    assert!(text.contains("alignas(16) const unsigned char mlp_model[] = {"));
    assert!(text.contains(&format!(
        "const unsigned int mlp_model_len = {};",
        bytes.len()
    )));
    assert_eq!(literal_bytes(&text, "mlp_model[] = {"), bytes);

    if !have("gcc") {
        eprintln!("gcc not found: the C source was checked as text only");
        return;
    }
    for std in ["-std=c11", "-std=c17"] {
        let cc = Command::new("gcc")
            .args([std, "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"])
            .arg(&src)
            .arg("-o")
            .arg(dir.join("model_data.o"))
            .output()
            .unwrap();
        assert!(
            cc.status.success(),
            "gcc {std} -Wall -Werror: {}",
            String::from_utf8_lossy(&cc.stderr)
        );
    }
    // Linked into a program: the array is 16-byte aligned and its bytes are the model's.
    let main = dir.join("main.c");
    std::fs::write(
        &main,
        "#include <stdint.h>\n#include <stdio.h>\n\
         extern const unsigned char mlp_model[];\nextern const unsigned int mlp_model_len;\n\
         int main(void) {\n\
           if ((uintptr_t)mlp_model % 16 != 0) return 2;\n\
           return fwrite(mlp_model, 1, mlp_model_len, stdout) == mlp_model_len ? 0 : 3;\n}\n",
    )
    .unwrap();
    let exe = dir.join("check");
    let cc = Command::new("gcc")
        .args(["-std=c11", "-Wall", "-Werror"])
        .arg(&main)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "alignment or write failed");
    assert!(
        run.stdout == bytes,
        "the C array's bytes differ from the model"
    );
}

#[test]
fn rust_source_holds_the_model_aligned() {
    let path = model("kws_dscnn_int8");
    let bytes = std::fs::read(&path).unwrap();
    let text = embed(&path, &["--lang", "rust", "--name", "kws"]);
    assert!(text.contains(&format!("pub const KWS_LEN: usize = {};", bytes.len())));
    assert!(text.contains("#[repr(C, align(16))]"));
    assert!(text.contains("pub static KWS: Aligned16<[u8; KWS_LEN]> = Aligned16(["));
    assert!(
        literal_bytes(&text, "Aligned16([") == bytes,
        "the Rust array's bytes differ"
    );
}

#[test]
fn rust_source_compiles_and_is_aligned() {
    let path = model("mlp_int8");
    let bytes = std::fs::read(&path).unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if !have(&rustc) {
        eprintln!("rustc not found: the Rust source was checked as text only");
        return;
    }
    let dir = scratch("rust");
    let src = dir.join("model_data.rs");
    let out = tflrs(&[
        "embed",
        path.to_str().unwrap(),
        "--lang",
        "rust",
        "-o",
        src.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let main = dir.join("main.rs");
    std::fs::write(
        &main,
        "#![deny(warnings)]\nmod model_data;\nuse std::io::Write;\nfn main() {\n\
         let m: &[u8] = &model_data::G_MODEL.0;\n\
         assert_eq!(m.len(), model_data::G_MODEL_LEN);\n\
         if m.as_ptr() as usize % 16 != 0 { std::process::exit(2); }\n\
         std::io::stdout().write_all(m).unwrap();\n}\n",
    )
    .unwrap();
    let exe = dir.join("check");
    let rc = Command::new(&rustc)
        .args(["--edition", "2024", "-o"])
        .arg(&exe)
        .arg(&main)
        .output()
        .unwrap();
    assert!(
        rc.status.success(),
        "{}",
        String::from_utf8_lossy(&rc.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "alignment check failed");
    assert!(
        run.stdout == bytes,
        "the Rust array's bytes differ from the model"
    );
}

#[test]
fn header_names_ops_tensors_and_arena() {
    let path = model("kws_dscnn_int8");
    let bytes = std::fs::read(&path).unwrap();
    let m = Model::from_bytes(&bytes).unwrap();
    let interp = Interpreter::builder(&m)
        .reference_kernels(true)
        .preserve_inputs(false)
        .build()
        .unwrap();
    for lang in ["c", "rust"] {
        let text = embed(&path, &["--lang", lang]);
        let header: String = text
            .lines()
            .take_while(|l| !l.contains("0x"))
            .collect::<Vec<_>>()
            .join("\n");
        for e in interp.plan_report() {
            assert!(header.contains(&e.op), "{lang}: header lacks {}", e.op);
        }
        let info = interp.input_info(0).unwrap();
        assert!(
            header.contains(&format!("Input 0: '{}' {}", info.name, info.dtype.name())),
            "{lang}: {header}"
        );
        let info = interp.output_info(0).unwrap();
        assert!(
            header.contains(&format!("Output 0: '{}' {}", info.name, info.dtype.name())),
            "{lang}: {header}"
        );
        assert!(
            header.contains(&format!("tflrs arena: {} bytes", interp.arena_bytes())),
            "{lang}: {header}"
        );
    }
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = scratch("bad");
    let junk = dir.join("junk.tflite");
    std::fs::write(&junk, b"not a model").unwrap();
    let out = tflrs(&["embed", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a model tflrs can load"));

    let path = model("mlp_int8");
    let out = tflrs(&["embed", path.to_str().unwrap(), "--name", "bad-name"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a C and Rust identifier"));
}
