"""The running system for the fault scenarios: one shared by the quick versions (started once
per module, each scenario leaves it whole), a fresh one for each long version."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.system.scenario import Size
from tests.system.system import System, running_system


@pytest.fixture(scope="module")
def shared_system(tmp_path_factory, postgres, migrated_templates, badge_keys) -> Iterator[System]:
    template = migrated_templates("postgresql", postgres)
    directory = tmp_path_factory.mktemp("system")
    with running_system(directory, postgres, template, badge_keys) as system:
        yield system


@pytest.fixture
def system(request, tmp_path, postgres, migrated_templates, badge_keys) -> Iterator[System]:
    """The shared system for a quick scenario, a fresh one for a long one (`size` param)."""
    size: Size = request.node.callspec.params["size"]
    if not size.fresh:
        yield request.getfixturevalue("shared_system")
        return
    template = migrated_templates("postgresql", postgres)
    with running_system(tmp_path, postgres, template, badge_keys) as fresh:
        yield fresh
