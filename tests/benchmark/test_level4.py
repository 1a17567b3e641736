"""Level 4, who said it, answerable one frame a second: every mouth stops for one second at a
different time and the voice stops with its speaker's (``who_said_1fps``).

One test per dataset item × modality, parametrized by the V-SYNC plugin from the level-4
dataset (``benchmark.level4.dataset_path``, default ``data/level_4``); as in level 1 the
model is asked during setup, so an unreachable model is an error and a wrong answer a failure.
"""

from vsync_pytest.assertions import require_correct

LEVEL = 4


def test_item(vsync_result):
    require_correct(vsync_result)
