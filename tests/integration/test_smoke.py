"""A first user session: mount, write, remount, read."""
import os


def test_write_remount_read(mounted):
    with open(mounted.path("hello.txt"), "w") as f:
        f.write("hello coffre\n")
    os.mkdir(mounted.path("dir"))
    mounted.remount()
    with open(mounted.path("hello.txt")) as f:
        assert f.read() == "hello coffre\n"
    assert sorted(os.listdir(mounted.mnt)) == ["dir", "hello.txt"]
