//! The attribute's arguments: `#[differentiate]`, `#[differentiate(wrt(w, b))]`,
//! `#[differentiate(pullback = my_pullback)]`, `#[differentiate(jvp, hessian)]`.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Ident, Meta, Token};

use crate::ctxt::Ctxt;

#[derive(Default)]
pub struct Options {
    /// The parameters named by `wrt(...)`; `None` when every float parameter is active.
    pub wrt: Option<Vec<Ident>>,
    /// A user-written pullback: the body is not differentiated, this function gives the
    /// gradient (`pullback = softplus_derivative`).
    pub pullback: Option<syn::ExprPath>,
    /// `jvp`: forward mode (`f_jvp`, `f_jacobian`); with a custom derivative, `jvp = g` names
    /// the user's forward rule.
    pub jvp: bool,
    pub custom_jvp: Option<syn::ExprPath>,
    /// `hessian`: second order (`f_hvp`, `f_hessian`); implies `jvp`.
    pub hessian: bool,
}

/// `wrt(w, b), nonsense` → `Options { wrt: Some([w, b]) }` plus an error at `nonsense`.
pub fn parse(cx: &Ctxt, args: TokenStream) -> Options {
    let mut options = Options::default();
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(err) => {
            cx.push(err);
            return options;
        }
    };
    for meta in metas {
        match &meta {
            Meta::List(list) if list.path.is_ident("wrt") => {
                if options.wrt.is_some() {
                    cx.error_spanned_by(
                        &list.path,
                        "`wrt` is given twice; name every parameter in one `wrt(...)`",
                    );
                    continue;
                }
                // `Ident::parse_any` accepts `self`.
                let parser = |input: syn::parse::ParseStream| {
                    Punctuated::<Ident, Token![,]>::parse_terminated_with(input, Ident::parse_any)
                };
                match parser.parse2(list.tokens.clone()) {
                    Ok(names) if names.is_empty() => cx.error_spanned_by(
                        &meta,
                        "`wrt()` names no parameter; name the parameters to differentiate, or remove `wrt`",
                    ),
                    Ok(names) => options.wrt = Some(names.into_iter().collect()),
                    Err(err) => cx.push(syn::Error::new(
                        err.span(),
                        "`wrt(...)` takes parameter names separated by commas, such as `wrt(w, b)`",
                    )),
                }
            }
            Meta::NameValue(nv) if nv.path.is_ident("pullback") => match &nv.value {
                syn::Expr::Path(path) if options.pullback.is_none() => options.pullback = Some(path.clone()),
                syn::Expr::Path(_) => cx.error_spanned_by(&nv.path, "`pullback` is given twice"),
                value => cx.error_spanned_by(
                    value,
                    "`pullback = ...` takes the path of a function `fn(params..., d_out) -> gradient`",
                ),
            },
            Meta::Path(path) if path.is_ident("jvp") => {
                if options.jvp {
                    cx.error_spanned_by(path, "`jvp` is given twice");
                }
                options.jvp = true;
            }
            Meta::Path(path) if path.is_ident("hessian") => {
                if options.hessian {
                    cx.error_spanned_by(path, "`hessian` is given twice");
                }
                options.hessian = true;
            }
            Meta::NameValue(nv) if nv.path.is_ident("jvp") => match &nv.value {
                syn::Expr::Path(path) if !options.jvp => {
                    options.jvp = true;
                    options.custom_jvp = Some(path.clone());
                }
                syn::Expr::Path(_) => cx.error_spanned_by(&nv.path, "`jvp` is given twice"),
                value => cx.error_spanned_by(
                    value,
                    "`jvp = ...` takes the path of a function `fn(params..., tangents...) -> (value, tangent)`",
                ),
            },
            _ => {
                let path = meta.path();
                let name = quote::quote!(#path).to_string().replace(' ', "");
                cx.error_spanned_by(
                    &meta,
                    format!(
                        "unknown option `{name}` of `#[differentiate]`; the options are `wrt(param, ...)`, `jvp`, `hessian` and `pullback = function`"
                    ),
                );
            }
        }
    }
    if options.hessian {
        options.jvp = true;
    }
    options
}
