"""The xen_memory0 sysfs attributes: formats, writes, and strict refusal of bad input."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest

import xenballoon as xb

Boot = Callable[..., xb.Balloon]


@pytest.fixture
def b(boot: Boot) -> xb.Balloon:
    """A settled 4096-page guest (16 MiB) on a 65536-page host."""
    balloon = boot(4096)
    balloon.guest.sim.run()
    return balloon


def snapshot(b: xb.Balloon) -> tuple:
    return (b.stats, b.scrub_pages, b.state, b.work_pending,
            b.guest.domain.hypervisor.xenstore.read(f"{b.guest.domain.home}/memory/target"))


def backed_off(boot: Boot) -> xb.Balloon:
    """A guest with highmem, ballooned down, then failing to deflate for 200 s."""
    b = boot(4096, host=16384, guest_kw={"lowmem_pages": 1024}, max_retry_count=0)
    sim = b.guest.sim
    b.set_target(1000)
    sim.run()
    hv = b.guest.domain.hypervisor
    hv.create_domain(hv.free_pages, name="hog")
    b.set_target(4096)
    sim.run(until=200)
    return b


# --- reads ---------------------------------------------------------------------------------------

def test_attributes_are_the_kernels() -> None:
    """xen_memory0 has the ten attributes of xen-balloon.c, five of them writable."""
    assert xb.BalloonSysfs.attributes == (
        "target_kb", "target", "schedule_delay", "max_schedule_delay", "retry_count",
        "max_retry_count", "scrub_pages", "info/current_kb", "info/low_kb", "info/high_kb")
    assert xb.BalloonSysfs.writable == {"target_kb", "target", "max_schedule_delay",
                                        "max_retry_count", "scrub_pages"}


def test_ls_and_modes(b: xb.Balloon) -> None:
    """ls lists the device directory and info/; writable files are 0644, the rest 0444."""
    assert b.sysfs.ls() == ["info", "max_retry_count", "max_schedule_delay", "retry_count",
                            "schedule_delay", "scrub_pages", "target", "target_kb"]
    assert b.sysfs.ls("info") == ["current_kb", "high_kb", "low_kb"]
    assert b.sysfs.mode("target_kb") == 0o644 and b.sysfs.mode("info/low_kb") == 0o444
    with pytest.raises(FileNotFoundError):
        b.sysfs.ls("selfballoon")


def test_sysfs_is_one_object_per_balloon(b: xb.Balloon) -> None:
    """Balloon.sysfs is the same BalloonSysfs every time."""
    assert isinstance(b.sysfs, xb.BalloonSysfs) and b.sysfs is b.sysfs


def test_read_defaults_as_the_kernel_prints_them(b: xb.Balloon) -> None:
    """At boot: KiB and bytes in decimal, backoff knobs in hex (32 reads 20), scrub 1."""
    fs = b.sysfs
    assert {a: fs.read(a) for a in fs.attributes} == {
        "target_kb": "16384\n", "target": "16777216\n", "schedule_delay": "1\n",
        "max_schedule_delay": "20\n", "retry_count": "1\n", "max_retry_count": "4\n",
        "scrub_pages": "1\n", "info/current_kb": "16384\n", "info/low_kb": "0\n",
        "info/high_kb": "0\n"}


def test_read_info_attributes_in_kib(boot: Boot) -> None:
    """info/current_kb, low_kb and high_kb are current_pages, balloon_low, balloon_high x 4."""
    b = backed_off(boot)
    s = b.stats
    assert s.balloon_low > 0 and s.balloon_high > 0
    assert b.sysfs.read("info/current_kb") == f"{s.current_pages * 4}\n" == "4000\n"
    assert b.sysfs.read("info/low_kb") == f"{s.balloon_low * 4}\n"
    assert b.sysfs.read("info/high_kb") == f"{s.balloon_high * 4}\n"


def test_read_backoff_counters_in_hex(boot: Boot) -> None:
    """schedule_delay and retry_count print as %lx: 32 s reads 20, a count of 11 reads b."""
    b = backed_off(boot)
    s = b.stats
    assert (s.schedule_delay, s.retry_count) == (32, 11)
    assert b.sysfs.read("schedule_delay") == "20\n"
    assert b.sysfs.read("retry_count") == "b\n"
    assert b.sysfs.read("max_retry_count") == "0\n"


def test_read_target_follows_the_clamp(b: xb.Balloon) -> None:
    """A target beyond reach is clamped by the driver, and target reads the clamped value."""
    b.sysfs.write("target_kb", str(1 << 30))
    b.guest.sim.run()
    assert b.state is xb.BPState.ECANCELED
    assert b.sysfs.read("target_kb") == "16384\n"


# --- writes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, pages", [("8192", 2048), ("8192\n", 2048), ("0x2000", 2048),
                                         ("0X2000", 2048), ("8195", 2048), ("3", 0),
                                         ("0", 0)])
def test_write_target_kb_sets_pages_rounding_down(b: xb.Balloon, text: str, pages: int) -> None:
    """target_kb takes KiB (decimal or 0x hex, one newline) and rounds down to pages."""
    b.sysfs.write("target_kb", text)
    assert b.stats.target_pages == pages


@pytest.mark.parametrize("text, pages", [("8388608", 2048), ("8M", 2048), ("8m\n", 2048),
                                         ("8192K", 2048), ("8192k", 2048), ("1G", 262144),
                                         ("1g", 262144), ("0x800000", 2048), ("0x2M", 512),
                                         ("8191", 1), ("4095", 0)])
def test_write_target_takes_bytes_with_suffixes(b: xb.Balloon, text: str, pages: int) -> None:
    """target takes bytes with an optional K/M/G suffix (any case), rounded down to pages."""
    b.sysfs.write("target", text)
    assert b.stats.target_pages == pages


def test_write_target_kicks_the_worker(b: xb.Balloon) -> None:
    """A target write is balloon_set_new_target: the worker runs and reaches it."""
    b.sysfs.write("target", "4M\n")
    assert b.work_pending
    b.guest.sim.run()
    assert b.stats.current_pages == 1024 and b.sysfs.read("info/current_kb") == "4096\n"


def test_write_largest_target_the_driver_takes(b: xb.Balloon) -> None:
    """2**40 pages is the largest target; it is accepted (and then clamped)."""
    b.sysfs.write("target", str(1 << 52))
    assert b.stats.target_pages == 1 << 40


@pytest.mark.parametrize("text, value", [("64", 64), ("0x40\n", 64), ("1", 1)])
def test_write_max_schedule_delay(b: xb.Balloon, text: str, value: int) -> None:
    """max_schedule_delay takes seconds, reads back in hex."""
    b.sysfs.write("max_schedule_delay", text)
    assert b.max_schedule_delay == b.stats.max_schedule_delay == value
    assert b.sysfs.read("max_schedule_delay") == f"{value:x}\n"


@pytest.mark.parametrize("text, value", [("0", 0), ("12\n", 12), ("0x10", 16)])
def test_write_max_retry_count(b: xb.Balloon, text: str, value: int) -> None:
    """max_retry_count takes a count (0 = retry forever), reads back in hex."""
    b.sysfs.write("max_retry_count", text)
    assert b.max_retry_count == value
    assert b.sysfs.read("max_retry_count") == f"{value:x}\n"


def test_max_retry_count_write_changes_the_backoff(boot: Boot) -> None:
    """After writing max_retry_count 2 the second failure cancels."""
    b = boot(1024, host=2048)
    b.sysfs.write("max_retry_count", "2")
    b.set_target(512)
    b.guest.sim.run()
    hv = b.guest.domain.hypervisor
    hv.create_domain(hv.free_pages)
    b.sysfs.write("target_kb", "4096")
    b.guest.sim.run()
    assert b.state is xb.BPState.ECANCELED and b.guest.sim.now == 2.0


@pytest.mark.parametrize("text, value", [("0", False), ("1", True), ("n", False), ("y", True),
                                         ("N\n", False), ("Y", True), ("off", False),
                                         ("on", True), ("OFF", False), ("On\n", True)])
def test_write_scrub_pages(b: xb.Balloon, text: str, value: bool) -> None:
    """scrub_pages takes 0/1/y/n/on/off in any case and reads 1 or 0."""
    b.scrub_pages = not value
    b.sysfs.write("scrub_pages", text)
    assert b.scrub_pages is value
    assert b.sysfs.read("scrub_pages") == f"{int(value)}\n"


# --- refusals ------------------------------------------------------------------------------------

BIG = str(1 << 64)
BAD_WRITES = [
    # malformed numbers
    ("target_kb", "", errno.EINVAL),
    ("target_kb", "\n", errno.EINVAL),
    ("target_kb", "abc", errno.EINVAL),
    ("target_kb", "12abc", errno.EINVAL),
    ("target_kb", "-1", errno.EINVAL),
    ("target_kb", "+5", errno.EINVAL),
    ("target_kb", " 5", errno.EINVAL),
    ("target_kb", "5 ", errno.EINVAL),
    ("target_kb", "010", errno.EINVAL),         # octal in the kernel
    ("target_kb", "00", errno.EINVAL),
    ("target_kb", "0x", errno.EINVAL),
    ("target_kb", "0xg", errno.EINVAL),
    ("target_kb", "0o7", errno.EINVAL),
    ("target_kb", "0b1", errno.EINVAL),
    ("target_kb", "1e3", errno.EINVAL),
    ("target_kb", "1.5", errno.EINVAL),
    ("target_kb", "1_000", errno.EINVAL),       # Python's int() would take it
    ("target_kb", "\uff11\uff12", errno.EINVAL),  # fullwidth digits, ditto
    ("target_kb", "5\n\n", errno.EINVAL),
    ("target_kb", "\n5", errno.EINVAL),
    ("target_kb", "5K", errno.EINVAL),          # suffixes are for target only
    ("target_kb", BIG, errno.EINVAL),           # past 2**64 - 1
    ("target_kb", str((1 << 40) * 4 + 4), errno.EINVAL),  # past the driver's 2**40 pages
    ("target", "", errno.EINVAL),
    ("target", "M", errno.EINVAL),
    ("target", "5T", errno.EINVAL),
    ("target", "5KB", errno.EINVAL),
    ("target", "5 M", errno.EINVAL),
    ("target", "1.5G", errno.EINVAL),
    ("target", "-1M", errno.EINVAL),
    ("target", "05M", errno.EINVAL),
    ("target", "0x10000000000000000", errno.EINVAL),
    ("target", "17179869184G", errno.EINVAL),   # 2**64 bytes after the suffix
    ("target", str((1 << 52) + 4096), errno.EINVAL),
    ("max_schedule_delay", "0", errno.EINVAL),  # the driver needs at least 1 s
    ("max_schedule_delay", "-1", errno.EINVAL),
    ("max_schedule_delay", "ten", errno.EINVAL),
    ("max_schedule_delay", BIG, errno.EINVAL),
    ("max_retry_count", str((1 << 40) + 1), errno.EINVAL),
    ("max_retry_count", "4 retries", errno.EINVAL),
    ("max_retry_count", "", errno.EINVAL),
    ("scrub_pages", "2", errno.EINVAL),
    ("scrub_pages", "yes", errno.EINVAL),       # the kernel looks at the first letter only
    ("scrub_pages", "true", errno.EINVAL),
    ("scrub_pages", "10", errno.EINVAL),
    ("scrub_pages", "o", errno.EINVAL),
    ("scrub_pages", "", errno.EINVAL),
    ("scrub_pages", " 1", errno.EINVAL),
    # read-only attributes
    ("schedule_delay", "1", errno.EACCES),
    ("retry_count", "1", errno.EACCES),
    ("info/current_kb", "4096", errno.EACCES),
    ("info/low_kb", "0", errno.EACCES),
    ("info/high_kb", "0", errno.EACCES),
    ("schedule_delay", "garbage", errno.EACCES),
    # attributes that do not exist
    ("target_mb", "1", errno.ENOENT),
    ("TARGET_KB", "1", errno.ENOENT),
    ("selfballoon/selfballooning", "1", errno.ENOENT),
    ("info", "1", errno.ENOENT),
    ("info/", "1", errno.ENOENT),
    ("", "1", errno.ENOENT),
    ("../target_kb", "1", errno.ENOENT),
]


def test_bad_input_table_is_large() -> None:
    """The refusal table has at least 30 cases."""
    assert len(BAD_WRITES) >= 30


@pytest.mark.parametrize("attr, text, code", BAD_WRITES)
def test_bad_write_raises_errno_and_changes_nothing(b: xb.Balloon, attr: str, text: str,
                                                   code: int) -> None:
    """A refused write raises OSError with the errno and the file's path; nothing changes."""
    before = snapshot(b)
    with pytest.raises(OSError) as exc:
        b.sysfs.write(attr, text)
    assert exc.value.errno == code
    assert exc.value.filename == f"{xb.BalloonSysfs.root}/{attr}"
    assert snapshot(b) == before


@pytest.mark.parametrize("attr", ["nope", "info/nope", "target_kb/", "info"])
def test_read_unknown_attribute_is_enoent(b: xb.Balloon, attr: str) -> None:
    """Reading an attribute that does not exist raises ENOENT."""
    with pytest.raises(OSError) as exc:
        b.sysfs.read(attr)
    assert exc.value.errno == errno.ENOENT


@pytest.mark.parametrize("text", [b"8192", 8192, None, 2.0])
def test_write_of_non_str_is_type_error(b: xb.Balloon, text: object) -> None:
    """sysfs writes take str; anything else is a TypeError and changes nothing."""
    before = snapshot(b)
    with pytest.raises(TypeError):
        b.sysfs.write("target_kb", text)  # type: ignore[arg-type]
    assert snapshot(b) == before


def test_attribute_name_must_be_str(b: xb.Balloon) -> None:
    """A non-str attribute name is a TypeError."""
    with pytest.raises(TypeError):
        b.sysfs.read(7)  # type: ignore[arg-type]


def test_refusals_are_the_matching_builtin_errors(b: xb.Balloon) -> None:
    """EACCES is a PermissionError and ENOENT a FileNotFoundError (both OSError)."""
    with pytest.raises(PermissionError):
        b.sysfs.write("retry_count", "1")
    with pytest.raises(FileNotFoundError):
        b.sysfs.write("nope", "1")


def test_write_after_destroy_is_enodev(b: xb.Balloon) -> None:
    """Once the domain is destroyed a write raises ENODEV; reads still work."""
    b.guest.domain.hypervisor.destroy_domain(b.guest.domain)
    with pytest.raises(OSError) as exc:
        b.sysfs.write("target_kb", "4096")
    assert exc.value.errno == errno.ENODEV
    assert b.sysfs.read("target_kb") == "16384\n"
