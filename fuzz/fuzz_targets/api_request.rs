//! Fuzz the API's request decoding, both dialects, on arbitrary bytes: the body as JSON,
//! then as a vAPI JSON-RPC `input` (DataValue) checked against the inputs of an operation
//! of the registry (chosen by the first byte), and as a REST body (plain JSON) converted to
//! the operation's input type. Errors are fine; panics, hangs and unbounded allocations
//! (deep nesting, huge maps) are not.
#![no_main]

use std::sync::OnceLock;

use esxlcm_server::api::datavalue::DataValue;
use esxlcm_server::api::schema::Registry;
use esxlcm_server::api::typed::{from_plain, input_to_plain};
use libfuzzer_sys::fuzz_target;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::load().unwrap_or_else(|e| panic!("the embedded schema loads: {e}")))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let reg = registry();
    if reg.ops.is_empty() {
        return;
    }
    let op = &reg.ops[usize::from(pick) % reg.ops.len()];
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    // JSON-RPC: `params.input` is a DataValue structure of the operation's inputs.
    if let Ok(dv) = DataValue::from_json(&json) {
        let _ = dv.to_json();
        for (name, ty) in &op.inputs {
            let field = match &dv {
                DataValue::Struct(s) => s.fields.get(name.as_str()).cloned(),
                _ => None,
            };
            if let Some(field) = field {
                let _ = input_to_plain(reg, &field, ty, "$");
            }
        }
    }
    // REST: the body is the plain JSON of one input (or the inputs as one object).
    for (name, ty) in &op.inputs {
        let value = json.get(name.as_str()).unwrap_or(&json);
        if let Ok(dv) = from_plain(reg, value, ty, "$") {
            let _ = input_to_plain(reg, &dv, ty, "$");
        }
    }
});
