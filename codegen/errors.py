"""Errors that reach the user as one line: what is wrong and what to do about it."""


class CodegenError(Exception):
    """Base class: the CLI prints the message and exits non-zero, without a traceback."""


class ModelFormatError(CodegenError):
    """The file is not a readable TFLite flatbuffer."""


class UnsupportedModelError(CodegenError):
    """The model is readable but uses something the generator does not support."""
