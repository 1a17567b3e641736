"""Level 1: one test per dataset item × modality (parametrized by the V-SYNC plugin).

The model is asked during fixture setup, so an unreachable model is a test *error*;
a wrong or unreadable answer is a *failure* whose message shows the whole exchange.
"""

from vsync_pytest.assertions import require_correct


def test_item(vsync_result):
    require_correct(vsync_result)
