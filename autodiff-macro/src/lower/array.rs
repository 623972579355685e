//! Arrays and vectors built in the body: `[x; n]`, `[a, b]`, `vec![..]`.

use super::*;
use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Token};

impl Lowerer<'_> {
    /// `[elem; len]` (and `vec![elem; len]` with `vec`).
    pub(super) fn repeat(&mut self, elem: &Expr, len: &Expr, vec: bool, span: Span) -> Val {
        let len = self.operand(len);
        let (elem, mut lens, inner_vec) = match self.expr(elem) {
            // `[[0.0; m]; n]`: the inner array was built first; take its shape.
            Val::Mem(inner, prefix) if prefix.is_empty() => match self.take_repeat(inner) {
                Some((elem, lens)) => (elem, lens, self.mems[inner.index()].vec),
                None => {
                    self.error_at(
                        span,
                        "only arrays of constants such as `[[0.0; M]; N]` can be nested here",
                    );
                    return Val::Poison;
                }
            },
            Val::Scalar(elem) => (elem, Vec::new(), false),
            Val::Poison => return Val::Poison,
            _ => {
                self.error_at(span, "an array must be filled with a number");
                return Val::Poison;
            }
        };
        if inner_vec {
            self.error_at(
                span,
                "nested `Vec`s are not supported; use a flat `Vec` and index it `i * m + j`",
            );
            return Val::Poison;
        }
        lens.insert(0, len);
        let mem = self.new_mem(None, lens.len(), vec, None);
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::Repeat { elem, lens },
            declare: true,
            len: None,
            ty: None,
            span,
        }));
        Val::Mem(mem, Vec::new())
    }

    /// Takes back the initialization of a just-built inner array, to fold it into its parent.
    pub(super) fn take_repeat(&mut self, inner: Mem) -> Option<(Operand, Vec<Operand>)> {
        let block = self.blocks.last_mut()?;
        match block.last() {
            Some(ir::Stmt::MemInit(init)) if init.mem == inner => {}
            _ => return None,
        }
        match block.pop() {
            Some(ir::Stmt::MemInit(MemInit {
                kind: MemInitKind::Repeat { elem, lens },
                ..
            })) => Some((elem, lens)),
            _ => None,
        }
    }

    /// `[a, b, c]` (and `vec![a, b, c]` with `vec`).
    pub(super) fn list<'e>(
        &mut self,
        elems: impl Iterator<Item = &'e Expr>,
        vec: bool,
        span: Span,
    ) -> Val {
        let elems: Vec<Operand> = elems.map(|e| self.operand(e)).collect();
        let mem = self.new_mem(None, 1, vec, None);
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::List { elems },
            declare: true,
            len: None,
            ty: None,
            span,
        }));
        Val::Mem(mem, Vec::new())
    }

    pub(super) fn vec_macro(&mut self, mac: &syn::Macro) -> Val {
        let span = mac.span();
        if let Ok((elem, len)) = mac.parse_body_with(|input: syn::parse::ParseStream| {
            let elem: Expr = input.parse()?;
            input.parse::<Token![;]>()?;
            let len: Expr = input.parse()?;
            Ok((elem, len))
        }) {
            return self.repeat(&elem, &len, true, span);
        }
        match mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) {
            Ok(elems) => self.list(elems.iter(), true, span),
            Err(err) => {
                self.error_at(
                    err.span(),
                    "expected `vec![value; len]` or `vec![a, b, ...]`",
                );
                Val::Poison
            }
        }
    }
}
