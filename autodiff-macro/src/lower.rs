//! Lowering of the function body into the IR.
//!
//! Each operation becomes one instruction and each assignment a fresh value, so that shadowing
//! and reassignment leave every earlier value readable by the backward sweep:
//!
//! ```text
//! let mut s = x * y;          s   = mul(x, y)
//! s += x.sin();         →     t0  = sin(x)
//! s                           s_1 = add(s, t0)        output: s_1
//! ```
//!
//! Control flow stays structured. An `if` joins the variables its branches assign in phis; a
//! loop carries the variables its body assigns (found by lowering the body once to see, then
//! again for real). `break`, `continue` and `return` set flag variables, and the statements after
//! one that may have set a flag run under `if !flag { .. }`, so every construct has one exit:
//!
//! ```text
//! for i in 0..n {                       for i in 0..n {
//!     if x[i] < 0.0 { break; }     →        brk = if x[i] < 0.0 { true } else { false };
//!     s += x[i];                            s_1 = if !brk { s + x[i] } else { s };
//! }                                         exit when brk }
//! ```
//!
//! `match` becomes a chain of `if`s; `for x in v.iter()` a loop over `0..v.len()`.
//!
//! Unsupported constructs are recorded as errors at their span; lowering goes on with a poison
//! value so that every error of the function is reported at once.

use std::collections::BTreeMap;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{BinOp, Expr, Pat, Stmt, Token, UnOp};

use crate::ctxt::Ctxt;
use crate::ir::{
    self, Callee, Carried, Const, Form, If, Inst, Loop, LoopKind, Mem, MemData, MemInit,
    MemInitKind, Op, Opaque, Operand, Output, ParamRef, Phi, Store, Value, ValueData,
};
use crate::rules;
use crate::signature::{ParamKind, Signature};

/// Methods whose result is an integer or a bool: never differentiable, allowed on any value.
const CUT_METHODS: &[&str] = &[
    "len",
    "is_empty",
    "is_nan",
    "is_finite",
    "is_infinite",
    "is_normal",
    "is_subnormal",
    "is_sign_positive",
    "is_sign_negative",
    "to_bits",
    "total_cmp",
    "partial_cmp",
    "classify",
];

/// Methods of slices and vectors: on a field of a struct they are not the struct's own methods.
const SLICE_METHODS: &[&str] = &[
    "iter",
    "iter_mut",
    "first",
    "last",
    "get",
    "contains",
    "windows",
    "chunks",
    "sum",
    "product",
    "into_iter",
    "copied",
    "cloned",
    "as_slice",
    "to_vec",
    "clone",
    "to_owned",
];

const RET: &str = "#ret";
const RET_VAL: &str = "#ret_val";

pub fn lower(cx: &Ctxt, sig: &Signature, body: &syn::Block) -> ir::Function {
    let mut lowerer = Lowerer {
        cx,
        muted: false,
        values: Vec::new(),
        mems: Vec::new(),
        blocks: vec![Vec::new()],
        scopes: vec![BTreeMap::new()],
        items: Vec::new(),
        loops: Vec::new(),
        n_loops: 0,
        has_return: false,
        fn_name: sig.ident.to_string(),
        param_by_ref: sig.params.iter().map(|p| p.by_ref()).collect(),
        binding_ref: false,
        ret_mem: None,
        local_fns: body
            .stmts
            .iter()
            .filter_map(|stmt| match stmt {
                Stmt::Item(syn::Item::Fn(f)) => Some(f.sig.ident.to_string()),
                _ => None,
            })
            .collect(),
    };
    let params = sig
        .params
        .iter()
        .enumerate()
        .map(|(index, param)| lowerer.param(index, param))
        .collect();

    // Early returns set a flag and keep the value; the output joins it with the tail's value.
    lowerer.has_return = contains_early_return(body);
    if lowerer.has_return {
        lowerer.declare(RET, Some(Val::Scalar(const_bool(false))));
        lowerer.declare(RET_VAL, Some(Val::Scalar(dummy())));
    }
    // A function that returns an array from several places writes each into one output array
    // (`if`s cannot join arrays), and its tail is one more `return`.
    let mut stmts = body.stmts.clone();
    if let Some(output) = sig
        .output
        .as_ref()
        .filter(|o| lowerer.has_return && o.array.is_some())
    {
        let (dims, vec) = output.array.expect("filtered");
        let out = lowerer.new_mem(Some(sig.ident.to_string()), dims, vec, None);
        lowerer.push(ir::Stmt::MemInit(MemInit {
            mem: out,
            kind: MemInitKind::Placeholder,
            declare: true,
            ty: Some(output.ty.clone()),
            span: sig.ident.span(),
        }));
        lowerer.ret_mem = Some(out);
        if let Some(Stmt::Expr(tail, None)) = stmts.last().cloned() {
            let span = tail.span();
            *stmts.last_mut().expect("a last statement") =
                syn::parse_quote_spanned!(span=> return #tail;);
        }
    }
    let tail = lowerer.block_contents(&stmts);
    let result = match lowerer.ret_mem {
        // Every `return` wrote into the output array.
        Some(out) => Val::Mem(out, Vec::new()),
        None if lowerer.has_return => match lowerer.var(RET) {
            Val::Scalar(flag) if is_const(&flag, "true") => lowerer.var(RET_VAL),
            Val::Scalar(flag) if is_const(&flag, "false") => tail,
            Val::Scalar(flag) => {
                let ret_val = lowerer.var(RET_VAL);
                lowerer.join(flag, ret_val, tail, body.span())
            }
            _ => Val::Poison,
        },
        None => tail,
    };
    // With no usable return type, the signature's error already says what is wrong.
    lowerer.muted = sig.output.is_none();
    let output = lowerer.output(result, body);

    ir::Function {
        params,
        body: ir::Block {
            stmts: lowerer.blocks.pop().expect("the body's block"),
        },
        output,
        values: lowerer.values,
        mems: lowerer.mems,
        items: lowerer.items,
    }
}

/// What an expression evaluates to, at compile time.
#[derive(Clone)]
enum Val {
    Scalar(Operand),
    /// A tuple expression; tuples are taken apart during lowering.
    Tuple(Vec<Val>),
    /// An array, or a row of one: `m[i]` of a matrix `m` is `Mem(m, [i])`.
    Mem(Mem, Vec<Operand>),
    /// `()`, the value of a statement.
    Unit,
    /// The value of an expression that had an error, already reported.
    Poison,
}

fn poison() -> Operand {
    Operand::Const(Const {
        tokens: quote!(()),
        atomic: true,
    })
}

fn const_bool(value: bool) -> Operand {
    Operand::Const(Const {
        tokens: quote!(#value),
        atomic: true,
    })
}

/// A placeholder for a value that is never read: a variable on a path that has not assigned it.
fn dummy() -> Operand {
    Operand::Const(Const {
        tokens: quote!(::autodiff_core::__private::dummy()),
        atomic: true,
    })
}

fn is_const(operand: &Operand, text: &str) -> bool {
    matches!(operand, Operand::Const(c) if c.tokens.to_string() == text)
}

fn is_dummy(val: &Val) -> bool {
    // By tokens: `to_string` spaces them differently inside and outside the compiler.
    let Val::Scalar(Operand::Const(c)) = val else {
        return false;
    };
    let idents: Vec<String> = c
        .tokens
        .clone()
        .into_iter()
        .filter_map(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => Some(i.to_string()),
            _ => None,
        })
        .collect();
    idents == ["autodiff_core", "__private", "dummy"]
}

struct LoopCtx {
    label: Option<String>,
    /// The flag variables of this loop.
    brk: String,
    cont: String,
    /// The variable holding `break value`'s value.
    brk_val: String,
}

struct Lowerer<'a> {
    cx: &'a Ctxt,
    /// While a loop body is lowered only to see which variables it assigns.
    muted: bool,
    values: Vec<ValueData>,
    mems: Vec<MemData>,
    /// The blocks being built, innermost last.
    blocks: Vec<Vec<ir::Stmt>>,
    /// Innermost last. `None` for a variable declared without a value (`let x;`).
    scopes: Vec<BTreeMap<String, Option<Val>>>,
    items: Vec<syn::Item>,
    loops: Vec<LoopCtx>,
    n_loops: usize,
    has_return: bool,
    /// The function's own name: a call of it is recursion.
    fn_name: String,
    /// The `fn` items declared in the body.
    local_fns: Vec<String>,
    /// Whether each parameter is a shared reference.
    param_by_ref: Vec<bool>,
    /// The `let` being bound was written `let x = &place;`.
    binding_ref: bool,
    /// The output array every `return` writes into, in a function that returns an array early.
    ret_mem: Option<Mem>,
}

impl Lowerer<'_> {
    // Errors and building blocks --------------------------------------------------------------

    fn error(&self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        if !self.muted {
            self.cx.error_spanned_by(tokens, message);
        }
    }

    fn error_at(&self, span: Span, message: impl std::fmt::Display) {
        if !self.muted {
            self.cx.error_at(span, message);
        }
    }

    fn new_value(&mut self, name: Option<String>) -> Value {
        let value = Value(self.values.len() as u32);
        self.values.push(ValueData {
            name,
            aggregate: false,
            by_ref: false,
        });
        value
    }

    fn new_mem(
        &mut self,
        name: Option<String>,
        dims: usize,
        vec: bool,
        param: Option<usize>,
    ) -> Mem {
        let mem = Mem(self.mems.len() as u32);
        self.mems.push(MemData {
            name,
            dims,
            vec,
            param,
            structured: false,
            field: None,
        });
        mem
    }

    /// The memory of a struct's field: one per field path, made on first use.
    fn field_mem(&mut self, base: Mem, member: &syn::Member) -> Mem {
        let (root, mut path) = match &self.mems[base.index()].field {
            Some((root, path)) => (*root, path.clone()),
            None => (base, Vec::new()),
        };
        path.push(member.clone());
        let key = |path: &[syn::Member]| quote!(#(.#path)*).to_string();
        let wanted = key(&path);
        if let Some(existing) = self.mems.iter().position(|m| {
            m.field
                .as_ref()
                .is_some_and(|(r, p)| *r == root && key(p) == wanted)
        }) {
            return Mem(existing as u32);
        }
        let param = self.mems[root.index()].param;
        let mem = self.new_mem(None, 0, false, param);
        let data = &mut self.mems[mem.index()];
        data.structured = true;
        data.field = Some((root, path));
        mem
    }

    fn push(&mut self, stmt: ir::Stmt) {
        self.blocks.last_mut().expect("a block is open").push(stmt);
    }

    fn emit(&mut self, op: Op, args: Vec<Operand>, span: Span) -> Value {
        let result = self.new_value(None);
        self.push(ir::Stmt::Inst(Inst {
            result,
            op,
            args,
            span,
            ty: None,
        }));
        result
    }

    fn last_inst_mut(&mut self, value: Value) -> Option<&mut Inst> {
        match self.blocks.last_mut()?.last_mut() {
            Some(ir::Stmt::Inst(inst)) if inst.result == value => Some(inst),
            _ => None,
        }
    }

    fn param(&mut self, index: usize, param: &crate::signature::Param) -> ParamRef {
        let name = param.ident.to_string();
        let (dims, vec) = match param.kind {
            ParamKind::Array { dims, .. } => (dims, false),
            ParamKind::Slice { dims, .. } => (dims, true),
            ParamKind::Struct { .. } => {
                let mem = self.new_mem(Some(name.clone()), 0, false, Some(index));
                self.mems[mem.index()].structured = true;
                self.declare(&name, Some(Val::Mem(mem, Vec::new())));
                return ParamRef::Mem(mem);
            }
            ParamKind::Float | ParamKind::Other => {
                let value = self.new_value(Some(name.clone()));
                self.values[value.index()].by_ref = param.by_ref();
                self.declare(&name, Some(Val::Scalar(Operand::Value(value))));
                return ParamRef::Value(value);
            }
        };
        let mem = self.new_mem(Some(name.clone()), dims, vec, Some(index));
        let mut bound = mem;
        if param.mutable {
            // Parameters stay read-only; the body writes to its own copy.
            bound = self.new_mem(Some(name.clone()), dims, vec, None);
            self.push(ir::Stmt::MemInit(MemInit {
                mem: bound,
                kind: MemInitKind::Copy { src: mem },
                declare: true,
                ty: None,
                span: param.ident.span(),
            }));
        }
        self.declare(&name, Some(Val::Mem(bound, Vec::new())));
        ParamRef::Mem(mem)
    }

    fn output(&mut self, result: Val, body: &syn::Block) -> Output {
        let span = match body.stmts.last() {
            Some(stmt) => stmt.span(),
            None => body.brace_token.span.join(),
        };
        match result {
            Val::Scalar(operand) => Output::Operand(operand),
            Val::Poison => Output::Operand(poison()),
            Val::Tuple(parts) => Output::Tuple(
                parts
                    .into_iter()
                    .map(|part| self.output(part, body))
                    .collect(),
            ),
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured => {
                // A field of a struct returned as a number.
                Output::Operand(Operand::Value(self.emit(Op::Load(mem), prefix, span)))
            }
            Val::Mem(mem, prefix) if prefix.is_empty() => {
                if self.mems[mem.index()].param.is_some() {
                    // Returned as a fresh copy, so the output's adjoint has storage of its own.
                    let copy = self.new_mem(
                        None,
                        self.mems[mem.index()].dims,
                        self.mems[mem.index()].vec,
                        None,
                    );
                    self.push(ir::Stmt::MemInit(MemInit {
                        mem: copy,
                        kind: MemInitKind::Copy { src: mem },
                        declare: true,
                        ty: None,
                        span,
                    }));
                    return Output::Mem(copy);
                }
                Output::Mem(mem)
            }
            Val::Mem(..) => {
                self.error_at(
                    span,
                    "returning a row of an array is not supported; copy it with `.to_vec()`",
                );
                Output::Operand(poison())
            }
            Val::Unit => {
                self.error_at(span, "the body must end with the value it returns");
                Output::Operand(poison())
            }
        }
    }

    // Scopes -----------------------------------------------------------------------------------

    fn declare(&mut self, name: &str, val: Option<Val>) {
        let scope = self.scopes.last_mut().expect("a scope is always open");
        scope.insert(name.to_owned(), val);
    }

    fn lookup(&self, name: &str) -> Option<&Option<Val>> {
        self.scopes.iter().rev().find_map(|scope| scope.get(name))
    }

    /// The value of a variable the lowering itself declared.
    fn var(&self, name: &str) -> Val {
        match self.lookup(name) {
            Some(Some(val)) => val.clone(),
            _ => Val::Poison,
        }
    }

    /// Reassignment updates the variable in the scope that declared it.
    fn assign_var(&mut self, name: &str, val: Val) -> bool {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(name) {
                *slot = Some(val);
                return true;
            }
        }
        false
    }

    // Blocks and statements --------------------------------------------------------------------

    /// `{ stmts; tail }` → the tail's value, in a new scope.
    fn block(&mut self, block: &syn::Block) -> Val {
        self.scopes.push(BTreeMap::new());
        let val = self.block_contents(&block.stmts);
        self.scopes.pop();
        val
    }

    fn block_contents(&mut self, stmts: &[Stmt]) -> Val {
        for (index, stmt) in stmts.iter().enumerate() {
            let is_last = index + 1 == stmts.len();
            let val = match stmt {
                Stmt::Local(local) => {
                    self.local(local);
                    Val::Unit
                }
                Stmt::Expr(expr, semi) => {
                    let v = self.expr(expr);
                    if semi.is_none() && is_last {
                        v
                    } else {
                        Val::Unit
                    }
                }
                Stmt::Item(item) => {
                    self.item(item);
                    Val::Unit
                }
                Stmt::Macro(mac) => {
                    if !self.assertion(&mac.mac) {
                        self.macro_error(&mac.mac);
                    }
                    Val::Unit
                }
            };
            if is_last {
                return val;
            }
            // After a `break`, `continue` or `return` that may have run, the rest of the block
            // runs only if it did not.
            match self.exit_state() {
                ExitState::Running => {}
                ExitState::Exited => return Val::Scalar(dummy()),
                ExitState::Maybe(flags) => {
                    let rest = &stmts[index + 1..];
                    let cond = self.not_any(&flags, stmt.span());
                    let span = stmt.span();
                    return self.lower_if(
                        cond,
                        |l| l.block_contents(rest),
                        |_| Val::Scalar(dummy()),
                        span,
                    );
                }
            }
        }
        Val::Unit
    }

    fn item(&mut self, item: &syn::Item) {
        match item {
            syn::Item::Const(_) | syn::Item::Fn(_) | syn::Item::Use(_) | syn::Item::Static(_) => {
                if !self.muted {
                    self.items.push(item.clone())
                }
            }
            _ => self.error(
                item,
                "only `const`, `static`, `fn` and `use` items may be declared inside a differentiated function; move this item out of the function",
            ),
        }
    }

    fn local(&mut self, local: &syn::Local) {
        let Some(init) = &local.init else {
            self.declare_uninit(&local.pat);
            return;
        };
        if let Some((else_token, _)) = &init.diverge {
            self.error(
                else_token,
                "`let ... else` is not supported; bind the value with a plain `let` and `match` on it",
            );
            return;
        }
        let val = self.expr(&init.expr);
        self.binding_ref = matches!(&*init.expr, Expr::Reference(_));
        self.bind(&local.pat, val, None);
        self.binding_ref = false;
    }

    fn declare_uninit(&mut self, pat: &Pat) {
        match pat {
            Pat::Ident(pat_ident) => self.declare(&pat_ident.ident.to_string(), None),
            Pat::Type(pat_type) => {
                if let Pat::Ident(pat_ident) = &*pat_type.pat {
                    // Kept for the constants assigned later (`v = 0.5;`), which need a type.
                    let ty = &pat_type.ty;
                    let ty = Val::Scalar(Operand::Const(Const {
                        tokens: quote!(#ty),
                        atomic: true,
                    }));
                    self.declare(&format!("#type {}", pat_ident.ident), Some(ty));
                }
                self.declare_uninit(&pat_type.pat)
            }
            Pat::Tuple(tuple) => tuple.elems.iter().for_each(|p| self.declare_uninit(p)),
            _ => self.unsupported_pattern(pat),
        }
    }

    /// `let PAT: TY = val;`
    fn bind(&mut self, pat: &Pat, val: Val, ty: Option<&syn::Type>) {
        match pat {
            Pat::Ident(pat_ident) => {
                if let Some(by_ref) = &pat_ident.by_ref {
                    self.error(
                        by_ref,
                        "`ref` bindings are not supported; bind the value itself",
                    );
                }
                if let Some((at, _)) = &pat_ident.subpat {
                    self.error(at, "`@` patterns are not supported");
                }
                let name = pat_ident.ident.to_string();
                let val = match val {
                    // `let b = p.bias;` reads a number from a struct; `let w = &p.w;` names
                    // its field.
                    Val::Mem(mem, prefix) if self.mems[mem.index()].structured => {
                        // `let q = p;` names the whole struct.
                        let whole = prefix.is_empty() && self.mems[mem.index()].field.is_none();
                        if self.binding_ref || whole {
                            Val::Mem(mem, prefix)
                        } else {
                            let value = self.emit(Op::Load(mem), prefix, pat_ident.span());
                            self.name_value(
                                &name,
                                Val::Scalar(Operand::Value(value)),
                                ty,
                                pat_ident.span(),
                            )
                        }
                    }
                    Val::Mem(mem, prefix) => self.bind_mem(mem, prefix, &name, ty, pat_ident),
                    val => self.name_value(&name, val, ty, pat_ident.span()),
                };
                self.declare(&name, Some(val));
            }
            Pat::Type(pat_type) => self.bind(&pat_type.pat, val, Some(&pat_type.ty)),
            Pat::Paren(paren) => self.bind(&paren.pat, val, ty),
            Pat::Wild(_) => {}
            Pat::Tuple(tuple) => {
                let elem_types: Option<Vec<&syn::Type>> = match ty {
                    Some(syn::Type::Tuple(t)) if t.elems.len() == tuple.elems.len() => {
                        Some(t.elems.iter().collect())
                    }
                    _ => None,
                };
                if tuple.elems.iter().any(|p| matches!(p, Pat::Rest(_))) {
                    self.error(
                        pat,
                        "`..` in tuple patterns is not supported; name every element",
                    );
                    return;
                }
                let Some(parts) = self.tuple_parts(val, tuple.elems.len(), pat) else {
                    for elem in &tuple.elems {
                        self.bind(elem, Val::Poison, None);
                    }
                    return;
                };
                for (index, (elem, part)) in tuple.elems.iter().zip(parts).enumerate() {
                    self.bind(elem, part, elem_types.as_ref().map(|t| t[index]));
                }
            }
            _ => self.unsupported_pattern(pat),
        }
    }

    /// `let a = <array>;`: a new array takes the name; a local array is copied, as Rust copies
    /// arrays (a `Vec` moves, so it is the same memory); a parameter is read-only, so it is
    /// the same memory unless the binding is `mut`.
    fn bind_mem(
        &mut self,
        mem: Mem,
        prefix: Vec<Operand>,
        name: &str,
        ty: Option<&syn::Type>,
        pat: &syn::PatIdent,
    ) -> Val {
        let data = &self.mems[mem.index()];
        let fresh = data.name.is_none() && data.param.is_none() && prefix.is_empty();
        let mutable = pat.mutability.is_some();
        if fresh {
            self.mems[mem.index()].name = Some(name.to_owned());
            if let Some(ir::Stmt::MemInit(init)) = self.blocks.last_mut().and_then(|b| b.last_mut())
            {
                if init.mem == mem {
                    init.ty = ty.cloned();
                }
            }
            return Val::Mem(mem, prefix);
        }
        let alias = match data.param {
            Some(_) => !mutable,
            None => data.vec,
        };
        if alias {
            return Val::Mem(mem, prefix);
        }
        self.copy_mem(mem, &prefix, Some(name.to_owned()), pat.span())
    }

    fn copy_mem(&mut self, src: Mem, prefix: &[Operand], name: Option<String>, span: Span) -> Val {
        if !prefix.is_empty() {
            self.error_at(
                span,
                "copying a row of an array is not supported; copy the whole array, or index it",
            );
            return Val::Poison;
        }
        let data = &self.mems[src.index()];
        let mem = self.new_mem(name, data.dims, data.vec, None);
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::Copy { src },
            declare: true,
            ty: None,
            span,
        }));
        Val::Mem(mem, Vec::new())
    }

    /// The elements of a tuple value: a tuple expression's parts, or projections of a value.
    fn tuple_parts(&mut self, val: Val, len: usize, at: &impl ToTokens) -> Option<Vec<Val>> {
        match val {
            Val::Tuple(parts) if parts.len() == len => Some(parts),
            Val::Scalar(Operand::Value(value)) => {
                self.values[value.index()].aggregate = true;
                let span = at.to_token_stream().span();
                Some(
                    (0..len)
                        .map(|index| {
                            let field = self.emit(
                                Op::Field(index as u32),
                                vec![Operand::Value(value)],
                                span,
                            );
                            Val::Scalar(Operand::Value(field))
                        })
                        .collect(),
                )
            }
            Val::Scalar(_) if is_dummy(&val) => Some(vec![Val::Scalar(dummy()); len]),
            Val::Poison => None,
            _ => {
                self.error(at, format!("expected a tuple of {len} elements here"));
                None
            }
        }
    }

    /// Gives `val` the user's name and type annotation: the instruction that just computed it
    /// takes both; otherwise a copy is made when there is an annotation to keep.
    fn name_value(&mut self, name: &str, val: Val, ty: Option<&syn::Type>, span: Span) -> Val {
        let operand = match val {
            Val::Scalar(operand) => operand,
            // `let t: (f64, f64) = (0.7, x);`: each element keeps its annotation.
            Val::Tuple(parts) => {
                let types: Vec<Option<&syn::Type>> = match ty.map(strip_type_parens) {
                    Some(syn::Type::Tuple(t)) if t.elems.len() == parts.len() => {
                        t.elems.iter().map(Some).collect()
                    }
                    _ => vec![None; parts.len()],
                };
                let parts = parts
                    .into_iter()
                    .zip(types)
                    .enumerate()
                    .map(|(k, (part, ty))| self.name_value(&format!("{name}_{k}"), part, ty, span))
                    .collect();
                return Val::Tuple(parts);
            }
            val => return val,
        };
        if let Operand::Value(value) = &operand {
            let value = *value;
            if self.values[value.index()].name.is_none() {
                if let Some(inst) = self.last_inst_mut(value) {
                    if inst.ty.is_none() {
                        inst.ty = ty.cloned();
                    }
                    self.values[value.index()].name = Some(name.to_owned());
                    return Val::Scalar(operand);
                }
            }
            if ty.is_none() {
                // An alias: `let y = x;` reads the same value.
                return Val::Scalar(operand);
            }
        }
        // A constant, or an annotated alias whose annotation may drive inference.
        let copy = self.emit(Op::Copy, vec![operand], span);
        self.values[copy.index()].name = Some(name.to_owned());
        if let Some(inst) = self.last_inst_mut(copy) {
            inst.ty = ty.cloned();
        }
        Val::Scalar(Operand::Value(copy))
    }

    /// `name = 0.2;`: a float literal alone has no type, and a method called on it later
    /// (`name.cos()`) would not compile. It takes the type of the variable's current value
    /// (`cast_like`), or of its declaration (`let v: f64;`).
    fn typed_const(&mut self, name: &str, current: Option<Val>, c: Const, span: Span) -> Val {
        if let Some(Val::Scalar(Operand::Value(like))) = current {
            let hole = Opaque::hole(0);
            let tokens = c.parenthesized();
            let expr = quote!(::autodiff_core::__private::cast_like(#tokens, #hole));
            let value = self.emit(
                Op::Opaque(Opaque::cut(expr)),
                vec![Operand::Value(like)],
                span,
            );
            return self.name_value(name, Val::Scalar(Operand::Value(value)), None, span);
        }
        let declared = match self.lookup(&format!("#type {name}")) {
            Some(Some(Val::Scalar(Operand::Const(ty)))) => {
                syn::parse2::<syn::Type>(ty.tokens.clone()).ok()
            }
            _ => None,
        };
        self.name_value(
            name,
            Val::Scalar(Operand::Const(c)),
            declared.as_ref(),
            span,
        )
    }

    fn unsupported_pattern(&self, pat: &Pat) {
        self.error(
            pat,
            "this pattern is not supported here; bind a name, a tuple of names, or `_`",
        );
    }

    // Expressions ------------------------------------------------------------------------------

    fn expr(&mut self, expr: &Expr) -> Val {
        match expr {
            Expr::Lit(lit) => Val::Scalar(Operand::Const(Const {
                tokens: lit.to_token_stream(),
                atomic: true,
            })),
            Expr::Path(path) => self.path(path),
            Expr::Paren(paren) => self.expr(&paren.expr),
            Expr::Group(group) => self.expr(&group.expr),
            Expr::Binary(binary) => self.binary(binary),
            Expr::Unary(unary) => self.unary(unary),
            Expr::MethodCall(call) => self.method_call(call),
            Expr::Call(call) => self.call(call),
            Expr::Cast(cast) => self.cast(cast),
            Expr::Tuple(tuple) => {
                let parts: Vec<Val> = tuple.elems.iter().map(|e| self.expr(e)).collect();
                if parts.is_empty() {
                    Val::Unit
                } else {
                    Val::Tuple(parts)
                }
            }
            Expr::Block(block) => {
                if let Some(label) = &block.label {
                    self.error(
                        label,
                        "labelled blocks are not supported; use a labelled `loop` that ends with `break`",
                    );
                    return Val::Poison;
                }
                self.block(&block.block)
            }
            Expr::Assign(assign) => {
                self.assign_expr(&assign.left, &assign.right);
                Val::Unit
            }
            Expr::Return(ret) => {
                let val = match &ret.expr {
                    Some(e) => self.expr(e),
                    None => Val::Unit,
                };
                match (self.ret_mem, val) {
                    (Some(out), Val::Mem(src, prefix)) if prefix.is_empty() => {
                        self.push(ir::Stmt::MemInit(MemInit {
                            mem: out,
                            kind: MemInitKind::Copy { src },
                            declare: false,
                            ty: None,
                            span: ret.return_token.span,
                        }));
                    }
                    (Some(out), Val::Scalar(Operand::Value(value))) => {
                        self.values[value.index()].aggregate = true;
                        self.push(ir::Stmt::MemInit(MemInit {
                            mem: out,
                            kind: MemInitKind::FromValue(value),
                            declare: false,
                            ty: None,
                            span: ret.return_token.span,
                        }));
                    }
                    (_, val) => {
                        self.assign_var(RET_VAL, val);
                    }
                }
                self.assign_var(RET, Val::Scalar(const_bool(true)));
                Val::Unit
            }
            Expr::Field(field) => self.field(field),
            Expr::If(if_) => self.if_expr(if_),
            Expr::Match(match_) => self.match_expr(match_),
            Expr::ForLoop(for_) => self.for_loop(for_),
            Expr::While(while_) => self.while_loop(while_),
            Expr::Loop(loop_) => self.forever_loop(loop_),
            Expr::Break(brk) => self.break_expr(brk),
            Expr::Continue(cont) => self.continue_expr(cont),
            Expr::Index(index) => self.index(index),
            Expr::Repeat(repeat) => self.repeat(&repeat.expr, &repeat.len, false, expr.span()),
            Expr::Array(array) => self.list(array.elems.iter(), false, expr.span()),
            Expr::Reference(reference) if reference.mutability.is_none() => {
                match self.expr(&reference.expr) {
                    mem @ Val::Mem(..) => mem,
                    Val::Poison => Val::Poison,
                    _ => self.opaque_with(
                        expr,
                        false,
                        "references to numbers cannot be differentiated; use the value itself"
                            .to_owned(),
                    ),
                }
            }
            Expr::Macro(mac) if mac.mac.path.is_ident("vec") => self.vec_macro(&mac.mac),
            Expr::Macro(mac) => {
                self.macro_error(&mac.mac);
                Val::Poison
            }
            _ => {
                self.error(expr, unsupported_message(expr));
                Val::Poison
            }
        }
    }

    fn operand(&mut self, expr: &Expr) -> Operand {
        match self.expr(expr) {
            Val::Scalar(operand) => operand,
            Val::Poison => poison(),
            Val::Tuple(_) => {
                self.error(expr, "expected a number here, found a tuple");
                poison()
            }
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured => {
                // A field of a struct (`p.bias`, `p.w[i]`) used as a number: a load.
                Operand::Value(self.emit(Op::Load(mem), prefix, expr.span()))
            }
            Val::Mem(..) => {
                self.error(expr, "expected a number here, found an array; index it");
                poison()
            }
            Val::Unit => {
                self.error(expr, "expected a number here, found `()`");
                poison()
            }
        }
    }

    fn path(&mut self, path: &syn::ExprPath) -> Val {
        if let Some(ident) = local_name(path) {
            match self.lookup(&ident.to_string()) {
                Some(Some(val)) => return val.clone(),
                Some(None) => {
                    self.error(
                        path,
                        format!("`{ident}` is used before it is given a value"),
                    );
                    return Val::Poison;
                }
                None => {}
            }
        }
        // A constant, a unit struct or a function item: not a variable of this function.
        Val::Scalar(Operand::Const(Const {
            tokens: path.to_token_stream(),
            atomic: true,
        }))
    }

    fn binary(&mut self, binary: &syn::ExprBinary) -> Val {
        let span = binary.op.span();
        if let Some(name) = arithmetic_rule(&binary.op) {
            let a = self.operand(&binary.left);
            let b = self.operand(&binary.right);
            return Val::Scalar(self.arithmetic(name, binary.op, a, b, span));
        }
        if let Some(op) = compound_op(&binary.op) {
            // `x += e` → `x_1 = add(x, e)`; the right side is evaluated first, as rustc does for
            // primitive types.
            let b = self.operand(&binary.right);
            let a = self.operand(&binary.left);
            let name = arithmetic_rule(&op).expect("compound operators are arithmetic");
            let result = self.arithmetic(name, op, a, b, span);
            self.assign(&binary.left, Val::Scalar(result));
            return Val::Unit;
        }
        if let Some(op) = bit_op_of_assign(&binary.op) {
            // Integer bit operations: the new value is an opaque expression of the old one.
            let (left, right) = (&binary.left, &binary.right);
            let expr: Expr = syn::parse_quote_spanned!(span=> (#left) #op (#right));
            let val = self.opaque(&expr, true, "bit operation");
            self.assign(&binary.left, val);
            return Val::Unit;
        }
        // Comparisons, `&&`, `||` and bit operations give a bool or an integer: evaluated as
        // written (keeping short-circuiting), never differentiated.
        self.opaque(&Expr::Binary(binary.clone()), true, "comparison")
    }

    fn arithmetic(&mut self, name: &str, op: BinOp, a: Operand, b: Operand, span: Span) -> Operand {
        if let (Operand::Const(a), Operand::Const(b)) = (&a, &b) {
            let (a, b) = (a.parenthesized(), b.parenthesized());
            return Operand::Const(Const {
                tokens: quote!(#a #op #b),
                atomic: false,
            });
        }
        let rule = rules::lookup(name, 2).expect("arithmetic rules are in the table");
        Operand::Value(self.emit(
            Op::Rule {
                rule,
                form: Form::Binary(op),
            },
            vec![a, b],
            span,
        ))
    }

    fn unary(&mut self, unary: &syn::ExprUnary) -> Val {
        match unary.op {
            UnOp::Neg(_) => {
                let a = self.operand(&unary.expr);
                if let Operand::Const(c) = &a {
                    let c = c.parenthesized();
                    return Val::Scalar(Operand::Const(Const {
                        tokens: quote!(-#c),
                        atomic: false,
                    }));
                }
                let rule = rules::lookup("neg", 1).expect("neg is in the table");
                let value = self.emit(
                    Op::Rule {
                        rule,
                        form: Form::Neg,
                    },
                    vec![a],
                    unary.op.span(),
                );
                Val::Scalar(Operand::Value(value))
            }
            UnOp::Not(_) => self.opaque(&Expr::Unary(unary.clone()), true, "`!`"),
            _ => {
                // `*v` of an element bound by `for v in x.iter()`: the element itself.
                if let Expr::Path(path) = &*unary.expr {
                    if let Some(ident) = local_name(path) {
                        if self.lookup(&format!("#elem {ident}")).is_some() {
                            return self.path(path);
                        }
                    }
                }
                self.opaque(&Expr::Unary(unary.clone()), false, "dereference `*`")
            }
        }
    }

    fn method_call(&mut self, call: &syn::ExprMethodCall) -> Val {
        let name = call.method.to_string();
        if call.turbofish.is_none() {
            if let Some(rule) = rules::lookup(&name, call.args.len() + 1) {
                let mut args = vec![self.operand(&call.receiver)];
                args.extend(call.args.iter().map(|arg| self.operand(arg)));
                let form = Form::Method(call.method.clone());
                let value = self.emit(Op::Rule { rule, form }, args, call.method.span());
                return Val::Scalar(Operand::Value(value));
            }
        }
        // `x.iter().sum()` and `.product()`: the loop they stand for.
        if let (Some(op), Expr::MethodCall(inner)) =
            (reduction(&name), strip_parens(&call.receiver))
        {
            if call.args.is_empty() && inner.method == "iter" && inner.args.is_empty() {
                let (start, items) = (op.0, &inner.receiver);
                let acc = syn::Ident::new("__autodiff_reduction", Span::mixed_site());
                let op = op.1;
                let block: Expr = syn::parse_quote!({
                    let mut #acc = #start;
                    for __autodiff_item in #items.iter() {
                        #acc #op *__autodiff_item;
                    }
                    #acc
                });
                return self.expr(&block);
            }
        }
        let expr = Expr::MethodCall(call.clone());
        // `x.len()` of an array: its own instruction, which the backward sweep can recompute.
        if name == "len" && call.args.is_empty() && is_place(&call.receiver) {
            if let Val::Mem(mem, prefix) = self.expr(&call.receiver) {
                if !self.mems[mem.index()].structured {
                    let value = self.emit(Op::Len(mem), prefix, call.method.span());
                    return Val::Scalar(Operand::Value(value));
                }
            }
        }
        if CUT_METHODS.contains(&name.as_str()) {
            return self.opaque(&expr, true, &format!("method `{name}`"));
        }
        if is_place(&call.receiver) {
            if let Val::Mem(mem, prefix) = self.expr(&call.receiver) {
                // Copies of an array.
                if call.args.is_empty() && matches!(name.as_str(), "to_vec" | "clone" | "to_owned")
                {
                    if self.mems[mem.index()].structured {
                        self.error(
                            &call.method,
                            "copying a struct is not supported in differentiated code; use the struct itself (pass `&p` to functions that take a reference)",
                        );
                        return Val::Poison;
                    }
                    return self.copy_mem(mem, &prefix, None, call.method.span());
                }
                // A method of a struct: differentiated through its pullback.
                if self.mems[mem.index()].structured && !SLICE_METHODS.contains(&name.as_str()) {
                    let (mut args, mut written_ref, mut by_ref) = self.call_args(call.args.iter());
                    args.insert(0, Operand::Mem(mem, prefix));
                    written_ref.insert(0, false);
                    by_ref.insert(0, true);
                    let op = Op::Call {
                        callee: Callee::Method(call.method.clone()),
                        written_ref,
                        by_ref,
                    };
                    return self.call_result(op, args, call.method.span());
                }
            }
        }
        let what = if rules::is_known(&name) {
            format!("method `{name}` with {} arguments", call.args.len())
        } else {
            format!("method `{name}`")
        };
        self.opaque(&expr, false, &what)
    }

    fn call(&mut self, call: &syn::ExprCall) -> Val {
        let Expr::Path(func) = &*call.func else {
            return self.opaque(
                &Expr::Call(call.clone()),
                false,
                "call of a closure or function value",
            );
        };
        if is_no_grad(func) {
            if call.args.len() != 1 {
                self.error(call, "`no_grad` takes one argument");
                return Val::Poison;
            }
            return self.opaque(&Expr::Call(call.clone()), true, "no_grad");
        }
        if let Some(method) = float_method_path(func) {
            let name = method.to_string();
            if let Some(rule) = rules::lookup(&name, call.args.len()) {
                let args = call.args.iter().map(|arg| self.operand(arg)).collect();
                let value = self.emit(
                    Op::Rule {
                        rule,
                        form: Form::Path(func.clone()),
                    },
                    args,
                    method.span(),
                );
                return Val::Scalar(Operand::Value(value));
            }
            let path = func.to_token_stream().to_string().replace(' ', "");
            return self.opaque(&Expr::Call(call.clone()), false, &format!("`{path}`"));
        }
        if let Some(name) = local_name(func).map(ToString::to_string) {
            let call_expr = Expr::Call(call.clone());
            if name == self.fn_name {
                self.error(
                    func,
                    "recursive functions cannot be differentiated; write the recursion as a loop",
                );
                return Val::Poison;
            }
            if self.lookup(&name).is_some() {
                let error = format!(
                    "`{name}` is a local variable, and calling a closure or function value cannot be differentiated; call a `#[differentiate]` function by its name"
                );
                return self.opaque_with(&call_expr, false, error);
            }
            if self.local_fns.contains(&name) {
                let error = format!(
                    "`{name}` is declared inside this function, so it cannot be differentiated; move it out of the function and put `#[differentiate]` on it"
                );
                return self.opaque_with(&call_expr, false, error);
            }
        }
        let (args, written_ref, by_ref) = self.call_args(call.args.iter());
        let callee = Callee::Path(func.clone());
        let op = Op::Call {
            callee,
            written_ref,
            by_ref,
        };
        self.call_result(op, args, func.span())
    }

    /// A call's value, which may be a tuple, an array or a `Vec` the macro cannot see: its
    /// adjoint starts as a zero shaped like it.
    fn call_result(&mut self, op: Op, args: Vec<Operand>, span: Span) -> Val {
        let value = self.emit(op, args, span);
        self.values[value.index()].aggregate = true;
        Val::Scalar(Operand::Value(value))
    }

    /// The arguments of a call, with which were written `&arg` and which the callee receives
    /// as references: the caller's own reference parameters as they are, a local array as a
    /// snapshot (the callee's pullback takes them again).
    fn call_args<'e>(
        &mut self,
        call_args: impl Iterator<Item = &'e Expr>,
    ) -> (Vec<Operand>, Vec<bool>, Vec<bool>) {
        let mut args = Vec::new();
        let mut by_ref = Vec::new();
        let mut written_ref = Vec::new();
        for arg in call_args {
            let (arg, is_ref) = match arg {
                Expr::Reference(r) if r.mutability.is_none() => (&*r.expr, true),
                arg => (arg, false),
            };
            let written = is_ref;
            let val = self.expr(arg);
            let is_ref = is_ref
                || match &val {
                    Val::Scalar(Operand::Value(v)) => self.values[v.index()].by_ref,
                    // A row written `*row` or `m[i]` is an array passed by value.
                    Val::Mem(_, prefix)
                        if !prefix.is_empty()
                            && matches!(
                                strip_parens(arg),
                                Expr::Index(_)
                                    | Expr::Unary(syn::ExprUnary {
                                        op: syn::UnOp::Deref(_),
                                        ..
                                    })
                            ) =>
                    {
                        false
                    }
                    Val::Mem(mem, _) => {
                        self.mems[mem.index()].field.is_none()
                            && self.mems[mem.index()]
                                .param
                                .is_some_and(|p| self.param_by_ref[p])
                    }
                    _ => false,
                };
            by_ref.push(is_ref);
            // A row bound by reference (`row` of `m.iter()`) is written `&m[i]` in the call.
            written_ref
                .push(written || (is_ref && matches!(&val, Val::Mem(_, p) if !p.is_empty())));
            args.push(match val {
                Val::Scalar(operand) => operand,
                Val::Mem(mem, prefix) if is_ref && self.mems[mem.index()].param.is_none() => {
                    let snapshot = self.emit(Op::Snapshot(mem), prefix, arg.span());
                    self.values[snapshot.index()].aggregate = true;
                    Operand::Value(snapshot)
                }
                Val::Mem(mem, prefix) => Operand::Mem(mem, prefix),
                Val::Poison => poison(),
                Val::Tuple(_) | Val::Unit => {
                    self.error(
                        arg,
                        "tuple arguments are not supported; pass the elements separately",
                    );
                    poison()
                }
            });
        }
        (args, written_ref, by_ref)
    }

    fn cast(&mut self, cast: &syn::ExprCast) -> Val {
        if !float_cast_target(&cast.ty) {
            return self.opaque(&Expr::Cast(cast.clone()), true, "cast");
        }
        let a = self.operand(&cast.expr);
        if let Operand::Const(c) = &a {
            let c = c.parenthesized();
            let ty = &cast.ty;
            return Val::Scalar(Operand::Const(Const {
                tokens: quote!(#c as #ty),
                atomic: false,
            }));
        }
        let rule = rules::lookup("cast", 1).expect("cast is in the table");
        let form = Form::Cast((*cast.ty).clone());
        let value = self.emit(Op::Rule { rule, form }, vec![a], cast.as_token.span());
        Val::Scalar(Operand::Value(value))
    }

    fn field(&mut self, field: &syn::ExprField) -> Val {
        let base = self.expr(&field.base);
        match (&field.member, base) {
            (syn::Member::Unnamed(index), Val::Tuple(parts)) => {
                match parts.get(index.index as usize) {
                    Some(part) => part.clone(),
                    None => {
                        self.error(field, "no such tuple element");
                        Val::Poison
                    }
                }
            }
            (syn::Member::Unnamed(index), Val::Scalar(Operand::Value(value))) => {
                self.values[value.index()].aggregate = true;
                let result = self.emit(
                    Op::Field(index.index),
                    vec![Operand::Value(value)],
                    index.span,
                );
                Val::Scalar(Operand::Value(result))
            }
            (_, Val::Poison) => Val::Poison,
            (member, Val::Mem(mem, prefix)) if self.mems[mem.index()].structured => {
                if !prefix.is_empty() {
                    self.error(
                        field,
                        "fields of array elements are not supported; give the struct one field per array",
                    );
                    return Val::Poison;
                }
                Val::Mem(self.field_mem(mem, member), Vec::new())
            }
            (syn::Member::Named(name), _) => {
                let what = format!("field access `.{name}`");
                self.opaque(&Expr::Field(field.clone()), false, &what)
            }
            _ => self.opaque(&Expr::Field(field.clone()), false, "field access"),
        }
    }

    /// `a[i]`: an element of an array (a load), a row of a matrix, or an element of an array
    /// value returned by a call.
    fn index(&mut self, index: &syn::ExprIndex) -> Val {
        if matches!(&*index.index, Expr::Range(_)) {
            self.error(index, "slicing with a range is not supported; index the elements, or pass the whole array");
            return Val::Poison;
        }
        let base = self.expr(&index.expr);
        let i = self.operand(&index.index);
        match base {
            Val::Mem(mem, mut prefix) => {
                prefix.push(i);
                if prefix.len() < self.mems[mem.index()].dims || self.mems[mem.index()].structured {
                    return Val::Mem(mem, prefix);
                }
                let value = self.emit(Op::Load(mem), prefix, index.bracket_token.span.join());
                Val::Scalar(Operand::Value(value))
            }
            Val::Scalar(Operand::Value(value)) => {
                self.values[value.index()].aggregate = true;
                let result = self.emit(
                    Op::Index,
                    vec![Operand::Value(value), i],
                    index.bracket_token.span.join(),
                );
                Val::Scalar(Operand::Value(result))
            }
            Val::Poison => Val::Poison,
            _ => self.opaque(&Expr::Index(index.clone()), false, "indexing"),
        }
    }

    /// `[elem; len]` (and `vec![elem; len]` with `vec`).
    fn repeat(&mut self, elem: &Expr, len: &Expr, vec: bool, span: Span) -> Val {
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
            ty: None,
            span,
        }));
        Val::Mem(mem, Vec::new())
    }

    /// Takes back the initialization of a just-built inner array, to fold it into its parent.
    fn take_repeat(&mut self, inner: Mem) -> Option<(Operand, Vec<Operand>)> {
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
    fn list<'e>(&mut self, elems: impl Iterator<Item = &'e Expr>, vec: bool, span: Span) -> Val {
        let elems: Vec<Operand> = elems.map(|e| self.operand(e)).collect();
        let mem = self.new_mem(None, 1, vec, None);
        self.push(ir::Stmt::MemInit(MemInit {
            mem,
            kind: MemInitKind::List { elems },
            declare: true,
            ty: None,
            span,
        }));
        Val::Mem(mem, Vec::new())
    }

    fn vec_macro(&mut self, mac: &syn::Macro) -> Val {
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

    /// `x = e`, `a[i] = e`, `(a, b) = e`.
    fn assign_expr(&mut self, place: &Expr, value: &Expr) {
        let val = self.expr(value);
        self.assign(place, val);
    }

    fn assign(&mut self, place: &Expr, val: Val) {
        match place {
            Expr::Path(path) => {
                let Some(ident) = local_name(path) else {
                    self.error(place, "only local variables can be assigned to");
                    return;
                };
                let name = ident.to_string();
                match (self.lookup(&name), val) {
                    (None, _) => self.error(place, format!("`{name}` is not a local variable of this function")),
                    // `a = b` for arrays copies the contents into `a`.
                    (Some(Some(Val::Mem(dst, prefix))), Val::Mem(src, src_prefix)) => {
                        let (dst, prefix) = (*dst, prefix.clone());
                        if !prefix.is_empty() || !src_prefix.is_empty() {
                            self.error(place, "assigning rows of arrays is not supported; assign the elements");
                            return;
                        }
                        self.push(ir::Stmt::MemInit(MemInit {
                            mem: dst,
                            kind: MemInitKind::Copy { src },
                            declare: false,
                            ty: None,
                            span: place.span(),
                        }));
                    }
                    // `v = f(v, x)` for an array `v`: the call's result is written into `v`.
                    (Some(Some(Val::Mem(dst, prefix))), Val::Scalar(Operand::Value(value))) if prefix.is_empty() => {
                        let dst = *dst;
                        self.values[value.index()].aggregate = true;
                        self.push(ir::Stmt::MemInit(MemInit {
                            mem: dst,
                            kind: MemInitKind::FromValue(value),
                            declare: false,
                            ty: None,
                            span: place.span(),
                        }));
                    }
                    // `u = p.w[1];` for a number `u` (or one declared by `let u;`) reads it.
                    (Some(None | Some(Val::Scalar(_))), Val::Mem(mem, prefix))
                        if self.mems[mem.index()].structured =>
                    {
                        let value = self.emit(Op::Load(mem), prefix, place.span());
                        let val = self.name_value(&name, Val::Scalar(Operand::Value(value)), None, place.span());
                        self.assign_var(&name, val);
                    }
                    (Some(current), Val::Scalar(Operand::Const(c))) if untyped_float(&c.tokens) => {
                        let val = self.typed_const(&name, current.clone(), c, place.span());
                        self.assign_var(&name, val);
                    }
                    (_, val) => {
                        let val = self.name_value(&name, val, None, place.span());
                        self.assign_var(&name, val);
                    }
                }
            }
            Expr::Index(_) => self.store(place, val),
            Expr::Tuple(tuple) => {
                if let Some(parts) = self.tuple_parts(val, tuple.elems.len(), place) {
                    for (elem, part) in tuple.elems.iter().zip(parts) {
                        self.assign(elem, part);
                    }
                }
            }
            Expr::Infer(_) => {}
            Expr::Paren(paren) => self.assign(&paren.expr, val),
            Expr::Unary(unary) if matches!(unary.op, UnOp::Deref(_)) => self.error(
                place,
                "assignment through a reference is not supported; assign to a local variable",
            ),
            _ => self.error(place, "assignment to this place is not supported; assign to a local variable or an array element"),
        }
    }

    /// `a[i][j] = val`.
    fn store(&mut self, place: &Expr, val: Val) {
        let Expr::Index(index) = place else {
            unreachable!("called with an index expression")
        };
        let base = self.expr(&index.expr);
        let i = self.operand(&index.index);
        let value = match val {
            Val::Scalar(value) => value,
            Val::Poison => return,
            _ => {
                self.error(place, "only numbers can be stored in array elements");
                return;
            }
        };
        match base {
            Val::Mem(mem, mut indices) => {
                indices.push(i);
                if indices.len() != self.mems[mem.index()].dims {
                    self.error(place, "assign to an element, with one index per dimension");
                    return;
                }
                if let Some(param) = self.mems[mem.index()].param {
                    let _ = param;
                    self.error(
                        place,
                        "this array is a parameter, which the function may not modify; declare the parameter `mut` to work on a copy, or copy it with `let mut a = x.to_vec();`",
                    );
                    return;
                }
                self.push(ir::Stmt::Store(Store {
                    mem,
                    indices,
                    value,
                    span: place.span(),
                }));
            }
            Val::Poison => {}
            _ => self.error(
                place,
                "only elements of local arrays and vectors can be assigned to",
            ),
        }
    }

    /// `assert!`, `assert_eq!`, `assert_ne!` and their `debug_` forms, as statements: checks that
    /// have no derivative, kept as written in the forward sweep with each variable replaced by a
    /// hole. Returns whether `mac` is one of them.
    fn assertion(&mut self, mac: &syn::Macro) -> bool {
        const ASSERTIONS: &[&str] = &[
            "assert",
            "assert_eq",
            "assert_ne",
            "debug_assert",
            "debug_assert_eq",
            "debug_assert_ne",
        ];
        let Some(last) = mac.path.segments.last() else {
            return false;
        };
        if !ASSERTIONS.iter().any(|name| last.ident == name) {
            return false;
        }
        let Ok(args) = mac.parse_body_with(Punctuated::<Expr, Token![,]>::parse_terminated) else {
            return false;
        };
        let mut holes = Holes {
            lowerer: self,
            args: Vec::new(),
            failed: false,
        };
        let mut exprs: Vec<Expr> = args.into_iter().collect();
        for expr in &mut exprs {
            holes.visit_expr_mut(expr);
        }
        let Holes { args, failed, .. } = holes;
        if !failed {
            let path = &mac.path;
            let expr = quote!(#path!(#(#exprs),*));
            self.emit(Op::Opaque(Opaque::cut(expr)), args, mac.span());
        }
        true
    }

    fn macro_error(&self, mac: &syn::Macro) {
        let name = mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        let message = if matches!(name.as_str(), "asm" | "global_asm" | "naked_asm") {
            "inline assembly cannot be differentiated; move it into a function without `#[differentiate]`".to_owned()
        } else {
            format!(
                "macro calls such as `{name}!` cannot be differentiated, because the macro cannot see what they expand to; write the expression out, or move the call into a function without `#[differentiate]`"
            )
        };
        self.error(mac, message);
    }

    /// Keeps `expr` as written, with each variable replaced by a hole. `cut`: see [`Opaque`];
    /// `what` names the construct in the error if it is not cut and meets an active value.
    fn opaque(&mut self, expr: &Expr, cut: bool, what: &str) -> Val {
        let error = format!(
            "{what} has no derivative rule, and here it is applied to a value that depends on a differentiated parameter; use an operation that has a rule, or wrap the value in `no_grad(..)` to treat it as a constant"
        );
        self.opaque_with(expr, cut, error)
    }

    fn opaque_with(&mut self, expr: &Expr, cut: bool, error: String) -> Val {
        let at = expr.to_token_stream();
        let mut expr = expr.clone();
        let mut holes = Holes {
            lowerer: self,
            args: Vec::new(),
            failed: false,
        };
        holes.visit_expr_mut(&mut expr);
        let Holes { args, failed, .. } = holes;
        if failed {
            return Val::Poison;
        }
        let span = expr.span();
        let op = Op::Opaque(Opaque {
            expr: expr.to_token_stream(),
            cut,
            error,
            at,
        });
        Val::Scalar(Operand::Value(self.emit(op, args, span)))
    }

    /// A bool built from operands: `!(a || b)`.
    fn not_any(&mut self, flags: &[Operand], span: Span) -> Operand {
        let holes: Vec<TokenStream> = (0..flags.len()).map(Opaque::hole).collect();
        let expr = quote!(!(#(#holes)||*));
        let op = Op::Opaque(Opaque::cut(expr));
        Operand::Value(self.emit(op, flags.to_vec(), span))
    }

    fn any(&mut self, flags: &[Operand], span: Span) -> Operand {
        if let [flag] = flags {
            return flag.clone();
        }
        let holes: Vec<TokenStream> = (0..flags.len()).map(Opaque::hole).collect();
        let expr = quote!(#(#holes)||*);
        let op = Op::Opaque(Opaque::cut(expr));
        Operand::Value(self.emit(op, flags.to_vec(), span))
    }

    // Control flow -----------------------------------------------------------------------------

    /// The flags that end the current block early, with their current values.
    fn exit_flags(&self, loops: &[LoopCtx]) -> Vec<Operand> {
        let mut names: Vec<&str> = Vec::new();
        if self.has_return {
            names.push(RET);
        }
        for ctx in loops {
            names.push(&ctx.brk);
            names.push(&ctx.cont);
        }
        names
            .into_iter()
            .filter_map(|name| match self.var(name) {
                Val::Scalar(flag) if !is_const(&flag, "false") => Some(flag),
                _ => None,
            })
            .collect()
    }

    fn exit_state(&self) -> ExitState {
        let flags = self.exit_flags(&self.loops);
        if flags.is_empty() {
            ExitState::Running
        } else if flags.iter().any(|flag| is_const(flag, "true")) {
            ExitState::Exited
        } else {
            ExitState::Maybe(flags)
        }
    }

    fn if_expr(&mut self, if_: &syn::ExprIf) -> Val {
        if let Expr::Let(let_) = &*if_.cond {
            self.error(
                let_,
                "`if let` is not supported; use `match` on the value, or `if` with a comparison",
            );
            return Val::Poison;
        }
        let cond = self.operand(&if_.cond);
        let span = if_.if_token.span;
        match &if_.else_branch {
            Some((_, else_expr)) => {
                let else_expr = (**else_expr).clone();
                self.lower_if(
                    cond,
                    |l| l.block(&if_.then_branch),
                    move |l| l.expr(&else_expr),
                    span,
                )
            }
            None => self.lower_if(cond, |l| l.block(&if_.then_branch), |_| Val::Unit, span),
        }
    }

    /// Lowers `if cond { then } else { else }` and joins the variables both sides assign.
    fn lower_if(
        &mut self,
        cond: Operand,
        then_branch: impl FnOnce(&mut Self) -> Val,
        else_branch: impl FnOnce(&mut Self) -> Val,
        span: Span,
    ) -> Val {
        let before = self.scopes.clone();
        let (mut then_block, then_val, then_scopes) = self.branch(then_branch);
        self.scopes = before.clone();
        let (mut else_block, else_val, else_scopes) = self.branch(else_branch);
        self.scopes = before;
        let then_val = self.number_in_branch(&mut then_block, then_val, &else_val, span);
        let else_val = self.number_in_branch(&mut else_block, else_val, &then_val, span);

        let mut phis = Vec::new();
        // Every variable of the enclosing scopes that either branch changed gets a phi.
        for depth in 0..self.scopes.len() {
            let names: Vec<String> = self.scopes[depth].keys().cloned().collect();
            for name in names {
                let old = self.scopes[depth][&name].clone();
                let then_v = then_scopes[depth].get(&name).cloned().flatten();
                let else_v = else_scopes[depth].get(&name).cloned().flatten();
                if same_opt(&then_v, &old) && same_opt(&else_v, &old) {
                    continue;
                }
                let then_v = then_v.unwrap_or(Val::Scalar(dummy()));
                let else_v = else_v.unwrap_or(Val::Scalar(dummy()));
                let joined = self.phi(&name, then_v, else_v, &mut phis, span);
                self.scopes[depth].insert(name, Some(joined));
            }
        }
        let value = match (then_val, else_val) {
            (Val::Unit, Val::Unit) => Val::Unit,
            (then_v, else_v) => self.phi("", then_v, else_v, &mut phis, span),
        };
        let record = self.new_value(None);
        self.push(ir::Stmt::If(If {
            cond,
            then_block,
            else_block,
            phis,
            record,
            span,
        }));
        value
    }

    /// A branch's value that is a view into a struct (`p.w[1]`) while the other branch's is a
    /// number or another view is itself a number: it is loaded at the end of its branch.
    fn number_in_branch(
        &mut self,
        block: &mut ir::Block,
        val: Val,
        other: &Val,
        span: Span,
    ) -> Val {
        let Val::Mem(mem, prefix) = &val else {
            return val;
        };
        let other_is_number = match other {
            Val::Scalar(_) => true,
            Val::Mem(m, p) => {
                self.mems[m.index()].structured
                    && !(m == mem
                        && p.len() == prefix.len()
                        && p.iter().zip(prefix).all(|(a, b)| same_operand(a, b)))
            }
            _ => false,
        };
        if !self.mems[mem.index()].structured || !other_is_number {
            return val;
        }
        self.blocks.push(std::mem::take(&mut block.stmts));
        let value = self.emit(Op::Load(*mem), prefix.clone(), span);
        block.stmts = self.blocks.pop().expect("the branch's block");
        Val::Scalar(Operand::Value(value))
    }

    /// Lowers one branch in a block and scope of its own.
    fn branch(
        &mut self,
        f: impl FnOnce(&mut Self) -> Val,
    ) -> (ir::Block, Val, Vec<BTreeMap<String, Option<Val>>>) {
        self.blocks.push(Vec::new());
        self.scopes.push(BTreeMap::new());
        let val = f(self);
        self.scopes.pop();
        let stmts = self.blocks.pop().expect("the branch's block");
        (ir::Block { stmts }, val, self.scopes.clone())
    }

    /// The join of two values of a variable (or of the `if` expression itself, `name` empty).
    fn phi(
        &mut self,
        name: &str,
        then_v: Val,
        else_v: Val,
        phis: &mut Vec<Phi>,
        span: Span,
    ) -> Val {
        match (then_v, else_v) {
            (Val::Scalar(a), Val::Scalar(b)) => {
                if same_operand(&a, &b) {
                    return Val::Scalar(a);
                }
                let result = self.new_value(
                    (!name.is_empty() && !name.starts_with('#')).then(|| name.to_owned()),
                );
                phis.push(Phi {
                    result,
                    then_value: a,
                    else_value: b,
                });
                Val::Scalar(Operand::Value(result))
            }
            (Val::Tuple(a), Val::Tuple(b)) if a.len() == b.len() => Val::Tuple(
                a.into_iter()
                    .zip(b)
                    .map(|(a, b)| self.phi(name, a, b, phis, span))
                    .collect(),
            ),
            (Val::Tuple(a), dummy_v) if is_dummy(&dummy_v) => {
                let dummies = vec![Val::Scalar(dummy()); a.len()];
                self.phi(name, Val::Tuple(a), Val::Tuple(dummies), phis, span)
            }
            (dummy_v, Val::Tuple(b)) if is_dummy(&dummy_v) => {
                let dummies = vec![Val::Scalar(dummy()); b.len()];
                self.phi(name, Val::Tuple(dummies), Val::Tuple(b), phis, span)
            }
            (Val::Mem(a, pa), Val::Mem(b, pb))
                if a == b
                    && pa.len() == pb.len()
                    && pa.iter().zip(&pb).all(|(x, y)| same_operand(x, y)) =>
            {
                Val::Mem(a, pa)
            }
            (Val::Mem(a, pa), other) | (other, Val::Mem(a, pa))
                if is_dummy(&other) || matches!(other, Val::Unit) =>
            {
                Val::Mem(a, pa)
            }
            (Val::Poison, _) | (_, Val::Poison) => Val::Poison,
            (Val::Unit, other) | (other, Val::Unit) if is_dummy(&other) => Val::Unit,
            (Val::Unit, Val::Scalar(b)) => {
                self.phi(name, Val::Scalar(dummy()), Val::Scalar(b), phis, span)
            }
            (Val::Scalar(a), Val::Unit) => {
                self.phi(name, Val::Scalar(a), Val::Scalar(dummy()), phis, span)
            }
            (Val::Unit, Val::Tuple(b)) => {
                self.phi(name, Val::Scalar(dummy()), Val::Tuple(b), phis, span)
            }
            (Val::Tuple(a), Val::Unit) => {
                self.phi(name, Val::Tuple(a), Val::Scalar(dummy()), phis, span)
            }
            _ => {
                self.error_at(
                    span,
                    "the branches give values of different shapes (a number, a tuple or an array), or different arrays or rows; an `if` that chooses between arrays is not supported: index the array inside each branch",
                );
                Val::Poison
            }
        }
    }

    /// `if cond { a } else { b }` for values already computed.
    fn join(&mut self, cond: Operand, a: Val, b: Val, span: Span) -> Val {
        self.lower_if(cond, |_| a, |_| b, span)
    }

    /// `match x { 0 | 1 => a, n if n > 5 => b, _ => c }` → `if`s on `matches!`.
    fn match_expr(&mut self, match_: &syn::ExprMatch) -> Val {
        let scrutinee = self.operand(&match_.expr);
        self.match_arms(&scrutinee, &match_.arms, match_.match_token.span)
    }

    fn match_arms(&mut self, scrutinee: &Operand, arms: &[syn::Arm], span: Span) -> Val {
        let Some((arm, rest)) = arms.split_first() else {
            return Val::Scalar(dummy());
        };
        let (pat, guard) = match &arm.pat {
            Pat::Guard(guarded) => (&*guarded.pat, Some(&*guarded.guard)),
            pat => (pat, None),
        };
        // A binding of the whole value (`n => ..`, `n if n > 5 => ..`).
        let binding = match pat {
            Pat::Ident(p)
                if p.subpat.is_none() && p.by_ref.is_none() && starts_lowercase(&p.ident) =>
            {
                Some(p.ident.to_string())
            }
            _ => None,
        };
        if let Some(bad) = find_binding(pat) {
            if binding.is_none() {
                self.error(bad, "bindings inside `match` patterns are not supported; match on the value and compute from it in the arm");
                return Val::Poison;
            }
        }
        let always = guard.is_none() && (binding.is_some() || matches!(pat, Pat::Wild(_)));
        let body = (*arm.body).clone();
        let arm_binding = binding.clone();
        let bind_and_lower = move |l: &mut Self| {
            l.scopes.push(BTreeMap::new());
            if let Some(name) = &arm_binding {
                l.declare(name, Some(Val::Scalar(scrutinee.clone())));
            }
            let val = l.expr(&body);
            l.scopes.pop();
            val
        };
        if always || rest.is_empty() && guard.is_none() {
            return bind_and_lower(self);
        }
        // The condition: the pattern matches, and then the guard holds.
        let pattern = if binding.is_some() {
            quote!(_)
        } else {
            quote!(#pat)
        };
        let hole = Opaque::hole(0);
        let mut cond_expr = quote!((match #hole { #pattern => true, _ => false }));
        let mut args = vec![scrutinee.clone()];
        if let Some(guard) = guard {
            self.scopes.push(BTreeMap::new());
            if let Some(name) = &binding {
                self.declare(name, Some(Val::Scalar(scrutinee.clone())));
            }
            let guard_val = self.opaque(guard, true, "match guard");
            self.scopes.pop();
            if !matches!(guard_val, Val::Scalar(Operand::Value(_))) {
                return Val::Poison;
            }
            // The guard was lowered as its own opaque instruction; fold it into the condition
            // so that it is evaluated only when the pattern matches.
            let Some(ir::Stmt::Inst(Inst {
                op: Op::Opaque(guard_op),
                args: guard_args,
                ..
            })) = self.blocks.last_mut().and_then(|b| b.pop())
            else {
                return Val::Poison;
            };
            let guard_expr = Opaque::map_holes(guard_op.expr, &mut |k| Opaque::hole(k + 1));
            cond_expr = quote!(#cond_expr && (#guard_expr));
            args.extend(guard_args);
        }
        let op = Op::Opaque(Opaque::cut(cond_expr));
        let cond = Operand::Value(self.emit(op, args, span));
        let rest = rest.to_vec();
        let scrutinee_rest = scrutinee.clone();
        self.lower_if(
            cond,
            bind_and_lower,
            move |l| l.match_arms(&scrutinee_rest, &rest, span),
            span,
        )
    }

    fn new_loop_ctx(&mut self, label: Option<&syn::Label>) -> LoopCtx {
        let k = self.n_loops;
        self.n_loops += 1;
        LoopCtx {
            label: label.map(|l| l.name.ident.to_string()),
            brk: format!("#brk{k}"),
            cont: format!("#cont{k}"),
            brk_val: format!("#brk_val{k}"),
        }
    }

    fn for_loop(&mut self, for_: &syn::ExprForLoop) -> Val {
        let span = for_.for_token.span;
        let Some(iter) = self.iteration(&for_.expr, &for_.pat) else {
            return Val::Poison;
        };
        let ctx = self.new_loop_ctx(for_.label.as_ref());
        self.lower_loop(ctx, span, iter.range, |l, index| {
            // Bind the loop variable(s) at the start of each iteration.
            if let Some(index) = index {
                if let Some(name) = &iter.index_name {
                    l.values[index.index()]
                        .name
                        .get_or_insert_with(|| name.clone());
                    l.declare(name, Some(Val::Scalar(Operand::Value(index))));
                }
                for (name, source) in &iter.elems {
                    let i = Operand::Value(index);
                    let val = match source {
                        Source::Mem(mem) if l.mems[mem.index()].dims > 1 => Val::Mem(*mem, vec![i]),
                        Source::Mem(mem) => {
                            Val::Scalar(Operand::Value(l.emit(Op::Load(*mem), vec![i], span)))
                        }
                        Source::Value(value) => {
                            let args = vec![Operand::Value(*value), i];
                            Val::Scalar(Operand::Value(l.emit(Op::Index, args, span)))
                        }
                    };
                    if let Some(name) = name {
                        let val = l.name_value(name, val, None, span);
                        l.declare(name, Some(val));
                        // `*v` reads the element itself.
                        l.declare(&format!("#elem {name}"), Some(Val::Unit));
                    }
                }
            }
            l.block(&for_.body)
        })
    }

    fn while_loop(&mut self, while_: &syn::ExprWhile) -> Val {
        if let Expr::Let(let_) = &*while_.cond {
            self.error(
                let_,
                "`while let` is not supported; use `loop` with `match` and `break`",
            );
            return Val::Poison;
        }
        let span = while_.while_token.span;
        let ctx = self.new_loop_ctx(while_.label.as_ref());
        let brk = ctx.brk.clone();
        self.lower_loop(ctx, span, None, |l, _| {
            let cond = l.operand(&while_.cond);
            let not_cond = l.not_any(std::slice::from_ref(&cond), span);
            // `while c { body }` is `loop { if !c { break } body }`.
            l.lower_if(
                not_cond,
                |l| {
                    l.assign_var(&brk, Val::Scalar(const_bool(true)));
                    Val::Unit
                },
                |l| l.block(&while_.body),
                span,
            )
        })
    }

    fn forever_loop(&mut self, loop_: &syn::ExprLoop) -> Val {
        let span = loop_.loop_token.span;
        let ctx = self.new_loop_ctx(loop_.label.as_ref());
        let brk_val = ctx.brk_val.clone();
        self.declare(&brk_val, Some(Val::Scalar(dummy())));
        self.lower_loop(ctx, span, None, |l, _| l.block(&loop_.body));
        self.var(&brk_val)
    }

    /// The loop targeted by `break`/`continue` with this label (the innermost without one).
    fn target_loop(&self, label: Option<&syn::Lifetime>, at: &impl ToTokens) -> Option<usize> {
        let found = match label {
            None => self.loops.len().checked_sub(1),
            Some(label) => {
                let name = label.ident.to_string();
                self.loops
                    .iter()
                    .rposition(|ctx| ctx.label.as_deref() == Some(name.as_str()))
            }
        };
        if found.is_none() {
            self.error(at, "`break`/`continue` outside of a loop");
        }
        found
    }

    fn break_expr(&mut self, brk: &syn::ExprBreak) -> Val {
        let Some(k) = self.target_loop(brk.label.as_ref(), brk) else {
            return Val::Poison;
        };
        if let Some(value) = &brk.expr {
            let val = self.expr(value);
            let name = self.loops[k].brk_val.clone();
            if !self.assign_var(&name, val) {
                self.error(value, "`break` with a value is only supported in `loop`");
            }
        }
        let name = self.loops[k].brk.clone();
        self.assign_var(&name, Val::Scalar(const_bool(true)));
        Val::Unit
    }

    fn continue_expr(&mut self, cont: &syn::ExprContinue) -> Val {
        let Some(k) = self.target_loop(cont.label.as_ref(), cont) else {
            return Val::Poison;
        };
        let name = self.loops[k].cont.clone();
        self.assign_var(&name, Val::Scalar(const_bool(true)));
        Val::Unit
    }

    /// Lowers a loop: once, muted, to find the variables the body assigns; then for real, with
    /// those variables carried from one iteration to the next.
    fn lower_loop(
        &mut self,
        ctx: LoopCtx,
        span: Span,
        range: Option<RangeSpec>,
        body: impl Fn(&mut Self, Option<Value>) -> Val,
    ) -> Val {
        self.declare(&ctx.brk, Some(Val::Scalar(const_bool(false))));
        let (brk, cont) = (ctx.brk.clone(), ctx.cont.clone());
        self.loops.push(ctx);

        // Discovery: which variables of the enclosing scopes does the body assign?
        let saved = (
            self.values.len(),
            self.mems.len(),
            self.scopes.clone(),
            self.muted,
            self.n_loops,
        );
        self.muted = true;
        let index = range.as_ref().map(|_| self.new_value(None));
        self.blocks.push(Vec::new());
        self.run_body(&cont, index, &body);
        self.blocks.pop();
        // With the value each has after the body, for its shape.
        let assigned: Vec<(usize, String, Option<Val>)> = (0..saved.2.len())
            .flat_map(|depth| {
                let before = &saved.2[depth];
                let after = &self.scopes[depth];
                before
                    .iter()
                    .filter(|(name, val)| !same_opt(&after.get(*name).cloned().flatten(), val))
                    .map(|(name, _)| (depth, name.clone(), after.get(name).cloned().flatten()))
                    .collect::<Vec<_>>()
            })
            .collect();
        self.values.truncate(saved.0);
        self.mems.truncate(saved.1);
        self.scopes = saved.2;
        self.muted = saved.3;
        self.n_loops = saved.4;

        // The body for real: each assigned variable is a parameter of the iteration.
        let mut carried_vars = Vec::new();
        for (depth, name, after) in &assigned {
            let mut init = self.scopes[*depth][name]
                .clone()
                .unwrap_or(Val::Scalar(dummy()));
            // A placeholder (a variable the loop assigns first) takes the shape of what it is
            // assigned: `return (a, b)` inside a loop carries a tuple.
            if is_dummy(&init) {
                if let Some(Val::Tuple(parts)) = after {
                    init = Val::Tuple(vec![Val::Scalar(dummy()); parts.len()]);
                }
            }
            let param = self.fresh_like(name, &init);
            self.scopes[*depth].insert(name.clone(), Some(param.clone()));
            carried_vars.push((*depth, name.clone(), init, param));
        }
        let index = range.as_ref().map(|_| self.new_value(None));
        self.blocks.push(Vec::new());
        self.run_body(&cont, index, &body);
        // The loop ends after an iteration that breaks it, an enclosing loop, or the function.
        let outer = self.loops.len() - 1;
        let mut exit_flags: Vec<Operand> = self.exit_flags(&self.loops[..outer]);
        if let Val::Scalar(flag) = self.var(&brk) {
            if !is_const(&flag, "false") {
                exit_flags.push(flag);
            }
        }
        let exit = if exit_flags.is_empty() {
            None
        } else {
            Some(self.any(&exit_flags, span))
        };
        let mut carried = Vec::new();
        let mut results = Vec::new();
        // The carried variables move to their next values all at once (`(a, b) = (b, a)`): a
        // next value that is itself a carried parameter is copied first, so that the backward
        // sweep's transfers of adjoints do not overlap either.
        let params: Vec<Value> = carried_vars
            .iter()
            .flat_map(|(_, _, _, param)| val_values(param))
            .collect();
        let nexts: Vec<Val> = carried_vars
            .iter()
            .map(|(depth, name, _, _)| {
                let next = self.scopes[*depth][name]
                    .clone()
                    .unwrap_or(Val::Scalar(dummy()));
                self.copy_carried(next, &params, span)
            })
            .collect();
        for ((depth, name, init, param), next) in carried_vars.into_iter().zip(nexts) {
            let result = self.fresh_like(&name, &init);
            flatten_carried(&init, &param, &next, &result, &mut carried);
            results.push((depth, name, result));
        }
        let stmts = self.blocks.pop().expect("the loop body's block");
        self.loops.pop();
        for (depth, name, result) in results {
            self.scopes[depth].insert(name, Some(result));
        }
        let kind = match (range, index) {
            (Some(range), Some(index)) => LoopKind::Range {
                index,
                start: range.start,
                end: range.end,
                inclusive: range.inclusive,
                reversed: range.reversed,
            },
            _ => LoopKind::Forever,
        };
        let count = self.new_value(Some("iterations".to_owned()));
        self.push(ir::Stmt::Loop(Loop {
            kind,
            carried,
            body: ir::Block { stmts },
            exit,
            count,
            span,
        }));
        Val::Unit
    }

    fn run_body(
        &mut self,
        cont: &str,
        index: Option<Value>,
        body: &impl Fn(&mut Self, Option<Value>) -> Val,
    ) {
        self.blocks.push(Vec::new());
        self.scopes.push(BTreeMap::new());
        self.declare(cont, Some(Val::Scalar(const_bool(false))));
        body(self, index);
        self.scopes.pop();
        let stmts = self.blocks.pop().expect("the body's block");
        self.blocks
            .last_mut()
            .expect("a block is open")
            .extend(stmts);
    }

    /// `val`, with each of its scalars that is one of `params` replaced by a copy.
    fn copy_carried(&mut self, val: Val, params: &[Value], span: Span) -> Val {
        match val {
            Val::Scalar(Operand::Value(v)) if params.contains(&v) => Val::Scalar(Operand::Value(
                self.emit(Op::Copy, vec![Operand::Value(v)], span),
            )),
            Val::Tuple(parts) => Val::Tuple(
                parts
                    .into_iter()
                    .map(|p| self.copy_carried(p, params, span))
                    .collect(),
            ),
            val => val,
        }
    }

    /// New values with the shape of `val` (a scalar, or a tuple of them), named `name`.
    fn fresh_like(&mut self, name: &str, val: &Val) -> Val {
        let name = (!name.starts_with('#')).then(|| name.to_owned());
        match val {
            Val::Tuple(parts) => Val::Tuple(
                parts
                    .iter()
                    .map(|p| self.fresh_like(name.as_deref().unwrap_or("#"), p))
                    .collect(),
            ),
            Val::Mem(..) => val.clone(),
            _ => Val::Scalar(Operand::Value(self.new_value(name))),
        }
    }

    /// What a `for` loop iterates over: a range, or the elements of arrays.
    fn iteration(&mut self, expr: &Expr, pat: &Pat) -> Option<Iteration> {
        // `for i in a..b`, `a..=b`, `(a..b).rev()`
        let (range_expr, reversed) = match strip_parens(expr) {
            Expr::MethodCall(call) if call.method == "rev" && call.args.is_empty() => {
                (strip_parens(&call.receiver), true)
            }
            e => (e, false),
        };
        if let Expr::Range(range) = range_expr {
            let (Some(start), Some(end)) = (&range.start, &range.end) else {
                self.error(range, "ranges in `for` need both bounds");
                return None;
            };
            let start = self.operand(start);
            let end = self.operand(end);
            let index_name = match pat {
                Pat::Ident(p) => Some(p.ident.to_string()),
                Pat::Wild(_) => None,
                _ => {
                    self.error(pat, "bind the index of a range to a name or `_`");
                    return None;
                }
            };
            let inclusive = matches!(range.limits, syn::RangeLimits::Closed(_));
            return Some(Iteration {
                range: Some(RangeSpec {
                    start,
                    end,
                    inclusive,
                    reversed,
                }),
                index_name,
                elems: Vec::new(),
            });
        }
        if reversed {
            self.error(expr, "only ranges can be reversed in a `for` loop; iterate over the indices `(0..x.len()).rev()`");
            return None;
        }
        // `x.iter()`, `&x`, `x`, `.iter().enumerate()`, `.iter().zip(y.iter())`
        let (sources, enumerate) = self.iter_sources(expr)?;
        let span = expr.span();
        // Element bindings from the pattern.
        let elem_pat = |p: &Pat| -> Result<Option<String>, ()> {
            match p {
                Pat::Ident(i) => Ok(Some(i.ident.to_string())),
                Pat::Reference(r) => match &*r.pat {
                    Pat::Ident(i) => Ok(Some(i.ident.to_string())),
                    _ => Err(()),
                },
                Pat::Wild(_) => Ok(None),
                _ => Err(()),
            }
        };
        let (index_name, elem_pats): (Option<String>, Vec<&Pat>) = match (enumerate, pat) {
            (true, Pat::Tuple(t)) if t.elems.len() == 2 => {
                let index = match &t.elems[0] {
                    Pat::Ident(i) => Some(i.ident.to_string()),
                    _ => None,
                };
                let rest = match (&t.elems[1], sources.len()) {
                    (Pat::Tuple(inner), n) if n > 1 && inner.elems.len() == n => {
                        inner.elems.iter().collect()
                    }
                    (p, 1) => vec![p],
                    _ => {
                        self.error(
                            pat,
                            "the pattern does not match what the loop iterates over",
                        );
                        return None;
                    }
                };
                (index, rest)
            }
            (false, Pat::Tuple(t)) if sources.len() > 1 && t.elems.len() == sources.len() => {
                (None, t.elems.iter().collect())
            }
            (false, p) if sources.len() == 1 => (None, vec![p]),
            _ => {
                self.error(
                    pat,
                    "the pattern does not match what the loop iterates over",
                );
                return None;
            }
        };
        let mut elems = Vec::new();
        for (p, source) in elem_pats.into_iter().zip(&sources) {
            match elem_pat(p) {
                Ok(name) => elems.push((name, *source)),
                Err(()) => {
                    self.error(p, "bind each element to a name, `&name` or `_`");
                    return None;
                }
            }
        }
        // The length: the shortest of the arrays.
        let lens: Vec<Operand> = sources
            .iter()
            .map(|source| {
                let len = match source {
                    Source::Mem(mem) => self.emit(Op::Len(*mem), Vec::new(), span),
                    Source::Value(value) => {
                        let hole = Opaque::hole(0);
                        let op = Op::Opaque(Opaque::cut(quote!(#hole.len())));
                        self.emit(op, vec![Operand::Value(*value)], span)
                    }
                };
                Operand::Value(len)
            })
            .collect();
        let mut end = lens[0].clone();
        for len in &lens[1..] {
            let (a, b) = (Opaque::hole(0), Opaque::hole(1));
            let op = Op::Opaque(Opaque::cut(quote!(#a.min(#b))));
            end = Operand::Value(self.emit(op, vec![end, len.clone()], span));
        }
        let start = Operand::Const(Const {
            tokens: quote!(0usize),
            atomic: true,
        });
        Some(Iteration {
            range: Some(RangeSpec {
                start,
                end,
                inclusive: false,
                reversed: false,
            }),
            index_name,
            elems,
        })
    }

    /// The arrays a `for` iterates over, and whether it is `.enumerate()`d.
    fn iter_sources(&mut self, expr: &Expr) -> Option<(Vec<Source>, bool)> {
        match strip_parens(expr) {
            Expr::MethodCall(call) if call.method == "enumerate" && call.args.is_empty() => {
                let (sources, enumerate) = self.iter_sources(&call.receiver)?;
                if enumerate {
                    self.error(expr, "`.enumerate()` twice is not supported");
                    return None;
                }
                Some((sources, true))
            }
            Expr::MethodCall(call) if call.method == "zip" && call.args.len() == 1 => {
                let (mut sources, e1) = self.iter_sources(&call.receiver)?;
                let (more, e2) = self.iter_sources(&call.args[0])?;
                if e1 || e2 {
                    self.error(
                        expr,
                        "`.enumerate()` inside `.zip(..)` is not supported; put it outside",
                    );
                    return None;
                }
                sources.extend(more);
                Some((sources, false))
            }
            Expr::MethodCall(call)
                if matches!(
                    call.method.to_string().as_str(),
                    "iter" | "into_iter" | "copied" | "cloned"
                ) && call.args.is_empty() =>
            {
                self.iter_sources(&call.receiver)
            }
            // Only a name of an array (or a reference to one) is lowered here; other
            // iterators are reported once, as unsupported loops.
            e @ (Expr::Path(_) | Expr::Reference(_) | Expr::Field(_) | Expr::Index(_)) => {
                match self.expr(e) {
                    Val::Mem(mem, prefix) if prefix.is_empty() => {
                        Some((vec![Source::Mem(mem)], false))
                    }
                    // An array or `Vec` returned by a call.
                    Val::Scalar(Operand::Value(value)) => {
                        self.values[value.index()].aggregate = true;
                        Some((vec![Source::Value(value)], false))
                    }
                    Val::Mem(..) => {
                        self.error(e, "iterating over a row of an array is not supported; iterate over its indices");
                        None
                    }
                    Val::Poison => None,
                    _ => {
                        self.error(
                        expr,
                        "a `for` loop here iterates over a range (`0..n`, `a..=b`, `(0..n).rev()`) or over the elements of an array, slice or `Vec` (`x.iter()`, `x.iter().enumerate()`, `x.iter().zip(y.iter())`)",
                    );
                        None
                    }
                }
            }
            _ => {
                self.error(
                    expr,
                    "a `for` loop here iterates over a range (`0..n`, `a..=b`, `(0..n).rev()`) or over the elements of an array, slice or `Vec` (`x.iter()`, `x.iter().enumerate()`, `x.iter().zip(y.iter())`)",
                );
                None
            }
        }
    }
}

enum ExitState {
    Running,
    Exited,
    Maybe(Vec<Operand>),
}

struct RangeSpec {
    start: Operand,
    end: Operand,
    inclusive: bool,
    reversed: bool,
}

struct Iteration {
    range: Option<RangeSpec>,
    index_name: Option<String>,
    /// Each element binding (`None` for `_`) and what it reads.
    elems: Vec<(Option<String>, Source)>,
}

/// What a `for` loop reads its elements from.
#[derive(Clone, Copy)]
enum Source {
    Mem(Mem),
    /// An array value returned by a call.
    Value(Value),
}

/// The values of a scalar or tuple.
fn val_values(val: &Val) -> Vec<Value> {
    match val {
        Val::Scalar(Operand::Value(v)) => vec![*v],
        Val::Tuple(parts) => parts.iter().flat_map(val_values).collect(),
        _ => Vec::new(),
    }
}

/// One `Carried` per scalar of a carried variable (tuples are carried element by element).
fn flatten_carried(init: &Val, param: &Val, next: &Val, result: &Val, out: &mut Vec<Carried>) {
    match (param, result) {
        (Val::Scalar(Operand::Value(param)), Val::Scalar(Operand::Value(result))) => {
            let init = match init {
                Val::Scalar(op) => op.clone(),
                _ => dummy(),
            };
            let next = match next {
                Val::Scalar(op) => op.clone(),
                _ => dummy(),
            };
            out.push(Carried {
                init,
                param: *param,
                next,
                result: *result,
            });
        }
        (Val::Tuple(params), Val::Tuple(results)) => {
            for (k, (param, result)) in params.iter().zip(results).enumerate() {
                let pick = |v: &Val| match v {
                    Val::Tuple(parts) => parts.get(k).cloned().unwrap_or(Val::Scalar(dummy())),
                    _ => Val::Scalar(dummy()),
                };
                flatten_carried(&pick(init), param, &pick(next), result, out);
            }
        }
        _ => {}
    }
}

fn same_opt(a: &Option<Val>, b: &Option<Val>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same(a, b),
        _ => false,
    }
}

fn same(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Scalar(a), Val::Scalar(b)) => same_operand(a, b),
        (Val::Tuple(a), Val::Tuple(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b))
        }
        (Val::Mem(a, pa), Val::Mem(b, pb)) => {
            a == b && pa.len() == pb.len() && pa.iter().zip(pb).all(|(a, b)| same_operand(a, b))
        }
        (Val::Unit, Val::Unit) | (Val::Poison, Val::Poison) => true,
        _ => false,
    }
}

fn same_operand(a: &Operand, b: &Operand) -> bool {
    match (a, b) {
        (Operand::Value(a), Operand::Value(b)) => a == b,
        (Operand::Const(a), Operand::Const(b)) => a.tokens.to_string() == b.tokens.to_string(),
        (Operand::Mem(a, pa), Operand::Mem(b, pb)) => {
            a == b && pa.len() == pb.len() && pa.iter().zip(pb).all(|(a, b)| same_operand(a, b))
        }
        _ => false,
    }
}

/// Replaces the variables of an opaque expression by holes, and rejects what cannot be kept
/// opaque (closures and blocks bind their own names; macros hide theirs).
struct Holes<'l, 'a> {
    lowerer: &'l Lowerer<'a>,
    args: Vec<Operand>,
    failed: bool,
}

impl Holes<'_, '_> {
    fn hole_for(&mut self, val: &Val, span: Span) -> Option<Expr> {
        match val {
            Val::Scalar(Operand::Const(c)) => Some(Expr::Verbatim(c.parenthesized())),
            Val::Scalar(operand) => Some(self.hole(operand.clone(), span)),
            Val::Mem(mem, prefix) => Some(self.hole(Operand::Mem(*mem, prefix.clone()), span)),
            Val::Tuple(parts) => {
                let parts = parts
                    .iter()
                    .map(|part| self.hole_for(part, span))
                    .collect::<Option<Vec<_>>>()?;
                // Tokens, not a parse: the parts hold holes, which are not Rust syntax.
                Some(Expr::Verbatim(quote!((#(#parts,)*))))
            }
            Val::Unit => Some(syn::parse_quote!(())),
            Val::Poison => None,
        }
    }

    fn hole(&mut self, operand: Operand, span: Span) -> Expr {
        let hole = Opaque::hole(self.args.len());
        self.args.push(operand);
        Expr::Verbatim(quote::quote_spanned!(span=> #hole))
    }
}

impl VisitMut for Holes<'_, '_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Path(path) => {
                let Some(ident) = local_name(path) else {
                    return;
                };
                match self.lowerer.lookup(&ident.to_string()) {
                    Some(Some(val)) => {
                        let val = val.clone();
                        match self.hole_for(&val, ident.span()) {
                            Some(replacement) => *expr = replacement,
                            None => self.failed = true,
                        }
                    }
                    Some(None) => {
                        self.lowerer.error(
                            &*path,
                            format!("`{ident}` is used before it is given a value"),
                        );
                        self.failed = true;
                    }
                    None => {}
                }
            }
            // `*v` of an element bound by `for v in x.iter()` is the element, as in `unary`.
            Expr::Unary(syn::ExprUnary {
                op: UnOp::Deref(_),
                expr: inner,
                ..
            }) if matches!(&**inner, Expr::Path(path) if local_name(path).is_some_and(|ident| {
                self.lowerer.lookup(&format!("#elem {ident}")).is_some()
            })) =>
            {
                let mut inner = (**inner).clone();
                self.visit_expr_mut(&mut inner);
                *expr = inner;
            }
            Expr::Macro(mac) => {
                self.lowerer.macro_error(&mac.mac);
                self.failed = true;
            }
            Expr::Closure(_)
            | Expr::Block(_)
            | Expr::Unsafe(_)
            | Expr::Async(_)
            | Expr::If(_)
            | Expr::Match(_)
            | Expr::ForLoop(_)
            | Expr::While(_)
            | Expr::Loop(_)
            | Expr::Let(_)
            | Expr::Assign(_)
            | Expr::Return(_)
            | Expr::Break(_)
            | Expr::Continue(_)
            | Expr::Struct(_)
            | Expr::Try(_)
            | Expr::TryBlock(_)
            | Expr::Await(_)
            | Expr::Yield(_)
            | Expr::Const(_) => {
                self.lowerer.error(&*expr, unsupported_message(expr));
                self.failed = true;
            }
            _ => visit_mut::visit_expr_mut(self, expr),
        }
    }
}

fn unsupported_message(expr: &Expr) -> String {
    let message = match expr {
        Expr::Unsafe(_) => {
            "`unsafe` blocks cannot be differentiated; move the unsafe code into a function without `#[differentiate]`"
        }
        Expr::Closure(_) => {
            "closures are not supported in a `#[differentiate]` function; write the computation inline, or as a separate `#[differentiate]` function"
        }
        Expr::Async(_) | Expr::Await(_) => {
            "`async` code cannot be differentiated; differentiate a synchronous function"
        }
        Expr::If(_)
        | Expr::Match(_)
        | Expr::Block(_)
        | Expr::ForLoop(_)
        | Expr::While(_)
        | Expr::Loop(_) => {
            "control flow inside a comparison, `no_grad(..)` or a call of a function that is not differentiated is not supported; compute the value first with a `let`"
        }
        Expr::Break(_) | Expr::Continue(_) | Expr::Return(_) | Expr::Assign(_) => {
            "this statement cannot appear inside an expression here; make it a statement of its own"
        }
        Expr::Reference(_) | Expr::RawAddr(_) => {
            "references to this are not supported; pass the value"
        }
        Expr::Struct(_) => "struct expressions are not supported yet; until then use tuples",
        Expr::Try(_) | Expr::TryBlock(_) => {
            "the `?` operator is not supported in a `#[differentiate]` function; handle errors outside it"
        }
        Expr::Let(_) => "`let` expressions are not supported; use a `let` statement",
        Expr::Yield(_) => "`yield` cannot be differentiated",
        Expr::Const(_) => "`const` blocks are not supported; use a `const` item",
        Expr::Infer(_) => "`_` is not a value; write the value",
        Expr::Range(_) => "ranges are supported only as the iterator of a `for` loop",
        _ => {
            "this expression is not supported in a `#[differentiate]` function; rewrite it with the constructs listed on `#[differentiate]`"
        }
    };
    message.to_owned()
}

/// Whether the body has a `return` other than in tail position (nested functions excluded).
fn contains_early_return(body: &syn::Block) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_expr_return(&mut self, _: &'ast syn::ExprReturn) {
            self.0 = true;
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_block(&mut finder, body);
    finder.0
}

/// The first name a pattern binds (other than constants, written in upper case).
fn find_binding(pat: &Pat) -> Option<&Pat> {
    match pat {
        Pat::Ident(p) if starts_lowercase(&p.ident) => Some(pat),
        Pat::Ident(p) => p.subpat.as_ref().and_then(|(_, sub)| find_binding(sub)),
        Pat::Or(or) => or.cases.iter().find_map(find_binding),
        Pat::Paren(p) => find_binding(&p.pat),
        Pat::Reference(r) => find_binding(&r.pat),
        Pat::Tuple(t) => t.elems.iter().find_map(find_binding),
        Pat::TupleStruct(t) => t.elems.iter().find_map(find_binding),
        Pat::Slice(s) => s.elems.iter().find_map(find_binding),
        Pat::Struct(s) => s.fields.iter().find_map(|f| find_binding(&f.pat)),
        Pat::Type(t) => find_binding(&t.pat),
        Pat::Guard(g) => find_binding(&g.pat),
        _ => None,
    }
}

fn starts_lowercase(ident: &syn::Ident) -> bool {
    ident
        .to_string()
        .starts_with(|c: char| c.is_lowercase() || c == '_')
        && ident != "_"
}

/// The start value and update of the loop that `.sum()` and `.product()` stand for.
fn reduction(method: &str) -> Option<(syn::Lit, TokenStream)> {
    match method {
        "sum" => Some((syn::parse_quote!(0.0), quote!(+=))),
        "product" => Some((syn::parse_quote!(1.0), quote!(*=))),
        _ => None,
    }
}

/// Whether constant tokens hold a float literal without a suffix (`0.2`, not `0.2_f32` or `PI`).
fn untyped_float(tokens: &TokenStream) -> bool {
    tokens.clone().into_iter().any(|tree| match tree {
        proc_macro2::TokenTree::Literal(lit) => {
            matches!(syn::Lit::new(lit), syn::Lit::Float(f) if f.suffix().is_empty())
        }
        proc_macro2::TokenTree::Group(group) => untyped_float(&group.stream()),
        _ => false,
    })
}

fn strip_type_parens(ty: &syn::Type) -> &syn::Type {
    match ty {
        syn::Type::Paren(paren) => strip_type_parens(&paren.elem),
        ty => ty,
    }
}

fn strip_parens(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => strip_parens(&p.expr),
        Expr::Group(g) => strip_parens(&g.expr),
        e => e,
    }
}

fn arithmetic_rule(op: &BinOp) -> Option<&'static str> {
    match op {
        BinOp::Add(_) => Some("add"),
        BinOp::Sub(_) => Some("sub"),
        BinOp::Mul(_) => Some("mul"),
        BinOp::Div(_) => Some("div"),
        BinOp::Rem(_) => Some("rem"),
        _ => None,
    }
}

/// `+=` → `+`.
fn compound_op(op: &BinOp) -> Option<BinOp> {
    Some(match op {
        BinOp::AddAssign(t) => BinOp::Add(Token![+](t.span())),
        BinOp::SubAssign(t) => BinOp::Sub(Token![-](t.span())),
        BinOp::MulAssign(t) => BinOp::Mul(Token![*](t.span())),
        BinOp::DivAssign(t) => BinOp::Div(Token![/](t.span())),
        BinOp::RemAssign(t) => BinOp::Rem(Token![%](t.span())),
        _ => return None,
    })
}

fn bit_op_of_assign(op: &BinOp) -> Option<TokenStream> {
    Some(match op {
        BinOp::BitXorAssign(_) => quote!(^),
        BinOp::BitAndAssign(_) => quote!(&),
        BinOp::BitOrAssign(_) => quote!(|),
        BinOp::ShlAssign(_) => quote!(<<),
        BinOp::ShrAssign(_) => quote!(>>),
        _ => return None,
    })
}

/// An expression that names a place: `x`, `p.w`, `m[i]`, `&x`.
fn is_place(expr: &Expr) -> bool {
    match expr {
        Expr::Path(_) => true,
        Expr::Field(f) => is_place(&f.base),
        Expr::Index(i) => is_place(&i.expr),
        Expr::Reference(r) => is_place(&r.expr),
        Expr::Paren(p) => is_place(&p.expr),
        _ => false,
    }
}

/// `x` (not `a::x`, not `x::<T>`).
fn local_name(path: &syn::ExprPath) -> Option<&syn::Ident> {
    if path.qself.is_some() {
        return None;
    }
    path.path.get_ident()
}

/// `no_grad`, `autodiff_core::no_grad` or `::autodiff_core::no_grad`.
fn is_no_grad(path: &syn::ExprPath) -> bool {
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    path.qself.is_none()
        && match segments.as_slice() {
            [last] => last == "no_grad",
            [krate, last] => krate == "autodiff_core" && last == "no_grad",
            _ => false,
        }
}

/// `f64::sin` → `sin`.
fn float_method_path(path: &syn::ExprPath) -> Option<&syn::Ident> {
    if path.qself.is_some() || path.path.leading_colon.is_some() {
        return None;
    }
    let segments = &path.path.segments;
    if segments.len() != 2 || !segments[0].arguments.is_none() || !segments[1].arguments.is_none() {
        return None;
    }
    let ty = &segments[0].ident;
    (ty == "f64" || ty == "f32").then_some(&segments[1].ident)
}

/// Casts to integer types, `char` and `bool` cut the derivative; other targets are floats (or
/// float aliases, which rustc then checks).
fn float_cast_target(ty: &syn::Type) -> bool {
    const NOT_FLOAT: &[&str] = &[
        "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
        "char", "bool",
    ];
    match ty {
        syn::Type::Path(path) => !path
            .path
            .get_ident()
            .is_some_and(|ident| NOT_FLOAT.iter().any(|name| ident == name)),
        syn::Type::Paren(paren) => float_cast_target(&paren.elem),
        syn::Type::Group(group) => float_cast_target(&group.elem),
        _ => false,
    }
}

impl Const {
    /// The constant as one token tree.
    pub fn parenthesized(&self) -> TokenStream {
        let tokens = &self.tokens;
        if self.atomic {
            tokens.clone()
        } else {
            quote!((#tokens))
        }
    }
}
