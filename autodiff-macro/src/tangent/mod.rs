//! Forward mode as a transformation of the IR: each active value `v` gains a tangent `t_v`,
//! computed next to it.
//!
//! The tangent of a rule's result is the sum, over its arguments, of the argument's adjoint
//! template with `dy` replaced by the argument's tangent: the templates are linear in `dy`, so
//! `∂y/∂a · t_a` is the template of `a` at `dy = t_a`. There is no second table. The
//! templates become instructions ([`template`]), so the result is an ordinary function of the
//! IR, with the tangents of the active parameters as extra parameters and `(value, tangent)` as
//! its output:
//!
//! ```text
//! y = x.sin() * w          y0 = x.sin()       t0 = t_x * x.cos()
//!                     →    y  = y0 * w        t_y = w * t0 + y0 * t_w
//! ```
//!
//! Code generation writes it as the forward-mode function (`f_jvp`), and the reverse pass
//! differentiates it again for Hessian-vector products: the gradient of the output tangent
//! with respect to the parameters is `H v`, with respect to their tangents the gradient.
//!
//! Arrays get tangent arrays written and read at the same indices; branches and loops carry
//! tangents in phis and carried values beside the primal ones; a call of another
//! differentiated function calls its forward mode (`Op::Call { tangents: true, .. }`).

pub mod template;

use std::collections::BTreeMap;

use proc_macro2::Span;

use crate::analysis::Activity;
use crate::ir::{
    Block, Callee, Carried, Form, Function, If, Inst, Loop, Mem, MemData, MemInit, MemInitKind, Op,
    Operand, Output, ParamRef, Phi, Stmt, Store, Value, ValueData,
};
use crate::rules;
use crate::signature::{OutputType, Param, Signature};
use template::Emit;

/// The forward-mode function, and where its tangent parameters are.
pub struct Tangents {
    pub function: Function,
    /// For each parameter of the original function, the index of its tangent's parameter.
    pub tangent_params: Vec<Option<usize>>,
}

/// A construct forward mode cannot go through, with where it is.
pub struct Unsupported {
    pub span: Span,
    pub message: String,
}

pub fn transform(
    function: &Function,
    activity: &Activity,
    active_params: &[bool],
    generic_float: Option<&syn::Ident>,
) -> Result<Tangents, Unsupported> {
    let n = function.params.len();
    let mut tangent_params = vec![None; n];
    let mut next = n;
    for (index, active) in active_params.iter().enumerate() {
        if *active {
            tangent_params[index] = Some(next);
            next += 1;
        }
    }
    let mut tx = Transform {
        old: function,
        activity,
        values: function.values.clone(),
        mems: function.mems.clone(),
        tan: BTreeMap::new(),
        tan_mem: BTreeMap::new(),
        tangent_params: tangent_params.clone(),
        generic_float,
    };
    let mut params = function.params.clone();
    for (index, param) in function.params.iter().enumerate() {
        if tangent_params[index].is_some() {
            params.push(match *param {
                ParamRef::Value(v) => ParamRef::Value(tx.tangent_value(v)),
                ParamRef::Mem(m) => ParamRef::Mem(tx.tangent_mem(m)),
            });
        }
    }
    // Fields of a struct parameter are memories of their own, sharing the struct's tangent.
    for index in 0..function.mems.len() {
        let mem = Mem(index as u32);
        if let Some((root, _)) = &function.mems[index].field {
            if tx.tan_mem.contains_key(root) && !tx.tan_mem.contains_key(&mem) {
                tx.tangent_mem(mem);
            }
        }
    }
    let mut stmts = Vec::new();
    tx.block(&function.body, &mut stmts)?;
    let tangent_output = tx.output(&function.output, &mut stmts);
    Ok(Tangents {
        function: Function {
            params,
            body: Block { stmts },
            output: Output::Tuple(vec![function.output.clone(), tangent_output]),
            values: tx.values,
            mems: tx.mems,
            items: function.items.clone(),
        },
        tangent_params,
    })
}

struct Transform<'a> {
    old: &'a Function,
    activity: &'a Activity,
    values: Vec<ValueData>,
    mems: Vec<MemData>,
    tan: BTreeMap<Value, Value>,
    tan_mem: BTreeMap<Mem, Mem>,
    /// For each parameter, the index of its tangent's parameter.
    tangent_params: Vec<Option<usize>>,
    generic_float: Option<&'a syn::Ident>,
}

impl Transform<'_> {
    /// A new value for the tangent of `value`, named after it.
    fn tangent_value(&mut self, value: Value) -> Value {
        let data = &self.old.values[value.index()];
        let tangent = Value(self.values.len() as u32);
        self.values.push(ValueData {
            name: data.name.as_ref().map(|name| tangent_name(name)),
            by_ref: data.by_ref,
            aggregate: data.aggregate,
            passive: false,
            cloned: false,
        });
        self.tan.insert(value, tangent);
        tangent
    }

    fn tangent_mem(&mut self, mem: Mem) -> Mem {
        let data = &self.old.mems[mem.index()];
        let field = data.field.as_ref().map(|(root, path)| {
            let root = match self.tan_mem.get(root) {
                Some(root) => *root,
                None => self.tangent_mem(*root),
            };
            (root, path.clone())
        });
        let tangent = Mem(self.mems.len() as u32);
        self.mems.push(MemData {
            name: data.name.as_ref().map(|name| tangent_name(name)),
            dims: data.dims,
            vec: data.vec,
            param: data.param.and_then(|p| self.tangent_params[p]),
            structured: data.structured,
            field,
        });
        self.tan_mem.insert(mem, tangent);
        tangent
    }

    fn emit<'e>(&'e mut self, stmts: &'e mut Vec<Stmt>, span: Span) -> Emit<'e> {
        Emit {
            stmts,
            values: &mut self.values,
            span,
            generic_float: self.generic_float,
        }
    }

    /// The tangent of an operand, if it has one (it varies with the active inputs).
    fn tangent(&self, operand: &Operand) -> Option<Operand> {
        match operand {
            Operand::Value(v) => self.tan.get(v).map(|t| Operand::Value(*t)),
            Operand::Mem(m, indices) => self
                .tan_mem
                .get(m)
                .map(|t| Operand::Mem(*t, indices.clone())),
            _ => None,
        }
    }

    /// The tangent of an operand, or a zero of its shape.
    fn tangent_or_zero(&mut self, operand: &Operand, stmts: &mut Vec<Stmt>, span: Span) -> Operand {
        if let Some(t) = self.tangent(operand) {
            return t;
        }
        match operand {
            Operand::Value(v) if self.values[v.index()].aggregate => {
                let (hole, private) = (
                    crate::ir::Opaque::hole(0),
                    quote::quote!(::autodiff_core::__private),
                );
                let op = Op::Opaque(crate::ir::Opaque::cut(
                    quote::quote!(#private::zero_grad(&#hole)),
                ));
                let mut emit = self.emit(stmts, span);
                let zero = emit.inst(op, vec![operand.clone()]);
                self.values[zero.index()].aggregate = true;
                Operand::Value(zero)
            }
            _ => self.emit(stmts, span).zero(),
        }
    }

    /// The tangent of a struct literal's member that does not vary, whose type the macro
    /// cannot see: a zero, or a copy of a field that is not differentiated.
    fn constant_tangent(
        &mut self,
        operand: &Operand,
        stmts: &mut Vec<Stmt>,
        span: Span,
    ) -> Operand {
        let hole = crate::ir::Opaque::hole(0);
        let op = Op::Opaque(crate::ir::Opaque::cut(quote::quote!(
            ::autodiff_core::__private::constant_tangent(&#hole)
        )));
        let mut emit = self.emit(stmts, span);
        let tangent = emit.inst(op, vec![operand.clone()]);
        self.values[tangent.index()].aggregate = true;
        Operand::Value(tangent)
    }

    fn block(&mut self, block: &Block, out: &mut Vec<Stmt>) -> Result<(), Unsupported> {
        for stmt in &block.stmts {
            match stmt {
                Stmt::Inst(inst) => self.inst(inst, out)?,
                Stmt::Store(store) => {
                    out.push(stmt.clone());
                    if let Some(t_mem) = self.tan_mem.get(&store.mem).copied() {
                        let value = self.tangent_or_zero(&store.value, out, store.span);
                        out.push(Stmt::Store(Store {
                            mem: t_mem,
                            indices: store.indices.clone(),
                            value,
                            push: store.push,
                            span: store.span,
                        }));
                    }
                }
                Stmt::MemInit(init) => {
                    out.push(stmt.clone());
                    if self.activity.active_mem(init.mem) {
                        let t_mem = match self.tan_mem.get(&init.mem) {
                            Some(t) => *t,
                            None => self.tangent_mem(init.mem),
                        };
                        let kind = self.mem_init_kind(init, out);
                        out.push(Stmt::MemInit(MemInit {
                            mem: t_mem,
                            kind,
                            declare: init.declare,
                            len: init.len,
                            ty: init.ty.clone(),
                            span: init.span,
                        }));
                    }
                }
                Stmt::If(if_) => self.if_(if_, out)?,
                Stmt::Loop(loop_) => self.loop_(loop_, out)?,
            }
        }
        Ok(())
    }

    fn mem_init_kind(&mut self, init: &MemInit, out: &mut Vec<Stmt>) -> MemInitKind {
        let span = init.span;
        match &init.kind {
            MemInitKind::Repeat { elem, lens, vecs } => MemInitKind::Repeat {
                elem: self.tangent_or_zero(elem, out, span),
                lens: lens.clone(),
                vecs: vecs.clone(),
            },
            MemInitKind::List { elems, row } => MemInitKind::List {
                elems: elems
                    .iter()
                    .map(|e| self.tangent_or_zero(e, out, span))
                    .collect(),
                row: *row,
            },
            MemInitKind::Copy { src } => match self.tan_mem.get(src) {
                Some(t) => MemInitKind::Copy { src: *t },
                None => MemInitKind::ZeroLike(Operand::Mem(*src, Vec::new())),
            },
            MemInitKind::FromValue(value) => match self.tan.get(value) {
                Some(t) => MemInitKind::FromValue(*t),
                None => MemInitKind::ZeroLike(Operand::Value(*value)),
            },
            MemInitKind::ZeroLike(like) => MemInitKind::ZeroLike(like.clone()),
            MemInitKind::RowsLike { like, cap } => MemInitKind::RowsLike {
                like: like.clone(),
                cap: cap.clone(),
            },
            MemInitKind::Placeholder => MemInitKind::Placeholder,
            MemInitKind::Empty { capacity } => MemInitKind::Empty {
                capacity: capacity.clone(),
            },
        }
    }

    fn inst(&mut self, inst: &Inst, out: &mut Vec<Stmt>) -> Result<(), Unsupported> {
        let result = inst.result;
        if !self.activity.active(result) {
            out.push(Stmt::Inst(inst.clone()));
            return Ok(());
        }
        let span = inst.span;
        // The tangent's instruction, when it is one instruction over the tangents.
        let single = match &inst.op {
            Op::Rule { rule, form } => self.rule_inst(inst, *rule, form, out)?,
            Op::Copy | Op::Field(_) | Op::Index | Op::Load(_) | Op::Snapshot(_) => {
                out.push(Stmt::Inst(inst.clone()));
                let op = match &inst.op {
                    Op::Load(mem) => Op::Load(self.tan_mem_of(*mem, span)?),
                    Op::Snapshot(mem) => Op::Snapshot(self.tan_mem_of(*mem, span)?),
                    op => op.clone(),
                };
                let mut args = inst.args.clone();
                if !matches!(inst.op, Op::Load(_) | Op::Snapshot(_)) {
                    args[0] = self.tangent_or_zero(&inst.args[0], out, span);
                }
                Some(tangent_inst(op, args, span))
            }
            Op::Call {
                callee,
                written_ref,
                by_ref,
                cut,
                tangents: false,
            } => Some(self.call_inst(inst, callee, [written_ref, by_ref, cut], out)),
            // The tangent of a struct literal is the literal of its members' tangents, that of
            // a struct with a field replaced the tangent's field replaced. The constant
            // members' tangents are made first: the literal moves its members.
            Op::Struct { .. } | Op::WithField { .. } => {
                let mut args = Vec::new();
                for arg in &inst.args {
                    args.push(match self.tangent(arg) {
                        Some(t) => t,
                        None => self.constant_tangent(arg, out, span),
                    });
                }
                out.push(Stmt::Inst(inst.clone()));
                let op = match &inst.op {
                    Op::Struct { path, members, .. } => Op::Struct {
                        path: path.clone(),
                        members: members.clone(),
                        tangent: true,
                    },
                    Op::WithField { member, .. } => Op::WithField {
                        member: member.clone(),
                        tangent: true,
                    },
                    _ => unreachable!("matched above"),
                };
                Some(tangent_inst(op, args, span))
            }
            Op::Opaque(_) | Op::Len(_) | Op::Call { tangents: true, .. } => {
                out.push(Stmt::Inst(inst.clone()));
                None
            }
        };
        if let Some(tangent) = single {
            let t_result = self.tangent_value(result);
            out.push(Stmt::Inst(Inst {
                result: t_result,
                ..tangent
            }));
        }
        Ok(())
    }

    /// A rule's instruction and its tangent's instructions; the tangent's last one if it is
    /// still to be written (its result not yet allocated), `None` if the tangent is recorded.
    fn rule_inst(
        &mut self,
        inst: &Inst,
        rule: rules::RuleId,
        form: &Form,
        out: &mut Vec<Stmt>,
    ) -> Result<Option<Inst>, Unsupported> {
        let (result, span) = (inst.result, inst.span);
        out.push(Stmt::Inst(inst.clone()));
        if let Form::Cast(ty) = form {
            // The only rule whose result has another type than its argument: the
            // tangent is cast forward, where the adjoint is cast back.
            let t = self.tangent_or_zero(&inst.args[0], out, span);
            return Ok(Some(tangent_inst(
                Op::Rule {
                    rule,
                    form: Form::Cast(ty.clone()),
                },
                vec![t],
                span,
            )));
        }
        let first_new = self.values.len();
        Ok(match self.rule_tangent(inst, rule, out)? {
            // The last instruction of the template: named as the tangent.
            Operand::Value(t) if t.index() >= first_new => {
                self.values[t.index()].name = self.old.values[result.index()]
                    .name
                    .as_ref()
                    .map(|name| tangent_name(name));
                self.tan.insert(result, t);
                None
            }
            // `dy` itself (addition passes the tangent through).
            Operand::Value(t) => {
                self.tan.insert(result, t);
                None
            }
            t => Some(tangent_inst(Op::Copy, vec![t], span)),
        })
    }

    /// `(y, t_y) = f_jvp(args, tangents)`: writes the call and `y`; returns the instruction
    /// that reads `t_y`.
    fn call_inst(
        &mut self,
        inst: &Inst,
        callee: &Callee,
        [written_ref, by_ref, cut]: [&[bool]; 3],
        out: &mut Vec<Stmt>,
    ) -> Inst {
        let span = inst.span;
        let pair = Value(self.values.len() as u32);
        self.values.push(ValueData {
            name: None,
            by_ref: false,
            aggregate: true,
            passive: false,
            cloned: false,
        });
        let mut args = inst.args.clone();
        for (arg, &cut) in inst.args.iter().zip(cut) {
            let tangent = self.tangent(arg).filter(|_| !cut);
            args.push(tangent.unwrap_or(Operand::Undef));
        }
        out.push(Stmt::Inst(Inst {
            result: pair,
            op: Op::Call {
                callee: callee.clone(),
                written_ref: [written_ref, written_ref].concat(),
                by_ref: [by_ref, by_ref].concat(),
                cut: [cut, cut].concat(),
                tangents: true,
            },
            args,
            span,
            ty: None,
        }));
        let member = |k: u32| Op::Field(syn::Member::Unnamed(syn::Index { index: k, span }));
        out.push(Stmt::Inst(Inst {
            result: inst.result,
            op: member(0),
            args: vec![Operand::Value(pair)],
            span,
            ty: inst.ty.clone(),
        }));
        tangent_inst(member(1), vec![Operand::Value(pair)], span)
    }

    fn tan_mem_of(&mut self, mem: Mem, span: Span) -> Result<Mem, Unsupported> {
        self.tan_mem.get(&mem).copied().ok_or_else(|| Unsupported {
            span,
            message: "internal error in autodiff: a varying value read from an array without a tangent; this is a bug in autodiff, not in your code: please report it with this function".into(),
        })
    }

    /// `Σ_k template_k[dy := t_k]` over the arguments that have a tangent.
    fn rule_tangent(
        &mut self,
        inst: &Inst,
        rule: rules::RuleId,
        out: &mut Vec<Stmt>,
    ) -> Result<Operand, Unsupported> {
        let row = rule.rule();
        let mut terms = Vec::new();
        for (k, template) in row.adjoints.iter().enumerate() {
            let (Some(template), Some(t)) = (template, self.tangent(&inst.args[k])) else {
                continue;
            };
            let args = inst.args.clone();
            let result = Operand::Value(inst.result);
            let bind = |name: &str| match name {
                "a" => args.first().cloned(),
                "b" => args.get(1).cloned(),
                "c" => args.get(2).cloned(),
                "y" => Some(result.clone()),
                "dy" => Some(t.clone()),
                _ => None,
            };
            let mut emit = self.emit(out, inst.span);
            // `dy` itself (addition) is the tangent, with no instruction.
            let term = template::compile(&mut emit, template, &bind).map_err(|e| Unsupported {
                span: inst.span,
                message: format!("internal error in autodiff (the rule of `{}`: {e}); this is a bug in autodiff, not in your code: please report it with this function", row.name),
            })?;
            terms.push(term);
        }
        let mut emit = self.emit(out, inst.span);
        let mut terms = terms.into_iter();
        let first = terms.next().unwrap_or_else(|| emit.zero());
        Ok(terms.fold(first, |sum, term| {
            emit.binary(syn::parse_quote!(+), "add", sum, term)
        }))
    }

    fn if_(&mut self, if_: &If, out: &mut Vec<Stmt>) -> Result<(), Unsupported> {
        let mut then_block = Vec::new();
        self.block(&if_.then_block, &mut then_block)?;
        let mut else_block = Vec::new();
        self.block(&if_.else_block, &mut else_block)?;
        let mut phis = if_.phis.clone();
        for phi in &if_.phis {
            if !self.activity.active(phi.result) {
                continue;
            }
            // A side that is never read (`undef`: the path has not assigned it) has a tangent
            // never read either, of the other side's type (a struct's, not a number's).
            let mut side = |value: &Operand, block: &mut Vec<Stmt>| match value {
                Operand::Undef => Operand::Undef,
                value => self.tangent_or_zero(value, block, if_.span),
            };
            let then_value = side(&phi.then_value, &mut then_block);
            let else_value = side(&phi.else_value, &mut else_block);
            let result = self.tangent_value(phi.result);
            phis.push(Phi {
                result,
                then_value,
                else_value,
            });
        }
        out.push(Stmt::If(If {
            cond: if_.cond.clone(),
            then_block: Block { stmts: then_block },
            else_block: Block { stmts: else_block },
            phis,
            record: if_.record,
            span: if_.span,
        }));
        Ok(())
    }

    fn loop_(&mut self, loop_: &Loop, out: &mut Vec<Stmt>) -> Result<(), Unsupported> {
        // The tangents of the carried values exist before the body reads them.
        let mut carried = loop_.carried.clone();
        let mut tangent_carried = Vec::new();
        for c in &loop_.carried {
            if self.activity.active(c.param) || self.activity.active(c.result) {
                let init = self.tangent_or_zero(&c.init, out, loop_.span);
                let param = self.tangent_value(c.param);
                let result = self.tangent_value(c.result);
                tangent_carried.push((c, init, param, result));
            }
        }
        let mut body = Vec::new();
        self.block(&loop_.body, &mut body)?;
        let params: Vec<Value> = tangent_carried.iter().map(|t| t.2).collect();
        for (c, init, param, result) in tangent_carried {
            let mut next = self.tangent_or_zero(&c.next, &mut body, loop_.span);
            // A carried value's next is never a carried parameter (lowering copies those, as
            // the reverse pass needs), but a tangent can be one: `ap += 1.0` leaves `t_ap` as
            // it was. A copy keeps the invariant.
            if let Operand::Value(v) = next {
                if params.contains(&v) {
                    let copy = self.emit(&mut body, loop_.span).inst(Op::Copy, vec![next]);
                    self.values[copy.index()].aggregate = self.values[v.index()].aggregate;
                    next = Operand::Value(copy);
                }
            }
            carried.push(Carried {
                init,
                param,
                next,
                result,
            });
        }
        out.push(Stmt::Loop(Loop {
            kind: loop_.kind.clone(),
            carried,
            body: Block { stmts: body },
            exit: loop_.exit.clone(),
            count: loop_.count,
            span: loop_.span,
        }));
        Ok(())
    }

    fn output(&mut self, output: &Output, out: &mut Vec<Stmt>) -> Output {
        match output {
            Output::Operand(operand) | Output::Passive(operand) => {
                Output::Operand(self.tangent_or_zero(operand, out, Span::call_site()))
            }
            Output::Tuple(parts) => {
                Output::Tuple(parts.iter().map(|p| self.output(p, out)).collect())
            }
            Output::Mem(mem) => match self.tan_mem.get(mem) {
                Some(t) => Output::Mem(*t),
                None => {
                    // A constant array: its tangent is zeros of its shape.
                    let t = self.tangent_mem(*mem);
                    out.push(Stmt::MemInit(MemInit {
                        mem: t,
                        kind: MemInitKind::ZeroLike(Operand::Mem(*mem, Vec::new())),
                        declare: true,
                        len: None,
                        ty: None,
                        span: Span::call_site(),
                    }));
                    Output::Mem(t)
                }
            },
        }
    }
}

fn tangent_name(name: &str) -> String {
    format!("t_{}", name.trim_start_matches("r#"))
}

/// The forward-mode function's signature, called `ident`: the parameters, then one tangent
/// for each active parameter (`t_x: f64`, `t_v: &[f64]`, of the parameter's own type),
/// returning `(value, tangent)`. With `second_order`, the parameters that were active and all
/// the tangents are active: the reverse pass over the forward-mode function gives `H v` in
/// the former and the gradient in the latter.
pub fn signature(
    sig: &Signature,
    tangent_params: &[Option<usize>],
    ident: syn::Ident,
    second_order: bool,
) -> Signature {
    let mut params: Vec<Param> = sig
        .params
        .iter()
        .map(|p| Param {
            active: second_order && p.active,
            ..p.clone()
        })
        .collect();
    let taken: Vec<String> = sig.params.iter().map(|p| p.ident.to_string()).collect();
    for (index, (param, tangent)) in sig.params.iter().zip(tangent_params).enumerate() {
        if tangent.is_none() {
            continue;
        }
        let mut name = tangent_name(&param.ident.to_string());
        while taken.contains(&name) {
            name = format!("_{name}");
        }
        params.push(Param {
            ident: syn::Ident::new(&name, param.ident.span()),
            ty: param.ty.clone(),
            kind: param.kind.clone(),
            mutable: false,
            active: second_order,
            tangent_of: Some(index),
        });
    }
    let output = sig.output.as_ref().map(|output| {
        let ty = &output.ty;
        OutputType {
            ty: syn::parse_quote!((#ty, #ty)),
            array: None,
            scalar: false,
        }
    });
    Signature {
        ident,
        params,
        output,
        impl_generics: sig.impl_generics.clone(),
        generic_float: sig.generic_float.clone(),
    }
}

/// A tangent's instruction, its result still to be allocated.
fn tangent_inst(op: Op, args: Vec<Operand>, span: Span) -> Inst {
    Inst {
        result: Value(0),
        op,
        args,
        span,
        ty: None,
    }
}
