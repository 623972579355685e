//! The backward sweep's statements on the adjoints of memories (arrays, slices, `Vec`s, struct
//! fields): declaring, zeroing, adding into an element, a row or the whole.

use super::*;

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::{Mem, MemInitKind, Operand, Stmt, Value, same_indices};
use crate::reverse::{BwdStmt, Term};

impl Writer<'_> {
    /// The statements on the adjoints of memories (arrays, struct fields): zeroing, resetting,
    /// adding into an element, a row or the whole, seeding from a tuple output.
    pub(super) fn mem_adjoint_stmt(&mut self, stmt: &BwdStmt) -> TokenStream {
        let function = self.function;
        let private = private();
        match stmt {
            BwdStmt::ZeroMem { mem, len } => self.zero_mem(*mem, *len),
            BwdStmt::AddToMem { mem, indices, term } => {
                // A whole array read from a struct's field (`let w = p.w;`) is a value whose
                // adjoint is an array too.
                let whole =
                    matches!(term, Term::Adjoint(v) if function.values[v.index()].aggregate);
                let term = self.term(term);
                self.add_to_mem(*mem, indices, term, whole)
            }
            BwdStmt::ResetMemElem {
                mem,
                indices,
                pop: true,
            } => {
                let name = self.mem_adjoint(*mem);
                let indices = self.indices(indices);
                quote!(#name.truncate(#(#indices)*);)
            }
            BwdStmt::ResetMemElem { mem, indices, .. } => {
                let name = self.mem_adjoint(*mem);
                let indices = self.indices(indices);
                let zero = self.zero();
                quote!(#name #([#indices])* = #zero;)
            }
            BwdStmt::AddMem { target, source } => {
                let target = self.adjoint_slice(*target, true);
                let source = self.adjoint_slice(*source, false);
                quote!(#private::add_into(#target, #source);)
            }
            BwdStmt::AddSnapshot {
                target,
                prefix,
                source,
            } => {
                let name = self.mem_adjoint(*target);
                let indices = self.indices(prefix);
                let source = self.names.adjoint(function, *source);
                quote!(#private::add_into(&mut #name #([#indices])* [..], &#source[..]);)
            }
            BwdStmt::AddMemToValue { target, source } => {
                let target = self.names.adjoint(function, *target);
                let source = self.adjoint_slice(*source, false);
                quote!(#private::add_into(&mut #target[..], #source);)
            }
            BwdStmt::SeedMem { mem, path, first } => {
                let seed = self
                    .seed_name
                    .clone()
                    .expect("a tuple output has a seed parameter");
                let path = path.iter().map(|k| syn::Index::from(*k as usize));
                let part = quote!(#seed #(.#path)*);
                if *first {
                    let name = self.names.mem_adjoint(function, *mem);
                    quote!(let mut #name = #part;)
                } else {
                    let name = self.mem_adjoint(*mem);
                    quote!(#private::AddGrad::add_grad(&mut #name, #part);)
                }
            }
            BwdStmt::ResetMem { mem, len: None } => {
                let target = self.adjoint_slice(*mem, true);
                quote!(#private::fill_zero(#target);)
            }
            BwdStmt::ResetMem {
                mem,
                len: Some(len),
            } => {
                let name = self.mem_adjoint(*mem);
                let len = self.name(*len);
                quote!(#private::zero_resized(&mut #name, #len);)
            }
            _ => unreachable!("not a statement on a memory's adjoint"),
        }
    }

    /// A parameter that is a reference (not a field of one, which is a place).
    /// `d_mem[indices] += term`, or `sum += term` where a backward loop sums that element in a
    /// local.
    pub(super) fn add_to_mem(
        &mut self,
        mem: Mem,
        indices: &[Operand],
        term: TokenStream,
        whole: bool,
    ) -> TokenStream {
        if let Some((.., sum)) = self
            .sums
            .iter()
            .rev()
            .find(|(m, place, _)| *m == mem && same_indices(place, indices))
        {
            return quote!(#sum += #term;);
        }
        if let Some(place) = self.windowed_place(mem, true, indices) {
            return quote!(#place += #term;);
        }
        let private = private();
        let name = self.mem_adjoint(mem);
        // A parameter's whole adjoint is a `&mut` already.
        let name = if indices.is_empty()
            && self.is_param_mem(mem)
            && self.function.mems[mem.index()].field.is_none()
        {
            quote!(*#name)
        } else {
            name
        };
        let indices = self.indices(indices);
        if whole {
            quote!(#private::AddGrad::add_grad(&mut #name #([#indices])*, #term);)
        } else {
            quote!(#name #([#indices])* += #term;)
        }
    }

    pub(super) fn is_ref_param_mem(&self, mem: Mem) -> bool {
        let data = &self.function.mems[mem.index()];
        data.field.is_none() && data.param.is_some_and(|p| self.ref_params[p])
    }

    /// The adjoint of a memory as a slice (of numbers, or of rows): `&mut d_a[..]`.
    pub(super) fn adjoint_slice(&mut self, mem: Mem, mutable: bool) -> TokenStream {
        let name = self.mem_adjoint(mem);
        if mutable {
            quote!(&mut #name[..])
        } else {
            quote!(&#name[..])
        }
    }

    /// `let mut d_a = [0.0; n];`: the adjoint memory of a local array, shaped like it.
    pub(super) fn zero_mem(&mut self, mem: Mem, len: Option<Value>) -> TokenStream {
        let function = self.function;
        let name = self.names.mem_adjoint(function, mem);
        let vec = function.mems[mem.index()].vec;
        let private = private();
        if let Some(len) = len {
            // A `Vec` assigned whole: as long as it is at the end; one made from a call's result
            // may be an array, of that result's type.
            let len = self.name(len);
            if let Some(MemInitKind::FromValue(value)) =
                crate::ir::visit::find_mem_init(&function.body, mem)
            {
                let value = self.name(*value);
                return quote!(let mut #name = #private::zero_of_len(&#value, #len););
            }
            let zero = self.zero();
            return quote!(let mut #name = ::std::vec![#zero; #len];);
        }
        let value = match crate::ir::visit::find_mem_init(&function.body, mem) {
            Some(MemInitKind::Repeat { lens, vecs, .. }) => {
                let mut value = self.zero();
                for (len, vec) in lens.iter().zip(vecs).rev() {
                    let len = self.operand(len, Span::call_site());
                    value = if *vec {
                        quote!(::std::vec![#value; #len])
                    } else {
                        quote!([#value; #len])
                    };
                }
                value
            }
            Some(MemInitKind::List { elems, row }) => {
                let zero = self.zero();
                let zero = match row {
                    Some((n, false)) => quote!([#zero; #n]),
                    Some((n, true)) => quote!(::std::vec![#zero; #n]),
                    None => zero,
                };
                let len = elems.len() / row.map_or(1, |(n, _)| n);
                if vec {
                    quote!(::std::vec![#zero; #len])
                } else {
                    quote!([#zero; #len])
                }
            }
            Some(MemInitKind::FromValue(value)) => {
                let value = self.name(*value);
                quote!(#private::zero_grad(&#value))
            }
            Some(MemInitKind::Empty { .. }) => quote!(::std::vec::Vec::new()),
            Some(MemInitKind::RowsLike { like, cap }) => {
                self.rows_like(like, cap.as_ref(), Span::call_site())
            }
            Some(MemInitKind::ZeroLike(like)) => {
                let like = self.operand(like, Span::call_site());
                quote!(#private::zero_grad(&#like))
            }
            Some(MemInitKind::Placeholder) => {
                let primal = self.mem_name(mem);
                quote!(#private::zero_grad(&#primal))
            }
            // A copy of a `Vec` that grows after it (`let kept = v.clone(); v.push(y)`): shaped
            // like the copy, which keeps the length the source had then; or of one the function
            // returns (moved out before the backward sweep runs).
            Some(MemInitKind::Copy { src })
                if crate::ir::visit::may_grow(&function.body, *src)
                    || returns(&function.output, *src) =>
            {
                let primal = self.mem_name(mem);
                quote!(#private::zero_grad(&#primal))
            }
            Some(MemInitKind::Copy { src }) => {
                let src = *src;
                let top_level = function
                    .body
                    .stmts
                    .iter()
                    .any(|s| matches!(s, Stmt::MemInit(i) if i.mem == src && i.declare));
                if self.is_param_mem(src) || top_level {
                    let src = self.mem_name(src);
                    quote!(#private::zero_grad(&#src))
                } else {
                    let src = self.mem_adjoint(src);
                    quote!(#private::zero_grad(&#src))
                }
            }
            None => quote!(::core::unreachable!()),
        };
        quote!(let mut #name = #value;)
    }
}

/// Whether the function's value is `mem` or holds it (a tuple of arrays).
fn returns(output: &crate::ir::Output, mem: Mem) -> bool {
    match output {
        crate::ir::Output::Mem(out) => *out == mem,
        crate::ir::Output::Tuple(parts) => parts.iter().any(|part| returns(part, mem)),
        crate::ir::Output::Operand(_) | crate::ir::Output::Passive(_) => false,
    }
}
