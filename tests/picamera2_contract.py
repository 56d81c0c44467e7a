"""The contract between runtime/picamera.py, tests/fake_picamera2.py and the real picamera2.

picamera2 cannot be imported here (it imports libcamera's bindings at once), so its class is
read from its source with `ast`: every method's parameters (name, kind, order) and literal
defaults. The fake's methods are read with `inspect`, the adapter's calls with `ast`.

check() reports, one line each:
- a method the fake implements that the real Picamera2 lacks, or whose parameters differ from
  the real one's (names, order, kind, static or not, or a default that differs where the real
  default is a literal; a non-literal real default such as libcamera.Transform() must be
  matched by some default);
- a call in the adapter to a method the real class lacks, with a keyword it does not take, or
  with more positional arguments than it takes.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
from dataclasses import dataclass
from pathlib import Path

NO_DEFAULT = object()
NON_LITERAL = object()       # a real default that is not a literal (e.g. libcamera.Transform())


@dataclass(frozen=True)
class Param:
    name: str
    kind: str                # "positional" (positional-or-keyword), "posonly", "kwonly", "*args", "**kwargs"
    default: object = NO_DEFAULT


@dataclass(frozen=True)
class Method:
    name: str
    static: bool
    params: tuple            # without self


def real_source() -> Path:
    """picamera2/picamera2.py of the installed package, found without importing it (importing
    needs libcamera). Raises FileNotFoundError with the fix when it is not installed."""
    spec = importlib.util.find_spec("picamera2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("picamera2 is not installed: pip install --no-deps picamera2 "
                                "(scripts/setup.sh does)")
    return Path(list(spec.submodule_search_locations)[0]) / "picamera2.py"


def _default(node) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return NON_LITERAL


def _params_of(fn: ast.FunctionDef, static: bool) -> tuple:
    a = fn.args
    out = []
    positional = [(p, "posonly") for p in a.posonlyargs] + [(p, "positional") for p in a.args]
    defaults = [NO_DEFAULT] * (len(positional) - len(a.defaults)) + [_default(d) for d in a.defaults]
    for (p, kind), d in zip(positional, defaults):
        out.append(Param(p.arg, kind, d))
    if a.vararg:
        out.append(Param(a.vararg.arg, "*args"))
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        out.append(Param(p.arg, "kwonly", NO_DEFAULT if d is None else _default(d)))
    if a.kwarg:
        out.append(Param(a.kwarg.arg, "**kwargs"))
    if not static and out and out[0].name in ("self", "cls"):
        out = out[1:]
    return tuple(out)


def real_methods(source: str, class_name: str = "Picamera2") -> dict[str, Method]:
    """The class's methods from its source; of @overload'ed ones, the implementation."""
    tree = ast.parse(source)
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None)
    if cls is None:
        raise ValueError(f"no class {class_name} in the picamera2 source")
    methods = {}
    for node in cls.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        decorators = {ast.unparse(d) for d in node.decorator_list}
        if decorators & {"overload", "typing.overload"}:
            continue
        static = "staticmethod" in decorators
        methods[node.name] = Method(node.name, static, _params_of(node, static))
    return methods


_KINDS = {inspect.Parameter.POSITIONAL_ONLY: "posonly", inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
          inspect.Parameter.KEYWORD_ONLY: "kwonly", inspect.Parameter.VAR_POSITIONAL: "*args",
          inspect.Parameter.VAR_KEYWORD: "**kwargs"}


def fake_methods(cls, names) -> dict[str, Method]:
    out = {}
    for name in names:
        raw = inspect.getattr_static(cls, name)
        static = isinstance(raw, staticmethod)
        fn = raw.__func__ if static else raw
        params = list(inspect.signature(fn).parameters.values())
        if not static and params and params[0].name in ("self", "cls"):
            params = params[1:]
        out[name] = Method(name, static, tuple(
            Param(p.name, _KINDS[p.kind], NO_DEFAULT if p.default is inspect.Parameter.empty else p.default)
            for p in params))
    return out


def _show(p: Param) -> str:
    d = "" if p.default is NO_DEFAULT else "=<non-literal>" if p.default is NON_LITERAL else f"={p.default!r}"
    return {"*args": "*", "**kwargs": "**"}.get(p.kind, "") + p.name + d


def signature_text(m: Method) -> str:
    return f"{'@staticmethod ' if m.static else ''}{m.name}({', '.join(_show(p) for p in m.params)})"


def compare(fake: Method, real: Method) -> list[str]:
    where = f"fake Picamera2.{fake.name}"
    why = []
    if fake.static != real.static:
        why.append("static" if real.static else "not static")
    if [(p.name, p.kind) for p in fake.params] != [(p.name, p.kind) for p in real.params]:
        why.append("parameters differ")
    else:
        for f, r in zip(fake.params, real.params):
            if r.default is NO_DEFAULT and f.default is not NO_DEFAULT:
                why.append(f"'{f.name}' has a default, the real one has none")
            elif r.default is not NO_DEFAULT and f.default is NO_DEFAULT:
                why.append(f"'{f.name}' has no default")
            elif r.default not in (NO_DEFAULT, NON_LITERAL) and f.default != r.default:
                why.append(f"'{f.name}' defaults to {f.default!r}, the real one to {r.default!r}")
    if not why:
        return []
    return [f"{where}: {'; '.join(why)}: fake {signature_text(fake)} vs picamera2 {signature_text(real)}"]


@dataclass(frozen=True)
class Call:
    method: str
    positional: int
    keywords: tuple
    line: int


def adapter_calls(source: str, receivers=("cam", "self._cam", "Picamera2")) -> list[Call]:
    """Calls on the camera object (or the class) in the adapter's source; Picamera2(...) is
    __init__."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id == "Picamera2":
            name = "__init__"
        elif isinstance(f, ast.Attribute) and ast.unparse(f.value) in receivers:
            name = f.attr
        else:
            continue
        calls.append(Call(name, len(node.args), tuple(k.arg for k in node.keywords), node.lineno))
    return calls


def check_call(call: Call, real: dict[str, Method]) -> list[str]:
    where = f"runtime/picamera.py line {call.line}: {call.method}"
    m = real.get(call.method)
    if m is None:
        return [f"{where}: picamera2's Picamera2 has no method {call.method}"]
    names = {p.name for p in m.params if p.kind in ("positional", "kwonly")}
    problems = [f"{where}: picamera2 takes no keyword '{k}' ({signature_text(m)})"
                for k in call.keywords if k is not None and k not in names
                and not any(p.kind == "**kwargs" for p in m.params)]
    max_pos = sum(p.kind in ("posonly", "positional") for p in m.params)
    if call.positional > max_pos and not any(p.kind == "*args" for p in m.params):
        problems.append(f"{where}: {call.positional} positional arguments, picamera2 takes {max_pos}")
    return problems


def check(real_src: str, fake_cls, fake_names, adapter_src: str) -> list[str]:
    real = real_methods(real_src)
    problems = []
    for name, fm in sorted(fake_methods(fake_cls, fake_names).items()):
        if name not in real:
            problems.append(f"fake Picamera2.{name}: picamera2's Picamera2 has no such method")
        else:
            problems += compare(fm, real[name])
    for call in adapter_calls(adapter_src):
        problems += check_call(call, real)
    return problems
