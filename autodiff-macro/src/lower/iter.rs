//! Iterator chains: a source (a range, an array, slice or `Vec`, a call's array), adapters
//! (`map`, `filter`, `zip`, `enumerate`, `rev`, `skip`, `take`, `step_by`, `copied`, ...) and a
//! consumer (`sum`, `product`, `fold`, `reduce`, `max_by`, `min_by`, `collect`, `count`, `last`,
//! `any`, `all`, or a `for` loop). A chain is lowered as the loop it stands for: one iteration
//! per position of the source, the item at each position computed in the body (closures
//! inlined), so that it differentiates as the loop would, and allocates what the loop would.
//!
//! ```text
//! x.iter()                          acc = -0.0
//!     .map(|v| (v - m).exp())  →    for j in 0..x.len() { v = load(x, j); t = exp(sub(v, m));
//!     .sum::<f64>()                                       acc = add(acc, t) }
//! ```
//!
//! The item at a position follows from the stages: `enumerate` pairs the position with the
//! item, `skip(n)` reads position `p + n`, `step_by(k)` position `p k`, `rev()` position
//! `count - 1 - p`, `zip` pairs the items of its streams at `p`. A `filter` keeps the rest of the
//! iteration under `if keep(item)`, so stages that count positions cannot follow it.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Expr;
use syn::spanned::Spanned;

use super::closure::Callable;
use super::loops::RangeSpec;
use super::*;

/// An iterator: how many positions, and what is at each.
pub(super) struct Stream {
    pub(super) count: Operand,
    kind: StreamKind,
}

enum StreamKind {
    /// The integers `start + p`.
    Range {
        start: Operand,
    },
    /// The elements (or rows) of an array, slice or `Vec`.
    Mem {
        mem: Mem,
        prefix: Vec<Operand>,
    },
    /// The elements of an array or `Vec` returned by a call.
    Value(Value),
    Map(Box<Stream>, Callable),
    Filter(Box<Stream>, Callable),
    Enumerate(Box<Stream>),
    Zip(Vec<Stream>),
    /// Position `p` reads the inner stream at `p + n`.
    Skip(Box<Stream>, Operand),
    /// Position `p` reads the inner stream at `p k`.
    StepBy(Box<Stream>, Operand),
    /// Position `p` reads the inner stream at `count - 1 - p`.
    Rev(Box<Stream>),
    /// The first positions of the inner stream (`count` is already the smaller).
    Take(Box<Stream>),
    /// `x.windows(size)`: the views `x[p..p + size]`.
    Windows {
        mem: Mem,
        prefix: Vec<Operand>,
        size: Operand,
    },
    /// `x.chunks(size)`: the views `x[p size..min(p size + size, len)]`.
    Chunks {
        mem: Mem,
        prefix: Vec<Operand>,
        size: Operand,
        len: Operand,
    },
}

/// The adapters that only pass the items on.
const IDENTITY: &[&str] = &["iter", "into_iter", "copied", "cloned", "by_ref"];

impl Stream {
    pub(super) fn filtered(&self) -> bool {
        match &self.kind {
            StreamKind::Filter(..) => true,
            StreamKind::Map(inner, _) => inner.filtered(),
            _ => false,
        }
    }
}

impl Lowerer<'_> {
    /// Whether `expr` is an iterator chain the lowering knows (without lowering it).
    pub(super) fn is_stream(expr: &Expr) -> bool {
        match strip_parens(expr) {
            Expr::Range(_) => true,
            Expr::MethodCall(call) => {
                let name = call.method.to_string();
                IDENTITY.contains(&name.as_str())
                    || matches!(
                        name.as_str(),
                        "map"
                            | "filter"
                            | "enumerate"
                            | "zip"
                            | "skip"
                            | "take"
                            | "step_by"
                            | "rev"
                            | "windows"
                            | "chunks"
                            | "chunks_exact"
                    )
            }
            _ => false,
        }
    }

    /// The stream an expression stands for, or `None` after reporting why not.
    pub(super) fn stream(&mut self, expr: &Expr) -> Option<Stream> {
        let span = expr.span();
        match strip_parens(expr) {
            Expr::Range(range) => {
                let (Some(start), Some(end)) = (&range.start, &range.end) else {
                    self.error(range, "an iterated range needs both bounds");
                    return None;
                };
                let start = self.operand(start);
                let end = self.operand(end);
                let count = match range.limits {
                    syn::RangeLimits::HalfOpen(_) => self.int(
                        quote!(H1.saturating_sub(H0)),
                        vec![start.clone(), end],
                        span,
                    ),
                    syn::RangeLimits::Closed(_) => self.int(
                        quote!((H1 + 1).saturating_sub(H0)),
                        vec![start.clone(), end],
                        span,
                    ),
                };
                Some(Stream {
                    count,
                    kind: StreamKind::Range { start },
                })
            }
            Expr::MethodCall(call) => {
                let name = call.method.to_string();
                let args = &call.args;
                match name.as_str() {
                    "iter_mut" => {
                        self.error(
                            &call.method,
                            "`.iter_mut()` is not supported in differentiated code; assign the elements by index (`for i in 0..a.len() { a[i] = .. }`)",
                        );
                        None
                    }
                    _ if IDENTITY.contains(&name.as_str()) && args.is_empty() => {
                        if Self::is_stream(&call.receiver) {
                            self.stream(&call.receiver)
                        } else {
                            self.source(&call.receiver)
                        }
                    }
                    "map" | "filter" if args.len() == 1 => {
                        let inner = self.stream(&call.receiver)?;
                        let f = self.callable(&args[0])?;
                        let count = inner.count.clone();
                        let kind = if name == "map" {
                            StreamKind::Map(Box::new(inner), f)
                        } else {
                            StreamKind::Filter(Box::new(inner), f)
                        };
                        Some(Stream { count, kind })
                    }
                    "enumerate" if args.is_empty() => {
                        let inner = self.positional(&call.receiver, &call.method)?;
                        let count = inner.count.clone();
                        Some(Stream {
                            count,
                            kind: StreamKind::Enumerate(Box::new(inner)),
                        })
                    }
                    "rev" if args.is_empty() => {
                        let inner = self.positional(&call.receiver, &call.method)?;
                        let count = inner.count.clone();
                        Some(Stream {
                            count,
                            kind: StreamKind::Rev(Box::new(inner)),
                        })
                    }
                    "zip" if args.len() == 1 => {
                        let a = self.positional(&call.receiver, &call.method)?;
                        let b = self.positional(&args[0], &call.method)?;
                        let count = self.int(
                            quote!(H0.min(H1)),
                            vec![a.count.clone(), b.count.clone()],
                            span,
                        );
                        Some(Stream {
                            count,
                            kind: StreamKind::Zip(vec![a, b]),
                        })
                    }
                    "windows" | "chunks" | "chunks_exact" if args.len() == 1 => {
                        let Val::Mem(mem, prefix) = self.expr(&call.receiver) else {
                            self.error(
                                &call.receiver,
                                format!("`.{name}(..)` is supported on arrays, slices and `Vec`s of the function"),
                            );
                            return None;
                        };
                        let size = self.operand(&args[0]);
                        let len = Operand::Value(self.emit(Op::Len(mem), prefix.clone(), span));
                        let (count, kind) = match name.as_str() {
                            "windows" => (
                                self.int(
                                    quote!((H0 + 1).saturating_sub(H1)),
                                    vec![len, size.clone()],
                                    span,
                                ),
                                StreamKind::Windows { mem, prefix, size },
                            ),
                            "chunks" => (
                                self.int(
                                    quote!(H0.div_ceil(H1)),
                                    vec![len.clone(), size.clone()],
                                    span,
                                ),
                                StreamKind::Chunks {
                                    mem,
                                    prefix,
                                    size,
                                    len,
                                },
                            ),
                            _ => {
                                // Exact chunks: the remainder is left out.
                                let count =
                                    self.int(quote!(H0 / H1), vec![len, size.clone()], span);
                                let len = self.int(
                                    quote!(H0 * H1),
                                    vec![count.clone(), size.clone()],
                                    span,
                                );
                                (
                                    count,
                                    StreamKind::Chunks {
                                        mem,
                                        prefix,
                                        size,
                                        len,
                                    },
                                )
                            }
                        };
                        Some(Stream { count, kind })
                    }
                    "skip" | "take" | "step_by" if args.len() == 1 => {
                        let inner = self.positional(&call.receiver, &call.method)?;
                        let n = self.operand(&args[0]);
                        let c = inner.count.clone();
                        let (count, kind) = match name.as_str() {
                            "skip" => (
                                self.int(quote!(H0.saturating_sub(H1)), vec![c, n.clone()], span),
                                StreamKind::Skip(Box::new(inner), n),
                            ),
                            "take" => (
                                self.int(quote!(H0.min(H1)), vec![c, n], span),
                                StreamKind::Take(Box::new(inner)),
                            ),
                            _ => (
                                self.int(quote!(H0.div_ceil(H1)), vec![c, n.clone()], span),
                                StreamKind::StepBy(Box::new(inner), n),
                            ),
                        };
                        Some(Stream { count, kind })
                    }
                    _ => self.source(expr),
                }
            }
            _ => self.source(expr),
        }
    }

    /// A stream whose positions count: no `filter` before this adapter.
    pub(super) fn positional(&mut self, expr: &Expr, adapter: &syn::Ident) -> Option<Stream> {
        let stream = self.stream(expr)?;
        if stream.filtered() {
            self.error(
                adapter,
                format!(
                    "`.{adapter}()` after `.filter(..)` is not supported; put the `filter` last, or test the condition inside the loop"
                ),
            );
            return None;
        }
        Some(stream)
    }

    /// The elements of an array, slice or `Vec`, or of a call's array.
    pub(super) fn source(&mut self, expr: &Expr) -> Option<Stream> {
        let span = expr.span();
        match self.expr(expr) {
            // An array, or an array field of a struct (not a struct itself).
            Val::Mem(mem, prefix)
                if !self.mems[mem.index()].structured || self.mems[mem.index()].field.is_some() =>
            {
                let count = Operand::Value(self.emit(Op::Len(mem), prefix.clone(), span));
                Some(Stream {
                    count,
                    kind: StreamKind::Mem { mem, prefix },
                })
            }
            Val::Scalar(Operand::Value(value)) => {
                self.values[value.index()].aggregate = true;
                let count = self.int(quote!(H0.len()), vec![Operand::Value(value)], span);
                Some(Stream {
                    count,
                    kind: StreamKind::Value(value),
                })
            }
            Val::Poison => None,
            _ => {
                self.error(
                    expr,
                    "this cannot be iterated here; iterate over a range (`0..n`), or the elements of an array, slice or `Vec` (`x.iter()`), with adapters such as `.map(..)`, `.zip(..)`, `.enumerate()`",
                );
                None
            }
        }
    }

    /// Integer arithmetic on positions and counts, kept as written; the holes are `H0`, `H1`.
    pub(super) fn int(&mut self, template: TokenStream, args: Vec<Operand>, span: Span) -> Operand {
        let expr = rename_holes(template);
        if args
            .iter()
            .all(|a| matches!(a, Operand::Const(_) | Operand::Index(_)))
        {
            let tokens = Opaque::map_holes(expr, &mut |k| match &args[k] {
                Operand::Const(c) => c.parenthesized(),
                Operand::Index(i) => quote!(#i),
                _ => unreachable!("checked"),
            });
            return Operand::Const(Const {
                tokens: quote!((#tokens)),
                atomic: true,
            });
        }
        let opaque = Opaque {
            index: true,
            ..Opaque::cut(expr)
        };
        Operand::Value(self.emit(Op::Opaque(opaque), args, span))
    }

    /// Lowers `for j in 0..count` over the stream, with `body` given each item (under the
    /// `filter`s' conditions). `vars` are the variables the body assigns (for the loop's scan).
    pub(super) fn stream_loop(
        &mut self,
        stream: &Stream,
        span: Span,
        label: Option<&syn::Label>,
        scan: impl FnOnce(&mut super::assigned::Assigned),
        body: &mut dyn FnMut(&mut Self, Val, Operand),
    ) {
        let ctx = self.new_loop_ctx(label);
        let range = RangeSpec {
            start: Operand::Const(Const {
                tokens: quote!(0usize),
                atomic: true,
            }),
            end: stream.count.clone(),
            inclusive: false,
            reversed: false,
        };
        self.lower_loop(ctx, span, Some(range), scan, |l, index| {
            let pos = Operand::Value(index.expect("a range loop has an index"));
            l.with_item(stream, pos, span, body);
            Val::Unit
        });
    }

    /// Calls `k` with the item at `pos`, under the conditions of the `filter`s.
    pub(super) fn with_item(
        &mut self,
        stream: &Stream,
        pos: Operand,
        span: Span,
        k: &mut dyn FnMut(&mut Self, Val, Operand),
    ) {
        match &stream.kind {
            StreamKind::Filter(inner, f) => {
                self.with_item(inner, pos, span, &mut |l, item, pos| {
                    let keep = l.call_callable(f, vec![item.clone()], span);
                    let keep = l.val_operand(keep, span);
                    l.lower_if(
                        keep,
                        |l| {
                            k(l, item, pos);
                            Val::Unit
                        },
                        |_| Val::Unit,
                        span,
                    );
                })
            }
            StreamKind::Map(inner, f) if stream.filtered() => {
                self.with_item(inner, pos, span, &mut |l, item, pos| {
                    let item = l.call_callable(f, vec![item], span);
                    k(l, item, pos)
                })
            }
            _ => {
                let item = self.item_at(stream, pos.clone(), span);
                k(self, item, pos)
            }
        }
    }

    /// The item at `pos` of a stream without `filter`.
    pub(super) fn item_at(&mut self, stream: &Stream, pos: Operand, span: Span) -> Val {
        match &stream.kind {
            StreamKind::Range { start } => match start {
                Operand::Const(c) if c.tokens.to_string().trim_end_matches("usize") == "0" => {
                    Val::Scalar(pos)
                }
                _ => Val::Scalar(self.int(quote!(H0 + H1), vec![start.clone(), pos], span)),
            },
            StreamKind::Mem { mem, prefix } => {
                let mut indices = prefix.clone();
                indices.push(pos);
                if depth(&indices) < self.mems[mem.index()].dims {
                    return Val::Mem(*mem, indices);
                }
                Val::Scalar(Operand::Value(self.emit(Op::Load(*mem), indices, span)))
            }
            StreamKind::Value(value) => {
                let args = vec![Operand::Value(*value), pos];
                Val::Scalar(Operand::Value(self.emit(Op::Index, args, span)))
            }
            StreamKind::Map(inner, f) => {
                let item = self.item_at(inner, pos, span);
                self.call_callable(f, vec![item], span)
            }
            StreamKind::Filter(..) => unreachable!("filters are handled by `with_item`"),
            StreamKind::Enumerate(inner) => {
                let item = self.item_at(inner, pos.clone(), span);
                Val::Tuple(vec![Val::Scalar(pos), item])
            }
            StreamKind::Zip(streams) => Val::Tuple(
                streams
                    .iter()
                    .map(|s| self.item_at(s, pos.clone(), span))
                    .collect(),
            ),
            StreamKind::Skip(inner, n) => {
                let pos = self.int(quote!(H0 + H1), vec![pos, n.clone()], span);
                self.item_at(inner, pos, span)
            }
            StreamKind::StepBy(inner, k) => {
                let pos = self.int(quote!(H0 * H1), vec![pos, k.clone()], span);
                self.item_at(inner, pos, span)
            }
            StreamKind::Rev(inner) => {
                let pos = self.int(quote!(H0 - 1 - H1), vec![inner.count.clone(), pos], span);
                self.item_at(inner, pos, span)
            }
            StreamKind::Take(inner) => self.item_at(inner, pos, span),
            StreamKind::Windows { mem, prefix, size } => {
                let end = self.int(quote!(H0 + H1), vec![pos.clone(), size.clone()], span);
                let mut view = prefix.clone();
                view.push(Operand::Range(Box::new(pos), Box::new(end)));
                Val::Mem(*mem, view)
            }
            StreamKind::Chunks {
                mem,
                prefix,
                size,
                len,
            } => {
                let start = self.int(quote!(H0 * H1), vec![pos, size.clone()], span);
                let end = self.int(
                    quote!((H0 + H1).min(H2)),
                    vec![start.clone(), size.clone(), len.clone()],
                    span,
                );
                let mut view = prefix.clone();
                view.push(Operand::Range(Box::new(start), Box::new(end)));
                Val::Mem(*mem, view)
            }
        }
    }

    /// A value used as a condition or a number.
    pub(super) fn val_operand(&mut self, val: Val, span: Span) -> Operand {
        match val {
            Val::Scalar(operand) => operand,
            Val::Poison => Operand::Poison,
            _ => {
                self.error_at(span, "expected a number or a `bool` here");
                Operand::Poison
            }
        }
    }

    /// A variable of lowering's own, declared in the current scope.
    pub(super) fn temp(&mut self, val: Val) -> Var {
        let var = Var::Temp(self.n_temps);
        self.n_temps += 1;
        self.declare(var.clone(), Some(val));
        var
    }

    /// The consumers: `chain.sum()`, `.fold(..)`, ... Returns `None` when `call` is not one on a
    /// stream.
    pub(super) fn consume(&mut self, call: &syn::ExprMethodCall) -> Option<Val> {
        let name = call.method.to_string();
        let consumer = matches!(
            name.as_str(),
            "sum"
                | "product"
                | "fold"
                | "count"
                | "any"
                | "all"
                | "collect"
                | "max_by"
                | "min_by"
                | "reduce"
                | "last"
        );
        if !consumer || !Self::is_stream(&call.receiver) {
            return None;
        }
        let span = call.method.span();
        let Some(stream) = self.stream(&call.receiver) else {
            return Some(Val::Poison);
        };
        let args = &call.args;
        Some(match name.as_str() {
            "sum" | "product" if args.is_empty() => {
                let integer = call.turbofish.as_ref().is_some_and(|t| {
                    t.args.iter().any(
                        |a| matches!(a, syn::GenericArgument::Type(ty) if !float_cast_target(ty)),
                    )
                });
                // The starting values of `Sum` and `Product` for floats: `-0.0` keeps the sign of
                // a sum of negative zeros.
                let start = match (name.as_str(), integer) {
                    ("sum", false) => quote!(-0.0),
                    ("sum", true) => quote!(0),
                    (_, false) => quote!(1.0),
                    (_, true) => quote!(1),
                };
                let start = match (&self.generic_float, integer) {
                    (Some(t), false) => quote!(::autodiff_core::__private::lit::<#t>(#start)),
                    _ => start,
                };
                let init = Val::Scalar(Operand::Const(Const {
                    tokens: start,
                    atomic: false,
                }));
                let op: syn::BinOp = if name == "sum" {
                    syn::parse_quote_spanned!(span=> +)
                } else {
                    syn::parse_quote_spanned!(span=> *)
                };
                let rule = if name == "sum" { "add" } else { "mul" };
                self.accumulate(&stream, init, span, &mut |l, acc, item| {
                    let item = l.val_operand(item, span);
                    let acc = l.val_operand(acc, span);
                    Val::Scalar(l.arithmetic(rule, op, acc, item, span))
                })
            }
            "fold" if args.len() == 2 => {
                let init = self.expr(&args[0]);
                let f = self.callable(&args[1])?;
                self.accumulate(&stream, init, span, &mut |l, acc, item| {
                    l.call_callable(&f, vec![acc, item], span)
                })
            }
            "count" if args.is_empty() && !stream.filtered() => Val::Scalar(stream.count.clone()),
            "count" if args.is_empty() => {
                let init = Val::Scalar(Operand::Const(Const {
                    tokens: quote!(0usize),
                    atomic: true,
                }));
                self.accumulate(&stream, init, span, &mut |l, acc, _| {
                    let acc = l.val_operand(acc, span);
                    Val::Scalar(l.int(quote!(H0 + 1), vec![acc], span))
                })
            }
            "any" | "all" if args.len() == 1 => {
                let f = self.callable(&args[0])?;
                let any = name == "any";
                let init = Val::Scalar(Operand::Bool(!any));
                self.accumulate(&stream, init, span, &mut |l, acc, item| {
                    let test = l.call_callable(&f, vec![item], span);
                    let test = l.val_operand(test, span);
                    let acc = l.val_operand(acc, span);
                    let expr = if any {
                        quote!(H0 || H1)
                    } else {
                        quote!(H0 && H1)
                    };
                    Val::Scalar(l.int(expr, vec![acc, test], span))
                })
            }
            "collect" if args.is_empty() => self.collect(&stream, span),
            "max_by" | "min_by" if args.len() == 1 => {
                let cmp = self.callable(&args[0])?;
                let max = name == "max_by";
                self.select(&stream, span, &mut |l, best, item| {
                    // `max_by` keeps the last of equal items, `min_by` the first.
                    let order = l.call_callable(&cmp, vec![best, item], span);
                    let order = l.val_operand(order, span);
                    let expr = if max {
                        quote!(H0 != ::core::cmp::Ordering::Greater)
                    } else {
                        quote!(H0 == ::core::cmp::Ordering::Greater)
                    };
                    l.int(expr, vec![order], span)
                })
            }
            "reduce" if args.len() == 1 => {
                let f = self.callable(&args[0])?;
                self.fold_rest(&stream, span, &mut |l, acc, item| {
                    l.call_callable(&f, vec![acc, item], span)
                })
            }
            "last" if args.is_empty() && !stream.filtered() => {
                let pos = self.int(quote!(H0 - 1), vec![stream.count.clone()], span);
                let item = self.item_at(&stream, pos, span);
                let some = self.int(quote!(H0 > 0), vec![stream.count.clone()], span);
                Val::Option(Box::new(item), some)
            }
            _ => {
                self.error(
                    &call.method,
                    format!(
                        "`.{name}(..)` with these arguments is not supported on an iterator here"
                    ),
                );
                Val::Poison
            }
        })
    }

    /// `.unwrap()`, `.expect(..)`, `.unwrap_or(..)`, `.unwrap_or_else(..)`, `.is_some()`,
    /// `.is_none()` of an `Option` an iterator gave; `None` when `call` is not one of them.
    pub(super) fn option_method(&mut self, call: &syn::ExprMethodCall) -> Option<Val> {
        let name = call.method.to_string();
        if !matches!(
            name.as_str(),
            "unwrap" | "expect" | "unwrap_or" | "unwrap_or_else" | "is_some" | "is_none"
        ) {
            return None;
        }
        // Only a receiver that gives an `Option` is lowered here (lowering is not repeated).
        let gives_option = match strip_parens(&call.receiver) {
            Expr::MethodCall(inner) => {
                matches!(
                    inner.method.to_string().as_str(),
                    "reduce" | "max_by" | "min_by" | "last"
                ) && Self::is_stream(&inner.receiver)
            }
            Expr::Path(path) => local_name(path).is_some_and(|ident| {
                matches!(
                    self.lookup_user(&ident.to_string()),
                    Some(Binding {
                        val: Some(Val::Option(..)),
                        ..
                    })
                )
            }),
            _ => false,
        };
        if !gives_option {
            return None;
        }
        let span = call.method.span();
        let (value, some) = match self.expr(&call.receiver) {
            Val::Option(value, some) => (*value, some),
            Val::Poison => return Some(Val::Poison),
            _ => unreachable!("the receiver gives an `Option`"),
        };
        Some(match (name.as_str(), call.args.len()) {
            ("is_some", 0) => Val::Scalar(some),
            ("is_none", 0) => Val::Scalar(self.int(quote!(!H0), vec![some], span)),
            ("unwrap", 0) | ("expect", 1) => {
                // Panics as the `Option` would, with its message.
                let fail = match call.args.first() {
                    Some(message) => quote!(::core::option::Option::<()>::None.expect(#message)),
                    None => quote!(::core::option::Option::<()>::None.unwrap()),
                };
                let check = rename_holes(quote!(if !H0 { #fail; }));
                self.emit(Op::Opaque(Opaque::cut(check)), vec![some], span);
                value
            }
            ("unwrap_or", 1) => {
                let default = self.expr(&call.args[0]);
                self.lower_if(some, move |_| value, move |_| default, span)
            }
            ("unwrap_or_else", 1) => {
                let Some(f) = self.callable(&call.args[0]) else {
                    return Some(Val::Poison);
                };
                self.lower_if(
                    some,
                    move |_| value,
                    move |l| l.call_callable(&f, Vec::new(), span),
                    span,
                )
            }
            _ => {
                self.error(&call.method, format!("`.{name}(..)` takes other arguments"));
                Val::Poison
            }
        })
    }

    /// `acc = init; for item { acc = step(acc, item) }; acc`.
    pub(super) fn accumulate(
        &mut self,
        stream: &Stream,
        init: Val,
        span: Span,
        step: &mut dyn FnMut(&mut Self, Val, Val) -> Val,
    ) -> Val {
        self.scopes.push(Scope::new());
        let acc = self.temp(init);
        let scanned = acc.clone();
        self.stream_loop(
            stream,
            span,
            None,
            |a| {
                a.vars.insert(scanned);
            },
            &mut |l, item, _| {
                let current = l.var(&acc);
                let next = step(l, current, item);
                l.assign_var(&acc, next);
            },
        );
        let result = self.var(&acc);
        self.scopes.pop();
        result
    }

    /// `reduce`: the first item, then `acc = step(acc, item)` over the others; `None` when empty.
    pub(super) fn fold_rest(
        &mut self,
        stream: &Stream,
        span: Span,
        step: &mut dyn FnMut(&mut Self, Val, Val) -> Val,
    ) -> Val {
        if stream.filtered() {
            self.error_at(
                span,
                "`.reduce(..)` after `.filter(..)` is not supported; use `.fold(..)`",
            );
            return Val::Poison;
        }
        let first = self.first_item(stream, span);
        let rest = self.rest(stream, span);
        let value = self.accumulate(&rest, first, span, step);
        let some = self.int(quote!(H0 > 0), vec![stream.count.clone()], span);
        Val::Option(Box::new(value), some)
    }

    /// `max_by`/`min_by`: the first item, replaced by each later one for which `better` holds.
    pub(super) fn select(
        &mut self,
        stream: &Stream,
        span: Span,
        better: &mut dyn FnMut(&mut Self, Val, Val) -> Operand,
    ) -> Val {
        if stream.filtered() {
            self.error_at(
                span,
                "`.max_by(..)`/`.min_by(..)` after `.filter(..)` is not supported; use `.fold(..)`",
            );
            return Val::Poison;
        }
        let first = self.first_item(stream, span);
        let rest = self.rest(stream, span);
        let value = self.accumulate(&rest, first, span, &mut |l, best, item| {
            let take = better(l, best.clone(), item.clone());
            l.lower_if(take, move |_| item, move |_| best, span)
        });
        let some = self.int(quote!(H0 > 0), vec![stream.count.clone()], span);
        Val::Option(Box::new(value), some)
    }

    /// The item at position 0 of a non-empty stream (an empty one never reads it: the `Option`
    /// is `None`), read only when there is one.
    pub(super) fn first_item(&mut self, stream: &Stream, span: Span) -> Val {
        let nonempty = self.int(quote!(H0 > 0), vec![stream.count.clone()], span);
        let zero = Operand::Const(Const {
            tokens: quote!(0usize),
            atomic: true,
        });
        self.lower_if(
            nonempty,
            |l| l.item_at(stream, zero, span),
            |_| Val::Scalar(Operand::Undef),
            span,
        )
    }

    /// The stream without its first position.
    pub(super) fn rest(&mut self, stream: &Stream, span: Span) -> Stream {
        let one = Operand::Const(Const {
            tokens: quote!(1usize),
            atomic: true,
        });
        let count = self.int(
            quote!(H0.saturating_sub(1)),
            vec![stream.count.clone()],
            span,
        );
        Stream {
            count,
            kind: StreamKind::Skip(Box::new(self.clone_stream(stream)), one),
        }
    }

    pub(super) fn clone_stream(&self, stream: &Stream) -> Stream {
        let kind = match &stream.kind {
            StreamKind::Range { start } => StreamKind::Range {
                start: start.clone(),
            },
            StreamKind::Mem { mem, prefix } => StreamKind::Mem {
                mem: *mem,
                prefix: prefix.clone(),
            },
            StreamKind::Value(v) => StreamKind::Value(*v),
            StreamKind::Map(s, f) => StreamKind::Map(Box::new(self.clone_stream(s)), f.clone()),
            StreamKind::Filter(s, f) => {
                StreamKind::Filter(Box::new(self.clone_stream(s)), f.clone())
            }
            StreamKind::Enumerate(s) => StreamKind::Enumerate(Box::new(self.clone_stream(s))),
            StreamKind::Zip(ss) => {
                StreamKind::Zip(ss.iter().map(|s| self.clone_stream(s)).collect())
            }
            StreamKind::Skip(s, n) => StreamKind::Skip(Box::new(self.clone_stream(s)), n.clone()),
            StreamKind::StepBy(s, n) => {
                StreamKind::StepBy(Box::new(self.clone_stream(s)), n.clone())
            }
            StreamKind::Rev(s) => StreamKind::Rev(Box::new(self.clone_stream(s))),
            StreamKind::Take(s) => StreamKind::Take(Box::new(self.clone_stream(s))),
            StreamKind::Windows { mem, prefix, size } => StreamKind::Windows {
                mem: *mem,
                prefix: prefix.clone(),
                size: size.clone(),
            },
            StreamKind::Chunks {
                mem,
                prefix,
                size,
                len,
            } => StreamKind::Chunks {
                mem: *mem,
                prefix: prefix.clone(),
                size: size.clone(),
                len: len.clone(),
            },
        };
        Stream {
            count: stream.count.clone(),
            kind,
        }
    }

    /// `x[a..b].to_vec()`, `m[i].to_vec()`: the elements of a view, in a new `Vec`.
    pub(super) fn copy_view(
        &mut self,
        mem: Mem,
        prefix: Vec<Operand>,
        name: Option<String>,
        span: Span,
    ) -> Val {
        let count = Operand::Value(self.emit(Op::Len(mem), prefix.clone(), span));
        let stream = Stream {
            count,
            kind: StreamKind::Mem { mem, prefix },
        };
        let copy = self.collect(&stream, span);
        if let (Val::Mem(copy, _), Some(name)) = (&copy, name) {
            self.mems[copy.index()].name = Some(name);
        }
        copy
    }

    /// `collect()` into a new `Vec` of numbers.
    pub(super) fn collect(&mut self, stream: &Stream, span: Span) -> Val {
        if stream.filtered() {
            let mem = self.new_mem(None, 1, true, None);
            self.push(ir::Stmt::MemInit(MemInit {
                mem,
                kind: MemInitKind::Empty { capacity: None },
                declare: true,
                len: None,
                ty: None,
                span,
            }));
            self.resized.insert(mem);
            self.stream_loop(stream, span, None, |_| {}, &mut |l, item, _| {
                let value = l.val_operand(item, span);
                l.push_elem(mem, value, span);
            });
            return Val::Mem(mem, Vec::new());
        }
        let mem = self.new_mem(None, 1, true, None);
        let zero = match &self.generic_float {
            Some(t) => quote!(::autodiff_core::__private::lit::<#t>(0.0)),
            None => quote!(0.0),
        };
        let zero = Operand::Const(Const {
            tokens: zero,
            atomic: true,
        });
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::Repeat {
                elem: zero,
                lens: vec![stream.count.clone()],
                vecs: vec![true],
            },
            declare: true,
            len: None,
            ty: None,
            span,
        }));
        self.stream_loop(stream, span, None, |_| {}, &mut |l, item, pos| {
            let value = l.val_operand(item, span);
            l.push(ir::Stmt::Store(ir::Store {
                mem,
                indices: vec![pos],
                value,
                push: false,
                span,
            }));
        });
        Val::Mem(mem, Vec::new())
    }
}

/// `H0`, `H1` of a template become the holes of an opaque expression.
fn rename_holes(template: TokenStream) -> TokenStream {
    use proc_macro2::TokenTree;
    template
        .into_iter()
        .flat_map(|tt| -> Vec<TokenTree> {
            match tt {
                TokenTree::Ident(ident) => match ident.to_string().as_str() {
                    "H0" => Opaque::hole(0).into_iter().collect(),
                    "H1" => Opaque::hole(1).into_iter().collect(),
                    "H2" => Opaque::hole(2).into_iter().collect(),
                    _ => vec![TokenTree::Ident(ident)],
                },
                TokenTree::Group(group) => {
                    let mut new =
                        proc_macro2::Group::new(group.delimiter(), rename_holes(group.stream()));
                    new.set_span(group.span());
                    vec![TokenTree::Group(new)]
                }
                other => vec![other],
            }
        })
        .collect()
}
