//! [`Value`]: a captured argument or return value, and how it prints (`Display`, strace-like).

use std::fmt;

/// A captured value: an argument, a return value, or a part of one.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `()`.
    Unit,
    /// `bool`.
    Bool(bool),
    /// `char`.
    Char(char),
    /// `i8`.
    I8(i8),
    /// `i16`.
    I16(i16),
    /// `i32`.
    I32(i32),
    /// `i64` and `isize`.
    I64(i64),
    /// `i128`.
    I128(i128),
    /// `u8`.
    U8(u8),
    /// `u16`.
    U16(u16),
    /// `u32`.
    U32(u32),
    /// `u64` and `usize`.
    U64(u64),
    /// `u128`.
    U128(u128),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `&str`, `String` (and other string-like types): the first bytes, cut at a character
    /// boundary; `truncated_from` is the full length in bytes when the text was cut.
    Str {
        /// The kept text.
        text: String,
        /// Full length in bytes, when truncated.
        truncated_from: Option<u64>,
    },
    /// `Option::None`.
    None,
    /// `Option::Some`.
    Some(Box<Value>),
    /// `Result::Ok`.
    Ok(Box<Value>),
    /// `Result::Err` (an exit returning this counts as an error).
    Err(Box<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A slice, `Vec`, array or other sequence: the first elements and the full length.
    Seq {
        /// Number of elements the sequence had.
        len: u64,
        /// The first `min(len, max_items)` elements.
        items: Vec<Value>,
    },
    /// A struct or enum variant captured field by field (the `Traceable` derive).
    Struct {
        /// Type (and variant) name, e.g. `User` or `Shape::Circle`.
        name: String,
        /// Fields in declaration order; tuple fields are named `0`, `1`, ...
        fields: Vec<(String, Value)>,
    },
    /// A value captured through its `Debug` implementation.
    Debug {
        /// The formatted text (cut like [`Value::Str`]).
        text: String,
        /// Full length in bytes, when truncated.
        truncated_from: Option<u64>,
    },
    /// A value of a type that has neither a structural capture nor `Debug`: only its type name.
    Opaque(String),
    /// The rest of a value, cut by the byte budget (`RUCHYTRACE_VALSIZE`) or the depth budget
    /// (`RUCHYTRACE_DEPTH`).
    Cut,
}

impl Value {
    /// The kind name used in JSON `type_info.kind` / node `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Unit => "unit",
            Value::Bool(_) => "bool",
            Value::Char(_) => "char",
            Value::I8(_) => "i8",
            Value::I16(_) => "i16",
            Value::I32(_) => "i32",
            Value::I64(_) => "i64",
            Value::I128(_) => "i128",
            Value::U8(_) => "u8",
            Value::U16(_) => "u16",
            Value::U32(_) => "u32",
            Value::U64(_) => "u64",
            Value::U128(_) => "u128",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Str { .. } => "str",
            Value::None | Value::Some(_) => "option",
            Value::Ok(_) | Value::Err(_) => "result",
            Value::Tuple(_) => "tuple",
            Value::Seq { .. } => "seq",
            Value::Struct { .. } => "struct",
            Value::Debug { .. } => "debug",
            Value::Opaque(_) => "opaque",
            Value::Cut => "cut",
        }
    }

    /// True for `Result::Err`.
    pub fn is_err(&self) -> bool {
        matches!(self, Value::Err(_))
    }
}

/// Writes `s` as a double-quoted string with C-style escapes (as strace does).
pub fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Value {
    /// Renders the value the way the text format shows it: `42`, `"abc"...`, `Some(1)`,
    /// `[1, 2, 3, ...(10)]`, `User { id: 42, name: "Alice" }`, `<TypeName>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unit => f.write_str("()"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Char(c) => write!(f, "{c:?}"),
            Value::I8(v) => write!(f, "{v}"),
            Value::I16(v) => write!(f, "{v}"),
            Value::I32(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::I128(v) => write!(f, "{v}"),
            Value::U8(v) => write!(f, "{v}"),
            Value::U16(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::U128(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v:?}"),
            Value::F64(v) => write!(f, "{v:?}"),
            Value::Str {
                text,
                truncated_from,
            } => {
                write_quoted(f, text)?;
                if truncated_from.is_some() {
                    f.write_str("...")?;
                }
                Ok(())
            }
            Value::None => f.write_str("None"),
            Value::Some(v) => write!(f, "Some({v})"),
            Value::Ok(v) => write!(f, "Ok({v})"),
            Value::Err(v) => write!(f, "Err({v})"),
            Value::Tuple(items) => {
                f.write_str("(")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            Value::Seq { len, items } => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                if (items.len() as u64) < *len {
                    if !items.is_empty() {
                        f.write_str(", ")?;
                    }
                    write!(f, "...({len})")?;
                }
                f.write_str("]")
            }
            Value::Struct { name, fields } => {
                f.write_str(name)?;
                if fields.is_empty() {
                    return Ok(());
                }
                let tuple_like = fields.first().is_some_and(|(n, _)| n == "0");
                if tuple_like {
                    f.write_str("(")?;
                    for (i, (_, v)) in fields.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{v}")?;
                    }
                    f.write_str(")")
                } else {
                    f.write_str(" { ")?;
                    for (i, (n, v)) in fields.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        if n.is_empty() {
                            write!(f, "{v}")?;
                        } else {
                            write!(f, "{n}: {v}")?;
                        }
                    }
                    f.write_str(" }")
                }
            }
            Value::Debug {
                text,
                truncated_from,
            } => {
                f.write_str(text)?;
                if truncated_from.is_some() {
                    f.write_str("...")?;
                }
                Ok(())
            }
            Value::Opaque(name) => write!(f, "<{name}>"),
            Value::Cut => f.write_str("…"),
        }
    }
}
