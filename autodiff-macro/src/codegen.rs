//! Code generation: the only stage that chooses generated names and spans.
//!
//! For `fn price(apple: f64, ..., tax: f64) -> f64` it writes
//!
//! ```text
//! #[doc(hidden)]
//! fn __price_vjp(apple: f64, ..., tax: f64) -> (f64, impl FnOnce(f64, Slot<f64>, ...)) {
//!     let apple_price = apple * apple_num;          // forward sweep; what the backward
//!     ...                                           // sweep reads, the closure captures
//!     (price, move |d_price: f64, grad_apple: Slot<f64>, ...| {
//!         let d_all_price = tax * d_price;          // backward sweep: one rule per line
//!         ...
//!         grad_apple.accumulate(d_apple);
//!     })
//! }
//! fn price_grad(...) -> (f64, (f64, ...))            // the public items call it
//! fn price_pullback(..., d_out: f64) -> (f64, ...)
//! fn price_grad_into(..., grad: &mut (f64, ...)) -> f64
//! ```
//!
//! A loop whose backward sweep needs values of its iterations pushes them on a tape at the end
//! of each iteration and its backward loop pops them; a branch returns what its backward sweep
//! needs in a `Branch::Then(..)`/`Branch::Else(..)` record.
//!
//! Every name it introduces resolves at `Span::mixed_site()`, so no generated name can capture or
//! shadow one of the user's; adjoints keep readable names (`d_all_price`).

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use crate::analysis::Activity;
use crate::ir::{
    Block, Callee, Form, Function, If, Inst, Loop, LoopKind, Mem, MemInit, MemInitKind, Op, Opaque,
    Operand, Output, ParamRef, Stmt, Value,
};
use crate::reverse::{At, Backward, BwdIf, BwdLoop, BwdStmt, Need, Target, Term};
use crate::signature::{ParamKind, Signature};

/// The hidden function the public ones call instead of `__f_vjp` when a loop can be fused
/// (see [`sweeps`]).
fn fused_ident(ident: &Ident) -> Ident {
    format_ident!("__{}_fused", ident, span = ident.span())
}

/// The hidden function behind the public ones: `__price_vjp` for `price`. A call of `price` in
/// another differentiated function reaches it by the same rule.
pub fn vjp_ident(ident: &Ident) -> Ident {
    format_ident!("__{}_vjp", ident, span = ident.span())
}

pub struct Input<'a> {
    pub item: &'a syn::ItemFn,
    pub sig: &'a Signature,
    pub function: &'a Function,
    pub activity: &'a Activity,
    pub backward: &'a Backward,
}

/// `#[differentiate(pullback = p)]`: the hidden function calls the user's function for the
/// value and `p(params..., d_out)` for the gradient, which it hands to the slots.
///
/// ```text
/// fn __softplus_vjp(x: f64) -> (f64, impl FnOnce(f64, Slot<f64>)) {
///     let pullback: fn(f64, f64) -> f64 = softplus_derivative;   // the signature, checked
///     (softplus(x), move |d_out, grad_x| grad_x.add_grad(pullback(x, d_out)))
/// }
/// ```
pub fn custom(item: &syn::ItemFn, sig: &Signature, pullback: &syn::ExprPath) -> TokenStream {
    let out_ty = &sig
        .output
        .as_ref()
        .expect("checked before code generation")
        .ty;
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        param_names,
        captures,
        ref_names,
        ref_types,
        types,
        ..
    } = Parts::new(item, sig);
    let private = private();
    let ident = &item.sig.ident;
    let vjp = vjp_ident(ident);
    let receiver = item.sig.receiver().is_some();
    let callee = if crate::signature::is_associated(&item.sig) {
        quote!(Self::#ident)
    } else {
        quote!(#ident)
    };
    let mut names = Names::default();
    for name in &param_names {
        names.taken.insert(name.to_string());
    }
    let this = names.fresh("this", Span::call_site());
    let rename = |name: &Ident| {
        if name == "self" {
            this.clone()
        } else {
            name.clone()
        }
    };
    let inside: Vec<Ident> = param_names.iter().map(rename).collect();
    let rebind_self = receiver.then(|| quote!(let #this = self;));
    // The value: owned parameters are cloned, since the pullback needs them too.
    let primal_args: Vec<TokenStream> = sig
        .params
        .iter()
        .zip(&inside)
        .map(|(param, name)| {
            if param.by_ref() || param.kind == crate::signature::ParamKind::Float {
                quote!(#name)
            } else {
                quote!(::core::clone::Clone::clone(&#name))
            }
        })
        .collect();
    let ref_inside: Vec<Ident> = ref_names.iter().map(rename).collect();
    let slot_types = slot_types(sig);
    let d_out = names.fresh("d_out", Span::call_site());
    let grad = names.fresh("grad", Span::call_site());
    let active: Vec<usize> = sig.active_params().map(|(i, _)| i).collect();
    let mut slot_names = Vec::new();
    let mut deliveries = Vec::new();
    for (index, param) in sig.params.iter().enumerate() {
        if !param.active {
            slot_names.push(quote!(_));
            continue;
        }
        let slot = names.fresh(&format!("grad_{}", param.ident), Span::call_site());
        let k = active
            .iter()
            .position(|&i| i == index)
            .expect("an active parameter");
        let part = if active.len() == 1 {
            quote!(#grad)
        } else {
            let k = syn::Index::from(k);
            quote!(#grad.#k)
        };
        deliveries.push(quote!(#private::Slot::add_grad(#slot, #part);));
        slot_names.push(quote!(#slot));
    }
    let grad_types: Vec<TokenStream> = sig.active_params().map(|(_, p)| p.grad_type()).collect();
    let grad_ty = if active.len() == 1 {
        quote!(#(#grad_types)*)
    } else {
        quote!((#(#grad_types,)*))
    };
    // Errors in the user's function's signature point at the path in the attribute.
    let span = pullback.span();
    let checked = names.fresh("pullback", Span::call_site());
    let check =
        quote_spanned!(span=> let #checked: fn(#(#types,)* #out_ty) -> #grad_ty = #pullback;);
    let public = public_fns(item, sig, false);
    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[inline]
        #[allow(clippy::all, clippy::pedantic)]
        #vis fn #vjp #generics (#(#params),*) -> (#out_ty, impl ::core::ops::FnOnce(#(#ref_types,)* #out_ty, #(#slot_types),*) + #captures) #where_clause {
            #check
            #rebind_self
            let value = #callee(#(#primal_args),*);
            (value, move |#(#ref_inside: #ref_types,)* #d_out: #out_ty, #(#slot_names: #slot_types),*| {
                let #grad = #checked(#(#inside,)* #d_out);
                #(#deliveries)*
            })
        }
        #public
    }
}

pub fn generate(input: &Input) -> TokenStream {
    let vjp = sweeps(input, None);
    let fused = input
        .sig
        .output
        .as_ref()
        .is_some_and(|output| output.scalar)
        .then(|| crate::reverse::fused_loop(input.function, input.backward, input.activity))
        .flatten();
    let fused_fn = fused.map(|k| sweeps(input, Some(k)));
    let public = public_fns(input.item, input.sig, fused.is_some());
    quote!(#vjp #fused_fn #public)
}

/// On errors: the generated items with their signatures and no body, so that the user's calls
/// of them add no errors of their own.
pub fn fallback(item: &syn::ItemFn, sig: &Signature) -> TokenStream {
    let Some(output) = &sig.output else {
        return TokenStream::new();
    };

    let out_ty = &output.ty;
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        captures,
        ref_types,
        ..
    } = Parts::new(item, sig);
    let vjp = vjp_ident(&item.sig.ident);
    let slot_types = slot_types(sig);
    let public = public_fns(item, sig, false);
    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[allow(unreachable_code, unused_variables, clippy::all)]
        #vis fn #vjp #generics (#(#params),*) -> (#out_ty, impl ::core::ops::FnOnce(#(#ref_types,)* #out_ty, #(#slot_types),*) + #captures) #where_clause {
            (::core::unimplemented!(), move |#(_: #ref_types,)* _: #out_ty, #(_: #slot_types),*| {})
        }
        #public
    }
}

/// The pieces of the user's signature that every generated function repeats.
struct Parts<'a> {
    /// `#[cfg(..)]`: the generated items exist exactly when the function does.
    attrs: Vec<&'a syn::Attribute>,
    vis: &'a syn::Visibility,
    generics: TokenStream,
    where_clause: Option<&'a syn::WhereClause>,
    /// `name: Type`.
    params: Vec<TokenStream>,
    param_names: Vec<Ident>,
    /// `::<T, N>`: the type and const parameters, passed explicitly to the hidden function.
    turbofish: TokenStream,
    /// `use<T, N>`: the pullback closure captures the type and const parameters but no
    /// lifetime, so the caller's borrows end when the forward sweep returns.
    captures: TokenStream,
    /// The names and types of the reference parameters, which the pullback takes again.
    ref_names: Vec<Ident>,
    ref_types: Vec<syn::Type>,
    /// Every parameter's type, with `impl Trait` named.
    types: Vec<syn::Type>,
}

impl<'a> Parts<'a> {
    fn new(item: &'a syn::ItemFn, sig: &'a Signature) -> Self {
        let generics = &item.sig.generics;
        let param_names: Vec<Ident> = sig
            .params
            .iter()
            .map(|p| {
                if p.is_receiver() {
                    Ident::new("self", p.ident.span())
                } else {
                    mixed(&p.ident.to_string(), p.ident.span())
                }
            })
            .collect();
        // `x: impl Trait` becomes a named type parameter, which `use<..>` and the turbofish
        // can mention.
        let mut desugar = ImplTraitParams::default();
        let types: Vec<syn::Type> = sig
            .params
            .iter()
            .map(|param| {
                let mut ty = param.ty.clone();
                syn::visit_mut::VisitMut::visit_type_mut(&mut desugar, &mut ty);
                ty
            })
            .collect();
        let params = types
            .iter()
            .zip(&param_names)
            .zip(&sig.params)
            .map(|((ty, name), param)| match param.kind {
                _ if !param.is_receiver() => quote!(#name: #ty),
                crate::signature::ParamKind::Struct { by_ref: true } => quote!(&#name),
                _ => quote!(#name),
            })
            .collect();
        let mut explicit: Vec<Ident> = generics
            .params
            .iter()
            .filter_map(|param| match param {
                syn::GenericParam::Type(t) => Some(t.ident.clone()),
                syn::GenericParam::Const(c) => Some(c.ident.clone()),
                _ => None,
            })
            .collect();
        explicit.extend(desugar.params.iter().map(|(ident, _)| ident.clone()));
        let declared = &generics.params;
        let added: Vec<TokenStream> = desugar
            .params
            .iter()
            .map(|(ident, bounds)| quote!(#ident: #bounds))
            .collect();
        let all_generics: Vec<TokenStream> =
            declared.iter().map(|p| quote!(#p)).chain(added).collect();
        let (ref_names, ref_types) = sig
            .params
            .iter()
            .zip(param_names.iter().zip(&types))
            .filter(|(p, _)| p.by_ref())
            .map(|(_, (name, ty))| (name.clone(), ty.clone()))
            .unzip();
        Parts {
            attrs: item
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("cfg"))
                .collect(),
            vis: &item.vis,
            generics: if all_generics.is_empty() {
                quote!()
            } else {
                quote!(<#(#all_generics),*>)
            },
            where_clause: generics.where_clause.as_ref(),
            params,
            param_names,
            turbofish: if explicit.is_empty() {
                quote!()
            } else {
                quote!(::<#(#explicit),*>)
            },
            captures: quote!(use<#(#explicit),*>),
            ref_names,
            ref_types,
            types,
        }
    }
}

/// Replaces each `impl Trait` of parameter types by a named type parameter.
#[derive(Default)]
struct ImplTraitParams {
    params: Vec<(Ident, TokenStream)>,
}

impl syn::visit_mut::VisitMut for ImplTraitParams {
    fn visit_type_mut(&mut self, ty: &mut syn::Type) {
        if let syn::Type::ImplTrait(impl_trait) = ty {
            let ident = format_ident!("__AutodiffImpl{}", self.params.len());
            let bounds = &impl_trait.bounds;
            self.params.push((ident.clone(), quote!(#bounds)));
            *ty = syn::parse_quote!(#ident);
            return;
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }
}

fn mixed(name: &str, located_at: Span) -> Ident {
    Ident::new(name, Span::mixed_site().located_at(located_at))
}

fn private() -> TokenStream {
    quote!(::autodiff_core::__private)
}

/// The type of the slot through which the pullback hands back each parameter's adjoint.
fn slot_types(sig: &Signature) -> Vec<TokenStream> {
    let private = private();
    sig.params
        .iter()
        .map(|param| {
            if param.active {
                let target = param.slot_target_type();
                quote!(#private::Slot<'_, #target>)
            } else {
                quote!(#private::Ignore)
            }
        })
        .collect()
}

// The hidden function: the forward sweep, then the backward sweep as a closure ----------------

/// `__f_vjp`, or with `fuse` (the position of a loop in the backward statements, see
/// [`crate::reverse::fused_loop`]) `__f_fused`: the same sweeps for a caller that knows the seed
/// first, with that loop's backward iterations run inside its forward ones.
///
/// ```text
/// fn __f_fused(params, seed, slots) -> Out {
///     forward sweep up to the loop; the backward statements before the loop (the seed)
///     for i in range { forward iteration; its backward iteration }
///     the rest of the backward sweep
///     value
/// }
/// ```
fn sweeps(input: &Input, fuse: Option<usize>) -> TokenStream {
    let Input {
        item,
        sig,
        function,
        activity,
        backward,
    } = *input;
    let out_ty = &sig
        .output
        .as_ref()
        .expect("checked before code generation")
        .ty;
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        param_names,
        captures,
        ref_names,
        ref_types,
        ..
    } = Parts::new(item, sig);
    let vjp = vjp_ident(&item.sig.ident);

    let mut names = Names::default();
    // In a method, `self` is rebound: closures cannot take a parameter named `self`.
    let mut this = None;
    for ((param_ref, name), param) in function.params.iter().zip(&param_names).zip(&sig.params) {
        match param_ref {
            ParamRef::Mem(mem) if param.is_receiver() => {
                let ident = names.fresh("this", Span::call_site());
                names.mems.insert(*mem, ident.clone());
                this = Some(ident);
            }
            ParamRef::Value(value) => names.bind(*value, name.to_string()),
            ParamRef::Mem(mem) => names.bind_mem(*mem, name.to_string()),
        }
    }
    let rebind_self = this.as_ref().map(|this| quote!(let #this = self;));
    let ref_names: Vec<Ident> = ref_names
        .into_iter()
        .map(|name| {
            if name == "self" {
                this.clone().expect("a receiver")
            } else {
                name
            }
        })
        .collect();
    // An unnamed scalar result is named after the function: `price`.
    if let Output::Operand(Operand::Value(output)) = &function.output {
        if function.values[output.index()].name.is_none() {
            names.bind_fresh(*output, &item.sig.ident.to_string());
        }
    }
    let mut writer = Writer {
        function,
        activity,
        backward,
        names,
        used: used_values(function, backward),
        tapes: Vec::new(),
        loop_tapes: BTreeMap::new(),
        seed_name: None,
        loop_depth: 0,
        ref_params: sig.params.iter().map(|p| p.by_ref()).collect(),
        defs: BTreeMap::new(),
        fused: None,
    };
    function.body.for_each_inst(&mut |inst| {
        writer.defs.insert(inst.result, inst);
    });
    let slots = writer.slots(sig);
    let slot_names: Vec<TokenStream> = slots
        .iter()
        .map(|slot| match slot {
            Some(slot) => quote!(#slot),
            None => quote!(_),
        })
        .collect();
    let fused_parts = fuse.map(|k| writer.prepare_fusion(k, &slot_names));
    let forward = writer.block(&function.body);
    let output = writer.output(&function.output);

    let slot_types = slot_types(sig);
    let mut prologue = Vec::new();
    let private = private();
    for (index, param) in sig.params.iter().enumerate() {
        let Some(slot) = &slots[index] else {
            continue;
        };
        if let ParamRef::Mem(mem) = function.params[index] {
            // The caller's accumulator for an array, or scratch space when it has none.
            let scratch = writer
                .names
                .fresh(&format!("scratch_{}", param.ident), Span::call_site());
            let adjoint = writer.names.mem_adjoint(function, mem);
            let primal = writer.names.mem(function, mem);
            let like = match param.kind {
                ParamKind::Array { by_ref: false, .. }
                | ParamKind::Slice { owned: true, .. }
                | ParamKind::Struct { by_ref: false } => quote!(&#primal),
                _ => quote!(#primal),
            };
            prologue.push(quote! {
                let mut #scratch = ::core::option::Option::None;
                let #adjoint = #private::Slot::or_zero(#slot, &mut #scratch, #like);
            });
            if let ParamKind::Slice { .. } = param.kind {
                // One check that the accumulator is as long as the parameter, after which the
                // compiler can drop the accumulator's own check at each `d_x[i]`.
                prologue.push(quote!(let #adjoint = &mut #adjoint[..#primal.len()];));
            }
        }
    }
    // Lengths and index arithmetic, computed again from the parameters the closure receives.
    if fuse.is_none() {
        let recomputed: Vec<TokenStream> = backward
            .top_remat
            .iter()
            .filter_map(|v| writer.inst(writer.defs[v], true))
            .collect();
        prologue.extend(recomputed);
    }
    let (seed, mut body) = match (fused_parts, fuse) {
        (Some((seed, writes, mut declared)), Some(k)) => {
            let after = &backward.stmts[k + 1..];
            (
                seed,
                writer.backward_stmts(after, &writes, &mut declared, &slot_names),
            )
        }
        _ => writer.backward(&slot_names),
    };
    // Struct gradients: the fields the macro could not tell apart as carried are copied back.
    for (index, param) in sig.params.iter().enumerate() {
        if let (ParamRef::Mem(mem), crate::signature::ParamKind::Struct { by_ref }) =
            (function.params[index], &param.kind)
        {
            if activity.active_mem(mem) {
                let primal = writer.names.mem(function, mem);
                let adjoint = writer.names.mem_adjoint(function, mem);
                let primal = if *by_ref {
                    quote!(#primal)
                } else {
                    quote!(&#primal)
                };
                body.push(quote!(#private::restore_carried(#primal, #adjoint);));
            }
        }
    }
    let tapes = &writer.tapes;
    let items = &function.items;

    if fuse.is_some() {
        let fused = fused_ident(&item.sig.ident);
        return quote! {
            #(#attrs)*
            #[doc(hidden)]
            #[inline]
            #[allow(clippy::all, clippy::pedantic)]
            #vis fn #fused #generics (#(#params,)* #seed: #out_ty, #(#slot_names: #slot_types),*) -> #out_ty #where_clause {
                #(#items)*
                #rebind_self
                #(#tapes)*
                #(#prologue)*
                #(#forward)*
                #(#body)*
                #output
            }
        };
    }
    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[inline]
        #[allow(clippy::all, clippy::pedantic)]
        #vis fn #vjp #generics (#(#params),*) -> (#out_ty, impl ::core::ops::FnOnce(#(#ref_types,)* #out_ty, #(#slot_types),*) + #captures) #where_clause {
            #(#items)*
            #rebind_self
            #(#tapes)*
            #(#forward)*
            (#output, move |#(#ref_names: #ref_types,)* #seed: #out_ty, #(#slot_names: #slot_types),*| {
                #(#prologue)*
                #(#body)*
            })
        }
    }
}

/// Which values the generated code reads: the output, what the backward sweep reads, and the
/// arguments of every statement that is kept. Instructions whose result is not read and that
/// have no side effect are dropped.
fn used_values(function: &Function, backward: &Backward) -> BTreeSet<Value> {
    let mut used = BTreeSet::new();
    fn mark_output(output: &Output, used: &mut BTreeSet<Value>) {
        match output {
            Output::Operand(op) => used.extend(op.values()),
            Output::Tuple(parts) => parts.iter().for_each(|p| mark_output(p, used)),
            Output::Mem(_) => {}
        }
    }
    mark_output(&function.output, &mut used);
    let mark_needs = |needs: &[Need], used: &mut BTreeSet<Value>| {
        for need in needs {
            if let Need::Value(v) = need {
                used.insert(*v);
            }
        }
    };
    // What the top level of the backward sweep reads, and what every loop and branch records.
    mark_needs(
        &backward.captured.iter().copied().collect::<Vec<_>>(),
        &mut used,
    );
    for plan in backward.loops.values() {
        mark_needs(&plan.record, &mut used);
    }
    for plan in backward.ifs.values() {
        mark_needs(&plan.then_record, &mut used);
        mark_needs(&plan.else_record, &mut used);
    }
    loop {
        let before = used.len();
        mark_block(&function.body, &mut used);
        if used.len() == before {
            break;
        }
    }
    used
}

fn mark_block(block: &Block, used: &mut BTreeSet<Value>) {
    for stmt in block.stmts.iter().rev() {
        match stmt {
            Stmt::Inst(inst) => {
                if used.contains(&inst.result) || impure(&inst.op) {
                    used.extend(inst.arg_values());
                }
            }
            Stmt::Store(store) => {
                used.extend(store.value.values());
                used.extend(store.indices.iter().flat_map(Operand::values));
            }
            Stmt::MemInit(init) => match &init.kind {
                MemInitKind::Repeat { elem, lens } => {
                    used.extend(elem.values());
                    used.extend(lens.iter().flat_map(Operand::values));
                }
                MemInitKind::List { elems } => used.extend(elems.iter().flat_map(Operand::values)),
                MemInitKind::Copy { .. } => {}
                MemInitKind::FromValue(value) => {
                    used.insert(*value);
                }
                MemInitKind::Placeholder => {}
            },
            Stmt::If(if_) => {
                used.extend(if_.cond.values());
                for phi in &if_.phis {
                    if used.contains(&phi.result) {
                        used.extend(phi.then_value.values());
                        used.extend(phi.else_value.values());
                    }
                }
                mark_block(&if_.then_block, used);
                mark_block(&if_.else_block, used);
            }
            Stmt::Loop(loop_) => {
                if let LoopKind::Range { start, end, .. } = &loop_.kind {
                    used.extend(start.values());
                    used.extend(end.values());
                }
                if let Some(exit) = &loop_.exit {
                    used.extend(exit.values());
                }
                for c in &loop_.carried {
                    if used.contains(&c.result) || used.contains(&c.param) {
                        used.insert(c.result);
                        used.insert(c.param);
                        used.extend(c.next.values());
                        used.extend(c.init.values());
                    }
                }
                mark_block(&loop_.body, used);
            }
        }
    }
}

/// Whether an instruction must run even when its value is not read: calls may have effects.
fn impure(op: &Op) -> bool {
    matches!(op, Op::Call { .. } | Op::Opaque(_))
}

/// What a generated name is derived from.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Derived {
    Adjoint(Value),
    MemAdjoint(Mem),
    Pullback(Value),
}

#[derive(Default)]
struct Names {
    taken: BTreeSet<String>,
    values: BTreeMap<Value, Ident>,
    mems: BTreeMap<Mem, Ident>,
    derived: BTreeMap<Derived, Ident>,
    n_temps: usize,
}

impl Names {
    /// A name no other generated name has: `base`, else `base_1`, `base_2`, ...
    fn fresh(&mut self, base: &str, span: Span) -> Ident {
        // A raw identifier's name (`r#type`) without its prefix, which `d_` cannot precede.
        let base = base.replace("r#", "");
        let base = base.as_str();
        let mut name = base.to_owned();
        let mut k = 0;
        while self.taken.contains(&name) || is_keyword(&name) {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.taken.insert(name.clone());
        mixed(&name, span)
    }

    fn bind(&mut self, value: Value, name: String) {
        self.taken.insert(name.clone());
        self.values.insert(value, mixed(&name, Span::call_site()));
    }

    fn bind_mem(&mut self, mem: Mem, name: String) {
        self.taken.insert(name.clone());
        self.mems.insert(mem, mixed(&name, Span::call_site()));
    }

    fn bind_fresh(&mut self, value: Value, base: &str) {
        let ident = self.fresh(base, Span::call_site());
        self.values.insert(value, ident);
    }

    fn temp(&mut self, prefix: &str) -> Ident {
        loop {
            let name = format!("{prefix}{}", self.n_temps);
            self.n_temps += 1;
            if !self.taken.contains(&name) {
                return self.fresh(&name, Span::call_site());
            }
        }
    }

    fn value(&mut self, function: &Function, value: Value) -> Ident {
        if let Some(ident) = self.values.get(&value) {
            return ident.clone();
        }
        let ident = match &function.values[value.index()].name {
            Some(name) => self.fresh(name, Span::call_site()),
            None => self.temp("t"),
        };
        self.values.insert(value, ident.clone());
        ident
    }

    fn mem(&mut self, function: &Function, mem: Mem) -> Ident {
        if let Some(ident) = self.mems.get(&mem) {
            return ident.clone();
        }
        let ident = match &function.mems[mem.index()].name {
            Some(name) => self.fresh(name, Span::call_site()),
            None => self.temp("a"),
        };
        self.mems.insert(mem, ident.clone());
        ident
    }

    fn adjoint(&mut self, function: &Function, value: Value) -> Ident {
        let primal = self.value(function, value);
        self.derived(Derived::Adjoint(value), || format!("d_{primal}"))
    }

    fn mem_adjoint(&mut self, function: &Function, mem: Mem) -> Ident {
        let primal = self.mem(function, mem);
        self.derived(Derived::MemAdjoint(mem), || format!("d_{primal}"))
    }

    fn pullback(&mut self, function: &Function, value: Value) -> Ident {
        let primal = self.value(function, value);
        self.derived(Derived::Pullback(value), || format!("{primal}_pullback"))
    }

    /// The name of something derived from a value or memory, made once.
    fn derived(&mut self, key: Derived, base: impl FnOnce() -> String) -> Ident {
        if let Some(ident) = self.derived.get(&key) {
            return ident.clone();
        }
        let ident = self.fresh(&base(), Span::call_site());
        self.derived.insert(key, ident.clone());
        ident
    }
}

/// Whether a term reads the adjoint of `value`.
fn reads_adjoint(term: &Term, value: Value) -> bool {
    match term {
        Term::Adjoint(v) | Term::Rule { inst: v, .. } => *v == value,
        Term::Seed(_) | Term::MemElem(..) => false,
    }
}

/// What a mutable borrow of an adjoint borrows.
#[derive(PartialEq)]
enum Borrow {
    Value(Value),
    Mem(Mem, Vec<syn::Member>),
}

/// Whether two mutable borrows would overlap: the same value, or one field path extending the
/// other.
fn overlapping(a: &Borrow, b: &Borrow) -> bool {
    match (a, b) {
        (Borrow::Mem(a, p), Borrow::Mem(b, q)) => a == b && p.iter().zip(q).all(|(x, y)| x == y),
        _ => a == b,
    }
}

/// Rust's keywords, which a generated name cannot be (user names are valid identifiers, and a
/// prefix or suffix keeps them so, except for these).
fn is_keyword(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn",
        "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
        "return", "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe",
        "use", "where", "while", "async", "await", "dyn", "abstract", "become", "box", "do",
        "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
        "gen", "_",
    ];
    KEYWORDS.contains(&name)
}

struct Writer<'a> {
    function: &'a Function,
    activity: &'a Activity,
    backward: &'a Backward,
    names: Names,
    used: BTreeSet<Value>,
    /// `let mut tape_k = Tape::new();`, one per loop that records.
    tapes: Vec<TokenStream>,
    /// The tape of each loop that records, by the loop's `count` value.
    loop_tapes: BTreeMap<Value, Ident>,
    /// The closure's parameter for the adjoint of a tuple output.
    seed_name: Option<Ident>,
    /// How many loops enclose the code being written: tapes are reserved outside all loops,
    /// where one reservation covers the whole loop.
    loop_depth: usize,
    /// Whether each parameter is a reference, which the pullback takes again.
    ref_params: Vec<bool>,
    defs: BTreeMap<Value, &'a Inst>,
    /// The loop whose backward iterations run inside its forward ones, until it is written.
    fused: Option<Fused<'a>>,
}

/// What `loop_forward` needs to write a fused loop (see [`sweeps`]).
struct Fused<'a> {
    /// The loop's `count` value.
    id: Value,
    /// The backward statements before the loop, written just before it.
    before: Vec<TokenStream>,
    /// The backward loop's body.
    body: &'a [BwdStmt],
    writes: BTreeMap<Value, usize>,
    declared: BTreeSet<Value>,
    slot_names: Vec<TokenStream>,
}

impl<'a> Writer<'a> {
    /// The closure's slot parameter for each parameter that receives a gradient.
    fn slots(&mut self, sig: &Signature) -> Vec<Option<Ident>> {
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
    fn prepare_fusion(
        &mut self,
        k: usize,
        slot_names: &[TokenStream],
    ) -> (TokenStream, BTreeMap<Value, usize>, BTreeSet<Value>) {
        let function: &'a Function = self.function;
        let stmts: &'a [BwdStmt] = &self.backward.stmts;
        // The names the forward loop gives its carried variables, before anything names them.
        if let Some(Stmt::Loop(loop_)) = function.body.stmts.last() {
            for c in &loop_.carried {
                let slot = self.name(c.result);
                self.names.values.insert(c.param, slot);
            }
        }
        let mut writes = BTreeMap::<Value, usize>::new();
        count_writes(stmts, &mut writes);
        let seed = self.seed_pattern(&writes);
        let mut declared = BTreeSet::new();
        let before = self.backward_stmts(&stmts[..k], &writes, &mut declared, slot_names);
        let BwdStmt::Loop(bwd_loop) = &stmts[k] else {
            unreachable!("fused_loop gives the position of a loop")
        };
        self.fused = Some(Fused {
            id: bwd_loop.id,
            before,
            body: &bwd_loop.body,
            writes: writes.clone(),
            declared: declared.clone(),
            slot_names: slot_names.to_vec(),
        });
        (seed, writes, declared)
    }

    fn name(&mut self, value: Value) -> Ident {
        self.names.value(self.function, value)
    }

    /// A memory as a place: `a`, or `this.layer1.w` for a field of a struct.
    fn mem_name(&mut self, mem: Mem) -> TokenStream {
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
    fn target_place(&mut self, target: &Target) -> TokenStream {
        match target {
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

    /// What borrowing a target's adjoint mutably borrows: a value, or a memory's root and field
    /// path (indices borrow the whole array).
    fn borrow_key(&self, target: &Target) -> Borrow {
        match target {
            Target::Value(v) => Borrow::Value(*v),
            Target::Mem(mem, _) => match &self.function.mems[mem.index()].field {
                Some((root, path)) => Borrow::Mem(*root, path.clone()),
                None => Borrow::Mem(*mem, Vec::new()),
            },
        }
    }

    fn mem_adjoint(&mut self, mem: Mem) -> TokenStream {
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

    fn is_param_mem(&self, mem: Mem) -> bool {
        self.function.mems[mem.index()].param.is_some()
    }

    /// An operand as one token tree.
    fn operand(&mut self, operand: &Operand, span: Span) -> TokenStream {
        match operand {
            Operand::Value(value) => {
                let mut ident = self.name(*value);
                ident.set_span(ident.span().located_at(span));
                quote!(#ident)
            }
            Operand::Const(c) => c.parenthesized(),
            Operand::Mem(mem, prefix) => {
                let name = self.mem_name(*mem);
                let indices: Vec<TokenStream> =
                    prefix.iter().map(|i| self.operand(i, span)).collect();
                quote!(#name #([#indices])*)
            }
        }
    }

    fn indices(&mut self, indices: &[Operand]) -> Vec<TokenStream> {
        indices
            .iter()
            .map(|i| self.operand(i, Span::call_site()))
            .collect()
    }

    fn output(&mut self, output: &Output) -> TokenStream {
        match output {
            Output::Operand(op) => self.operand(op, Span::call_site()),
            Output::Tuple(parts) => {
                let parts: Vec<TokenStream> = parts.iter().map(|p| self.output(p)).collect();
                quote!((#(#parts,)*))
            }
            Output::Mem(mem) => {
                let name = self.mem_name(*mem);
                quote!(#name)
            }
        }
    }

    // Forward sweep ----------------------------------------------------------------------------

    fn block(&mut self, block: &Block) -> Vec<TokenStream> {
        let mut out = Vec::new();
        for stmt in &block.stmts {
            match stmt {
                Stmt::Inst(inst) => out.extend(self.inst(inst, false)),
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
    fn inst(&mut self, inst: &Inst, force: bool) -> Option<TokenStream> {
        let used = self.used.contains(&inst.result) || force;
        if !used && !impure(&inst.op) {
            return None;
        }
        let span = inst.span;
        if let Op::Call {
            callee,
            written_ref,
            ..
        } = &inst.op
        {
            if self.activity.active(inst.result) {
                let call = self.call_expr(callee, &inst.args, written_ref, span, true);
                let pullback = self.names.pullback(self.function, inst.result);
                let value = if used {
                    self.name(inst.result).into_token_stream()
                } else {
                    quote!(_)
                };
                return Some(quote_spanned!(span=> let (#value, #pullback) = #call;));
            }
        }
        let expr = self.forward_expr(inst);
        if !used {
            return Some(quote_spanned!(span=> #expr;));
        }
        let name = self.name(inst.result);
        Some(match &inst.ty {
            Some(ty) => quote_spanned!(span=> let #name: #ty = #expr;),
            None => quote_spanned!(span=> let #name = #expr;),
        })
    }

    /// `f(args)`, `recv.m(args)`; with `vjp`, the hidden function instead: `__f_vjp(args)`.
    fn call_expr(
        &mut self,
        callee: &Callee,
        args: &[Operand],
        written_ref: &[bool],
        span: Span,
        vjp: bool,
    ) -> TokenStream {
        let args = self.call_args(args, written_ref, span);
        match callee {
            Callee::Path(func) => {
                let mut func = func.clone();
                if vjp {
                    let last = func.path.segments.last_mut().expect("a path has a segment");
                    last.ident = vjp_ident(&last.ident);
                }
                quote!(#func(#(#args),*))
            }
            Callee::Method(method) => {
                let method = if vjp {
                    vjp_ident(method)
                } else {
                    method.clone()
                };
                let (receiver, rest) = (&args[0], &args[1..]);
                quote!(#receiver.#method(#(#rest),*))
            }
        }
    }

    fn call_args(&mut self, args: &[Operand], by_ref: &[bool], span: Span) -> Vec<TokenStream> {
        args.iter()
            .zip(by_ref)
            .map(|(arg, by_ref)| {
                let tokens = self.operand(arg, span);
                match (arg, by_ref) {
                    (_, true) => quote!(&#tokens),
                    // A vector passed by value is cloned: the backward sweep may still read it.
                    (Operand::Mem(mem, prefix), false)
                        if prefix.is_empty() && self.function.mems[mem.index()].vec =>
                    {
                        quote!(::core::clone::Clone::clone(&#tokens))
                    }
                    _ => tokens,
                }
            })
            .collect()
    }

    fn forward_expr(&mut self, inst: &Inst) -> TokenStream {
        let span = inst.span;
        let args: Vec<TokenStream> = inst.args.iter().map(|a| self.operand(a, span)).collect();
        match &inst.op {
            Op::Copy => args[0].clone(),
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
                ..
            } => self.call_expr(callee, &inst.args, written_ref, span, false),
            Op::Field(index) => {
                let a = &args[0];
                let index = syn::Index {
                    index: *index,
                    span,
                };
                quote!(#a.#index)
            }
            Op::Index => {
                let (a, i) = (&args[0], &args[1]);
                quote!(#a[#i])
            }
            Op::Load(mem) => {
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
            Op::Opaque(opaque) => Opaque::map_holes(opaque.expr.clone(), &mut |k| args[k].clone()),
        }
    }

    fn mem_init(&mut self, init: &MemInit) -> TokenStream {
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
            MemInitKind::Repeat { elem, lens } => {
                let mut value = self.operand(elem, span);
                for (k, len) in lens.iter().enumerate().rev() {
                    let len = self.operand(len, span);
                    value = if vec && k == 0 {
                        quote!(::std::vec![#value; #len])
                    } else {
                        quote!([#value; #len])
                    };
                }
                value
            }
            MemInitKind::List { elems } => {
                let elems: Vec<TokenStream> = elems.iter().map(|e| self.operand(e, span)).collect();
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

    fn record_tuple(&mut self, record: &[Need]) -> TokenStream {
        let parts: Vec<TokenStream> = record
            .iter()
            .map(|need| match need {
                Need::Value(v) => self.name(*v).into_token_stream(),
                Need::Pullback(v) => self.names.pullback(self.function, *v).into_token_stream(),
                Need::Mem(m) => self.mem_name(*m),
            })
            .collect();
        match parts.as_slice() {
            [one] => one.clone(),
            _ => quote!((#(#parts),*)),
        }
    }

    fn if_forward(&mut self, if_: &If) -> TokenStream {
        let plan = &self.backward.ifs[&if_.record];
        let record = plan.backward && !plan.by_cond();
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
        let mut then_vals: Vec<TokenStream> = phis
            .iter()
            .map(|phi| self.operand(&phi.then_value, if_.span))
            .collect();
        let mut else_vals: Vec<TokenStream> = phis
            .iter()
            .map(|phi| self.operand(&phi.else_value, if_.span))
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
        quote_spanned! {span=>
            let #pattern = if #cond {
                #(#then_block)*
                #then_value
            } else {
                #(#else_block)*
                #else_value
            };
        }
    }

    fn loop_forward(&mut self, loop_: &Loop) -> Vec<TokenStream> {
        let span = loop_.span;
        let fused = match &self.fused {
            Some(fused) if fused.id == loop_.count => self.fused.take(),
            _ => None,
        };
        let plan = &self.backward.loops[&loop_.count];
        let (backward, by_count, record) = (plan.backward, plan.by_count, plan.record.clone());
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
            let init = self.operand(&c.init, span);
            out.push(quote_spanned!(span=> let mut #slot = #init;));
            slots.push(slot);
        }
        let count = (backward && by_count).then(|| {
            let count = self.name(loop_.count);
            out.push(quote_spanned!(span=> let mut #count = 0usize;));
            count
        });
        let tape = (backward && !record.is_empty()).then(|| {
            let tape = self.names.temp("tape");
            let private = private();
            self.tapes
                .push(quote!(let mut #tape = #private::Tape::new();));
            tape
        });
        let head = match &loop_.kind {
            LoopKind::Range {
                index,
                start,
                end,
                inclusive,
                reversed,
            } => {
                let index = if self.used.contains(index) || fused.is_some() {
                    self.name(*index).into_token_stream()
                } else {
                    quote!(_)
                };
                let (start, end) = (self.operand(start, span), self.operand(end, span));
                let range = if *inclusive {
                    quote!(#start..=#end)
                } else {
                    quote!(#start..#end)
                };
                let range = if *reversed {
                    quote!((#range).rev())
                } else {
                    range
                };
                if let Some(tape) = &tape {
                    if !*reversed && !*inclusive && self.loop_depth == 0 {
                        out.push(
                            quote!(#tape.reserve(::core::iter::Iterator::size_hint(&(#range)).0);),
                        );
                    }
                }
                quote_spanned!(span=> for #index in #range)
            }
            LoopKind::Forever => quote_spanned!(span=> loop),
        };
        let counting = count.as_ref().map(|count| quote!(#count += 1;));
        self.loop_depth += 1;
        let body = self.block(&loop_.body);
        self.loop_depth -= 1;
        // The backward iteration, right after the forward one: what it reads is still there.
        let backward_body = match fused {
            Some(fused) => {
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
            None => Vec::new(),
        };
        let push = tape.as_ref().map(|tape| {
            let record = self.record_tuple(&record);
            quote!(#tape.push(#record);)
        });
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
        out.push(quote_spanned! {span=>
            #head {
                #counting
                #(#body)*
                #(#backward_body)*
                #push
                #update
                #exit
            }
        });
        if let Some(tape) = tape {
            self.loop_tapes.insert(loop_.count, tape);
        }
        out
    }

    // Backward sweep ---------------------------------------------------------------------------

    /// The backward sweep's statements, and the pattern that binds the seed (the output's
    /// adjoint) as the closure's first parameter.
    fn backward(&mut self, slot_names: &[TokenStream]) -> (TokenStream, Vec<TokenStream>) {
        let mut writes = BTreeMap::<Value, usize>::new();
        count_writes(&self.backward.stmts, &mut writes);
        let seed = self.seed_pattern(&writes);
        let mut declared = BTreeSet::new();
        let stmts = self.backward_stmts(&self.backward.stmts, &writes, &mut declared, slot_names);
        (seed, stmts)
    }

    /// The pattern that binds the seed: the output's adjoint.
    fn seed_pattern(&mut self, writes: &BTreeMap<Value, usize>) -> TokenStream {
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
            Output::Tuple(_) => {
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

    fn backward_stmts(
        &mut self,
        stmts: &[BwdStmt],
        writes: &BTreeMap<Value, usize>,
        declared: &mut BTreeSet<Value>,
        slot_names: &[TokenStream],
    ) -> Vec<TokenStream> {
        let function = self.function;
        let private = private();
        let mut out = Vec::new();
        let mut stmts = stmts.iter().peekable();
        while let Some(stmt) = stmts.next() {
            match stmt {
                // `d = 0.0; d += term;` is `d = term;`: the addition to zero is not free (it
                // turns `-0.0` into `0.0`, so the compiler keeps it, on a loop-carried chain).
                BwdStmt::Reset(target)
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
                BwdStmt::Zero(target) => {
                    let name = self.names.adjoint(function, *target);
                    declared.insert(*target);
                    if function.values[target.index()].aggregate {
                        let primal = self.name(*target);
                        out.push(quote!(let mut #name = #private::zero_grad(&#primal);));
                    } else {
                        out.push(quote!(let mut #name = 0.0;));
                    }
                }
                BwdStmt::ZeroMem(mem) => out.push(self.zero_mem(*mem)),
                BwdStmt::Add { target, term } => {
                    let term = self.term(term);
                    let name = self.names.adjoint(function, *target);
                    if declared.insert(*target) {
                        let mutable = writes.get(target).copied().unwrap_or(0) > 1;
                        out.push(if mutable {
                            quote!(let mut #name = #term;)
                        } else {
                            quote!(let #name = #term;)
                        });
                    } else {
                        out.push(quote!(#name += #term;));
                    }
                }
                BwdStmt::AddAt { target, at, term } => {
                    let term = self.term(term);
                    let name = self.names.adjoint(function, *target);
                    let at = match at {
                        At::Field(k) => {
                            let k = syn::Index::from(*k as usize);
                            quote!(.#k)
                        }
                        At::Index(i) => {
                            let i = self.operand(i, Span::call_site());
                            quote!([#i])
                        }
                    };
                    out.push(quote!(#name #at += #term;));
                }
                BwdStmt::AddToMem { mem, indices, term } => {
                    // A whole array read from a struct's field (`let w = p.w;`) is a value
                    // whose adjoint is an array too.
                    let whole =
                        matches!(term, Term::Adjoint(v) if function.values[v.index()].aggregate);
                    let term = self.term(term);
                    let name = self.mem_adjoint(*mem);
                    let indices = self.indices(indices);
                    out.push(if whole {
                        quote!(#private::AddGrad::add_grad(&mut #name #([#indices])*, #term);)
                    } else {
                        quote!(#name #([#indices])* += #term;)
                    });
                }
                BwdStmt::ResetMemElem { mem, indices } => {
                    let name = self.mem_adjoint(*mem);
                    let indices = self.indices(indices);
                    out.push(quote!(#name #([#indices])* = 0.0;));
                }
                BwdStmt::AddMem { target, source } => {
                    let target = self.flat_adjoint(*target, true);
                    let source = self.flat_adjoint(*source, false);
                    out.push(quote!(#private::add_into(#target, #source);));
                }
                BwdStmt::AddSnapshot {
                    target,
                    prefix,
                    source,
                } => {
                    let name = self.mem_adjoint(*target);
                    let indices = self.indices(prefix);
                    let source = self.names.adjoint(function, *source);
                    let out_stmt = if function.mems[target.index()].dims - prefix.len() > 1 {
                        quote!(#private::add_into((#name #([#indices])*).as_flattened_mut(), #source.as_flattened());)
                    } else {
                        quote!(#private::add_into(&mut #name #([#indices])* [..], &#source[..]);)
                    };
                    out.push(out_stmt);
                }
                BwdStmt::AddMemToValue { target, source } => {
                    let dims = self.function.mems[source.index()].dims;
                    let target = self.names.adjoint(function, *target);
                    let source = self.flat_adjoint(*source, false);
                    out.push(if dims > 1 {
                        quote!(#private::add_into(#target.as_flattened_mut(), #source);)
                    } else {
                        quote!(#private::add_into(&mut #target[..], #source);)
                    });
                }
                BwdStmt::ResetMem(mem) => {
                    let target = self.flat_adjoint(*mem, true);
                    out.push(quote!(#private::fill_zero(#target);));
                }
                BwdStmt::Reset(target) => {
                    let name = self.names.adjoint(function, *target);
                    out.push(quote!(#name = 0.0;));
                }
                BwdStmt::Pullback { call, targets } => {
                    let pullback = self.names.pullback(function, *call);
                    let d_call = self.names.adjoint(function, *call);
                    // An adjoint given to two arguments (`f(a, a)`) cannot be borrowed twice:
                    // the later argument gets a zero of its own, added in after the call.
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
                    let again = self.pullback_ref_args(*call);
                    let call = quote!(#pullback(#(#again,)* #d_call, #(#slots),*););
                    if separate.is_empty() {
                        out.push(call);
                    } else {
                        let (scratch, place): (Vec<_>, Vec<_>) = separate.into_iter().unzip();
                        out.push(quote! {{
                            #(let mut #scratch = #private::Grad::zero_grad(&#place);)*
                            #call
                            #(#private::AddGrad::add_grad(&mut #place, #scratch);)*
                        }});
                    }
                }
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
        out
    }

    /// The arguments a call passed by reference, passed again to its pullback.
    fn pullback_ref_args(&mut self, call: Value) -> Vec<TokenStream> {
        let inst = self.defs[&call];
        let Op::Call { by_ref, .. } = &inst.op else {
            unreachable!("a pullback belongs to a call")
        };
        let mut out = Vec::new();
        for (arg, by_ref) in inst.args.iter().zip(by_ref) {
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
                _ => quote!(&#tokens),
            });
        }
        out
    }

    /// A parameter that is a reference (not a field of one, which is a place).
    fn is_ref_param_mem(&self, mem: Mem) -> bool {
        let data = &self.function.mems[mem.index()];
        data.field.is_none() && data.param.is_some_and(|p| self.ref_params[p])
    }

    /// The adjoint of a memory as a flat slice: `&mut d_a[..]`, `d_m.as_flattened_mut()`.
    fn flat_adjoint(&mut self, mem: Mem, mutable: bool) -> TokenStream {
        let name = self.mem_adjoint(mem);
        match (self.function.mems[mem.index()].dims, mutable) {
            (1, true) => quote!(&mut #name[..]),
            (1, false) => quote!(&#name[..]),
            (_, true) => quote!(#name.as_flattened_mut()),
            (_, false) => quote!(#name.as_flattened()),
        }
    }

    /// `let mut d_a = [0.0; n];`: the adjoint memory of a local array, shaped like it.
    fn zero_mem(&mut self, mem: Mem) -> TokenStream {
        let function = self.function;
        let name = self.names.mem_adjoint(function, mem);
        let vec = function.mems[mem.index()].vec;
        let private = private();
        let value = match crate::reverse::find_mem_init(&function.body, mem) {
            Some(MemInitKind::Repeat { lens, .. }) => {
                let mut value = quote!(0.0);
                for (k, len) in lens.iter().enumerate().rev() {
                    let len = self.operand(len, Span::call_site());
                    value = if vec && k == 0 {
                        quote!(::std::vec![#value; #len])
                    } else {
                        quote!([#value; #len])
                    };
                }
                value
            }
            Some(MemInitKind::List { elems }) => {
                let len = elems.len();
                if vec {
                    quote!(::std::vec![0.0; #len])
                } else {
                    quote!([0.0; #len])
                }
            }
            Some(MemInitKind::FromValue(value)) => {
                let value = self.name(*value);
                quote!(#private::zero_grad(&#value))
            }
            Some(MemInitKind::Placeholder) => {
                let primal = self.mem_name(mem);
                quote!(#private::zero_grad(&#primal))
            }
            Some(MemInitKind::Copy { src }) => {
                let src = *src;
                let top_level = function
                    .body
                    .stmts
                    .iter()
                    .any(|s| matches!(s, Stmt::MemInit(i) if i.mem == src && i.declare));
                if self.is_param_mem(src) || top_level {
                    let src = self.mem_name(src);
                    quote!(#private::zero_grad(&#src))
                } else {
                    let src = self.mem_adjoint(src);
                    quote!(#private::zero_grad(&#src))
                }
            }
            None => quote!(::core::unreachable!()),
        };
        quote!(let mut #name = #value;)
    }

    fn if_backward(
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
        if by_cond {
            let cond = self.operand(&bwd_if.cond, Span::call_site());
            if else_stmts.is_empty() {
                return quote!(if #cond { #(#then_stmts)* });
            }
            return quote!(if #cond { #(#then_stmts)* } else { #(#else_stmts)* });
        }
        let private = private();
        let record = self.name(bwd_if.record);
        let then_pattern = self.record_tuple(&then_record);
        let else_pattern = self.record_tuple(&else_record);
        quote! {
            match #record {
                #private::Branch::Then(#then_pattern) => { #(#then_stmts)* }
                #private::Branch::Else(#else_pattern) => { #(#else_stmts)* }
            }
        }
    }

    fn loop_backward(
        &mut self,
        bwd_loop: &BwdLoop,
        writes: &BTreeMap<Value, usize>,
        declared: &BTreeSet<Value>,
        slot_names: &[TokenStream],
    ) -> TokenStream {
        let function = self.function;
        let loop_ = crate::reverse::find_loop(&function.body, bwd_loop.id)
            .expect("a backward loop has a forward loop");
        let plan = &self.backward.loops[&bwd_loop.id];
        let (by_count, index_read, record, remat) = (
            plan.by_count,
            plan.index_read,
            plan.record.clone(),
            plan.remat.clone(),
        );
        let head = match (&loop_.kind, by_count) {
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
                let (start, end) = (
                    self.operand(start, Span::call_site()),
                    self.operand(end, Span::call_site()),
                );
                let range = if *inclusive {
                    quote!(#start..=#end)
                } else {
                    quote!(#start..#end)
                };
                let range = if *reversed {
                    range
                } else {
                    quote!((#range).rev())
                };
                quote!(for #index in #range)
            }
            _ => {
                let count = self.name(loop_.count);
                quote!(for _ in 0..#count)
            }
        };
        let pop = self.loop_tapes.get(&bwd_loop.id).cloned().map(|tape| {
            let pattern = self.record_tuple(&record);
            quote!(let #pattern = #tape.pop();)
        });
        let remat: Vec<TokenStream> = remat
            .iter()
            .filter_map(|v| self.inst(self.defs[v], true))
            .collect();
        let body = self.backward_stmts(&bwd_loop.body, writes, &mut declared.clone(), slot_names);
        quote! {
            #head {
                #pop
                #(#remat)*
                #(#body)*
            }
        }
    }

    fn term(&mut self, term: &Term) -> TokenStream {
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
            Term::MemElem(mem, indices) => {
                let name = self.mem_adjoint(*mem);
                let indices = self.indices(indices);
                quote!(#name #([#indices])*)
            }
            Term::Rule { inst, arg } => {
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
                rule.rule()
                    .instantiate(*arg, &args, &quote!(#result), &quote!(#dy))
                    .expect("terms exist for differentiable arguments")
            }
        }
    }
}

/// How many statements write each adjoint: more than one makes it `mut`.
fn count_writes(stmts: &[BwdStmt], writes: &mut BTreeMap<Value, usize>) {
    for stmt in stmts {
        match stmt {
            BwdStmt::Zero(target)
            | BwdStmt::Add { target, .. }
            | BwdStmt::AddAt { target, .. }
            | BwdStmt::Reset(target) => *writes.entry(*target).or_default() += 1,
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

// The public functions --------------------------------------------------------------------------

/// For a function that does not return a scalar: `_grad` and `_grad_into` that exist only to say,
/// where they are called, that they need one (`ScalarOutput` has no impls, and its bound names
/// the arguments' types so that it is checked at each call, not here). A generic function gets
/// none: its type parameters could not be inferred at the call.
fn non_scalar_stubs(
    item: &syn::ItemFn,
    sig: &Signature,
    out_ty: &syn::Type,
    names: [&Ident; 2],
) -> TokenStream {
    if !item.sig.generics.params.is_empty() {
        return TokenStream::new();
    }
    let private = private();
    let vis = &item.vis;
    let receiver = item.sig.receiver().map(|r| quote!(#r,));
    let n = sig.params.iter().filter(|p| !p.is_receiver()).count();
    let [grad_fn, grad_into_fn] = names;
    let stub = |name: &Ident, extra: usize| {
        let args: Vec<Ident> = (0..n + extra).map(|k| format_ident!("__A{}", k)).collect();
        if args.is_empty() {
            // A bound without parameters would be checked here, failing at once.
            return TokenStream::new();
        }
        quote! {
            #[doc(hidden)]
            #[allow(dead_code, clippy::too_many_arguments)]
            #vis fn #name<#(#args),*>(#receiver #(_: #args),*) -> ::core::convert::Infallible
            where
                #out_ty: #private::ScalarOutput<(#(#args,)*)>,
            {
                ::core::unreachable!()
            }
        }
    };
    let grad = stub(grad_fn, 0);
    let grad_into = stub(grad_into_fn, 1);
    quote!(#grad #grad_into)
}

/// `_pullback`, and for a scalar output `_grad` and `_grad_into`: each a few lines around the
/// hidden function.
fn public_fns(item: &syn::ItemFn, sig: &Signature, fused: bool) -> TokenStream {
    let Some(output) = &sig.output else {
        return TokenStream::new();
    };
    let out_ty = &output.ty;
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        param_names,
        turbofish,
        ref_names,
        ..
    } = Parts::new(item, sig);
    let ident = &item.sig.ident;
    let vjp = vjp_ident(ident);
    // A method's hidden function is an associated function of the same `impl`.
    let fused_fn = fused_ident(ident);
    let (vjp, fused_fn) = if crate::signature::is_associated(&item.sig) {
        (quote!(Self::#vjp), quote!(Self::#fused_fn))
    } else {
        (quote!(#vjp), quote!(#fused_fn))
    };
    let private = private();

    // Locals of these functions must not collide with the parameters, whatever their names.
    let mut names = Names::default();
    for name in &param_names {
        names.taken.insert(name.to_string());
    }
    let span = ident.span();
    let grad = names.fresh("grad", span);
    let value = names.fresh("value", span);
    let pullback = names.fresh("pullback", span);
    let d_out = names.fresh("d_out", span);

    let active: Vec<(usize, &crate::signature::Param)> = sig.active_params().collect();
    let single = active.len() == 1;
    let grad_types: Vec<TokenStream> = active.iter().map(|(_, p)| p.grad_type()).collect();
    let grad_ty = if single {
        quote!(#(#grad_types)*)
    } else {
        quote!((#(#grad_types,)*))
    };
    let field = |k: usize| -> TokenStream {
        if single {
            quote!()
        } else {
            let index = syn::Index::from(k);
            quote!(.#index)
        }
    };
    let zeros: Vec<TokenStream> = active
        .iter()
        .map(|(index, _)| {
            let name = &param_names[*index];
            quote!(#private::zero_grad(&#name))
        })
        .collect();
    let zero = if single {
        quote!(#(#zeros)*)
    } else {
        quote!((#(#zeros,)*))
    };
    let resets: Vec<TokenStream> = active
        .iter()
        .enumerate()
        .map(|(k, (index, _))| {
            let name = &param_names[*index];
            let field = field(k);
            if single {
                quote!(#private::reset_grad(&#name, #grad);)
            } else {
                quote!(#private::reset_grad(&#name, &mut #grad #field);)
            }
        })
        .collect();
    // The slots into which the pullback adds: one per parameter, in order, each just zeroed.
    let slots_into = |grad_is_ref: bool| -> Vec<TokenStream> {
        let mut k = 0;
        sig.params
            .iter()
            .map(|param| {
                if !param.active {
                    return quote!(#private::Ignore);
                }
                let field = field(k);
                k += 1;
                if grad_is_ref && single {
                    quote!(#private::zeroed_slot(&mut *#grad))
                } else {
                    quote!(#private::zeroed_slot(&mut #grad #field))
                }
            })
            .collect()
    };
    let slots_owned = slots_into(false);
    let slots_ref = slots_into(true);

    let wrt: Vec<String> = active
        .iter()
        .map(|(_, p)| format!("`{}`", p.ident))
        .collect();
    let wrt = wrt.join(", ");
    let shape = if single {
        ""
    } else {
        ", one entry per parameter in that order"
    };
    let pullback_fn = format_ident!("{}_pullback", ident);
    let doc_pullback = format!(
        "The gradient of [`{ident}`] with respect to {wrt}{shape}, scaled by `d_out`: the vector-Jacobian product that carries the chain rule through a call.\n\nGenerated by `#[differentiate]`."
    );
    // The sweeps with a given seed, as statements that leave the value in `value`: the pullback
    // closure, or the fused sweeps that take the seed first.
    let sweep = |seed: TokenStream, slots: &[TokenStream], keep: bool| -> TokenStream {
        let value = if keep { quote!(#value) } else { quote!(_) };
        if fused {
            quote!(let #value = #fused_fn #turbofish(#(#param_names,)* #seed, #(#slots),*);)
        } else {
            quote! {
                let (#value, #pullback) = #vjp #turbofish(#(#param_names),*);
                #pullback(#(#ref_names,)* #seed, #(#slots),*);
            }
        }
    };
    let pullback_sweep = sweep(quote!(#d_out), &slots_owned, false);
    let pullback_item = quote! {
        #(#attrs)*
        #[doc = #doc_pullback]
        #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #pullback_fn #generics (#(#params,)* #d_out: #out_ty) -> #grad_ty #where_clause {
            let mut #grad = #zero;
            #pullback_sweep
            #grad
        }
    };
    let grad_fn = format_ident!("{}_grad", ident);
    let grad_into_fn = format_ident!("{}_grad_into", ident);
    let grad_sweep = sweep(quote!(1.0), &slots_owned, true);
    let grad_into_sweep = sweep(quote!(1.0), &slots_ref, true);
    if !output.scalar {
        let stubs = non_scalar_stubs(item, sig, out_ty, [&grad_fn, &grad_into_fn]);
        return quote!(#pullback_item #stubs);
    }
    let doc_grad = format!(
        "The value of [`{ident}`] and its gradient with respect to {wrt}{shape}.\n\nGenerated by `#[differentiate]`."
    );
    let doc_grad_into = format!(
        "The value of [`{ident}`]; its gradient with respect to {wrt} is written into `grad`, overwriting it (vectors are resized to fit, so a reused `grad` allocates nothing).\n\nGenerated by `#[differentiate]`."
    );
    quote! {
        #(#attrs)*
        #[doc = #doc_grad]
        #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #grad_fn #generics (#(#params),*) -> (#out_ty, #grad_ty) #where_clause {
            let mut #grad = #zero;
            #grad_sweep
            (#value, #grad)
        }

        #pullback_item

        #(#attrs)*
        #[doc = #doc_grad_into]
        #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #grad_into_fn #generics (#(#params,)* #grad: &mut #grad_ty) -> #out_ty #where_clause {
            #(#resets)*
            #grad_into_sweep
            #value
        }
    }
}
