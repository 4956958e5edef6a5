//! A small reader for NumPy `.npy` files (format versions 1 and 2).
//!
//! Supports C-order arrays of little-endian (or byte-order-free, `|`) numeric and boolean dtypes:
//! `f2 f4 f8 i1 u1 i2 u2 i4 u4 i8 u8 b1`. Anything else (big-endian data, Fortran order, object
//! or string dtypes, a header that is not the dict NumPy writes, a data section of the wrong
//! length) is a typed [`NpyError`], never a panic. Sizes are checked before anything is
//! allocated, so a hostile header cannot make the reader allocate more than the file holds.

use std::fmt;
use std::path::Path;

/// The element type of an array, named as NumPy names it (`"float32"`, `"int8"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum DType {
    /// IEEE 754 half precision (`<f2`).
    Float16,
    /// IEEE 754 single precision (`<f4`).
    Float32,
    /// IEEE 754 double precision (`<f8`).
    Float64,
    /// Signed 8-bit integer (`|i1`).
    Int8,
    /// Unsigned 8-bit integer (`|u1`).
    Uint8,
    /// Signed 16-bit integer (`<i2`).
    Int16,
    /// Unsigned 16-bit integer (`<u2`).
    Uint16,
    /// Signed 32-bit integer (`<i4`).
    Int32,
    /// Unsigned 32-bit integer (`<u4`).
    Uint32,
    /// Signed 64-bit integer (`<i8`).
    Int64,
    /// Unsigned 64-bit integer (`<u8`).
    Uint64,
    /// Boolean, one byte per element, 0 or 1 (`|b1`).
    Bool,
}

impl DType {
    /// All supported dtypes.
    pub const ALL: [DType; 12] = [
        DType::Float16,
        DType::Float32,
        DType::Float64,
        DType::Int8,
        DType::Uint8,
        DType::Int16,
        DType::Uint16,
        DType::Int32,
        DType::Uint32,
        DType::Int64,
        DType::Uint64,
        DType::Bool,
    ];

    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::Int8 | DType::Uint8 | DType::Bool => 1,
            DType::Float16 | DType::Int16 | DType::Uint16 => 2,
            DType::Float32 | DType::Int32 | DType::Uint32 => 4,
            DType::Float64 | DType::Int64 | DType::Uint64 => 8,
        }
    }

    /// NumPy's name (`"float32"`), as the manifest writes it.
    pub const fn name(self) -> &'static str {
        match self {
            DType::Float16 => "float16",
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::Int8 => "int8",
            DType::Uint8 => "uint8",
            DType::Int16 => "int16",
            DType::Uint16 => "uint16",
            DType::Int32 => "int32",
            DType::Uint32 => "uint32",
            DType::Int64 => "int64",
            DType::Uint64 => "uint64",
            DType::Bool => "bool",
        }
    }

    /// Parses NumPy's name (`"float32"`).
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether this is a floating-point type.
    pub const fn is_float(self) -> bool {
        matches!(self, DType::Float16 | DType::Float32 | DType::Float64)
    }

    /// The type code of a `descr` without its byte-order character (`"f4"`).
    const fn code(self) -> &'static str {
        match self {
            DType::Float16 => "f2",
            DType::Float32 => "f4",
            DType::Float64 => "f8",
            DType::Int8 => "i1",
            DType::Uint8 => "u1",
            DType::Int16 => "i2",
            DType::Uint16 => "u2",
            DType::Int32 => "i4",
            DType::Uint32 => "u4",
            DType::Int64 => "i8",
            DType::Uint64 => "u8",
            DType::Bool => "b1",
        }
    }

    /// Parses a `descr` such as `"<f4"` or `"|i1"`.
    fn from_descr(descr: &str) -> Result<DType, NpyError> {
        let unsupported = || NpyError::UnsupportedDescr(descr.to_owned());
        let mut chars = descr.chars();
        let order = chars.next().ok_or_else(unsupported)?;
        let code = chars.as_str();
        let dtype = DType::ALL
            .into_iter()
            .find(|d| d.code() == code)
            .ok_or_else(unsupported)?;
        match order {
            '<' => Ok(dtype),
            '|' if dtype.size() == 1 => Ok(dtype),
            '>' if dtype.size() == 1 => Ok(dtype),
            '>' => Err(NpyError::BigEndian(descr.to_owned())),
            _ => Err(unsupported()),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a `.npy` file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NpyError {
    /// The file does not start with `\x93NUMPY`.
    #[error("not a .npy file: bad magic")]
    BadMagic,
    /// The file ends inside the preamble or the header.
    #[error("truncated .npy file: {0}")]
    Truncated(&'static str),
    /// A format version other than 1.x or 2.x.
    #[error("unsupported .npy format version {major}.{minor}")]
    UnsupportedVersion {
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// The header is not ASCII/UTF-8 or not the Python dict literal NumPy writes.
    #[error("malformed .npy header: {0}")]
    MalformedHeader(String),
    /// A dtype this reader does not handle (structured, string, object, complex, ...).
    #[error("unsupported .npy dtype descr {0:?}")]
    UnsupportedDescr(String),
    /// Big-endian multi-byte data.
    #[error("big-endian .npy data ({0:?}) is not supported")]
    BigEndian(String),
    /// `fortran_order: True`.
    #[error("Fortran-order .npy arrays are not supported")]
    FortranOrder,
    /// The shape's element or byte count does not fit in `usize`.
    #[error("the .npy shape {0:?} is too large")]
    ShapeOverflow(Vec<usize>),
    /// The data section is not `elements * itemsize` bytes.
    #[error("the .npy data is {got} bytes, the header says {expected}")]
    DataLength {
        /// Bytes the header implies.
        expected: usize,
        /// Bytes present after the header.
        got: usize,
    },
    /// The file could not be read.
    #[error("reading {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error, as text.
        message: String,
    },
    /// An array was asked for as another element type than it holds.
    #[error("the array holds {got}, not {expected}")]
    DTypeMismatch {
        /// The type asked for.
        expected: DType,
        /// The type the array holds.
        got: DType,
    },
    /// A boolean element other than 0 or 1.
    #[error("the .npy bool element {index} is {value}, not 0 or 1")]
    BadBool {
        /// Flat index of the element.
        index: usize,
        /// Its byte.
        value: u8,
    },
}

/// A decoded `.npy` array: dtype, shape and the raw little-endian element bytes, in C order.
#[derive(Clone, PartialEq)]
pub struct Npy {
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first; empty for a scalar.
    pub shape: Vec<usize>,
    /// `len() * dtype.size()` bytes, little-endian, C order.
    pub data: Vec<u8>,
}

impl fmt::Debug for Npy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Npy")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("bytes", &self.data.len())
            .finish()
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

impl Npy {
    /// Makes an array from raw little-endian bytes, checking their length against the shape.
    pub fn new(dtype: DType, shape: Vec<usize>, data: Vec<u8>) -> Result<Npy, NpyError> {
        let expected = byte_len(dtype, &shape)?;
        if data.len() != expected {
            return Err(NpyError::DataLength {
                expected,
                got: data.len(),
            });
        }
        if dtype == DType::Bool {
            check_bools(&data)?;
        }
        Ok(Npy { dtype, shape, data })
    }

    /// Makes an array from typed elements.
    pub fn from_slice<T: Element>(shape: Vec<usize>, values: &[T]) -> Result<Npy, NpyError> {
        let mut data = Vec::with_capacity(std::mem::size_of_val(values));
        for v in values {
            v.write_le(&mut data);
        }
        Npy::new(T::DTYPE, shape, data)
    }

    /// Parses the bytes of a `.npy` file.
    pub fn parse(bytes: &[u8]) -> Result<Npy, NpyError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(NpyError::BadMagic);
        }
        let rest = &bytes[MAGIC.len()..];
        let [major, minor, rest @ ..] = rest else {
            return Err(NpyError::Truncated("no version"));
        };
        let (header_len, rest) = match major {
            1 => match rest {
                [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
                _ => return Err(NpyError::Truncated("no header length")),
            },
            2 => match rest {
                [a, b, c, d, rest @ ..] => {
                    let n = u32::from_le_bytes([*a, *b, *c, *d]);
                    let n = usize::try_from(n)
                        .map_err(|_| NpyError::Truncated("header length beyond the file"))?;
                    (n, rest)
                }
                _ => return Err(NpyError::Truncated("no header length")),
            },
            _ => {
                return Err(NpyError::UnsupportedVersion {
                    major: *major,
                    minor: *minor,
                });
            }
        };
        if rest.len() < header_len {
            return Err(NpyError::Truncated("header length beyond the file"));
        }
        let (header, data) = rest.split_at(header_len);
        let header = std::str::from_utf8(header)
            .map_err(|_| NpyError::MalformedHeader("not UTF-8".into()))?;
        let (dtype, shape) = parse_header(header)?;
        let expected = byte_len(dtype, &shape)?;
        if data.len() != expected {
            return Err(NpyError::DataLength {
                expected,
                got: data.len(),
            });
        }
        if dtype == DType::Bool {
            check_bools(data)?;
        }
        Ok(Npy {
            dtype,
            shape,
            data: data.to_vec(),
        })
    }

    /// Reads and parses a `.npy` file.
    pub fn read(path: &Path) -> Result<Npy, NpyError> {
        let bytes = std::fs::read(path).map_err(|e| NpyError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Npy::parse(&bytes)
    }

    /// Serializes as a version 1.0 `.npy` file, as `numpy.save` writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let shape = match self.shape.as_slice() {
            [] => "()".to_owned(),
            [n] => format!("({n},)"),
            dims => format!(
                "({})",
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let order = if self.dtype.size() == 1 { '|' } else { '<' };
        let mut header = format!(
            "{{'descr': '{order}{}', 'fortran_order': False, 'shape': {shape}, }}",
            self.dtype.code()
        );
        let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
        header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
        header.push('\n');
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + self.data.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[1, 0]);
        // A header of a few dims is far below 64 KiB.
        out.extend_from_slice(
            &u16::try_from(header.len())
                .unwrap_or(u16::MAX)
                .to_le_bytes(),
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// Number of elements (1 for a scalar).
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements as `T`, which must be this array's dtype exactly.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>, NpyError> {
        if self.dtype != T::DTYPE {
            return Err(NpyError::DTypeMismatch {
                expected: T::DTYPE,
                got: self.dtype,
            });
        }
        Ok(self
            .data
            .chunks_exact(T::DTYPE.size())
            .map(T::read_le)
            .collect())
    }

    /// Element `i` (flat, C order) converted to `f64` (exact for all but 64-bit integers
    /// beyond 2^53). Panics if `i >= len()`.
    pub fn get_f64(&self, i: usize) -> f64 {
        match self.value(i) {
            Value::Float(v) => v,
            // Only reporting and tolerance checks use this; 2^53 and beyond round.
            #[allow(clippy::cast_precision_loss)]
            Value::Int(v) => v as f64,
        }
    }

    /// Element `i` (flat, C order). Panics if `i >= len()`.
    pub fn value(&self, i: usize) -> Value {
        let n = self.dtype.size();
        let b = &self.data[i * n..(i + 1) * n];
        match self.dtype {
            DType::Float16 => Value::Float(f16_to_f64(u16::read_le(b))),
            DType::Float32 => Value::Float(f64::from(f32::read_le(b))),
            DType::Float64 => Value::Float(f64::read_le(b)),
            DType::Int8 => Value::Int(i8::read_le(b).into()),
            DType::Uint8 => Value::Int(u8::read_le(b).into()),
            DType::Int16 => Value::Int(i16::read_le(b).into()),
            DType::Uint16 => Value::Int(u16::read_le(b).into()),
            DType::Int32 => Value::Int(i32::read_le(b).into()),
            DType::Uint32 => Value::Int(u32::read_le(b).into()),
            DType::Int64 => Value::Int(i64::read_le(b).into()),
            DType::Uint64 => Value::Int(u64::read_le(b).into()),
            DType::Bool => Value::Int(b[0].into()),
        }
    }
}

/// One element, widened without loss for comparisons.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A floating-point element.
    Float(f64),
    /// An integer or boolean element.
    Int(i128),
}

fn byte_len(dtype: DType, shape: &[usize]) -> Result<usize, NpyError> {
    shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| NpyError::ShapeOverflow(shape.to_vec()))
}

fn check_bools(data: &[u8]) -> Result<(), NpyError> {
    match data.iter().position(|&b| b > 1) {
        Some(index) => Err(NpyError::BadBool {
            index,
            value: data[index],
        }),
        None => Ok(()),
    }
}

/// Decodes an IEEE 754 binary16 value.
pub fn f16_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        0x1f if frac == 0.0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// A Rust type that is the element type of one [`DType`].
pub trait Element: Copy {
    /// The dtype of this element type.
    const DTYPE: DType;
    /// Decodes from exactly `DTYPE.size()` little-endian bytes.
    fn read_le(bytes: &[u8]) -> Self;
    /// Appends the little-endian bytes.
    fn write_le(self, out: &mut Vec<u8>);
}

macro_rules! element {
    ($t:ty, $d:expr) => {
        impl Element for $t {
            const DTYPE: DType = $d;
            fn read_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(bytes);
                <$t>::from_le_bytes(a)
            }
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}

element!(f32, DType::Float32);
element!(f64, DType::Float64);
element!(i8, DType::Int8);
element!(u8, DType::Uint8);
element!(i16, DType::Int16);
element!(u16, DType::Uint16);
element!(i32, DType::Int32);
element!(u32, DType::Uint32);
element!(i64, DType::Int64);
element!(u64, DType::Uint64);

impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn read_le(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
}

// ---------------------------------------------------------------------------------------------
// Header: the Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.

#[derive(Debug)]
enum Literal {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

struct HeaderParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl HeaderParser<'_> {
    fn err(&self, what: &str) -> NpyError {
        NpyError::MalformedHeader(format!("{what} at byte {}", self.pos))
    }

    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), NpyError> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn string(&mut self) -> Result<String, NpyError> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(self.err("expected a string")),
        };
        self.pos += 1;
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos] != quote {
            if self.s[self.pos] == b'\\' {
                return Err(self.err("escapes in strings are not supported"));
            }
            self.pos += 1;
        }
        if self.pos >= self.s.len() {
            return Err(self.err("unterminated string"));
        }
        let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        self.pos += 1;
        Ok(text)
    }

    fn word(&mut self) -> &[u8] {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_alphanumeric() {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    fn tuple(&mut self) -> Result<Vec<usize>, NpyError> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.peek() == Some(b')') {
                self.pos += 1;
                // `(3)` is an int in Python, not a tuple; NumPy always writes `(3,)`.
                return Ok(dims);
            }
            let word = self.word();
            if word.is_empty() || !word.iter().all(u8::is_ascii_digit) {
                return Err(self.err("expected a non-negative integer dimension"));
            }
            let text = std::str::from_utf8(word).unwrap_or("");
            let dim: usize = text
                .parse()
                .map_err(|_| NpyError::MalformedHeader(format!("dimension {text} is too large")))?;
            dims.push(dim);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') if dims.len() > 1 => {}
                Some(b')') => return Err(self.err("a one-element shape needs a trailing comma")),
                _ => return Err(self.err("expected ',' or ')' in shape")),
            }
        }
    }

    fn literal(&mut self) -> Result<Literal, NpyError> {
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Literal::Str(self.string()?)),
            Some(b'(') => Ok(Literal::Tuple(self.tuple()?)),
            _ => match self.word() {
                b"True" => Ok(Literal::Bool(true)),
                b"False" => Ok(Literal::Bool(false)),
                _ => Err(self.err("expected a string, True, False or a tuple")),
            },
        }
    }
}

fn parse_header(header: &str) -> Result<(DType, Vec<usize>), NpyError> {
    let mut p = HeaderParser {
        s: header.as_bytes(),
        pos: 0,
    };
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    p.expect(b'{')?;
    loop {
        if p.peek() == Some(b'}') {
            p.pos += 1;
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        let value = p.literal()?;
        let slot_taken = match (key.as_str(), value) {
            ("descr", Literal::Str(s)) => descr.replace(s).is_some(),
            ("fortran_order", Literal::Bool(b)) => fortran.replace(b).is_some(),
            ("shape", Literal::Tuple(t)) => shape.replace(t).is_some(),
            ("descr" | "fortran_order" | "shape", v) => {
                return Err(NpyError::MalformedHeader(format!(
                    "key '{key}' has the wrong kind of value: {v:?}"
                )));
            }
            _ => {
                return Err(NpyError::MalformedHeader(format!("unknown key '{key}'")));
            }
        };
        if slot_taken {
            return Err(NpyError::MalformedHeader(format!(
                "key '{key}' appears twice"
            )));
        }
        match p.peek() {
            Some(b',') => p.pos += 1,
            Some(b'}') => {}
            _ => return Err(p.err("expected ',' or '}'")),
        }
    }
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(p.err("trailing characters after the header dict"));
    }
    let descr = descr.ok_or_else(|| NpyError::MalformedHeader("no 'descr'".into()))?;
    let fortran = fortran.ok_or_else(|| NpyError::MalformedHeader("no 'fortran_order'".into()))?;
    let shape = shape.ok_or_else(|| NpyError::MalformedHeader("no 'shape'".into()))?;
    let dtype = DType::from_descr(&descr)?;
    if fortran {
        return Err(NpyError::FortranOrder);
    }
    Ok((dtype, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version, 0]);
        if version == 1 {
            out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
        } else {
            out.extend_from_slice(&u32::try_from(header.len()).unwrap().to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn header(descr: &str, fortran: &str, shape: &str) -> String {
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}\n")
    }

    #[test]
    fn reads_v1_f4() {
        let data: Vec<u8> = [1.0f32, -2.5, 3.0, 0.5, 7.0, 8.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = Npy::parse(&file(1, &header("<f4", "False", "(2, 3)"), &data)).unwrap();
        assert_eq!(a.dtype, DType::Float32);
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.len(), 6);
        assert_eq!(
            a.to_vec::<f32>().unwrap(),
            vec![1.0, -2.5, 3.0, 0.5, 7.0, 8.0]
        );
        assert!(a.to_vec::<i8>().is_err());
    }

    #[test]
    fn reads_v2_and_every_dtype() {
        for dtype in DType::ALL {
            let order = if dtype.size() == 1 { '|' } else { '<' };
            let descr = format!("{order}{}", dtype.code());
            let data = vec![0u8; dtype.size() * 3];
            let a = Npy::parse(&file(2, &header(&descr, "False", "(3,)"), &data)).unwrap();
            assert_eq!((a.dtype, a.shape.clone(), a.len()), (dtype, vec![3], 3));
        }
        // Little-endian spelled out for single bytes is fine too.
        assert_eq!(
            Npy::parse(&file(1, &header("<i1", "False", "(1,)"), &[0xff]))
                .unwrap()
                .to_vec::<i8>()
                .unwrap(),
            vec![-1]
        );
    }

    #[test]
    fn scalar_and_empty_shapes() {
        let a = Npy::parse(&file(1, &header("<i4", "False", "()"), &7i32.to_le_bytes())).unwrap();
        assert_eq!((a.shape.clone(), a.len()), (vec![], 1));
        let e = Npy::parse(&file(1, &header("<f4", "False", "(0, 5)"), &[])).unwrap();
        assert!(e.is_empty());
    }

    #[test]
    fn header_variants_numpy_may_write() {
        // Double quotes, no trailing comma, other key order, extra spaces.
        let h = "{ \"shape\" : (2,) , \"fortran_order\":False,\"descr\":\"<i2\" }   \n";
        let a = Npy::parse(&file(1, h, &[1, 0, 2, 0])).unwrap();
        assert_eq!(a.to_vec::<i16>().unwrap(), vec![1, 2]);
    }

    #[test]
    fn round_trips_through_to_bytes() {
        let a = Npy::from_slice(vec![2, 2], &[1i8, -2, 3, -4]).unwrap();
        let bytes = a.to_bytes();
        assert_eq!(bytes.len() % 64, 4);
        assert_eq!(Npy::parse(&bytes).unwrap(), a);
        let b = Npy::from_slice(vec![3], &[true, false, true]).unwrap();
        assert_eq!(Npy::parse(&b.to_bytes()).unwrap(), b);
        let s = Npy::from_slice(vec![], &[2.5f64]).unwrap();
        assert_eq!(Npy::parse(&s.to_bytes()).unwrap(), s);
    }

    #[test]
    fn float16_decoding() {
        assert_eq!(f16_to_f64(0x3c00), 1.0);
        assert_eq!(f16_to_f64(0xc000), -2.0);
        assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
        assert_eq!(f16_to_f64(0x7bff), 65504.0);
        assert_eq!(f16_to_f64(0x7c00), f64::INFINITY);
        assert!(f16_to_f64(0x7e00).is_nan());
        let a = Npy::parse(&file(1, &header("<f2", "False", "(1,)"), &[0x00, 0x3c])).unwrap();
        assert_eq!(a.get_f64(0), 1.0);
    }

    #[test]
    fn rejects_malformed_files() {
        let ok = header("<f4", "False", "(1,)");
        let four = [0u8; 4];
        type Check = fn(&NpyError) -> bool;
        let cases: Vec<(Vec<u8>, Check)> = vec![
            (b"\x93NUMPZ\x01\x00".to_vec(), |e| *e == NpyError::BadMagic),
            (b"\x93NUM".to_vec(), |e| *e == NpyError::BadMagic),
            (b"\x93NUMPY".to_vec(), |e| {
                matches!(e, NpyError::Truncated(_))
            }),
            (b"\x93NUMPY\x01\x00\x05".to_vec(), |e| {
                matches!(e, NpyError::Truncated(_))
            }),
            (b"\x93NUMPY\x01\x00\xff\xff{".to_vec(), |e| {
                matches!(e, NpyError::Truncated(_))
            }),
            (b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec(), |e| {
                matches!(e, NpyError::Truncated(_))
            }),
            (file(3, &ok, &four), |e| {
                matches!(e, NpyError::UnsupportedVersion { major: 3, .. })
            }),
            (file(1, &header(">f4", "False", "(1,)"), &four), |e| {
                matches!(e, NpyError::BigEndian(_))
            }),
            (file(1, &header("|f4", "False", "(1,)"), &four), |e| {
                matches!(e, NpyError::UnsupportedDescr(_))
            }),
            (file(1, &header("<c8", "False", "(1,)"), &four), |e| {
                matches!(e, NpyError::UnsupportedDescr(_))
            }),
            (file(1, &header("|O", "False", "(1,)"), &four), |e| {
                matches!(e, NpyError::UnsupportedDescr(_))
            }),
            (file(1, &header("", "False", "(1,)"), &four), |e| {
                matches!(e, NpyError::UnsupportedDescr(_))
            }),
            (file(1, &header("<f4", "True", "(1,)"), &four), |e| {
                *e == NpyError::FortranOrder
            }),
            (file(1, &ok, &[0u8; 3]), |e| {
                *e == NpyError::DataLength {
                    expected: 4,
                    got: 3,
                }
            }),
            (file(1, &ok, &[0u8; 8]), |e| {
                matches!(e, NpyError::DataLength { .. })
            }),
            (file(1, &header("|b1", "False", "(2,)"), &[1, 2]), |e| {
                *e == NpyError::BadBool { index: 1, value: 2 }
            }),
            (
                file(
                    1,
                    &header("<f8", "False", "(4294967296, 4294967296, 4294967296)"),
                    &[],
                ),
                |e| matches!(e, NpyError::ShapeOverflow(_)),
            ),
            (
                file(
                    1,
                    &header("<f8", "False", "(99999999999999999999999999,)"),
                    &[],
                ),
                |e| matches!(e, NpyError::MalformedHeader(_)),
            ),
        ];
        for (i, (bytes, is_expected)) in cases.iter().enumerate() {
            let err = Npy::parse(bytes).expect_err(&format!("case {i} parsed"));
            assert!(is_expected(&err), "case {i}: unexpected error {err:?}");
        }
    }

    #[test]
    fn rejects_malformed_headers() {
        let headers = [
            "",
            "{",
            "}",
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'shape': (1,)}",
            "{'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
            "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
            "{'descr': 4, 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,}",
            "{'descr': '<f4 , 'fortran_order': False, 'shape': (1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x",
            "{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}",
            "{'desc\\'r': '<f4', 'fortran_order': False, 'shape': (1,)}",
            "{descr: '<f4', 'fortran_order': False, 'shape': (1,)}",
        ];
        for h in headers {
            let err = Npy::parse(&file(1, h, &[0u8; 4])).expect_err(h);
            assert!(
                matches!(err, NpyError::MalformedHeader(_)),
                "{h:?}: unexpected error {err:?}"
            );
        }
        let mut bad_utf8 = file(1, "{'descr': '<f4'}", &[]);
        bad_utf8[12] = 0xff;
        assert!(matches!(
            Npy::parse(&bad_utf8),
            Err(NpyError::MalformedHeader(_))
        ));
    }

    #[test]
    fn never_panics_on_truncations_of_a_valid_file() {
        let a = Npy::from_slice(vec![2, 3], &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let bytes = a.to_bytes();
        for n in 0..bytes.len() {
            assert!(Npy::parse(&bytes[..n]).is_err(), "prefix {n} parsed");
        }
        // Flipping any single header byte gives a result or an error, never a panic.
        for i in 0..bytes.len() - 24 {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            let _ = Npy::parse(&b);
        }
    }
}
