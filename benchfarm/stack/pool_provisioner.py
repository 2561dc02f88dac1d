"""The autoscaler's provisioner: hosts of an elastic pool made and destroyed through salt-cloud.

A pool with its own ``profile`` uses it as it is (any salt-cloud driver: saltext-proxmox,
saltext-azurerm in the field). A pool without one gets the node provider's profile
``benchfarm-node-<pool>`` written from its CPUs and memory into the farm's ``cloud.profiles.d/``,
so ``salt-cloud -p`` goes through the farm's ``benchfarm_nodes`` driver, and the minion-start
reactor joins the new host as it joins any other. Destroying is ``benchfarm nodes remove``'s path:
``salt-cloud -d``, then whatever is left of the node, then the key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from benchfarm.elastic.definition import PoolDefinition
from benchfarm.nodes.model import NodeSpec
from benchfarm.settings import Settings
from benchfarm.stack import salt_cloud
from benchfarm.stack.node_enrolment import SaltNodeEnrolment

log = logging.getLogger(__name__)


class SaltCloudProvisioner:
    """``Provisioner`` through salt-cloud (see the module docstring)."""

    def __init__(self, settings: Settings, enrolment: SaltNodeEnrolment, node_image: Callable[[], str]) -> None:
        self.settings = settings
        self.enrolment = enrolment
        self.node_image = node_image
        self._profiles = threading.Lock()  # creations run in parallel: one image build, one profile write

    def ensure_profile(self, pool: PoolDefinition) -> str:
        """The pool's profile name, written for the node provider when the pool names none."""
        if pool.profile:
            return pool.profile
        NodeSpec.parse("check", pool.name, pool.cpus, pool.memory)  # a bad size fails here
        salt_cloud.render_cloud(self.settings)
        salt_cloud.write_profile(self.settings, pool.cloud_profile,
                                 {**salt_cloud.node_profile(pool.name, pool.cpus, pool.memory),
                                  "image": self.node_image()})
        return pool.cloud_profile

    def create(self, pool: PoolDefinition, name: str) -> None:
        with self._profiles:
            profile = self.ensure_profile(pool)
        seconds = self.enrolment.create_from_profile(name, profile, log.info)
        log.info("host %s of pool %s joined in %.1f s", name, pool.name, seconds)

    def destroy(self, name: str) -> None:
        self.enrolment.remove(name, log.info)
