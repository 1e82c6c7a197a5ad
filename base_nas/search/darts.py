"""DARTS (Liu et al., ICLR 2019): softmax relaxation, bilevel optimisation, first or second order.

First order: the architecture step uses the gradient of the validation loss at the current
weights. Second order: at the weights after one virtual step of the weight optimiser,
``w' = w - eta * grad_w L_train(w, a)``, with the Hessian-vector product of the chain rule
approximated by central finite differences as in the paper:

  grad_a L_val(w', a) - eta * [grad_a L_train(w+, a) - grad_a L_train(w-, a)] / (2 r),
  w+- = w +- r * v,  v = grad_w' L_val(w', a),  r = 0.01 / ||v||.
"""
from __future__ import annotations

from typing import Callable

import jax
import optax

from base_nas.search.core import Searcher, SearchState


@jax.jit
def _perturb(params, direction, scale):
  return jax.tree.map(lambda p, d: p + scale * d, params, direction)


@jax.jit
def _combine(g_val, g_plus, g_minus, eta, r):
  return jax.tree.map(lambda g, p, m: g - eta * (p - m) / (2 * r), g_val, g_plus, g_minus)


def hessian_vector_fd(grad_alpha: Callable, params, vector, radius: float = 0.01):
  """Central difference (grad_a(w + r v) - grad_a(w - r v)) / 2r with r = radius / ||v||.

  Returns (grad_a(w + r v), grad_a(w - r v), r) so callers can combine them without a copy.
  """
  r = radius / (float(optax.tree.norm(vector)) + 1e-12)
  g_plus = grad_alpha(_perturb(params, vector, r))
  g_minus = grad_alpha(_perturb(params, vector, -r))
  return g_plus, g_minus, r


def unrolled_alpha_grads(searcher: Searcher, state: SearchState, train, val, key, tau, eta,
                         virtual_step: Callable | None = None):
  """The second-order architecture gradient; also returns the validation loss and accuracy.

  ``virtual_step(params, grads) -> params'`` defaults to one unclipped step of the run's weight
  optimiser from its current state (momentum and weight decay included, as in the DARTS code).
  """
  k_train, k_val = jax.random.split(key)
  _, (g_w, _) = searcher.loss_and_grads(state.params, state.alphas, train, k_train, tau)
  if virtual_step is None:
    virtual = searcher.virtual_step(state.params, g_w, state.w_opt)[0]
  else:
    virtual = virtual_step(state.params, g_w)
  (loss, acc), (v, g_val) = searcher.loss_and_grads(virtual, state.alphas, val, k_val, tau)
  grad_alpha = lambda p: searcher.loss_and_grads(p, state.alphas, train, k_train, tau)[1][1]
  g_plus, g_minus, r = hessian_vector_fd(grad_alpha, state.params, v)
  return _combine(g_val, g_plus, g_minus, eta, r), (loss, acc)


def step(searcher: Searcher, state: SearchState, train, val, key, tau, order: int = 1):
  """One DARTS step: the architecture on ``val``, then the weights on ``train``."""
  k_arch, k_w = jax.random.split(key)
  if order == 2:
    g_alpha, (v_loss, v_acc) = unrolled_alpha_grads(
        searcher, state, train, val, k_arch, tau, searcher.lr(int(state.step)))
  else:
    (v_loss, v_acc), (_, g_alpha) = searcher.loss_and_grads(
        state.params, state.alphas, val, k_arch, tau)
  alphas, a_opt = searcher.update_alphas(state.alphas, g_alpha, state.a_opt)
  (loss, acc), (g_w, _) = searcher.loss_and_grads(state.params, alphas, train, k_w, tau)
  params, w_opt = searcher.update_weights(state.params, g_w, state.w_opt)
  state = SearchState(step=state.step + 1, params=params, alphas=alphas, w_opt=w_opt, a_opt=a_opt)
  return state, dict(loss=loss, accuracy=acc, val_loss=v_loss, val_accuracy=v_acc)
