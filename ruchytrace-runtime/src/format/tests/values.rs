//! Value encodings (JSON and binary) and the frame checksum.

use super::*;

#[test]
fn value_json_round_trip_many() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..20_000 {
        let v = rng.value(0);
        let text = to_node_string(&v);
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("#{i}: {text}: {e}"));
        let back = node_to_value(&json).unwrap_or_else(|e| panic!("#{i}: {text}: {e}"));
        assert!(same(&v, &back), "#{i}: {v:?}\n -> {text}\n -> {back:?}");
    }
}

#[test]
fn value_json_shapes_are_the_documented_ones() {
    let cases: Vec<(Value, &str)> = vec![
        (Value::I64(5), r#"{"kind":"i64","value":5}"#),
        (Value::Unit, r#"{"kind":"unit","value":null}"#),
        (
            Value::I128(-(1i128 << 70)),
            r#"{"kind":"i128","value":"-1180591620717411303424"}"#,
        ),
        (Value::I128(-3), r#"{"kind":"i128","value":-3}"#),
        (
            Value::U128(u128::from(u64::MAX)),
            r#"{"kind":"u128","value":18446744073709551615}"#,
        ),
        (
            Value::F64(f64::NEG_INFINITY),
            r#"{"kind":"f64","value":"-inf"}"#,
        ),
        (Value::F32(0.1), r#"{"kind":"f32","value":0.1}"#),
        (Value::Char('é'), r#"{"kind":"char","value":"é"}"#),
        (
            Value::Str {
                text: "ab".into(),
                truncated_from: Some(10),
            },
            r#"{"kind":"str","value":"ab","truncated_from":10}"#,
        ),
        (Value::None, r#"{"kind":"option","value":null}"#),
        (
            Value::Some(Box::new(Value::Bool(true))),
            r#"{"kind":"option","value":{"kind":"bool","value":true}}"#,
        ),
        (
            Value::Err(Box::new(Value::Opaque("E".into()))),
            r#"{"kind":"result","value":{"err":{"kind":"opaque","value":"E"}}}"#,
        ),
        (
            Value::Seq {
                len: 9,
                items: vec![Value::U8(1)],
            },
            r#"{"kind":"seq","value":{"len":9,"items":[{"kind":"u8","value":1}]}}"#,
        ),
        (
            Value::Struct {
                name: "User".into(),
                fields: vec![("id".into(), Value::U32(7))],
            },
            r#"{"kind":"struct","value":{"name":"User","fields":[{"name":"id","kind":"u32","value":7}]}}"#,
        ),
        (
            Value::Tuple(vec![Value::I8(-1), Value::Unit]),
            r#"{"kind":"tuple","value":[{"kind":"i8","value":-1},{"kind":"unit","value":null}]}"#,
        ),
    ];
    for (v, want) in cases {
        assert_eq!(to_node_string(&v), want);
    }
}

#[test]
fn value_json_rejects_bad_nodes() {
    for bad in [
        r#"{"kind":"i8","value":300}"#,
        r#"{"kind":"u8","value":-1}"#,
        r#"{"kind":"char","value":"ab"}"#,
        r#"{"kind":"bool","value":1}"#,
        r#"{"kind":"result","value":{"ok":{"kind":"unit","value":null},"err":{"kind":"unit","value":null}}}"#,
        r#"{"kind":"nope","value":1}"#,
        r#"{"value":1}"#,
        r#"{"kind":"f64","value":"nan"}"#,
        r#"{"kind":"str","value":"x","truncated_from":-1}"#,
    ] {
        let j: serde_json::Value = serde_json::from_str(bad).unwrap();
        assert!(node_to_value(&j).is_err(), "{bad} should be rejected");
    }
}

#[test]
fn value_binary_round_trip_many() {
    let mut rng = Rng(42);
    for i in 0..20_000 {
        let v = rng.value(0);
        let mut buf = Vec::new();
        binary::encode_value(&mut buf, &v);
        let back = binary::decode_value_exact(&buf).unwrap_or_else(|| panic!("#{i}: {v:?}"));
        // The binary format keeps NaN payloads too.
        assert_eq!(format!("{v:?}"), format!("{back:?}"), "#{i}");
        assert!(same(&v, &back));
        // Every strict prefix fails to decode (values are self-delimiting).
        for cut in 0..buf.len() {
            assert!(
                binary::decode_value_exact(&buf[..cut]).is_none(),
                "#{i} cut {cut}"
            );
        }
    }
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(binary::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(binary::crc32(b""), 0);
}

/// The frame checksum is CRC-32/IEEE: the standard check value, and the bytewise definition.
#[test]
fn crc32_matches_the_reference() {
    assert_eq!(binary::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(binary::crc32(b""), 0);
    let data: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for len in [1, 7, 8, 9, 15, 16, 17, 63, 64, 999, 1000] {
        let mut c = !0u32;
        for &b in &data[..len] {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        assert_eq!(binary::crc32(&data[..len]), !c, "length {len}");
    }
}
