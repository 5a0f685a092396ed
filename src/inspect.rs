//! `dl4j inspect`: what an archive holds, as one JSON object or as a table for people.

use serde_json::{json, Map, Value};

use dl4j_core::java_serial;
use dl4j_core::layout::ParamLayout;
use dl4j_core::{Archive, Format};

/// The JSON report of `inspect --json`.
pub fn report(archive: &Archive, format: &Format) -> Value {
    let layout = archive.layout();
    let mut out = Map::new();
    out.insert("format".into(), format.id.into());
    out.insert("kind".into(), archive.kind().name().into());
    out.insert("dtype".into(), archive.dtype().short_name().into());
    out.insert(
        "encoding".into(),
        archive.origin.encoding.map(|e| e.name()).into(),
    );
    out.insert("num_params".into(), archive.num_params().into());
    let task = dl4j_core::serializer::task_by_model(&archive.config);
    out.insert(
        "task".into(),
        json!({
            "network_type": task.network_type.name(),
            "architecture_type": task.architecture_type.name(),
        }),
    );
    out.insert("seed".into(), archive.config.seed().into());
    let dropout = archive.config.dropout_nodes();
    out.insert("dropout".into(), (!dropout.is_empty()).into());
    out.insert("dropout_layers".into(), dropout.into());
    out.insert("layers".into(), layers(archive, layout.as_ref().ok()));
    out.insert(
        "unknown_params".into(),
        match layout.as_ref().ok().and_then(|l| l.unknown.as_ref()) {
            Some(s) => json!({
                "layers": s.nodes,
                "classes": s.classes,
                "offset": s.offset,
                "len": s.len,
            }),
            None => Value::Null,
        },
    );
    out.insert("warnings".into(), archive.entry_name_warnings().into());
    out.insert(
        "layout_error".into(),
        layout.as_ref().err().map(|e| e.to_string()).into(),
    );
    if let Ok(Some(g)) = archive.config.graph() {
        out.insert(
            "graph".into(),
            json!({
                "inputs": g.inputs,
                "outputs": g.outputs,
                "topological_order": g.topological_order().ok(),
                "cached_order": g.cached_order.is_some(),
            }),
        );
    }
    out.insert("updater".into(), updater(archive));
    out.insert(
        "normalizer".into(),
        match &archive.normalizer {
            None => Value::Null,
            Some(n) => json!({
                "type": n.type_name(),
                "class": n.class_name(),
                "arrays": n.arrays().iter().map(|(name, a)| json!({
                    "name": name,
                    "shape": a.tensor.shape(),
                    "dtype": a.tensor.dtype().short_name(),
                })).collect::<Vec<_>>(),
            }),
        },
    );
    out.insert(
        "objects".into(),
        archive
            .objects
            .iter()
            .map(|(key, bytes)| {
                json!({
                    "key": key,
                    "class": java_serial::class_name(bytes),
                    "size": bytes.len(),
                })
            })
            .collect::<Vec<_>>()
            .into(),
    );
    out.insert(
        "unknown_entries".into(),
        archive
            .unknown_entries
            .iter()
            .map(|(name, bytes)| json!({"name": name, "size": bytes.len()}))
            .collect::<Vec<_>>()
            .into(),
    );
    Value::Object(out)
}

fn layers(archive: &Archive, layout: Option<&ParamLayout>) -> Value {
    let Ok(nodes) = archive.config.nodes() else {
        return Value::Array(vec![]);
    };
    let list = nodes
        .iter()
        .map(|n| {
            let ll = layout.and_then(|l| l.layers.iter().find(|x| x.node == n.name));
            let mut m = Map::new();
            m.insert("name".into(), n.name.clone().into());
            m.insert("type".into(), n.type_name().into());
            if let Some(v) = &n.vertex_type {
                m.insert("vertex".into(), v.clone().into());
            }
            if let Some(l) = &n.layer {
                m.insert("class".into(), l.class.clone().into());
                m.insert("layer_name".into(), l.layer_name().into());
                m.extend(l.summary());
            }
            m.insert("known".into(), ll.map(|l| l.known).into());
            m.insert("num_params".into(), ll.and_then(|l| l.len).into());
            m.insert(
                "params".into(),
                match ll {
                    Some(l) if l.known && l.offset.is_some() => l
                        .params
                        .iter()
                        .map(|p| {
                            json!({
                                "name": p.name,
                                "key": p.key,
                                "shape": p.shape,
                                "order": p.order.as_char().to_string(),
                                "offset": p.offset,
                            })
                        })
                        .collect::<Vec<_>>()
                        .into(),
                    // Unknown layouts list nothing; their extent is in `unknown_params`.
                    _ => Value::Array(vec![]),
                },
            );
            Value::Object(m)
        })
        .collect();
    Value::Array(list)
}

fn updater(archive: &Archive) -> Value {
    let Some(state) = &archive.updater_state else {
        return Value::Null;
    };
    let mut m = Map::new();
    m.insert("state_len".into(), state.tensor.len().into());
    m.insert("dtype".into(), state.tensor.dtype().short_name().into());
    match archive.updater_layout() {
        Ok(Some(l)) => {
            m.insert("type".into(), l.summary().into());
            m.insert("layout".into(), l.kind.name().into());
            m.insert("blocks".into(), l.blocks.len().into());
            m.insert("error".into(), Value::Null);
        }
        Ok(None) => {}
        Err(e) => {
            m.insert("type".into(), declared_updater(archive).into());
            m.insert("layout".into(), Value::Null);
            m.insert("error".into(), e.to_string().into());
        }
    }
    Value::Object(m)
}

/// The updater class the first parameterised layer names, for when no layout can be built.
fn declared_updater(archive: &Archive) -> Option<String> {
    let nodes = archive.config.nodes().ok()?;
    nodes.iter().filter_map(|n| n.layer.as_ref()).find_map(|l| {
        let u = l.get("iupdater").or_else(|| l.get("updater"))?;
        match u {
            Value::String(s) => Some(s.clone()),
            v => v
                .get("@class")
                .and_then(Value::as_str)
                .map(|c| dl4j_core::config::names::simple_name(c).to_string()),
        }
    })
}

/// The report as an aligned table.
pub fn render(file: &str, r: &Value) -> String {
    let s = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let mut out = String::new();
    let mut row = |k: &str, v: String| out.push_str(&format!("{k:<12}{v}\n"));
    row("file", file.to_string());
    row(
        "format",
        match r["encoding"].as_str() {
            Some(e) => format!("{} (ND4J {e} encoding)", s(&r["format"])),
            None => s(&r["format"]),
        },
    );
    row("kind", s(&r["kind"]));
    row("dtype", s(&r["dtype"]));
    row("params", s(&r["num_params"]));
    let task = &r["task"];
    row(
        "task",
        format!(
            "{} / {} (DL4J taskByModel)",
            s(task.get("network_type").unwrap_or(&Value::Null)),
            s(task.get("architecture_type").unwrap_or(&Value::Null))
        ),
    );
    row("seed", s(&r["seed"]));
    let dropout: Vec<String> = r["dropout_layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(&s)
        .collect();
    row(
        "dropout",
        if dropout.is_empty() {
            "none".into()
        } else {
            format!(
                "in layers {}: set the RNG seed before restoring for repeatable results",
                dropout.join(", ")
            )
        },
    );
    row(
        "updater",
        match &r["updater"] {
            Value::Null => "none saved".into(),
            u => match u["error"].as_str() {
                Some(e) => format!(
                    "{} ({} state values; layout: {e})",
                    s(&u["type"]),
                    s(&u["state_len"])
                ),
                None => format!(
                    "{} ({} state values, {} layout)",
                    s(&u["type"]),
                    s(&u["state_len"]),
                    s(&u["layout"])
                ),
            },
        },
    );
    row(
        "normalizer",
        match &r["normalizer"] {
            Value::Null => "none".into(),
            n => format!("{} ({})", s(&n["type"]), s(&n["class"])),
        },
    );
    let objects: Vec<String> = r["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            format!(
                "{} ({}, {} bytes)",
                s(&o["key"]),
                s(&o["class"]),
                s(&o["size"])
            )
        })
        .collect();
    row(
        "objects",
        if objects.is_empty() {
            "none".into()
        } else {
            objects.join(", ")
        },
    );
    let unknown: Vec<String> = r["unknown_entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| format!("{} ({} bytes)", s(&o["name"]), s(&o["size"])))
        .collect();
    if !unknown.is_empty() {
        row("other", unknown.join(", "));
    }
    for w in r["warnings"].as_array().into_iter().flatten() {
        row("warning", s(w));
    }
    if let Some(e) = r["layout_error"].as_str() {
        row("layout", format!("unavailable: {e}"));
    }
    if let Some(u) = r["unknown_params"].as_object() {
        row(
            "unknown",
            format!(
                "{} parameters at offset {} belong to layers of unknown layout: {}",
                s(&u["len"]),
                s(&u["offset"]),
                s(&u["classes"])
            ),
        );
    }

    let mut table = vec![vec![
        "name".to_string(),
        "type".to_string(),
        "nIn".to_string(),
        "nOut".to_string(),
        "activation".to_string(),
        "params".to_string(),
        "shapes".to_string(),
    ]];
    for l in r["layers"].as_array().into_iter().flatten() {
        let shapes = match l["params"]
            .as_array()
            .filter(|_| l["known"] != Value::Bool(false))
        {
            Some(ps) => ps
                .iter()
                .map(|p| {
                    let dims: Vec<String> = p["shape"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|d| d.to_string())
                        .collect();
                    format!("{} [{}]", s(&p["key"]), dims.join(","))
                })
                .collect::<Vec<_>>()
                .join(" "),
            None if l["known"] == Value::Bool(false) => "(unknown layout)".into(),
            None => String::new(),
        };
        table.push(vec![
            s(&l["name"]),
            s(&l["type"]),
            s(&l["nIn"]),
            s(&l["nOut"]),
            s(&l["activation"]),
            s(&l["num_params"]),
            shapes,
        ]);
    }
    // The widest cell of each column.
    let mut widths = vec![0usize; 7];
    for r in &table {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    out.push('\n');
    for r in table {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
