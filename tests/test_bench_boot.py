"""padctl.bench_boot: the boot figures `make bench` prints are measured, not made up."""
from padctl import bench_boot


def test_boot_figures_are_measured_on_a_new_and_a_full_ring():
    got = bench_boot.measure()
    assert got["new"][0] == 0 and got["full"][0] > 10000  # the full ring: every slot used
    assert all(o > 0 and a > 0 for _, o, a in got.values())
    lines = []
    bench_boot.report(got, say=lines.append)
    assert "full ring of %d records" % got["full"][0] in lines[0]
