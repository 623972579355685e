#!/usr/bin/env python3
"""Times JAX's gradients of the benchmark problems, for comparison with `bench_table`.

Not part of CI. Needs `pip install "jax[cpu]"`. The inputs, and the value and gradient the
Rust generated code computes for them, come from the Rust side:

    cargo run --release --example jax_inputs            # writes target/jax_inputs.json
    python3 benches/jax/compare.py [target/jax_inputs.json] [--budget-ms 500] [--threads]

(`AUTODIFF_BENCH_LARGE=1` for `jax_inputs` adds the larger GMM sizes.) Every JAX result is
checked against the Rust one (value to 1e-12 relative, gradient to 1e-10 of its largest
component) before anything is timed. In float64 on the CPU, single-threaded unless `--threads`
(the Rust code runs on one thread). Three times per problem, each the median over batches of
calls (a batch lasts at least 1 ms; batches repeat for the time budget, at least 5):

- `jit`: one call of `jax.jit(jax.value_and_grad(f))` followed by `block_until_ready()`, from
  Python, as a user calls it (dispatch included);
- `compiled`: the same through the executable `jitted.lower(*args).compile()` (no tracing-cache
  lookup; still Python and the runtime's dispatch);
- `xla`: XLA's compiled code alone: `lax.fori_loop` inside one jitted function runs
  `value_and_grad` N times, each iteration's inputs shifted by `value * eps` for a runtime
  `eps = 0` (so no iteration can be hoisted or merged) and its gradient carried out of the
  loop (so none is dropped); `(T(N) - T(1)) / (N - 1)`.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("inputs", nargs="?", default="target/jax_inputs.json")
parser.add_argument("--budget-ms", type=float, default=500.0)
parser.add_argument("--threads", action="store_true", help="let XLA use every core")
parser.add_argument("--only", help="run the problems whose name contains this")
args = parser.parse_args()

if not args.threads:
    # Before jax is imported: one thread for XLA's CPU kernels.
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402
from jax.scipy.special import logsumexp  # noqa: E402

jax.config.update("jax_enable_x64", True)

# The problems ------------------------------------------------------------------------------


def shopping(p):
    apple, apple_num, orange, orange_num, tax = p[0], p[1], p[2], p[3], p[4]
    return (apple * apple_num + orange * orange_num) * tax


def rosenbrock(x):
    a = 1.0 - x[:-1]
    b = x[1:] - x[:-1] * x[:-1]
    return jnp.sum(a * a + 100.0 * b * b)


def mlp_loss(w1, b1, w2, b2, x, labels):
    """Mean softmax cross-entropy of `w2 tanh(w1 x + b1) + b2` (stable: the maximum subtracted)."""
    h = jnp.tanh(x @ w1.T + b1)
    z = h @ w2.T + b2
    m = jnp.max(z, axis=1, keepdims=True)
    lse = m[:, 0] + jnp.log(jnp.sum(jnp.exp(z - m), axis=1))
    return jnp.mean(lse - jnp.take_along_axis(z, labels[:, None], axis=1)[:, 0])


def ln_multigamma_half(t, p):
    """ln Γ_p(t / 2) for integers t >= p (math.lgamma: a constant, outside the trace)."""
    return 0.25 * p * (p - 1) * math.log(math.pi) + sum(
        math.lgamma(0.5 * (t + 1 - j)) for j in range(1, p + 1)
    )


def make_gmm(d, k, n, wishart_gamma, wishart_m):
    """ADBench's GMM objective, vectorised as JAX code is written: all points and components at
    once, `Q` built as dense `k × d × d` lower-triangular matrices (entries of `icf` after the
    log-diagonal fill the strictly lower part column by column)."""
    rows, cols = [], []
    for c in range(d):
        for r in range(c + 1, d):
            rows.append(r)
            cols.append(c)
    rows, cols = jnp.array(rows, dtype=jnp.int32), jnp.array(cols, dtype=jnp.int32)
    n_w = d + wishart_m + 1
    c_prior = n_w * d * (math.log(wishart_gamma) - 0.5 * math.log(2.0)) - ln_multigamma_half(
        n_w, d
    )
    constant = -n * d * 0.5 * math.log(2.0 * math.pi)

    def gmm(alphas, means, icf, x):
        log_diag = icf[:, :d]
        qdiag = jnp.exp(log_diag)
        sum_qs = jnp.sum(log_diag, axis=1)
        lower = icf[:, d:]
        q = jnp.zeros((k, d, d), icf.dtype).at[:, rows, cols].set(lower)
        q = q + qdiag[:, :, None] * jnp.eye(d, dtype=icf.dtype)
        xc = x[:, None, :] - means[None, :, :]  # n × k × d
        qxc = jnp.einsum("krc,nkc->nkr", q, xc)
        main_term = alphas[None, :] + sum_qs[None, :] - 0.5 * jnp.sum(qxc * qxc, axis=2)
        slse = jnp.sum(logsumexp(main_term, axis=1))
        frobenius = jnp.sum(qdiag * qdiag, axis=1) + jnp.sum(lower * lower, axis=1)
        prior = jnp.sum(
            0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m * sum_qs
        ) - k * c_prior
        return constant + slse - n * logsumexp(alphas) + prior

    return gmm


def problem(entry):
    """(function, differentiated arguments, constant arguments) of one JSON entry."""
    name, inputs = entry["name"], entry["inputs"]
    f64 = lambda v: jnp.asarray(v, dtype=jnp.float64)  # noqa: E731
    if name == "shopping":
        return shopping, [f64(inputs["p"])], []
    if name.startswith("rosenbrock_"):
        return rosenbrock, [f64(inputs["x"])], []
    if name.startswith("mlp_"):
        n_in, hidden, n_out, batch = inputs["shape"]
        params = [
            f64(inputs["w1"]).reshape(hidden, n_in),
            f64(inputs["b1"]),
            f64(inputs["w2"]).reshape(n_out, hidden),
            f64(inputs["b2"]),
        ]
        data = [
            f64(inputs["x"]).reshape(batch, n_in),
            jnp.asarray(inputs["labels"], dtype=jnp.int32),
        ]
        return mlp_loss, params, data
    if name.startswith("gmm_"):
        x = f64(inputs["x"])
        alphas, means = f64(inputs["alphas"]), f64(inputs["means"])
        n, d = x.shape
        gmm = make_gmm(d, alphas.shape[0], n, inputs["wishart_gamma"], inputs["wishart_m"])
        return gmm, [alphas, means, f64(inputs["icf"])], [x]
    raise ValueError(f"unknown problem {name}")


# Timing ------------------------------------------------------------------------------------


def median_time(call, budget):
    """The median time of one `call()`, in seconds, over batches of at least 1 ms."""
    call()
    batch = 1
    while True:
        t = time.perf_counter()
        for _ in range(batch):
            call()
        if time.perf_counter() - t >= 1e-3 or batch >= 1 << 20:
            break
        batch *= 2
    samples, start = [], time.perf_counter()
    while len(samples) < 5 or (time.perf_counter() - start < budget and len(samples) < 1000):
        t = time.perf_counter()
        for _ in range(batch):
            call()
        samples.append((time.perf_counter() - t) / batch)
    return statistics.median(samples)


def xla_loop_time(f, params, consts, budget):
    """Per-iteration time of `value_and_grad` inside `lax.fori_loop` (see the module's doc)."""
    grad = jax.value_and_grad(f, argnums=tuple(range(len(params))))

    @jax.jit
    def looped(iterations, eps, params, consts):
        def body(_, carry):
            value, _grads = carry
            shifted = [p + value * eps for p in params]
            return grad(*shifted, *consts)

        init = grad(*params, *consts)
        return lax.fori_loop(0, iterations, body, init)

    eps = jnp.float64(0.0)
    run = lambda n: jax.block_until_ready(looped(n, eps, params, consts))  # noqa: E731
    run(1)
    # Enough iterations for about a tenth of the budget.
    once = median_time(lambda: run(2), budget / 20)
    iterations = max(10, int(budget / 10 / max(once, 1e-7)))
    many = median_time(lambda: run(iterations), budget / 2)
    one = median_time(lambda: run(1), budget / 4)
    return (many - one) / (iterations - 1)


def duration(seconds):
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            v = seconds / scale
            return f"{v:.0f} {unit}" if v >= 100 else f"{v:.1f} {unit}" if v >= 10 else f"{v:.2f} {unit}"


# Main --------------------------------------------------------------------------------------


def check(name, value, grads, entry):
    expected = entry["value"]
    error = abs(value - expected) / max(abs(expected), sys.float_info.min)
    assert error <= 1e-12, f"{name}: JAX value {value!r}, Rust {expected!r} (error {error:.1e})"
    flat = jnp.concatenate([jnp.ravel(g) for g in grads])
    reference = jnp.asarray(entry["gradient"], dtype=jnp.float64)
    assert flat.shape == reference.shape, f"{name}: gradient lengths {flat.shape} vs {reference.shape}"
    scale = float(jnp.max(jnp.abs(reference)))
    worst = float(jnp.max(jnp.abs(flat - reference))) / scale
    assert worst <= 1e-10, f"{name}: JAX gradient differs from Rust's by {worst:.1e} of the largest"
    return error, worst


def main():
    with open(args.inputs) as file:
        entries = json.load(file)["problems"]
    budget = args.budget_ms / 1000.0
    threads = "all cores" if args.threads else "one thread"
    print(
        f"JAX {jax.__version__} ({jax.default_backend()}, float64, {threads}); "
        f"median times of one value-and-gradient call."
    )
    print()
    print("| problem | n | jit call | compiled executable | XLA alone (in a loop) | value error | gradient error |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for entry in entries:
        name = entry["name"]
        if args.only and args.only not in name:
            continue
        f, params, consts = problem(entry)
        argnums = tuple(range(len(params)))
        jitted = jax.jit(jax.value_and_grad(f, argnums=argnums))
        value, grads = jax.block_until_ready(jitted(*params, *consts))
        value_error, grad_error = check(name, float(value), grads, entry)
        compiled = jitted.lower(*params, *consts).compile()
        t_jit = median_time(lambda: jax.block_until_ready(jitted(*params, *consts)), budget)
        t_compiled = median_time(
            lambda: jax.block_until_ready(compiled(*params, *consts)), budget
        )
        t_xla = xla_loop_time(f, params, consts, budget)
        dim = sum(p.size for p in params)
        print(
            f"| {name} | {dim} | {duration(t_jit)} | {duration(t_compiled)} | {duration(t_xla)} "
            f"| {value_error:.0e} | {grad_error:.0e} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
