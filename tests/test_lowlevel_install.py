"""install(hv): unmodified dom0 code against xen.lowlevel.xc/xs, in simulated time."""

from __future__ import annotations

import sys
import time
import types

import pytest

import xenballoon as xb
from xenballoon.lowlevel import MODULE_NAMES, install

# A dom0 tool as it would run on a real host: no xenballoon name in it.
DOM0_SCRIPT = '''
import time
import xen.lowlevel.xc
import xen.lowlevel.xs

xc = xen.lowlevel.xc.xc()
xs = xen.lowlevel.xs.xs()
started = time.time()
for info in xc.domain_getinfo():
    path = xs.get_domain_path(info["domid"]) + "/memory/target"
    half = int(xs.read("", path)) // 2
    xc.domain_setmaxmem(info["domid"], half)
    xs.write("", path, str(half))
    xc.domain_set_target_mem(info["domid"], half)
while any(i["mem_kb"] > i["maxmem_kb"] for i in xc.domain_getinfo()):
    time.sleep(0.1)
report = {i["domid"]: i["mem_kb"] for i in xc.domain_getinfo()}
elapsed = time.time() - started
free_kb = xc.physinfo()["free_memory"]
'''


@pytest.mark.parametrize("backend", ["c", "python"])
def test_dom0_script_moves_the_guests(backend: str) -> None:
    """A script using only xen.lowlevel and time.sleep halves every guest."""
    hv = xb.Hypervisor(xb.Simulation(), 65536, backend=backend)
    for memory in (8192, 4096):
        xb.Balloon(xb.Guest(hv.create_domain(memory)))
    scope: dict[str, object] = {}
    with install(hv):
        exec(compile(DOM0_SCRIPT, "dom0.py", "exec"), scope)
    assert scope["report"] == {1: 4096 * 4, 2: 2048 * 4}
    assert scope["free_kb"] == (65536 - 4096 - 2048) * 4
    assert scope["elapsed"] == pytest.approx(hv.sim.now)
    hv.check(guests=True)


def test_sleep_and_clocks_follow_the_simulation(machine) -> None:  # type: ignore[no-untyped-def]
    """time.sleep advances the Simulation; time() is epoch + now; monotonic() is now."""
    hv = machine()
    with install(hv, epoch=1000.0):
        time.sleep(2.5)
        assert hv.sim.now == 2.5
        assert time.time() == 1002.5 and time.monotonic() == 2.5
        with pytest.raises(ValueError):
            time.sleep(-1)
        with pytest.raises(TypeError):
            time.sleep("1")  # type: ignore[arg-type]
    assert hv.sim.now == 2.5


def test_exit_restores_everything_exactly(machine) -> None:  # type: ignore[no-untyped-def]
    """Pre-existing sys.modules entries come back; absent ones are removed; time too."""
    real = {name: getattr(time, name) for name in ("sleep", "time", "monotonic")}
    sentinel = types.ModuleType("xen")
    saved = {name: sys.modules.pop(name, None) for name in MODULE_NAMES}
    sys.modules["xen"] = sentinel
    try:
        with install(machine()) as mods:
            import xen.lowlevel.xs  # noqa: F401

            assert sys.modules["xen"] is mods["xen"] is not sentinel
            assert sys.modules["xen.lowlevel.xs"].xs is mods["xen.lowlevel.xs"].xs
        assert sys.modules["xen"] is sentinel
        assert all(name not in sys.modules for name in MODULE_NAMES[1:])
        assert {name: getattr(time, name) for name in real} == real
    finally:
        for name, module in saved.items():
            sys.modules.pop(name, None)
            if module is not None:
                sys.modules[name] = module


def test_exit_restores_after_an_exception(machine) -> None:  # type: ignore[no-untyped-def]
    """An error inside the block still restores time and sys.modules."""
    real_sleep = time.sleep
    with pytest.raises(RuntimeError, match="boom"), install(machine()):
        raise RuntimeError("boom")
    assert time.sleep is real_sleep and "xen.lowlevel.xc" not in sys.modules


def test_nested_installs_restore_in_order(machine) -> None:  # type: ignore[no-untyped-def]
    """The inner install shadows the outer one until it exits."""
    outer, inner = machine(), machine(32768)
    with install(outer):

        with install(inner):
            import xen.lowlevel.xc as xc_inner

            assert xc_inner.xc().physinfo()["total_memory"] == 32768 * 4
        import xen.lowlevel.xc as xc_outer

        assert xc_outer.xc().physinfo()["total_memory"] == 65536 * 4
    assert "xen" not in sys.modules


def test_errors_are_the_bindings(machine) -> None:  # type: ignore[no-untyped-def]
    """xen.lowlevel.xc.Error and xs.Error are RuntimeErrors."""
    with install(machine()):
        import xen.lowlevel.xc
        import xen.lowlevel.xs

        with pytest.raises(xen.lowlevel.xc.Error):
            xen.lowlevel.xc.xc().domain_setmaxmem(5, 1024)
        assert issubclass(xen.lowlevel.xs.Error, RuntimeError)


@pytest.mark.parametrize("hv, epoch", [(None, 0.0), ("hv", float("nan")), ("hv", "0")])
def test_bad_arguments_install_nothing(machine, hv: object, epoch: object) -> None:  # type: ignore[no-untyped-def]
    """A non-Hypervisor or a bad epoch is refused before anything is patched."""
    real_sleep = time.sleep
    host = machine() if hv == "hv" else hv
    with pytest.raises((TypeError, ValueError)), install(host, epoch=epoch):  # type: ignore[arg-type]
        pass
    assert time.sleep is real_sleep and "xen" not in sys.modules


def test_sleeping_inside_a_simulation_event_is_refused(machine) -> None:  # type: ignore[no-untyped-def]
    """time.sleep from an event would rerun the loop re-entrantly: a clear error instead."""
    hv = machine()
    with install(hv):
        hv.sim.call_later(1.0, lambda: time.sleep(1.0))
        with pytest.raises(RuntimeError, match="re-entrantly"):
            hv.sim.run()
    assert hv.sim.now == 1.0 and not hv.sim.running
