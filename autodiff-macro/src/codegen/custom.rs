//! The `pullback = p` path: the hidden function calls the user's function and derivative.

use super::*;

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use crate::signature::Signature;

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
    let callee = if crate::signature::is_associated(item) {
        quote!(Self::#ident)
    } else {
        quote!(#ident)
    };
    let mut names = Names::avoiding(&param_names);
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
        #[allow(non_snake_case, clippy::all, clippy::pedantic)]
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
