//! The one error collector of an expansion. Front-end stages record errors with their spans and
//! keep going; the driver reports them all at once.

use std::cell::RefCell;
use std::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;

pub struct Ctxt {
    // `None` once `check` has taken the errors.
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error at the span of `tokens`.
    pub fn error_spanned_by(&self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records an error at `span`.
    pub fn error_at(&self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Records an error, once: a body differentiated once per `#[cfg]` combination meets the
    /// same mistake in each.
    pub fn push(&self, error: syn::Error) {
        let mut errors = self.errors.borrow_mut();
        let errors = errors.as_mut().expect("Ctxt used after check");
        let key = |e: &syn::Error| (e.to_string(), format!("{:?}", e.span()));
        if !errors.iter().any(|e| key(e) == key(&error)) {
            errors.push(error);
        }
    }

    pub fn has_errors(&self) -> bool {
        self.errors.borrow().as_ref().is_some_and(|e| !e.is_empty())
    }

    /// Takes the recorded errors, combined into one, or `Ok` when there are none.
    pub fn check(self) -> syn::Result<()> {
        let errors = self.errors.borrow_mut().take().expect("Ctxt checked twice");
        let mut iter = errors.into_iter();
        let Some(mut combined) = iter.next() else {
            return Ok(());
        };
        for rest in iter {
            combined.combine(rest);
        }
        Err(combined)
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        // A forgotten `check` would drop the user's errors on the floor; fail loudly in tests.
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            panic!("forgot to check for errors");
        }
    }
}
