//! Windows: a loop over `k in a..b` that reads a slice at `base + k` in every iteration, with
//! `base` the same for the whole loop (`w[j * n + k]`), reads it through one subslice
//! `&w[base + a..base + b]` taken before the loop; its backward loop adds into the adjoint's
//! subslice the same way. The bounds are then checked once per run of the loop instead of at
//! every access, and the compiler can vectorise the loop (a check in each iteration is an exit
//! that stops it; `w[j * n + k]` on a slice is the common case it cannot prove in bounds).
//!
//! Every iteration makes the access (it is a statement of the body itself, not of a branch, and
//! the loop has no `break`), so the subslice is in bounds exactly when all the accesses are: an
//! access out of bounds still panics, only before the loop rather than in its iteration.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::visit::{defined_in, operands};
use crate::ir::{Loop, LoopKind, Mem, Op, Operand, Stmt, Value};
use crate::reverse::{BwdStmt, LoopPlan};

/// A subslice that the accesses of one loop at one index go through.
pub(super) struct Window {
    pub(super) mem: Mem,
    /// A window on the memory's adjoint (`d_w`), else on the memory.
    pub(super) adjoint: bool,
    /// The index of the accesses, `base + k`.
    pub(super) index: Value,
    pub(super) name: Ident,
    /// `base + a`, the index of the window's first element, unless that is `0`.
    pub(super) start: Option<Ident>,
}

/// An index `base + k` of a loop over `k`: `base` (none for `k` itself), and the values of the
/// body it is computed from, in order, which can be computed again before the loop.
struct Affine {
    index: Value,
    base: Option<Operand>,
    chain: Vec<Value>,
}

impl Writer<'_> {
    /// The windows of the forward loop on the slices its body reads (see the module's
    /// documentation), declared in `out`; `None` when the loop has none.
    pub(super) fn forward_windows(&mut self, loop_: &Loop, out: &mut Vec<TokenStream>) -> bool {
        let Some(k) = window_index(loop_) else {
            return false;
        };
        let mut reads: BTreeMap<Mem, BTreeSet<Value>> = BTreeMap::new();
        let mut excluded = BTreeSet::new();
        let top_level: BTreeSet<*const Stmt> = loop_.body.stmts.iter().map(|s| s as _).collect();
        loop_.body.walk(&mut |stmt| {
            for op in operands(stmt) {
                if let Operand::Mem(mem, _) = op {
                    excluded.insert(*mem);
                }
            }
            match stmt {
                Stmt::Inst(inst) => match (&inst.op, &inst.args[..]) {
                    (Op::Load(mem), [Operand::Value(i)]) if top_level.contains(&(stmt as _)) => {
                        reads.entry(*mem).or_default().insert(*i);
                    }
                    (Op::Load(mem) | Op::Snapshot(mem), _) => {
                        excluded.insert(*mem);
                    }
                    _ => {}
                },
                Stmt::Store(store) => {
                    excluded.insert(store.mem);
                }
                Stmt::MemInit(init) => {
                    excluded.insert(init.mem);
                }
                Stmt::If(_) | Stmt::Loop(_) => {}
            }
        });
        let inside = defined_in(&loop_.body);
        // Shared borrows: one window per index.
        let windows: Vec<(Mem, Affine)> = reads
            .into_iter()
            .filter(|(mem, _)| !excluded.contains(mem) && self.windowed(*mem))
            .flat_map(|(mem, indices)| indices.into_iter().map(move |index| (mem, index)))
            .filter_map(|(mem, index)| Some((mem, self.affine(index, k, &inside, &|_| true)?)))
            .collect();
        self.declare_windows(loop_, windows, false, out)
    }

    /// The windows of the backward loop: on the slices its recomputed values read, and on the
    /// adjoints of parameters it adds into at `base + k` and uses in no other way.
    pub(super) fn backward_windows(
        &mut self,
        loop_: &Loop,
        plan: &LoopPlan,
        body: &[BwdStmt],
        out: &mut Vec<TokenStream>,
    ) -> bool {
        let Some(k) = window_index(loop_).filter(|_| plan.index_read && !plan.by_count) else {
            return false;
        };
        let inside = defined_in(&loop_.body);
        let remat: BTreeSet<Value> = plan.remat.iter().copied().collect();
        let recomputed = |v: Value| remat.contains(&v);
        // Reads: the recomputed loads (each a statement of the forward body).
        let mut reads = BTreeSet::new();
        for v in &plan.remat {
            let inst = self.defs[v];
            if let (Op::Load(mem), [Operand::Value(i)]) = (&inst.op, &inst.args[..]) {
                reads.insert((*mem, *i));
            }
        }
        let mut read_windows = Vec::new();
        for (mem, index) in reads {
            if self.windowed(mem) && (index == k || recomputed(index)) {
                if let Some(affine) = self.affine(index, k, &inside, &recomputed) {
                    read_windows.push((mem, affine));
                }
            }
        }
        // Adds into a parameter's adjoint, all at one index, each a statement of the body.
        let mut places: BTreeMap<Mem, Vec<&[Operand]>> = BTreeMap::new();
        let mut other = BTreeSet::new();
        let aggregate = |v: Value| self.function.values[v.index()].aggregate;
        crate::reverse::mem_adjoint_uses(body, &aggregate, &mut places, &mut other);
        let top_level = |mem: Mem| {
            body.iter()
                .filter(|s| matches!(s, BwdStmt::AddToMem { mem: m, .. } if *m == mem))
                .count()
        };
        let mut add_windows = Vec::new();
        for (mem, places) in places {
            let &[Operand::Value(index)] = places[0] else {
                continue;
            };
            let fits = !other.contains(&mem)
                && self.function.mems[mem.index()].param.is_some()
                && self.windowed(mem)
                && places
                    .iter()
                    .all(|p| matches!(p, [Operand::Value(i)] if *i == index))
                && top_level(mem) == places.len()
                && (index == k || recomputed(index));
            if let Some(affine) = fits
                .then(|| self.affine(index, k, &inside, &recomputed))
                .flatten()
            {
                add_windows.push((mem, affine));
            }
        }
        let reads = self.declare_windows(loop_, read_windows, false, out);
        let adds = self.declare_windows(loop_, add_windows, true, out);
        reads || adds
    }

    /// A one-dimensional slice or `Vec` (a fixed-size array's bounds are known already), not a
    /// field of a struct.
    fn windowed(&self, mem: Mem) -> bool {
        let data = &self.function.mems[mem.index()];
        data.vec && data.dims == 1 && data.field.is_none() && !data.structured
    }

    /// `index` as `base + k`: `k` itself, or `base + k` / `k + base` computed by the body with
    /// `base` fixed for the loop: a constant, a value from before the loop, or one the body
    /// computes from those by passive arithmetic among its own statements (`allowed` says
    /// which values of the body the sweep being written computes).
    fn affine(
        &self,
        index: Value,
        k: Value,
        inside: &BTreeSet<Value>,
        allowed: &dyn Fn(Value) -> bool,
    ) -> Option<Affine> {
        if index == k {
            return Some(Affine {
                index,
                base: None,
                chain: Vec::new(),
            });
        }
        let inst = self.defs.get(&index)?;
        let Op::Rule { rule, .. } = &inst.op else {
            return None;
        };
        let base = match (rule.rule().name, &inst.args[..]) {
            ("add", [Operand::Value(v), base] | [base, Operand::Value(v)]) if *v == k => base,
            _ => return None,
        };
        let mut chain = Vec::new();
        self.invariant(base, k, inside, allowed, &mut chain)
            .then(|| Affine {
                index,
                base: Some(base.clone()),
                chain,
            })
    }

    /// Whether `op` is the same in every iteration and can be computed before the loop; the
    /// body's values it needs go to `chain`, in order.
    fn invariant(
        &self,
        op: &Operand,
        k: Value,
        inside: &BTreeSet<Value>,
        allowed: &dyn Fn(Value) -> bool,
        chain: &mut Vec<Value>,
    ) -> bool {
        match op {
            Operand::Const(_) | Operand::Index(_) => true,
            Operand::Value(v) if *v == k => false,
            Operand::Value(v) if !inside.contains(v) => true,
            Operand::Value(v) if chain.contains(v) => true,
            Operand::Value(v) => {
                let Some(inst) = self.defs.get(v) else {
                    return false;
                };
                let pure = match &inst.op {
                    Op::Rule { .. } | Op::Copy => !self.activity.active(*v),
                    Op::Opaque(opaque) => opaque.index,
                    _ => false,
                };
                let ok = pure
                    && allowed(*v)
                    && inst
                        .args
                        .iter()
                        .all(|arg| self.invariant(arg, k, inside, allowed, chain));
                if ok {
                    chain.push(*v);
                }
                ok
            }
            _ => false,
        }
    }

    /// `let w_start = base + a; let w_win = &w[w_start..base + b];` for each window, recorded
    /// in `self.windows`; whether there were any.
    fn declare_windows(
        &mut self,
        loop_: &Loop,
        windows: Vec<(Mem, Affine)>,
        adjoint: bool,
        out: &mut Vec<TokenStream>,
    ) -> bool {
        let LoopKind::Range { start, end, .. } = &loop_.kind else {
            return false;
        };
        let mut any = false;
        let mut chains = BTreeSet::new();
        for (mem, affine) in windows {
            // `x[k]` in a loop up to `x.len()` is known to be in bounds already.
            let whole = |v: &Value| {
                matches!(self.defs.get(v), Some(inst)
                if matches!(inst.op, Op::Len(m) if m == mem) && inst.args.is_empty())
            };
            if affine.base.is_none() && end.value().as_ref().is_some_and(whole) {
                continue;
            }
            any = true;
            for v in &affine.chain {
                if chains.insert(*v) {
                    out.extend(self.inst(self.defs[v], true));
                }
            }
            let span = Span::call_site();
            let (a, b) = (self.operand(start, span), self.operand(end, span));
            let (first, last) = match &affine.base {
                Some(base) => {
                    let base = self.operand(base, span);
                    let first = if is_zero(start) {
                        base.clone()
                    } else {
                        quote!(#base + #a)
                    };
                    (Some(first), quote!(#base + #b))
                }
                None => ((!is_zero(start)).then_some(a), b),
            };
            let (name, place) = if adjoint {
                let name = self.names.mem_adjoint(self.function, mem);
                (name, self.mem_adjoint(mem))
            } else {
                let name = self.names.mem(self.function, mem);
                (name, self.mem_name(mem))
            };
            let window = self.names.fresh(&format!("{name}_win"), span);
            let borrow = if adjoint { quote!(&mut) } else { quote!(&) };
            let start_name = match first {
                Some(first) => {
                    let start_name = self.names.fresh(&format!("{name}_start"), span);
                    out.push(quote! {
                        let #start_name = #first;
                        let #window = #borrow #place[#start_name..#last];
                    });
                    Some(start_name)
                }
                None => {
                    out.push(quote!(let #window = #borrow #place[..#last];));
                    None
                }
            };
            self.windows.push(Window {
                mem,
                adjoint,
                index: affine.index,
                name: window,
                start: start_name,
            });
        }
        any
    }

    /// The window the access of `mem` (or of its adjoint) at `indices` goes through, as
    /// `w_win[i - w_start]`.
    pub(super) fn windowed_place(
        &mut self,
        mem: Mem,
        adjoint: bool,
        indices: &[Operand],
    ) -> Option<TokenStream> {
        let [Operand::Value(i)] = indices else {
            return None;
        };
        let window = self
            .windows
            .iter()
            .rev()
            .find(|w| w.mem == mem && w.adjoint == adjoint && w.index == *i)?;
        let (name, start) = (window.name.clone(), window.start.clone());
        let i = self.name(*i);
        Some(match start {
            Some(start) => quote!(#name[#i - #start]),
            None => quote!(#name[#i]),
        })
    }
}

impl Writer<'_> {
    /// `!(a..b).is_empty()`: whether the loop runs at all.
    pub(super) fn runs(&mut self, loop_: &Loop) -> TokenStream {
        match &loop_.kind {
            LoopKind::Range {
                start,
                end,
                inclusive,
                ..
            } => {
                let span = Span::call_site();
                let (a, b) = (self.operand(start, span), self.operand(end, span));
                if *inclusive {
                    quote!(!(#a..=#b).is_empty())
                } else {
                    quote!(!(#a..#b).is_empty())
                }
            }
            LoopKind::Forever => quote!(true),
        }
    }
}

fn is_zero(op: &Operand) -> bool {
    match op {
        Operand::Index(0) => true,
        Operand::Const(c) => matches!(c.tokens.to_string().as_str(), "0" | "0usize"),
        _ => false,
    }
}

/// The index `k` of a loop `for k in a..b` that runs every iteration it starts to its end.
fn window_index(loop_: &Loop) -> Option<Value> {
    match &loop_.kind {
        LoopKind::Range {
            index,
            inclusive: false,
            ..
        } if loop_.exit.is_none() => Some(*index),
        _ => None,
    }
}
