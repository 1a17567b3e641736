"""Level 3, when to speak: should the assistant start speaking at the end of a clip prefix (yes/no),
and at which of three marked moments of the whole clip (multiple choice).

One test per dataset item × modality, parametrized by the V-SYNC plugin from the level-3
dataset (``benchmark.level3.dataset_path``, default ``data/level_3``); as in level 1 the
model is asked during setup, so an unreachable model is an error and a wrong answer a failure.
"""

from vsync_pytest.assertions import require_correct

LEVEL = 3


def test_item(vsync_result):
    require_correct(vsync_result)
