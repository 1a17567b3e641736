"""Level 2, temporal grounding: when is something heard (intervals, instants, and who speaks at a given time).

One test per dataset item × modality, parametrized by the V-SYNC plugin from the level-2
dataset (``benchmark.level2.dataset_path``, default ``data/level_2``); as in level 1 the
model is asked during setup, so an unreachable model is an error and a wrong answer a failure.
"""

from vsync_pytest.assertions import require_correct

LEVEL = 2


def test_item(vsync_result):
    require_correct(vsync_result)
