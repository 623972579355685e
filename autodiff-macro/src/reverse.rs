//! The reverse pass: walks the instructions backwards and, for each active one, emits the
//! adjoint contribution of its rule into each active argument.
//!
//! ```text
//! apple_price = mul(apple, apple_num)      d_price         = seed
//! all_price   = add(apple_price, ...)  →   d_all_price    += mul.b(tax, d_price)  (tax * d_price)
//! price       = mul(all_price, tax)        d_tax          += mul.a(all_price, d_price)
//!                                          d_apple_price  += add.a(d_all_price)   ...
//! ```
//!
//! The result is a list of statements over values and rule rows; code generation chooses the
//! names and the Rust syntax (`let` for a first contribution, `+=` after).

use crate::analysis::Activity;
use crate::ir::{Function, Op, Value};

pub struct Backward {
    /// In execution order.
    pub stmts: Vec<BwdStmt>,
}

pub enum BwdStmt {
    /// The adjoint of `target` starts at zero: the next write adds into it through `&mut`.
    Zero(Value),
    /// `d_target += term`.
    Add { target: Value, term: Term },
    /// The pullback of the call that defined `call`, adding into the adjoint of each argument
    /// that has a target.
    Pullback {
        call: Value,
        targets: Vec<Option<Value>>,
    },
    /// The adjoint of parameter `param` goes to the caller.
    Output { param: usize, value: Value },
}

pub enum Term {
    /// The incoming adjoint of the output.
    Seed,
    /// Argument `arg` of the rule of the instruction that defined `inst`.
    Rule { inst: Value, arg: usize },
    /// The adjoint of another value (through a copy).
    Adjoint(Value),
}

pub fn reverse(function: &Function, activity: &Activity) -> Backward {
    let mut out = Emitter {
        stmts: Vec::new(),
        written: vec![false; function.values.len()],
    };
    if let Some(output) = activity.active_operand(&function.output) {
        out.add(output, Term::Seed);
    }
    for inst in function.insts().rev() {
        if !activity.active(inst.result) {
            continue;
        }
        match &inst.op {
            Op::Copy => {
                if let Some(arg) = activity.active_operand(&inst.args[0]) {
                    out.add(arg, Term::Adjoint(inst.result));
                }
            }
            Op::Rule { rule, .. } => {
                for (arg, operand) in inst.args.iter().enumerate() {
                    let Some(target) = activity.active_operand(operand) else {
                        continue;
                    };
                    if rule.rule().adjoints[arg].is_some() {
                        out.add(
                            target,
                            Term::Rule {
                                inst: inst.result,
                                arg,
                            },
                        );
                    }
                }
            }
            Op::Call { .. } => {
                let targets: Vec<Option<Value>> = inst
                    .args
                    .iter()
                    .map(|arg| activity.active_operand(arg))
                    .collect();
                // The callee adds into the adjoints through `&mut`: they must exist first.
                for target in targets.iter().flatten() {
                    if !out.written[target.index()] {
                        out.written[target.index()] = true;
                        out.stmts.push(BwdStmt::Zero(*target));
                    }
                }
                out.stmts.push(BwdStmt::Pullback {
                    call: inst.result,
                    targets,
                });
            }
            // Never active: the analysis makes them constants.
            Op::Opaque(_) | Op::Field(_) => {}
        }
    }
    for (param, &value) in function.params.iter().enumerate() {
        if out.written[value.index()] {
            out.stmts.push(BwdStmt::Output { param, value });
        }
    }
    Backward { stmts: out.stmts }
}

struct Emitter {
    stmts: Vec<BwdStmt>,
    /// Whether each value's adjoint has received a contribution yet.
    written: Vec<bool>,
}

impl Emitter {
    fn add(&mut self, target: Value, term: Term) {
        self.written[target.index()] = true;
        self.stmts.push(BwdStmt::Add { target, term });
    }
}
