//! The writer of the sweeps: names, places and operands as tokens.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::Ident;

use crate::analysis::Activity;
use crate::ir::visit::{defined_in, defined_in_stmts};
use crate::ir::{Function, Inst, Mem, Operand, Output, ParamRef, Stmt, Value};
use crate::reverse::{Backward, BwdStmt, Need, Target, Term};
use crate::signature::Signature;

pub(super) struct Writer<'a> {
    pub(super) function: &'a Function,
    pub(super) activity: &'a Activity,
    pub(super) backward: &'a Backward,
    pub(super) names: Names,
    pub(super) used: BTreeSet<Value>,
    /// `let mut tape_k = Tape::new();`, one per loop that records.
    pub(super) tapes: Vec<TokenStream>,
    /// The tape of each loop (by its `count` value) and deeply nested branch (by its `record`
    /// value) that records on one.
    pub(super) tape_of: BTreeMap<Value, Ident>,
    /// The tape of each loop that keeps values once per run (`LoopPlan::once`).
    pub(super) once_tape_of: BTreeMap<Value, Ident>,
    /// The closure's parameter for the adjoint of a tuple output.
    pub(super) seed_name: Option<Ident>,
    /// How many loops enclose the code being written: tapes are reserved outside all loops,
    /// where one reservation covers the whole loop.
    pub(super) loop_depth: usize,
    /// Whether each parameter is a reference, which the pullback takes again.
    pub(super) ref_params: Vec<bool>,
    pub(super) defs: BTreeMap<Value, &'a Inst>,
    /// Active values of a type the macro cannot see, checked to be floats where a rule takes
    /// them ([`super::forward::unseen_types`]).
    pub(super) unseen_types: BTreeMap<Value, Span>,
    /// Values stored into arrays of numbers, checked as such where they are among those.
    pub(super) stored_elements: BTreeSet<Value>,
    /// The loop whose backward iterations run inside its forward ones, until it is written.
    pub(super) fused: Option<Fused<'a>>,
    /// Snapshots the interleaved loop reads in place (`LoopPlan::borrowed`): each stands for
    /// its array, and its adjoint for the array's.
    pub(super) borrowed: BTreeSet<Value>,
    /// Elements of parameters read only for their fields: borrowed (`used::element_refs`).
    pub(super) element_refs: BTreeSet<Value>,
    /// The float type when it is a type parameter: constants are written through `Real`.
    pub(super) generic_float: Option<Ident>,
    /// The locals that sum the additions into array elements of the backward loops being
    /// written (see `LoopPlan::sums`), innermost last.
    pub(super) sums: Vec<(Mem, Vec<Operand>, Ident)>,
    /// The subslices that the accesses of the loops being written go through (see
    /// `windows.rs`), innermost last.
    pub(super) windows: Vec<super::windows::Window>,
    /// Loop-local `Vec`s built from pools (see `pools.rs`), and the pools declared so far.
    pub(super) pooled: BTreeMap<Mem, super::pools::Pooled>,
    pub(super) pools: BTreeMap<Mem, Ident>,
}

/// What `loop_forward` needs to write a fused loop (see [`sweeps`]).
pub(super) struct Fused<'a> {
    /// The loop's `count` value.
    pub(super) id: Value,
    /// The backward statements before the loop, written just before it.
    pub(super) before: Vec<TokenStream>,
    /// The backward loop's body.
    pub(super) body: &'a [BwdStmt],
    pub(super) writes: BTreeMap<Value, usize>,
    pub(super) declared: BTreeSet<Value>,
    pub(super) slot_names: Vec<TokenStream>,
}

impl<'a> Writer<'a> {
    /// The closure's slot parameter for each parameter that receives a gradient.
    pub(super) fn slots(&mut self, sig: &Signature) -> Vec<Option<Ident>> {
        let function = self.function;
        sig.params
            .iter()
            .enumerate()
            .map(|(index, param)| {
                let receives = match function.params[index] {
                    ParamRef::Value(_) => self
                        .backward
                        .stmts
                        .iter()
                        .any(|s| matches!(s, BwdStmt::Output { param, .. } if *param == index)),
                    ParamRef::Mem(mem) => self.activity.active_mem(mem),
                };
                receives.then(|| {
                    self.names
                        .fresh(&format!("grad_{}", param.ident), param.ident.span())
                })
            })
            .collect()
    }

    /// Sets up the fusion of the loop at `backward.stmts[k]` (the last statement of the body):
    /// returns the seed's pattern, and what writing the backward statements after the loop
    /// needs once the forward sweep is written (which names the variables they read).
    /// Writes the backward statements that run before the fused loop `k` of the backward
    /// statements and returns the seed's pattern, the adjoints' write counts, what is declared
    /// by then, and the backward statements that run after the forward sweep, in order.
    ///
    /// Before the loop run: the adjoints of the arrays declared before it, the seed, the chain
    /// from the seed to the loop's sum ([`Backward::seed_chain`], with the passive values its
    /// adjoints read computed first), and a zero for every adjoint
    /// the loop adds into that is not declared by then. The rest of what the reverse pass put
    /// before the loop (the backward statements of what follows the loop) runs after the
    /// forward sweep, adding into the adjoints already declared.
    pub(super) fn prepare_fusion(
        &mut self,
        k: usize,
        slot_names: &[TokenStream],
    ) -> (
        TokenStream,
        BTreeMap<Value, usize>,
        BTreeSet<Value>,
        Vec<&'a BwdStmt>,
    ) {
        let function: &'a Function = self.function;
        let backward: &'a Backward = self.backward;
        let stmts = &backward.stmts;
        let BwdStmt::Loop(bwd_loop) = &stmts[k] else {
            unreachable!("the interleaved loop is a loop")
        };
        let position = function
            .body
            .stmts
            .iter()
            .position(|s| matches!(s, Stmt::Loop(l) if l.count == bwd_loop.id))
            .expect("the interleaved loop is at the top level");
        let Stmt::Loop(loop_) = &function.body.stmts[position] else {
            unreachable!("found as a loop")
        };
        // The names the forward loop gives its carried variables, before anything names them.
        for c in &loop_.carried {
            let slot = self.name(c.result);
            self.names.values.insert(c.param, slot);
        }
        let early_mems: BTreeSet<Mem> = function.body.stmts[..position]
            .iter()
            .filter_map(|stmt| match stmt {
                Stmt::MemInit(init) if init.declare => Some(init.mem),
                _ => None,
            })
            .collect();
        let late_values = defined_in_stmts(&function.body.stmts[position + 1..]);
        let chain: BTreeSet<Value> = backward.seed_chain.values.iter().copied().collect();
        let (early, late): (Vec<&'a BwdStmt>, Vec<&'a BwdStmt>) =
            stmts[..k].iter().partition(|stmt| match stmt {
                BwdStmt::ZeroMem { mem, .. } => early_mems.contains(mem),
                BwdStmt::Add {
                    term: Term::Seed(_),
                    ..
                } => true,
                BwdStmt::Add { target, .. } => chain.contains(target),
                BwdStmt::Zero(target) => !late_values.contains(target),
                _ => false,
            });
        let mut writes = BTreeMap::<Value, usize>::new();
        count_writes(stmts, &mut writes);
        let seed = self.seed_pattern(&writes);
        let mut declared = BTreeSet::new();
        // The passive values after the loop that the chain's adjoints read (`n as f64`).
        let mut before: Vec<TokenStream> = backward
            .seed_chain
            .precomputed
            .iter()
            .filter_map(|v| self.inst(self.defs[v], true))
            .collect();
        before.extend(self.backward_stmts(early, &writes, &mut declared, slot_names));
        // What the loop adds into outside itself exists before it.
        let inside = defined_in(&loop_.body);
        let mut targets = BTreeMap::new();
        count_writes(&bwd_loop.body, &mut targets);
        for target in targets.into_keys() {
            if !inside.contains(&target) && declared.insert(target) {
                before.push(self.zero_adjoint(target));
            }
        }
        let predeclared = declared.clone();
        let after = late
            .into_iter()
            .filter(|stmt| !matches!(stmt, BwdStmt::Zero(v) if predeclared.contains(v)))
            .chain(&stmts[k + 1..])
            .collect();
        self.borrowed = backward.loops[&bwd_loop.id].borrowed.clone();
        self.fused = Some(Fused {
            id: bwd_loop.id,
            before,
            body: &bwd_loop.body,
            writes: writes.clone(),
            declared: declared.clone(),
            slot_names: slot_names.to_vec(),
        });
        (seed, writes, declared, after)
    }

    pub(super) fn name(&mut self, value: Value) -> Ident {
        self.names.value(self.function, value)
    }

    /// The pool of a pooled `Vec`, declared with the tapes on first use.
    pub(super) fn pool(&mut self, mem: Mem) -> Ident {
        if let Some(pool) = self.pools.get(&mem) {
            return pool.clone();
        }
        let pool = self.names.temp("pool");
        self.tapes
            .push(quote!(let mut #pool = ::std::vec::Vec::new();));
        self.pools.insert(mem, pool.clone());
        pool
    }

    /// `pool.push(a);` for each pooled `Vec` of `loop_` that goes back at the end of its
    /// forward iteration (`taped == false`) or of its backward one.
    pub(super) fn give_back(&mut self, of: Value, taped: bool) -> Vec<TokenStream> {
        let mems: Vec<Mem> = self
            .pooled
            .iter()
            .filter(|(_, p)| p.of == of && p.taped == taped)
            .map(|(mem, _)| *mem)
            .collect();
        mems.into_iter()
            .map(|mem| {
                let (pool, name) = (self.pool(mem), self.mem_name(mem));
                quote!(#pool.push(#name);)
            })
            .collect()
    }

    /// `start..end` (`start..=end` when `inclusive`) of a range loop, `.rev()` when `rev`.
    pub(super) fn range(
        &mut self,
        (start, end): (&Operand, &Operand),
        inclusive: bool,
        rev: bool,
        span: Span,
    ) -> TokenStream {
        let (start, end) = (self.operand(start, span), self.operand(end, span));
        let range = if inclusive {
            quote!(#start..=#end)
        } else {
            quote!(#start..#end)
        };
        if rev { quote!((#range).rev()) } else { range }
    }

    /// `m_at`: where the running value of loop `of` last changed (see [`Need::Winner`]).
    pub(super) fn winner_name(&mut self, of: Value) -> Ident {
        let running = self.backward.loops[&of]
            .winner
            .and_then(|w| self.function.values[w.inst.index()].name.clone())
            .unwrap_or_else(|| "running".to_owned());
        self.names
            .derived(names::Derived::Winner(of), || format!("{running}_at"))
    }

    /// A memory as a place: `a`, or `this.layer1.w` for a field of a struct.
    pub(super) fn mem_name(&mut self, mem: Mem) -> TokenStream {
        match &self.function.mems[mem.index()].field {
            Some((root, path)) => {
                let root = self.names.mem(self.function, *root);
                quote!(#root #(.#path)*)
            }
            None => self.names.mem(self.function, mem).into_token_stream(),
        }
    }

    /// A memory's adjoint as a place: `d_a`, or `d_this.layer1.w`.
    /// The adjoint a pullback adds an argument's gradient into, as a place expression.
    pub(super) fn target_place(&mut self, target: &Target) -> TokenStream {
        match target {
            Target::Value(v) if self.borrowed.contains(v) => {
                let (mem, prefix) = self.snapshot_source(*v);
                self.target_place(&Target::Mem(mem, prefix))
            }
            Target::Value(v) => self.names.adjoint(self.function, *v).into_token_stream(),
            Target::Mem(mem, prefix) => {
                let name = self.mem_adjoint(*mem);
                let indices = self.indices(prefix);
                if indices.is_empty()
                    && self.is_param_mem(*mem)
                    && self.function.mems[mem.index()].field.is_none()
                {
                    quote!(*#name)
                } else {
                    quote!(#name #([#indices])*)
                }
            }
        }
    }

    /// The array, or row of one, a snapshot copies.
    pub(super) fn snapshot_source(&self, snapshot: Value) -> (Mem, Vec<Operand>) {
        match self.defs[&snapshot] {
            Inst {
                op: crate::ir::Op::Snapshot(mem),
                args,
                ..
            } => (*mem, args.clone()),
            _ => unreachable!("a borrowed value is a snapshot"),
        }
    }

    /// What borrowing a target's adjoint mutably borrows: a value, or a memory's root and field
    /// path (indices borrow the whole array).
    pub(super) fn borrow_key(&self, target: &Target) -> Borrow {
        match target {
            Target::Value(v) if self.borrowed.contains(v) => {
                let (mem, prefix) = self.snapshot_source(*v);
                self.borrow_key(&Target::Mem(mem, prefix))
            }
            Target::Value(v) => Borrow::Value(*v),
            Target::Mem(mem, _) => match &self.function.mems[mem.index()].field {
                Some((root, path)) => Borrow::Mem(*root, path.clone()),
                None => Borrow::Mem(*mem, Vec::new()),
            },
        }
    }

    pub(super) fn mem_adjoint(&mut self, mem: Mem) -> TokenStream {
        match &self.function.mems[mem.index()].field {
            Some((root, path)) => {
                let root = self.names.mem_adjoint(self.function, *root);
                quote!(#root #(.#path)*)
            }
            None => self
                .names
                .mem_adjoint(self.function, mem)
                .into_token_stream(),
        }
    }

    pub(super) fn is_param_mem(&self, mem: Mem) -> bool {
        self.function.mems[mem.index()].param.is_some()
    }

    /// An operand as one token tree.
    pub(super) fn operand(&mut self, operand: &Operand, span: Span) -> TokenStream {
        match operand {
            Operand::Value(value) if self.borrowed.contains(value) => {
                let (mem, prefix) = self.snapshot_source(*value);
                self.operand(&Operand::Mem(mem, prefix), span)
            }
            Operand::Value(value) => {
                let mut ident = self.name(*value);
                ident.set_span(ident.span().located_at(span));
                quote!(#ident)
            }
            Operand::Const(c) => c.parenthesized(),
            Operand::Bool(b) => quote!(#b),
            Operand::Range(start, end) => {
                let (start, end) = (self.operand(start, span), self.operand(end, span));
                quote!(#start..#end)
            }
            Operand::Index(k) => quote!(#k),
            Operand::Undef => {
                let private = private();
                quote!(#private::dummy())
            }
            Operand::Poison => quote!(()),
            Operand::Mem(mem, prefix) => {
                let name = self.mem_name(*mem);
                let indices: Vec<TokenStream> =
                    prefix.iter().map(|i| self.operand(i, span)).collect();
                quote!(#name #([#indices])*)
            }
        }
    }

    pub(super) fn indices(&mut self, indices: &[Operand]) -> Vec<TokenStream> {
        indices
            .iter()
            .map(|i| self.operand(i, Span::call_site()))
            .collect()
    }

    pub(super) fn output(&mut self, output: &Output) -> TokenStream {
        match output {
            Output::Operand(op) | Output::Passive(op) => self.operand(op, Span::call_site()),
            Output::Tuple(parts) => {
                let parts: Vec<TokenStream> = parts.iter().map(|p| self.output(p)).collect();
                quote!((#(#parts,)*))
            }
            // An array the backward sweep keeps is returned as a copy: one part of a tuple
            // (`(nx, nv)`) may have been computed from another.
            Output::Mem(mem) if self.backward.captured.contains(&Need::Mem(*mem)) => {
                let name = self.mem_name(*mem);
                quote!(::core::clone::Clone::clone(&#name))
            }
            Output::Mem(mem) => {
                let name = self.mem_name(*mem);
                quote!(#name)
            }
        }
    }

    /// `Vec`s of zeros as long as the rows of `like`, at most `cap` (see
    /// [`MemInitKind::RowsLike`]).
    pub(super) fn rows_like(
        &mut self,
        like: &Operand,
        cap: Option<&Operand>,
        span: Span,
    ) -> TokenStream {
        let like = self.operand(like, span);
        let zero = self.zero();
        let cap = match cap {
            Some(cap) => self.operand(cap, span),
            None => quote!(usize::MAX),
        };
        let private = private();
        quote!(#private::zero_rows_like(&#like[..], #zero, #cap))
    }

    /// `0.0` in the float type of the function.
    pub(super) fn zero(&self) -> TokenStream {
        match &self.generic_float {
            Some(t) => {
                let private = private();
                quote!(#private::zero::<#t>())
            }
            None => quote!(0.0),
        }
    }

    /// A rule's constants in the float type of the function: in a function generic over it,
    /// each float literal `c` becomes `lit(c)`.
    pub(super) fn typed_constants(&self, tokens: TokenStream) -> TokenStream {
        match &self.generic_float {
            Some(t) => generic_literals(tokens, t),
            None => tokens,
        }
    }
}

/// Each float literal `c` of `tokens` as `::autodiff_core::__private::lit::<T>(c)`.
pub(super) fn generic_literals(tokens: TokenStream, t: &Ident) -> TokenStream {
    use proc_macro2::TokenTree;
    // A literal already written `lit::<T>(c)` (a constant of forward mode's instructions) is
    // left as it is.
    let mut after_lit = 0;
    tokens
        .into_iter()
        .flat_map(|tt| -> Vec<TokenTree> {
            let within = after_lit > 0;
            after_lit = match &tt {
                TokenTree::Ident(ident) if ident == "lit" => 1,
                TokenTree::Group(_) => 0,
                _ if within => after_lit + 1,
                _ => 0,
            };
            if within && matches!(tt, TokenTree::Group(_)) {
                return vec![tt];
            }
            match tt {
                TokenTree::Literal(lit)
                    if matches!(syn::Lit::new(lit.clone()), syn::Lit::Float(_)) =>
                {
                    let private = private();
                    quote!(#private::lit::<#t>(#lit)).into_iter().collect()
                }
                TokenTree::Group(group) => {
                    let mut new = proc_macro2::Group::new(
                        group.delimiter(),
                        generic_literals(group.stream(), t),
                    );
                    new.set_span(group.span());
                    vec![TokenTree::Group(new)]
                }
                other => vec![other],
            }
        })
        .collect()
}
