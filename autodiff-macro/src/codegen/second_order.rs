//! Second order: the reverse pass over forward mode, for `#[differentiate(hessian)]`:
//! `____f_jvp_vjp` (what callers' Hessians call), `f_hvp` and `f_hessian`. `modes.rs` has the
//! family's overview and forward mode.

use super::*;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::modes::{
    Common, Modes, active_tangents, entries_as_tangents, tangent_types, unwrap_tangents, wrt_list,
};
use crate::signature::Signature;

/// The items of second order, from `full`, the reverse pass over `__f_tangent`.
pub(super) fn second_order(modes: &Modes, full: &Input) -> TokenStream {
    let core_vjp = sweeps(full, None);
    let core_vjp_ident = vjp_ident(&full.item.sig.ident);
    let wrapper_vjp = jvp_vjp_wrapper(modes.item, modes.sig, &core_vjp_ident);
    // A function returning a vector has no Hessian of its own, but functions with
    // `hessian` that call it need its second order.
    let public = match &modes.hvp {
        Some(hvp) => {
            let interleaved = hvp.backward.interleaved();
            let sweeps = sweeps(hvp, interleaved);
            let public = public_hvp(modes, hvp, interleaved.is_some());
            quote!(#sweeps #public)
        }
        None => {
            let out_ty = &modes.sig.output.as_ref().expect("checked").ty;
            let ident = &modes.item.sig.ident;
            let (hvp_fn, hessian_fn) = (
                format_ident!("{}_hvp", ident),
                format_ident!("{}_hessian", ident),
            );
            public::non_scalar_stubs(
                modes.item,
                modes.sig,
                out_ty,
                [&hessian_fn, &hvp_fn],
                "ScalarHessian",
            )
        }
    };
    quote!(#core_vjp #wrapper_vjp #public)
}

/// `____f_jvp_vjp`: the reverse pass over `__f_jvp`, for a caller's Hessian. It takes the
/// `Tangent`s of `__f_jvp` and passes `__f_tangent`'s pullback the tangents it takes.
/// `core_vjp`: the reverse pass over `__f_tangent`.
pub fn jvp_vjp_wrapper(item: &syn::ItemFn, sig: &Signature, core_vjp: &Ident) -> TokenStream {
    let mut common = Common::new(item, sig);
    let out_ty = &sig.output.as_ref().expect("checked").ty;
    let span = item.sig.ident.span();
    let this = common.names.fresh("this", span);
    let rename = |name: &Ident| {
        if name == "self" {
            this.clone()
        } else {
            name.clone()
        }
    };
    let names: Vec<Ident> = common.parts.param_names.iter().map(rename).collect();
    let unwrap = unwrap_tangents(sig, &mut common, &names, false);
    let unwrap_again = unwrap_tangents(sig, &mut common, &names, true);
    let types = tangent_types(sig, &common);
    let value = common.names.fresh("value", span);
    let pullback = common.names.fresh("pullback", span);
    let seed = common.names.fresh("seed", span);
    let private = private();
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
    } = &common.parts;
    let tangents = &common.tangents;
    let active: Vec<&Ident> = active_tangents(sig, tangents);
    // The reference parameters and the tangents of the active ones, taken again.
    let ref_names: Vec<Ident> = ref_names.iter().map(rename).collect();
    // The closure takes them for any lifetime, like the reference parameters.
    let (t_ref_names, t_ref_types): (Vec<&Ident>, Vec<TokenStream>) = sig
        .params
        .iter()
        .zip(tangents.iter().zip(&common.parts.types))
        .filter(|(p, _)| p.by_ref())
        .map(|(p, (t, ty))| {
            let mut ty = ty.clone();
            syn::visit_mut::VisitMut::visit_type_mut(&mut header::ElideLifetimes, &mut ty);
            let ty = if p.active {
                quote!(#private::Tangent<#ty>)
            } else {
                quote!(#private::Tangent<#private::NotDifferentiated>)
            };
            (t, ty)
        })
        .unzip();
    let active_refs: Vec<&Ident> = sig
        .params
        .iter()
        .zip(tangents)
        .filter(|(p, _)| p.active && p.by_ref())
        .map(|(_, t)| t)
        .collect();
    // The slots: the parameters', then a tangent's for each parameter (`Ignore` for inactive).
    let slot_types = slot_types(sig);
    let slots: Vec<Ident> = sig
        .params
        .iter()
        .map(|p| common.names.fresh(&format!("grad_{}", p.ident), span))
        .collect();
    let t_slots: Vec<Ident> = sig
        .params
        .iter()
        .map(|p| common.names.fresh(&format!("grad_t_{}", p.ident), span))
        .collect();
    let active_t_slots: Vec<&Ident> = sig
        .params
        .iter()
        .zip(&t_slots)
        .filter(|(p, _)| p.active)
        .map(|(_, s)| s)
        .collect();
    let name = vjp_ident(&jvp_ident(&item.sig.ident));
    let core_vjp = (common.path)(core_vjp);
    let rebind = item.sig.receiver().map(|_| quote!(let #this = self;));
    let _ = param_names;
    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[inline]
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #name #generics (#(#params,)* #(#tangents: #types),*) -> ((#out_ty, #out_ty), impl ::core::ops::FnOnce(#(#ref_types,)* #(#t_ref_types,)* (#out_ty, #out_ty), #(#slot_types,)* #(#slot_types),*) + #captures) #where_clause {
            #rebind
            #(#unwrap)*
            let (#value, #pullback) = #core_vjp(#(#names,)* #(#active),*);
            (#value, move |#(#ref_names: #ref_types,)* #(#t_ref_names: #t_ref_types,)* #seed: (#out_ty, #out_ty), #(#slots: #slot_types,)* #(#t_slots: #slot_types),*| {
                #(#unwrap_again)*
                #pullback(#(#ref_names,)* #(#active_refs,)* #seed, #(#slots,)* #(#active_t_slots),*);
            })
        }
    }
}

/// `f_hvp` and `f_hessian`.
/// `interleaved`: `hvp`'s sweeps are in `__f_tangent_hvp_fused` (interleaved, taking the seed
/// first), else in its `_vjp`.
fn public_hvp(modes: &Modes, hvp: &Input, interleaved: bool) -> TokenStream {
    let (item, sig) = (modes.item, modes.sig);
    let mut common = Common::new(item, sig);
    let hessian_item = public_hessian(modes, &mut common);
    let out_ty = &sig.output.as_ref().expect("checked").ty;
    let ident = &item.sig.ident;
    let span = ident.span();
    let dir = common.names.fresh("dir", span);
    let value = common.names.fresh("value", span);
    let pullback = common.names.fresh("pullback", span);
    let grad = common.names.fresh("grad", span);
    let hv = common.names.fresh("hv", span);
    let private = private();
    let Common {
        parts, path, shape, ..
    } = &common;
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        param_names,
        ref_names,
        ..
    } = parts;
    let grad_ty = &shape.ty;
    let zero_value = &shape.zero;
    let core_vjp = path(&vjp_ident(&hvp.item.sig.ident));
    let fused_fn = path(&fused_ident(&hvp.item.sig.ident));
    let tangents = entries_as_tangents(sig, shape, &dir);
    let zero_skipped = super::modes::zero_skipped(sig, &dir);
    // The gradient's skipped fields hold copies of the values, as `f_grad`'s do. A struct
    // taken by value is moved into the sweeps; `hv`'s skipped fields are its copies.
    let restore: Vec<TokenStream> = sig
        .params
        .iter()
        .zip(param_names)
        .filter(|(p, _)| p.active)
        .enumerate()
        .filter_map(|(k, (p, name))| {
            let crate::signature::ParamKind::Struct { by_ref } = p.kind else {
                return None;
            };
            let field = shape.field(k);
            let primal = if by_ref {
                quote!(#name)
            } else {
                quote!(&#hv #field)
            };
            Some(quote!(#private::restore_carried(#primal, &mut #grad #field);))
        })
        .collect();
    let tangent_refs: Vec<&TokenStream> = sig
        .active_params()
        .zip(&tangents)
        .filter(|((_, p), _)| p.by_ref())
        .map(|(_, t)| t)
        .collect();
    // The slots of `__f_tangent`'s pullback: the parameters' (into `hv`), then the tangents'
    // (into `grad`).
    let slots = |into: &Ident| -> Vec<TokenStream> {
        sig.active_params()
            .enumerate()
            .map(|(k, _)| {
                let field = shape.field(k);
                quote!(#private::zeroed_slot(&mut #into #field))
            })
            .collect()
    };
    let mut k = 0;
    let hv_slots: Vec<TokenStream> = {
        let active = slots(&hv);
        sig.params
            .iter()
            .map(|p| {
                if p.active {
                    k += 1;
                    active[k - 1].clone()
                } else {
                    quote!(#private::Ignore)
                }
            })
            .collect()
    };
    let grad_slots = slots(&grad);
    let (zero_out, one) = match &sig.generic_float {
        Some(t) => (
            quote!(#private::zero::<#t>()),
            quote!(#private::lit::<#t>(1.0)),
        ),
        None => (quote!(0.0), quote!(1.0)),
    };
    let wrt = wrt_list(sig);
    let hvp_fn = format_ident!("{}_hvp", ident);
    let doc_hvp = format!(
        "The value of [`{ident}`], its gradient and the Hessian-vector product `H dir`, exact, with respect to {wrt}: one forward sweep in forward mode and its reverse, a few gradients' cost. `dir` and both results are shaped like the gradient.\n\nGenerated by `#[differentiate(hessian)]`."
    );
    let sweep = if interleaved {
        quote!(let #value = #fused_fn(#(#param_names,)* #(#tangents,)* (#zero_out, #one), #(#hv_slots,)* #(#grad_slots),*);)
    } else {
        quote! {
            let (#value, #pullback) = #core_vjp(#(#param_names,)* #(#tangents),*);
            #pullback(#(#ref_names,)* #(#tangent_refs,)* (#zero_out, #one), #(#hv_slots,)* #(#grad_slots),*);
        }
    };
    quote! {
        #(#attrs)*
        #[doc = #doc_hvp]
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #hvp_fn #generics (#(#params,)* #dir: #grad_ty) -> (#out_ty, #grad_ty, #grad_ty) #where_clause {
            let mut #grad: #grad_ty = #zero_value;
            let mut #hv: #grad_ty = #zero_value;
            #zero_skipped
            #sweep
            #(#restore)*
            (#value.0, #grad, #hv)
        }

        #hessian_item
    }
}

/// `f_hessian`: `f_hvp` once per column. Its names are taken from `common`, which `f_hvp` shares.
fn public_hessian(modes: &Modes, common: &mut Common) -> TokenStream {
    let (item, sig) = (modes.item, modes.sig);
    let out_ty = &sig.output.as_ref().expect("checked").ty;
    let ident = &item.sig.ident;
    let span = ident.span();
    let zero = common.names.fresh("zero", span);
    let out = common.names.fresh("out", span);
    let column = common.names.fresh("column", span);
    let hessian = common.names.fresh("hessian", span);
    let private = private();
    let Common {
        parts,
        path,
        shape,
        elem,
        clone_where,
        ..
    } = &*common;
    let Parts {
        attrs,
        vis,
        generics,
        params,
        param_names,
        ..
    } = parts;
    let grad_ty = &shape.ty;
    let zero_value = &shape.zero;
    let wrt = wrt_list(sig);
    let hessian_fn = format_ident!("{}_hessian", ident);
    let grad_fn = path(&format_ident!("{}_grad", ident));
    let hvp_path = path(&format_ident!("{}_hvp", ident));
    let clones: Vec<TokenStream> = param_names
        .iter()
        .map(|name| quote!(::core::clone::Clone::clone(&#name)))
        .collect();
    let doc_hessian = format!(
        "The value of [`{ident}`], its gradient and its dense, symmetric Hessian with respect to {wrt} (flattened in order, arrays row-major): one Hessian-vector product per column.\n\nGenerated by `#[differentiate(hessian)]`."
    );
    quote! {
        #(#attrs)*
        #[doc = #doc_hessian]
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #hessian_fn #generics (#(#params),*) -> (#out_ty, #grad_ty, ::std::vec::Vec<::std::vec::Vec<#elem>>) #clone_where {
            let #zero: #grad_ty = #zero_value;
            let mut #out = ::core::option::Option::None;
            let #hessian = #private::hessian(&#zero, |#column: #grad_ty| {
                let (v, g, h) = #hvp_path(#(#clones,)* #column);
                #out = ::core::option::Option::Some((v, g));
                h
            });
            match #out {
                ::core::option::Option::Some((v, g)) => (v, g, #hessian),
                ::core::option::Option::None => {
                    let (v, g) = #grad_fn(#(#param_names),*);
                    (v, g, #hessian)
                }
            }
        }
    }
}
