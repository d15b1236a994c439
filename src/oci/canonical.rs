//! The one canonical-JSON writer: every OCI document cargo-slim writes goes
//! through it.
//!
//! In: a JSON value, or anything serialisable into one (oci-spec's structs).
//! Out: compact JSON (no whitespace) with every object's keys sorted by byte
//! order, arrays in their order. Why: a document's sha256 is its name, so the
//! same image must give the same bytes on every run and machine. oci-spec keeps
//! labels and annotations in `HashMap`s (random order), and serde_json orders a
//! `Value`'s keys only while its `preserve_order` feature is off (any crate in
//! the build may turn it on); the keys are sorted here, whatever either does.
//! `validate` holds a tarball's documents to the same form with this function.

use serde::Serialize;
use serde_json::Value;

/// `v` as canonical JSON: compact, object keys sorted by byte order.
pub fn canonical_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(v, &mut out);
    out
}

/// `value` serialised to JSON, then written as [`canonical_json`].
pub fn to_canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    Ok(canonical_json(&serde_json::to_value(value)?))
}

fn write(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(k.clone()), out);
                out.push(b':');
                write(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(v: &Value, out: &mut Vec<u8>) {
    // Serialising a scalar into a Vec cannot fail; an empty write would only
    // make the canonical form differ, never panic.
    let _ = serde_json::to_writer(&mut *out, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    #[test]
    fn keys_are_sorted_at_every_depth_and_nothing_else_changes() {
        let v = json!({"b": [{"z": 1, "a": "é\n"}], "a": {"y": null, "x": 1.5}, "A": true});
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            r#"{"A":true,"a":{"x":1.5,"y":null},"b":[{"a":"é\n","z":1}]}"#
        );
        // What serde_json writes for a `Value` without `preserve_order`: the
        // digests of every image written before this writer existed.
        assert_eq!(canonical_json(&v), serde_json::to_vec(&v).unwrap());
        let map: HashMap<String, u8> = (b'a'..=b'z')
            .map(|c| ((c as char).to_string(), c))
            .collect();
        let bytes = to_canonical_json(&map).unwrap();
        assert!(bytes.starts_with(br#"{"a":97,"b":98,"#));
    }
}
