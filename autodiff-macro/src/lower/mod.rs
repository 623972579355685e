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

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::Span;
use quote::{ToTokens, quote};
use syn::Stmt;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::ir::{
    self, Callee, Carried, Const, Form, If, Inst, Loop, LoopKind, Mem, MemData, MemInit,
    MemInitKind, Op, Opaque, Operand, Output, ParamRef, Phi, Store, Value, ValueData,
};
use crate::rules;
use crate::signature::{ParamKind, Signature};

mod alias;
mod array;
mod assigned;
mod branch;
mod call;
mod closure;
mod consume;
mod expr;
mod iter;
mod loops;
mod opaque;
mod scope;
mod stmt;
mod syntax;

use syntax::*;

use scope::{Binding, LoopIdx, Scope, Var};

/// The names of the parameters whose type is a `HashMap`, `HashSet`, `BTreeMap` or `BTreeSet`
/// (behind references or not).
fn map_params(sig: &Signature) -> BTreeSet<String> {
    sig.params
        .iter()
        .filter(|p| is_map_type(&p.ty))
        .map(|p| p.ident.to_string())
        .collect()
}

/// The note for parameters taken for structs whose type is one plain name (`x0: State`,
/// `x: &Trace`), which may be an alias of an array or `Vec`.
fn struct_aliases(sig: &Signature) -> String {
    let named: Vec<String> = sig
        .params
        .iter()
        .filter(|p| p.kind == crate::signature::ParamKind::Struct { by_ref: p.by_ref() })
        .filter_map(|p| {
            let ty = match &p.ty {
                syn::Type::Reference(r) => &*r.elem,
                ty => ty,
            };
            match ty {
                syn::Type::Path(path) if path.qself.is_none() => path
                    .path
                    .get_ident()
                    .filter(|ident| *ident != "Self")
                    .map(|ident| format!("`{}: {ident}`", p.ident)),
                _ => None,
            }
        })
        .collect();
    if named.is_empty() {
        return String::new();
    }
    format!(
        " ({} taken for a `Differentiable` struct: the macro does not see type aliases; if it is an array or a `Vec`, write that type in the signature)",
        named.join(", ")
    )
}

pub fn lower(cx: &Ctxt, sig: &Signature, body: &syn::Block) -> ir::Function {
    reserved_names(cx, body);
    let body = &alias::rewritten(body);
    let mut lowerer = Lowerer {
        cx,
        muted: false,
        values: Vec::new(),
        mems: Vec::new(),
        blocks: vec![Vec::new()],
        scopes: vec![Scope::new()],
        items: Vec::new(),
        loops: Vec::new(),
        n_loops: 0,
        has_return: false,
        fn_name: sig.ident.to_string(),
        // A method, or an associated function taking or giving `Self`.
        in_impl: sig.params.iter().any(|p| {
            p.ident == "self"
                || p.ty
                    .to_token_stream()
                    .into_iter()
                    .any(|t| t.to_string() == "Self")
        }),
        return_arrays: Vec::new(),
        param_by_ref: sig.params.iter().map(|p| p.by_ref()).collect(),
        struct_aliases: struct_aliases(sig),
        map_params: map_params(sig),
        map_values: BTreeSet::new(),
        frozen: BTreeSet::new(),
        binding_ref: false,
        binding_behind_ref: false,
        binding_owned_parts: Vec::new(),
        integer_sum: None,
        whole_fields: BTreeSet::new(),
        structs: BTreeSet::new(),
        parts: BTreeSet::new(),
        kept_as_written: BTreeSet::new(),
        opaque_results: BTreeSet::new(),
        numbers: BTreeSet::new(),
        mutable_receivers: BTreeSet::new(),
        element_refs: BTreeSet::new(),
        variant_matched: BTreeSet::new(),
        borrows: BTreeSet::new(),
        reborrows: BTreeMap::new(),
        integer_arrays: BTreeMap::new(),
        struct_elements: BTreeMap::new(),
        maybe_arrays: BTreeSet::new(),
        tuple_arrays: BTreeSet::new(),
        ret_mem: None,
        n_temps: 0,
        generic_float: sig.generic_float.clone(),
        output_float: sig
            .output
            .as_ref()
            .filter(|output| output.scalar && sig.generic_float.is_none())
            .map(|output| output.ty.clone()),
        resized: BTreeSet::new(),
        stores: stores(body),
        local_fns: local_fns(body),
    };
    lowerer.stores.mutable.extend(
        sig.params
            .iter()
            .filter(|p| p.mutable)
            .map(|p| p.ident.to_string()),
    );
    let params = sig
        .params
        .iter()
        .enumerate()
        .map(|(index, param)| lowerer.param(index, param))
        .collect();

    // Early returns set a flag and keep the value; the output joins it with the tail's value.
    lowerer.has_return = contains_early_return(body);
    if lowerer.has_return {
        lowerer.declare(Var::Return, Some(Val::Scalar(const_bool(false))));
        lowerer.declare(Var::ReturnValue, Some(Val::Scalar(dummy())));
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
            len: None,
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
        None if lowerer.has_return => match lowerer.var(&Var::Return) {
            Val::Scalar(Operand::Bool(true)) => lowerer.var(&Var::ReturnValue),
            Val::Scalar(Operand::Bool(false)) => tail,
            Val::Scalar(flag) => {
                let ret_val = lowerer.var(&Var::ReturnValue);
                let tail = lowerer.owned_rows(tail, body.span());
                lowerer.join(flag, ret_val, tail, body.span())
            }
            _ => Val::Poison,
        },
        None => tail,
    };
    // With no usable return type, the signature's error already says what is wrong.
    lowerer.muted = sig.output.is_none();
    let output = lowerer.output(result, body);

    let mut body = ir::Block {
        stmts: lowerer.blocks.pop().expect("the body's block"),
    };
    // (After other errors, a call whose reader had one looks unused.)
    let dropped = match cx.has_errors() {
        true => Vec::new(),
        false => dropped_methods(&body, &output, &lowerer),
    };
    for (span, method) in dropped {
        lowerer.error_at(span, format!("the result of `.{method}(..)` is never used, so the macro takes it for a method that changes its receiver in place (`&mut self`), which differentiated code cannot follow: keep that state outside the function and pass in what it gives, or write the update as an assignment (on a number the call does nothing: remove it)"));
    }
    final_lengths(&mut body, &lowerer.resized, &mut lowerer.values);
    share_aggregates(&body, &mut lowerer.values);
    enum_data(&body, &lowerer.variant_matched, &mut lowerer.values);
    ir::Function {
        params,
        body,
        output,
        values: lowerer.values,
        mems: lowerer.mems,
        items: lowerer.items,
    }
}

/// Methods of `mut` variables whose result nothing reads and no name holds: `st.add(x);` (also
/// a loop body's or a match arm's value) of a struct's `add(&mut self, ..)`, which the generated
/// code would drop with its result (or take for the rule `add`). A rule's on a number does
/// nothing.
/// (Computations the user names and never uses are theirs: `let unused = s.sqrt();`.)
fn dropped_methods(body: &ir::Block, output: &Output, lowerer: &Lowerer) -> Vec<(Span, String)> {
    let (values, numbers) = (&lowerer.values, &lowerer.numbers);
    fn outputs(output: &Output, read: &mut BTreeSet<Value>) {
        match output {
            Output::Operand(op) | Output::Passive(op) => read.extend(op.values()),
            Output::Tuple(parts) => parts.iter().for_each(|p| outputs(p, read)),
            Output::Mem(_) => {}
        }
    }
    // What something reads, or a name holds (a value computed for nothing the user named is
    // theirs), then what a join or a loop gives on where that is read.
    let mut read: BTreeSet<Value> = (0..values.len())
        .filter(|&k| values[k].name.is_some())
        .map(|k| Value(k as u32))
        .collect();
    outputs(output, &mut read);
    // (A join's and a loop's values are read only where the join or the loop is: below.)
    body.walk(&mut |stmt| match stmt {
        ir::Stmt::If(if_) => read.extend(if_.cond.values()),
        ir::Stmt::Loop(loop_) => {
            read.extend(loop_.exit.iter().flat_map(Operand::values));
            if let ir::LoopKind::Range { start, end, .. } = &loop_.kind {
                read.extend(start.values().into_iter().chain(end.values()));
            }
        }
        ir::Stmt::MemInit(MemInit {
            kind: MemInitKind::FromValue(value),
            ..
        }) => {
            read.insert(*value);
        }
        stmt => read.extend(
            ir::visit::operands(stmt)
                .into_iter()
                .flat_map(Operand::values),
        ),
    });
    loop {
        let before = read.len();
        let mut given = Vec::new();
        body.walk(&mut |stmt| match stmt {
            ir::Stmt::If(if_) => {
                for phi in if_.phis.iter().filter(|phi| read.contains(&phi.result)) {
                    given.extend(
                        phi.then_value
                            .values()
                            .into_iter()
                            .chain(phi.else_value.values()),
                    );
                }
            }
            ir::Stmt::Loop(loop_) => {
                for carried in &loop_.carried {
                    if read.contains(&carried.result) || read.contains(&carried.param) {
                        given.extend(
                            carried
                                .init
                                .values()
                                .into_iter()
                                .chain(carried.next.values()),
                        );
                    }
                }
            }
            _ => {}
        });
        read.extend(given);
        if read.len() == before {
            break;
        }
    }
    let mut dropped = Vec::new();
    body.for_each_inst(&mut |inst| {
        // (Only a `mut` variable's methods may change it: `cfg.validate();` of a `let cfg`
        // is a `&self` one the generated code runs as written.)
        if read.contains(&inst.result) || !lowerer.mutable_receivers.contains(&inst.result) {
            return;
        }
        let method = match (&inst.op, inst.args.first()) {
            (
                Op::Rule {
                    form: Form::Method(method),
                    ..
                },
                Some(Operand::Value(receiver)),
            ) if !numbers.contains(receiver) => method,
            (
                Op::Call {
                    callee: Callee::Method(method),
                    ..
                },
                _,
            ) => method,
            _ => return,
        };
        dropped.push((inst.span, method.to_string()));
    });
    dropped
}

/// Values matched against an enum's variants (`for act in &self.acts { match act { .. } }`,
/// `match (self.kind, x > 0.0)`, `match &q.kind` of a copy of `self`), and what they copy: data,
/// as only structs are differentiated (an enum field is a `#[differentiable(skip)]` one), so
/// the payloads bound are constants.
fn enum_data(body: &ir::Block, matched: &BTreeSet<Value>, values: &mut [ValueData]) {
    let mut matched = matched.clone();
    loop {
        let before = matched.len();
        body.for_each_inst(&mut |inst| {
            if matches!(inst.op, Op::Copy) && matched.contains(&inst.result) {
                matched.extend(inst.args[0].value());
            }
        });
        if matched.len() == before {
            break;
        }
    }
    for value in matched {
        values[value.index()].passive = true;
    }
}

/// The values a join or a loop makes one (a phi's result and its two values; a carried value's
/// four) are all arrays or structs if one is: each one's adjoint receives the others'. A part
/// of a struct read whole (`s.x`) is known to be an array only where it meets one.
fn share_aggregates(body: &ir::Block, values: &mut [ValueData]) {
    let mut groups: Vec<Vec<Value>> = Vec::new();
    body.walk(&mut |stmt| match stmt {
        ir::Stmt::If(if_) => groups.extend(if_.phis.iter().map(|phi| {
            [phi.then_value.value(), phi.else_value.value()]
                .into_iter()
                .flatten()
                .chain([phi.result])
                .collect()
        })),
        ir::Stmt::Loop(loop_) => groups.extend(loop_.carried.iter().map(|c| {
            [c.init.value(), c.next.value()]
                .into_iter()
                .flatten()
                .chain([c.param, c.result])
                .collect()
        })),
        _ => {}
    });
    loop {
        let mut changed = false;
        for group in &groups {
            if group.iter().any(|v| values[v.index()].aggregate) {
                for v in group {
                    changed |= !std::mem::replace(&mut values[v.index()].aggregate, true);
                }
            }
        }
        if !changed {
            break;
        }
    }
}

/// Appends to each block that declares a `Vec` assigned whole the instruction that reads its
/// final length, where the backward sweep starts its adjoint.
fn final_lengths(block: &mut ir::Block, resized: &BTreeSet<Mem>, values: &mut Vec<ValueData>) {
    let mut lens = Vec::new();
    for stmt in &mut block.stmts {
        match stmt {
            ir::Stmt::MemInit(init) if init.declare && resized.contains(&init.mem) => {
                let len = Value(values.len() as u32);
                values.push(ValueData {
                    name: None,
                    aggregate: false,
                    passive: false,
                    cloned: false,
                    by_ref: false,
                });
                init.len = Some(len);
                lens.push(Inst {
                    result: len,
                    op: Op::Len(init.mem),
                    args: Vec::new(),
                    span: init.span,
                    ty: None,
                });
            }
            ir::Stmt::If(if_) => {
                final_lengths(&mut if_.then_block, resized, values);
                final_lengths(&mut if_.else_block, resized, values);
            }
            ir::Stmt::Loop(loop_) => final_lengths(&mut loop_.body, resized, values),
            _ => {}
        }
    }
    block.stmts.extend(lens.into_iter().map(ir::Stmt::Inst));
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
    /// A closure, inlined where it is called.
    Closure(std::rc::Rc<closure::Closure>),
    /// An `Option` (of `reduce`, `max_by`, ...): the value when there is one, and whether there
    /// is (a `bool`).
    Option(Box<Val>, Operand),
    /// The value of an expression that had an error, already reported.
    Poison,
}

fn poison() -> Operand {
    Operand::Poison
}

fn const_bool(value: bool) -> Operand {
    Operand::Bool(value)
}

/// A placeholder for a value that is never read: a variable on a path that has not assigned it.
fn dummy() -> Operand {
    Operand::Undef
}

fn is_dummy(val: &Val) -> bool {
    matches!(val, Val::Scalar(Operand::Undef))
}

/// A loop being lowered: `break` and `continue` find it by its label.
struct LoopCtx {
    label: Option<String>,
    idx: LoopIdx,
    /// The block the loop is in, where arrays that outlive the loop are declared.
    outer_block: usize,
    /// The arrays a `break` value's arrays are copied into, by position in the value.
    break_arrays: Vec<Mem>,
}

struct Lowerer<'a> {
    cx: &'a Ctxt,
    /// Errors are not reported (the signature's error already says what is wrong).
    muted: bool,
    values: Vec<ValueData>,
    mems: Vec<MemData>,
    /// The blocks being built, innermost last.
    blocks: Vec<Vec<ir::Stmt>>,
    /// Innermost last.
    scopes: Vec<Scope>,
    items: Vec<syn::Item>,
    loops: Vec<LoopCtx>,
    n_loops: usize,
    has_return: bool,
    /// The function's own name: a call of it is recursion (`self.name(..)` or `Self::name(..)`
    /// in an `impl`, where a bare `name(..)` names a free function).
    fn_name: String,
    in_impl: bool,
    /// The arrays a `return` value's arrays inside loops are copied into, by position.
    return_arrays: Vec<Mem>,
    /// The `fn` items declared in the body.
    local_fns: Vec<String>,
    /// Whether each parameter is a shared reference.
    param_by_ref: Vec<bool>,
    /// What the array errors add when a parameter taken for a struct may be an alias of an
    /// array (`x0: State`), which the macro cannot see through; empty when none may be.
    struct_aliases: String,
    /// Parameters that are maps or sets (`qty: &HashMap<usize, f64>`), which a loop cannot
    /// index, by name, and their values (a later `let` of the name is not one).
    map_params: BTreeSet<String>,
    map_values: BTreeSet<Value>,
    /// The values of passive parameters behind a shared reference (`labels: &[usize]`): nothing
    /// in the body changes what they point to.
    frozen: BTreeSet<Value>,
    /// The `let` being bound was written `let x = &place;`.
    binding_ref: bool,
    /// The parameter being bound is given a reference to an item that is a reference itself
    /// (see [`scope::Binding::behind_ref`]).
    binding_behind_ref: bool,
    /// The parts of the tuple being bound that are copies, not borrows, whatever
    /// `binding_ref` says of the whole (see [`loops::copied_parts`]).
    binding_owned_parts: Vec<bool>,
    /// The `.sum()` or `.product()` a `let` with a type that is not a float binds
    /// (`let n: usize = labels.iter().sum();`): it adds integers.
    integer_sum: Option<*const syn::ExprMethodCall>,
    /// Struct fields read whole into a tuple, and elements of them: numbers, arrays or rows.
    whole_fields: BTreeSet<Value>,
    /// Values that are structs for sure: struct literals and copies of a struct.
    structs: BTreeSet<Value>,
    /// Fields of struct values (`o.inner`): a method called on one is the field's struct's.
    parts: BTreeSet<Value>,
    /// Results of expressions kept as written (`counts.iter().max().unwrap()`): of a type the
    /// macro does not see, maybe a reference, which `*` then dereferences as written.
    kept_as_written: BTreeSet<Value>,
    /// Results of computations kept as written (and the parts of one a pattern binds), as
    /// lowered: never active (they are cut, or an error when an argument is active), maybe
    /// references (`m.get(&k).unwrap()`). Unlike `kept_as_written`, not passed on to a loop's
    /// carried values, which later iterations may make active.
    opaque_results: BTreeSet<Value>,
    /// Values that are numbers for sure: float parameters, the results of rules, elements of
    /// arrays of numbers.
    numbers: BTreeSet<Value>,
    /// Results of methods called on a `mut` variable, which may be `&mut self` ones (see
    /// `dropped_methods`).
    mutable_receivers: BTreeSet<Value>,
    /// Struct elements read out of an `Option` of a reference to one (`m.atoms.first()` in a
    /// `let mut`, `Some(&m.atoms[i])` in a branch): what its `Some(a)` binds is a reference.
    element_refs: BTreeSet<Value>,
    /// Values matched against an enum's variants (see `enum_data`).
    variant_matched: BTreeSet<Value>,
    /// Borrows of data that is not differentiated (`&nbrs[i]`, an item of `tokens.iter()`):
    /// a `&x` pattern dereferences them.
    borrows: BTreeSet<Value>,
    /// `&b` of a borrow `b`, made for a closure that takes its item by reference (`filter`'s):
    /// a `&x` pattern takes the reference off again (`|&y|` binds `b`).
    reborrows: BTreeMap<Value, Value>,
    /// Arrays of integers declared with their type (`let mut idx: Vec<usize> = ..`), which a
    /// `collect()` assigned to them collects into as written.
    integer_arrays: BTreeMap<Mem, syn::Type>,
    /// Items of a struct's `Vec` field read in a loop, with the place they were read from: a
    /// method called on one (`l.forward(h)` of `for l in &m.layers`) is the element's.
    struct_elements: BTreeMap<Value, (Mem, Vec<Operand>)>,
    /// Arrays made from a value whose type the macro does not see (a call's result, a struct's
    /// field, a row), and copies of them: held as `Vec`s, but maybe arrays, which `let b = a;`
    /// copies rather than moves.
    maybe_arrays: BTreeSet<Mem>,
    /// The arrays tuple variables own, which assigning the tuple writes into.
    tuple_arrays: BTreeSet<Mem>,
    /// The float type is a type parameter: constants lowering makes are written through `Real`.
    generic_float: Option<syn::Ident>,
    /// The function's output, `f32` or `f64`: the type of a `fold` starting from `0.0`, which
    /// Rust infers from where the fold's value goes and the loop the fold becomes cannot.
    output_float: Option<syn::Type>,
    /// How many `Var::Temp`s there are.
    n_temps: usize,
    /// The variables the body assigns, whole or element by element.
    stores: Stores,
    /// The `Vec`s assigned whole, whose length may change.
    resized: BTreeSet<Mem>,
    /// The output array every `return` writes into, in a function that returns an array early.
    ret_mem: Option<Mem>,
}

/// Names starting with `__autodiff` are the generated code's (the loops written out for
/// `flatten` and `fold` hold their accumulators in them): a user's would be shadowed.
fn reserved_names(cx: &Ctxt, body: &syn::Block) {
    struct Finder<'c>(&'c Ctxt, BTreeSet<String>);
    impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
        fn visit_ident(&mut self, ident: &'ast syn::Ident) {
            let name = ident.to_string();
            if name.starts_with("__autodiff") && self.1.insert(name) {
                self.0.error_spanned_by(
                    ident,
                    format!("`{ident}`: names starting with `__autodiff` are reserved for the code `#[differentiate]` writes; rename it"),
                );
            }
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    syn::visit::Visit::visit_block(&mut Finder(cx, BTreeSet::new()), body);
}

impl Lowerer<'_> {
    // Errors and building blocks --------------------------------------------------------------

    pub(super) fn error(&self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        if !self.muted {
            self.cx.error_spanned_by(tokens, message);
        }
    }

    pub(super) fn error_at(&self, span: Span, message: impl std::fmt::Display) {
        if !self.muted {
            self.cx.error_at(span, message);
        }
    }

    pub(super) fn new_value(&mut self, name: Option<String>) -> Value {
        let value = Value(self.values.len() as u32);
        self.values.push(ValueData {
            name,
            aggregate: false,
            passive: false,
            cloned: false,
            by_ref: false,
        });
        value
    }

    pub(super) fn new_mem(
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
    pub(super) fn field_mem(&mut self, base: Mem, member: &syn::Member) -> Mem {
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

    /// A borrow of data that is not differentiated: a reference parameter, an item of
    /// `data.iter()`, `&data[i]`.
    /// A parameter taken by shared reference (`x: &[f64]`), the memory itself, not a field of
    /// one: a name that holds a reference.
    pub(super) fn ref_param(&self, mem: Mem) -> bool {
        let data = &self.mems[mem.index()];
        data.field.is_none() && data.param.is_some_and(|p| self.param_by_ref[p])
    }

    pub(super) fn borrowed(&self, value: Value) -> bool {
        self.values[value.index()].by_ref || self.borrows.contains(&value)
    }

    pub(super) fn push(&mut self, stmt: ir::Stmt) {
        self.blocks.last_mut().expect("a block is open").push(stmt);
    }

    pub(super) fn emit(&mut self, op: Op, args: Vec<Operand>, span: Span) -> Value {
        let result = self.new_value(None);
        let element = |l: &Self, mem: &Mem| {
            let data = &l.mems[mem.index()];
            !data.structured && depth(&args) == data.dims
        };
        if matches!(&op, Op::Rule { .. }) || matches!(&op, Op::Load(mem) if element(self, mem)) {
            self.numbers.insert(result);
        }
        self.push(ir::Stmt::Inst(Inst {
            result,
            op,
            args,
            span,
            ty: None,
        }));
        result
    }

    /// The instruction that computed `value`, when it is one of the last few of the current
    /// block (the parts of `let (a, b) = f(x);` are the last two).
    pub(super) fn last_inst_mut(&mut self, value: Value) -> Option<&mut Inst> {
        const RECENT: usize = 8;
        self.blocks
            .last_mut()?
            .iter_mut()
            .rev()
            .take(RECENT)
            .find_map(|stmt| match stmt {
                ir::Stmt::Inst(inst) if inst.result == value => Some(inst),
                _ => None,
            })
    }

    /// The rows of `val` (`(t, m[i])`, also a matrix of a `Vec` of matrices) as copies of their
    /// own, which can be joined with the arrays of other paths (a `return` of another row, or
    /// of an array) or assigned again.
    pub(super) fn owned_rows(&mut self, val: Val, span: Span) -> Val {
        match val {
            Val::Mem(mem, prefix)
                if self.mems[mem.index()]
                    .dims
                    .checked_sub(depth(&prefix))
                    .is_some_and(|dims| dims > 0 && self.is_part(mem, &prefix, dims)) =>
            {
                self.copy_mem(mem, &prefix, None, span)
            }
            Val::Tuple(parts) => Val::Tuple(
                parts
                    .into_iter()
                    .map(|part| self.owned_rows(part, span))
                    .collect(),
            ),
            val => val,
        }
    }

    /// Whether a value may be an array: a call's result, a struct value, or a struct's field
    /// read whole, which is made one (its shape is unknown; one that is a number is cloned and
    /// its adjoint added whole all the same).
    pub(super) fn maybe_array(&mut self, v: Value) -> bool {
        if self.parts.contains(&v) {
            self.values[v.index()].aggregate = true;
        }
        self.values[v.index()].aggregate
    }

    /// A struct field's value, `p.b` or `p.w[1]`: a whole field may be an array or a struct
    /// (its shape is unknown), so it is cloned out and its adjoint added whole.
    pub(super) fn load_field(&mut self, mem: Mem, prefix: Vec<Operand>, span: Span) -> Value {
        let whole = prefix.is_empty();
        let value = self.emit(Op::Load(mem), prefix, span);
        self.values[value.index()].aggregate = whole;
        value
    }

    /// A value used as a condition or a number.
    pub(super) fn val_operand(&mut self, val: Val, span: Span) -> Operand {
        match val {
            Val::Scalar(operand) => operand,
            Val::Poison => Operand::Poison,
            // A number of a struct (`self.data[i]` of a closure's result): a load.
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured => {
                Operand::Value(self.emit(Op::Load(mem), prefix, span))
            }
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

    pub(super) fn param(&mut self, index: usize, param: &crate::signature::Param) -> ParamRef {
        let name = param.ident.to_string();
        let (dims, vec) = match param.kind {
            ParamKind::Array { dims, .. } => (dims, false),
            ParamKind::Slice { dims, .. } => (dims, true),
            ParamKind::Struct { .. } => {
                let mem = self.new_mem(Some(name.clone()), 0, false, Some(index));
                self.mems[mem.index()].structured = true;
                let val = if param.mutable {
                    // `mut s: State`: the body steps a value of its own, as `let mut s = s;`.
                    let value = self.emit(Op::Load(mem), Vec::new(), param.ident.span());
                    self.values[value.index()].aggregate = true;
                    self.structs.insert(value);
                    Val::Scalar(Operand::Value(value))
                } else {
                    Val::Mem(mem, Vec::new())
                };
                self.declare(Var::user(&name), Some(val));
                return ParamRef::Mem(mem);
            }
            ParamKind::Float | ParamKind::Other => {
                let value = self.new_value(Some(name.clone()));
                if matches!(param.kind, ParamKind::Float) {
                    self.numbers.insert(value);
                }
                self.values[value.index()].by_ref = param.by_ref();
                if param.shared_ref() {
                    self.frozen.insert(value);
                }
                if self.map_params.contains(&name) {
                    self.map_values.insert(value);
                }
                self.declare(Var::user(&name), Some(Val::Scalar(Operand::Value(value))));
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
                len: None,
                ty: None,
                span: param.ident.span(),
            }));
        }
        self.declare(Var::user(&name), Some(Val::Mem(bound, Vec::new())));
        ParamRef::Mem(mem)
    }

    pub(super) fn output(&mut self, result: Val, body: &syn::Block) -> Output {
        let span = match body.stmts.last() {
            Some(stmt) => stmt.span(),
            None => body.brace_token.span.join(),
        };
        match result {
            Val::Scalar(operand) => {
                // A struct's field read whole (`let p = b.x; p`) may be an array: its adjoint,
                // the seed, is added whole.
                if let Operand::Value(v) = operand {
                    self.maybe_array(v);
                }
                Output::Operand(operand)
            }
            Val::Poison => Output::Operand(poison()),
            Val::Tuple(parts) => Output::Tuple(
                parts
                    .into_iter()
                    .map(|part| self.output(part, body))
                    .collect(),
            ),
            Val::Mem(mem, prefix) if self.mems[mem.index()].structured => {
                // A field of a struct returned whole (a number or an array: `b.x`) or an element.
                Output::Operand(Operand::Value(self.load_field(mem, prefix, span)))
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
                        len: None,
                        ty: None,
                        span,
                    }));
                    return Output::Mem(copy);
                }
                Output::Mem(mem)
            }
            // A row (`x[0]` of `&[[f64; 2]]`): returned as a copy of its own.
            Val::Mem(mem, prefix) if self.is_row(mem, &prefix) => {
                let copy = self.copy_mem(mem, &prefix, None, span);
                self.output(copy, body)
            }
            Val::Mem(..) => {
                self.error_at(
                    span,
                    "returning part of an array larger than a row is not supported; copy it into a local array element by element, and return that",
                );
                Output::Operand(poison())
            }
            Val::Unit => {
                self.error_at(span, "the body must end with the value it returns");
                Output::Operand(poison())
            }
            Val::Closure(_) | Val::Option(..) => {
                self.error_at(
                    span,
                    "a differentiated function returns numbers, tuples or arrays of them, not closures or `Option`s",
                );
                Output::Operand(poison())
            }
        }
    }
}

/// The functions declared in the body, in nested blocks too.
fn local_fns(body: &syn::Block) -> Vec<String> {
    struct Fns(Vec<String>);
    impl<'ast> syn::visit::Visit<'ast> for Fns {
        fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
            self.0.push(item.sig.ident.to_string());
        }
    }
    let mut fns = Fns(Vec::new());
    syn::visit::Visit::visit_block(&mut fns, body);
    fns.0
}
