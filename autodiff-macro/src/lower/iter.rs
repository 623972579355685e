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
    /// The integers `start + p`; `untyped` for bounds that are integer literals, whose items
    /// are written `offset(start, p)` to take the type the user's code gives them.
    Range {
        start: Operand,
        untyped: bool,
    },
    /// The elements (or rows) of an array, slice or `Vec`.
    Mem {
        mem: Mem,
        prefix: Vec<Operand>,
    },
    /// The elements of an array or `Vec` returned by a call.
    Value(Value),
    /// The elements of data that is not differentiated behind a reference (`tokens: &[String]`,
    /// `&nbrs[i]`), borrowed as its iterator gives them (`&tokens[p]`).
    Refs(Value),
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
    /// The items of the first stream, then those of the second.
    Chain(Box<Stream>, Box<Stream>),
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
    /// `labels.windows(size)`, `labels.chunks(size)` of data that is not differentiated: the
    /// same slices, borrowed (`step` is 1 for windows, `size` for chunks).
    ValueSlices {
        value: Value,
        step: Operand,
        size: Operand,
        len: Operand,
        at: Span,
    },
}

/// The adapters that only pass the items on.
const IDENTITY: &[&str] = &["iter", "into_iter", "copied", "cloned", "by_ref"];

impl Stream {
    /// The array whose rows the items are, position for position (`m.iter()`, also mapped or
    /// enumerated), and the indices that reach it.
    pub(super) fn rows_of(&self) -> Option<(Mem, &[Operand])> {
        match &self.kind {
            StreamKind::Mem { mem, prefix } => Some((*mem, prefix)),
            StreamKind::Map(inner, _) | StreamKind::Enumerate(inner) => inner.rows_of(),
            _ => None,
        }
    }

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
            // `std::iter::zip(a, b)`, `repeat_n(x, n)`, `once(x)`.
            Expr::Call(call) => {
                call.args.len() == 2
                    && (is_iter_function(&call.func, "zip")
                        || is_iter_function(&call.func, "repeat_n"))
                    || once_item(expr).is_some()
            }
            Expr::MethodCall(call) => {
                let name = call.method.to_string();
                IDENTITY.contains(&name.as_str())
                    || matches!(
                        name.as_str(),
                        "map"
                            | "filter"
                            | "filter_map"
                            | "enumerate"
                            | "zip"
                            | "skip"
                            | "take"
                            | "step_by"
                            | "rev"
                            | "chain"
                            | "flatten"
                            | "flat_map"
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
        if let Some(map) = self.map_source(expr) {
            self.error(
                expr,
                format!("iterating `{map}`, a map or set, is not supported in differentiated code (the loop indexes what it iterates); collect its keys into a `Vec` and look the values up: `let keys: Vec<_> = {map}.keys().copied().collect(); for k in keys {{ .. {map}[&k] .. }}`; a value of its data alone may be held constant, `no_grad({map}.values().sum::<f64>())`"),
            );
            return None;
        }
        match strip_parens(expr) {
            Expr::Range(range) => self.range_stream(range, expr.span()),
            // `std::iter::zip(a, b)` is `a.into_iter().zip(b)`.
            Expr::Call(call) if call.args.len() == 2 && is_iter_function(&call.func, "zip") => {
                let (a, b) = (&call.args[0], &call.args[1]);
                let method: Expr = syn::parse_quote_spanned!(call.func.span()=>
                    (#a).into_iter().zip(#b)
                );
                self.stream(&method)
            }
            // `repeat_n(x, n)` and `repeat(x).take(n)` are `(0..n).map(|_| x)`.
            Expr::Call(call)
                if call.args.len() == 2 && is_iter_function(&call.func, "repeat_n") =>
            {
                self.repeated(&call.args[0], &call.args[1], call.func.span())
            }
            // `repeat(x)` without `take`: as many as `zip` takes.
            Expr::Call(call) if call.args.len() == 1 && is_iter_function(&call.func, "repeat") => {
                let endless: Expr = syn::parse_quote!(usize::MAX);
                self.repeated(&call.args[0], &endless, call.func.span())
            }
            Expr::MethodCall(take) if take.method == "take" && take.args.len() == 1 => {
                match strip_parens(&take.receiver) {
                    Expr::Call(call)
                        if call.args.len() == 1 && is_iter_function(&call.func, "repeat") =>
                    {
                        self.repeated(&call.args[0], &take.args[0], call.func.span())
                    }
                    _ => self.adapter(take, expr),
                }
            }
            Expr::MethodCall(call) => self.adapter(call, expr),
            Expr::Reference(_) => self.source(expr),
            // `once(x)`: a one-element array.
            Expr::Call(_) if once_item(expr).is_some() => self.source(expr),
            _ => self.by_value_source(expr),
        }
    }

    /// `x` repeated `n` times: `(0..n).map(|_| x)`.
    fn repeated(&mut self, x: &Expr, n: &Expr, span: Span) -> Option<Stream> {
        let mapped: Expr = syn::parse_quote_spanned!(span=> (0..(#n)).map(|_| #x));
        self.stream(&mapped)
    }

    /// `for v in w`, `w.into_iter()`: the items of a copy of an array, which writes to `w` in
    /// the loop leave alone, as in Rust.
    fn by_value_source(&mut self, expr: &Expr) -> Option<Stream> {
        let span = expr.span();
        let val = self.expr(expr);
        let val = self.copied_in(val, false, span);
        self.source_of(val, expr)
    }

    /// `a..b`, `a..=b`: the positions themselves.
    fn range_stream(&mut self, range: &syn::ExprRange, span: Span) -> Option<Stream> {
        let (Some(start), Some(end)) = (&range.start, &range.end) else {
            self.error(range, "an iterated range needs both bounds");
            return None;
        };
        // `(0..3)`: bounds of no type yet, which their use decides (`i32` unless it is an
        // index), as in Rust. The count is known here; the items are `offset(0, j)`, of the
        // bounds' type, not the `usize` counter.
        if let (Some(a), Some(b)) = (untyped_int(start), untyped_int(end)) {
            let last = match range.limits {
                syn::RangeLimits::HalfOpen(_) => b,
                syn::RangeLimits::Closed(_) => b + 1,
            };
            let count = usize::try_from((last - a).max(0)).unwrap_or(usize::MAX);
            let start = self.operand(start);
            return Some(Stream {
                count: Operand::Const(Const {
                    tokens: quote!(#count),
                    atomic: true,
                }),
                kind: StreamKind::Range {
                    start,
                    untyped: true,
                },
            });
        }
        let literal = untyped_int(start).is_some();
        let mut start = self.operand(start);
        let end = self.operand(end);
        // `1..n`: the literal typed as `n` is (which may be `u32`), as in Rust.
        if literal {
            start = self.int(
                quote!(::autodiff_core::__private::first(H0, H1)),
                vec![start, end.clone()],
                span,
            );
        }
        let count = match range.limits {
            syn::RangeLimits::HalfOpen(_) => self.int(
                quote!(::autodiff_core::__private::range_len(H0, H1)),
                vec![start.clone(), end],
                span,
            ),
            syn::RangeLimits::Closed(_) => self.int(
                quote!(::autodiff_core::__private::range_len_inclusive(H0, H1)),
                vec![start.clone(), end],
                span,
            ),
        };
        Some(Stream {
            count,
            kind: StreamKind::Range {
                start,
                untyped: false,
            },
        })
    }

    /// An adapter (`map`, `zip`, `windows`, ...) on a stream, or else a source (`expr` is `call`
    /// with its parentheses).
    fn adapter(&mut self, call: &syn::ExprMethodCall, expr: &Expr) -> Option<Stream> {
        let span = expr.span();
        let name = call.method.to_string();
        let args = &call.args;
        match name.as_str() {
            // Where `flattened_rows` does not take it.
            "flat_map" => {
                self.error(
                    &call.method,
                    "`.flat_map(..)` works over the rows of an array the function names, its closure giving the row's elements without a macro (`w.iter().flat_map(|r| r.iter())`), consumed by `sum`, `product`, `fold` or `collect` (after `map`, `filter`, `copied` or `cloned`), or by a `for` loop without `break`; otherwise write two loops",
                );
                None
            }
            "iter_mut" => {
                self.error(
                    &call.method,
                    "`.iter_mut()` is supported as the source of a `for` loop or `.for_each(..)`, directly or through `enumerate`, `zip`, `rev`, `skip`, `take` and `step_by` (`for (g, x) in grad.iter_mut().zip(xs)`), binding each item to a name; here assign the elements by index (`for i in 0..a.len() { a[i] = .. }`)",
                );
                None
            }
            // `tokens.iter().copied()`: the items themselves.
            "copied" | "cloned" if args.is_empty() => {
                let inner = self.stream(&call.receiver)?;
                Some(match inner.kind {
                    StreamKind::Refs(value) => Stream {
                        count: inner.count,
                        kind: StreamKind::Value(value),
                    },
                    _ => inner,
                })
            }
            _ if IDENTITY.contains(&name.as_str()) && args.is_empty() => {
                if Self::is_stream(&call.receiver) {
                    self.stream(&call.receiver)
                } else if name == "into_iter" {
                    self.by_value_source(&call.receiver)
                } else {
                    self.source(&call.receiver)
                }
            }
            "map" | "filter" if args.len() == 1 => {
                let inner = self.stream(&call.receiver)?;
                // (`filter`'s closure takes a reference to the item, whatever it is.)
                let f = if name == "map" {
                    self.callable_of(&args[0], &call.receiver)?
                } else {
                    let mut f = self.callable(&args[0])?;
                    f.items.behind_ref = self.referenced_items(&call.receiver);
                    f
                };
                let count = inner.count.clone();
                let kind = if name == "map" {
                    StreamKind::Map(Box::new(inner), f)
                } else {
                    StreamKind::Filter(Box::new(inner), f)
                };
                Some(Stream { count, kind })
            }
            // `obs.iter().flatten()` of `Option`s: the values there are (`filter_map`).
            "flatten" if args.is_empty() => {
                if self.iterates_rows(&call.receiver) {
                    self.error(
                        &call.method,
                        "`.flatten()` of rows works as what a `for` loop without `break` goes over, and consumed by `sum`, `product`, `fold` or `collect` (after `map`, `filter`, `copied` or `cloned`); otherwise write two loops (`for row in e { for w in row { .. } }`)",
                    );
                    return None;
                }
                let receiver = &call.receiver;
                let chain: Expr = syn::parse_quote_spanned!(call.method.span()=>
                    (#receiver).filter_map(|__autodiff_o| __autodiff_o.clone())
                );
                self.stream(&chain)
            }
            // `filter_map(f)`: the items `f` gives `Some` of.
            "filter_map" if args.len() == 1 => {
                let (receiver, f) = (&call.receiver, &args[0]);
                let chain: Expr = syn::parse_quote_spanned!(call.method.span()=>
                    (#receiver)
                        .map(#f)
                        .filter(|__autodiff_o| __autodiff_o.is_some())
                        .map(|__autodiff_o| __autodiff_o.unwrap())
                );
                self.stream(&chain)
            }
            "enumerate" if args.is_empty() => {
                let inner = self.positional(&call.receiver, &call.method)?;
                let count = inner.count.clone();
                Some(Stream {
                    count,
                    kind: StreamKind::Enumerate(Box::new(inner)),
                })
            }
            // `a.iter().chain(b)`: `a`'s items, then `b`'s (numbers, not rows).
            "chain" if args.len() == 1 => {
                let a = self.positional(&call.receiver, &call.method)?;
                let b = match Self::is_stream(&args[0]) {
                    true => self.positional(&args[0], &call.method)?,
                    false => self.source(&args[0])?,
                };
                if self.chains_rows(&a) || self.chains_rows(&b) {
                    self.error(
                        &call.method,
                        "`.chain(..)` of rows works only as what a `for` loop goes over, with no \
                         `break` out of it, no jump to an outer loop and no adapter after the `chain` \
                         (`for r in a.iter().chain(b) { .. }`); write that loop, or two loops",
                    );
                    return None;
                }
                let count = self.int(
                    quote!(H0 + H1),
                    vec![a.count.clone(), b.count.clone()],
                    span,
                );
                Some(Stream {
                    count,
                    kind: StreamKind::Chain(Box::new(a), Box::new(b)),
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
                    quote!(::core::cmp::min(H0, H1)),
                    vec![a.count.clone(), b.count.clone()],
                    span,
                );
                Some(Stream {
                    count,
                    kind: StreamKind::Zip(vec![a, b]),
                })
            }
            "windows" | "chunks" | "chunks_exact" if args.len() == 1 => {
                self.slices(call, &name, span)
            }
            "skip" | "take" | "step_by" if args.len() == 1 => {
                let inner = self.positional(&call.receiver, &call.method)?;
                let n = self.operand(&args[0]);
                let c = inner.count.clone();
                let (count, kind) = match name.as_str() {
                    "skip" => (
                        self.int(
                            quote!(::autodiff_core::__private::minus(H0, H1)),
                            vec![c, n.clone()],
                            span,
                        ),
                        StreamKind::Skip(Box::new(inner), n),
                    ),
                    "take" => (
                        self.int(quote!(::core::cmp::min(H0, H1)), vec![c, n], span),
                        StreamKind::Take(Box::new(inner)),
                    ),
                    _ => (
                        self.int(
                            quote!(::core::primitive::usize::div_ceil(H0, H1)),
                            vec![c, n.clone()],
                            span,
                        ),
                        StreamKind::StepBy(Box::new(inner), n),
                    ),
                };
                Some(Stream { count, kind })
            }
            _ => self.source(expr),
        }
    }

    /// `a.windows(n)`, `a.chunks(n)`, `a.chunks_exact(n)`: slices of an array of the function.
    fn slices(&mut self, call: &syn::ExprMethodCall, name: &str, span: Span) -> Option<Stream> {
        let (mem, prefix) = match self.expr(&call.receiver) {
            Val::Mem(mem, prefix) => (mem, prefix),
            Val::Scalar(Operand::Value(value)) => {
                return self.value_slices(value, call, name, span);
            }
            // Reported where it was made.
            Val::Poison | Val::Scalar(Operand::Poison) => return None,
            _ => {
                self.error(
                    &call.receiver,
                    format!(
                        "`.{name}(..)` is supported on arrays, slices and `Vec`s of the function"
                    ),
                );
                return None;
            }
        };
        let size = self.operand(&call.args[0]);
        let len = Operand::Value(self.emit(Op::Len(mem), prefix.clone(), span));
        let (count, kind) = match name {
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
                    quote!(::core::primitive::usize::div_ceil(H0, H1)),
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
                let count = self.int(quote!(H0 / H1), vec![len, size.clone()], span);
                let len = self.int(quote!(H0 * H1), vec![count.clone(), size.clone()], span);
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

    /// [`Self::slices`] of data that is not differentiated (`labels.windows(2)` of
    /// `labels: &[usize]`).
    fn value_slices(
        &mut self,
        value: Value,
        call: &syn::ExprMethodCall,
        name: &str,
        span: Span,
    ) -> Option<Stream> {
        let size = self.operand(&call.args[0]);
        let len = self.int(quote!(H0.len()), vec![Operand::Value(value)], span);
        let one = Operand::Const(Const {
            tokens: quote!(1usize),
            atomic: true,
        });
        let (count, step, len) = match name {
            "windows" => (quote!((H0 + 1).saturating_sub(H1)), one, len),
            "chunks" => (
                quote!(::core::primitive::usize::div_ceil(H0, H1)),
                size.clone(),
                len,
            ),
            // Exact chunks: the remainder is left out.
            _ => (
                quote!(H0 / H1),
                size.clone(),
                self.int(quote!(H0 / H1 * H1), vec![len, size.clone()], span),
            ),
        };
        let count = self.int(count, vec![len.clone(), size.clone()], span);
        Some(Stream {
            count,
            kind: StreamKind::ValueSlices {
                value,
                step,
                size,
                len,
                at: call.receiver.span(),
            },
        })
    }

    /// [`Self::item_at`] for an `Option`'s item, which is read only where `some` holds (an
    /// empty stream has none; the position may be past the end): an element of a struct's field
    /// is its place, a row or window a view at a position in bounds, and anything else read in
    /// a branch on `some`.
    pub(super) fn place_at(
        &mut self,
        stream: &Stream,
        some: Operand,
        pos: Operand,
        span: Span,
    ) -> Val {
        let view = match &stream.kind {
            StreamKind::Mem { mem, prefix } => depth(prefix) + 1 < self.mems[mem.index()].dims,
            kind => matches!(
                kind,
                StreamKind::Windows { .. }
                    | StreamKind::Chunks { .. }
                    | StreamKind::ValueSlices { .. }
            ),
        };
        match &stream.kind {
            StreamKind::Mem { mem, prefix } if self.mems[mem.index()].structured => {
                let mut indices = prefix.clone();
                indices.push(pos);
                Val::Mem(*mem, indices)
            }
            _ if view => {
                let pos = self.int(quote!(if H0 { H1 } else { 0 }), vec![some, pos], span);
                self.item_at(stream, pos, span)
            }
            StreamKind::Enumerate(inner) => {
                let item = self.place_at(inner, some, pos.clone(), span);
                Val::Tuple(vec![Val::Scalar(pos), item])
            }
            StreamKind::Zip(streams) => Val::Tuple(
                streams
                    .iter()
                    .map(|s| self.place_at(s, some.clone(), pos.clone(), span))
                    .collect(),
            ),
            // Positions past the end wrap rather than overflow: nothing is read there.
            StreamKind::Skip(inner, n) => {
                let pos = self.int(
                    quote!(::core::primitive::usize::wrapping_add(H0, H1)),
                    vec![pos, n.clone()],
                    span,
                );
                self.place_at(inner, some, pos, span)
            }
            StreamKind::StepBy(inner, k) => {
                let pos = self.int(
                    quote!(::core::primitive::usize::wrapping_mul(H0, H1)),
                    vec![pos, k.clone()],
                    span,
                );
                self.place_at(inner, some, pos, span)
            }
            StreamKind::Rev(inner) => {
                let template = quote!(::core::primitive::usize::wrapping_sub(
                    H0.wrapping_sub(1),
                    H1
                ));
                let pos = self.int(template, vec![inner.count.clone(), pos], span);
                self.place_at(inner, some, pos, span)
            }
            StreamKind::Take(inner) => self.place_at(inner, some, pos, span),
            _ => self.lower_if(
                some,
                |l| l.item_at(stream, pos, span),
                |_| Val::Scalar(Operand::Undef),
                span,
            ),
        }
    }

    /// `rows.flatten()` (or `rows.flat_map(|r| r.iter()..)`) followed by adapters of the
    /// elements (`map`, `filter`, `copied`, `cloned`), where `rows` goes over the rows of an
    /// array the function names: `rows`, and the chain of the elements of one row, named
    /// `__autodiff_row`: `__autodiff_row.iter()` (or the closure's body), with those adapters.
    pub(super) fn flattened_rows<'e>(&self, chain: &'e Expr) -> Option<(&'e Expr, Expr)> {
        let mut adapters = Vec::new();
        let mut at = strip_parens(chain);
        let (rows, mut elements) = loop {
            let Expr::MethodCall(call) = at else {
                return None;
            };
            let span = call.method.span();
            match call.method.to_string().as_str() {
                "flatten" if call.args.is_empty() => {
                    let elements = syn::parse_quote_spanned!(span=> __autodiff_row.iter());
                    break (&*call.receiver, elements);
                }
                "flat_map" if call.args.len() == 1 => {
                    break (&*call.receiver, row_elements(&call.args[0])?);
                }
                "map" | "filter" | "copied" | "cloned" => adapters.push(call),
                _ => return None,
            }
            at = strip_parens(&call.receiver);
        };
        if !self.iterates_rows(rows) {
            return None;
        }
        for adapter in adapters.into_iter().rev() {
            let mut adapter = adapter.clone();
            *adapter.receiver = elements;
            elements = Expr::MethodCall(adapter);
        }
        Some((rows, elements))
    }

    /// Whether `chain` (`e.iter()`, `e.iter().copied()`) goes over the rows of an array the
    /// function names.
    pub(super) fn iterates_rows(&self, chain: &Expr) -> bool {
        let mut source = strip_parens(chain);
        while let Expr::MethodCall(call) = source {
            if matches!(
                call.method.to_string().as_str(),
                "windows" | "chunks" | "chunks_exact"
            ) {
                return true;
            }
            source = strip_parens(&call.receiver);
        }
        let (root, rows) = sliced_root(source);
        matches!(self.local_val(root), Some(Val::Mem(mem, prefix))
            if !self.mems[mem.index()].structured
                && self.mems[mem.index()].dims > depth(prefix) + rows + 1)
    }

    /// Whether the stream's items hold rows of an array (the rows of `&[[f64; 3]]`, windows),
    /// which a variable cannot carry from one iteration to the next, or elements of a struct's
    /// field (`&g.arcs`), which may be structs that are not `Copy`: read again where needed.
    pub(super) fn gives_rows(&self, stream: &Stream) -> bool {
        self.rows_in(stream, false)
    }

    /// Whether `chain` would join rows of `stream`'s: as [`Self::gives_rows`], but a struct's
    /// field gives what `for v in &p.w` gives, numbers or elements (`p.w1.iter().chain(&p.w2)`
    /// of two `Vec<f64>` fields, `l.w.iter().chain(&l.b)` of a layer: weight decay).
    fn chains_rows(&self, stream: &Stream) -> bool {
        self.rows_in(stream, true)
    }

    fn rows_in(&self, stream: &Stream, fields_chained: bool) -> bool {
        match &stream.kind {
            StreamKind::Mem { mem, prefix } => {
                let data = &self.mems[mem.index()];
                (data.structured && !fields_chained) || depth(prefix) + 1 < data.dims
            }
            StreamKind::Windows { .. } | StreamKind::Chunks { .. } => true,
            StreamKind::Enumerate(inner)
            | StreamKind::Skip(inner, _)
            | StreamKind::StepBy(inner, _)
            | StreamKind::Rev(inner)
            | StreamKind::Take(inner) => self.rows_in(inner, fields_chained),
            StreamKind::Zip(streams) => streams.iter().any(|s| self.rows_in(s, fields_chained)),
            StreamKind::Chain(a, b) => {
                self.rows_in(a, fields_chained) || self.rows_in(b, fields_chained)
            }
            // The elements of a struct element's field (`r.atoms` of `for r in &p.res`).
            StreamKind::Value(v) => {
                !fields_chained && (self.parts.contains(v) || self.whole_fields.contains(v))
            }
            StreamKind::Range { .. }
            | StreamKind::Refs(_)
            | StreamKind::Map(..)
            | StreamKind::Filter(..)
            | StreamKind::ValueSlices { .. } => false,
        }
    }

    /// A stream whose positions count: no `filter` before this adapter.
    pub(super) fn positional(&mut self, expr: &Expr, adapter: &syn::Ident) -> Option<Stream> {
        let stream = self.stream(expr)?;
        if stream.filtered() {
            self.error(
                adapter,
                format!(
                    "`.{adapter}()` after `.filter(..)` (or `.filter_map(..)`, `.flatten()`) is not supported; put the `filter` last, or test the condition inside the loop"
                ),
            );
            return None;
        }
        Some(stream)
    }

    /// The elements of an array, slice or `Vec`, or of a call's array.
    pub(super) fn source(&mut self, expr: &Expr) -> Option<Stream> {
        // `std::iter::once(1.0)`, `once(&x[0])`: a one-element array.
        if let Some(item) = once_item(expr) {
            let array: Expr = syn::parse_quote_spanned!(expr.span()=> [#item]);
            return self.source(&array);
        }
        let val = self.expr(expr);
        self.source_of(val, expr)
    }

    /// The items of `val`, which `expr` gave.
    fn source_of(&mut self, val: Val, expr: &Expr) -> Option<Stream> {
        let span = expr.span();
        let val = match val {
            // A constant array (`WEIGHTS.iter()`): a value of the function, as a call's result.
            Val::Scalar(constant @ Operand::Const(_)) => {
                Val::Scalar(Operand::Value(self.emit(Op::Copy, vec![constant], span)))
            }
            val => val,
        };
        match val {
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
                let count = self.int(quote!(H0.len()), vec![Operand::Value(value)], span);
                if self.borrowed(value) {
                    return Some(Stream {
                        count,
                        kind: StreamKind::Refs(value),
                    });
                }
                self.values[value.index()].aggregate = true;
                Some(Stream {
                    count,
                    kind: StreamKind::Value(value),
                })
            }
            Val::Poison => None,
            _ => {
                self.error(
                    expr,
                    format!(
                        "this cannot be iterated here; iterate over a range (`0..n`), or the elements of an array, slice or `Vec` (`x.iter()`), with adapters such as `.map(..)`, `.zip(..)`, `.enumerate()`{}",
                        self.struct_aliases
                    ),
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
            borrow: false,
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
                    // `filter` gives its closure a reference to the item.
                    let arg = l.referenced(item.clone(), span);
                    let keep = l.call_callable(f, vec![arg], span);
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
            StreamKind::Range {
                start,
                untyped: true,
            } => Val::Scalar(self.int(
                quote!(::autodiff_core::__private::offset(H0, H1)),
                vec![start.clone(), pos],
                span,
            )),
            StreamKind::Range { start, .. } => match start {
                Operand::Const(c) if c.tokens.to_string().trim_end_matches("usize") == "0" => {
                    Val::Scalar(pos)
                }
                _ => Val::Scalar(self.int(
                    quote!(::autodiff_core::__private::offset(H0, H1)),
                    vec![start.clone(), pos],
                    span,
                )),
            },
            StreamKind::Mem { mem, prefix } => {
                let mut indices = prefix.clone();
                indices.push(pos);
                if depth(&indices) < self.mems[mem.index()].dims {
                    return Val::Mem(*mem, indices);
                }
                let value = self.emit(Op::Load(*mem), indices.clone(), span);
                // An element of a struct's field: a number, or a struct of a `Vec` of them,
                // whose methods `for l in &m.layers { l.forward(h) }` calls in place.
                if self.mems[mem.index()].structured {
                    self.struct_elements.insert(value, (*mem, indices));
                }
                Val::Scalar(Operand::Value(value))
            }
            // (An item of `ss.iter()` of a call's `Vec` of structs that are not `Copy`.)
            StreamKind::Value(value) => {
                let item = self.element_of_value(*value, pos, span);
                self.values[item.index()].cloned = true;
                Val::Scalar(Operand::Value(item))
            }
            StreamKind::Refs(value) => {
                self.borrow(quote!(&H0[H1]), vec![Operand::Value(*value), pos], span)
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
            StreamKind::Chain(a, b) => {
                let first = self.int(quote!(H0 < H1), vec![pos.clone(), a.count.clone()], span);
                let at = pos.clone();
                self.lower_if(
                    first,
                    |l| l.item_at(a, at, span),
                    |l| {
                        let pos = l.int(quote!(H0 - H1), vec![pos, a.count.clone()], span);
                        l.item_at(b, pos, span)
                    },
                    span,
                )
            }
            StreamKind::Windows { mem, prefix, size } => {
                let end = self.int(quote!(H0 + H1), vec![pos.clone(), size.clone()], span);
                let mut view = prefix.clone();
                view.push(Operand::Range(Box::new(pos), Box::new(end)));
                Val::Mem(*mem, view)
            }
            StreamKind::ValueSlices {
                value,
                step,
                size,
                len,
                at,
            } => {
                let (start, end) = self.chunk_bounds(pos, step, size, len, span);
                self.borrowed_slice(*value, start, end, *at)
            }
            StreamKind::Chunks {
                mem,
                prefix,
                size,
                len,
            } => {
                let (start, end) = self.chunk_bounds(pos, size, size, len, span);
                let mut view = prefix.clone();
                view.push(Operand::Range(Box::new(start), Box::new(end)));
                Val::Mem(*mem, view)
            }
        }
    }

    /// `&value[start..end]` of data that is not differentiated: a borrow, which the backward
    /// sweep takes again rather than tape.
    pub(super) fn borrowed_slice(
        &mut self,
        value: Value,
        start: Operand,
        end: Operand,
        span: Span,
    ) -> Val {
        self.borrow(
            quote!(&H0[H1..H2]),
            vec![Operand::Value(value), start, end],
            span,
        )
    }

    /// A borrow of data that is not differentiated (`template` with holes `H0`, ..), which
    /// the backward sweep takes again rather than tape, and which `*` dereferences as written.
    pub(super) fn borrow(&mut self, template: TokenStream, args: Vec<Operand>, span: Span) -> Val {
        // Not cut: a borrow of a differentiated value (a call's `Vec`) is an error, not a
        // constant.
        let opaque = Opaque {
            cut: false,
            error: "a slice of an array a call returned cannot be differentiated here; bind the call's result to a name (`let h = f(x);`), or a row of it with the row's type (`let row: [f64; 4] = h[1];`), and slice that (`h.windows(2)`, `&h[a..b]`, `&row[1..]`), or index its elements".to_owned(),
            at: quote::quote_spanned!(span=> slice),
            ..Opaque::cut(rename_holes(template))
        };
        self.borrow_as(opaque, args, span)
    }

    /// `opaque` as a borrow, which the backward sweep takes again rather than tape (also one
    /// that is cut: `no_grad(&self.buffer)`).
    pub(super) fn borrow_as(&mut self, opaque: Opaque, args: Vec<Operand>, span: Span) -> Val {
        let opaque = Opaque {
            index: true,
            borrow: true,
            ..opaque
        };
        let value = self.emit(Op::Opaque(opaque), args, span);
        self.kept_as_written.insert(value);
        self.borrows.insert(value);
        Val::Scalar(Operand::Value(value))
    }

    /// A reference to an item, as `filter` gives its closure: each borrow of data in it (the
    /// item itself, or a tuple's part) gets one more `&`, which a `&x` pattern takes off again;
    /// numbers stay as they are (the macro holds them by value, and `*` of one is itself).
    pub(super) fn referenced(&mut self, item: Val, span: Span) -> Val {
        match item {
            Val::Scalar(Operand::Value(value)) if self.borrows.contains(&value) => {
                let val = self.borrow(quote!(&H0), vec![Operand::Value(value)], span);
                if let Val::Scalar(Operand::Value(reborrow)) = val {
                    self.reborrows.insert(reborrow, value);
                }
                val
            }
            Val::Tuple(parts) => Val::Tuple(
                parts
                    .into_iter()
                    .map(|part| self.referenced(part, span))
                    .collect(),
            ),
            item => item,
        }
    }

    /// What `&pat` binds of `val`: the borrows [`Self::referenced`] made, taken off again.
    pub(super) fn unreferenced(&self, val: &Val) -> Option<Val> {
        match val {
            Val::Scalar(Operand::Value(value)) => self
                .reborrows
                .get(value)
                .map(|b| Val::Scalar(Operand::Value(*b))),
            Val::Tuple(parts) if parts.iter().any(|p| self.unreferenced(p).is_some()) => {
                Some(Val::Tuple(
                    parts
                        .iter()
                        .map(|p| self.unreferenced(p).unwrap_or_else(|| p.clone()))
                        .collect(),
                ))
            }
            _ => None,
        }
    }

    /// `p step..min(p step + size, len)`: the bounds of the slice at position `p` of
    /// `windows` (`step` 1) or `chunks` (`step` the size).
    fn chunk_bounds(
        &mut self,
        pos: Operand,
        step: &Operand,
        size: &Operand,
        len: &Operand,
        span: Span,
    ) -> (Operand, Operand) {
        let start = self.int(quote!(H0 * H1), vec![pos, step.clone()], span);
        let end = self.int(
            quote!((H0 + H1).min(H2)),
            vec![start.clone(), size.clone(), len.clone()],
            span,
        );
        (start, end)
    }

    /// The stream without its first position.
    pub(super) fn rest(&mut self, stream: &Stream, span: Span) -> Stream {
        let one = Operand::Const(Const {
            tokens: quote!(1usize),
            atomic: true,
        });
        let count = self.int(
            quote!(::autodiff_core::__private::minus(H0, 1)),
            vec![stream.count.clone()],
            span,
        );
        Stream {
            count,
            kind: StreamKind::Skip(Box::new(self.clone_stream(stream)), one),
        }
    }

    /// The stream without its `filter`s: every item, at the positions the filtered one gives.
    pub(super) fn unfiltered(&self, stream: &Stream) -> Stream {
        match &stream.kind {
            StreamKind::Filter(inner, _) => self.unfiltered(inner),
            StreamKind::Map(inner, f) => Stream {
                count: inner.count.clone(),
                kind: StreamKind::Map(Box::new(self.unfiltered(inner)), f.clone()),
            },
            _ => self.clone_stream(stream),
        }
    }

    pub(super) fn clone_stream(&self, stream: &Stream) -> Stream {
        let kind = match &stream.kind {
            StreamKind::Range { start, untyped } => StreamKind::Range {
                start: start.clone(),
                untyped: *untyped,
            },
            StreamKind::Mem { mem, prefix } => StreamKind::Mem {
                mem: *mem,
                prefix: prefix.clone(),
            },
            StreamKind::Value(v) => StreamKind::Value(*v),
            StreamKind::Refs(v) => StreamKind::Refs(*v),
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
            StreamKind::Chain(a, b) => StreamKind::Chain(
                Box::new(self.clone_stream(a)),
                Box::new(self.clone_stream(b)),
            ),
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
            StreamKind::ValueSlices {
                value,
                step,
                size,
                len,
                at,
            } => StreamKind::ValueSlices {
                value: *value,
                step: step.clone(),
                size: size.clone(),
                len: len.clone(),
                at: *at,
            },
        };
        Stream {
            count: stream.count.clone(),
            kind,
        }
    }

    /// `m[i] = row`: each element of the array `src[src_prefix]` stored into `dst[prefix]`,
    /// whose length it must have.
    pub(super) fn store_row(
        &mut self,
        (dst, prefix): (Mem, Vec<Operand>),
        (src, src_prefix): (Mem, Vec<Operand>),
        span: Span,
    ) {
        let count = Operand::Value(self.emit(Op::Len(src), src_prefix.clone(), span));
        let stream = Stream {
            count,
            kind: StreamKind::Mem {
                mem: src,
                prefix: src_prefix,
            },
        };
        let mismatch = "a row assigned whole must have the row's length";
        self.store_stream((dst, prefix), &stream, mismatch, span);
    }

    /// Each item of `stream` stored into `dst[prefix]` at its position, after checking that
    /// the lengths agree (`mismatch` is the panic's message).
    pub(super) fn store_stream(
        &mut self,
        (dst, prefix): (Mem, Vec<Operand>),
        stream: &Stream,
        mismatch: &str,
        span: Span,
    ) {
        let dst_len = Operand::Value(self.emit(Op::Len(dst), prefix.clone(), span));
        let (a, b) = (Opaque::hole(0), Opaque::hole(1));
        let check = quote!(::core::assert_eq!(#a, #b, #mismatch));
        self.emit(
            Op::Opaque(Opaque::cut(check)),
            vec![dst_len, stream.count.clone()],
            span,
        );
        self.stream_loop(stream, span, None, |_| {}, &mut |l, item, pos| {
            let mut indices = prefix.clone();
            indices.push(pos);
            // A matrix stored into a `Vec` of matrices: row by row.
            if let Val::Mem(src, src_prefix) = &item {
                if !l.mems[src.index()].structured && depth(&indices) < l.mems[dst.index()].dims {
                    l.store_row((dst, indices), (*src, src_prefix.clone()), span);
                    return;
                }
            }
            let value = l.val_operand(item, span);
            l.push(ir::Stmt::Store(ir::Store {
                mem: dst,
                indices,
                value,
                push: false,
                span,
            }));
        });
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
}

/// `H0`, `H1` of a template become the holes of an opaque expression.
pub(super) fn rename_holes(template: TokenStream) -> TokenStream {
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

/// An integer literal without a suffix, or its negation: `3`, `-1`.
fn untyped_int(expr: &Expr) -> Option<i128> {
    match strip_parens(expr) {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(lit),
            ..
        }) if lit.suffix().is_empty() => lit.base10_parse().ok(),
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => untyped_int(expr).map(|v| -v),
        _ => None,
    }
}

/// `name`, `iter::name`, `std::iter::name` or `core::iter::name` (`zip`, `repeat`).
fn is_iter_function(func: &Expr, name: &str) -> bool {
    let Expr::Path(path) = strip_parens(func) else {
        return false;
    };
    let names = segment_names(path);
    path.qself.is_none()
        && matches!(
            names.iter().map(String::as_str).collect::<Vec<_>>().as_slice(),
            [f] | ["iter", f] | ["std" | "core", "iter", f] if *f == name
        )
}

/// The item of `std::iter::once(item)` (`iter::once`, `once`), a reference taken off.
fn once_item(expr: &Expr) -> Option<&Expr> {
    let Expr::Call(call) = strip_parens(expr) else {
        return None;
    };
    let [item] = &call.args.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    if !is_iter_function(&call.func, "once") {
        return None;
    }
    Some(match strip_parens(item) {
        Expr::Reference(r) if r.mutability.is_none() => &r.expr,
        item => item,
    })
}

impl Lowerer<'_> {
    /// The parameter a chain iterates when it is a map or a set (`qty`, `&qty`, `qty.iter()`,
    /// `m.values().zip(w)`; not `m.keys().copied().collect::<Vec<_>>()`, nor `m[&k].iter()`).
    pub(super) fn map_source(&self, expr: &Expr) -> Option<String> {
        match strip_parens(expr) {
            Expr::Reference(r) => self.map_source(&r.expr),
            Expr::MethodCall(call)
                if matches!(
                    call.method.to_string().as_str(),
                    "iter" | "into_iter" | "keys" | "values" | "iter_mut" | "values_mut"
                ) || Self::is_stream(expr) =>
            {
                self.map_source(&call.receiver)
            }
            Expr::Path(path) => {
                let name = path.path.get_ident()?.to_string();
                matches!(self.local_val(expr), Some(Val::Scalar(Operand::Value(v)))
                    if self.map_values.contains(v))
                .then_some(name)
            }
            _ => None,
        }
    }
}

/// The body of `flat_map`'s closure `|r| body` with its parameter renamed `__autodiff_row`
/// (every binding and use of the name, so the body means what it meant); `None` where a name
/// may hide from the renaming (in a macro, a field shorthand).
fn row_elements(f: &Expr) -> Option<Expr> {
    let Expr::Closure(f) = strip_parens(f) else {
        return None;
    };
    let [syn::Pat::Ident(param)] = &f.inputs.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    if param.by_ref.is_some() || param.mutability.is_some() || param.subpat.is_some() {
        return None;
    }
    struct Rename<'n>(&'n syn::Ident);
    impl syn::visit_mut::VisitMut for Rename<'_> {
        fn visit_expr_path_mut(&mut self, path: &mut syn::ExprPath) {
            if path.qself.is_none() && path.path.is_ident(self.0) {
                path.path = syn::parse_quote_spanned!(self.0.span()=> __autodiff_row);
            }
        }
        fn visit_pat_ident_mut(&mut self, pat: &mut syn::PatIdent) {
            if pat.ident == *self.0 {
                pat.ident = syn::Ident::new("__autodiff_row", pat.ident.span());
            }
            syn::visit_mut::visit_pat_ident_mut(self, pat);
        }
    }
    // Names inside a macro's tokens or a field shorthand (`S { r }`) would not be renamed.
    struct Opaque(bool);
    impl<'ast> syn::visit::Visit<'ast> for Opaque {
        fn visit_macro(&mut self, _: &'ast syn::Macro) {
            self.0 = true;
        }
        fn visit_field_value(&mut self, field: &'ast syn::FieldValue) {
            self.0 |= field.colon_token.is_none();
            syn::visit::visit_field_value(self, field);
        }
    }
    let mut opaque = Opaque(false);
    syn::visit::Visit::visit_expr(&mut opaque, &f.body);
    if opaque.0 {
        return None;
    }
    let mut body = (*f.body).clone();
    syn::visit_mut::VisitMut::visit_expr_mut(&mut Rename(&param.ident), &mut body);
    Some(body)
}
