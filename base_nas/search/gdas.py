"""GDAS (Dong and Yang, CVPR 2019): a hard straight-through Gumbel sample per edge, so each edge
runs only its sampled op; bilevel and first order; temperature annealed linearly 10 -> 0.1.

As in the GDAS code, each step updates the weights on a training batch first, then the
architecture on a validation batch.
"""
from __future__ import annotations

import jax

from base_nas.search.core import Searcher, SearchState


def step(searcher: Searcher, state: SearchState, train, val, key, tau, order: int = 1):
  del order  # GDAS is first order
  k_w, k_arch = jax.random.split(key)
  (loss, acc), (g_w, _) = searcher.loss_and_grads(state.params, state.alphas, train, k_w, tau)
  params, w_opt = searcher.update_weights(state.params, g_w, state.w_opt)
  (v_loss, v_acc), (_, g_alpha) = searcher.loss_and_grads(params, state.alphas, val, k_arch, tau)
  alphas, a_opt = searcher.update_alphas(state.alphas, g_alpha, state.a_opt)
  state = SearchState(step=state.step + 1, params=params, alphas=alphas, w_opt=w_opt, a_opt=a_opt)
  return state, dict(loss=loss, accuracy=acc, val_loss=v_loss, val_accuracy=v_acc)
