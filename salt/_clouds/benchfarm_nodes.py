"""
benchfarm nodes as a salt-cloud provider: ``salt-cloud -p benchfarm-node-<pool> NAME``.

A node is a container of this machine's Docker engine that behaves like a farm host (its
own engine, CPU set and memory limit; images/node/README.md). This driver makes the
node provider look like any cloud to salt-cloud, so the pool logic above it (one
profile per pool, the minion-start reactor that syncs, highstates, registers and
health-checks the new host) is the one that drives saltext-proxmox or saltext-azurerm
in the field. It is thin over the farm's own code: ``benchfarm.nodes.NodeManager``,
built by the composition root (this module is an entry point, like the CLI).

Provider (``cloud.providers.d``; the farm renders its own, ``benchfarm/stack/salt_cloud.py``):

.. code-block:: yaml

    benchfarm-nodes:
      driver: benchfarm_nodes
      script: benchfarm-node           # salt/cloud/deploy/benchfarm-node.sh
      minion:
        master: 127.0.0.1              # a node reaches the farm's master on its own loopback
        master_port: 14506
        publish_port: 14505

Profile, one per pool; provider specifics stay here, as ``size``/``image`` do in other clouds:

.. code-block:: yaml

    benchfarm-node-cpu:
      provider: benchfarm-nodes
      cpuset: "0-1"                    # the node's CPU set (kernel list form)
      memory: 2g                       # its memory limit
      image: benchfarm-node:0.1.0      # optional: default built or reused as `benchfarm nodes image` does
      grains:
        benchfarm:
          pool: cpu                    # the node's pool: a static grain, as on any farm host

``create`` starts the node and waits until it is ready, then deploys the minion the way
salt-cloud deploys one over SSH, through the provider's own channel instead (``docker
exec``; a node of this provider runs no sshd): the deploy script, the minion config
(id = node name, the master as configured, the profile's grains plus salt-cloud's), and
the key pair salt-cloud generated and already accepted on the master, then the script
starts ``salt-minion`` under the node's service runner. ``destroy`` retires the host in
the farm's inventory, then removes the node's container and volume; salt-cloud deletes
the minion key. ``list_nodes`` lists the nodes this provider created (container label
``benchfarm.cloud.provider``), not nodes enrolled by other means (saltify).

:depends: benchfarm (the farm's package, on the master host)
"""

import functools
import io
import logging
import shlex
import tarfile
import time
from typing import TYPE_CHECKING, Any

import salt.utils.cloud
from salt import config
from salt.exceptions import SaltCloudConfigError, SaltCloudException, SaltCloudSystemExit

try:
    from benchfarm.errors import BenchfarmError, NotFoundError
    from benchfarm.nodes.model import LABEL_NODE, NodeSpec
    from benchfarm.nodes.resources import format_cpu_list, format_size

    HAS_BENCHFARM = True
except ImportError:
    HAS_BENCHFARM = False

if TYPE_CHECKING:
    from benchfarm.composition import Farm
    from benchfarm.nodes.manager import NodeManager
    from benchfarm.nodes.model import Node

log = logging.getLogger(__name__)

# injected by Salt's loader after import (declared for mypy; salt/ruff.toml names them for ruff)
__opts__: dict[str, Any]
__utils__: dict[str, Any]
__active_provider_name__: Any

__virtualname__ = "benchfarm_nodes"

# on a node's container: the provider alias that created it (what list_nodes lists)
LABEL_CLOUD = "benchfarm.cloud.provider"
DEFAULT_SCRIPT = "benchfarm-node"
DEFAULT_TMP_DIR = "/var/tmp/.saltcloud"
DEPLOY_TIMEOUT_S = 300.0


def __virtual__() -> str | tuple[bool, str]:
    if not HAS_BENCHFARM:
        return (False, "benchfarm_nodes: the benchfarm package is not importable here (run salt-cloud from its venv)")
    if get_configured_provider() is False:
        return (False, "benchfarm_nodes: no provider configured with `driver: benchfarm_nodes`")
    return __virtualname__


def _get_active_provider_name() -> str | None:
    try:
        return __active_provider_name__.value()
    except AttributeError:
        return __active_provider_name__


def get_configured_provider() -> Any:
    """The provider configuration of the active ``benchfarm_nodes`` provider, or False."""
    return config.is_provider_configured(__opts__, _get_active_provider_name() or __virtualname__, ())


def _alias() -> str:
    """The active provider's alias (``benchfarm-nodes`` in ``benchfarm-nodes:benchfarm_nodes``)."""
    return (_get_active_provider_name() or __virtualname__).split(":")[0]


# the farm ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _farm() -> "Farm":
    """The farm's composition root, from the settings of this salt-cloud process (env and config file)."""
    from benchfarm.composition import Farm
    from benchfarm.settings import get_settings

    return Farm(get_settings())


def _nodes() -> "NodeManager":
    return _farm().nodes


def _failed(doing: str, exc: "BenchfarmError") -> SaltCloudSystemExit:
    """salt-cloud's error for a farm error (message, then what to do)."""
    return SaltCloudSystemExit(f"{doing}: {exc.message}" + (f" ({exc.hint})" if exc.hint else ""))


def _fire(description: str, what: str, name: str, args: dict[str, Any] | None = None) -> None:
    __utils__["cloud.fire_event"](
        "event", description, f"salt/cloud/{name}/{what}", args=args or {"name": name},
        sock_dir=__opts__["sock_dir"], transport=__opts__["transport"])


def _summary(node: "Node") -> dict[str, Any]:
    """The fields salt-cloud expects of every instance (``-Q``)."""
    return {
        "id": node.container_id,
        "image": node.image,
        "size": f"CPUs {node.cpuset}, {format_size(node.memory)}",
        "state": node.status,
        "private_ips": [node.address] if node.address else [],
        "public_ips": [],
    }


def _full(node: "Node") -> dict[str, Any]:
    return {**node.to_dict(), **_summary(node)}


def _cloud_nodes() -> list["Node"]:
    """The nodes this provider alias created (by container label), sorted by name."""
    manager = _nodes()
    alias = _alias()
    mine = {f.labels.get(LABEL_NODE) for f in manager.engine.containers(LABEL_CLOUD)
            if f.labels.get(LABEL_CLOUD) == alias}
    return [n for n in manager.list() if n.name in mine]


# instances ---------------------------------------------------------------------------
def list_nodes(call: str | None = None) -> dict[str, dict[str, Any]]:
    """
    The nodes this provider created, with salt-cloud's standard fields.

    CLI Example:

    .. code-block:: bash

        salt-cloud -Q
        salt-cloud -f list_nodes benchfarm-nodes
    """
    if call == "action":
        raise SaltCloudSystemExit("The list_nodes function must be called with -f or --function.")
    try:
        return {n.name: _summary(n) for n in _cloud_nodes()}
    except BenchfarmError as exc:
        raise _failed("listing nodes", exc) from exc


def list_nodes_full(call: str | None = None) -> dict[str, dict[str, Any]]:
    """
    The nodes this provider created, with everything the node provider knows (pool, CPU set,
    memory, address, container, volume, cgroup).

    CLI Example:

    .. code-block:: bash

        salt-cloud -F
    """
    if call == "action":
        raise SaltCloudSystemExit("The list_nodes_full function must be called with -f or --function.")
    try:
        return {n.name: _full(n) for n in _cloud_nodes()}
    except BenchfarmError as exc:
        raise _failed("listing nodes", exc) from exc


def list_nodes_select(call: str | None = None) -> dict[str, dict[str, Any]]:
    """
    The nodes this provider created, with the fields named by ``query.selection``.

    CLI Example:

    .. code-block:: bash

        salt-cloud -S
    """
    return salt.utils.cloud.list_nodes_select(list_nodes_full("function"), __opts__["query.selection"], call)


def show_instance(name: str, call: str | None = None) -> dict[str, Any]:
    """
    Everything the node provider knows about node ``name``.

    CLI Example:

    .. code-block:: bash

        salt-cloud -a show_instance node-a
    """
    if call != "action":
        raise SaltCloudSystemExit("The show_instance action must be called with -a or --action.")
    try:
        node = _nodes().find(name)
    except BenchfarmError as exc:
        raise _failed(f"reading node {name}", exc) from exc
    if node is None:
        raise SaltCloudSystemExit(f"no node named {name}")
    return _full(node)


def avail_locations(call: str | None = None) -> dict[str, dict[str, Any]]:
    """
    Where nodes are made: this machine's Docker engine, on the farm's node network.

    CLI Example:

    .. code-block:: bash

        salt-cloud --list-locations benchfarm-nodes
    """
    if call == "action":
        raise SaltCloudSystemExit("The avail_locations function must be called with -f or --function.")
    cfg = _nodes().config
    return {"local": {"docker_url": cfg.docker_url, "network": cfg.network}}


def avail_images(call: str | None = None) -> dict[str, dict[str, Any]]:
    """
    The node image, when this machine's engine has it (``benchfarm nodes image`` builds it).

    CLI Example:

    .. code-block:: bash

        salt-cloud --list-images benchfarm-nodes
    """
    if call == "action":
        raise SaltCloudSystemExit("The avail_images function must be called with -f or --function.")
    manager = _nodes()
    ref = f"{manager.config.image_repository}:latest"
    image_id = manager.engine.image_id(ref)
    return {ref: {"id": image_id}} if image_id else {}


def avail_sizes(call: str | None = None) -> dict[str, dict[str, Any]]:
    """
    What a profile's ``cpuset`` and ``memory`` can ask for on this machine.

    CLI Example:

    .. code-block:: bash

        salt-cloud --list-sizes benchfarm-nodes
    """
    if call == "action":
        raise SaltCloudSystemExit("The avail_sizes function must be called with -f or --function.")
    from benchfarm.nodes.model import MIN_MEMORY

    return {"cpuset": {"machine_cpus": format_cpu_list(_nodes().machine_cpus())},
            "memory": {"minimum": format_size(MIN_MEMORY)}}


# create ------------------------------------------------------------------------------
def _value(key: str, vm_: dict[str, Any], default: Any = None) -> Any:
    return config.get_cloud_config_value(key, vm_, __opts__, default=default, search_global=False)


def _spec(vm_: dict[str, Any]) -> "NodeSpec":
    """The node asked for by the profile: name, pool (its grain), CPU set and memory."""
    cpuset, memory = _value("cpuset", vm_), _value("memory", vm_)
    if cpuset is None or memory is None:
        raise SaltCloudConfigError(f"profile {vm_.get('profile')}: a benchfarm node needs `cpuset` and `memory`")
    grains = config.get_cloud_config_value("grains", vm_, __opts__, default={}) or {}
    pool = (grains.get("benchfarm") or {}).get("pool") or "default"
    try:
        return NodeSpec.parse(vm_["name"], str(pool), str(cpuset), memory)
    except BenchfarmError as exc:
        raise SaltCloudConfigError(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) from exc


def _image(vm_: dict[str, Any]) -> str:
    """The profile's ``image``, else the node image built or reused as ``benchfarm nodes image`` does."""
    image = _value("image", vm_)
    if image:
        return str(image)
    from benchfarm.nodes.image import NodeImageBuilder

    farm = _farm()
    return NodeImageBuilder(farm.images, farm.nodes.config).ensure(log.info).ref


def _deploy_files(vm_: dict[str, Any]) -> dict[str, tuple[bytes, int]]:
    """What salt-cloud's deploy copies to a new host: the deploy script, minion config, grains and keys."""
    minion = salt.utils.cloud.minion_config(__opts__, vm_)
    grains = minion.pop("grains", {})
    if __opts__.get("enable_cloud_grains", True):
        minion["grains"] = {"salt-cloud": {"driver": vm_["driver"], "provider": vm_["provider"],
                                           "profile": vm_.get("profile")}}
    script_name = vm_.get("os") or _value("script", vm_, DEFAULT_SCRIPT)
    script = salt.utils.cloud.os_script(script_name, vm_, __opts__, minion)
    if not script:
        raise SaltCloudConfigError(f"deploy script {script_name!r} not found in "
                                   f"{', '.join(__opts__.get('deploy_scripts_search_path', ()))}")
    files = {"deploy.sh": (script.encode(), 0o700),
             "minion": (salt.utils.cloud.salt_config_to_yaml(minion).encode(), 0o644),
             "minion.pem": (str(vm_["priv_key"]).encode(), 0o600),
             "minion.pub": (str(vm_["pub_key"]).encode(), 0o644)}
    if grains:
        files["grains"] = (salt.utils.cloud.salt_config_to_yaml(grains).encode(), 0o644)
    return files


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _deploy(vm_: dict[str, Any], node: "Node") -> str:
    """Run the deploy script in the node (through ``docker exec``, as salt-cloud would over SSH); its output."""
    files = _deploy_files(vm_)
    args = _value("script_args", vm_) or ""
    # salt-cloud's tmp_dir, as over SSH; the farm's providers say /var/tmp (a node's /tmp is noexec)
    tmp_dir = str(config.get_cloud_config_value("tmp_dir", vm_, __opts__, default=DEFAULT_TMP_DIR)).rstrip("/")
    command = (f'd=$(mktemp -d {shlex.quote(tmp_dir)}-XXXXXX) && tar -x -C "$d" && "$d/deploy.sh" '
               f'{args}; rc=$?; rm -rf "$d"; exit $rc')
    _fire("executing deploy script", "deploying", vm_["name"],
          {"name": vm_["name"], "script": vm_.get("os") or DEFAULT_SCRIPT, "script_args": shlex.split(str(args))})
    result = _nodes().engine.exec(node.container_name, ["sh", "-c", command], stdin=[_tar(files)],
                                  timeout=DEPLOY_TIMEOUT_S)
    for line in result.output.splitlines():
        log.info("%s: %s", vm_["name"], line)
    if result.exit_code != 0:
        raise SaltCloudSystemExit(f"deploying the minion on node {vm_['name']} failed (exit {result.exit_code}); "
                                  f"the node is left as it is for a look inside, `salt-cloud -d {vm_['name']}` "
                                  f"removes it:\n{result.output.strip()[-2000:]}")
    return result.output


def create(vm_: dict[str, Any]) -> dict[str, Any]:
    """
    Create node ``vm_['name']`` from its profile, wait until it is ready, and deploy its minion.

    Returns the node's fields (as ``show_instance``) with ``deployed``.

    CLI Example:

    .. code-block:: bash

        salt-cloud -p benchfarm-node-cpu node-a
    """
    name = vm_["name"]
    # the profile's own keys are checked by _spec (salt's is_profile_configured wants `image` and `size`)
    deploy = config.get_cloud_config_value("deploy", vm_, __opts__, default=True)
    _fire("starting create", "creating", name,
          __utils__["cloud.filter_event"]("creating", vm_, ["name", "profile", "provider", "driver"]))
    try:
        spec = _spec(vm_)
        manager = _nodes()
        # a taken name or a CPU set outside this machine fails before an image build
        if manager.check(spec) is not None:
            raise SaltCloudSystemExit(f"a node named {name} exists already, not made by this provider "
                                      "(salt-cloud -Q lists the ones it made); choose another name")
        image = _image(vm_)
        _fire("requesting instance", "requesting", name,
              {"name": name, "pool": spec.pool, "cpuset": spec.cpuset, "memory": spec.memory, "image": image})
        node = manager.create(spec, image, log.info, labels={LABEL_CLOUD: _alias()})
        ret = _full(node)
        if deploy and vm_.get("pub_key") and vm_.get("priv_key"):
            _deploy(vm_, node)
            ret["deployed"] = True
        else:
            ret["deployed"] = False
    except (SaltCloudException, BenchfarmError) as exc:
        # salt-cloud accepted the new minion's key before calling create: take it back
        salt.utils.cloud.remove_key(__opts__["pki_dir"], name)
        if isinstance(exc, BenchfarmError):
            raise _failed(f"creating node {name}", exc) from exc
        raise
    _fire("created instance", "created", name,
          __utils__["cloud.filter_event"]("created", vm_, ["name", "profile", "provider", "driver"]))
    return ret


# destroy -----------------------------------------------------------------------------
def _retire(name: str) -> bool:
    """Retire host ``name`` in the farm's inventory; False when it was never registered."""
    from benchfarm.inventory.host_states import HostStatus
    from benchfarm.inventory.inventory import Inventory

    farm = _farm()
    try:
        Inventory(None, farm.host_registry, farm.kv).set_status(name, HostStatus.RETIRED.value,
                                                               "destroyed by salt-cloud")
    except NotFoundError:
        return False
    return True


def destroy(name: str, call: str | None = None) -> dict[str, Any]:
    """
    Destroy node ``name``: retire its host in the inventory (no job goes to it any more), then
    remove its container (and whatever runs in it) and its volume. salt-cloud deletes its key.

    CLI Example:

    .. code-block:: bash

        salt-cloud -d node-a
    """
    if call == "function":
        raise SaltCloudSystemExit("The destroy action must be called with -d, --destroy, -a or --action.")
    _fire("destroying instance", "destroying", name)
    try:
        retired = _retire(name)
        removed = _nodes().remove(name, log.info)
    except BenchfarmError as exc:
        raise _failed(f"destroying node {name}", exc) from exc
    _fire("destroyed instance", "destroyed", name)
    return {"Destroyed": f"{name} was destroyed.", "container_removed": removed,
            "host": "retired" if retired else "was not registered"}
