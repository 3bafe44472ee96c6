"""Write docs/api.md from the docstrings and signatures of wavelayers' public API.

    python tools/gen_api_docs.py            # rewrite docs/api.md
    python tools/gen_api_docs.py --check    # exit 1 if docs/api.md is out of date
"""
from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import wavelayers

OUT = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _signature(obj: object) -> str:
    target = obj
    if inspect.isclass(obj):  # the constructor the class defines (__new__ for tuple subclasses)
        target = next((getattr(c, "__new__") for c in obj.__mro__ if "__new__" in c.__dict__ and c is not object
                       and "__init__" not in c.__dict__ and c.__module__.startswith("wavelayers")), obj.__init__)
    try:
        sig = inspect.signature(target, eval_str=True)
    except (TypeError, ValueError):
        return "(...)"
    params = [p for p in sig.parameters.values() if p.name not in ("self", "cls")]
    return _clean(str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty)))


def _clean(text: str) -> str:
    """A signature as the user writes it (keeps the ``*`` of keyword-only arguments)."""
    for long, short in (
        ("torch.nn.modules.module.Module", "nn.Module"), ("torch.Tensor", "Tensor"), ("collections.abc.", ""),
        ("NoneType", "None"), ("<class '", ""), ("'>", ""),
    ):
        text = text.replace(long, short)
    return text


def render() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `python tools/gen_api_docs.py`; do not edit by hand.",
        "",
    ]
    for name in wavelayers.__all__:
        obj = getattr(wavelayers, name)
        if inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
            continue
        kind = "class" if inspect.isclass(obj) else "function"
        lines += [f"## `{name}`", "", f"{kind} `wavelayers.{name}{_signature(obj)}`", ""]
        doc = inspect.getdoc(obj) or "(no docstring)"
        lines += [doc, ""]
        if inspect.isclass(obj) and "forward" in obj.__dict__:
            raw = obj.__dict__["forward"].__doc__
            fdoc = inspect.cleandoc(raw) if raw else None
            fsig = str(inspect.signature(obj.forward, eval_str=True)).replace("(self, ", "(").replace("(self)", "()")
            fsig = _clean(fsig)
            lines += [f"`forward{fsig}`", ""]
            if fdoc:
                lines += [fdoc, ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if docs/api.md differs from the generated text")
    args = parser.parse_args()
    text = render()
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run python tools/gen_api_docs.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
