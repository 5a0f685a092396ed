//! ComputationGraph topology and the order DL4J flattens its parameters in.
//!
//! Without a cached order DL4J runs Kahn's algorithm over Java `HashMap` / `HashSet<Integer>`
//! collections; we reproduce their iteration order (bucket = index & (capacity - 1), ties in
//! insertion order).

use std::collections::{HashMap, VecDeque};

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
    while inserted.len().saturating_mul(4) > cap.saturating_mul(3) {
        cap = cap.saturating_mul(2);
    }
    let mut v: Vec<(usize, usize, usize)> = inserted
        .iter()
        .enumerate()
        .map(|(pos, &x)| {
            // Integer.hashCode = value; HashMap.hash spreads the high half into the low half.
            let h = x as u32;
            (((h ^ (h >> 16)) as usize) & (cap - 1), pos, x)
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, _, x)| x).collect()
}

/// DL4J's `topologicalSortOrder()` for a graph without a cached order.
pub fn kahn_order(g: &GraphConf) -> Result<Vec<String>> {
    let names: Vec<&String> = g.inputs.iter().chain(&g.vertices).collect();
    let n = names.len();
    let mut index_of: HashMap<&str, usize> = HashMap::with_capacity(n);
    for (i, name) in names.iter().enumerate() {
        if index_of.insert(name.as_str(), i).is_some() {
            return Err(Error::Config(format!("duplicate vertex name {name:?}")));
        }
    }
    // The first entry wins, as in `inputs_of`.
    let mut inputs_of: HashMap<&str, &[String]> = HashMap::with_capacity(g.vertex_inputs.len());
    for (vname, list) in &g.vertex_inputs {
        inputs_of.entry(vname.as_str()).or_insert(list.as_slice());
    }

    // inputEdges[v] = set of producer indices; outputEdges[p] = consumers in insertion order.
    // Network inputs have no producers; vertices follow them, in JSON order.
    let mut input_edges: Vec<Vec<usize>> = vec![Vec::new(); g.inputs.len()];
    for vname in &g.vertices {
        let mut producers = Vec::new();
        for src in inputs_of.get(vname.as_str()).copied().unwrap_or_default() {
            let s = *index_of.get(src.as_str()).ok_or_else(|| {
                Error::Config(format!(
                    "vertex {vname:?} takes input {src:?}, which does not exist"
                ))
            })?;
            if !producers.contains(&s) {
                producers.push(s);
            }
        }
        input_edges.push(producers);
    }
    for (vname, _) in &g.vertex_inputs {
        if !g.vertices.contains(vname) {
            return Err(Error::Config(format!(
                "vertexInputs names {vname:?}, which is not a vertex"
            )));
        }
    }
    // Every index below is a position in `names` (from `index_of`, or an enumeration of the
    // n-long `input_edges`), and `input_edges`, `output_edges` and `placed` all have n entries.
    #[allow(clippy::indexing_slicing)]
    let order = {
        let mut output_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (v, producers) in input_edges.iter().enumerate() {
            for &s in producers {
                // Consumers are visited in increasing order and producers are distinct, so
                // each consumer is listed once, in insertion order.
                output_edges[s].push(v);
            }
        }
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| input_edges[i].is_empty()).collect();
        let mut out = Vec::with_capacity(n);
        let mut placed = vec![false; n];
        while let Some(p) = queue.pop_front() {
            out.push(p);
            placed[p] = true;
            for c in java_hashset_order(&output_edges[p]) {
                input_edges[c].retain(|&x| x != p);
                if input_edges[c].is_empty() {
                    queue.push_back(c);
                }
            }
        }
        if out.len() != n {
            let stuck: Vec<&str> = (0..n)
                .filter(|&i| !placed[i])
                .map(|i| names[i].as_str())
                .collect();
            return Err(Error::Config(format!(
                "the graph has a cycle through vertices {stuck:?}"
            )));
        }
        out.into_iter().map(|i| names[i].clone()).collect()
    };
    Ok(order)
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
