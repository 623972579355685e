//! The forward sweep: instructions, arrays, branches and loops as Rust statements.

use super::writer::Fused;
use super::*;
use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};

use crate::ir::{
    Block, Callee, Form, If, Inst, Loop, LoopKind, MemInit, MemInitKind, Op, Opaque, Operand, Stmt,
    Value,
};
use crate::reverse::Need;

impl<'a> Writer<'a> {
    pub(super) fn block(&mut self, block: &Block) -> Vec<TokenStream> {
        let mut out = Vec::new();
        for stmt in &block.stmts {
            match stmt {
                Stmt::Inst(inst) => out.extend(self.inst(inst, false)),
                Stmt::Store(store) if store.push => {
                    let mem = self.mem_name(store.mem);
                    let value = self.operand(&store.value, store.span);
                    out.push(quote_spanned!(store.span=> #mem.push(#value);));
                }
                Stmt::Store(store) => {
                    let mem = self.mem_name(store.mem);
                    let indices = self.indices(&store.indices);
                    let value = self.operand(&store.value, store.span);
                    out.push(quote_spanned!(store.span=> #mem #([#indices])* = #value;));
                }
                Stmt::MemInit(init) => out.push(self.mem_init(init)),
                Stmt::If(if_) => out.push(self.if_forward(if_)),
                Stmt::Loop(loop_) => out.extend(self.loop_forward(loop_)),
            }
        }
        out
    }

    /// `let apple_price = apple * apple_num;`; `force` for a recomputation in the backward sweep.
    pub(super) fn inst(&mut self, inst: &Inst, force: bool) -> Option<TokenStream> {
        let used = self.used.contains(&inst.result) || force;
        if !used && !impure(&inst.op) || self.borrowed.contains(&inst.result) {
            return None;
        }
        let span = inst.span;
        if let Op::Call {
            callee,
            written_ref,
            tangents,
            ..
        } = &inst.op
        {
            if self.activity.active(inst.result) {
                let call = self.call_expr(callee, &inst.args, written_ref, span, true, *tangents);
                let pullback = self.names.pullback(self.function, inst.result);
                let value = if used {
                    self.name(inst.result).into_token_stream()
                } else {
                    quote!(_)
                };
                let check = self
                    .checked_number(inst.result, value.clone())
                    .map(|checked| quote_spanned!(span=> let #value = #checked;));
                return Some(quote_spanned!(span=> let (#value, #pullback) = #call; #check));
            }
        }
        let expr = self.forward_expr(inst);
        let expr = self
            .checked_number(inst.result, expr.clone())
            .unwrap_or(expr);
        if !used {
            return Some(quote_spanned!(span=> #expr;));
        }
        let name = self.name(inst.result);
        Some(match &inst.ty {
            Some(ty) => quote_spanned!(span=> let #name: #ty = #expr;),
            None => quote_spanned!(span=> let #name = #expr;),
        })
    }

    /// `number(tokens)`, located at the rule that takes it, for a value of a type the macro
    /// cannot see that must be a float ([`unseen_types`]); `None` for any other value.
    fn checked_number(&self, value: Value, tokens: TokenStream) -> Option<TokenStream> {
        let at = *self.unseen_types.get(&value)?;
        let private = private();
        let check = match self.stored_elements.contains(&value) {
            true => quote!(#private::element(#tokens)),
            false => quote!(#private::number(#tokens)),
        };
        Some(super::backward::located_at(check, at))
    }

    /// `f(args)`, `recv.m(args)`; with `vjp`, the hidden function instead: `__f_vjp(args)`;
    /// with `tangents`, the callee's forward mode `__f_jvp(args, tangents)` (or its `vjp`).
    pub(super) fn call_expr(
        &mut self,
        callee: &Callee,
        args: &[Operand],
        written_ref: &[bool],
        span: Span,
        vjp: bool,
        tangents: bool,
    ) -> TokenStream {
        let operands = args;
        let args = if tangents {
            let n = args.len() / 2;
            let mut primal = self.call_args(&args[..n], &written_ref[..n], span);
            // A method takes its receiver's tangent by reference, as it takes the receiver.
            let mut tangent_refs = written_ref[n..].to_vec();
            if let (Callee::Method(_), Some(receiver)) = (callee, tangent_refs.first_mut()) {
                *receiver = true;
            }
            primal.extend(self.tangent_args(&args[n..], &tangent_refs, span));
            primal
        } else {
            self.call_args(args, written_ref, span)
        };
        let rename = |ident: &Ident| {
            let ident = if tangents {
                jvp_ident(ident)
            } else {
                ident.clone()
            };
            if vjp { vjp_ident(&ident) } else { ident }
        };
        let call = match callee {
            Callee::Path(func) => {
                let mut func = func.clone();
                let last = func.path.segments.last_mut().expect("a path has a segment");
                last.ident = rename(&last.ident);
                quote!(#func(#(#args),*))
            }
            // The caller cannot see whether the method takes `&self` or `self`: its forward
            // sweep is reached through the form that borrows the receiver in both cases.
            Callee::Method(method) if vjp && !tangents => {
                let method = super::public::method_vjp_ident(method);
                let receiver = self.operand(&operands[0], span);
                let rest = &args[1..];
                quote!(#receiver.#method(#(#rest),*))
            }
            Callee::Method(method) => {
                let method = rename(method);
                let (receiver, rest) = (&args[0], &args[1..]);
                quote!(#receiver.#method(#(#rest),*))
            }
        };
        // A callee without the mode is reported at the call, not at the attribute.
        if tangents {
            super::backward::located_at(call, span)
        } else {
            call
        }
    }

    /// The tangents of a call of a callee's forward mode: `Tangent::Of(t)`, or `Tangent::Zero`
    /// for an argument without one.
    pub(super) fn tangent_args(
        &mut self,
        args: &[Operand],
        written_ref: &[bool],
        span: Span,
    ) -> Vec<TokenStream> {
        let private = private();
        args.iter()
            .zip(written_ref)
            .map(|(arg, by_ref)| match arg {
                Operand::Undef => quote!(#private::Tangent::Zero),
                _ => {
                    let tokens = self.operand(arg, span);
                    let tokens = match arg {
                        Operand::Mem(mem, prefix)
                            if *by_ref && prefix.is_empty() && self.is_ref_param_mem(*mem) =>
                        {
                            tokens
                        }
                        Operand::Value(v) if *by_ref && self.element_refs.contains(v) => {
                            quote!(&*#tokens)
                        }
                        _ if *by_ref => quote!(&#tokens),
                        _ => tokens,
                    };
                    quote!(#private::Tangent::Of(#tokens))
                }
            })
            .collect()
    }

    /// Whether an argument passed by value is cloned, staying where it is.
    fn cloned_when_passed(&self, arg: &Operand) -> bool {
        match arg {
            // A vector: the backward sweep may still read it.
            Operand::Mem(mem, prefix) if prefix.is_empty() => {
                self.function.mems[mem.index()].vec && !self.is_ref_param_mem(*mem)
            }
            // An element of a struct's `Vec` (`.cloned().map(energy)` of `fn energy(a: Atom)`),
            // as the user's `m.atoms[i].clone()` is.
            Operand::Mem(mem, _) => self.function.mems[mem.index()].structured,
            // An array, `Vec` or struct the function holds as a value (a reference parameter is
            // passed as it is, and coerces: `&Vec` to `&[T]`).
            Operand::Value(v) => {
                let data = &self.function.values[v.index()];
                (data.aggregate || data.cloned) && !data.by_ref
            }
            _ => false,
        }
    }

    pub(super) fn call_args(
        &mut self,
        args: &[Operand],
        by_ref: &[bool],
        span: Span,
    ) -> Vec<TokenStream> {
        args.iter()
            .zip(by_ref)
            .map(|(arg, by_ref)| {
                let tokens = self.operand(arg, span);
                match (arg, by_ref) {
                    // A borrow already (`&t.0` of a field read by reference): re-borrowed, so
                    // that it coerces (`&[f64; 3]` to `&[f64]`).
                    (Operand::Value(v), true) if self.element_refs.contains(v) => {
                        quote!(&*#tokens)
                    }
                    (_, true) => quote!(&#tokens),
                    _ if self.cloned_when_passed(arg) => {
                        quote!(::core::clone::Clone::clone(&#tokens))
                    }
                    _ => tokens,
                }
            })
            .collect()
    }

    pub(super) fn forward_expr(&mut self, inst: &Inst) -> TokenStream {
        let span = inst.span;
        let args: Vec<TokenStream> = inst.args.iter().map(|a| self.operand(a, span)).collect();
        match &inst.op {
            // A copy of a struct, a tuple or a `Vec` value is a clone: the source stays usable.
            Op::Copy => self.copy_if_aggregate(inst.result, args[0].clone()),
            Op::Rule { form, .. } => match form {
                Form::Binary(op) => {
                    let (a, b) = (&args[0], &args[1]);
                    quote!(#a #op #b)
                }
                Form::Neg => {
                    let a = &args[0];
                    quote_spanned!(span=> -#a)
                }
                Form::Method(method) => {
                    let receiver = &args[0];
                    let rest = &args[1..];
                    quote!(#receiver.#method(#(#rest),*))
                }
                Form::Path(path) => quote!(#path(#(#args),*)),
                Form::Cast(ty) => {
                    let a = &args[0];
                    quote!(#a as #ty)
                }
            },
            Op::Call {
                callee,
                written_ref,
                tangents,
                ..
            } => self.call_expr(callee, &inst.args, written_ref, span, false, *tangents),
            // A part that is an array or a `Vec` is copied out: the whole stays readable.
            Op::Field(member) if self.element_refs.contains(&inst.result) => {
                let a = &args[0];
                quote!(&#a.#member)
            }
            Op::Field(member) => {
                let a = &args[0];
                self.copy_if_aggregate(inst.result, quote!(#a.#member))
            }
            Op::Struct {
                path,
                members,
                tangent: false,
            } => quote!(#path { #(#members: #args),* }),
            Op::Struct { path, members, .. } => {
                let private = private();
                quote!({
                    let mut tangent = #path { #(#members: #args),* };
                    #private::zero_carried_floats(&mut tangent);
                    tangent
                })
            }
            // Both operands are read before the block binds its names, which may be the
            // user's too.
            Op::WithField { member, tangent } => {
                let (a, v) = (&args[0], &args[1]);
                let zero_carried = tangent.then(|| {
                    let private = private();
                    quote!(#private::zero_carried_floats(&mut with);)
                });
                quote!({
                    let (mut with, field) = (::core::clone::Clone::clone(&#a), #v);
                    with.#member = field;
                    #zero_carried
                    with
                })
            }
            Op::Index if self.element_refs.contains(&inst.result) => {
                let (a, i) = (&args[0], &args[1]);
                quote!(&#a[#i])
            }
            Op::Index => {
                let (a, i) = (&args[0], &args[1]);
                self.copy_if_aggregate(inst.result, quote!(#a[#i]))
            }
            // A struct (or an array field of one), or a row (`let old = m[i];`), read whole is
            // cloned out of it.
            Op::Load(mem) if self.function.values[inst.result.index()].aggregate => {
                let borrow = self.element_refs.contains(&inst.result);
                if args.is_empty() && self.is_ref_param_mem(*mem) {
                    let place = self.mem_name(*mem);
                    return match borrow {
                        true => place,
                        false => quote!(::core::clone::Clone::clone(#place)),
                    };
                }
                let place = self
                    .windowed_place(*mem, false, &inst.args)
                    .unwrap_or_else(|| {
                        let mem = self.mem_name(*mem);
                        quote!(#mem #([#args])*)
                    });
                match borrow {
                    true => quote!(&#place),
                    false => quote!(::core::clone::Clone::clone(&#place)),
                }
            }
            Op::Load(mem) => {
                if let Some(place) = self.windowed_place(*mem, false, &inst.args) {
                    return place;
                }
                let mem = self.mem_name(*mem);
                quote!(#mem #([#args])*)
            }
            Op::Len(mem) => {
                let mem = self.mem_name(*mem);
                quote!(#mem #([#args])*.len())
            }
            Op::Snapshot(mem) => {
                let mem = self.mem_name(*mem);
                let private = private();
                quote!(#private::owned(&#mem #([#args])*))
            }
            // A borrowed element or field stands where the user wrote the place itself
            // (`match it.kind`): read through the borrow, nothing moves out of it.
            Op::Opaque(opaque) => Opaque::map_holes(opaque.expr.clone(), &mut |k| {
                let arg = &args[k];
                match inst.args[k].value() {
                    Some(v) if self.element_refs.contains(&v) => quote!((*#arg)),
                    _ => arg.clone(),
                }
            }),
        }
    }

    /// `place`, cloned when the value is an array, a `Vec` or a tuple (`Clone` of a `Copy`
    /// array is a copy).
    fn copy_if_aggregate(&self, value: Value, place: TokenStream) -> TokenStream {
        let data = &self.function.values[value.index()];
        if data.aggregate || data.cloned {
            quote!(::core::clone::Clone::clone(&#place))
        } else {
            place
        }
    }

    pub(super) fn mem_init(&mut self, init: &MemInit) -> TokenStream {
        let span = init.span;
        let data = &self.function.mems[init.mem.index()];
        let vec = data.vec;
        let name = self.mem_name(init.mem);
        let mutable = if self.backward.written_mems.contains(&init.mem) {
            quote!(mut)
        } else {
            quote!()
        };
        let private = private();
        let value = match &init.kind {
            MemInitKind::Repeat { elem, lens, .. } if self.pooled.contains_key(&init.mem) => {
                let (elem, len) = (self.operand(elem, span), self.operand(&lens[0], span));
                let pool = self.pool(init.mem);
                quote!(#private::reuse_vec(&mut #pool, #elem, #len))
            }
            MemInitKind::Repeat { elem, lens, vecs } => {
                let mut value = self.operand(elem, span);
                for (len, vec) in lens.iter().zip(vecs).rev() {
                    let len = self.operand(len, span);
                    value = if *vec {
                        quote!(::std::vec![#value; #len])
                    } else {
                        quote!([#value; #len])
                    };
                }
                value
            }
            MemInitKind::List { elems, row } => {
                let elems: Vec<TokenStream> = elems.iter().map(|e| self.operand(e, span)).collect();
                let elems: Vec<TokenStream> = match row {
                    Some((n, false)) => elems.chunks(*n).map(|row| quote!([#(#row),*])).collect(),
                    Some((n, true)) => elems
                        .chunks(*n)
                        .map(|row| quote!(::std::vec![#(#row),*]))
                        .collect(),
                    None => elems,
                };
                if vec {
                    quote!(::std::vec![#(#elems),*])
                } else {
                    quote!([#(#elems),*])
                }
            }
            MemInitKind::Copy { src } => {
                let src = self.mem_name(*src);
                if !init.declare {
                    return quote_spanned!(span=> #private::assign(&mut #name, &#src););
                }
                quote!(#private::owned(&#src))
            }
            MemInitKind::Placeholder => quote!(#private::dummy()),
            MemInitKind::ZeroLike(like) => {
                let like = self.operand(like, span);
                quote!(#private::zero_grad(&#like))
            }
            MemInitKind::RowsLike { like, cap } => self.rows_like(like, cap.as_ref(), span),
            MemInitKind::Empty { capacity: None } => quote!(::std::vec::Vec::new()),
            MemInitKind::Empty {
                capacity: Some(capacity),
            } => {
                let capacity = self.operand(capacity, span);
                quote!(::std::vec::Vec::with_capacity(#capacity))
            }
            MemInitKind::FromValue(value) => {
                // Copied, not moved: the backward sweep may still read the value.
                let value = self.name(*value);
                if !init.declare {
                    return quote_spanned!(span=> #private::assign(&mut #name, &#value););
                }
                quote!(#private::owned(&#value))
            }
        };
        match (&init.ty, init.declare) {
            (Some(ty), true) => quote_spanned!(span=> let #mutable #name: #ty = #value;),
            (None, true) => quote_spanned!(span=> let #mutable #name = #value;),
            (_, false) => quote_spanned!(span=> #name = #value;),
        }
    }

    pub(super) fn record_tuple(&mut self, record: &[Need]) -> TokenStream {
        self.record_tuple_keeping(record, &BTreeSet::new())
    }

    /// The record, with the values in `kept` (read again after it is taken: the next values of
    /// a loop's variables) cloned when they may be structs or `Vec`s.
    fn record_tuple_keeping(&mut self, record: &[Need], kept: &BTreeSet<Value>) -> TokenStream {
        let parts: Vec<TokenStream> = record
            .iter()
            .map(|need| match need {
                Need::Value(v) if kept.contains(v) && self.function.values[v.index()].aggregate => {
                    let name = self.name(*v);
                    quote!(::core::clone::Clone::clone(&#name))
                }
                Need::Value(v) => self.name(*v).into_token_stream(),
                Need::Pullback(v) => self.names.pullback(self.function, *v).into_token_stream(),
                Need::Mem(m) => self.mem_name(*m),
                Need::Winner(of) => self.winner_name(*of).into_token_stream(),
            })
            .collect();
        match parts.as_slice() {
            [one] => one.clone(),
            _ => quote!((#(#parts),*)),
        }
    }

    pub(super) fn if_forward(&mut self, if_: &If) -> TokenStream {
        let plan = &self.backward.ifs[&if_.record];
        let record = plan.backward && !plan.by_cond();
        let taped = record && plan.taped;
        let (then_record, else_record) = (plan.then_record.clone(), plan.else_record.clone());
        let cond = self.operand(&if_.cond, if_.span);
        let phis: Vec<&crate::ir::Phi> = if_
            .phis
            .iter()
            .filter(|phi| self.used.contains(&phi.result))
            .collect();
        let mut names: Vec<TokenStream> = phis
            .iter()
            .map(|phi| self.name(phi.result).into_token_stream())
            .collect();
        let private = private();
        // A struct or `Vec` value from before the `if` is cloned, not moved, into the result:
        // it may be read again (its shape by the backward sweep).
        let made_in = |block: &crate::ir::Block| {
            let mut made = BTreeSet::new();
            block.walk(&mut |stmt| {
                if let Stmt::Inst(inst) = stmt {
                    made.insert(inst.result);
                }
            });
            made
        };
        let (made_then, made_else) = (made_in(&if_.then_block), made_in(&if_.else_block));
        let mut arm = |operand: &Operand, made: &BTreeSet<Value>| {
            let tokens = self.operand(operand, if_.span);
            match operand {
                Operand::Value(v) if !made.contains(v) => self.copy_if_aggregate(*v, tokens),
                _ => tokens,
            }
        };
        let mut then_vals: Vec<TokenStream> = phis
            .iter()
            .map(|phi| arm(&phi.then_value, &made_then))
            .collect();
        let mut else_vals: Vec<TokenStream> = phis
            .iter()
            .map(|phi| arm(&phi.else_value, &made_else))
            .collect();
        if record {
            names.push(self.name(if_.record).into_token_stream());
            let then_rec = self.record_tuple(&then_record);
            let else_rec = self.record_tuple(&else_record);
            then_vals.push(quote!(#private::Branch::Then(#then_rec)));
            else_vals.push(quote!(#private::Branch::Else(#else_rec)));
        }
        let then_block = self.block(&if_.then_block);
        let else_block = self.block(&if_.else_block);
        let span = if_.span;
        let tuple = |values: &[TokenStream]| match values {
            [one] => one.clone(),
            _ => quote!((#(#values),*)),
        };
        if names.is_empty() {
            if else_block.is_empty() {
                return quote_spanned!(span=> if #cond { #(#then_block)* });
            }
            return quote_spanned!(span=> if #cond { #(#then_block)* } else { #(#else_block)* });
        }
        let (pattern, then_value, else_value) =
            (tuple(&names), tuple(&then_vals), tuple(&else_vals));
        let push = taped.then(|| {
            let tape = self.names.temp("tape");
            self.tapes
                .push(quote!(let mut #tape = #private::Tape::new();));
            self.tape_of.insert(if_.record, tape.clone());
            let record = self.name(if_.record);
            quote!(#tape.push(#record);)
        });
        quote_spanned! {span=>
            let #pattern = if #cond {
                #(#then_block)*
                #then_value
            } else {
                #(#else_block)*
                #else_value
            };
            #push
        }
    }

    pub(super) fn loop_forward(&mut self, loop_: &Loop) -> Vec<TokenStream> {
        let span = loop_.span;
        let fused = match &self.fused {
            Some(fused) if fused.id == loop_.count => self.fused.take(),
            _ => None,
        };
        let plan = &self.backward.loops[&loop_.count];
        let (backward, by_count, record, once) = (
            plan.backward,
            plan.by_count,
            plan.record.clone(),
            plan.once.clone(),
        );
        let mut out = Vec::new();
        // The carried variables: the parameter and the result share one mutable variable.
        let carried: Vec<&crate::ir::Carried> = loop_
            .carried
            .iter()
            .filter(|c| self.used.contains(&c.result) || self.used.contains(&c.param))
            .collect();
        let mut slots = Vec::new();
        let mut nexts = Vec::new();
        for c in &carried {
            let slot = self.name(c.result);
            self.names.values.insert(c.param, slot.clone());
            let mut init = self.operand(&c.init, span);
            // A struct the loop starts from may be recorded for the backward sweep too.
            if c.init
                .value()
                .is_some_and(|v| self.function.values[v.index()].aggregate)
            {
                init = quote!(::core::clone::Clone::clone(&#init));
            }
            out.push(quote_spanned!(span=> let mut #slot = #init;));
            slots.push(slot);
        }
        let count = (backward && by_count).then(|| {
            let count = self.name(loop_.count);
            out.push(quote_spanned!(span=> let mut #count = 0usize;));
            count
        });
        // Interleaved, the backward iteration reads its forward iteration's values in place.
        let tape = (backward && !record.is_empty() && fused.is_none()).then(|| {
            let tape = self.names.temp("tape");
            let private = private();
            self.tapes
                .push(quote!(let mut #tape = #private::Tape::new();));
            tape
        });
        // What the loop keeps once: the last iteration's, pushed after the loop if it ran.
        let once_tape = (backward && !once.is_empty() && fused.is_none()).then(|| {
            let tape = self.names.temp("tape");
            let kept = self.names.temp("kept");
            let private = private();
            self.tapes
                .push(quote!(let mut #tape = #private::Tape::new();));
            out.push(quote!(let mut #kept = ::core::option::Option::None;));
            (tape, kept)
        });
        let winner = self.keep_winner(loop_, &mut out);
        let head = self.loop_head(loop_, fused.is_some(), tape.as_ref(), &mut out);
        let counting = count.as_ref().map(|count| quote!(#count += 1;));
        let depth = self.windows.len();
        let mut windows = Vec::new();
        let windowed = self.forward_windows(loop_, &mut windows);
        self.loop_depth += 1;
        let body = self.block(&loop_.body);
        self.loop_depth -= 1;
        let scan = self.winner_scan(loop_);
        // The backward iteration, right after the forward one: what it reads is still there.
        let backward_body = match fused {
            Some(fused) => self.interleaved_backward(loop_, fused, &mut out),
            None => Vec::new(),
        };
        self.windows.truncate(depth);
        let next_values: BTreeSet<Value> = carried.iter().filter_map(|c| c.next.value()).collect();
        let mut push = tape.as_ref().map(|tape| {
            let record = self.record_tuple_keeping(&record, &next_values);
            quote!(#tape.push(#record);)
        });
        if let Some((_, kept)) = &once_tape {
            let record = self.record_tuple(&once);
            push = Some(quote!(#push #kept = ::core::option::Option::Some(#record);));
        }
        for c in &carried {
            nexts.push(self.operand(&c.next, span));
        }
        let update = match slots.len() {
            0 => quote!(),
            1 => {
                let (slot, next) = (&slots[0], &nexts[0]);
                quote!(#slot = #next;)
            }
            _ => quote!((#(#slots),*) = (#(#nexts),*);),
        };
        let exit = loop_.exit.as_ref().map(|exit| {
            let exit = self.operand(exit, span);
            quote!(if #exit { break; })
        });
        let give_back = self.give_back(loop_.count, false);
        let forward_loop = quote_spanned! {span=>
            #head {
                #counting
                #(#body)*
                #winner
                #(#backward_body)*
                #push
                #(#give_back)*
                #update
                #exit
            }
        };
        out.push(if windowed {
            let runs = self.runs(loop_);
            quote!(if #runs { #(#windows)* #forward_loop #scan })
        } else {
            quote!(#forward_loop #scan)
        });
        if let Some(tape) = tape {
            self.tape_of.insert(loop_.count, tape);
        }
        if let Some((tape, kept)) = once_tape {
            out.push(quote!(
                if let ::core::option::Option::Some(#kept) = #kept {
                    #tape.push(#kept);
                }
            ));
            self.once_tape_of.insert(loop_.count, tape);
        }
        out
    }

    /// With a [`Winner`](crate::reverse::Winner): `let mut m_at = None;` before the loop, and
    /// the statement at the end of its body that sets it to the index where the other
    /// argument won: where the result is not the running value (the rule gives the adjoint to
    /// its first argument where `a == y`).
    fn keep_winner(&mut self, loop_: &Loop, out: &mut Vec<TokenStream>) -> Option<TokenStream> {
        let plan = &self.backward.loops[&loop_.count];
        let winner = plan.winner.filter(|_| plan.backward)?;
        let scanned = plan.scan.is_some();
        let at = self.winner_name(loop_.count);
        out.push(quote!(let mut #at = ::core::option::Option::None;));
        if scanned {
            return None;
        }
        let inst = self.defs[&winner.inst];
        let (first, result) = (
            self.operand(&inst.args[0], inst.span),
            self.name(winner.inst),
        );
        let index = self.name(winner.index);
        let won = if winner.running == 0 {
            quote!(#first != #result)
        } else {
            quote!(#first == #result)
        };
        Some(quote!(if #won { #at = ::core::option::Option::Some(#index); }))
    }

    /// With [`LoopPlan::scan`](crate::reverse::LoopPlan::scan): after the forward loop, the
    /// search for the iteration where the other argument last won, from the final value.
    fn winner_scan(&mut self, loop_: &Loop) -> Option<TokenStream> {
        let plan = &self.backward.loops[&loop_.count];
        let (winner, slice) = (plan.winner.filter(|_| plan.backward)?, plan.scan.clone()?);
        let LoopKind::Range {
            index,
            start,
            end,
            inclusive,
            reversed,
        } = &loop_.kind
        else {
            return None;
        };
        let carried = loop_
            .carried
            .iter()
            .find(|c| c.next.value() == Some(winner.inst))?;
        let span = loop_.span;
        let inst = self.defs[&winner.inst];
        let other = self.operand(&inst.args[1 - winner.running], inst.span);
        let (last, init) = (self.name(carried.result), self.operand(&carried.init, span));
        let (at, index) = (self.winner_name(loop_.count), self.name(*index));
        // Ties keep the running value: the first equal value won last (the later ones tied).
        // Ties go to the other value: the last equal one did.
        let rev = *reversed == (winner.running == 0);
        let range = self.range((start, end), *inclusive, rev, span);
        let stmts: Vec<TokenStream> = slice
            .iter()
            .filter_map(|v| self.inst(self.defs[v], true))
            .collect();
        let scan = quote_spanned! {span=>
            for #index in #range {
                #(#stmts)*
                if #other == #last {
                    #at = ::core::option::Option::Some(#index);
                    break;
                }
            }
        };
        Some(if winner.running == 0 {
            quote_spanned!(span=> if #last != #init { #scan })
        } else {
            scan
        })
    }

    /// `for i in range` or `loop`; reserves the tape when the trip count is known up front.
    fn loop_head(
        &mut self,
        loop_: &Loop,
        fused: bool,
        tape: Option<&Ident>,
        out: &mut Vec<TokenStream>,
    ) -> TokenStream {
        let span = loop_.span;
        match &loop_.kind {
            LoopKind::Range {
                index,
                start,
                end,
                inclusive,
                reversed,
            } => {
                let index = if self.used.contains(index) || fused {
                    self.name(*index).into_token_stream()
                } else {
                    quote!(_)
                };
                let range = self.range((start, end), *inclusive, *reversed, span);
                if let Some(tape) = tape {
                    if !*reversed && !*inclusive && self.loop_depth == 0 {
                        out.push(
                            quote!(#tape.reserve(::core::iter::Iterator::size_hint(&(#range)).0);),
                        );
                    }
                }
                quote_spanned!(span=> for #index in #range)
            }
            LoopKind::Forever => quote_spanned!(span=> loop),
        }
    }

    /// The backward iteration, right after the forward one: what it reads is still there.
    fn interleaved_backward(
        &mut self,
        loop_: &Loop,
        fused: Fused<'_>,
        out: &mut Vec<TokenStream>,
    ) -> Vec<TokenStream> {
        out.extend(fused.before);
        // What the backward iteration recomputes is there already, unless the forward
        // iteration had no use for it.
        let remat = self.backward.loops[&loop_.count].remat.clone();
        let missing: Vec<Value> = remat
            .into_iter()
            .filter(|v| !self.used.contains(v))
            .collect();
        let mut stmts: Vec<TokenStream> = missing
            .iter()
            .filter_map(|v| self.inst(self.defs[v], true))
            .collect();
        stmts.extend(self.backward_stmts(
            fused.body,
            &fused.writes,
            &mut fused.declared.clone(),
            &fused.slot_names,
        ));
        stmts
    }
}

/// Whether `store` writes one number of an array of numbers (not a struct's field).
fn stores_element(function: &crate::ir::Function, store: &crate::ir::Store) -> bool {
    let mem = &function.mems[store.mem.index()];
    !mem.structured && store.indices.len() >= mem.dims
}

/// The values of a type the macro cannot see (a struct's field or the struct itself, a call's
/// result or a part of one) that a derivative rule takes as numbers, directly or through copies,
/// branches and loop variables: the active ones, and the varied ones a rule without a
/// derivative takes (`floor`). Each is checked to be a float where it is made, since a struct
/// with operators or methods of its own would take the rules silently (a complex `z * z` is not
/// differentiated as a product of reals). Each with the span of a rule that takes it, where
/// rustc reports a struct. Also those of them stored into arrays of numbers, whose check says
/// so: a row or a struct there means a `Vec` of them built element by element.
pub(super) fn unseen_types(
    function: &crate::ir::Function,
    activity: &crate::analysis::Activity,
) -> (BTreeMap<Value, Span>, BTreeSet<Value>) {
    let mut numbers: BTreeMap<Value, Span> = BTreeMap::new();
    let mut stored = BTreeSet::new();
    let mut sources = BTreeSet::new();
    let mut constant_use = BTreeSet::new();
    // What each copy, branch result and loop variable takes its value from.
    let mut links: Vec<(Value, Vec<Value>)> = Vec::new();
    function.body.walk(&mut |stmt| match stmt {
        Stmt::Inst(inst) => match &inst.op {
            Op::Rule { rule, .. } => {
                let adjoints = rule.rule().adjoints;
                let cut = adjoints.iter().all(Option::is_none);
                for (k, v) in inst.args.iter().enumerate() {
                    let Some(v) = v.value() else { continue };
                    // An argument without a derivative beside others with one is typed by the
                    // method (the `i32` exponent of `powi`, a skipped field of a struct).
                    if !cut && adjoints.get(k).is_some_and(Option::is_none) {
                        continue;
                    }
                    numbers.entry(v).or_insert(inst.span);
                    // No derivative flows through the rule, so its argument is not active even
                    // when it varies: a struct's own `floor` would be a constant.
                    if cut {
                        constant_use.insert(v);
                    }
                }
            }
            Op::Load(mem) if function.mems[mem.index()].structured => {
                sources.insert(inst.result);
            }
            Op::Field(_)
            | Op::Index
            | Op::Call { .. }
            | Op::Struct { .. }
            | Op::WithField { .. }
            | Op::Snapshot(_) => {
                sources.insert(inst.result);
            }
            Op::Copy => links.push((inst.result, inst.arg_values().collect())),
            _ => {}
        },
        // An element stored into an array of numbers (`rows.push(f(x))`).
        Stmt::Store(store) if stores_element(function, store) => {
            if let Some(v) = store.value.value() {
                numbers.entry(v).or_insert(store.span);
                stored.insert(v);
            }
        }
        Stmt::If(if_) => {
            for phi in &if_.phis {
                let mut from = phi.then_value.values();
                from.extend(phi.else_value.values());
                links.push((phi.result, from));
            }
        }
        Stmt::Loop(loop_) => {
            for carried in &loop_.carried {
                let mut from = carried.init.values();
                from.extend(carried.next.values());
                links.push((carried.param, from.clone()));
                links.push((carried.result, from));
            }
        }
        _ => {}
    });
    // Loop variables link in cycles: repeat until nothing changes.
    let mut changed = true;
    while changed {
        changed = false;
        for (result, from) in &links {
            if let Some(&at) = numbers.get(result) {
                let constant = constant_use.contains(result);
                for v in from {
                    if !numbers.contains_key(v) {
                        numbers.insert(*v, at);
                        changed = true;
                    }
                    if constant && constant_use.insert(*v) {
                        changed = true;
                    }
                }
            }
        }
    }
    numbers.retain(|v, _| {
        sources.contains(v)
            && (activity.active(*v) || constant_use.contains(v) && activity.varied(*v))
    });
    (numbers, stored)
}
