"""The self-containment analysis: decided from the text, never by running it.

``analyze_cell`` takes Python source (plain Python below the front ends); ``cell_scope``
(notebook/cell_python.py) first applies IPython's real input transformer, so ``%magic`` and
``!cmd`` lines are tested through it. Nothing here executes a cell: a cell that would raise
or touch the disk if run is analysed all the same.
"""

from __future__ import annotations

import textwrap

import pytest

from qwen_magic.cell_scope import CellScope, analyze_cell, defined_names
from qwen_magic.notebook.cell_python import as_python, cell_scope


def scope(source: str) -> CellScope:
    return analyze_cell(textwrap.dedent(source))


def test_names_from_the_kernel_are_not_self_contained():
    found = scope("print(total / len(items))")
    assert not found.self_contained
    assert found.notebook_names == ("total", "items")
    assert found.reason() == "reads notebook variables: total, items"


def test_given_the_kernels_names_a_name_it_lacks_is_undefined_not_a_notebook_variable():
    """A NameError's misspelt name is in neither the cell nor the kernel: the kernel cannot
    run the cell either, so it does not stop a check; a name the kernel has does."""
    kernel = {"prices": [1.5], "df": object()}
    found = analyze_cell("total = sum(price) + len(df)", kernel)
    assert found.notebook_names == ("df",) and found.undefined_names == ("price",)
    assert not found.self_contained and found.reason() == "reads notebook variables: df"
    typo = analyze_cell("print(lenght('abc'))", kernel)
    assert typo.self_contained and typo.undefined_names == ("lenght",)
    assert cell_scope("print(len(prices))", kernel).notebook_names == ("prices",)


def test_defined_names_are_what_a_cell_leaves_in_the_kernel():
    assert defined_names("import pandas as pd\ndf = pd.DataFrame()\ntmp = 1\ndel tmp") == {"pd", "df"}
    assert defined_names("def f():\n    global g\n    g = 1\nclass C: pass") == {"f", "g", "C"}
    assert defined_names("for (x") == frozenset()


def test_imports_builtins_and_own_definitions_are_self_contained():
    found = scope("""\
        import math
        from collections import Counter as C
        import os.path
        values = [1, 4, 9]
        print([math.sqrt(v) for v in values], C("aab"), os.path.join("a", "b"), len(values))
        print(__name__)
        """)
    assert found.self_contained and found.reason() == ""
    assert found == CellScope()


@pytest.mark.parametrize(("source", "outside"), [
    ("df = df.dropna()", ("df",)),  # read before the cell binds it: the kernel's df
    ("total += 1", ("total",)),
    ("df['c'] = df['a'] * 2", ("df",)),
    ("print(x)\nx = 1", ("x",)),
    ("x = 1\nprint(x)", ()),
    ("x = x_from_kernel = 0\nprint(x, x_from_kernel)", ()),
])
def test_order_matters_at_the_top_level(source, outside):
    assert scope(source).notebook_names == outside


def test_comprehension_and_function_locals_are_not_read_from_outside():
    found = scope("""\
        squares = [n * n for n in range(5)]
        pairs = {k: v for k, v in zip("ab", squares)}
        total = sum(s for s in squares if s > limit)
        def area(width, height=2):
            inner = width * height
            return inner * scale
        print(area(3), pairs, total)
        """)
    assert found.notebook_names == ("limit", "scale")  # neither defined anywhere in the cell


def test_a_function_may_read_a_global_defined_after_it():
    assert scope("def f():\n    return rate * 2\nrate = 3\nprint(f())").self_contained
    assert scope("f = lambda q: q + offset").notebook_names == ("offset",)


def test_a_comprehension_runs_where_it_stands():
    assert scope("k = 1\nprint([a + k for a in range(3)])").self_contained
    assert scope("print([a + k for a in range(3)])\nk = 1").notebook_names == ("k",)
    assert scope("print([a for a in data])").notebook_names == ("data",)  # the first iterable


def test_global_and_nonlocal():
    found = scope("""\
        def setup():
            global config
            config = {"debug": True}
        def counter():
            count = 0
            def bump():
                nonlocal count
                count += step
                return count
            return bump
        setup()
        print(config, counter())
        """)
    assert found.notebook_names == ("step",)  # config is the cell's own (global); count is bump's


def test_del_of_a_name_the_cell_did_not_bind_touches_the_kernel():
    assert scope("del cache").notebook_names == ("cache",)
    assert scope("cache = {}\ndel cache").self_contained
    assert scope("x = 1\ndel x\nprint(x)").notebook_names == ("x",)  # gone: the kernel's, if any


def test_walrus_binds_in_the_enclosing_scope():
    assert scope("if (n := len('abc')) > 2:\n    print(n)").self_contained
    assert scope("[last := v for v in range(3)]\nprint(last)").self_contained
    assert scope("print(n)\nif (n := 3):\n    pass").notebook_names == ("n",)


def test_class_bodies():
    found = scope("""\
        class Point:
            dims = 2
            names = [axis for axis in "xy"]
            scaled = [dims * i for i in range(3)]
            def norm(self):
                return dims + origin
        """)
    # A comprehension or a method in a class body does not see the class's names: Python
    # looks `dims` up in the globals, where the cell has none; nor has it an `origin`.
    assert found.notebook_names == ("dims", "origin")
    assert scope("class A:\n    x = 1\n    y = x + 1").self_contained


def test_branches_and_loops_bind_what_they_may_bind():
    assert scope("if flag_a := True:\n    x = 1\nelse:\n    x = 2\nprint(x)").self_contained
    assert scope("""\
        for i in range(3):
            if i:
                print(previous)
            previous = i
        """).self_contained
    assert scope("try:\n    import json\nexcept ImportError as e:\n    print(e)\nprint(json)").self_contained


def test_match_patterns_bind_their_captures():
    found = scope("""\
        match command.split():
            case [verb, obj]:
                print(verb, obj)
            case {"k": value, **rest}:
                print(value, rest)
        """)
    assert found.notebook_names == ("command",)


def test_star_imports():
    found = scope("from math import *\nprint(sqrt(2))")
    assert not found.self_contained and found.notebook_names == ()
    assert found.star_names == ("sqrt",) and found.star_imports == ("math",)
    assert found.reason() == "reads names only a star import could define: sqrt (from math import *)"
    # Nothing left for the star import to define: every name is accounted for.
    assert scope("from math import *\nprint(abs(-2))").self_contained


@pytest.mark.parametrize(("cell", "uses"), [
    ("%timeit sum(range(10))", ("%timeit",)),
    ("%%time\nx = 1", ("%%time",)),
    ("!ls -l", ("!ls",)),
    ("files = !ls\nprint(files)", ("!ls",)),
    ("%matplotlib inline\nimport math\nprint(math.pi)", ("%matplotlib",)),
    ("display(1)", ("display",)),
    ("print(_)", ("_",)),
    ("print(Out[3], _i2)", ("Out", "_i2")),
])
def test_magics_shell_commands_and_kernel_names_need_ipython(cell, uses):
    found = cell_scope(cell)  # IPython's transformer first
    assert found.ipython == uses and found.notebook_names == ()
    assert not found.self_contained
    assert found.reason() == f"uses IPython: {', '.join(uses)}"


def test_magic_lines_become_calls_before_the_analysis():
    assert "get_ipython()" in as_python("%timeit f(x)")
    assert as_python("x = 1\nprint(x)") == "x = 1\nprint(x)\n"
    assert cell_scope(">>> x = 2\n>>> print(x)").self_contained  # pasted prompts stripped


@pytest.mark.parametrize(("source", "calls"), [
    ("import pandas as pd\nsales = pd.read_csv('sales.csv')", ("pd.read_csv",)),
    ("with open('notes.txt') as f:\n    print(f.read())", ("open",)),
    ("text = open('notes.txt', mode='rb').read()", ("open",)),
    ("from pathlib import Path\nprint(Path('a.txt').read_text())", ("Path('a.txt').read_text",)),
    ("import numpy as np\ngrid = np.loadtxt('grid.csv')", ("np.loadtxt",)),
    ("from numpy import load\nx = load('x.npy')", ("load",)),
    ("import gzip\nwith gzip.open('x.gz') as f:\n    pass", ("gzip.open",)),
    ("import os\nprint(os.listdir('.'))", ("os.listdir",)),
    ("import glob\nprint(glob.glob('*.csv'))", ("glob.glob",)),
])
def test_cells_that_read_files(source, calls):
    found = scope(source)
    assert found.files == calls and not found.self_contained
    assert found.reason() == f"reads files: {', '.join(calls)}"


def test_writing_a_file_is_not_reading_one():
    assert scope("with open('out.txt', 'w') as f:\n    f.write('done')").self_contained
    assert scope("import json\nprint(json.loads('[1]'))").self_contained  # loads: a string
    assert scope("def open(name):\n    return name\nprint(open('x'))").self_contained


def test_reasons_combine_and_a_cell_that_does_not_parse_says_so():
    found = scope("import pandas as pd\ndf = pd.read_csv(path)")
    assert found.reason() == "reads notebook variables: path; reads files: pd.read_csv"
    broken = scope("for i in range(3)\n    print(i)")
    assert not broken.self_contained and broken.syntax_error
    assert broken.reason().startswith("does not parse: ") and "(line 1)" in broken.reason()


def test_top_level_await_is_a_notebook_cell():
    assert scope("import asyncio\nawait asyncio.sleep(0)").self_contained


def test_with_a_real_shells_namespace(shell):
    """The kernel's names as %qwen fix will pass them: shell.user_ns, IPython's own included."""
    shell.run_cell("items = [3, 1, 2]")
    shell.run_cell("items")  # sets _ and Out[2]
    found = cell_scope("print(sorted(itemz), len(items))\nprint(_)", shell.user_ns)
    assert found.notebook_names == ("items",) and found.undefined_names == ("itemz",)
    assert found.ipython == ("_",)
    assert cell_scope("print(sorted(itemz))", shell.user_ns).self_contained
