"""The test session's kernel-object cache (conftest.py): a firmware build reuses a kernel object
only when the compile command (folder path aside), the kernel source and the kernel headers are
all the same; any other compile always runs."""
import subprocess

import pytest

import conftest


def _folder(root, source="int f(void) { return 1; }\n", header="#define X 1\n"):
    (root / "mcuf" / "src").mkdir(parents=True)
    (root / "mcuf" / "include").mkdir(parents=True)
    (root / "mcuf" / "src" / "mcuf_k.c").write_text(source)
    (root / "mcuf" / "include" / "mcuf_nn.h").write_text(header)
    (root / "model.c").write_text("int m;\n")
    (root / "obj").mkdir()
    return root


@pytest.fixture
def compiler(tmp_path, monkeypatch):
    """(compile(folder, file, *flags), list of the commands that really ran)."""
    monkeypatch.setitem(conftest._OBJ_CACHE, "dir", tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    ran = []

    def run(cmd):
        ran.append(cmd)
        obj = cmd[cmd.index("-o") + 1]
        with open(obj, "w") as f:
            f.write(f"object of {cmd[cmd.index('-c') + 1]} {len(ran)}")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    def compile_(gen, file, *flags):
        obj = gen / "obj" / (file.replace("/", "__") + ".o")
        cmd = ["arm-none-eabi-gcc", "-O2", *flags, f"-I{gen / 'mcuf' / 'include'}", "-c", str(gen / file), "-o", str(obj)]
        assert conftest._cached_compile(run, cmd).returncode == 0
        return obj.read_text()
    return compile_, ran


def test_same_kernel_same_command_compiles_once(tmp_path, compiler):
    compile_, ran = compiler
    a, b = _folder(tmp_path / "a"), _folder(tmp_path / "b")
    assert compile_(a, "mcuf/src/mcuf_k.c") == compile_(b, "mcuf/src/mcuf_k.c")
    assert len(ran) == 1


@pytest.mark.parametrize("change", ["source", "header", "flag"])
def test_any_difference_compiles_again(tmp_path, compiler, change):
    compile_, ran = compiler
    a = _folder(tmp_path / "a")
    b = _folder(tmp_path / "b", **({"source": "int f(void) { return 2; }\n"} if change == "source" else
                                   {"header": "#define X 2\n"} if change == "header" else {}))
    compile_(a, "mcuf/src/mcuf_k.c")
    compile_(b, "mcuf/src/mcuf_k.c", *(["-DHIL_PERTURB_LAYER=5"] if change == "flag" else []))
    assert len(ran) == 2


def test_model_sources_always_compile(tmp_path, compiler):
    compile_, ran = compiler
    a = _folder(tmp_path / "a")
    compile_(a, "model.c")
    compile_(a, "model.c")
    assert len(ran) == 2
