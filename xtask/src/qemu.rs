//! `cargo xtask qemu MODEL.tflite -i IN.npy [-i ...] -o OUTDIR [--expect REF.npy ...]
//! [--heap BYTES]`: run a model on a Cortex-M4F under QEMU.
//!
//! Builds `examples/cortex-m4` (release, `thumbv7em-none-eabihf`) with the model and inputs
//! embedded (staged in `target/qemu-case/` and named by `TFLRS_FW_CASE`, see its `build.rs`),
//! runs it in `qemu-system-arm -M mps2-an386 -cpu cortex-m4` with semihosting, writes
//! `OUTDIR/output_<k>.npy` (dtype and shape as the model says), and prints as its last line
//! one JSON object:
//!
//! - `arena_bytes`: the planner's arena (`Interpreter::arena_bytes`); it lives on the heap;
//! - `heap_bytes`: the heap's high-water mark (bytes in use at once, the arena included),
//!   `heap_extent_bytes` the highest address reached (the smallest heap that would do),
//!   `heap_after_load` what the graph takes (`Model::from_bytes`), `heap_after_build` what
//!   stays in use after planning (the arena included), `heap_invoke_growth` what the inference loop added to the peak (0: invoke allocates
//!   nothing);
//! - `stack_bytes`: the stack's high-water mark (painted stack);
//! - `invoke_instructions`: instructions one `invoke` executed, from SysTick under
//!   `-icount shift=0` (40 per tick on AN386, so rounded to 40; QEMU models no cycles);
//! - `static_bytes`: `.data` + `.bss` other than the heap's buffer;
//! - `ram_bytes` = `heap_bytes` + `stack_bytes` + `static_bytes`;
//! - `flash_bytes`: the ELF's vector table, text, rodata and data image, `model_bytes` the
//!   part that is the model, `code_bytes` the rest.
//!
//! With `--expect` (one per output, in order) the outputs must equal those `.npy` files' data
//! bit for bit, else the command fails after writing them. A model that does not fit (flash,
//! heap) or that the firmware cannot plan (an operator it lacks) fails with the firmware's
//! message.

use anyhow::{Context, Result, bail};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tflrs_npy::{DType, Npy};

/// The flash QEMU's MPS2 AN386 has (`examples/cortex-m4/memory.x`).
const FLASH_BYTES: u64 = 4 << 20;

/// Options of `cargo xtask qemu`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The `.tflite` model.
    model: PathBuf,
    /// An input as a `.npy` file; repeat in the model's input order.
    #[arg(short, long = "input", value_name = "NPY", required = true)]
    inputs: Vec<PathBuf>,
    /// Write each output as `OUTDIR/output_<k>.npy`.
    #[arg(short, long = "output-dir", value_name = "OUTDIR")]
    output_dir: PathBuf,
    /// A reference output as a `.npy` file; repeat in the model's output order. The outputs
    /// must equal them bit for bit.
    #[arg(long, value_name = "NPY")]
    expect: Vec<PathBuf>,
    /// The firmware's heap in bytes (a static buffer; the arena is allocated from it).
    #[arg(long, default_value_t = 256 * 1024)]
    heap: usize,
    /// Seconds QEMU may run before it is stopped.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

/// One tensor the firmware reported.
#[derive(Debug, Default)]
struct Reported {
    dtype: String,
    shape: Vec<usize>,
    data: Vec<u8>,
}

pub fn qemu(args: Args) -> Result<()> {
    let root = crate::root();
    let firmware = root.join("examples/cortex-m4");
    if Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!("qemu-system-arm is not installed (apt-get install -y qemu-system-arm)");
    }
    let model_len = std::fs::metadata(&args.model)
        .with_context(|| format!("cannot read {}", args.model.display()))?
        .len();
    if model_len >= FLASH_BYTES {
        bail!(
            "{} ({model_len} bytes) does not fit in the board's {FLASH_BYTES} bytes of flash",
            args.model.display()
        );
    }

    // Stage the case the firmware's build.rs embeds.
    let case = root.join("target/qemu-case");
    let _ = std::fs::remove_dir_all(&case);
    std::fs::create_dir_all(&case).with_context(|| format!("cannot create {}", case.display()))?;
    std::fs::copy(&args.model, case.join("model.tflite"))
        .with_context(|| format!("cannot copy {}", args.model.display()))?;
    let mut inputs = Vec::new();
    for (k, file) in args.inputs.iter().enumerate() {
        inputs.push(Npy::read(file).with_context(|| format!("input {k}: {}", file.display()))?);
        std::fs::copy(file, case.join(format!("input_{k}.npy")))?;
    }
    let mut expected = Vec::new();
    for (k, file) in args.expect.iter().enumerate() {
        expected.push(Npy::read(file).with_context(|| format!("--expect {}", file.display()))?);
        std::fs::copy(file, case.join(format!("ref_output_{k}.npy")))?;
    }

    eprintln!("building examples/cortex-m4 with {}", args.model.display());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        // Not --locked: a merge that adds a dependency to the runtime must not break this
        // build; its own Cargo.lock keeps the versions it has.
        .args(["build", "--release"])
        .current_dir(&firmware)
        .env("TFLRS_FW_CASE", &case)
        .env("TFLRS_FW_HEAP", args.heap.to_string())
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!(
            "building the firmware failed (rustup target add thumbv7em-none-eabihf, if it is missing)"
        );
    }
    let elf = firmware.join("target/thumbv7em-none-eabihf/release/tflrs-example-cortex-m4");

    let (log, exit) = run_qemu(&elf, Duration::from_secs(args.timeout))?;
    if let Some(err) = log.lines().find_map(|l| l.strip_prefix("TFLRS error: ")) {
        bail!("the firmware cannot run {}: {err}", args.model.display());
    }
    let ok = log.lines().any(|l| l == "TFLRS ok");
    if !log.lines().any(|l| l.starts_with("TFLRS heap_bytes=")) {
        bail!(
            "the firmware failed (exit {exit:?}); its output:\n{}",
            tail(&log, 20)
        );
    }

    let fields = fields(&log);
    let (reported_inputs, outputs) = tensors(&log)?;
    for (k, (npy, rep)) in inputs.iter().zip(&reported_inputs).enumerate() {
        if npy.dtype.name() != rep.dtype || npy.shape != rep.shape {
            bail!(
                "input {k} is {} {:?}, but {} holds {} {:?}",
                rep.dtype,
                rep.shape,
                args.inputs[k].display(),
                npy.dtype.name(),
                npy.shape
            );
        }
    }
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create {}", args.output_dir.display()))?;
    let mut written = Vec::new();
    for (k, out) in outputs.iter().enumerate() {
        let dtype = DType::from_name(&out.dtype)
            .with_context(|| format!("output {k} is {}, which .npy cannot hold", out.dtype))?;
        let npy = Npy::new(dtype, out.shape.clone(), out.data.clone())
            .with_context(|| format!("output {k}"))?;
        let file = args.output_dir.join(format!("output_{k}.npy"));
        std::fs::write(&file, npy.to_bytes())
            .with_context(|| format!("cannot write {}", file.display()))?;
        written.push(file.display().to_string());
    }
    if !expected.is_empty() && expected.len() != outputs.len() {
        bail!(
            "the model has {} output(s), {} --expect given",
            outputs.len(),
            expected.len()
        );
    }
    for (k, (want, got)) in expected.iter().zip(&outputs).enumerate() {
        if want.dtype.name() != got.dtype || want.shape != got.shape || want.data != got.data {
            bail!(
                "output {k} ({} {:?}) differs from {}",
                got.dtype,
                got.shape,
                args.expect[k].display()
            );
        }
    }
    if !ok {
        bail!("the firmware failed (exit {exit:?}):\n{}", tail(&log, 20));
    }

    let sizes = elf_sizes(&elf)?;
    let get = |name: &str| -> Result<u64> {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
            .with_context(|| format!("the firmware did not report {name}"))
    };
    let heap = get("heap_bytes")?;
    let stack = get("stack_bytes")?;
    let statics = (sizes.data + sizes.bss).saturating_sub(args.heap as u64);
    let flash = sizes.flash;
    let json = serde_json::json!({
        "model": args.model.display().to_string(),
        "outputs": written,
        "reference": if expected.is_empty() { "none" } else { "equal" },
        "arena_bytes": get("arena_bytes")?,
        "heap_bytes": heap,
        "heap_extent_bytes": get("heap_extent_bytes")?,
        "heap_after_load": get("heap_after_load")?,
        "heap_after_build": get("heap_after_build")?,
        "heap_invoke_growth": get("heap_invoke_growth")?,
        "heap_capacity": args.heap,
        "stack_bytes": stack,
        "invoke_instructions": get("invoke_ticks")? * 40,
        "static_bytes": statics,
        "ram_bytes": heap + stack + statics,
        "flash_bytes": flash,
        "model_bytes": model_len,
        "code_bytes": flash.saturating_sub(model_len),
    });
    println!("{json}");
    Ok(())
}

/// Runs the firmware under QEMU; its semihosting output and exit code. Stops QEMU after
/// `timeout`.
fn run_qemu(elf: &Path, timeout: Duration) -> Result<(String, Option<i32>)> {
    let mut child = Command::new("qemu-system-arm")
        // -icount shift=0: the clock follows instructions (SysTick ticks = instructions / 40).
        .args([
            "-M",
            "mps2-an386",
            "-cpu",
            "cortex-m4",
            "-icount",
            "shift=0",
        ])
        .arg("-nographic")
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start qemu-system-arm")?;
    let mut stdout = child.stdout.take().context("qemu's stdout")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!("QEMU ran past {} s; stopped", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = reader.join().unwrap_or_default();
    Ok((log, status.code()))
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The `key=number` pairs of the firmware's `TFLRS ...` lines.
fn fields(log: &str) -> Vec<(String, u64)> {
    log.lines()
        .filter_map(|l| l.strip_prefix("TFLRS "))
        .flat_map(str::split_whitespace)
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The inputs and outputs the firmware described (`TFLRS input|output k dtype=.. shape=..`)
/// and the outputs' data (`TFLRS hex k offset hex`).
fn tensors(log: &str) -> Result<(Vec<Reported>, Vec<Reported>)> {
    let (mut inputs, mut outputs): (Vec<Reported>, Vec<Reported>) = (Vec::new(), Vec::new());
    for line in log.lines().filter_map(|l| l.strip_prefix("TFLRS ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [kind @ ("input" | "output"), k, dtype, shape] => {
                let k: usize = k.parse()?;
                let list = if *kind == "input" {
                    &mut inputs
                } else {
                    &mut outputs
                };
                if list.len() <= k {
                    list.resize_with(k + 1, Reported::default);
                }
                list[k].dtype = dtype.strip_prefix("dtype=").unwrap_or(dtype).to_string();
                let dims = shape.strip_prefix("shape=").unwrap_or(shape);
                list[k].shape = dims
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
            }
            ["hex", k, _offset, rest @ ..] => {
                let k: usize = k.parse()?;
                let hex = rest.first().copied().unwrap_or("");
                let out = outputs
                    .get_mut(k)
                    .context("hex data before its output's description")?;
                for pair in hex.as_bytes().chunks(2) {
                    let s = std::str::from_utf8(pair)?;
                    out.data.push(u8::from_str_radix(s, 16)?);
                }
            }
            _ => {}
        }
    }
    Ok((inputs, outputs))
}

/// Section sizes of an ELF32 (little-endian) firmware.
#[derive(Debug, Default)]
struct Sizes {
    /// Allocated sections that take flash: everything allocated but `.bss`-like ones, i.e.
    /// the vector table, text, rodata and `.data`'s load image.
    flash: u64,
    data: u64,
    bss: u64,
}

fn elf_sizes(path: &Path) -> Result<Sizes> {
    let b = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let u16_at = |o: usize| -> Result<u64> {
        Ok(u64::from(u16::from_le_bytes(
            b.get(o..o + 2).context("truncated ELF")?.try_into()?,
        )))
    };
    let u32_at = |o: usize| -> Result<u64> {
        Ok(u64::from(u32::from_le_bytes(
            b.get(o..o + 4).context("truncated ELF")?.try_into()?,
        )))
    };
    if !b.starts_with(b"\x7fELF") || b.get(4) != Some(&1) || b.get(5) != Some(&1) {
        bail!("{} is not a little-endian ELF32 file", path.display());
    }
    let shoff = u32_at(0x20)? as usize;
    let shentsize = u16_at(0x2e)? as usize;
    let shnum = u16_at(0x30)? as usize;
    let shstrndx = u16_at(0x32)? as usize;
    let strtab = u32_at(shoff + shstrndx * shentsize + 0x10)? as usize;
    let mut sizes = Sizes::default();
    for i in 0..shnum {
        let h = shoff + i * shentsize;
        let name_off = strtab + u32_at(h)? as usize;
        let name_end = b[name_off..]
            .iter()
            .position(|&c| c == 0)
            .context("section name")?;
        let name = std::str::from_utf8(&b[name_off..name_off + name_end])?;
        let (kind, flags, size) = (u32_at(h + 4)?, u32_at(h + 8)?, u32_at(h + 0x14)?);
        const SHF_WRITE: u64 = 1;
        const SHF_ALLOC: u64 = 2;
        const SHT_NOBITS: u64 = 8;
        if flags & SHF_ALLOC == 0 {
            continue;
        }
        if kind == SHT_NOBITS {
            sizes.bss += size;
        } else {
            sizes.flash += size;
            if flags & SHF_WRITE != 0 || name == ".data" {
                sizes.data += size;
            }
        }
    }
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
TFLRS model_bytes=3472 arena_bytes=32 heap_capacity=262144
TFLRS input 0 dtype=int8 shape=1,8
TFLRS output 0 dtype=int8 shape=1,4
TFLRS hex 0 0 80827d81
TFLRS output 1 dtype=float32 shape=
TFLRS hex 1 0 0000803f
TFLRS reference 0 equal
TFLRS heap_bytes=12488 stack_bytes=7676
TFLRS ok
";

    #[test]
    fn reads_the_firmware_lines() {
        let (inputs, outputs) = tensors(LOG).unwrap();
        assert_eq!(inputs.len(), 1);
        assert_eq!(
            (inputs[0].dtype.as_str(), &inputs[0].shape[..]),
            ("int8", &[1, 8][..])
        );
        assert_eq!(outputs.len(), 2);
        assert_eq!(outputs[0].shape, [1, 4]);
        assert_eq!(outputs[0].data, [0x80, 0x82, 0x7d, 0x81]);
        assert_eq!(outputs[1].dtype, "float32");
        assert!(outputs[1].shape.is_empty());
        assert_eq!(outputs[1].data, 1.0f32.to_le_bytes());
        let f = fields(LOG);
        assert!(f.contains(&("arena_bytes".to_string(), 32)));
        assert!(f.contains(&("heap_bytes".to_string(), 12488)));
        assert!(f.contains(&("stack_bytes".to_string(), 7676)));
    }

    #[test]
    fn bad_hex_and_non_elf_files_are_errors() {
        assert!(
            tensors("TFLRS hex 0 0 00").is_err(),
            "hex before its output"
        );
        assert!(tensors("TFLRS output 0 dtype=int8 shape=1\nTFLRS hex 0 0 zz").is_err());
        let file = std::env::temp_dir().join(format!("xtask-qemu-{}.bin", std::process::id()));
        std::fs::write(&file, b"not an elf file at all").unwrap();
        assert!(elf_sizes(&file).is_err());
        let _ = std::fs::remove_file(&file);
    }
}
