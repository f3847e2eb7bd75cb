"""The converter generates a format's functions on first use, not when it is built.

A CLI command that reads a few store rows (``status``, a no-op ``apply``) should not compile
the plan, lockfile, manifest and template functions (cattrs compiles each generated function).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_PROBE = textwrap.dedent(
    """
    import json
    import cattrs.gen

    generated = []
    for name in ("make_dict_structure_fn", "make_dict_unstructure_fn"):
        real = getattr(cattrs.gen, name)

        def spy(cls, *args, _real=real, **kwargs):
            generated.append(cls.__name__)
            return _real(cls, *args, **kwargs)

        setattr(cattrs.gen, name, spy)

    from devarch_core import _convert
    from devarch_core.model import Stack
    from devarch_core.planning import FieldChange

    _convert.converter()
    _convert._row_converter()
    at_build = list(generated)
    stack = Stack(id="s1", name="shop")
    again = _convert.structure_row(_convert.row(stack), Stack)
    change = FieldChange(field="image", old="a", new="b")
    data = change.to_data()
    back = _convert.structure(data, FieldChange, what="change")
    print(json.dumps({
        "at_build": at_build,
        "generated": generated,
        "row_ok": again == stack,
        "data": data,
        "back_ok": back == change,
    }))
    """
)


def test_building_the_converter_generates_no_format_function() -> None:
    """Nothing is generated at build time; a format's function is made when first used."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["at_build"] == []
    assert out["row_ok"] is True
    assert out["back_ok"] is True
    assert out["data"] == {
        "field": "image",
        "old": "a",
        "new": "b",
        "source": "template",
        "forces_recreate": True,
    }
    # Only the classes used were generated (FieldChange's two), never the plan or lockfile's.
    assert "FieldChange" in out["generated"]
    assert not {"Plan", "Lockfile", "LockedInstance", "Template", "InstanceSpec"} & set(
        out["generated"]
    )
