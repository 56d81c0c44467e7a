"""mcuforge codegen: int8 TFLite models -> plain C with a static arena and fixed-point kernels."""
__version__ = "0.1.0"
