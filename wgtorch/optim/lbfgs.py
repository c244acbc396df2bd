"""`LBFGS`: limited-memory BFGS with an optional strong-Wolfe line search.

The algorithm is the one PyTorch documents (after Nocedal & Wright, *Numerical Optimization*,
algorithms 7.4-7.5 and 3.5-3.6, and minFunc's safeguards): two-loop recursion over the last
``history_size`` curvature pairs, then either a fixed step of ``lr`` or a bracketing/zoom line
search with cubic interpolation that stops at a step meeting the strong Wolfe conditions.
Vectors are flat tensors on the parameters' device; the scalars the decisions read (losses,
dot products) come to the host.
"""

from __future__ import annotations

import math

from .._creation import zeros
from ..autograd.grad_mode import enable_grad, no_grad
from ..ops.shape import cat
from ._foreach import capture_of
from .optimizer import Optimizer, check_range


def _cubic_minimum(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clamped to
    ``bounds`` (default: between the two points); their middle when the cubic has no minimum."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (low + high) / 2
    d2 = math.sqrt(disc)
    if x1 > x2:  # write the formula from the left point
        x1, f1, g1, x2, f2, g2 = x2, f2, g2, x1, f1, g1
    x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    return min(max(x, low), high)


class _Point:
    """One trial step of the line search: step length, loss, flat gradient, directional slope."""

    __slots__ = ("t", "f", "g", "gtd")

    def __init__(self, t, f, g, gtd):
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Search along ``d`` from the current point (loss ``f``, gradient ``g``, slope ``gtd`` < 0)
    for a step satisfying the strong Wolfe conditions, starting at ``t``. ``evaluate(t)`` returns
    (loss, flat gradient) at x + t d. Returns (loss, gradient, step, evaluations)."""
    d_norm = float(d.abs().max())
    start = _Point(0.0, f, g, gtd)
    f_new, g_new = evaluate(t)
    evals = 1
    new = _Point(t, f_new, g_new, float(g_new.dot(d)))

    # Phase 1: grow the step until an interval is known to hold an acceptable one.
    prev = start
    bracket = None
    iters = 0
    while iters < max_ls:
        if new.f > f + c1 * new.t * gtd or (iters > 1 and new.f >= prev.f):
            bracket = [prev, new]  # sufficient decrease failed: a minimum lies before new
            break
        if abs(new.gtd) <= -c2 * gtd:
            return new.f, new.g, new.t, evals  # strong Wolfe holds
        if new.gtd >= 0:
            bracket = [prev, new]  # the slope turned: a minimum lies between
            break
        # Extrapolate, at least 1% past the current step and at most ten times it.
        t_next = _cubic_minimum(prev.t, prev.f, prev.gtd, new.t, new.f, new.gtd,
                                bounds=(new.t + 0.01 * (new.t - prev.t), new.t * 10))
        prev = new
        f_new, g_new = evaluate(t_next)
        evals += 1
        new = _Point(t_next, f_new, g_new, float(g_new.dot(d)))
        iters += 1
    if bracket is None:  # out of evaluations while still descending
        bracket = [start, new]

    # Phase 2 (zoom): shrink the bracket by cubic interpolation, keeping its better end "low".
    low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
    stalled = False
    while iters < max_ls:
        a, b = bracket
        if abs(b.t - a.t) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        # Keep the trial away from the ends, unless the last trial already made progress.
        top, bottom = max(a.t, b.t), min(a.t, b.t)
        margin = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < margin:
            if stalled or t >= top or t <= bottom:
                t = top - margin if abs(t - top) < abs(t - bottom) else bottom + margin
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        f_new, g_new = evaluate(t)
        evals += 1
        iters += 1
        trial = _Point(t, f_new, g_new, float(g_new.dot(d)))
        if trial.f > f + c1 * t * gtd or trial.f >= bracket[low].f:
            bracket[high] = trial  # not better than low: it closes the far end
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(trial.gtd) <= -c2 * gtd:
                bracket[low] = trial
                break
            if trial.gtd * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]  # the slope points back past low: low becomes the far end
            bracket[low] = trial
    best = bracket[low]
    return best.f, best.g, best.t, evals


class LBFGS(Optimizer):
    """Like ``torch.optim.LBFGS``: ``step(closure)`` runs up to ``max_iter`` L-BFGS iterations
    (at most ``max_eval`` closure calls, default ``max_iter * 5 // 4``) and returns the loss the
    first closure call gave. It stops early when the largest gradient entry is at most
    ``tolerance_grad``, or a step or loss change is below ``tolerance_change``. With
    ``line_search_fn="strong_wolfe"`` each step length comes from a strong-Wolfe line search;
    otherwise it is ``lr`` (scaled down on the very first iteration).

    One parameter group only. The state (PyTorch's keys: ``func_evals``, ``n_iter``, ``d``, ``t``,
    ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss``, ``al``) lives
    under the first parameter and carries over between calls to ``step``.
    """

    def __init__(self, params, lr: float = 1, max_iter: int = 20, max_eval: int | None = None,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        check_range(lr, "learning rate")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # -- the parameters as one flat vector ------------------------------------------------------
    def _flat_grad(self):
        parts = [p.grad.reshape(-1) if p.grad is not None else zeros(p.numel(), dtype=p.dtype, device=p.device)
                 for p in self._params]
        return cat(parts, 0)

    def _add_to_params(self, t: float, d) -> None:
        """params += t * d (``d`` flat, in parameter order)."""
        offset = 0
        for p in self._params:
            n = p.numel()
            p.add_(d[offset:offset + n].view_as(p), alpha=t)
            offset += n

    def _evaluate_at(self, closure, x, t: float, d):
        """(loss, flat gradient) at x + t d; the parameters go back to ``x`` afterwards."""
        self._add_to_params(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._flat_grad()
        for p, saved in zip(self._params, x):
            p.copy_(saved)
        return loss, flat_grad

    # -- one call: up to max_iter iterations ----------------------------------------------------
    def step(self, closure):
        """Optimize with ``closure`` (which clears the gradients, computes the loss, calls
        backward and returns the loss); returns the loss of its first call."""
        for p in self._params:
            cap = capture_of(p._be)
            if cap is not None:  # wgtorch.compile's lenient capture is dropped instead: the step runs eagerly
                cap.refuse_or_drop(p._be.rt, "LBFGS.step() (it reads losses and dot products on the host between "
                                           "its iterations, and has no capturable mode, as in PyTorch)")
        with no_grad():
            return self._step(closure)

    def _step(self, closure):
        group = self.param_groups[0]
        lr, max_iter, max_eval = float(group["lr"]), int(group["max_iter"]), int(group["max_eval"])
        tolerance_grad, tolerance_change = float(group["tolerance_grad"]), float(group["tolerance_change"])
        line_search_fn, history_size = group["line_search_fn"], int(group["history_size"])
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if float(flat_grad.abs().max()) <= tolerance_grad:
            return orig_loss  # already optimal

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag, prev_flat_grad, prev_loss = state.get("H_diag"), state.get("prev_flat_grad"), state.get("prev_loss")
        al = state.get("al")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:  # the very first iteration: steepest descent
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1
            else:
                # Record the curvature pair of the last step, if it keeps the Hessian estimate
                # positive definite.
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if float(ys) > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / y.dot(y)  # scales the initial inverse Hessian (N&W 7.20)
                # Two-loop recursion: d = -H grad.
                al = [None] * history_size
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q.add_(old_dirs[i], alpha=-float(al[i]))
                d = q * h_diag
                for i in range(len(old_dirs)):
                    be_i = old_dirs[i].dot(d) * ro[i]
                    d.add_(old_stps[i], alpha=float(al[i] - be_i))
            prev_flat_grad = flat_grad.clone()
            prev_loss = loss

            # The first step ever is scaled so that it moves at most lr in L1 norm.
            t = min(1.0, 1.0 / float(flat_grad.abs().sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(flat_grad.dot(d))
            if gtd > -tolerance_change:
                break  # not a descent direction (any more)

            ls_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x = [p.clone() for p in self._params]
                loss, flat_grad, t, ls_evals = _strong_wolfe(
                    lambda step, x=x, d=d: self._evaluate_at(closure, x, step, d), t, d, loss, flat_grad, gtd,
                    tolerance_change=tolerance_change)
                self._add_to_params(t, d)
                converged = float(flat_grad.abs().max()) <= tolerance_grad
            else:
                self._add_to_params(t, d)
                converged = False
                if n_iter != max_iter:  # the last iteration's loss is left to the next call
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._flat_grad()
                    converged = float(flat_grad.abs().max()) <= tolerance_grad
                    ls_evals = 1
            evals += ls_evals
            state["func_evals"] += ls_evals

            if n_iter == max_iter or evals >= max_eval or converged:
                break
            if float(d.abs().max()) * abs(t) <= tolerance_change:
                break  # the step no longer moves the parameters
            if abs(loss - prev_loss) < tolerance_change:
                break  # the loss no longer changes

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss, al=al)
        return orig_loss
