"""ddf: video deepfake detection in JAX/Flax (spatial + temporal + micro-expression fusion)."""

__version__ = "0.1.0"
