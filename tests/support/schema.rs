//! A small JSON Schema validator: exactly the keywords the schemas in `docs/schema/` use (draft
//! 2020-12 semantics). It refuses any other keyword, so a schema cannot silently grow rules this
//! check ignores.
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value as Json;

/// A loaded schema.
pub struct Validator {
    root: Json,
}

impl Validator {
    /// Loads `docs/schema/NAME`.
    pub fn load(name: &str) -> Self {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/schema")
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        Validator {
            root: serde_json::from_str(&text).unwrap(),
        }
    }

    /// Every violation of the schema by `v`, as `path: what`.
    pub fn errors(&self, v: &Json) -> Vec<String> {
        let mut errs = Vec::new();
        self.check(&self.root, v, "$", &mut errs);
        errs
    }

    fn resolve(&self, r: &str) -> &Json {
        let name = r
            .strip_prefix("#/$defs/")
            .unwrap_or_else(|| panic!("unsupported $ref {r}"));
        &self.root["$defs"][name]
    }

    fn check(&self, schema: &Json, v: &Json, path: &str, errs: &mut Vec<String>) {
        let obj = schema.as_object().expect("schema must be an object");
        for (key, rule) in obj {
            match key.as_str() {
                "$schema" | "$id" | "title" | "description" | "$defs" => {}
                "$ref" => self.check(self.resolve(rule.as_str().unwrap()), v, path, errs),
                "type" => {
                    let types: Vec<&str> = match rule {
                        Json::String(t) => vec![t.as_str()],
                        Json::Array(a) => a.iter().map(|t| t.as_str().unwrap()).collect(),
                        _ => panic!("bad type"),
                    };
                    if !types.iter().any(|t| type_ok(t, v)) {
                        errs.push(format!("{path}: expected {types:?}, got {v}"));
                    }
                }
                "const" => {
                    if rule != v {
                        errs.push(format!("{path}: expected {rule}, got {v}"));
                    }
                }
                "enum" => {
                    if !rule.as_array().unwrap().contains(v) {
                        errs.push(format!("{path}: {v} not in {rule}"));
                    }
                }
                "minimum" | "maximum" => {
                    if let Some(x) = v.as_f64() {
                        let bound = rule.as_f64().unwrap();
                        if (key == "minimum" && x < bound) || (key == "maximum" && x > bound) {
                            errs.push(format!("{path}: {v} violates {key} {rule}"));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let Some(s) = v.as_str() {
                        let n = s.chars().count() as u64;
                        let bound = rule.as_u64().unwrap();
                        if (key == "minLength" && n < bound) || (key == "maxLength" && n > bound) {
                            errs.push(format!("{path}: length of {v} violates {key} {rule}"));
                        }
                    }
                }
                "properties" => {
                    if let Some(o) = v.as_object() {
                        for (k, sub) in rule.as_object().unwrap() {
                            if let Some(x) = o.get(k) {
                                self.check(sub, x, &format!("{path}.{k}"), errs);
                            }
                        }
                    }
                }
                "required" => {
                    if let Some(o) = v.as_object() {
                        for k in rule.as_array().unwrap() {
                            if !o.contains_key(k.as_str().unwrap()) {
                                errs.push(format!("{path}: missing {k}"));
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    assert_eq!(rule, &Json::Bool(false), "only additionalProperties: false");
                    if let Some(o) = v.as_object() {
                        let known = obj.get("properties").and_then(Json::as_object);
                        for k in o.keys() {
                            if !known.is_some_and(|p| p.contains_key(k)) {
                                errs.push(format!("{path}: unexpected member {k:?}"));
                            }
                        }
                    }
                }
                "items" => {
                    if let Some(a) = v.as_array() {
                        for (i, x) in a.iter().enumerate() {
                            self.check(rule, x, &format!("{path}[{i}]"), errs);
                        }
                    }
                }
                "oneOf" => {
                    let branches = rule.as_array().unwrap();
                    let mut best: Option<Vec<String>> = None;
                    let mut matched = 0;
                    for b in branches {
                        let mut e = Vec::new();
                        self.check(b, v, path, &mut e);
                        if e.is_empty() {
                            matched += 1;
                        } else if best.as_ref().is_none_or(|x| e.len() < x.len()) {
                            best = Some(e);
                        }
                    }
                    if matched != 1 {
                        errs.push(format!(
                            "{path}: {matched} oneOf branches match (closest failure: {:?})",
                            best.unwrap_or_default()
                        ));
                    }
                }
                other => {
                    panic!("the schema uses {other:?}, which this validator does not implement")
                }
            }
        }
    }
}

fn type_ok(t: &str, v: &Json) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        other => panic!("unknown type {other}"),
    }
}
