"""The encoder-decoder model: configurations, Flax modules, sharding rules."""

from alphacode.model.config import BOS_ID, EOS_ID, PAD_ID, PRESETS, ModelConfig, get_config

__all__ = ["BOS_ID", "EOS_ID", "PAD_ID", "PRESETS", "ModelConfig", "get_config"]
