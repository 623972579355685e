//! Windows: a loop over `k in a..b` that reads a slice at `base + k` in every iteration, with
//! `base` the same for the whole loop (`w[j * n + k]`, or a row `w[j][base + k]` of a slice of
//! rows), reads it through one subslice `&w[base + a..base + b]` taken before the loop; its
//! backward loop adds into the adjoint's subslice the same way. The bounds are then checked
//! once per run of the loop instead of at every access, and the compiler can vectorise the loop
//! (a check in each iteration is an exit that stops it; `w[j * n + k]` on a slice is the common
//! case it cannot prove in bounds).
//!
//! Every iteration makes the access (it is a statement of the body itself, not of a branch, and
//! the loop has no `break`), so the subslice is in bounds exactly when all the accesses are: an
//! access out of bounds still panics, only before the loop rather than in its iteration.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::visit::{iteration_values, operands};
use crate::ir::{Loop, LoopKind, Mem, Op, Operand, Stmt, Value, same_indices};
use crate::reverse::{BwdStmt, LoopPlan};

/// A subslice that the accesses of one loop at one index go through.
pub(super) struct Window {
    pub(super) mem: Mem,
    /// A window on the memory's adjoint (`d_w`), else on the memory.
    pub(super) adjoint: bool,
    /// The row of a two-dimensional memory (`w[r][base + k]`), fixed for the loop.
    pub(super) row: Vec<Operand>,
    /// The index of the accesses, `base + k`; `None` for a whole row, which accesses at any
    /// index go through.
    pub(super) index: Option<Value>,
    pub(super) name: Ident,
    /// `base + a`, the index of the window's first element, unless that is `0`.
    pub(super) start: Option<Ident>,
}

/// An index `base + k` of a loop over `k`: `base` (none for `k` itself), and the values of the
/// body it is computed from, in order, which can be computed again before the loop.
struct Affine {
    row: Vec<Operand>,
    /// `None`: the whole row, at any index (see [`Writer::whole_row`]).
    index: Option<Value>,
    base: Option<Operand>,
    chain: Vec<Value>,
}

impl Affine {
    /// Whether an access at `indices` is this one.
    fn at(&self, indices: &[Operand]) -> bool {
        matches!(indices.split_last(), Some((Operand::Value(i), row))
            if self.index.is_none_or(|index| *i == index) && same_indices(row, &self.row))
    }
}

impl Writer<'_> {
    /// The windows of the forward loop on the slices its body reads (see the module's
    /// documentation), declared in `out`; whether there are any.
    pub(super) fn forward_windows(&mut self, loop_: &Loop, out: &mut Vec<TokenStream>) -> bool {
        let Some(k) = window_index(loop_) else {
            return false;
        };
        let mut reads: BTreeMap<Mem, Vec<&[Operand]>> = BTreeMap::new();
        let mut excluded = BTreeSet::new();
        let top_level: BTreeSet<*const Stmt> = loop_.body.stmts.iter().map(|s| s as _).collect();
        loop_.body.walk(&mut |stmt| {
            for op in operands(stmt) {
                if let Operand::Mem(mem, _) = op {
                    excluded.insert(*mem);
                }
            }
            match stmt {
                Stmt::Inst(inst) => match &inst.op {
                    Op::Load(mem) if top_level.contains(&(stmt as _)) && !inst.args.is_empty() => {
                        reads.entry(*mem).or_default().push(&inst.args);
                    }
                    Op::Load(mem) | Op::Snapshot(mem) => {
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
        let inside = iteration_values(loop_);
        // Shared borrows: one window per index.
        let mut windows: Vec<(Mem, Affine)> = Vec::new();
        for (mem, accesses) in reads {
            if excluded.contains(&mem) || !self.windowed(mem) {
                continue;
            }
            for indices in accesses {
                if !windows.iter().any(|(m, w)| *m == mem && w.at(indices)) {
                    windows.extend(
                        self.affine(indices, k, &inside, &|_| true)
                            .or_else(|| self.whole_row(mem, indices, k, &inside, &|_| true))
                            .map(|a| (mem, a)),
                    );
                }
            }
        }
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
        let inside = iteration_values(loop_);
        let remat: BTreeSet<Value> = plan.remat.iter().copied().collect();
        // The values of the body the backward iteration has: its index and what it recomputes.
        let available = |v: Value| v == k || remat.contains(&v);
        // Reads: the recomputed loads (each a statement of the forward body).
        let mut read_windows: Vec<(Mem, Affine)> = Vec::new();
        for v in &plan.remat {
            let inst = self.defs[v];
            let Op::Load(mem) = inst.op else {
                continue;
            };
            let seen = read_windows
                .iter()
                .any(|(m, w)| *m == mem && w.at(&inst.args));
            if self.windowed(mem) && !seen {
                read_windows.extend(
                    self.affine(&inst.args, k, &inside, &available)
                        .or_else(|| self.whole_row(mem, &inst.args, k, &inside, &available))
                        .map(|affine| (mem, affine)),
                );
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
            let fits = !other.contains(&mem)
                && self.function.mems[mem.index()].param.is_some()
                && self.windowed(mem)
                && places.iter().all(|p| same_indices(p, places[0]))
                && top_level(mem) == places.len();
            if let Some(affine) = fits
                .then(|| {
                    self.affine(places[0], k, &inside, &available)
                        .or_else(|| self.whole_row(mem, places[0], k, &inside, &available))
                })
                .flatten()
            {
                add_windows.push((mem, affine));
            }
        }
        let reads = self.declare_windows(loop_, read_windows, false, out);
        let adds = self.declare_windows(loop_, add_windows, true, out);
        reads || adds
    }

    /// A slice or `Vec` of numbers or of rows (a fixed-size array's bounds are known already),
    /// not a field of a struct.
    fn windowed(&self, mem: Mem) -> bool {
        let data = &self.function.mems[mem.index()];
        data.vec && matches!(data.dims, 1 | 2) && data.field.is_none() && !data.structured
    }

    /// The indices of an access as a row fixed for the loop and `base + k`: `k` itself, or
    /// `base + k` / `k + base` computed by the body with `base` fixed for the loop: a constant,
    /// a value from before the loop, or one the body computes from those by passive arithmetic
    /// among its own statements (`allowed`: the values of the body that the sweep being written
    /// has).
    fn affine(
        &self,
        indices: &[Operand],
        k: Value,
        inside: &BTreeSet<Value>,
        allowed: &dyn Fn(Value) -> bool,
    ) -> Option<Affine> {
        let (Operand::Value(index), row) = indices.split_last()? else {
            return None;
        };
        let index = *index;
        if !allowed(index) {
            return None;
        }
        let mut chain = Vec::new();
        let base = if index == k {
            None
        } else {
            let inst = self.defs.get(&index)?;
            let Op::Rule { rule, .. } = &inst.op else {
                return None;
            };
            match (rule.rule().name, &inst.args[..]) {
                ("add", [Operand::Value(v), base] | [base, Operand::Value(v)]) if *v == k => {
                    Some(base.clone())
                }
                _ => return None,
            }
        };
        let fixed = row
            .iter()
            .chain(&base)
            .all(|op| self.invariant(op, k, inside, allowed, &mut chain));
        fixed.then(|| Affine {
            row: row.to_vec(),
            index: Some(index),
            base,
            chain,
        })
    }

    /// A row of a `Vec` of `Vec`s fixed for the loop, read or added into at an index that is
    /// not `base + k` (a counter, `idx += 1` along a packed triangle): borrowed whole before
    /// the loop, so that the row's pointer and length are not loaded again in every iteration
    /// (the compiler cannot tell that a store of a number leaves them alone).
    fn whole_row(
        &self,
        mem: Mem,
        indices: &[Operand],
        k: Value,
        inside: &BTreeSet<Value>,
        allowed: &dyn Fn(Value) -> bool,
    ) -> Option<Affine> {
        let (_, row) = indices.split_last()?;
        if row.is_empty() || self.function.mems[mem.index()].dims != 2 {
            return None;
        }
        let mut chain = Vec::new();
        row.iter()
            .all(|op| self.invariant(op, k, inside, allowed, &mut chain))
            .then(|| Affine {
                row: row.to_vec(),
                index: None,
                base: None,
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
            if affine.index.is_some()
                && affine.base.is_none()
                && affine.row.is_empty()
                && end.value().as_ref().is_some_and(whole)
            {
                continue;
            }
            any = true;
            for v in &affine.chain {
                if chains.insert(*v) {
                    out.extend(self.inst(self.defs[v], true));
                }
            }
            let span = Span::call_site();
            let (name, place) = if adjoint {
                let name = self.names.mem_adjoint(self.function, mem);
                (name, self.mem_adjoint(mem))
            } else {
                let name = self.names.mem(self.function, mem);
                (name, self.mem_name(mem))
            };
            let row = self.indices(&affine.row);
            let place = quote!(#place #([#row])*);
            let borrow = if adjoint { quote!(&mut) } else { quote!(&) };
            // A whole row: the accesses keep their own indices.
            if affine.index.is_none() {
                let window = self.names.fresh(&format!("{name}_row"), span);
                out.push(quote!(let #window = #borrow #place[..];));
                self.windows.push(Window {
                    mem,
                    adjoint,
                    row: affine.row,
                    index: None,
                    name: window,
                    start: None,
                });
                continue;
            }
            let (a, b) = (self.operand(start, span), self.operand(end, span));
            let (first, last) = match &affine.base {
                Some(base) => {
                    let base = self.operand(base, span);
                    let first = if start.is_zero() {
                        base.clone()
                    } else {
                        quote!(#base + #a)
                    };
                    (Some(first), quote!(#base + #b))
                }
                None => ((!start.is_zero()).then_some(a), b),
            };
            let window = self.names.fresh(&format!("{name}_win"), span);
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
                row: affine.row,
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
        let (Operand::Value(i), row) = indices.split_last()? else {
            return None;
        };
        let window = self.windows.iter().rev().find(|w| {
            w.mem == mem
                && w.adjoint == adjoint
                && w.index.is_none_or(|index| index == *i)
                && same_indices(&w.row, row)
        })?;
        let (name, start) = (window.name.clone(), window.start.clone());
        let i = self.name(*i);
        Some(match start {
            Some(start) => quote!(#name[#i - #start]),
            None => quote!(#name[#i]),
        })
    }

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
