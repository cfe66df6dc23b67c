"""Pre-exec shim: give a container process its own mount namespace and volumes, then exec it.

Run as ``python -I -S shim.py ERRFD SPEC_JSON COMMAND...`` (or ``shim.py --check``). It is a
standalone script importing only the standard library, so it starts in milliseconds. It never
touches the agent's mount namespace: bind mounts happen after unshare(CLONE_NEWNS) with private
propagation, and disappear with the container's last process.

If anything fails before exec, the reason is written to ERRFD (close-on-exec, so the agent
reads EOF on success) and the shim exits 127.
"""

import ctypes
import json
import os
import sys

CLONE_NEWNS = 0x00020000
MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, flags: int) -> None:
    src = source.encode() if source else None
    _check(_libc.mount(src, target.encode(), None, flags, None), f"mount {source} on {target}")


def _prepare_target(source: str, target: str) -> None:
    """Create a missing mountpoint: a directory for a directory, an empty file for a file."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    elif not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a"):
            pass


def isolate(mounts: list[list[str | bool]]) -> None:
    """New mount namespace, private propagation, then each volume bound at its mountPath.

    Every source is opened before anything is mounted, and bound through its
    /proc/self/fd path (as runc does): a volume mounted at /tmp would otherwise hide
    the sources of the pod's other volumes when the agent's state lives under /tmp.
    Shallow targets are mounted first, so a volume never hides a deeper one.
    """
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", MS_REC | MS_PRIVATE)
    opened = []
    for source, target, read_only in mounts:
        assert isinstance(source, str)
        assert isinstance(target, str)
        opened.append((os.open(source, os.O_PATH | os.O_CLOEXEC), target, bool(read_only)))
    for descriptor, target, read_only in sorted(opened, key=lambda mount: _depth(mount[1])):
        source = f"/proc/self/fd/{descriptor}"
        _prepare_target(source, target)
        _mount(source, target, MS_BIND | MS_REC)
        if read_only:
            _mount(source, target, MS_BIND | MS_REMOUNT | MS_RDONLY)
        os.close(descriptor)


def _depth(path: str) -> int:
    return len([part for part in path.split("/") if part])


def join(pid: int) -> None:
    """Enter a running container's mount namespace (exec probes run beside the container)."""
    with open(f"/proc/{pid}/ns/mnt") as namespace:
        _check(_libc.setns(namespace.fileno(), CLONE_NEWNS), f"setns into pid {pid}")


def _fail(errfd: int, message: str) -> None:
    os.write(errfd, message.encode())
    os._exit(127)


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        try:
            _check(_libc.unshare(CLONE_NEWNS), "unshare")
            _mount(None, "/", MS_REC | MS_PRIVATE)
        except OSError as error:
            print(error, file=sys.stderr)
            sys.exit(1)
        sys.exit(0)
    errfd = int(sys.argv[1])
    spec = json.loads(sys.argv[2])
    argv = sys.argv[3:]
    os.set_inheritable(errfd, False)
    try:
        if spec.get("join"):
            join(int(spec["join"]))
        elif spec.get("isolate"):
            isolate(spec.get("mounts", []))
        if spec.get("workdir"):
            os.makedirs(spec["workdir"], exist_ok=True)
            os.chdir(spec["workdir"])
    except OSError as error:
        _fail(errfd, f"preparing the container: {error}")
    try:
        os.execvp(argv[0], argv)  # noqa: S606 - running the container's command is the point
    except FileNotFoundError:
        where = "no such file or directory" if "/" in argv[0] else "executable file not found in $PATH"
        _fail(errfd, f'exec: "{argv[0]}": {where}')
    except OSError as error:
        _fail(errfd, f'exec: "{argv[0]}": {error.strerror}')


if __name__ == "__main__":
    main()
