"""`agentkit view`: a local, read-only web viewer for runs: trajectories as chat transcripts with their
loss flags, Agent-R search trees and revision pairs, learning curves and eval tables, or a static export."""

from agentkit.view.export import export_site
from agentkit.view.pages import Site
from agentkit.view.run import RunFolder
from agentkit.view.server import make_server

__all__ = ["RunFolder", "Site", "export_site", "make_server"]
