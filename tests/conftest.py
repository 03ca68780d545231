"""Fixtures that start real servers for the test suite (see tests/support/)."""

from tests.support.demo import *  # noqa: F401,F403
from tests.support.jira_server import *  # noqa: F401,F403
from tests.support.prometheus_server import *  # noqa: F401,F403
from tests.support.registry_server import *  # noqa: F401,F403
from tests.support.release_runs import *  # noqa: F401,F403
from tests.support.replay import *  # noqa: F401,F403
from tests.support.chat_servers import *  # noqa: F401,F403
