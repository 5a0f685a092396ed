//! The iteration order of a `java.util.HashMap<String, String>` built by `new HashMap<>()` and
//! `put` calls, which is the order `HashMap.writeObject` writes its entries in.
//!
//! This follows `java.util.HashMap` (the code dates from JDK 8; checked against JDK 17 and 25 on
//! thousands of random maps): a power-of-two table (16 buckets, then doubled whenever the size
//! exceeds 0.75 of it), the bucket of a key is
//! `(h ^ (h >>> 16)) & (n - 1)` for `h = key.hashCode()`, a bucket's entries are a linked list in
//! insertion order (a resize splits it keeping that order), and a list that grows past 8 entries
//! in a table of at least 64 buckets becomes a red-black tree bin whose linked order the tree
//! operations rearrange (`treeify`, `putTreeVal`, `moveRootToFront`, `split`), ported here
//! operation for operation. String keys compare by `String.compareTo`, so `tieBreakOrder`
//! (identity hash codes) is never needed: keys in a map are distinct.

// Writer-side model, never fed decoded input: every index is one this module made itself, a
// node id returned by `new_node` (nodes are never removed), a pair index from enumerating
// `pairs`, or a bucket `index(table.len(), hash)` masked to a non-empty power-of-two table
// (`j + old_cap` in a resize to `2 * old_cap` buckets with `j < old_cap`).
#![allow(clippy::indexing_slicing)]

use std::cmp::Ordering;

const DEFAULT_INITIAL_CAPACITY: usize = 16;
const MAXIMUM_CAPACITY: usize = 1 << 30;
const LOAD_FACTOR: f32 = 0.75;
const TREEIFY_THRESHOLD: usize = 8;
const UNTREEIFY_THRESHOLD: usize = 6;
const MIN_TREEIFY_CAPACITY: usize = 64;

type Link = Option<usize>;

struct Node {
    hash: i32,
    key: Vec<u16>,
    /// Index of the pair whose key this is, and of the pair whose value it holds now.
    key_at: usize,
    value_at: usize,
    next: Link,
    // Tree bin links (meaningful while `tree`).
    tree: bool,
    parent: Link,
    left: Link,
    right: Link,
    prev: Link,
    red: bool,
}

/// A `HashMap` after the puts.
pub(super) struct JavaHashMap<'a> {
    pairs: &'a [(String, String)],
    nodes: Vec<Node>,
    table: Vec<Link>,
    /// The `threshold` field (0 while the table is not allocated).
    pub threshold: i32,
}

/// `String.hashCode()` spread as `HashMap.hash` does.
fn spread_hash(units: &[u16]) -> i32 {
    let h = units
        .iter()
        .fold(0i32, |h, &c| h.wrapping_mul(31).wrapping_add(c as i32));
    h ^ ((h as u32) >> 16) as i32
}

fn index(n: usize, hash: i32) -> usize {
    (n - 1) & (hash as u32 as usize)
}

impl<'a> JavaHashMap<'a> {
    /// `new HashMap<>()`, then `put(k, v)` for each pair in order.
    pub fn build(pairs: &'a [(String, String)]) -> Self {
        let mut m = JavaHashMap {
            pairs,
            nodes: Vec::with_capacity(pairs.len()),
            table: Vec::new(),
            threshold: 0,
        };
        for (i, (k, _)) in pairs.iter().enumerate() {
            let key: Vec<u16> = k.encode_utf16().collect();
            m.put(spread_hash(&key), key, i);
        }
        m
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `HashMap.capacity()`: the table length, or 16 for a map never written to.
    pub fn capacity(&self) -> i32 {
        if self.table.is_empty() {
            if self.threshold > 0 {
                self.threshold
            } else {
                DEFAULT_INITIAL_CAPACITY as i32
            }
        } else {
            self.table.len() as i32
        }
    }

    /// (key, value) in iteration order.
    pub fn entries(&self) -> Vec<(&'a str, &'a str)> {
        let mut out = Vec::with_capacity(self.nodes.len());
        for &head in &self.table {
            let mut e = head;
            while let Some(i) = e {
                let n = &self.nodes[i];
                out.push((
                    self.pairs[n.key_at].0.as_str(),
                    self.pairs[n.value_at].1.as_str(),
                ));
                e = n.next;
            }
        }
        out
    }

    fn new_node(&mut self, hash: i32, key: Vec<u16>, at: usize, next: Link) -> usize {
        self.nodes.push(Node {
            hash,
            key,
            key_at: at,
            value_at: at,
            next,
            tree: false,
            parent: None,
            left: None,
            right: None,
            prev: None,
            red: false,
        });
        self.nodes.len() - 1
    }

    /// Java's `key.equals(p.key)` after comparing hashes.
    fn same_key(&self, i: usize, hash: i32, key: &[u16]) -> bool {
        self.nodes[i].hash == hash && self.nodes[i].key == key
    }

    /// `putVal(hash, key, value, false, true)`.
    fn put(&mut self, hash: i32, key: Vec<u16>, at: usize) {
        if self.table.is_empty() {
            self.resize();
        }
        let n = self.table.len();
        let i = index(n, hash);
        let existing = match self.table[i] {
            None => {
                let x = self.new_node(hash, key, at, None);
                self.table[i] = Some(x);
                None
            }
            Some(p) if self.same_key(p, hash, &key) => Some(p),
            Some(p) if self.nodes[p].tree => self.put_tree_val(p, hash, key, at),
            Some(mut p) => {
                let mut bin_count = 0;
                loop {
                    match self.nodes[p].next {
                        None => {
                            let x = self.new_node(hash, key, at, None);
                            self.nodes[p].next = Some(x);
                            if bin_count >= TREEIFY_THRESHOLD - 1 {
                                self.treeify_bin(hash);
                            }
                            break None;
                        }
                        Some(e) if self.same_key(e, hash, &key) => break Some(e),
                        Some(e) => p = e,
                    }
                    bin_count += 1;
                }
            }
        };
        if let Some(e) = existing {
            self.nodes[e].value_at = at;
            return;
        }
        if self.nodes.len() > self.threshold as usize {
            self.resize();
        }
    }

    fn resize(&mut self) {
        let old_cap = self.table.len();
        let old_thr = self.threshold;
        let new_cap;
        let mut new_thr: i32 = 0;
        if old_cap > 0 {
            if old_cap >= MAXIMUM_CAPACITY {
                self.threshold = i32::MAX;
                return;
            }
            new_cap = old_cap << 1;
            if new_cap < MAXIMUM_CAPACITY && old_cap >= DEFAULT_INITIAL_CAPACITY {
                new_thr = old_thr << 1;
            }
        } else if old_thr > 0 {
            new_cap = old_thr as usize;
        } else {
            new_cap = DEFAULT_INITIAL_CAPACITY;
            new_thr = (LOAD_FACTOR * DEFAULT_INITIAL_CAPACITY as f32) as i32;
        }
        if new_thr == 0 {
            let ft = new_cap as f32 * LOAD_FACTOR;
            new_thr = if new_cap < MAXIMUM_CAPACITY && ft < MAXIMUM_CAPACITY as f32 {
                ft as i32
            } else {
                i32::MAX
            };
        }
        self.threshold = new_thr;
        let old = std::mem::replace(&mut self.table, vec![None; new_cap]);
        for (j, head) in old.into_iter().enumerate() {
            let Some(e) = head else { continue };
            if self.nodes[e].next.is_none() {
                self.table[index(new_cap, self.nodes[e].hash)] = Some(e);
            } else if self.nodes[e].tree {
                self.split(e, j, old_cap);
            } else {
                let (mut lo_head, mut lo_tail, mut hi_head, mut hi_tail): (Link, Link, Link, Link) =
                    (None, None, None, None);
                let mut cur = Some(e);
                while let Some(x) = cur {
                    cur = self.nodes[x].next;
                    let (head, tail) = if self.nodes[x].hash as u32 as usize & old_cap == 0 {
                        (&mut lo_head, &mut lo_tail)
                    } else {
                        (&mut hi_head, &mut hi_tail)
                    };
                    match *tail {
                        None => *head = Some(x),
                        Some(t) => self.nodes[t].next = Some(x),
                    }
                    *tail = Some(x);
                }
                if let Some(t) = lo_tail {
                    self.nodes[t].next = None;
                    self.table[j] = lo_head;
                }
                if let Some(t) = hi_tail {
                    self.nodes[t].next = None;
                    self.table[j + old_cap] = hi_head;
                }
            }
        }
    }

    fn treeify_bin(&mut self, hash: i32) {
        let n = self.table.len();
        if n < MIN_TREEIFY_CAPACITY {
            self.resize();
            return;
        }
        let i = index(n, hash);
        let Some(hd) = self.table[i] else { return };
        // replacementTreeNode for each node, keeping the order and setting prev links.
        let mut tl: Link = None;
        let mut e = Some(hd);
        while let Some(x) = e {
            let node = &mut self.nodes[x];
            node.tree = true;
            node.prev = tl;
            node.parent = None;
            node.left = None;
            node.right = None;
            node.red = false;
            tl = Some(x);
            e = node.next;
        }
        self.treeify(hd);
    }

    /// Tree order: hash, then `String.compareTo` (UTF-16 code units).
    fn dir(&self, hash: i32, key: &[u16], p: usize) -> Ordering {
        let ph = self.nodes[p].hash;
        if ph > hash {
            Ordering::Less
        } else if ph < hash {
            Ordering::Greater
        } else {
            // Distinct keys (the caller checked equality), so never Equal; Java would fall back
            // to tieBreakOrder, which for two Strings answers "less or equal".
            match key.cmp(&self.nodes[p].key) {
                Ordering::Equal => Ordering::Less,
                o => o,
            }
        }
    }

    fn treeify(&mut self, head: usize) {
        let mut root: Link = None;
        let mut x_link = Some(head);
        while let Some(x) = x_link {
            x_link = self.nodes[x].next;
            self.nodes[x].left = None;
            self.nodes[x].right = None;
            match root {
                None => {
                    self.nodes[x].parent = None;
                    self.nodes[x].red = false;
                    root = Some(x);
                }
                Some(r) => {
                    let hash = self.nodes[x].hash;
                    let key = std::mem::take(&mut self.nodes[x].key);
                    let mut p = r;
                    loop {
                        let dir = self.dir(hash, &key, p);
                        let xp = p;
                        let child = if dir != Ordering::Greater {
                            self.nodes[p].left
                        } else {
                            self.nodes[p].right
                        };
                        match child {
                            Some(c) => p = c,
                            None => {
                                self.nodes[x].parent = Some(xp);
                                if dir != Ordering::Greater {
                                    self.nodes[xp].left = Some(x);
                                } else {
                                    self.nodes[xp].right = Some(x);
                                }
                                root = Some(self.balance_insertion(r, x));
                                break;
                            }
                        }
                    }
                    self.nodes[x].key = key;
                }
            }
        }
        if let Some(r) = root {
            self.move_root_to_front(r);
        }
    }

    fn root_of(&self, mut r: usize) -> usize {
        while let Some(p) = self.nodes[r].parent {
            r = p;
        }
        r
    }

    fn move_root_to_front(&mut self, root: usize) {
        let n = self.table.len();
        if n == 0 {
            return;
        }
        let i = index(n, self.nodes[root].hash);
        let first = self.table[i];
        if first != Some(root) {
            self.table[i] = Some(root);
            let rp = self.nodes[root].prev;
            let rn = self.nodes[root].next;
            if let Some(rn) = rn {
                self.nodes[rn].prev = rp;
            }
            if let Some(rp) = rp {
                self.nodes[rp].next = rn;
            }
            if let Some(f) = first {
                self.nodes[f].prev = Some(root);
            }
            self.nodes[root].next = first;
            self.nodes[root].prev = None;
        }
    }

    /// Returns the node holding `key` if there is one, else inserts it and returns `None`.
    fn put_tree_val(&mut self, bin: usize, hash: i32, key: Vec<u16>, at: usize) -> Link {
        let root = self.root_of(bin);
        let mut p = root;
        loop {
            if self.same_key(p, hash, &key) {
                return Some(p);
            }
            let dir = self.dir(hash, &key, p);
            let xp = p;
            let child = if dir != Ordering::Greater {
                self.nodes[p].left
            } else {
                self.nodes[p].right
            };
            match child {
                Some(c) => p = c,
                None => {
                    let xpn = self.nodes[xp].next;
                    let x = self.new_node(hash, key, at, xpn);
                    self.nodes[x].tree = true;
                    if dir != Ordering::Greater {
                        self.nodes[xp].left = Some(x);
                    } else {
                        self.nodes[xp].right = Some(x);
                    }
                    self.nodes[xp].next = Some(x);
                    self.nodes[x].parent = Some(xp);
                    self.nodes[x].prev = Some(xp);
                    if let Some(xpn) = xpn {
                        self.nodes[xpn].prev = Some(x);
                    }
                    let r = self.balance_insertion(root, x);
                    self.move_root_to_front(r);
                    return None;
                }
            }
        }
    }

    /// `TreeNode.split` on resize: `bin` was at `index` of the old table of `bit` buckets.
    fn split(&mut self, bin: usize, index: usize, bit: usize) {
        let (mut lo_head, mut lo_tail, mut hi_head, mut hi_tail): (Link, Link, Link, Link) =
            (None, None, None, None);
        let (mut lc, mut hc) = (0usize, 0usize);
        let mut e = Some(bin);
        while let Some(x) = e {
            e = self.nodes[x].next;
            self.nodes[x].next = None;
            let lo = self.nodes[x].hash as u32 as usize & bit == 0;
            let (head, tail, count) = if lo {
                (&mut lo_head, &mut lo_tail, &mut lc)
            } else {
                (&mut hi_head, &mut hi_tail, &mut hc)
            };
            self.nodes[x].prev = *tail;
            match *tail {
                None => *head = Some(x),
                Some(t) => self.nodes[t].next = Some(x),
            }
            *tail = Some(x);
            *count += 1;
        }
        if let Some(lh) = lo_head {
            if lc <= UNTREEIFY_THRESHOLD {
                self.untreeify(lh);
                self.table[index] = Some(lh);
            } else {
                self.table[index] = Some(lh);
                if hi_head.is_some() {
                    self.treeify(lh);
                }
            }
        }
        if let Some(hh) = hi_head {
            if hc <= UNTREEIFY_THRESHOLD {
                self.untreeify(hh);
                self.table[index + bit] = Some(hh);
            } else {
                self.table[index + bit] = Some(hh);
                if lo_head.is_some() {
                    self.treeify(hh);
                }
            }
        }
    }

    /// Plain nodes again, in the same order.
    fn untreeify(&mut self, head: usize) {
        let mut e = Some(head);
        while let Some(x) = e {
            let n = &mut self.nodes[x];
            n.tree = false;
            n.parent = None;
            n.left = None;
            n.right = None;
            n.prev = None;
            n.red = false;
            e = n.next;
        }
    }

    fn rotate_left(&mut self, mut root: usize, p: usize) -> usize {
        if let Some(r) = self.nodes[p].right {
            let rl = self.nodes[r].left;
            self.nodes[p].right = rl;
            if let Some(rl) = rl {
                self.nodes[rl].parent = Some(p);
            }
            let pp = self.nodes[p].parent;
            self.nodes[r].parent = pp;
            match pp {
                None => {
                    root = r;
                    self.nodes[r].red = false;
                }
                Some(pp) if self.nodes[pp].left == Some(p) => self.nodes[pp].left = Some(r),
                Some(pp) => self.nodes[pp].right = Some(r),
            }
            self.nodes[r].left = Some(p);
            self.nodes[p].parent = Some(r);
        }
        root
    }

    fn rotate_right(&mut self, mut root: usize, p: usize) -> usize {
        if let Some(l) = self.nodes[p].left {
            let lr = self.nodes[l].right;
            self.nodes[p].left = lr;
            if let Some(lr) = lr {
                self.nodes[lr].parent = Some(p);
            }
            let pp = self.nodes[p].parent;
            self.nodes[l].parent = pp;
            match pp {
                None => {
                    root = l;
                    self.nodes[l].red = false;
                }
                Some(pp) if self.nodes[pp].right == Some(p) => self.nodes[pp].right = Some(l),
                Some(pp) => self.nodes[pp].left = Some(l),
            }
            self.nodes[l].right = Some(p);
            self.nodes[p].parent = Some(l);
        }
        root
    }

    fn balance_insertion(&mut self, mut root: usize, mut x: usize) -> usize {
        self.nodes[x].red = true;
        loop {
            let Some(mut xp) = self.nodes[x].parent else {
                self.nodes[x].red = false;
                return x;
            };
            if !self.nodes[xp].red {
                return root;
            }
            let Some(mut xpp) = self.nodes[xp].parent else {
                return root;
            };
            let xppl = self.nodes[xpp].left;
            if Some(xp) == xppl {
                match self.nodes[xpp].right {
                    Some(xppr) if self.nodes[xppr].red => {
                        self.nodes[xppr].red = false;
                        self.nodes[xp].red = false;
                        self.nodes[xpp].red = true;
                        x = xpp;
                    }
                    _ => {
                        let mut xp_opt = Some(xp);
                        let mut xpp_opt = Some(xpp);
                        if self.nodes[xp].right == Some(x) {
                            x = xp;
                            root = self.rotate_left(root, x);
                            xp_opt = self.nodes[x].parent;
                            xpp_opt = xp_opt.and_then(|p| self.nodes[p].parent);
                        }
                        if let Some(p) = xp_opt {
                            xp = p;
                            self.nodes[xp].red = false;
                            if let Some(pp) = xpp_opt {
                                xpp = pp;
                                self.nodes[xpp].red = true;
                                root = self.rotate_right(root, xpp);
                            }
                        }
                    }
                }
            } else {
                match xppl {
                    Some(xppl) if self.nodes[xppl].red => {
                        self.nodes[xppl].red = false;
                        self.nodes[xp].red = false;
                        self.nodes[xpp].red = true;
                        x = xpp;
                    }
                    _ => {
                        let mut xp_opt = Some(xp);
                        let mut xpp_opt = Some(xpp);
                        if self.nodes[xp].left == Some(x) {
                            x = xp;
                            root = self.rotate_right(root, x);
                            xp_opt = self.nodes[x].parent;
                            xpp_opt = xp_opt.and_then(|p| self.nodes[p].parent);
                        }
                        if let Some(p) = xp_opt {
                            xp = p;
                            self.nodes[xp].red = false;
                            if let Some(pp) = xpp_opt {
                                xpp = pp;
                                self.nodes[xpp].red = true;
                                root = self.rotate_left(root, xpp);
                            }
                        }
                    }
                }
            }
        }
    }
}
