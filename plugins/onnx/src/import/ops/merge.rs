//! Graph vertices (placeholder).
use super::super::{Cx, Done};
use crate::proto::ForeignNode;

pub fn elementwise(_cx: &mut Cx, _n: &ForeignNode) -> Done {
    Err("not implemented yet".into())
}
pub fn concat(_cx: &mut Cx, _n: &ForeignNode) -> Done {
    Err("not implemented yet".into())
}
pub fn slice(_cx: &mut Cx, _n: &ForeignNode) -> Done {
    Err("not implemented yet".into())
}
