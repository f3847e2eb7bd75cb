"""The suites live in ``devarch_core.testing.contracts``: have pytest rewrite their asserts.

(A third party does the same in its own conftest.py; see docs/adapters.md.)
"""

import pytest

pytest.register_assert_rewrite("devarch_core.testing.contracts")
