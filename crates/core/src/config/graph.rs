//! ComputationGraph topology and the order DL4J flattens its parameters in.
//!
//! Without a cached order DL4J runs Kahn's algorithm over Java `HashMap` / `HashSet<Integer>`
//! collections; we reproduce their iteration order (bucket = index & (capacity - 1), ties in
//! insertion order).

use std::collections::VecDeque;

use crate::error::{Error, Result};

/// ComputationGraph topology.
#[derive(Debug, Clone)]
pub struct GraphConf {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    /// Vertex names in JSON order (indices follow the inputs).
    pub vertices: Vec<String>,
    /// `vertexInputs`, in JSON order.
    pub vertex_inputs: Vec<(String, Vec<String>)>,
    /// `topologicalOrderStr` when the file caches it (>= 1.0.0-beta).
    pub cached_order: Option<Vec<String>>,
}

impl GraphConf {
    pub fn inputs_of(&self, vertex: &str) -> &[String] {
        self.vertex_inputs
            .iter()
            .find(|(n, _)| n == vertex)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// The order DL4J flattens parameters in: the cached order if present, else DL4J's own
    /// Kahn sort with Java collection iteration emulated. Includes the network inputs.
    pub fn topological_order(&self) -> Result<Vec<String>> {
        if let Some(cached) = &self.cached_order {
            let mut all: Vec<&String> = self.inputs.iter().chain(&self.vertices).collect();
            all.sort();
            let mut seen: Vec<&String> = cached.iter().collect();
            seen.sort();
            if all == seen {
                return Ok(cached.clone());
            }
            return Err(Error::Config(
                "topologicalOrderStr does not list exactly the graph's inputs and vertices".into(),
            ));
        }
        kahn_order(self)
    }
}

/// Java `HashSet<Integer>` iteration order for values inserted in the given order.
fn java_hashset_order(inserted: &[usize]) -> Vec<usize> {
    // Default capacity 16, doubled whenever size exceeds 0.75 * capacity.
    let mut cap = 16usize;
    while inserted.len() * 4 > cap * 3 {
        cap *= 2;
    }
    let mut v: Vec<(usize, usize)> = inserted
        .iter()
        .enumerate()
        .map(|(pos, &x)| {
            // Integer.hashCode = value; HashMap.hash spreads the high half into the low half.
            let h = x as u32;
            (((h ^ (h >> 16)) as usize) & (cap - 1), pos)
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, pos)| inserted[pos]).collect()
}

/// DL4J's `topologicalSortOrder()` for a graph without a cached order.
pub fn kahn_order(g: &GraphConf) -> Result<Vec<String>> {
    let names: Vec<&String> = g.inputs.iter().chain(&g.vertices).collect();
    let index_of = |name: &str| names.iter().position(|n| *n == name);
    let n = names.len();
    if let Some(dup) = (0..n).find(|&i| names[..i].contains(&names[i])) {
        return Err(Error::Config(format!(
            "duplicate vertex name {:?}",
            names[dup]
        )));
    }

    // inputEdges[v] = set of producer indices; outputEdges[p] = consumers in insertion order.
    let mut input_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut output_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (v_pos, vname) in g.vertices.iter().enumerate() {
        let v = g.inputs.len() + v_pos;
        for src in g.inputs_of(vname) {
            let s = index_of(src).ok_or_else(|| {
                Error::Config(format!(
                    "vertex {vname:?} takes input {src:?}, which does not exist"
                ))
            })?;
            if !input_edges[v].contains(&s) {
                input_edges[v].push(s);
            }
            if !output_edges[s].contains(&v) {
                output_edges[s].push(v);
            }
        }
    }
    for (vname, _) in &g.vertex_inputs {
        if !g.vertices.contains(vname) {
            return Err(Error::Config(format!(
                "vertexInputs names {vname:?}, which is not a vertex"
            )));
        }
    }

    let mut queue: VecDeque<usize> = (0..n).filter(|&i| input_edges[i].is_empty()).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(p) = queue.pop_front() {
        out.push(p);
        for c in java_hashset_order(&output_edges[p]) {
            input_edges[c].retain(|&x| x != p);
            if input_edges[c].is_empty() {
                queue.push_back(c);
            }
        }
    }
    if out.len() != n {
        let stuck: Vec<&str> = (0..n)
            .filter(|i| !out.contains(i))
            .map(|i| names[i].as_str())
            .collect();
        return Err(Error::Config(format!(
            "the graph has a cycle through vertices {stuck:?}"
        )));
    }
    Ok(out.into_iter().map(|i| names[i].clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashset_order_wraps_modulo_capacity() {
        assert_eq!(java_hashset_order(&[3, 1, 2]), vec![1, 2, 3]);
        // 17 lands in bucket 1 of 16, before 2.
        assert_eq!(java_hashset_order(&[2, 17]), vec![17, 2]);
        // Same bucket: insertion order.
        assert_eq!(java_hashset_order(&[17, 1]), vec![17, 1]);
    }

    #[test]
    fn cycle_is_reported() {
        let g = GraphConf {
            inputs: vec!["in".into()],
            outputs: vec!["b".into()],
            vertices: vec!["a".into(), "b".into()],
            vertex_inputs: vec![
                ("a".into(), vec!["in".into(), "b".into()]),
                ("b".into(), vec!["a".into()]),
            ],
            cached_order: None,
        };
        let e = kahn_order(&g).unwrap_err().to_string();
        assert!(e.contains("cycle") && e.contains("\"a\""), "{e}");
    }
}
