//! SameDiff layers and vertices (LocallyConnected, attention, capsules, user SameDiff layers)
//! serialize their parameter shapes; DL4J uses those verbatim.

use serde_json::Value;

use super::spec::{in_order, Ctx, LayerParams, R};
use crate::config::{as_int, LayerConf};
use crate::tensor::Order;

/// `{"weightParams": {"W": [..]}, "biasParams": {"b": [..]}}`: weights then biases, each in JSON
/// order, all reshaped in `c` order (SDLayerParams / SDVertexParams).
pub(super) fn samediff_params(c: &Ctx, params: Option<&Value>) -> R<Option<LayerParams>> {
    let Some(p) = params.filter(|v| v.is_object()) else {
        return Ok(None);
    };
    let mut v = Vec::new();
    for (group, is_bias) in [("weightParams", false), ("biasParams", true)] {
        let Some(map) = p.get(group).and_then(Value::as_object) else {
            continue;
        };
        for (key, shape) in map {
            let shape = shape
                .as_array()
                .ok_or_else(|| format!("{}: shape of {key} is not an array", c.l.type_name))?
                .iter()
                .map(|d| {
                    as_int(d)
                        .and_then(|d| usize::try_from(d).ok())
                        .filter(|&d| d <= super::spec::MAX_DIM)
                })
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| format!("{}: bad shape for {key}", c.l.type_name))?;
            v.push(c.p(key, shape, Order::C, is_bias));
        }
    }
    Ok(Some(in_order(v)))
}

/// Parameters of a SameDiff graph vertex (`vertexParams`), if it declares any.
pub fn vertex_params(vertex: &LayerConf, frozen: bool) -> R<Option<LayerParams>> {
    let c = Ctx { l: vertex, frozen };
    samediff_params(&c, vertex.body.get("vertexParams"))
}
