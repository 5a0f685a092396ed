//! Classic-ML (`ai.onnx.ml`) post-processing of scikit-learn exports (placeholder).
use super::super::{Cx, Done};
use crate::proto::ForeignNode;

pub fn known(_n: &ForeignNode) -> bool {
    false
}
pub fn translate(_cx: &mut Cx, n: &ForeignNode) -> Done {
    Err(format!("operator domain {:?} has no DL4J equivalent", n.domain))
}
