//! Activity analysis, run once; its facts drive the checks, the reverse pass and code generation.
//!
//! A value is *varied* when it depends differentiably on an active parameter, *useful* when the
//! output depends differentiably on it, and *active* when both: only active values get an
//! adjoint. The analysis also reports what needs activity to be known: an operation without a
//! derivative rule applied to a varied value.

use crate::ctxt::Ctxt;
use crate::ir::{Function, Op, Operand, Value};
use crate::signature::Signature;

pub struct Activity {
    varied: Vec<bool>,
    useful: Vec<bool>,
}

impl Activity {
    pub fn active(&self, value: Value) -> bool {
        self.varied[value.index()] && self.useful[value.index()]
    }

    pub fn active_operand(&self, operand: &Operand) -> Option<Value> {
        operand.value().filter(|v| self.active(*v))
    }
}

pub fn analyze(cx: &Ctxt, function: &Function, sig: &Signature) -> Activity {
    let n_values = function.values.len();
    let mut varied = vec![false; n_values];
    for (param, value) in sig.params.iter().zip(&function.params) {
        varied[value.index()] = param.active;
    }
    let is_varied =
        |varied: &[bool], operand: &Operand| operand.value().is_some_and(|v| varied[v.index()]);

    for inst in function.insts() {
        let result = match &inst.op {
            Op::Copy => is_varied(&varied, &inst.args[0]),
            Op::Rule { rule, .. } => {
                let rule = rule.rule();
                inst.args
                    .iter()
                    .zip(rule.adjoints)
                    .any(|(arg, adjoint)| adjoint.is_some() && is_varied(&varied, arg))
            }
            Op::Call { .. } => inst.args.iter().any(|arg| is_varied(&varied, arg)),
            Op::Opaque(opaque) => {
                if !opaque.cut && inst.args.iter().any(|arg| is_varied(&varied, arg)) {
                    cx.error_at(
                        inst.span,
                        format!(
                            "{} has no derivative rule, and it is applied to a value that depends on a differentiated parameter; use an operation that has a rule, or wrap the value in `no_grad(..)` to treat it as a constant",
                            opaque.what
                        ),
                    );
                }
                false
            }
            Op::Field(_) => false,
        };
        varied[inst.result.index()] = result;
    }

    let mut useful = vec![false; n_values];
    if let Some(output) = function.output.value() {
        useful[output.index()] = true;
    }
    for inst in function.insts().rev() {
        if !(useful[inst.result.index()] && varied[inst.result.index()]) {
            continue;
        }
        let differentiable: Vec<bool> = match &inst.op {
            Op::Rule { rule, .. } => rule.rule().adjoints.iter().map(Option::is_some).collect(),
            Op::Copy | Op::Call { .. } => vec![true; inst.args.len()],
            Op::Opaque(_) | Op::Field(_) => vec![false; inst.args.len()],
        };
        for (arg, differentiable) in inst.args.iter().zip(differentiable) {
            if let (Some(value), true) = (arg.value(), differentiable) {
                useful[value.index()] = true;
            }
        }
    }

    Activity { varied, useful }
}
