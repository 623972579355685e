//! Forward mode and second order: the items of `#[differentiate(jvp)]` and
//! `#[differentiate(hessian)]`, around the forward-mode function that [`crate::tangent`] makes.
//!
//! For `fn f(x: f64, v: &[f64]) -> f64` with `hessian`:
//!
//! ```text
//! fn __f_tangent(x, v, t_x: f64, t_v: &[f64]) -> (f64, f64)   // the forward-mode IR, written
//! fn __f_jvp(x, v, t_x: Tangent<f64>, t_v: Tangent<&[f64]>)   // what callers' forward modes
//!     -> (f64, f64)                                           //   call: a zero tangent is
//!                                                             //   `Tangent::Zero`
//! pub fn f_jvp(x, v, tangent: (f64, Vec<f64>)) -> (f64, f64)
//! fn ____f_tangent_vjp(..)                                     // the reverse pass over it
//! fn ____f_jvp_vjp(..)                                         // what callers' Hessians call
//! pub fn f_hvp(x, v, dir: (f64, Vec<f64>)) -> (f64, G, G)      // seed (0, 1): the gradient
//! pub fn f_hessian(x, v) -> (f64, G, Vec<Vec<f64>>)            //   of t_y is (H v, g)
//! ```

use super::*;

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use crate::signature::{ParamKind, Signature};

/// What forward mode generates from: the forward-mode function, its signature without
/// activity (for `__f_tangent`), and for second order the reverse pass over it.
pub struct Modes<'a> {
    /// The user's function and its signature.
    pub item: &'a syn::ItemFn,
    pub sig: &'a Signature,
    /// `__f_tangent`, written with no backward sweep.
    pub jvp: Input<'a>,
    /// The same function with its parameters and tangents active, for `hessian`.
    pub hvp: Option<Input<'a>>,
}

/// `__f_tangent` for `f`.
pub fn tangent_ident(ident: &Ident) -> Ident {
    format_ident!("__{}_tangent", ident, span = ident.span())
}

pub fn forward_modes(modes: &Modes) -> TokenStream {
    let core = sweeps::primal(&modes.jvp, &modes.jvp.item.sig.ident);
    let wrapper = jvp_wrapper(modes);
    let public = public_jvp(modes);
    let second = modes.hvp.as_ref().map(|hvp| {
        let core_vjp = sweeps(hvp, None);
        let wrapper_vjp = jvp_vjp_wrapper(modes, hvp);
        let public = public_hvp(modes, hvp);
        quote!(#core_vjp #wrapper_vjp #public)
    });
    quote!(#core #wrapper #public #second)
}

/// The names every item of forward mode needs.
struct Common<'a> {
    parts: Parts<'a>,
    names: Names,
    /// `f`, `Self::f`: how to call an item of the same family.
    path: Box<dyn Fn(&Ident) -> TokenStream>,
    /// The tangent parameters of `__f_jvp` (one per parameter) and whether each is active.
    tangents: Vec<Ident>,
    shape: public::GradShape,
    /// The float type of the output's components (`Vec<Vec<T>>` of a Jacobian or Hessian).
    elem: TokenStream,
}

impl<'a> Common<'a> {
    fn new(item: &'a syn::ItemFn, sig: &'a Signature) -> Self {
        let parts = Parts::new(item, sig);
        let mut names = Names::default();
        for name in &parts.param_names {
            names.taken.insert(name.to_string());
        }
        let tangents = sig
            .params
            .iter()
            .map(|p| names.fresh(&format!("t_{}", p.ident), p.ident.span()))
            .collect();
        let associated = crate::signature::is_associated(&item.sig);
        let turbofish = parts.turbofish.clone();
        let path = Box::new(move |ident: &Ident| {
            if associated {
                quote!(Self::#ident #turbofish)
            } else {
                quote!(#ident #turbofish)
            }
        });
        let shape = public::GradShape::new(sig, &parts.param_names);
        let elem = match &sig.generic_float {
            Some(t) => quote!(#t),
            None => {
                let out = sig.output.as_ref().map(|o| &o.ty);
                if quote!(#out).to_string().contains("f32") {
                    quote!(f32)
                } else {
                    quote!(f64)
                }
            }
        };
        Common {
            parts,
            names,
            path,
            tangents,
            shape,
            elem,
        }
    }
}

/// The statements that turn `Tangent` arguments into the tangents `__f_tangent` takes: a
/// zero one made like its parameter.
/// `names` are the parameters' names where the statements go (`self` is renamed in a closure).
fn unwrap_tangents(
    sig: &Signature,
    common: &mut Common,
    names: &[Ident],
    only_refs: bool,
) -> Vec<TokenStream> {
    let private = private();
    let mut out = Vec::new();
    for (index, param) in sig.params.iter().enumerate() {
        if !param.active || (only_refs && !param.by_ref()) {
            continue;
        }
        let t = &common.tangents[index];
        let name = &names[index];
        out.push(match param.kind {
            ParamKind::Float => quote!(let #t = #t.or_zero_real();),
            _ if param.by_ref() => {
                let store = common
                    .names
                    .fresh(&format!("zero_{}", param.ident), Span::call_site());
                quote! {
                    let mut #store = ::core::option::Option::None;
                    let #t = #private::Tangent::or_zero_ref(#t, #name, &mut #store);
                }
            }
            _ => quote!(let #t = #private::Tangent::or_zero(#t, &#name);),
        });
    }
    out
}

/// The type of `__f_jvp`'s tangent for each parameter: `Tangent<P>` for an active `P`,
/// `Tangent<NotDifferentiated>` for the others.
fn tangent_types(sig: &Signature, common: &Common) -> Vec<TokenStream> {
    let private = private();
    sig.params
        .iter()
        .zip(&common.parts.types)
        .map(|(param, ty)| {
            if param.active {
                quote!(#private::Tangent<#ty>)
            } else {
                quote!(#private::Tangent<#private::NotDifferentiated>)
            }
        })
        .collect()
}

/// `__f_jvp`: what a call of `f` in another function's forward mode calls.
fn jvp_wrapper(modes: &Modes) -> TokenStream {
    let (item, sig) = (modes.item, modes.sig);
    let mut common = Common::new(item, sig);
    let out_ty = &sig.output.as_ref().expect("checked").ty;
    let names = common.parts.param_names.clone();
    let unwrap = unwrap_tangents(sig, &mut common, &names, false);
    let types = tangent_types(sig, &common);
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        param_names,
        ..
    } = &common.parts;
    let tangents = &common.tangents;
    let active: Vec<&Ident> = active_tangents(sig, tangents);
    let core = (common.path)(&modes.jvp.item.sig.ident);
    let jvp = jvp_ident(&item.sig.ident);
    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[inline]
        #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #jvp #generics (#(#params,)* #(#tangents: #types),*) -> (#out_ty, #out_ty) #where_clause {
            #(#unwrap)*
            #core(#(#param_names,)* #(#active),*)
        }
    }
}

fn active_tangents<'t>(sig: &Signature, tangents: &'t [Ident]) -> Vec<&'t Ident> {
    sig.params
        .iter()
        .zip(tangents)
        .filter(|(p, _)| p.active)
        .map(|(_, t)| t)
        .collect()
}

/// The entries of a gradient-shaped `dir` as the tangent arguments of `__f_tangent`:
/// `dir.0`, `&dir.1`.
fn entries_as_tangents(sig: &Signature, shape: &public::GradShape, dir: &Ident) -> Vec<TokenStream> {
    sig.active_params()
        .enumerate()
        .map(|(k, (_, param))| {
            let field = shape.field(k);
            if param.by_ref() {
                quote!(&#dir #field)
            } else {
                quote!(#dir #field)
            }
        })
        .collect()
}

/// `f_jvp`, and `f_jacobian` for an output that is not a scalar.
fn public_jvp(modes: &Modes) -> TokenStream {
    let (item, sig) = (modes.item, modes.sig);
    let mut common = Common::new(item, sig);
    let output = sig.output.as_ref().expect("checked");
    let out_ty = &output.ty;
    let ident = &item.sig.ident;
    let span = ident.span();
    let tangent = common.names.fresh("tangent", span);
    let value = common.names.fresh("value", span);
    let zero = common.names.fresh("zero", span);
    let column = common.names.fresh("column", span);
    let jacobian = common.names.fresh("jacobian", span);
    let t_value = common.names.fresh("t_value", span);
    let private = private();
    let Common {
        parts,
        path,
        shape,
        elem,
        ..
    } = &common;
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        param_names,
        ..
    } = parts;
    let grad_ty = &shape.ty;
    let zero_value = &shape.zero;
    let core = path(&modes.jvp.item.sig.ident);
    let tangents = entries_as_tangents(sig, shape, &tangent);
    let wrt = wrt_list(sig);
    let jvp_fn = format_ident!("{}_jvp", ident);
    let doc_jvp = format!(
        "The value of [`{ident}`] and its directional derivative along `tangent` (a Jacobian-vector product), in one forward sweep; `tangent` has one entry per parameter differentiated ({wrt}), shaped like the gradient.\n\nGenerated by `#[differentiate(jvp)]`."
    );
    let jvp_item = quote! {
        #(#attrs)*
        #[doc = #doc_jvp]
        #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #jvp_fn #generics (#(#params,)* #tangent: #grad_ty) -> (#out_ty, #out_ty) #where_clause {
            #core(#(#param_names,)* #(#tangents),*)
        }
    };
    // A dense Jacobian flattens through `Differentiable`, which a type parameter does not
    // implement.
    if output.scalar || sig.generic_float.is_some() {
        return jvp_item;
    }
    let jvp_path = path(&jvp_fn);
    let primal = path(ident);
    let clones: Vec<TokenStream> = param_names
        .iter()
        .map(|name| quote!(::core::clone::Clone::clone(&#name)))
        .collect();
    let jacobian_fn = format_ident!("{}_jacobian", ident);
    let doc_jacobian = format!(
        "The value of [`{ident}`] and its dense Jacobian: one row per component of the output, one column per component of the parameters differentiated ({wrt}), flattened in order with arrays row-major. One forward sweep per column.\n\nGenerated by `#[differentiate(jvp)]`."
    );
    quote! {
        #jvp_item

        #(#attrs)*
        #[doc = #doc_jacobian]
        #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #jacobian_fn #generics (#(#params),*) -> (#out_ty, ::std::vec::Vec<::std::vec::Vec<#elem>>) #where_clause {
            let #zero: #grad_ty = #zero_value;
            let mut #value = ::core::option::Option::None;
            let #jacobian = #private::jacobian(&#zero, |#column: #grad_ty| {
                let (v, #t_value) = #jvp_path(#(#clones,)* #column);
                #value = ::core::option::Option::Some(v);
                #t_value
            });
            match #value {
                ::core::option::Option::Some(v) => (v, #jacobian),
                ::core::option::Option::None => (#primal(#(#param_names),*), #jacobian),
            }
        }
    }
}

fn wrt_list(sig: &Signature) -> String {
    let wrt: Vec<String> = sig
        .active_params()
        .map(|(_, p)| format!("`{}`", p.ident))
        .collect();
    wrt.join(", ")
}

/// `____f_jvp_vjp`: the reverse pass over `__f_jvp`, for a caller's Hessian. It takes the
/// `Tangent`s of `__f_jvp` and passes `__f_tangent`'s pullback the tangents it takes.
fn jvp_vjp_wrapper(modes: &Modes, hvp: &Input) -> TokenStream {
    let (item, sig) = (modes.item, modes.sig);
    let mut common = Common::new(item, sig);
    let out_ty = &sig.output.as_ref().expect("checked").ty;
    let span = item.sig.ident.span();
    let this = common.names.fresh("this", span);
    let rename = |name: &Ident| if name == "self" { this.clone() } else { name.clone() };
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
    let (t_ref_names, t_ref_types): (Vec<&Ident>, Vec<&TokenStream>) = sig
        .params
        .iter()
        .zip(tangents.iter().zip(&types))
        .filter(|(p, _)| p.by_ref())
        .map(|(_, (t, ty))| (t, ty))
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
    let core_vjp = (common.path)(&vjp_ident(&hvp.item.sig.ident));
    let name = vjp_ident(&jvp_ident(&item.sig.ident));
    let rebind = item
        .sig
        .receiver()
        .map(|_| quote!(let #this = self;));
    let _ = (private, param_names);
    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[inline]
        #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity)]
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
fn public_hvp(modes: &Modes, hvp: &Input) -> TokenStream {
    let (item, sig) = (modes.item, modes.sig);
    let mut common = Common::new(item, sig);
    let out_ty = &sig.output.as_ref().expect("checked").ty;
    let ident = &item.sig.ident;
    let span = ident.span();
    let dir = common.names.fresh("dir", span);
    let value = common.names.fresh("value", span);
    let pullback = common.names.fresh("pullback", span);
    let grad = common.names.fresh("grad", span);
    let hv = common.names.fresh("hv", span);
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
        ..
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
    let tangents = entries_as_tangents(sig, shape, &dir);
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
    let hessian_fn = format_ident!("{}_hessian", ident);
    let grad_fn = path(&format_ident!("{}_grad", ident));
    let hvp_path = path(&hvp_fn);
    let clones: Vec<TokenStream> = param_names
        .iter()
        .map(|name| quote!(::core::clone::Clone::clone(&#name)))
        .collect();
    let doc_hvp = format!(
        "The value of [`{ident}`], its gradient and the Hessian-vector product `H dir`, exact, with respect to {wrt}: one forward sweep in forward mode and its reverse, a few gradients' cost. `dir` and both results are shaped like the gradient.\n\nGenerated by `#[differentiate(hessian)]`."
    );
    let doc_hessian = format!(
        "The value of [`{ident}`], its gradient and its dense, symmetric Hessian with respect to {wrt} (flattened in order, arrays row-major): one Hessian-vector product per column.\n\nGenerated by `#[differentiate(hessian)]`."
    );
    let hessian_item = sig.generic_float.is_none().then(|| {
        quote! {
            #(#attrs)*
            #[doc = #doc_hessian]
            #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity)]
            #vis fn #hessian_fn #generics (#(#params),*) -> (#out_ty, #grad_ty, ::std::vec::Vec<::std::vec::Vec<#elem>>) #where_clause {
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
    });
    quote! {
        #(#attrs)*
        #[doc = #doc_hvp]
        #[allow(dead_code, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #hvp_fn #generics (#(#params,)* #dir: #grad_ty) -> (#out_ty, #grad_ty, #grad_ty) #where_clause {
            let mut #grad: #grad_ty = #zero_value;
            let mut #hv: #grad_ty = #zero_value;
            let (#value, #pullback) = #core_vjp(#(#param_names,)* #(#tangents),*);
            #pullback(#(#ref_names,)* #(#tangent_refs,)* (#zero_out, #one), #(#hv_slots,)* #(#grad_slots),*);
            (#value.0, #grad, #hv)
        }

        #hessian_item
    }
}
