//! Recurrent nodes (placeholder).
use super::super::{Cx, Done};
use crate::proto::ForeignNode;

pub fn lstm(_cx: &mut Cx, _n: &ForeignNode) -> Done {
    Err("LSTM import is not implemented yet".into())
}
pub fn rnn(_cx: &mut Cx, _n: &ForeignNode) -> Done {
    Err("RNN import is not implemented yet".into())
}
pub fn gather(_cx: &mut Cx, _n: &ForeignNode) -> Done {
    Err("Gather on network data has no DL4J equivalent".into())
}
