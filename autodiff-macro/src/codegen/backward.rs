//! The backward sweep: each backward statement as Rust.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};

use crate::ir::visit::{find_mem_init, mems_declared_in};
use crate::ir::{LoopKind, Mem, MemInitKind, Op, Operand, Output, Stmt, Value};
use crate::reverse::{At, BwdIf, BwdLoop, BwdStmt, Target, Term};

impl<'a> Writer<'a> {
    /// The backward sweep's statements, and the pattern that binds the seed (the output's
    /// adjoint) as the closure's first parameter.
    pub(super) fn backward(
        &mut self,
        slot_names: &[TokenStream],
    ) -> (TokenStream, Vec<TokenStream>) {
        let mut writes = BTreeMap::<Value, usize>::new();
        count_writes(&self.backward.stmts, &mut writes);
        let seed = self.seed_pattern(&writes);
        let mut declared = BTreeSet::new();
        let stmts = self.backward_stmts(&self.backward.stmts, &writes, &mut declared, slot_names);
        (seed, stmts)
    }

    /// The pattern that binds the seed: the output's adjoint.
    pub(super) fn seed_pattern(&mut self, writes: &BTreeMap<Value, usize>) -> TokenStream {
        let function = self.function;
        match &function.output {
            Output::Operand(op) => match self.activity.active_operand(op) {
                Some(value) => {
                    let name = self.names.adjoint(function, value);
                    if writes.get(&value).copied().unwrap_or(0) > 1 {
                        quote!(mut #name)
                    } else {
                        quote!(#name)
                    }
                }
                None => quote!(_),
            },
            Output::Tuple(_) | Output::Passive(_) => {
                let name = self.names.fresh("d_out", Span::call_site());
                self.seed_name = Some(name.clone());
                quote!(#name)
            }
            Output::Mem(mem) => {
                let name = self.mem_adjoint(*mem);
                quote!(mut #name)
            }
        }
    }

    pub(super) fn backward_stmts<'s>(
        &mut self,
        stmts: impl IntoIterator<Item = &'s BwdStmt>,
        writes: &BTreeMap<Value, usize>,
        declared: &mut BTreeSet<Value>,
        slot_names: &[TokenStream],
    ) -> Vec<TokenStream> {
        let function = self.function;
        let mut out = Vec::new();
        // Adjoints of loop-local `Vec`s that go back to their spare storage at the region's end.
        let mut give_back = Vec::new();
        let mut stmts = stmts.into_iter().peekable();
        while let Some(stmt) = stmts.next() {
            match stmt {
                BwdStmt::ZeroMem { mem, len } if self.reusable_len(*mem, *len).is_some() => {
                    let len = self.reusable_len(*mem, *len).expect("checked by the guard");
                    let name = self.names.mem_adjoint(function, *mem);
                    let spare = self.names.temp("spare");
                    let private = private();
                    self.tapes
                        .push(quote!(let mut #spare = ::std::vec::Vec::new();));
                    let zero = self.zero();
                    out.push(
                        quote!(let mut #name = #private::zeroed_vec(&mut #spare, #zero, #len);),
                    );
                    give_back.push(quote!(#spare = #name;));
                }
                // `d = 0.0; d += term;` is `d = term;`: the addition to zero is not free (it
                // turns `-0.0` into `0.0`, so the compiler keeps it, on a loop-carried chain).
                BwdStmt::Reset { target, .. }
                    if matches!(stmts.peek(), Some(BwdStmt::Add { target: next, term })
                        if next == target && !reads_adjoint(term, *target)) =>
                {
                    let Some(BwdStmt::Add { term, .. }) = stmts.next() else {
                        unreachable!("peeked")
                    };
                    let name = self.names.adjoint(function, *target);
                    let term = self.term(term);
                    out.push(quote!(#name = #term;));
                }
                // The closure's parameter is the output's adjoint.
                BwdStmt::Add {
                    target,
                    term: Term::Seed(path),
                } if path.is_empty() && self.seed_name.is_none() => {
                    declared.insert(*target);
                }
                // A borrowed snapshot's adjoint is its array's (see `LoopPlan::borrowed`).
                BwdStmt::Zero(v) | BwdStmt::AddSnapshot { source: v, .. }
                    if self.borrowed.contains(v) => {}
                BwdStmt::Zero(target) => {
                    declared.insert(*target);
                    out.push(self.zero_adjoint(*target));
                }
                BwdStmt::Add { target, term } => {
                    out.push(self.add_to_adjoint(*target, term, writes, declared))
                }
                BwdStmt::AddAt { target, at, term } => {
                    out.push(self.add_to_part(*target, at, term))
                }
                BwdStmt::Reset { target, like } => out.push(self.reset_adjoint(*target, *like)),
                BwdStmt::ZeroCarried(target) => {
                    let (private, name) = (private(), self.names.adjoint(function, *target));
                    out.push(quote!(#private::zero_carried_floats(&mut #name);));
                }
                BwdStmt::ZeroField { target, member } => {
                    let (private, name) = (private(), self.names.adjoint(function, *target));
                    out.push(quote!(#name.#member = #private::constant_tangent(&#name.#member);));
                }
                BwdStmt::ZeroMem { .. }
                | BwdStmt::AddToMem { .. }
                | BwdStmt::ResetMemElem { .. }
                | BwdStmt::AddMem { .. }
                | BwdStmt::AddSnapshot { .. }
                | BwdStmt::AddMemToValue { .. }
                | BwdStmt::SeedMem { .. }
                | BwdStmt::ResetMem { .. } => out.push(self.mem_adjoint_stmt(stmt)),
                BwdStmt::Pullback { call, targets } => out.push(self.pullback_call(*call, targets)),
                BwdStmt::Output { param, value } => {
                    let slot = &slot_names[*param];
                    let name = self.names.adjoint(function, *value);
                    out.push(quote!(#slot.accumulate(#name);));
                }
                BwdStmt::If(bwd_if) => {
                    out.push(self.if_backward(bwd_if, writes, declared, slot_names))
                }
                BwdStmt::Loop(bwd_loop) => {
                    out.push(self.loop_backward(bwd_loop, writes, declared, slot_names))
                }
            }
        }
        out.extend(give_back);
        out
    }

    /// The length of the adjoint of a one-dimensional `Vec` declared inside a loop, whose
    /// storage the next iteration can reuse.
    fn reusable_len(&mut self, mem: Mem, len: Option<Value>) -> Option<TokenStream> {
        let function = self.function;
        let mut in_a_loop = false;
        function.body.walk(&mut |stmt| {
            in_a_loop |= matches!(stmt, Stmt::Loop(l) if mems_declared_in(&l.body).contains(&mem));
        });
        if !function.mems[mem.index()].vec || !in_a_loop {
            return None;
        }
        if let Some(len) = len {
            return Some(self.name(len).into_token_stream());
        }
        match find_mem_init(&function.body, mem)? {
            MemInitKind::Repeat { lens, vecs, .. } if lens.len() == 1 && vecs[..] == [true] => {
                Some(self.operand(&lens[0], Span::call_site()))
            }
            MemInitKind::List { elems, row: None } => {
                let len = elems.len();
                Some(quote!(#len))
            }
            _ => None,
        }
    }

    /// `let mut d_x = 0.0;`, or a zero shaped like `x` for an array or a tuple.
    pub(super) fn zero_adjoint(&mut self, target: Value) -> TokenStream {
        let function = self.function;
        let private = private();
        let name = self.names.adjoint(function, target);
        if function.values[target.index()].aggregate {
            let primal = self.name(target);
            let zero = quote!(#private::zero_grad(&#primal));
            // A value of a type that is not `Differentiable` is reported where it is made.
            let zero = match self.defs.get(&target) {
                Some(inst) => located_at(zero, inst.span),
                None => zero,
            };
            quote!(let mut #name = #zero;)
        } else {
            let zero = self.zero();
            quote!(let mut #name = #zero;)
        }
    }

    /// `d_x += term`; the first write declares `d_x`, mutable if more writes follow.
    fn add_to_adjoint(
        &mut self,
        target: Value,
        term: &Term,
        writes: &BTreeMap<Value, usize>,
        declared: &mut BTreeSet<Value>,
    ) -> TokenStream {
        let function = self.function;
        let private = private();
        let term = self.term(term);
        let name = self.names.adjoint(function, target);
        if declared.insert(target) {
            let mutable = writes.get(&target).copied().unwrap_or(0) > 1;
            if mutable {
                quote!(let mut #name = #term;)
            } else {
                quote!(let #name = #term;)
            }
        } else if function.values[target.index()].aggregate {
            quote!(#private::AddGrad::add_grad(&mut #name, #term);)
        } else {
            quote!(#name += #term;)
        }
    }

    /// `d_x.0 += term`, `d_x[i] += term`: into a part of a tuple's or an array's adjoint.
    fn add_to_part(&mut self, target: Value, at: &At, term: &Term) -> TokenStream {
        let function = self.function;
        let private = private();
        // A part that is itself an array or a tuple (a row of a matrix, an array in a tuple) adds
        // elementwise.
        let whole = matches!(term, Term::Adjoint(v) if function.values[v.index()].aggregate
            || self.unseen_shape(*v));
        let term = self.term(term);
        let name = self.names.adjoint(function, target);
        let at = match at {
            At::Field(member) => quote!(.#member),
            At::Index(i) => {
                let i = self.operand(i, Span::call_site());
                quote!([#i])
            }
            At::FieldIndex(member, i) => {
                let i = self.operand(i, Span::call_site());
                quote!(.#member[#i])
            }
        };
        if whole {
            quote!(#private::AddGrad::add_grad(&mut #name #at, #term);)
        } else {
            quote!(#name #at += #term;)
        }
    }

    /// A part taken whole from a struct or a call's result (`t.w`) whose type the macro cannot
    /// see and no rule takes as a number: it may be an array, so it adds through `AddGrad`.
    fn unseen_shape(&self, value: Value) -> bool {
        let mut value = value;
        loop {
            if self.unseen_types.contains_key(&value) {
                return false;
            }
            match self
                .defs
                .get(&value)
                .map(|inst| (&inst.op, inst.arg_values().next()))
            {
                Some((Op::Copy, Some(from))) => value = from,
                Some((Op::Field(_) | Op::Index | Op::Call { .. }, _)) => return true,
                _ => return false,
            }
        }
    }

    /// `d_x = 0.0`, or a zero shaped like `like`.
    fn reset_adjoint(&mut self, target: Value, like: Option<Value>) -> TokenStream {
        let private = private();
        let name = self.names.adjoint(self.function, target);
        match like {
            Some(like) => {
                let like = self.name(like);
                quote!(#name = #private::zero_grad(&#like);)
            }
            None => {
                let zero = self.zero();
                quote!(#name = #zero;)
            }
        }
    }

    /// The call of a callee's pullback, with a slot for each argument's adjoint.
    fn pullback_call(&mut self, call: Value, targets: &[Option<Target>]) -> TokenStream {
        let function = self.function;
        let private = private();
        let pullback = self.names.pullback(function, call);
        let d_call = self.names.adjoint(function, call);
        // An adjoint given to two arguments (`f(a, a)`) cannot be borrowed twice: the later
        // argument gets a zero of its own, added in after the call.
        let mut borrowed: Vec<Borrow> = Vec::new();
        let mut separate = Vec::new();
        let mut slots = Vec::new();
        for target in targets {
            let Some(target) = target else {
                slots.push(quote!(#private::no_slot()));
                continue;
            };
            let place = self.target_place(target);
            let key = self.borrow_key(target);
            if borrowed.iter().any(|b| overlapping(b, &key)) {
                let scratch = self.names.fresh("separate", Span::call_site());
                slots.push(quote!(#private::slot(&mut #scratch)));
                separate.push((scratch, place));
            } else {
                slots.push(quote!(#private::slot(&mut #place)));
                borrowed.push(key);
            }
        }
        let again = self.pullback_ref_args(call);
        // An argument the callee does not differentiate is reported at the call.
        let span = self.defs[&call].span;
        let mut invoke = located_at(quote!(#pullback(#(#again,)* #d_call, #(#slots),*);), span);
        // A seed that may be zero because the result is not used on the path taken.
        if !self.backward.reached.contains(&call) {
            invoke = quote!(if #private::nonzero(&#d_call) { #invoke });
        }
        if separate.is_empty() {
            invoke
        } else {
            let (scratch, place): (Vec<_>, Vec<_>) = separate.into_iter().unzip();
            quote! {{
                #(let mut #scratch = #private::Grad::zero_grad(&#place);)*
                #invoke
                #(#private::AddGrad::add_grad(&mut #place, #scratch);)*
            }}
        }
    }

    /// The arguments a call passed by reference, passed again to its pullback.
    pub(super) fn pullback_ref_args(&mut self, call: Value) -> Vec<TokenStream> {
        let inst = self.defs[&call];
        let Op::Call {
            by_ref, tangents, ..
        } = &inst.op
        else {
            unreachable!("a pullback belongs to a call")
        };
        let mut out = Vec::new();
        let n = if *tangents {
            inst.args.len() / 2
        } else {
            inst.args.len()
        };
        for (arg, by_ref) in inst.args[..n].iter().zip(by_ref) {
            if !*by_ref {
                continue;
            }
            let tokens = self.operand(arg, inst.span);
            out.push(match arg {
                // The caller's own reference parameters are references already.
                Operand::Value(v) if self.function.values[v.index()].by_ref => tokens,
                Operand::Mem(mem, prefix) if prefix.is_empty() && self.is_ref_param_mem(*mem) => {
                    tokens
                }
                // A borrow already: re-borrowed, to coerce as the call's argument did.
                Operand::Value(v) if self.element_refs.contains(v) => quote!(&*#tokens),
                _ => quote!(&#tokens),
            });
        }
        // A callee's forward mode takes the tangents of its reference parameters again.
        if *tangents {
            let again = self.tangent_args(&inst.args[n..], &by_ref[n..], inst.span);
            out.extend(
                again
                    .into_iter()
                    .zip(&by_ref[n..])
                    .filter(|(_, by_ref)| **by_ref)
                    .map(|(tokens, _)| tokens),
            );
        }
        out
    }

    pub(super) fn if_backward(
        &mut self,
        bwd_if: &BwdIf,
        writes: &BTreeMap<Value, usize>,
        declared: &BTreeSet<Value>,
        slot_names: &[TokenStream],
    ) -> TokenStream {
        let plan = &self.backward.ifs[&bwd_if.record];
        let (by_cond, then_record, else_record) = (
            plan.by_cond(),
            plan.then_record.clone(),
            plan.else_record.clone(),
        );
        let remat = |writer: &mut Self, values: &[Value]| -> Vec<TokenStream> {
            values
                .iter()
                .filter_map(|v| writer.inst(writer.defs[v], true))
                .collect()
        };
        let (then_remat, else_remat) = (
            remat(self, &plan.then_remat.clone()),
            remat(self, &plan.else_remat.clone()),
        );
        let then_stmts = self.backward_stmts(
            &bwd_if.then_stmts,
            writes,
            &mut declared.clone(),
            slot_names,
        );
        let else_stmts = self.backward_stmts(
            &bwd_if.else_stmts,
            writes,
            &mut declared.clone(),
            slot_names,
        );
        let then_stmts: Vec<TokenStream> = then_remat.into_iter().chain(then_stmts).collect();
        let else_stmts: Vec<TokenStream> = else_remat.into_iter().chain(else_stmts).collect();
        if by_cond {
            let cond = self.operand(&bwd_if.cond, Span::call_site());
            if else_stmts.is_empty() {
                return quote!(if #cond { #(#then_stmts)* });
            }
            return quote!(if #cond { #(#then_stmts)* } else { #(#else_stmts)* });
        }
        let private = private();
        let record = match self.tape_of.get(&bwd_if.record) {
            Some(tape) => quote!(#tape.pop()),
            None => self.name(bwd_if.record).into_token_stream(),
        };
        let then_pattern = self.record_tuple(&then_record);
        let else_pattern = self.record_tuple(&else_record);
        quote! {
            match #record {
                #private::Branch::Then(#then_pattern) => { #(#then_stmts)* }
                #private::Branch::Else(#else_pattern) => { #(#else_stmts)* }
            }
        }
    }

    pub(super) fn loop_backward(
        &mut self,
        bwd_loop: &BwdLoop,
        writes: &BTreeMap<Value, usize>,
        declared: &BTreeSet<Value>,
        slot_names: &[TokenStream],
    ) -> TokenStream {
        let function = self.function;
        let loop_ = crate::ir::visit::find_loop(&function.body, bwd_loop.id)
            .expect("a backward loop has a forward loop");
        let plan = &self.backward.loops[&bwd_loop.id];
        let (by_count, index_read, record, once, remat) = (
            plan.by_count,
            plan.index_read,
            plan.record.clone(),
            plan.once.clone(),
            plan.remat.clone(),
        );
        // Whether the loop runs at all: the element a sum goes to is only known to exist then.
        let mut runs = quote!(true);
        let head = match (&loop_.kind, by_count) {
            // The winning iteration alone, if there is one.
            (LoopKind::Range { index, .. }, false) if plan.sparse => {
                let index = self.name(*index);
                let at = self.winner_name(bwd_loop.id);
                quote!(if let ::core::option::Option::Some(#index) = #at)
            }
            (
                LoopKind::Range {
                    index,
                    start,
                    end,
                    inclusive,
                    reversed,
                },
                false,
            ) => {
                let index = if index_read {
                    self.name(*index).into_token_stream()
                } else {
                    quote!(_)
                };
                let range = self.range((start, end), *inclusive, !*reversed, Span::call_site());
                runs = self.runs(loop_);
                quote!(for #index in #range)
            }
            _ => {
                let count = self.name(loop_.count);
                runs = quote!(#count != 0);
                quote!(for _ in 0..#count)
            }
        };
        // Counters start from their values after the loop and step back at the start of each
        // backward iteration.
        let mut counters = Vec::new();
        let mut count_back = Vec::new();
        // Under names of their own: the forward sweep may read the counters' values after the
        // loop (the backward iterations of an inner loop run inside the forward ones of an
        // outer loop), and shares one name between a counter's parameter and its result.
        let mut forward_names = Vec::new();
        for counter in &plan.counters {
            let result = self.name(counter.result);
            let base = result.to_string();
            let base = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
            let param = self.names.fresh(base, Span::call_site());
            let forward = self.names.values.insert(counter.param, param.clone());
            forward_names.push((counter.param, forward));
            counters.push(quote!(let mut #param = #result;));
            let step = proc_macro2::Literal::u128_unsuffixed(counter.step.unsigned_abs());
            count_back.push(match counter.step {
                0 => quote!(),
                1.. => quote!(#param -= #step;),
                _ => quote!(#param += #step;),
            });
        }
        let pop = self.tape_of.get(&bwd_loop.id).cloned().map(|tape| {
            let pattern = self.record_tuple(&record);
            let same: Vec<TokenStream> = plan
                .same
                .iter()
                .map(|(load, first)| {
                    // A struct or an array read twice: a copy, the first stays readable.
                    let aggregate = self.function.values[load.index()].aggregate
                        || self.function.values[first.index()].aggregate;
                    let (load, first) = (self.name(*load), self.name(*first));
                    match aggregate {
                        true => quote!(let #load = ::core::clone::Clone::clone(&#first);),
                        false => quote!(let #load = #first;),
                    }
                })
                .collect();
            quote!(let #pattern = #tape.pop(); #(#same)*)
        });
        let depth = self.windows.len();
        let mut windows = Vec::new();
        let windowed =
            !plan.sparse && self.backward_windows(loop_, plan, &bwd_loop.body, &mut windows);
        let remat: Vec<TokenStream> = remat
            .iter()
            .filter_map(|v| self.inst(self.defs[v], true))
            .collect();
        let sums_depth = self.sums.len();
        let mut sums = Vec::new();
        for (mem, place) in &plan.sums {
            let name = self.names.mem_adjoint(function, *mem);
            let sum = self.names.fresh(&format!("{name}_sum"), Span::call_site());
            let zero = self.zero();
            sums.push(quote!(let mut #sum = #zero;));
            self.sums.push((*mem, place.clone(), sum));
        }
        let body = self.backward_stmts(&bwd_loop.body, writes, &mut declared.clone(), slot_names);
        for (param, forward) in forward_names {
            match forward {
                Some(name) => self.names.values.insert(param, name),
                None => self.names.values.remove(&param),
            };
        }
        self.windows.truncate(depth);
        let taken: Vec<_> = self.sums.drain(sums_depth..).collect();
        let add_sums: Vec<TokenStream> = taken
            .into_iter()
            .map(|(mem, place, sum)| self.add_to_mem(mem, &place, quote!(#sum), false))
            .collect();
        let pop_once = self.once_tape_of.get(&bwd_loop.id).cloned().map(|tape| {
            let pattern = self.record_tuple(&once);
            quote!(let #pattern = #tape.pop();)
        });
        let give_back = self.give_back(bwd_loop.id, true);
        let backward_loop = quote! {
            #(#sums)*
            #(#counters)*
            #head {
                #(#count_back)*
                #pop
                #(#remat)*
                #(#body)*
                #(#give_back)*
            }
        };
        // What the loop keeps once, the element a sum goes to, and a window's elements exist
        // if the loop ran.
        if pop_once.is_some() || !add_sums.is_empty() || windowed {
            quote! {
                if #runs {
                    #pop_once
                    #(#windows)*
                    #backward_loop
                    #(#add_sums)*
                }
            }
        } else {
            backward_loop
        }
    }

    pub(super) fn term(&mut self, term: &Term) -> TokenStream {
        let function = self.function;
        match term {
            Term::Seed(path) => {
                let seed = self
                    .seed_name
                    .clone()
                    .expect("a tuple output has a seed parameter");
                let path = path.iter().map(|k| syn::Index::from(*k as usize));
                quote!(#seed #(.#path)*)
            }
            Term::Adjoint(value) => {
                let name = self.names.adjoint(function, *value);
                quote!(#name)
            }
            Term::Part { of, member, take } => {
                let name = self.names.adjoint(function, *of);
                if *take {
                    let private = private();
                    quote!(#private::take_part(&mut #name.#member))
                } else {
                    quote!(#name.#member)
                }
            }
            Term::MemElem(mem, indices) => {
                let name = self.mem_adjoint(*mem);
                let indices = self.indices(indices);
                quote!(#name #([#indices])*)
            }
            Term::Rule { inst, arg } => {
                let guard = !self.backward.reached.contains(inst);
                let inst = self.defs[inst];
                let Op::Rule { rule, .. } = &inst.op else {
                    unreachable!("rule terms come from rule instructions")
                };
                let args: Vec<TokenStream> = inst
                    .args
                    .iter()
                    .map(|a| self.operand(a, Span::call_site()))
                    .collect();
                let result = self.name(inst.result);
                let dy = self.names.adjoint(function, inst.result);
                let term = rule
                    .rule()
                    .instantiate(*arg, &args, &quote!(#result), &quote!(#dy), guard)
                    .expect("terms exist for differentiable arguments");
                // An error in the rule (a type that is not a float) points at the operation.
                located_at(self.typed_constants(term), inst.span)
            }
            // The rule's `pick(a == y, dy)` and `pick(a != y, dy)`, with the iteration's index
            // compared to the winning one's instead of the values.
            Term::Winner { winner, arg } => {
                let at = self.winner_name(winner.of);
                let index = self.name(winner.index);
                let dy = self.names.adjoint(function, winner.inst);
                let some = quote!(::core::option::Option::Some(#index));
                let cond = if *arg == winner.running {
                    quote!(#at != #some)
                } else {
                    quote!(#at == #some)
                };
                let private = private();
                located_at(
                    quote!(#private::pick(#cond, #dy)),
                    self.defs[&winner.inst].span,
                )
            }
        }
    }
}

/// How many statements write each adjoint: more than one makes it `mut`.
pub(super) fn count_writes(stmts: &[BwdStmt], writes: &mut BTreeMap<Value, usize>) {
    for stmt in stmts {
        match stmt {
            // Taking a part writes the struct's adjoint too.
            BwdStmt::Add {
                target,
                term: Term::Part { of, take: true, .. },
            } => {
                *writes.entry(*target).or_default() += 1;
                *writes.entry(*of).or_default() += 1;
            }
            BwdStmt::Zero(target)
            | BwdStmt::Add { target, .. }
            | BwdStmt::AddAt { target, .. }
            | BwdStmt::ZeroCarried(target)
            | BwdStmt::ZeroField { target, .. }
            | BwdStmt::Reset { target, .. } => *writes.entry(*target).or_default() += 1,
            BwdStmt::Pullback { targets, .. } => {
                for target in targets.iter().flatten() {
                    if let Target::Value(v) = target {
                        *writes.entry(*v).or_default() += 1;
                    }
                }
            }
            BwdStmt::If(bwd_if) => {
                count_writes(&bwd_if.then_stmts, writes);
                count_writes(&bwd_if.else_stmts, writes);
            }
            BwdStmt::Loop(bwd_loop) => count_writes(&bwd_loop.body, writes),
            _ => {}
        }
    }
}

/// Whether a term reads the adjoint of `value`.
pub(super) fn reads_adjoint(term: &Term, value: Value) -> bool {
    match term {
        Term::Adjoint(v) | Term::Rule { inst: v, .. } | Term::Part { of: v, .. } => *v == value,
        Term::Winner { winner, .. } => winner.inst == value,
        Term::Seed(_) | Term::MemElem(..) => false,
    }
}

/// What a mutable borrow of an adjoint borrows.
#[derive(PartialEq)]
pub(super) enum Borrow {
    Value(Value),
    Mem(Mem, Vec<syn::Member>),
}

/// Whether two mutable borrows would overlap: the same value, or one field path extending the
/// other.
pub(super) fn overlapping(a: &Borrow, b: &Borrow) -> bool {
    match (a, b) {
        (Borrow::Mem(a, p), Borrow::Mem(b, q)) => a == b && p.iter().zip(q).all(|(x, y)| x == y),
        _ => a == b,
    }
}

/// `tokens`, reported at `span` (still resolved where they were written).
pub(super) fn located_at(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(group) = &tt {
                let mut new =
                    proc_macro2::Group::new(group.delimiter(), located_at(group.stream(), span));
                new.set_span(group.span().located_at(span));
                tt = proc_macro2::TokenTree::Group(new);
            } else {
                tt.set_span(tt.span().located_at(span));
            }
            tt
        })
        .collect()
}
