//! The binary format's value encoding: one tag byte ([`super::vtag`]), then the payload
//! (varints, length-prefixed strings, nested values). [`Cursor`] is the bounds-checked reader
//! of record payloads the reader module uses too.

use super::{put_i, put_str, put_u, put_varint, unzigzag, vtag, MAX_VALUE_DEPTH};

/// Appends the encoding of `v`.
pub fn encode_value(buf: &mut Vec<u8>, v: &crate::model::Value) {
    use crate::model::Value as V;
    match v {
        V::Unit => buf.push(vtag::UNIT),
        V::Bool(b) => buf.push(if *b { vtag::TRUE } else { vtag::FALSE }),
        V::Char(c) => {
            buf.push(vtag::CHAR);
            put_u(buf, u64::from(*c as u32));
        }
        V::I8(x) => {
            buf.push(vtag::I8);
            put_i(buf, i128::from(*x));
        }
        V::I16(x) => {
            buf.push(vtag::I16);
            put_i(buf, i128::from(*x));
        }
        V::I32(x) => {
            buf.push(vtag::I32);
            put_i(buf, i128::from(*x));
        }
        V::I64(x) => {
            buf.push(vtag::I64);
            put_i(buf, i128::from(*x));
        }
        V::I128(x) => {
            buf.push(vtag::I128);
            put_i(buf, *x);
        }
        V::U8(x) => {
            buf.push(vtag::U8);
            put_u(buf, u64::from(*x));
        }
        V::U16(x) => {
            buf.push(vtag::U16);
            put_u(buf, u64::from(*x));
        }
        V::U32(x) => {
            buf.push(vtag::U32);
            put_u(buf, u64::from(*x));
        }
        V::U64(x) => {
            buf.push(vtag::U64);
            put_u(buf, *x);
        }
        V::U128(x) => {
            buf.push(vtag::U128);
            put_varint(buf, *x);
        }
        V::F32(x) => {
            buf.push(vtag::F32);
            buf.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        V::F64(x) => {
            buf.push(vtag::F64);
            buf.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        V::Str {
            text,
            truncated_from,
        }
        | V::Debug {
            text,
            truncated_from,
        } => {
            let is_str = matches!(v, V::Str { .. });
            let t = match (is_str, truncated_from.is_some()) {
                (true, false) => vtag::STR,
                (true, true) => vtag::STR_CUT,
                (false, false) => vtag::DEBUG,
                (false, true) => vtag::DEBUG_CUT,
            };
            buf.push(t);
            put_str(buf, text);
            if let Some(n) = truncated_from {
                put_u(buf, *n);
            }
        }
        V::None => buf.push(vtag::NONE),
        V::Some(x) => {
            buf.push(vtag::SOME);
            encode_value(buf, x);
        }
        V::Ok(x) => {
            buf.push(vtag::OK);
            encode_value(buf, x);
        }
        V::Err(x) => {
            buf.push(vtag::ERR);
            encode_value(buf, x);
        }
        V::Tuple(items) => {
            buf.push(vtag::TUPLE);
            put_u(buf, items.len() as u64);
            items.iter().for_each(|i| encode_value(buf, i));
        }
        V::Seq { len, items } => {
            buf.push(vtag::SEQ);
            put_u(buf, *len);
            put_u(buf, items.len() as u64);
            items.iter().for_each(|i| encode_value(buf, i));
        }
        V::Struct { name, fields } => {
            buf.push(vtag::STRUCT);
            put_str(buf, name);
            put_u(buf, fields.len() as u64);
            for (n, f) in fields {
                put_str(buf, n);
                encode_value(buf, f);
            }
        }
        V::Opaque(name) => {
            buf.push(vtag::OPAQUE);
            put_str(buf, name);
        }
        V::Cut => buf.push(vtag::CUT),
    }
}

/// A decoding failure inside a payload: what, and where (offset within the payload).
#[derive(Debug)]
pub(super) struct Bad(pub(super) &'static str);

pub(super) struct Cursor<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn u8(&mut self) -> Result<u8, Bad> {
        let b = *self.data.get(self.pos).ok_or(Bad("record cut short"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(super) fn varint(&mut self) -> Result<u128, Bad> {
        let mut v = 0u128;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            if shift >= 128 || (shift == 126 && b > 0x03) {
                return Err(Bad("varint overflow"));
            }
            v |= u128::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    pub(super) fn u64(&mut self) -> Result<u64, Bad> {
        u64::try_from(self.varint()?).map_err(|_| Bad("integer out of range"))
    }

    pub(super) fn u32(&mut self) -> Result<u32, Bad> {
        u32::try_from(self.varint()?).map_err(|_| Bad("integer out of range"))
    }

    pub(super) fn int<T: TryFrom<i128>>(&mut self) -> Result<T, Bad> {
        T::try_from(unzigzag(self.varint()?)).map_err(|_| Bad("integer out of range"))
    }

    pub(super) fn uint<T: TryFrom<u128>>(&mut self) -> Result<T, Bad> {
        T::try_from(self.varint()?).map_err(|_| Bad("integer out of range"))
    }

    pub(super) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        let end = self.pos.checked_add(n).ok_or(Bad("length overflow"))?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(Bad("record cut short"))?;
        self.pos = end;
        Ok(s)
    }

    pub(super) fn str(&mut self) -> Result<String, Bad> {
        let n = usize::try_from(self.u64()?).map_err(|_| Bad("length overflow"))?;
        let b = self.bytes(n)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| Bad("string is not UTF-8"))
    }

    /// A count of items that each take at least one byte (bounded by what is left, so garbage
    /// never makes us allocate much).
    pub(super) fn count(&mut self) -> Result<usize, Bad> {
        let n = self.u64()?;
        if n > (self.data.len() - self.pos) as u64 {
            return Err(Bad("record cut short"));
        }
        Ok(n as usize)
    }
}

pub(super) fn decode_value(c: &mut Cursor<'_>, depth: usize) -> Result<crate::model::Value, Bad> {
    use crate::model::Value as V;
    if depth > MAX_VALUE_DEPTH {
        return Err(Bad("value nested too deeply"));
    }
    let d = depth + 1;
    Ok(match c.u8()? {
        vtag::UNIT => V::Unit,
        vtag::FALSE => V::Bool(false),
        vtag::TRUE => V::Bool(true),
        vtag::CHAR => V::Char(char::from_u32(c.u32()?).ok_or(Bad("invalid char"))?),
        vtag::I8 => V::I8(c.int()?),
        vtag::I16 => V::I16(c.int()?),
        vtag::I32 => V::I32(c.int()?),
        vtag::I64 => V::I64(c.int()?),
        vtag::I128 => V::I128(unzigzag(c.varint()?)),
        vtag::U8 => V::U8(c.uint()?),
        vtag::U16 => V::U16(c.uint()?),
        vtag::U32 => V::U32(c.uint()?),
        vtag::U64 => V::U64(c.uint()?),
        vtag::U128 => V::U128(c.varint()?),
        vtag::F32 => {
            let b = c.bytes(4)?;
            V::F32(f32::from_bits(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        }
        vtag::F64 => {
            let b = c.bytes(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            V::F64(f64::from_bits(u64::from_le_bytes(a)))
        }
        t @ (vtag::STR | vtag::STR_CUT | vtag::DEBUG | vtag::DEBUG_CUT) => {
            let text = c.str()?;
            let truncated_from = if t == vtag::STR_CUT || t == vtag::DEBUG_CUT {
                Some(c.u64()?)
            } else {
                None
            };
            if t == vtag::STR || t == vtag::STR_CUT {
                V::Str {
                    text,
                    truncated_from,
                }
            } else {
                V::Debug {
                    text,
                    truncated_from,
                }
            }
        }
        vtag::NONE => V::None,
        vtag::SOME => V::Some(Box::new(decode_value(c, d)?)),
        vtag::OK => V::Ok(Box::new(decode_value(c, d)?)),
        vtag::ERR => V::Err(Box::new(decode_value(c, d)?)),
        vtag::TUPLE => {
            let n = c.count()?;
            V::Tuple(
                (0..n)
                    .map(|_| decode_value(c, d))
                    .collect::<Result<_, _>>()?,
            )
        }
        vtag::SEQ => {
            let len = c.u64()?;
            let n = c.count()?;
            let items = (0..n)
                .map(|_| decode_value(c, d))
                .collect::<Result<_, _>>()?;
            V::Seq { len, items }
        }
        vtag::STRUCT => {
            let name = c.str()?;
            let n = c.count()?;
            let fields = (0..n)
                .map(|_| Ok((c.str()?, decode_value(c, d)?)))
                .collect::<Result<_, Bad>>()?;
            V::Struct { name, fields }
        }
        vtag::OPAQUE => V::Opaque(c.str()?),
        vtag::CUT => V::Cut,
        _ => return Err(Bad("unknown value tag")),
    })
}

/// Decodes one value from `bytes` (which must hold exactly one encoded value).
pub fn decode_value_exact(bytes: &[u8]) -> Option<crate::model::Value> {
    let mut c = Cursor {
        data: bytes,
        pos: 0,
    };
    let v = decode_value(&mut c, 0).ok()?;
    (c.pos == bytes.len()).then_some(v)
}
