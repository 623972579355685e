//! Arrays and vectors built in the body: `[x; n]`, `[a, b]`, `vec![..]`.

use super::*;
use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Token};

const ARRAY_OF_STRUCTS: &str = "an array of structs made in the function is not supported; keep each field in an array of its own (`let mut kappa = vec![k0; n];`), hold the structs in a struct's `Vec` field passed in (`for l in &m.layers`), or handle each one in turn";

impl Lowerer<'_> {
    /// `[elem; len]` (and `vec![elem; len]` with `vec`).
    pub(super) fn repeat(&mut self, elem: &Expr, len: &Expr, vec: bool, span: Span) -> Val {
        if let Some(matrix) = self.repeat_of_repeat(elem, len, vec, span) {
            return matrix;
        }
        if let Some(zeros) = zeros_of_matrix(elem, len, vec, span) {
            // Each element assigned the matrix, in a loop as a user would write it.
            let filled = self.expr(&zeros);
            self.scopes.push(Scope::new());
            self.declare(Var::user("__autodiff_filled"), Some(filled.clone()));
            let fill: Expr = syn::parse_quote_spanned!(span=>
                for __autodiff_k in 0..__autodiff_filled.len() {
                    __autodiff_filled[__autodiff_k] = #elem;
                }
            );
            self.expr(&fill);
            self.scopes.pop();
            return filled;
        }
        let len = self.operand(len);
        let elem_expr = elem;
        let mut field = false;
        let elem = match self.expr(elem) {
            // A field of a struct (`[p.b; 3]`): its number (checked to be one).
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured => {
                field = true;
                Val::Scalar(self.val_operand(Val::Mem(mem, prefix), elem_expr.span()))
            }
            val => val,
        };
        // `vec![b; n]` of a number the function computes: filled with `b` held constant, then
        // `b` stored in every element, so that the backward sweep sums the elements' adjoints
        // into `b`'s. A value that may be an array or a struct (a field, a call's result) is
        // checked to be a number.
        // `[T::zero(); n]`: a value computed from nothing is a constant, as `0.0` is (and a
        // matrix of it one array, `[[T::zero(); n]; n]`).
        let constant = match &elem {
            Val::Scalar(Operand::Value(value)) => self
                .last_inst_mut(*value)
                .is_some_and(|inst| matches!(inst.op, Op::Opaque(_)) && inst.args.is_empty()),
            _ => false,
        };
        if let (Val::Scalar(Operand::Value(value)), false) = (&elem, constant) {
            let value = *value;
            if self.structs.contains(&value) {
                self.error(elem_expr, ARRAY_OF_STRUCTS);
                return Val::Poison;
            }
            let maybe_aggregate =
                self.values[value.index()].aggregate || self.parts.contains(&value);
            let constant = self.held_constant(value, field || maybe_aggregate, span);
            let mem = self.new_mem(None, 1, vec, None);
            self.push(ir::Stmt::MemInit(MemInit {
                mem,
                kind: MemInitKind::Repeat {
                    elem: Operand::Value(constant),
                    lens: vec![len],
                    vecs: vec![vec],
                },
                declare: true,
                len: None,
                ty: None,
                span,
            }));
            self.fill_elements(Val::Mem(mem, Vec::new()), elem, span);
            return Val::Mem(mem, Vec::new());
        }
        let (elem, mut lens, mut vecs) = match elem {
            // `[[0.0; m]; n]`: the inner array was built first; take its shape.
            Val::Mem(inner, prefix) if prefix.is_empty() => match self.take_repeat(inner) {
                Some(inner) => inner,
                None if self.mems[inner.index()].dims == 1
                    && !self.mems[inner.index()].structured =>
                {
                    return self.repeat_row(inner, len, vec, span);
                }
                None => {
                    self.error_at(
                        span,
                        "only arrays of constants such as `[[0.0; M]; N]` can be nested here",
                    );
                    return Val::Poison;
                }
            },
            Val::Scalar(elem) => (elem, Vec::new(), Vec::new()),
            Val::Poison => return Val::Poison,
            _ => {
                self.error_at(span, "an array must be filled with a number");
                return Val::Poison;
            }
        };
        lens.insert(0, len);
        vecs.insert(0, vec);
        let mem = self.new_mem(None, lens.len(), vec, None);
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::Repeat { elem, lens, vecs },
            declare: true,
            len: None,
            ty: None,
            span,
        }));
        Val::Mem(mem, Vec::new())
    }

    /// `vec![vec![b; m]; n]`, `[[b; m]; n]` of a number `b` the function computes: the matrix
    /// allocated with `b` held constant, then `b` stored in every element, as `vec![b; n]` is;
    /// `None` for anything else (a constant `b` is one `Repeat`).
    fn repeat_of_repeat(&mut self, elem: &Expr, len: &Expr, vec: bool, span: Span) -> Option<Val> {
        let (inner, inner_len, inner_vec) = match strip_parens(elem) {
            Expr::Repeat(r) => ((*r.expr).clone(), (*r.len).clone(), false),
            Expr::Macro(mac) if mac.mac.path.is_ident("vec") => {
                let (e, l) = vec_repeat(&mac.mac)?;
                (e, l, true)
            }
            _ => return None,
        };
        // Only a plain name or a call's or an operation's value: a literal or a nested array is
        // the usual `Repeat`.
        if !matches!(
            strip_parens(&inner),
            Expr::Path(_)
                | Expr::Binary(_)
                | Expr::Unary(_)
                | Expr::MethodCall(_)
                | Expr::Index(_)
                | Expr::Field(_)
        ) {
            return None;
        }
        let value = match self.expr(&inner) {
            Val::Scalar(Operand::Value(value)) => value,
            // Read once already: the usual path would read it again.
            Val::Scalar(constant) => {
                let (len, inner_len) = (self.operand(len), self.operand(&inner_len));
                return Some(self.repeat_matrix(constant, len, inner_len, vec, inner_vec, span));
            }
            _ => {
                self.error_at(span, "a matrix must be filled with a number");
                return Some(Val::Poison);
            }
        };
        let checked = self.values[value.index()].aggregate || self.parts.contains(&value);
        let constant = Operand::Value(self.held_constant(value, checked, span));
        let (len, inner_len) = (self.operand(len), self.operand(&inner_len));
        let matrix = self.repeat_matrix(constant, len, inner_len, vec, inner_vec, span);
        self.scopes.push(Scope::new());
        self.declare(Var::user("__autodiff_filled"), Some(matrix.clone()));
        self.declare(
            Var::user("__autodiff_fill"),
            Some(Val::Scalar(Operand::Value(value))),
        );
        let fill: Expr = syn::parse_quote_spanned!(span=>
            for __autodiff_i in 0..__autodiff_filled.len() {
                for __autodiff_j in 0..__autodiff_filled[__autodiff_i].len() {
                    __autodiff_filled[__autodiff_i][__autodiff_j] = __autodiff_fill;
                }
            }
        );
        self.expr(&fill);
        self.scopes.pop();
        Some(matrix)
    }

    fn repeat_matrix(
        &mut self,
        elem: Operand,
        len: Operand,
        inner_len: Operand,
        vec: bool,
        inner_vec: bool,
        span: Span,
    ) -> Val {
        let mem = self.new_mem(None, 2, vec, None);
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::Repeat {
                elem,
                lens: vec![len, inner_len],
                vecs: vec![vec, inner_vec],
            },
            declare: true,
            len: None,
            ty: None,
            span,
        }));
        Val::Mem(mem, Vec::new())
    }

    /// How `row`, a one-dimensional array, was made, where that fixes its length: an array's
    /// latest initialization in the blocks still open (its length is its type's); a `Vec`'s
    /// only one, in the innermost block (or blocks nested in it), with nothing pushed onto it.
    /// A `Vec` of an outer block may yet be assigned again or grown later in a loop around
    /// its use (an error rather than rows of another length in the next iteration).
    fn only_init(&self, row: Mem) -> Option<&MemInitKind> {
        let data = &self.mems[row.index()];
        if data.dims != 1 || self.resized.contains(&row) {
            return None;
        }
        let blocks = match data.vec {
            true => &self.blocks[self.blocks.len().checked_sub(1)?..],
            false => &self.blocks[..],
        };
        let inits: Vec<_> = blocks.iter().flat_map(|b| inits_of(b, row)).collect();
        if !data.vec {
            // Any one written out or filled: all have the array type's length.
            let sized = |init: &&MemInit| {
                matches!(
                    init.kind,
                    MemInitKind::List { .. } | MemInitKind::Repeat { .. }
                )
            };
            return inits.into_iter().rfind(sized).map(|init| &init.kind);
        }
        match inits[..] {
            [init] => Some(&init.kind),
            _ => None,
        }
    }

    /// The elements of `row`, a row written out (`[a, b]`, `vec![a, b]`) in a block still open
    /// (so they are in scope here), whose length is fixed as [`Self::row_len`] requires; `None`
    /// for any other array, and for an empty one.
    pub(super) fn written_row(&self, row: Mem) -> Option<&[Operand]> {
        self.row_len(row)?;
        let mut latest_first = self.blocks.iter().rev().flat_map(|b| b.iter().rev());
        latest_first.find_map(|stmt| match stmt {
            ir::Stmt::MemInit(MemInit {
                mem,
                kind: MemInitKind::List { elems, row: None },
                ..
            }) if *mem == row && !elems.is_empty() => Some(&elems[..]),
            _ => None,
        })
    }

    /// The length of `row`, a one-dimensional array written out (`[a, b]`) or filled
    /// (`vec![0.0; n]`, a `collect()`), and not assigned whole or grown since.
    pub(super) fn row_len(&self, row: Mem) -> Option<Operand> {
        match self.only_init(row)? {
            MemInitKind::List { elems, .. } if elems.is_empty() => None,
            kind => vector_len(kind),
        }
    }

    /// `len`, a length computed in `lp`'s loop, computed again ahead of it: the integer
    /// arithmetic and lengths that make it, pushed onto `ahead` in order. `None` when it depends
    /// on anything else (the loop's position, a `Vec` that grows).
    pub(super) fn hoisted_len(
        &mut self,
        len: &Operand,
        lp: &RowsLoop,
        ahead: &mut Vec<ir::Stmt>,
    ) -> Option<Operand> {
        let value = match len {
            Operand::Const(_) | Operand::Index(_) => return Some(len.clone()),
            Operand::Value(value) if value.index() < lp.before => return Some(len.clone()),
            Operand::Value(value) => *value,
            _ => return None,
        };
        let mut inst = defining_inst(lp.after, value)?;
        if let Op::Len(mem) = &inst.op {
            if self.mems[mem.index()].param.is_none() {
                let made = match &inst.args[..] {
                    // An array the loop makes (`d` of `let d: Vec<f64> = c.iter()..collect();
                    // d.iter()..`): the length it is made with, where nothing changes that.
                    [] => self.made_len(*mem, lp.after)?,
                    // A row (not a range of rows, `s[1..]`) of a matrix made before the loop
                    // (`s.iter().map(|row| row.iter()..)` of `let s: Vec<Vec<f64>> =
                    // ..collect();`): the rows' length it is made with.
                    [index] if !matches!(index, Operand::Range(..)) => {
                        self.made_row_len(*mem, lp)?
                    }
                    _ => return None,
                };
                return self.hoisted_len(&made, lp, ahead);
            }
        }
        // Only what cannot panic: the ahead-of-time copy runs even where the loop would not
        // (`m[0].len()` of an empty `m`, a `chunks(0)` count).
        let cannot_panic = match &inst.op {
            Op::Opaque(opaque) => {
                opaque.index
                    && TOTAL_LENGTH_ARITHMETIC
                        .iter()
                        .any(|t| is_template(&opaque.expr, t))
            }
            Op::Len(mem) => self.mems[mem.index()].param.is_some() && inst.args.is_empty(),
            _ => false,
        };
        if !cannot_panic {
            return None;
        }
        let mark = ahead.len();
        for arg in &mut inst.args {
            let Some(hoisted) = self.hoisted_len(arg, lp, ahead) else {
                ahead.truncate(mark);
                return None;
            };
            *arg = hoisted;
        }
        inst.result = self.new_value(None);
        let result = Operand::Value(inst.result);
        ahead.push(ir::Stmt::Inst(inst));
        Some(result)
    }

    /// The length of every row of `mem`, a matrix declared in the block of `lp`'s loop, before
    /// it, as `vec![vec![0.0; m]; n]` (or a `collect()` of rows of one length), and neither
    /// assigned whole again nor grown.
    fn made_row_len(&self, mem: Mem, lp: &RowsLoop) -> Option<Operand> {
        if self.mems[mem.index()].dims != 2 || self.resized.contains(&mem) {
            return None;
        }
        let inits: Vec<_> = [lp.earlier, lp.after]
            .into_iter()
            .flat_map(|stmts| inits_of(stmts, mem))
            .collect();
        let declared_here = lp
            .earlier
            .iter()
            .any(|stmt| matches!(stmt, ir::Stmt::MemInit(init) if init.mem == mem && init.declare));
        match &inits[..] {
            [init] if declared_here => match &init.kind {
                MemInitKind::Repeat { lens, .. } if lens.len() == 2 => Some(lens[1].clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// The length of `mem`, a one-dimensional array made once in the statements `after` and
    /// never grown: what it is written out or filled with.
    pub(super) fn made_len(&self, mem: Mem, after: &[ir::Stmt]) -> Option<Operand> {
        if self.mems[mem.index()].dims != 1 || self.resized.contains(&mem) {
            return None;
        }
        match inits_of(after, mem)[..] {
            [init] if init.declare => vector_len(&init.kind),
            _ => None,
        }
    }

    /// `vec![[a, b]; n]`, `vec![vec![a, b]; n]`: the matrix allocated (filled with the row's
    /// first element, held constant), then the row stored in each of its rows.
    fn repeat_row(&mut self, row: Mem, len: Operand, vec: bool, span: Span) -> Val {
        let row_vec = self.mems[row.index()].vec;
        let (first, row_len) = match self.written_row(row) {
            Some(elems) => (elems[0].clone(), length(elems.len())),
            // A row that is not written out (a variable, `Vec::new()`) has no element to fill
            // with that is sure to exist.
            _ => {
                self.error_at(
                    span,
                    "an array filled with an array variable or an empty `Vec` is not supported; write the row out (`vec![[a, b]; n]`), or fill it with zeros (`vec![[0.0; 2]; n]`) and assign its rows",
                );
                return Val::Poison;
            }
        };
        let filler = match first {
            Operand::Value(value) => Operand::Value(self.held_constant(value, false, span)),
            constant => constant,
        };
        let matrix = self.repeat_matrix(filler, len, row_len, vec, row_vec, span);
        self.fill_elements(matrix.clone(), Val::Mem(row, Vec::new()), span);
        matrix
    }

    /// A copy of `value` without derivative, to allocate an array with (its elements then
    /// stored one by one); `checked` that it is a number, for a value that may be an array or a
    /// struct.
    fn held_constant(&mut self, value: Value, checked: bool, span: Span) -> Value {
        let hole = Opaque::hole(0);
        let expr = if checked {
            quote::quote!(::autodiff_core::__private::number(#hole))
        } else {
            quote::quote!(#hole)
        };
        self.emit(
            Op::Opaque(Opaque::cut(expr)),
            vec![Operand::Value(value)],
            span,
        )
    }

    /// `value` stored in every element of `array` (`f.fill(value)`), as the loop that writes
    /// them: each element's adjoint flows to `value`'s, and the old elements' stop there.
    pub(super) fn fill_elements(&mut self, array: Val, value: Val, span: Span) {
        self.scopes.push(Scope::new());
        self.declare(Var::user("__autodiff_filled"), Some(array));
        self.declare(Var::user("__autodiff_fill"), Some(value));
        let fill: Expr = syn::parse_quote_spanned!(span=>
            for __autodiff_i in 0..__autodiff_filled.len() {
                __autodiff_filled[__autodiff_i] = __autodiff_fill;
            }
        );
        self.expr(&fill);
        self.scopes.pop();
    }

    /// Takes back the initialization of a just-built inner array, to fold it into its parent.
    pub(super) fn take_repeat(&mut self, inner: Mem) -> Option<(Operand, Vec<Operand>, Vec<bool>)> {
        let block = self.blocks.last_mut()?;
        match block.last() {
            Some(ir::Stmt::MemInit(MemInit {
                mem,
                kind: MemInitKind::Repeat { .. },
                ..
            })) if *mem == inner => {}
            _ => return None,
        }
        match block.pop() {
            Some(ir::Stmt::MemInit(MemInit {
                kind: MemInitKind::Repeat { elem, lens, vecs },
                ..
            })) => Some((elem, lens, vecs)),
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
        let elems: Vec<&Expr> = elems.collect();
        // `[(0, 1), (1, 2), (2, 0)]`: a table of constant tuples (an edge list), data as a
        // `const` item is; also tables of them (`[[(0, 1.0), (1, -1.0)], [(1, 1.0), ..]]`).
        if !elems.is_empty()
            && elems
                .iter()
                .all(|e| constant_tuple(e) || constant_tuple_table(e))
        {
            let table: Expr = if vec {
                syn::parse_quote_spanned!(span=> [#(#elems),*].to_vec())
            } else {
                syn::parse_quote_spanned!(span=> [#(#elems),*])
            };
            return self.opaque(&table, true, "a table of constants");
        }
        if elems.iter().any(|e| holds_tuple(e)) {
            self.error_at(
                span,
                "an array or `Vec` of tuples with values the function computes is not supported (a table of constant tuples, `[(0, 1), (1, 2)]`, is); keep each part in an array of its own (`let ts = [0.0, 1.0]; let ys = [a, b];`, then `(ts[i], ys[i])`)",
            );
            return Val::Poison;
        }
        // `[[a, b], [c, d]]` or `vec![vec![a, b], ..]`: a matrix literal, row by row; a row may
        // be an array variable (`[start, [start[0] + h, start[1]]]`) of the written rows' length,
        // which the function's own type check holds it to.
        let literal: Vec<Option<(Punctuated<Expr, Token![,]>, bool)>> =
            elems.iter().map(|e| literal_row(e)).collect();
        if let Some((n, row_vec)) = literal.iter().flatten().next().map(|(r, v)| (r.len(), *v)) {
            if n == 0 {
                self.error_at(span, "a matrix literal needs rows with elements; allocate the matrix (`vec![vec![0.0; c]; r]`) or start from `Vec::new()`");
                return Val::Poison;
            }
            if literal
                .iter()
                .flatten()
                .any(|(row, vec)| row.len() != n || *vec != row_vec)
            {
                self.error_at(
                    span,
                    "the rows of a matrix literal must have the same length and be all arrays or all `vec!`s",
                );
                return Val::Poison;
            }
            let mut row_major = Vec::new();
            for (e, row) in elems.iter().zip(&literal) {
                match row {
                    Some((row, _)) => row_major.extend(row.iter().map(|x| self.operand(x))),
                    None => row_major.extend(self.row_elements(e, n)),
                }
            }
            let mem = self.new_mem(None, 2, vec, None);
            self.push(ir::Stmt::MemInit(MemInit {
                mem,
                kind: MemInitKind::List {
                    elems: row_major,
                    row: Some((n, row_vec)),
                },
                declare: true,
                len: None,
                ty: None,
                span,
            }));
            return Val::Mem(mem, Vec::new());
        }
        let mut reported = false;
        let elems: Vec<Operand> = elems
            .into_iter()
            .map(|e| match self.expr(e) {
                Val::Mem(mem, _) if !self.mems[mem.index()].structured => {
                    if !std::mem::replace(&mut reported, true) {
                        self.error(e, "a matrix literal whose rows are all arrays (computed, or rows of a parameter: `[x[q[0]], x[q[1]]]`) is not supported; write one row out (`[a, b]`), or allocate the matrix (`[[0.0; 3]; 4]`) and assign its rows (`m[k] = x[q[k]];`)");
                    }
                    Operand::Poison
                }
                Val::Scalar(Operand::Value(v)) if self.structs.contains(&v) => {
                    if !std::mem::replace(&mut reported, true) {
                        self.error(e, ARRAY_OF_STRUCTS);
                    }
                    Operand::Poison
                }
                val => self.as_operand(val, e),
            })
            .collect();
        let mem = self.new_mem(None, 1, vec, None);
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::List { elems, row: None },
            declare: true,
            len: None,
            ty: None,
            span,
        }));
        Val::Mem(mem, Vec::new())
    }

    /// The `n` elements of a row of a matrix literal given as an array (`start`, `m[i]`).
    fn row_elements(&mut self, row: &Expr, n: usize) -> Vec<Operand> {
        match self.expr(row) {
            Val::Mem(mem, prefix)
                if self.mems[mem.index()].structured
                    || depth(&prefix) + 1 == self.mems[mem.index()].dims =>
            {
                (0..n)
                    .map(|k| {
                        let mut indices = prefix.clone();
                        indices.push(Operand::Index(k));
                        Operand::Value(self.emit(Op::Load(mem), indices, row.span()))
                    })
                    .collect()
            }
            Val::Poison => vec![Operand::Poison; n],
            _ => {
                self.error(
                    row,
                    "a row of a matrix literal must be an array, as the other rows are",
                );
                vec![Operand::Poison; n]
            }
        }
    }

    pub(super) fn vec_macro(&mut self, mac: &syn::Macro) -> Val {
        let span = mac.span();
        if let Some((elem, len)) = vec_repeat(mac) {
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

    /// `v.push(value)` on a local `Vec`: a store at the length before, which grows it.
    pub(super) fn push_elem(&mut self, mem: Mem, value: Operand, span: Span) {
        let index = self.emit(Op::Len(mem), Vec::new(), span);
        self.resized.insert(mem);
        self.push(ir::Stmt::Store(ir::Store {
            mem,
            indices: vec![Operand::Value(index)],
            value,
            push: true,
            span,
        }));
    }

    /// `Vec::new()` and `Vec::with_capacity(n)`.
    pub(super) fn empty_vec(&mut self, capacity: Option<&Expr>, span: Span) -> Val {
        let capacity = capacity.map(|c| self.operand(c));
        let mem = self.new_mem(None, 1, true, None);
        self.resized.insert(mem);
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::Empty { capacity },
            declare: true,
            len: None,
            ty: None,
            span,
        }));
        Val::Mem(mem, Vec::new())
    }

    /// `dst.copy_from_slice(&src)` (and `clone_from_slice`) between arrays or views of them: the
    /// elements, one by one. `None` when `call` is not one of them.
    pub(super) fn copy_from_slice(&mut self, call: &syn::ExprMethodCall) -> Option<Val> {
        let name = call.method.to_string();
        if !matches!(name.as_str(), "copy_from_slice" | "clone_from_slice") || call.args.len() != 1
        {
            return None;
        }
        if !is_place(&call.receiver) {
            return None;
        }
        let span = call.method.span();
        let Val::Mem(dst, prefix) = self.expr(&call.receiver) else {
            return None;
        };
        if self.mems[dst.index()].structured || self.mems[dst.index()].param.is_some() {
            return None;
        }
        let source = match &call.args[0] {
            Expr::Reference(r) => (*r.expr).clone(),
            arg => arg.clone(),
        };
        let stream = self.stream(&source)?;
        // The lengths must agree, as `copy_from_slice` checks.
        let mismatch = "source and destination slices have different lengths";
        self.store_stream((dst, prefix), &stream, mismatch, span);
        Some(Val::Unit)
    }

    /// `v.push(x)`, `v.extend(iter)`, `v.extend_from_slice(&x)` on a local `Vec` of numbers;
    /// `None` when `call` is not one of them.
    pub(super) fn grow_vec(&mut self, call: &syn::ExprMethodCall) -> Option<Val> {
        let name = call.method.to_string();
        if !matches!(name.as_str(), "push" | "extend" | "extend_from_slice") || call.args.len() != 1
        {
            return None;
        }
        if !is_place(&call.receiver) {
            return None;
        }
        let Val::Mem(mem, prefix) = self.expr(&call.receiver) else {
            return None;
        };
        let span = call.method.span();
        let data = &self.mems[mem.index()];
        if data.structured || !prefix.is_empty() {
            return None;
        }
        if !data.vec || data.dims != 1 || data.param.is_some() {
            self.error(
                &call.method,
                format!(
                    "`.{name}(..)` is supported on a local `Vec` of numbers; build the values into one (`let mut v = Vec::new();`)"
                ),
            );
            return Some(Val::Poison);
        }
        if name == "push" {
            let value = match self.expr(&call.args[0]) {
                Val::Mem(row, _) if !self.mems[row.index()].structured => {
                    self.error(&call.args[0], ROWS_NOT_YET);
                    return Some(Val::Poison);
                }
                Val::Tuple(_) => {
                    self.error(&call.args[0], "a `Vec` of tuples is not supported; keep a `Vec` per element of the tuple (`a.push(x); b.push(y);`)");
                    return Some(Val::Poison);
                }
                // A struct parameter pushed whole (its fields, `p.bias`, may be numbers).
                Val::Mem(m, p) if p.is_empty() && self.mems[m.index()].field.is_none() => {
                    self.error(&call.args[0], ARRAY_OF_STRUCTS);
                    return Some(Val::Poison);
                }
                Val::Scalar(Operand::Value(v)) if self.structs.contains(&v) => {
                    self.error(&call.args[0], ARRAY_OF_STRUCTS);
                    return Some(Val::Poison);
                }
                val => self.as_operand(val, &call.args[0]),
            };
            self.push_elem(mem, value, span);
            return Some(Val::Unit);
        }
        let arg = match (&call.args[0], name.as_str()) {
            (Expr::Reference(r), "extend_from_slice") => (*r.expr).clone(),
            (arg, _) => arg.clone(),
        };
        let stream = self.stream(&arg)?;
        self.stream_loop(&stream, span, None, |_| {}, &mut |l, item, _| {
            let value = l.val_operand(item, span);
            l.push_elem(mem, value, span);
        });
        Some(Val::Unit)
    }
}

/// The integer arithmetic of stream counts that cannot panic: saturating, a minimum, a length.
const TOTAL_LENGTH_ARITHMETIC: &[&str] = &[
    "::core::cmp::min(H0, H1)",
    "::autodiff_core::__private::minus(H0, H1)",
    "::autodiff_core::__private::first(H0, H1)",
    "::autodiff_core::__private::range_len(H0, H1)",
    "::autodiff_core::__private::range_len_inclusive(H0, H1)",
    "H0.len()",
];

/// Whether `expr`, an `Opaque`'s (holes named), is `template` (holes `H0`, `H1`, ..), as
/// lowering writes it with [`Lowerer::int`].
pub(super) fn is_template(expr: &proc_macro2::TokenStream, template: &str) -> bool {
    template
        .parse()
        .is_ok_and(|t| super::iter::rename_holes(t).to_string() == expr.to_string())
}

/// The length of a one-dimensional array made as `kind` says: written out, or filled.
fn vector_len(kind: &MemInitKind) -> Option<Operand> {
    match kind {
        MemInitKind::List { elems, row: None } => Some(length(elems.len())),
        MemInitKind::Repeat { lens, .. } if lens.len() == 1 => Some(lens[0].clone()),
        _ => None,
    }
}

/// Every initialization of `mem` in `stmts` and the blocks inside them, in order.
fn inits_of(stmts: &[ir::Stmt], mem: Mem) -> Vec<&MemInit> {
    let mut inits = Vec::new();
    ir::walk_stmts(stmts, &mut |stmt| match stmt {
        ir::Stmt::MemInit(init) if init.mem == mem => inits.push(init),
        _ => {}
    });
    inits
}

/// The instruction in `stmts` (or the blocks inside them) that computes `value`.
pub(super) fn defining_inst(stmts: &[ir::Stmt], value: Value) -> Option<ir::Inst> {
    let mut inst = None;
    ir::walk_stmts(stmts, &mut |stmt| match stmt {
        ir::Stmt::Inst(i) if i.result == value => inst = Some(i.clone()),
        _ => {}
    });
    inst
}

/// The loop of a `collect()` of rows, seen from the matrix's declaration: values older than
/// `before` exist there; `earlier` are the statements of its block before it, `after` the
/// loop.
pub(super) struct RowsLoop<'a> {
    pub(super) before: usize,
    pub(super) earlier: &'a [ir::Stmt],
    pub(super) after: &'a [ir::Stmt],
}

/// A length known when the macro runs, as a `usize` literal.
pub(super) fn length(n: usize) -> Operand {
    let n = proc_macro2::Literal::usize_suffixed(n);
    Operand::Const(Const {
        tokens: quote::quote!(#n),
        atomic: true,
    })
}

/// `vec![elem; len]`: its element and length.
fn vec_repeat(mac: &syn::Macro) -> Option<(Expr, Expr)> {
    mac.parse_body_with(|input: syn::parse::ParseStream| {
        let elem: Expr = input.parse()?;
        input.parse::<Token![;]>()?;
        Ok((elem, input.parse::<Expr>()?))
    })
    .ok()
}

/// A row of a matrix literal: `[a, b]` or `vec![a, b]`, and whether it is a `Vec`.
fn literal_row(expr: &Expr) -> Option<(Punctuated<Expr, Token![,]>, bool)> {
    match strip_parens(expr) {
        Expr::Array(row) => Some((row.elems.clone(), false)),
        Expr::Macro(mac) if mac.mac.path.is_ident("vec") => mac
            .mac
            .parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated)
            .ok()
            .map(|row| (row, true)),
        _ => None,
    }
}

/// Building a matrix out of rows the function makes.
pub(super) const ROWS_NOT_YET: &str = "a `Vec` of rows built row by row (`rows.push(row)`), or collected from rows whose length is not known before the loop (triangular rows, rows grown or replaced in the closure), is not supported yet; allocate the matrix first (`let mut m = vec![vec![0.0; cols]; rows];`) and assign its elements (`m[i][j] = ..`)";

/// A tuple of literals (`(0, 1)`, `(2usize, -0.5)`), nested tuples too.
fn constant_tuple(expr: &Expr) -> bool {
    fn constant(expr: &Expr) -> bool {
        match strip_parens(expr) {
            Expr::Lit(_) => true,
            Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Neg(_),
                expr,
                ..
            }) => matches!(strip_parens(expr), Expr::Lit(_)),
            Expr::Tuple(t) => t.elems.iter().all(constant),
            _ => false,
        }
    }
    matches!(strip_parens(expr), Expr::Tuple(t) if !t.elems.is_empty() && t.elems.iter().all(constant))
}

/// A tuple, or an array literal with one inside (a row of a nested table).
fn holds_tuple(expr: &Expr) -> bool {
    match strip_parens(expr) {
        Expr::Tuple(_) => true,
        Expr::Array(rows) => rows.elems.iter().any(holds_tuple),
        _ => false,
    }
}

/// `[(0, 1.0), (1, -1.0)]`, `[[(0, 1.0)], [(2, 0.5)]]`: an array literal of constant tuples, or
/// of arrays of them.
fn constant_tuple_table(expr: &Expr) -> bool {
    matches!(strip_parens(expr), Expr::Array(rows) if !rows.elems.is_empty()
        && rows.elems.iter().all(|e| constant_tuple(e) || constant_tuple_table(e)))
}

/// `vec![[[1.0, 0.0], [0.0, 1.0]]; n]` (and `[..; n]`) of a matrix written out with float
/// literals: a matrix of zeros of its shape (`vec![[[0.0; 2]; 2]; n]`), each element of which
/// is then assigned the matrix (a row written out is [`Lowerer::repeat_row`]'s).
fn zeros_of_matrix(elem: &Expr, len: &Expr, vec: bool, span: Span) -> Option<Expr> {
    let Expr::Array(rows) = strip_parens(elem) else {
        return None;
    };
    let width = match rows.elems.first().map(strip_parens) {
        Some(Expr::Array(row)) => row.elems.len(),
        _ => return None,
    };
    let float_literals = rows.elems.iter().all(|row| {
        matches!(strip_parens(row), Expr::Array(row) if row.elems.len() == width
            && row.elems.iter().all(is_float_literal))
    });
    if !float_literals || width == 0 {
        return None;
    }
    let height = rows.elems.len();
    Some(if vec {
        syn::parse_quote_spanned!(span=> vec![[[0.0; #width]; #height]; #len])
    } else {
        syn::parse_quote_spanned!(span=> [[[0.0; #width]; #height]; #len])
    })
}

/// `1.0`, `-0.5`, `2f64`: a float literal, maybe negated.
fn is_float_literal(expr: &Expr) -> bool {
    match strip_parens(expr) {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Float(_),
            ..
        }) => true,
        Expr::Unary(syn::ExprUnary {
            op: syn::UnOp::Neg(_),
            expr,
            ..
        }) => is_float_literal(expr),
        _ => false,
    }
}
