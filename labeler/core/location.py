"""Where a project lives, and whether that is risky: a network file system (SQLite's WAL does not
work there) or a removable drive (BAD_INPUTS row 29). Read from /proc/mounts and /sys/class/block."""

from __future__ import annotations

import os
import re
from pathlib import Path

MOUNTS_FILE = "/proc/mounts"  # tests point these at fakes
SYS_BLOCK = "/sys/class/block"
NETWORK_FS = {
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "glusterfs",
    "lustre", "gpfs", "beegfs", "davfs", "coda", "fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse",
    "fuse.davfs2", "fuse.glusterfs", "fuse.cephfs", "fuse.gvfsd-fuse", "fuse.smbnetfs", "fuse.curlftpfs",
}
REMOVABLE_FS = {"vfat", "msdos", "fat", "exfat", "fuseblk", "ntfs", "ntfs3", "hfsplus", "iso9660", "udf"}


def _unescape_mount(field_: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes (\040 ...)
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


def _mount_of(folder: Path, mounts_file: str) -> tuple[str, str, str] | None:
    """(device, mount point, filesystem type) of the mount that holds ``folder``."""
    try:
        lines = Path(mounts_file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    target = str(folder)
    best = None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        dev, mnt, fstype = _unescape_mount(parts[0]), _unescape_mount(parts[1]), parts[2]
        inside = target == mnt or mnt == "/" or target.startswith(mnt.rstrip("/") + "/")
        if inside and (best is None or len(mnt) >= len(best[1])):  # the last of equals is on top
            best = (dev, mnt, fstype)
    return best


def _removable(device: str, sys_block: str) -> bool:
    """Whether the block device is removable (a USB stick, an SD card), as the kernel says."""
    if not device.startswith("/dev/"):
        return False
    name = Path(device).resolve().name if os.path.exists(device) else Path(device).name
    node = Path(sys_block) / name
    for candidate in (node / "removable", node.resolve().parent / "removable" if node.exists() else None):
        if candidate is None:
            continue
        try:
            return candidate.read_text().strip() == "1"
        except OSError:
            continue
    return False


def location_warnings(path: str | os.PathLike, *, mounts_file: str | None = None,
                      sys_block: str | None = None) -> list[str]:
    """Warnings about where a project file is (or would be): on a network filesystem SQLite's WAL
    and file locks do not work reliably; on a removable drive a pulled cable loses writes."""
    folder = Path(os.path.realpath(Path(path).parent))
    mount = _mount_of(folder, mounts_file or MOUNTS_FILE)
    if mount is None:
        return []
    device, mnt, fstype = mount
    base = fstype.split(".")[0]
    if fstype in NETWORK_FS or base in NETWORK_FS or "sshfs" in fstype:
        return [
            f"{Path(path).name} is on a network filesystem ({fstype} at {mnt}): SQLite's journal and "
            "locks are not reliable there, so two computers could write at once and a crash or a lost "
            "connection can damage the project. Work on a copy on a local disk."
        ]
    if _removable(device, sys_block or SYS_BLOCK):
        what = f"a removable drive ({fstype} at {mnt})"
    elif fstype in REMOVABLE_FS:
        what = f"a {fstype} filesystem at {mnt}, probably a removable drive"
    else:
        return []
    return [
        f"{Path(path).name} is on {what}: unplugging it while labeler runs can lose or damage "
        "decisions, and file locks may not hold. Work on a copy on a local disk."
    ]
