//! The attribute's arguments: `#[differentiate]` or `#[differentiate(wrt(w, b))]`.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Ident, Meta, Token};

use crate::ctxt::Ctxt;

#[derive(Default)]
pub struct Options {
    /// The parameters named by `wrt(...)`; `None` when every float parameter is active.
    pub wrt: Option<Vec<Ident>>,
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
                match Punctuated::<Ident, Token![,]>::parse_terminated.parse2(list.tokens.clone()) {
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
            _ => {
                let path = meta.path();
                let name = quote::quote!(#path).to_string().replace(' ', "");
                cx.error_spanned_by(
                    &meta,
                    format!(
                        "unknown option `{name}` of `#[differentiate]`; the only option is `wrt(param, ...)`"
                    ),
                );
            }
        }
    }
    options
}
