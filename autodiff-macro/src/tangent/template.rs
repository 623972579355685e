//! A rule's template as instructions: the tangent of an operation is its adjoint template with
//! `dy` replaced by an argument's tangent, written into the IR so that a Hessian can
//! differentiate it like any other computation.
//!
//! Templates use a small part of Rust: float literals, the placeholders, `+ - * /`, unary `-`,
//! comparisons (as the first argument of `pick`), methods with a row in the rules table, and
//! the helpers of `autodiff_core::__private` that have a (private) row. The test at the end
//! compiles every template, so a template outside that part fails the tests, not a user.

use proc_macro2::{Span, TokenStream};
use quote::quote;

use crate::ir::{Form, Inst, Op, Opaque, Operand, Stmt, Value, ValueData};
use crate::rules::{self, RuleId};

/// Where compiled instructions go, and the new values they define.
pub struct Emit<'a> {
    pub stmts: &'a mut Vec<Stmt>,
    pub values: &'a mut Vec<ValueData>,
    pub span: Span,
    /// The float type when it is a type parameter: literals are written through `Real`.
    pub generic_float: Option<&'a syn::Ident>,
}

impl Emit<'_> {
    pub fn value(&mut self, name: Option<String>) -> Value {
        let value = Value(self.values.len() as u32);
        self.values.push(ValueData {
            name,
            by_ref: false,
            aggregate: false,
            passive: false,
            cloned: false,
        });
        value
    }

    pub fn inst(&mut self, op: Op, args: Vec<Operand>) -> Value {
        let result = self.value(None);
        self.stmts.push(Stmt::Inst(Inst {
            result,
            op,
            args,
            span: self.span,
            ty: None,
        }));
        result
    }

    /// `a + b`, `a * b`, ... as a rule instruction.
    pub fn binary(&mut self, op: syn::BinOp, name: &str, a: Operand, b: Operand) -> Operand {
        let rule = rules::lookup(name, 2).expect("arithmetic rules are in the table");
        let form = Form::Binary(op);
        Operand::Value(self.inst(Op::Rule { rule, form }, vec![a, b]))
    }

    pub fn neg(&mut self, a: Operand) -> Operand {
        let rule = rules::lookup("neg", 1).expect("neg is in the table");
        Operand::Value(self.inst(
            Op::Rule {
                rule,
                form: Form::Neg,
            },
            vec![a],
        ))
    }

    /// A float constant in the function's float type.
    pub fn constant(&self, literal: TokenStream) -> Operand {
        let tokens = match self.generic_float {
            Some(t) => quote!(::autodiff_core::__private::lit::<#t>(#literal)),
            None => literal,
        };
        Operand::Const(crate::ir::Const {
            tokens,
            atomic: self.generic_float.is_none(),
        })
    }

    pub fn zero(&self) -> Operand {
        self.constant(quote!(0.0))
    }
}

/// The instructions computing `template` with each placeholder (`a`, `b`, `c`, `y`, `dy`) bound
/// by `bind`; the operand holding the result.
pub fn compile(
    emit: &mut Emit,
    template: &str,
    bind: &impl Fn(&str) -> Option<Operand>,
) -> Result<Operand, String> {
    let expr: syn::Expr = syn::parse_str(template).map_err(|e| e.to_string())?;
    expression(emit, &expr, bind)
}

fn expression(
    emit: &mut Emit,
    expr: &syn::Expr,
    bind: &impl Fn(&str) -> Option<Operand>,
) -> Result<Operand, String> {
    use syn::{BinOp, Expr, UnOp};
    match expr {
        Expr::Paren(paren) => expression(emit, &paren.expr, bind),
        Expr::Lit(lit) => Ok(emit.constant(quote!(#lit))),
        Expr::Path(path) => {
            let name = path
                .path
                .get_ident()
                .ok_or("a path that is not a placeholder")?;
            bind(&name.to_string()).ok_or_else(|| format!("unknown placeholder `{name}`"))
        }
        Expr::Unary(unary) if matches!(unary.op, UnOp::Neg(_)) => {
            let a = expression(emit, &unary.expr, bind)?;
            Ok(emit.neg(a))
        }
        Expr::Binary(binary) => {
            let a = expression(emit, &binary.left, bind)?;
            let b = expression(emit, &binary.right, bind)?;
            let name = match binary.op {
                BinOp::Add(_) => "add",
                BinOp::Sub(_) => "sub",
                BinOp::Mul(_) => "mul",
                BinOp::Div(_) => "div",
                BinOp::Eq(_) | BinOp::Ne(_) | BinOp::Lt(_) | BinOp::Gt(_) => {
                    // A comparison has no derivative: an opaque value, cut.
                    let op = binary.op;
                    let (h0, h1) = (Opaque::hole(0), Opaque::hole(1));
                    let value = emit.inst(Op::Opaque(Opaque::cut(quote!(#h0 #op #h1))), vec![a, b]);
                    return Ok(Operand::Value(value));
                }
                _ => return Err("an operator without a rule".into()),
            };
            Ok(emit.binary(binary.op, name, a, b))
        }
        Expr::MethodCall(call) => {
            let mut args = vec![expression(emit, &call.receiver, bind)?];
            for arg in &call.args {
                args.push(expression(emit, arg, bind)?);
            }
            let name = call.method.to_string();
            let rule = rules::lookup(&name, args.len())
                .ok_or_else(|| format!("method `{name}` has no rule"))?;
            let form = Form::Method(call.method.clone());
            Ok(Operand::Value(emit.inst(Op::Rule { rule, form }, args)))
        }
        Expr::Call(call) => {
            let syn::Expr::Path(path) = &*call.func else {
                return Err("a call of something other than a path".into());
            };
            let name = path
                .path
                .segments
                .last()
                .map(|s| s.ident.to_string())
                .unwrap_or_default();
            let mut args = Vec::new();
            for arg in &call.args {
                args.push(expression(emit, arg, bind)?);
            }
            let rule: RuleId = rules::lookup_private(&name, args.len())
                .ok_or_else(|| format!("helper `{name}` has no row"))?;
            let form = Form::Path(path.clone());
            Ok(Operand::Value(emit.inst(Op::Rule { rule, form }, args)))
        }
        _ => Err("an expression templates do not use".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Const;

    /// The templates of the rows a user's code can reach; the helpers they call have rows of
    /// their own (whose templates only the reverse pass writes, as text).
    #[test]
    fn every_template_compiles_to_instructions() {
        for rule in rules::RULES.iter().filter(|rule| !rule.private) {
            for template in rule.adjoints.iter().flatten() {
                let mut stmts = Vec::new();
                let mut values = Vec::new();
                let mut emit = Emit {
                    stmts: &mut stmts,
                    values: &mut values,
                    span: Span::call_site(),
                    generic_float: None,
                };
                let bind = |name: &str| {
                    ["a", "b", "c", "y", "dy"].contains(&name).then(|| {
                        Operand::Const(Const {
                            tokens: name.parse().unwrap(),
                            atomic: true,
                        })
                    })
                };
                if let Err(e) = compile(&mut emit, template, &bind) {
                    panic!("{}: `{template}`: {e}", rule.name);
                }
            }
        }
    }
}
