"""jupyterhub-idle-culler as the local hub's managed service, ended with the hub.

JupyterHub starts a managed service in a session of its own, so stopping the hub's process group leaves it running,
and every hub the harness stopped left one behind. This launcher asks the kernel to end it when its parent (the hub)
dies, then becomes the culler: `python -m jupyternetes.dev.culler --timeout=3600 ...`.
"""

from __future__ import annotations

import os
import sys

from jupyternetes.dev.cluster import die_with_parent


def main() -> None:
    die_with_parent()
    os.execv(sys.executable, [sys.executable, "-m", "jupyterhub_idle_culler", *sys.argv[1:]])


if __name__ == "__main__":
    main()
