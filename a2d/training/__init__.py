"""Seeded, resumable training of the target models (Keras-equivalent Adadelta for Env1)."""

from a2d.training.trainer import EpochRecord, accuracy, l2_penalty, make_optimizer, train_model

__all__ = ["EpochRecord", "accuracy", "l2_penalty", "make_optimizer", "train_model"]
