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
use syn::spanned::Spanned;

use super::second_order::second_order;
use crate::signature::{ParamKind, Signature};

/// What forward mode generates from: the forward-mode function, its signature without
/// activity (for `__f_tangent`), and for second order the reverse pass over it.
pub struct Modes<'a> {
    /// The user's function and its signature.
    pub item: &'a syn::ItemFn,
    pub sig: &'a Signature,
    /// `__f_tangent`, written with no backward sweep.
    pub jvp: Input<'a>,
    /// The same function with its parameters and tangents active, for `hessian`: what
    /// callers' Hessians reverse.
    pub full: Option<Input<'a>>,
    /// The same with the value passive (only the tangent is seeded), for `f_hvp`.
    pub hvp: Option<Input<'a>>,
}

/// `__f_tangent` for `f`.
pub fn tangent_ident(ident: &Ident) -> Ident {
    format_ident!("__{}_tangent", ident, span = ident.span())
}

/// `__f_tangent_hvp` for `__f_tangent`: the variant `f_hvp` reverses.
pub fn hvp_ident(tangent: &Ident) -> Ident {
    format_ident!("{}_hvp", tangent, span = tangent.span())
}

pub fn forward_modes(modes: &Modes) -> TokenStream {
    let core = sweeps::primal(&modes.jvp, &modes.jvp.item.sig.ident);
    let wrapper = jvp_wrapper(
        modes.item,
        modes.sig,
        &Body::Core(&modes.jvp.item.sig.ident),
    );
    let public = public_jvp(modes);
    let second = modes.full.as_ref().map(|full| second_order(modes, full));
    quote!(#core #wrapper #public #second)
}

/// For a function without `jvp` or `hessian`: the hidden items of the modes it lacks, which
/// fail to compile where another function's forward mode or Hessian calls them, saying which
/// option to add. `custom`: the function has a custom derivative (`pullback = p`), and `jvp`
/// comes from the user's rule (`jvp = g`).
pub fn missing_modes(
    item: &syn::ItemFn,
    sig: &Signature,
    jvp: bool,
    hessian: bool,
    custom_jvp: Option<&syn::ExprPath>,
    custom: bool,
) -> TokenStream {
    if sig.output.is_none() {
        return TokenStream::new();
    }
    let out_ty = &sig.output.as_ref().expect("checked").ty;
    let jvp_item = match (jvp, custom_jvp, custom) {
        (_, Some(rule), _) => {
            let wrapper = jvp_wrapper(item, sig, &Body::Custom(rule));
            let public = custom_public_jvp(item, sig, rule);
            quote!(#wrapper #public)
        }
        (true, None, _) => TokenStream::new(),
        (false, None, false) => missing(
            item,
            sig,
            jvp_ident(&item.sig.ident),
            "Jvp",
            quote!((#out_ty, #out_ty)),
        ),
        (false, None, true) => missing(
            item,
            sig,
            jvp_ident(&item.sig.ident),
            "CustomJvp",
            quote!((#out_ty, #out_ty)),
        ),
    };
    let name = vjp_ident(&jvp_ident(&item.sig.ident));
    let returns = quote!(((#out_ty, #out_ty), __AutodiffPullback));
    let hessian_item = match (hessian, custom) {
        (true, _) => TokenStream::new(),
        (false, false) => missing(item, sig, name, "Hessian", returns),
        (false, true) => missing(item, sig, name, "CustomHessian", returns),
    };
    quote!(#jvp_item #hessian_item)
}

/// A hidden item of a mode the function does not have: any arguments (a tangent for each
/// parameter after the parameters), and a bound never satisfied that rustc checks at each call
/// (it has a bound lifetime), so that the error is there, with the message of `trait_`.
fn missing(
    item: &syn::ItemFn,
    sig: &Signature,
    name: Ident,
    trait_: &str,
    returns: TokenStream,
) -> TokenStream {
    let Parts { attrs, vis, .. } = Parts::new(item, sig);
    let receiver = header::stub_receiver(item);
    let n = sig.params.iter().filter(|p| !p.is_receiver()).count() + sig.params.len();
    let args: Vec<Ident> = (0..n).map(|k| format_ident!("__A{}", k)).collect();
    let private = private();
    let trait_ = Ident::new(trait_, Span::call_site());
    let generics = item.sig.generics.params.iter();
    let pullback = returns
        .to_string()
        .contains("__AutodiffPullback")
        .then(|| quote!(__AutodiffPullback,));
    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[allow(dead_code, non_snake_case, clippy::all)]
        #vis fn #name<#(#generics,)* #(#args,)* #pullback>(#receiver #(_: #args),*) -> #returns
        where
            for<'__autodiff> &'__autodiff #private::Missing: #private::#trait_,
        {
            ::core::unreachable!()
        }
    }
}

/// `f_jvp` of a function with a custom derivative: the user's forward rule.
fn custom_public_jvp(item: &syn::ItemFn, sig: &Signature, rule: &syn::ExprPath) -> TokenStream {
    let mut common = Common::new(item, sig);
    let out_ty = &sig.output.as_ref().expect("checked").ty;
    let ident = &item.sig.ident;
    let tangent = common.names.fresh("tangent", ident.span());
    let Parts {
        attrs,
        vis,
        generics,
        where_clause,
        params,
        param_names,
        types,
        ..
    } = &common.parts;
    let grad_ty = &common.shape.ty;
    let jvp_fn = format_ident!("{}_jvp", ident);
    let doc = format!(
        "The value of [`{ident}`] and its directional derivative along `tangent`, from its forward rule `{}`.\n\nGenerated by `#[differentiate(jvp = ..)]`.",
        quote!(#rule).to_string().replace(' ', "")
    );
    // Errors in the rule's signature point at its path in the attribute.
    let checked = common.names.fresh("rule", ident.span());
    let check = quote::quote_spanned!(rule.span()=> let #checked: fn(#(#types,)* #grad_ty) -> (#out_ty, #out_ty) = #rule;);
    quote! {
        #(#attrs)*
        #[doc = #doc]
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #jvp_fn #generics (#(#params,)* #tangent: #grad_ty) -> (#out_ty, #out_ty) #where_clause {
            #check
            #checked(#(#param_names,)* #tangent)
        }
    }
}

/// The names every item of forward mode needs.
pub(super) struct Common<'a> {
    pub(super) parts: Parts<'a>,
    pub(super) names: Names,
    /// `f`, `Self::f`: how to call an item of the same family.
    pub(super) path: Box<dyn Fn(&Ident) -> TokenStream>,
    /// The tangent parameters of `__f_jvp` (one per parameter) and whether each is active.
    pub(super) tangents: Vec<Ident>,
    pub(super) shape: public::GradShape,
    /// The float type of the output's components (`Vec<Vec<T>>` of a Jacobian or Hessian).
    pub(super) elem: TokenStream,
    /// The `where` clause of `_jacobian` and `_hessian`, which call the function once per
    /// column and so clone the parameters: parameters of a generic type must be `Clone`.
    pub(super) clone_where: TokenStream,
}

impl<'a> Common<'a> {
    pub(super) fn new(item: &'a syn::ItemFn, sig: &'a Signature) -> Self {
        let parts = Parts::new(item, sig);
        let mut names = Names::avoiding(&parts.param_names);
        let tangents = sig
            .params
            .iter()
            .map(|p| names.fresh(&format!("t_{}", p.ident), p.ident.span()))
            .collect();
        let associated = crate::signature::is_associated(item);
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
        let generic: Vec<String> = item
            .sig
            .generics
            .type_params()
            .map(|t| t.ident.to_string())
            .chain((0..parts.types.len()).map(|k| format!("__AutodiffImpl{k}")))
            .collect();
        let bounds: Vec<TokenStream> = parts
            .types
            .iter()
            .zip(&sig.params)
            .filter(|(ty, p)| {
                !p.by_ref()
                    && p.kind != ParamKind::Float
                    && quote!(#ty)
                        .into_iter()
                        .any(|tt| generic.contains(&tt.to_string()))
            })
            .map(|(ty, _)| quote!(#ty: ::core::clone::Clone))
            .collect();
        let where_clause = &parts.where_clause;
        let clone_where = match (bounds.is_empty(), where_clause.is_empty()) {
            (true, _) => where_clause.clone(),
            (false, true) => quote!(where #(#bounds),*),
            (false, false) => quote!(#where_clause, #(#bounds),*),
        };
        Common {
            parts,
            names,
            path,
            tangents,
            shape,
            elem,
            clone_where,
        }
    }
}

/// The statements that turn `Tangent` arguments into the tangents `__f_tangent` takes: a
/// zero one made like its parameter.
/// `names` are the parameters' names where the statements go (`self` is renamed in a closure).
pub(super) fn unwrap_tangents(
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
pub(super) fn tangent_types(sig: &Signature, common: &Common) -> Vec<TokenStream> {
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

/// What `__f_jvp` calls.
pub enum Body<'a> {
    /// Calls `__f_tangent` (or its reverse pass).
    Core(&'a Ident),
    /// Calls the user's forward rule `g(params.., tangent: G)` (`jvp = g`).
    Custom(&'a syn::ExprPath),
}

/// `__f_jvp`: what a call of `f` in another function's forward mode calls.
pub fn jvp_wrapper(item: &syn::ItemFn, sig: &Signature, body: &Body) -> TokenStream {
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
    let body = match body {
        Body::Core(core) => {
            let core = (common.path)(core);
            quote! {
                #(#unwrap)*
                #core(#(#param_names,)* #(#active),*)
            }
        }
        Body::Custom(rule) => {
            // The user's rule takes the tangent shaped like the gradient, owned.
            let owned: Vec<TokenStream> = sig
                .params
                .iter()
                .zip(tangents)
                .filter(|(p, _)| p.active)
                .map(|(p, t)| {
                    if p.by_ref() {
                        quote!(::std::borrow::ToOwned::to_owned(#t))
                    } else {
                        quote!(#t)
                    }
                })
                .collect();
            let tangent = if owned.len() == 1 {
                quote!(#(#owned)*)
            } else {
                quote!((#(#owned,)*))
            };
            quote! {
                #(#unwrap)*
                #rule(#(#param_names,)* #tangent)
            }
        }
    };
    let jvp = jvp_ident(&item.sig.ident);
    quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[inline]
        #[allow(dead_code, non_snake_case, unused_variables, clippy::all)]
        #vis fn #jvp #generics (#(#params,)* #(#tangents: #types),*) -> (#out_ty, #out_ty) #where_clause {
            #body
        }
    }
}

pub(super) fn active_tangents<'t>(sig: &Signature, tangents: &'t [Ident]) -> Vec<&'t Ident> {
    sig.params
        .iter()
        .zip(tangents)
        .filter(|(p, _)| p.active)
        .map(|(_, t)| t)
        .collect()
}

/// `dir` with the skipped float fields of its structs set to zero (a gradient handed in as a
/// direction holds copies of the values there), when a struct is differentiated.
pub(super) fn zero_skipped(sig: &Signature, dir: &Ident) -> TokenStream {
    let structs = sig
        .active_params()
        .any(|(_, p)| matches!(p.kind, crate::signature::ParamKind::Struct { .. }));
    if !structs {
        return TokenStream::new();
    }
    let private = private();
    quote!(let mut #dir = #dir; #private::zero_carried_floats(&mut #dir);)
}

/// The entries of a gradient-shaped `dir` as the tangent arguments of `__f_tangent`:
/// `dir.0`, `&dir.1`.
pub(super) fn entries_as_tangents(
    sig: &Signature,
    shape: &public::GradShape,
    dir: &Ident,
) -> Vec<TokenStream> {
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
        clone_where,
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
    let zero_skipped = zero_skipped(sig, &tangent);
    let wrt = wrt_list(sig);
    let jvp_fn = format_ident!("{}_jvp", ident);
    let doc_jvp = format!(
        "The value of [`{ident}`] and its directional derivative along `tangent` (a Jacobian-vector product), in one forward sweep; `tangent` has one entry per parameter differentiated ({wrt}), shaped like the gradient.\n\nGenerated by `#[differentiate(jvp)]`."
    );
    let jvp_item = quote! {
        #(#attrs)*
        #[doc = #doc_jvp]
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #jvp_fn #generics (#(#params,)* #tangent: #grad_ty) -> (#out_ty, #out_ty) #where_clause {
            #zero_skipped
            #core(#(#param_names,)* #(#tangents),*)
        }
    };
    if output.scalar {
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
        #[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
        #vis fn #jacobian_fn #generics (#(#params),*) -> (#out_ty, ::std::vec::Vec<::std::vec::Vec<#elem>>) #clone_where {
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

pub(super) fn wrt_list(sig: &Signature) -> String {
    let wrt: Vec<String> = sig
        .active_params()
        .map(|(_, p)| format!("`{}`", p.ident))
        .collect();
    wrt.join(", ")
}
