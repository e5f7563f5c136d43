"""The three Dagster instances agree on every setting that keeps runs correct (issue #17, deployment drift).

dagster.yaml (`tem run`, SQLite), deploy/dagster-postgres.yaml (a team instance) and deploy/k8s/values.yaml
(the official Helm chart, which renders the instance's dagster.yaml from camelCase values) must carry the
same run queue limits (above all one run per customer at a time: a month's savings read the usage of the
months before), the same run monitoring and the same concurrency pool granularity. Only the two sizes, how
many runs and how many runs per pool at once, differ per deployment; each must still be set.

Also: the code-location image installs nothing from outside requirements.lock.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import validate_concurrency_config

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "dagster.yaml"
TEAM = ROOT / "deploy" / "dagster-postgres.yaml"
HELM = ROOT / "deploy" / "k8s" / "values.yaml"
DOCKERFILE = ROOT / "deploy" / "k8s" / "Dockerfile"
CHECK_LOCK = ROOT / "deploy" / "k8s" / "check_lock.py"
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"

CUSTOMER_TAG = "dagster/partition/customer"

# Helm value -> instance key, as the chart's templates render them (helpers/instance/_concurrency.tpl and the
# run_monitoring block of configmap-instance.yaml). A Helm key missing here fails the test: the chart passes
# runMonitoring through as a free-form map, so a misspelt key would silently render nothing.
HELM_RUNS = {"maxConcurrentRuns": "max_concurrent_runs", "tagConcurrencyLimits": "tag_concurrency_limits"}
HELM_POOLS = {
    "defaultLimit": "default_limit",
    "granularity": "granularity",
    "opGranularityRunBuffer": "op_granularity_run_buffer",
}
HELM_RUN_MONITORING = {
    "enabled": "enabled",
    "startTimeoutSeconds": "start_timeout_seconds",
    "cancelTimeoutSeconds": "cancel_timeout_seconds",
    "maxRuntimeSeconds": "max_runtime_seconds",
    "maxResumeRunAttempts": "max_resume_run_attempts",
    "pollIntervalSeconds": "poll_interval_seconds",
    "freeSlotsAfterRunEndSeconds": "free_slots_after_run_end_seconds",
}
# sizes, chosen per deployment (2 local cores, a team server, a cluster); the rest must be equal
SIZES = {"runs": ["max_concurrent_runs"], "pools": ["default_limit"]}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def renamed(section: dict | None, names: dict[str, str], where: str) -> dict:
    section = section or {}
    unknown = set(section) - set(names)
    assert not unknown, f"{where}: keys the chart does not render: {sorted(unknown)}"
    # a null Helm value is deleted from the chart's defaults, the same as leaving it out
    return {names[key]: value for key, value in section.items() if value is not None}


def helm_as_instance(values: dict) -> dict:
    """The parts of the instance dagster.yaml the chart renders from values.yaml that this test compares."""
    daemon = values.get("dagsterDaemon", {})
    coordinator = daemon.get("runCoordinator", {})
    queued = coordinator.get("config", {}).get("queuedRunCoordinator") or {}
    instance: dict = {}
    if coordinator.get("enabled") and coordinator.get("type") == "QueuedRunCoordinator":
        config = {}
        if queued.get("maxConcurrentRuns") is not None:
            config["max_concurrent_runs"] = queued["maxConcurrentRuns"]
        if queued.get("tagConcurrencyLimits"):
            config["tag_concurrency_limits"] = queued["tagConcurrencyLimits"]
        if queued.get("blockOpConcurrencyLimitedRuns"):
            block = queued["blockOpConcurrencyLimitedRuns"]
            config["block_op_concurrency_limited_runs"] = {
                "enabled": block.get("enabled"),
                "op_concurrency_slot_buffer": block.get("opConcurrencySlotBuffer"),
            }
        instance["run_coordinator"] = {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"}
        if config:
            instance["run_coordinator"]["config"] = config
    concurrency = values.get("concurrency") or {}
    if concurrency.get("enabled"):
        rendered = {}
        runs = renamed(concurrency.get("runs"), HELM_RUNS, "concurrency.runs")
        if runs.get("tag_concurrency_limits") == []:
            del runs["tag_concurrency_limits"]
        if runs:
            rendered["runs"] = runs
        pools = renamed(concurrency.get("pools"), HELM_POOLS, "concurrency.pools")
        if pools:
            rendered["pools"] = pools
        instance["concurrency"] = rendered
    monitoring = daemon.get("runMonitoring") or {}
    if daemon.get("enabled", True) and monitoring.get("enabled"):
        instance["run_monitoring"] = renamed(monitoring, HELM_RUN_MONITORING, "dagsterDaemon.runMonitoring")
    return instance


def instance(path: Path) -> dict:
    return helm_as_instance(load(path)) if path == HELM else load(path)


def run_limits(config: dict) -> dict:
    """The run queue's limits, wherever the instance sets them (`concurrency > runs` or the run coordinator)."""
    runs = dict((config.get("concurrency") or {}).get("runs") or {})
    coordinator = (config.get("run_coordinator") or {}).get("config") or {}
    for key in ("max_concurrent_runs", "tag_concurrency_limits"):
        if key in coordinator:
            assert key not in runs, f"{key} set twice"
            runs[key] = coordinator[key]
    return runs


def tag_limits(config: dict) -> list[tuple]:
    limits = []
    for limit in run_limits(config).get("tag_concurrency_limits") or []:
        assert set(limit) <= {"key", "value", "limit"}, limit
        value = limit.get("value")
        if isinstance(value, dict):
            assert set(value) == {"applyLimitPerUniqueValue"}, value
            value = ("per unique value", value["applyLimitPerUniqueValue"] is True)
        limits.append((limit["key"], value, limit["limit"]))
    return sorted(limits, key=repr)


def equal_part(section: dict, sizes: list[str]) -> dict:
    return {key: value for key, value in section.items() if key not in sizes}


DEPLOYED = [pytest.param(TEAM, id="dagster-postgres.yaml"), pytest.param(HELM, id="k8s-values.yaml")]
ALL = [pytest.param(LOCAL, id="dagster.yaml"), *DEPLOYED]


def test_local_instance_limits_one_run_per_customer_and_monitors_runs():
    """The reference the others are compared with: a change here must be a deliberate one."""
    local = load(LOCAL)
    assert tag_limits(local) == [(CUSTOMER_TAG, ("per unique value", True), 1)]
    monitoring = local["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["start_timeout_seconds"] > 0 and monitoring["max_runtime_seconds"] > 0
    assert local["concurrency"]["pools"]["granularity"] == "run"


@pytest.mark.parametrize("path", DEPLOYED)
def test_tag_concurrency_limits_match_local(path):
    assert tag_limits(instance(path)) == tag_limits(load(LOCAL))


@pytest.mark.parametrize("path", DEPLOYED)
def test_run_monitoring_matches_local(path):
    assert instance(path).get("run_monitoring") == load(LOCAL)["run_monitoring"]


@pytest.mark.parametrize("path", DEPLOYED)
def test_pools_match_local_but_for_their_size(path):
    pools = (instance(path).get("concurrency") or {}).get("pools") or {}
    local = load(LOCAL)["concurrency"]["pools"]
    assert equal_part(pools, SIZES["pools"]) == equal_part(local, SIZES["pools"])


@pytest.mark.parametrize("path", ALL)
def test_sizes_are_set_and_let_runs_start(path):
    """Left out, Dagster's defaults apply (10 runs; pools without a limit); 0 stops every run, -1 lifts the cap."""
    config = instance(path)
    sections = {"runs": run_limits(config), "pools": (config.get("concurrency") or {}).get("pools") or {}}
    for section, keys in SIZES.items():
        for key in keys:
            value = sections[section].get(key)
            assert isinstance(value, int) and value >= 1, f"{section}.{key} = {value!r}"


@pytest.mark.parametrize("path", ALL)
def test_dagster_accepts_the_concurrency_settings(path):
    """Dagster refuses to start when run_coordinator config repeats limits that `concurrency` owns (the pools
    put every instance in that case), which is why values.yaml keeps queuedRunCoordinator's limits unset."""
    validate_concurrency_config(instance(path))


def test_helm_keeps_run_limits_out_of_the_run_coordinator():
    values = load(HELM)
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued.get("maxConcurrentRuns") is None
    # [] rather than null: the chart's conflict check takes len() of it, which fails on null
    assert queued.get("tagConcurrencyLimits") == []
    assert queued.get("blockOpConcurrencyLimitedRuns") is None
    assert values["concurrency"]["enabled"] is True


# --- the image ---------------------------------------------------------------------------------------------

PIP_OPTIONS_WITH_VALUE = {
    "-c",
    "--constraint",
    "-r",
    "--requirement",
    "-e",
    "--editable",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--src",
    "--upgrade-strategy",
    "--progress-bar",
    "--cache-dir",
    "--log",
    "--timeout",
    "--retries",
    "--proxy",
    "--cert",
    "--client-cert",
    "--trusted-host",
    "--only-binary",
    "--no-binary",
    "--config-settings",
    "-C",
    "--global-option",
    "--report",
}


def docker_instructions(text: str) -> list[tuple[str, str]]:
    lines, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if current and line.lstrip().startswith("#"):
            continue  # a comment line inside a continued instruction
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        lines.append(current.strip())
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def shell_commands(run: str) -> list[list[str]]:
    return [shlex.split(part) for part in re.split(r"&&|\|\||;", run) if part.strip()]


def pip_install_args(words: list[str]) -> list[str] | None:
    """The arguments after `install` when the command is pip install (pip, pip3, python -m pip...)."""
    for i, word in enumerate(words):
        program = word.rsplit("/", 1)[-1]
        is_pip = re.fullmatch(r"pip[\d.]*", program) or (word == "pip" and i > 0 and words[i - 1] == "-m")
        if is_pip and i + 1 < len(words) and words[i + 1] == "install":
            return words[i + 2 :]
    return None


def parse_pip_install(args: list[str]) -> tuple[list[str], list[str]]:
    """(constraint files, requirements named) of a pip install command."""
    constraints, requirements, i = [], [], 0
    while i < len(args):
        arg = args[i]
        option, eq, value = arg.partition("=")
        if arg.startswith("--") and eq and option in PIP_OPTIONS_WITH_VALUE:
            name, i = option, i + 1
        elif arg in PIP_OPTIONS_WITH_VALUE:
            name, value, i = arg, args[i + 1], i + 2
        elif arg.startswith("-c") and len(arg) > 2:
            name, value, i = "-c", arg[2:], i + 1
        elif arg.startswith("-"):
            i += 1
            continue
        else:
            requirements.append(arg)
            i += 1
            continue
        if name in ("-c", "--constraint"):
            constraints.append(value)
        else:
            assert name not in ("-r", "--requirement", "-e", "--editable"), f"pip install {name} {value}"
    return constraints, requirements


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def dockerfile_runs() -> list[list[list[str]]]:
    return [shell_commands(args) for kind, args in docker_instructions(DOCKERFILE.read_text()) if kind == "RUN"]


def test_image_installs_everything_from_the_lock():
    pins = lock_pins()
    installs = [args for run in dockerfile_runs() for words in run if (args := pip_install_args(words)) is not None]
    assert installs, "the Dockerfile installs nothing with pip"
    for args in installs:
        constraints, requirements = parse_pip_install(args)
        assert "requirements.lock" in constraints, f"pip install {' '.join(args)}: no -c requirements.lock"
        assert requirements, f"pip install {' '.join(args)} names nothing"
        for requirement in requirements:
            if re.fullmatch(r"\.(\[[\w,-]+\])?", requirement):
                continue  # the project, with its extras
            name, sep, version = requirement.partition("==")
            name = re.sub(r"[-_.]+", "-", name).lower()
            assert sep and pins.get(name) == version, f"{requirement}: not the project nor pinned as in the lock"


def runs_check_lock(words: list[str]) -> bool:
    python = re.fullmatch(r"python[\d.]*", words[0].rsplit("/", 1)[-1])
    return bool(python) and len(words) > 1 and words[1].endswith("check_lock.py")


def test_image_checks_what_it_installed_against_the_lock():
    """-c pins what the lock names but lets through what it does not: check_lock.py runs after the install."""
    commands = [words for run in dockerfile_runs() for words in run]
    last_install = max(i for i, words in enumerate(commands) if pip_install_args(words) is not None)
    checks = [i for i, words in enumerate(commands) if runs_check_lock(words)]
    assert checks and checks[-1] > last_install
    assert "requirements.lock" in commands[checks[-1]] and "dagster-k8s" in commands[checks[-1]]


def test_check_lock_refuses_packages_outside_the_lock():
    spec = importlib.util.spec_from_file_location("check_lock", CHECK_LOCK)
    check_lock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_lock)
    lock = {"dagster": "1.13.27", "dagster-k8s": "0.29.27"}
    installed = {"dagster": "1.13.27", "dagster-k8s": "0.29.27", "tem-pipeline": "0.1.0", "pip": "25.0"}
    assert check_lock.problems(installed, lock, ["dagster-k8s"]) == []
    assert check_lock.problems({**installed, "kubernetes": "36.0.3"}, lock, []) == [
        "kubernetes==36.0.3 is installed but not in the lock"
    ]
    assert check_lock.problems({**installed, "dagster": "1.13.26"}, lock, []) == [
        "dagster==1.13.26 is installed but the lock pins 1.13.27"
    ]
    assert check_lock.problems({"dagster": "1.13.27"}, lock, ["dagster_k8s"]) == ["dagster-k8s is not installed"]


def test_k8s_extra_is_declared_and_locked_in_step_with_dagster():
    extras = tomllib.loads(PYPROJECT.read_text())["project"].get("optional-dependencies", {})
    assert "dagster-k8s==0.29.27" in [re.sub(r"\s+", "", req) for req in extras.get("k8s", [])]
    pins = lock_pins()
    # Dagster's integration libraries move in lockstep (pyproject.toml pins them to one release together)
    assert pins.get("dagster-k8s") == pins["dagster-postgres"] == "0.29.27"
    assert pins["dagster"] == "1.13.27"
