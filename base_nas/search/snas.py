"""SNAS (Xie et al., ICLR 2019): soft Gumbel-Softmax samples, weights and architecture trained
jointly on the training data with one gradient (a single-level objective, unlike DARTS' bilevel
one); the temperature anneals from 1 to 0.03.

SNAS' resource constraint is not included.
"""
from __future__ import annotations

from base_nas.search.core import Searcher, SearchState


def step(searcher: Searcher, state: SearchState, train, val, key, tau, order: int = 1):
  del val, order  # single-level: everything learns from the training batch
  (loss, acc), (g_w, g_alpha) = searcher.loss_and_grads(state.params, state.alphas, train, key,
                                                        tau)
  alphas, a_opt = searcher.update_alphas(state.alphas, g_alpha, state.a_opt)
  params, w_opt = searcher.update_weights(state.params, g_w, state.w_opt)
  state = SearchState(step=state.step + 1, params=params, alphas=alphas, w_opt=w_opt, a_opt=a_opt)
  return state, dict(loss=loss, accuracy=acc)
