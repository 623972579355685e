//! The hidden function: the forward sweep, then the backward sweep as a closure.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

use crate::ir::{Operand, Output, ParamRef};
use crate::signature::ParamKind;

/// `__f_vjp`, or with `fuse` (the position of a loop in the backward statements, see
/// [`crate::reverse::Schedule::Interleaved`]) `__f_fused`: the same sweeps for a caller that knows the seed
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
pub(super) fn sweeps(input: &Input, fuse: Option<usize>) -> TokenStream {
    let Input {
        item,
        sig,
        function,
        ..
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
    let (mut writer, rebind_self, ref_names) = writer(input, &param_names, ref_names);
    let slots = writer.slots(sig);
    let slot_names: Vec<TokenStream> = slots
        .iter()
        .map(|slot| match slot {
            Some(slot) => quote!(#slot),
            None => quote!(_),
        })
        .collect();
    let fused_parts = fuse.map(|k| writer.prepare_fusion(k, &slot_names));
    let interleaved = writer.fused.as_ref().map(|fused| fused.id);
    writer.pooled = pools::pooled_vecs(function, writer.backward, interleaved);
    let forward = writer.block(&function.body);
    let output = writer.output(&function.output);

    let slot_types = slot_types(sig);
    let prologue = prologue(&mut writer, input, &param_names, &slots, fuse);
    let (seed, mut body) = match fused_parts {
        Some((seed, writes, mut declared, after)) => (
            seed,
            writer.backward_stmts(after, &writes, &mut declared, &slot_names),
        ),
        None => writer.backward(&slot_names),
    };
    body.extend(restore_carried(&mut writer, input));
    let tapes = &writer.tapes;
    let items = &function.items;

    if fuse.is_some() {
        let fused = fused_ident(&item.sig.ident);
        return quote! {
            #(#attrs)*
            #[doc(hidden)]
            #[inline]
            #[allow(unreachable_code, unused_mut, non_snake_case, clippy::all, clippy::pedantic)]
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
        #[allow(unreachable_code, unused_mut, non_snake_case, clippy::all, clippy::pedantic)]
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

/// The backward sweep's first statements: the tangent slices cut again, the accumulators of the
/// array parameters, and (unfused) the lengths and index arithmetic it recomputes.
fn prologue(
    writer: &mut Writer,
    input: &Input,
    param_names: &[Ident],
    slots: &[Option<Ident>],
    fuse: Option<usize>,
) -> Vec<TokenStream> {
    let (sig, function) = (input.sig, input.function);
    let mut prologue = Vec::new();
    // The closure takes the tangent slices again: cut them again.
    for (index, param) in sig.params.iter().enumerate().filter(|_| fuse.is_none()) {
        if let (Some(k), ParamKind::Slice { owned: false, .. }) = (param.tangent_of, &param.kind) {
            let (t, x) = (&param_names[index], &param_names[k]);
            prologue.push(quote!(let #t = &#t[..#x.len()];));
        }
    }
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
                // compiler can drop the accumulator's own check at each `d_x[i]` (a tangent's,
                // as long as the parameter it is the tangent of).
                let primal = match param.tangent_of {
                    Some(k) => writer.names.mem(function, mem_of(function, k)),
                    None => primal,
                };
                prologue.push(quote!(let #adjoint = &mut #adjoint[..#primal.len()];));
            }
        }
    }
    // Lengths and index arithmetic, computed again from the parameters the closure receives.
    if fuse.is_none() {
        let recomputed: Vec<TokenStream> = input
            .backward
            .top_remat
            .iter()
            .filter_map(|v| writer.inst(writer.defs[v], true))
            .collect();
        prologue.extend(recomputed);
    }
    prologue
}

/// Struct gradients: the fields the macro could not tell apart as carried are copied back.
fn restore_carried(writer: &mut Writer, input: &Input) -> Vec<TokenStream> {
    let (sig, function) = (input.sig, input.function);
    let private = private();
    let mut out = Vec::new();
    for (index, param) in sig.params.iter().enumerate() {
        if let (ParamRef::Mem(mem), crate::signature::ParamKind::Struct { by_ref }) =
            (function.params[index], &param.kind)
        {
            if input.activity.active_mem(mem) {
                let primal = writer.names.mem(function, mem);
                let adjoint = writer.names.mem_adjoint(function, mem);
                let primal = if *by_ref {
                    quote!(#primal)
                } else {
                    quote!(&#primal)
                };
                out.push(quote!(#private::restore_carried(#primal, #adjoint);));
            }
        }
    }
    out
}

/// The writer of a function's sweeps, with the parameters named; the statement that rebinds
/// `self` in a method, and the names of the reference parameters (with `self` rebound).
fn writer<'a>(
    input: &Input<'a>,
    param_names: &[Ident],
    ref_names: Vec<Ident>,
) -> (Writer<'a>, Option<TokenStream>, Vec<Ident>) {
    let Input {
        item,
        sig,
        function,
        activity,
        backward,
    } = *input;
    let mut names = Names::default();
    // In a method, `self` is rebound: closures cannot take a parameter named `self`.
    let mut this = None;
    for ((param_ref, name), param) in function.params.iter().zip(param_names).zip(&sig.params) {
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
    let mut rebind_self = this.as_ref().map(|this| quote!(let #this = self;));
    // A tangent slice is as long as its parameter: checked once, so that the loops reading both
    // at one index need no check of their own.
    for (index, param) in sig.params.iter().enumerate() {
        if let (Some(k), ParamKind::Slice { owned: false, .. }) = (param.tangent_of, &param.kind) {
            let (t, x) = (&param_names[index], &param_names[k]);
            rebind_self
                .get_or_insert_with(TokenStream::new)
                .extend(quote!(let #t = &#t[..#x.len()];));
        }
    }
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
    let (unseen_types, stored_elements) = super::forward::unseen_types(function, activity);
    let mut writer = Writer {
        function,
        activity,
        backward,
        names,
        used: used_values(function, backward),
        tapes: Vec::new(),
        tape_of: BTreeMap::new(),
        seed_name: None,
        loop_depth: 0,
        ref_params: sig.params.iter().map(|p| p.by_ref()).collect(),
        defs: BTreeMap::new(),
        unseen_types,
        stored_elements,
        fused: None,
        borrowed: BTreeSet::new(),
        element_refs: super::used::element_refs(function, backward),
        generic_float: sig.generic_float.clone(),
        sums: Vec::new(),
        windows: Vec::new(),
        once_tape_of: BTreeMap::new(),
        pooled: BTreeMap::new(),
        pools: BTreeMap::new(),
    };
    function.body.for_each_inst(&mut |inst| {
        writer.defs.insert(inst.result, inst);
    });
    (writer, rebind_self, ref_names)
}

/// A function that runs the forward sweep only: `fn ident(params) -> out { body; output }`.
/// Forward mode (`f_jvp`) is the forward-mode IR written this way.
pub(super) fn primal(input: &Input, ident: &Ident) -> TokenStream {
    let Input { item, sig, .. } = *input;
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
        ref_names,
        ..
    } = Parts::new(item, sig);
    let (mut writer, rebind_self, _) = writer(input, &param_names, ref_names);
    let forward = writer.block(&input.function.body);
    let output = writer.output(&input.function.output);
    let items = &input.function.items;
    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[inline]
        #[allow(unreachable_code, unused_mut, non_snake_case, clippy::all, clippy::pedantic)]
        #vis fn #ident #generics (#(#params),*) -> #out_ty #where_clause {
            #(#items)*
            #rebind_self
            #(#forward)*
            #output
        }
    }
}

/// The memory of parameter `k` (a slice parameter is one).
fn mem_of(function: &crate::ir::Function, k: usize) -> crate::ir::Mem {
    match function.params[k] {
        ParamRef::Mem(mem) => mem,
        ParamRef::Value(_) => unreachable!("the parameter of a tangent slice is a slice"),
    }
}
