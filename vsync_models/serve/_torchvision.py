"""Import torchvision even where its compiled operators cannot load.

The Qwen processors (transformers' ``Qwen2VLVideoProcessor``) and ``qwen_omni_utils`` import
torchvision for pure-Python transforms (resize, normalise). PyPI's torchvision wheels for
x86_64 are CUDA builds; beside the CPU build of torch its ``_C`` extension does not load, and
``import torchvision`` then fails with "operator torchvision::nms does not exist" because its
meta registrations expect those operators.

Only in that case, :func:`import_torchvision` declares the two operator *schemas* it needs
(``nms``, ``qnms``) without any kernel and imports again. Calling those operators still fails
loudly ("no kernel registered"); nothing the omni processors use calls them. Where torchvision
loads normally (a matched GPU install) nothing is changed. Which way it went is reported in
``/v1/models`` as ``torchvision_ops`` (``native`` or ``schema-only``).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["import_torchvision"]

_LIBRARY: Any = None  # keeps the operator declarations alive for the process
_MODE: str | None = None


def import_torchvision() -> str:
    """Import torchvision; return ``"native"`` or ``"schema-only"`` (see module docstring)."""
    global _LIBRARY, _MODE
    if _MODE is not None:
        return _MODE
    try:
        import torchvision
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
    else:
        _MODE = "native"
        return _MODE

    import torch

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    library = torch.library.Library("torchvision", "FRAGMENT")
    for schema in (
        "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
        "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    ):
        library.define(schema)
    _LIBRARY = library
    import torchvision  # noqa: F401

    _MODE = "schema-only"
    return _MODE
