//! Checks of the function's signature, and what each parameter and the return value are to the
//! derivative.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Pat, ReturnType, Type};

use crate::ctxt::Ctxt;
use crate::options::Options;

pub struct Signature {
    pub params: Vec<Param>,
    /// The float type returned (`f64`), when the return type is one.
    pub output: Option<Type>,
}

pub struct Param {
    /// The parameter's name; a generated one for `_`.
    pub ident: Ident,
    pub ty: Type,
    pub kind: ParamKind,
    /// Whether the gradient has an entry for this parameter.
    pub active: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ParamKind {
    /// `f32` or `f64`.
    Float,
    /// Anything else: integers, `bool`, other types. Never differentiated.
    Other,
}

/// `fn f(x: f64, n: usize) -> f64` with `wrt` absent → params `[x: Float active, n: Other]`.
pub fn check(cx: &Ctxt, sig: &syn::Signature, options: &Options) -> Signature {
    if let Some(token) = &sig.asyncness {
        cx.error_spanned_by(
            token,
            "`async fn` cannot be differentiated; differentiate a synchronous function and call it from async code",
        );
    }
    if let syn::Safety::Unsafe(token) = &sig.safety {
        cx.error_spanned_by(
            token,
            "`unsafe fn` cannot be differentiated; keep the unsafe code in a function without `#[differentiate]`",
        );
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "variadic functions cannot be differentiated");
    }

    let mut params = Vec::new();
    for (index, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(receiver) => cx.error_spanned_by(
                receiver,
                "methods with `self` are not supported yet; make the function free-standing and pass the value as a parameter",
            ),
            FnArg::Typed(pat_type) => {
                let ident = param_ident(cx, &pat_type.pat, index);
                let ty = (*pat_type.ty).clone();
                if let Type::Reference(reference) = &ty {
                    if let Some(mutability) = &reference.mutability {
                        cx.error_spanned_by(
                            mutability,
                            "`&mut` parameters cannot be differentiated; take the value (or a shared reference) and return the result",
                        );
                    }
                }
                let kind = if float_type(&ty) { ParamKind::Float } else { ParamKind::Other };
                params.push(Param {
                    ident,
                    ty,
                    kind,
                    active: kind == ParamKind::Float && options.wrt.is_none(),
                });
            }
        }
    }

    if let Some(wrt) = &options.wrt {
        for name in wrt {
            match params.iter_mut().find(|p| p.ident == *name) {
                None => cx.error_spanned_by(
                    name,
                    format!("`wrt` names `{name}`, but the function has no parameter `{name}`"),
                ),
                Some(param) if param.kind == ParamKind::Other => {
                    let ty = &param.ty;
                    cx.error_spanned_by(
                        name,
                        format!(
                            "`{name}` has type `{}`, which has no derivative; `wrt` can name parameters of type `f32` or `f64`",
                            quote::quote!(#ty).to_string().replace(' ', "")
                        ),
                    );
                }
                Some(param) if param.active => {
                    cx.error_spanned_by(name, format!("`wrt` names `{name}` twice"))
                }
                Some(param) => param.active = true,
            }
        }
    }

    let output = match &sig.output {
        ReturnType::Type(_, ty) if float_type(ty) => Some((**ty).clone()),
        ReturnType::Type(_, ty) => {
            cx.error_spanned_by(
                ty,
                "`#[differentiate]` needs a function that returns `f32` or `f64`; the gradient is taken of that value",
            );
            None
        }
        ReturnType::Default => {
            cx.error_spanned_by(
                &sig.ident,
                "`#[differentiate]` needs a function that returns `f32` or `f64`; this one returns nothing",
            );
            None
        }
    };

    Signature { params, output }
}

fn param_ident(cx: &Ctxt, pat: &Pat, index: usize) -> Ident {
    match pat {
        Pat::Ident(pat_ident) if pat_ident.by_ref.is_none() && pat_ident.subpat.is_none() => {
            pat_ident.ident.clone()
        }
        Pat::Wild(wild) => Ident::new(&format!("_arg{index}"), wild.span()),
        _ => {
            cx.error_spanned_by(
                pat,
                "parameter patterns are not supported; bind the parameter to a name and destructure it in the body",
            );
            Ident::new(&format!("_arg{index}"), Span::call_site())
        }
    }
}

/// `f32` or `f64`, possibly in parentheses.
pub fn float_type(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .get_ident()
            .is_some_and(|ident| ident == "f64" || ident == "f32"),
        Type::Paren(paren) => float_type(&paren.elem),
        Type::Group(group) => float_type(&group.elem),
        _ => false,
    }
}

impl Signature {
    pub fn active_params(&self) -> impl Iterator<Item = (usize, &Param)> {
        self.params.iter().enumerate().filter(|(_, p)| p.active)
    }
}
