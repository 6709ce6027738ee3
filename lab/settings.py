"""The lab's configuration: ports, binaries, rates and the run directory, and where it is kept.

`up` writes the configuration it started with to ``<run dir>/lab.json``; every other verb reads
it back from there (parsed at the edge, like any other input), so ports given to `up` need not
be repeated.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sre_platform import tools
from sre_platform.errors import InputFileError, LabError, UsageError, field_path
from sre_platform.files import write_atomic
from sre_platform.yamlfile import YamlLimits, read_text

DEFAULT_RUN_DIR = ".lab"
RUN_DIR_ENV = "SRE_LAB_DIR"
STATE_FILE = "lab.json"
AUDIT_FILE = "remediations.jsonl"  # the remediator's audit records, one JSON line each
STATE_FILE_LIMITS = YamlLimits(max_bytes=1024 * 1024)  # lab.json is a few kilobytes


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ports(_Frozen):
    """Every loopback port the lab listens on."""

    prometheus: int = Field(9090, ge=1, le=65535)
    alertmanager: int = Field(9093, ge=1, le=65535)
    node_exporter: int = Field(9100, ge=1, le=65535)
    service: tuple[int, ...] = (8081, 8082, 8083)
    supervisor: int = Field(8090, ge=1, le=65535)
    receiver: int = Field(8091, ge=1, le=65535)
    loadgen: int = Field(8092, ge=1, le=65535)
    dashboard: int = Field(8093, ge=1, le=65535)
    remediator: int = Field(8094, ge=1, le=65535)

    @model_validator(mode="after")
    def _distinct(self) -> Ports:
        ports = self.all()
        if any(not 1 <= port <= 65535 for port in self.service):
            raise ValueError("service ports must be between 1 and 65535")
        if not self.service:
            raise ValueError("at least one service replica is needed")
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"every lab port must be different, got {sorted(ports.values())}")
        return self

    def all(self) -> dict[str, int]:
        """Component name -> port, with one entry per service replica."""
        ports = {
            "prometheus": self.prometheus,
            "alertmanager": self.alertmanager,
            "node_exporter": self.node_exporter,
            "supervisor": self.supervisor,
            "receiver": self.receiver,
            "loadgen": self.loadgen,
            "dashboard": self.dashboard,
            "remediator": self.remediator,
        }
        ports.update({f"replica-{i}": port for i, port in enumerate(self.service, start=1)})
        return ports


class Binaries(_Frozen):
    """Resolved absolute paths of the external programs the lab starts."""

    prometheus: str
    alertmanager: str
    node_exporter: str


class Capacity(_Frozen):
    """A replica's order capacity: ``workers`` orders at a time, each holding its worker for
    ``service_time_ms`` (lab.service.OrderPool); 8 / 400 ms = 20 orders/s per replica."""

    workers: int = Field(8, ge=1, le=10_000)
    service_time_ms: float = Field(400.0, ge=0, le=60_000)


class Remediation(_Frozen):
    """The remediator: its policy file, and the autoscaler's target tracking."""

    policy: Path = Path("ops/remediation.yaml")
    max_replicas: int = Field(6, ge=1, le=50)
    autoscale: bool = True
    target: float = Field(6.0, gt=0)  # orders in flight per replica
    scale_out_cooldown: float = Field(15.0, ge=0)
    scale_in_cooldown: float = Field(30.0, ge=0)
    scale_in_after: float = Field(30.0, ge=0)


class LabConfig(_Frozen):
    """Everything `sre lab up` decided; saved in the run directory for the other verbs."""

    run_dir: Path
    ports: Ports = Field(default_factory=Ports)
    binaries: Binaries
    specs: tuple[Path, ...] = (Path("slo_specs"),)
    period: str = "30d"
    order_rate: float = Field(20.0, ge=0)
    scrape_interval: str = "5s"
    evaluation_interval: str = "5s"
    otlp_endpoint: str | None = None
    trace_ratio: float = Field(1.0, ge=0, le=1)
    started_at: float | None = None  # set by `up`: when it started the lab (epoch seconds)
    capacity: Capacity = Field(default_factory=lambda: Capacity())
    remediation: Remediation = Field(default_factory=lambda: Remediation())

    def url(self, component: str) -> str:
        """The base URL of ``component`` (a name of ``Ports.all``)."""
        return f"http://127.0.0.1:{self.ports.all()[component]}"

    @property
    def replica_urls(self) -> tuple[str, ...]:
        """Base URLs of the service replicas, replica 1 first."""
        return tuple(f"http://127.0.0.1:{port}" for port in self.ports.service)


def run_dir_from(option: Path | None) -> Path:
    """The run directory: the option, else $SRE_LAB_DIR, else ``.lab``; always absolute."""
    chosen = option or Path(os.environ.get(RUN_DIR_ENV) or DEFAULT_RUN_DIR)
    return chosen.expanduser().resolve()


def service_ports(first: int, replicas: int, explicit: str | None) -> tuple[int, ...]:
    """Replica ports: a comma-separated ``explicit`` list, else ``replicas`` from ``first`` on."""
    if explicit:
        try:
            ports = tuple(int(part) for part in explicit.split(",") if part.strip())
        except ValueError as exc:
            message = f"--service-ports: expected ports like 8081,8082, got {explicit!r}"
            raise UsageError(message) from exc
        if len(ports) != replicas:
            raise UsageError(f"--service-ports lists {len(ports)} ports for {replicas} replicas")
        return ports
    return tuple(range(first, first + replicas))


def find_tool(tool: str, override: str | None = None) -> str:
    """Return the absolute path of ``tool``, or raise ToolMissingError saying how to install it."""
    return tools.find_tool(tool, override, option=f"--{tool.replace('_', '-')}-bin")


def save(config: LabConfig) -> None:
    """Write ``config`` to the run directory's state file."""
    write_atomic(config.run_dir / STATE_FILE, config.model_dump_json(indent=2) + "\n")


def load(run_dir: Path) -> LabConfig | None:
    """Read the configuration a previous `up` saved, or None when there is none.

    A state file that cannot be read or parsed raises LabError naming the file and the field.
    """
    path = run_dir / STATE_FILE
    if not path.exists() and not path.is_symlink():
        return None
    restart = command(run_dir, "down") + " && " + command(run_dir, "up")
    try:
        return LabConfig.model_validate_json(read_text(path, STATE_FILE_LIMITS))
    except InputFileError as exc:
        reason = exc.message
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_path(first["loc"])
        reason = f"{where}: {first['msg']}" if where else f"not a lab state file: {first['msg']}"
    raise LabError(f"{path}: {reason} (`{restart}` starts the lab over)")


def command(run_dir: Path, verb: str, *args: str) -> str:
    """The `sre lab` command line for ``verb`` on ``run_dir``, for hints a person copies.

    It names ``--run-dir`` whenever ``run_dir`` is not the one the command would pick without it.
    """
    words = ["sre", "lab", verb]
    if run_dir != run_dir_from(None):
        words += ["--run-dir", str(run_dir)]
    return shlex.join([*words, *args])
