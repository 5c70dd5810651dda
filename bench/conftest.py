"""pytest-benchmark records name the CPU's microarchitecture, not only its model string: the
project's machines share a model name while their vector units differ 2x."""

from bench.regression import machine_info as cpu_info


def pytest_benchmark_update_machine_info(config, machine_info):  # noqa: ARG001 - the hook's signature
    machine_info["microarchitecture"] = cpu_info()
