//! [`Value`] in JSON: how captured values are written in `fn.json` and read back.
//!
//! A value is a *node* `{"kind": K, "value": V}` (plus `"truncated_from": N` for cut strings and
//! `Debug` text). At the top level of an argument or return value the kind moves into
//! `"type_info": {"name": <declared type>, "kind": K}`. `V` is the natural JSON value for
//! primitives (`i128`/`u128` outside the `i64`/`u64` range as decimal strings; non-finite floats as
//! `"NaN"`, `"inf"`, `"-inf"`; `char` as a one-character string; unit as `null`) and for nested
//! kinds: option `null` or a node; result `{"ok": node}` / `{"err": node}`; tuple `[node, ...]`;
//! seq `{"len": N, "items": [node, ...]}`; struct `{"name": T, "fields": [{"name": F, "kind": K,
//! "value": V}, ...]}`; debug the text; opaque the type name; cut (the rest of a value past its byte or depth budget)
//! `null`. Writing then reading gives back the
//! same value (NaN payloads aside: every NaN reads back as the canonical NaN).

use crate::model::Value;
#[cfg(feature = "readers")]
use serde_json::Value as Json;
use std::fmt::Write as _;

/// Appends `s` as a JSON string literal.
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_float(out: &mut String, v: f64, dbg: impl std::fmt::Debug) {
    if v.is_nan() {
        out.push_str("\"NaN\"");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "\"inf\"" } else { "\"-inf\"" });
    } else {
        // `Debug` prints the shortest text that parses back to the same float, and always in a
        // JSON-compatible shape (`1.0`, `-0.0`, `1e-7`).
        let _ = write!(out, "{dbg:?}");
    }
}

/// Appends the JSON `value` of `v` (the part after `"value":`).
pub fn write_payload(out: &mut String, v: &Value) {
    match v {
        Value::Unit | Value::None => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Char(c) => {
            let mut buf = [0u8; 4];
            write_json_str(out, c.encode_utf8(&mut buf));
        }
        Value::I8(x) => push_num(out, *x),
        Value::I16(x) => push_num(out, *x),
        Value::I32(x) => push_num(out, *x),
        Value::I64(x) => push_num(out, *x),
        Value::I128(x) => {
            if i64::try_from(*x).is_ok() {
                push_num(out, *x)
            } else {
                let _ = write!(out, "\"{x}\"");
            }
        }
        Value::U8(x) => push_num(out, *x),
        Value::U16(x) => push_num(out, *x),
        Value::U32(x) => push_num(out, *x),
        Value::U64(x) => push_num(out, *x),
        Value::U128(x) => {
            if u64::try_from(*x).is_ok() {
                push_num(out, *x)
            } else {
                let _ = write!(out, "\"{x}\"");
            }
        }
        Value::F32(x) => write_float(out, f64::from(*x), *x),
        Value::F64(x) => write_float(out, *x, *x),
        Value::Str { text, .. } | Value::Debug { text, .. } => write_json_str(out, text),
        Value::Opaque(name) => write_json_str(out, name),
        Value::Cut => out.push_str("null"),
        Value::Some(inner) => write_node(out, inner),
        Value::Ok(inner) => {
            out.push_str("{\"ok\":");
            write_node(out, inner);
            out.push('}');
        }
        Value::Err(inner) => {
            out.push_str("{\"err\":");
            write_node(out, inner);
            out.push('}');
        }
        Value::Tuple(items) => write_nodes(out, items),
        Value::Seq { len, items } => {
            let _ = write!(out, "{{\"len\":{len},\"items\":");
            write_nodes(out, items);
            out.push('}');
        }
        Value::Struct { name, fields } => {
            out.push_str("{\"name\":");
            write_json_str(out, name);
            out.push_str(",\"fields\":[");
            for (i, (fname, fv)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"name\":");
                write_json_str(out, fname);
                out.push(',');
                write_node_fields(out, fv);
                out.push('}');
            }
            out.push_str("]}");
        }
    }
}

fn push_num(out: &mut String, x: impl std::fmt::Display) {
    let _ = write!(out, "{x}");
}

fn write_nodes(out: &mut String, items: &[Value]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_node(out, item);
    }
    out.push(']');
}

fn truncated_from(v: &Value) -> Option<u64> {
    match v {
        Value::Str { truncated_from, .. } | Value::Debug { truncated_from, .. } => *truncated_from,
        _ => None,
    }
}

/// Appends `"kind":K,"value":V` (and `,"truncated_from":N`) without braces.
fn write_node_fields(out: &mut String, v: &Value) {
    out.push_str("\"kind\":\"");
    out.push_str(v.kind());
    out.push_str("\",\"value\":");
    write_payload(out, v);
    if let Some(n) = truncated_from(v) {
        let _ = write!(out, ",\"truncated_from\":{n}");
    }
}

/// Appends the node `{"kind":K,"value":V}` of `v`.
pub fn write_node(out: &mut String, v: &Value) {
    out.push('{');
    write_node_fields(out, v);
    out.push('}');
}

/// Appends the top-level members `"type_info":{"name":T,"kind":K},"value":V` (and
/// `,"truncated_from":N`), without braces, for an argument or return value declared as
/// `type_name`.
pub fn write_typed(out: &mut String, v: &Value, type_name: &str) {
    out.push_str("\"type_info\":{\"name\":");
    write_json_str(out, type_name);
    out.push_str(",\"kind\":\"");
    out.push_str(v.kind());
    out.push_str("\"},\"value\":");
    write_payload(out, v);
    if let Some(n) = truncated_from(v) {
        let _ = write!(out, ",\"truncated_from\":{n}");
    }
}

/// The JSON text of the node of `v` (for tests and tools).
pub fn to_node_string(v: &Value) -> String {
    let mut s = String::new();
    write_node(&mut s, v);
    s
}

#[cfg(feature = "readers")]
/// Reads a node `{"kind":K,"value":V,...}`.
#[cfg(feature = "readers")]
pub fn node_to_value(node: &Json) -> Result<Value, String> {
    let obj = node.as_object().ok_or("a value node must be an object")?;
    let kind = obj
        .get("kind")
        .and_then(Json::as_str)
        .ok_or("a value node needs a string \"kind\"")?;
    let value = obj.get("value").ok_or("a value node needs a \"value\"")?;
    from_parts(kind, value, obj.get("truncated_from"))
}

/// Reads a top-level typed value `{"type_info":{"kind":K,...},"value":V,...}`.
#[cfg(feature = "readers")]
pub fn typed_to_value(obj: &Json) -> Result<Value, String> {
    let kind = obj
        .get("type_info")
        .and_then(|t| t.get("kind"))
        .and_then(Json::as_str)
        .ok_or("a value needs \"type_info\": {\"kind\": ...}")?;
    let value = obj.get("value").ok_or("a value needs a \"value\"")?;
    from_parts(kind, value, obj.get("truncated_from"))
}

#[cfg(feature = "readers")]
fn int<T: TryFrom<i128>>(kind: &str, v: &Json) -> Result<T, String> {
    let wide: i128 = match v {
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                i128::from(i)
            } else if let Some(u) = n.as_u64() {
                i128::from(u)
            } else {
                return Err(format!("{kind}: not an integer: {n}"));
            }
        }
        Json::String(s) => s
            .parse::<i128>()
            .map_err(|_| format!("{kind}: not an integer: {s:?}"))?,
        other => return Err(format!("{kind}: not an integer: {other}")),
    };
    T::try_from(wide).map_err(|_| format!("{kind}: {wide} out of range"))
}

#[cfg(feature = "readers")]
fn u128_of(v: &Json) -> Result<u128, String> {
    match v {
        Json::Number(n) => n
            .as_u64()
            .map(u128::from)
            .ok_or_else(|| format!("u128: not an unsigned integer: {n}")),
        Json::String(s) => s
            .parse::<u128>()
            .map_err(|_| format!("u128: not an unsigned integer: {s:?}")),
        other => Err(format!("u128: not an integer: {other}")),
    }
}

#[cfg(feature = "readers")]
fn float(kind: &str, v: &Json) -> Result<f64, String> {
    match v {
        Json::Number(n) => n.as_f64().ok_or_else(|| format!("{kind}: bad number {n}")),
        Json::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(format!("{kind}: not a float: {s:?}")),
        },
        other => Err(format!("{kind}: not a float: {other}")),
    }
}

#[cfg(feature = "readers")]
fn string(kind: &str, v: &Json) -> Result<String, String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{kind}: expected a string, got {v}"))
}

#[cfg(feature = "readers")]
fn trunc(t: Option<&Json>) -> Result<Option<u64>, String> {
    match t {
        None | Some(Json::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("truncated_from must be an unsigned integer, got {n}")),
    }
}

#[cfg(feature = "readers")]
fn nodes(kind: &str, v: &Json) -> Result<Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{kind}: expected an array"))?
        .iter()
        .map(node_to_value)
        .collect()
}

/// Builds a value from its kind, JSON value and optional `truncated_from`.
#[cfg(feature = "readers")]
pub fn from_parts(kind: &str, v: &Json, truncated: Option<&Json>) -> Result<Value, String> {
    Ok(match kind {
        "unit" => match v {
            Json::Null => Value::Unit,
            _ => return Err(format!("unit: expected null, got {v}")),
        },
        "bool" => Value::Bool(v.as_bool().ok_or("bool: expected true or false")?),
        "char" => {
            let s = string(kind, v)?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Value::Char(c),
                _ => return Err(format!("char: expected one character, got {s:?}")),
            }
        }
        "i8" => Value::I8(int(kind, v)?),
        "i16" => Value::I16(int(kind, v)?),
        "i32" => Value::I32(int(kind, v)?),
        "i64" => Value::I64(int(kind, v)?),
        "i128" => Value::I128(int(kind, v)?),
        "u8" => Value::U8(int(kind, v)?),
        "u16" => Value::U16(int(kind, v)?),
        "u32" => Value::U32(int(kind, v)?),
        "u64" => Value::U64(int(kind, v)?),
        "u128" => Value::U128(u128_of(v)?),
        // Rounding the (correctly parsed) f64 to f32 is exact: the text is the shortest one that
        // identifies the f32.
        "f32" => Value::F32(float(kind, v)? as f32),
        "f64" => Value::F64(float(kind, v)?),
        "str" => Value::Str {
            text: string(kind, v)?,
            truncated_from: trunc(truncated)?,
        },
        "debug" => Value::Debug {
            text: string(kind, v)?,
            truncated_from: trunc(truncated)?,
        },
        "opaque" => Value::Opaque(string(kind, v)?),
        "cut" => Value::Cut,
        "option" => match v {
            Json::Null => Value::None,
            node => Value::Some(Box::new(node_to_value(node)?)),
        },
        "result" => {
            let obj = v
                .as_object()
                .ok_or("result: expected {\"ok\":..} or {\"err\":..}")?;
            match (obj.get("ok"), obj.get("err"), obj.len()) {
                (Some(n), None, 1) => Value::Ok(Box::new(node_to_value(n)?)),
                (None, Some(n), 1) => Value::Err(Box::new(node_to_value(n)?)),
                _ => return Err("result: expected exactly one of \"ok\" or \"err\"".into()),
            }
        }
        "tuple" => Value::Tuple(nodes(kind, v)?),
        "seq" => {
            let len = v
                .get("len")
                .and_then(Json::as_u64)
                .ok_or("seq: expected \"len\"")?;
            let items = nodes(kind, v.get("items").ok_or("seq: expected \"items\"")?)?;
            Value::Seq { len, items }
        }
        "struct" => {
            let name = string(
                "struct name",
                v.get("name").ok_or("struct: expected \"name\"")?,
            )?;
            let fields = v
                .get("fields")
                .and_then(Json::as_array)
                .ok_or("struct: expected \"fields\"")?
                .iter()
                .map(|f| {
                    let fname = f
                        .get("name")
                        .and_then(Json::as_str)
                        .ok_or("struct field: expected \"name\"")?;
                    Ok((fname.to_owned(), node_to_value(f)?))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Value::Struct { name, fields }
        }
        other => return Err(format!("unknown value kind {other:?}")),
    })
}
