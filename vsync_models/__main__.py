"""``python -m vsync_models COMMAND``: the ``vsync`` commands (:mod:`vsync_models.cli`)."""

from vsync_models.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
