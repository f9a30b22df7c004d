"""The second target over SFTP (I1, I4): ``SECRETUM_BACKUP_COPY_TO=sftp://user@host:port/folder``.

The copy goes through OpenSSH's own ``sftp`` client in batch mode (no SSH code of Secretum's):
key authentication only (SECRETUM_BACKUP_SFTP_KEY, a private key file of the server's own), the
remote host's key checked against SECRETUM_BACKUP_SFTP_KNOWN_HOSTS (``StrictHostKeyChecking=yes``:
an unknown or changed host key is refused, never learnt). The file is put under a hidden partial
name, renamed, and its size on the remote host compared with the local one. The batch deletes
nothing: the remote account may be one that can only add files (e.g. a chrooted ``internal-sftp``
with a folder it may write but not delete in), so the server cannot remove old backups there. The
backup is encrypted and signed before it leaves (I4); SSH protects its way too.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from secretum.backup.archive import BackupError


@dataclass(frozen=True)
class Target:
    user: str
    host: str
    port: int
    folder: str

    def __str__(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}{self.folder}"


def parse(url: str) -> Target | None:
    """The SFTP target of ``url``, None when it is a folder; a refusal when it is a bad URL."""
    if not url.startswith("sftp://"):
        return None
    parts = urlsplit(url)
    folder = unquote(parts.path) or "/"
    try:
        port = parts.port or 22
    except ValueError:
        port = 0
    if not parts.username or not parts.hostname or not port or any(c in folder for c in '"\n\r'):
        raise BackupError(
            f"SECRETUM_BACKUP_COPY_TO {url!r} is not an SFTP target: sftp://user@host[:port]/folder"
        )
    return Target(parts.username, parts.hostname, port, folder.rstrip("/") or "/")


def upload(path: Path, target: Target, key: Path, known_hosts: Path) -> str:
    """Copy ``path`` to ``target``; its remote name, or a one-sentence ``BackupError``."""
    for label, given in (("SECRETUM_BACKUP_SFTP_KEY", key), ("_KNOWN_HOSTS", known_hosts)):
        if not str(given) or not given.is_file():
            raise BackupError(f"{label} must name a file for the SFTP target {target}.")
    remote = f"{target.folder.rstrip('/')}/{path.name}"
    partial = f"{target.folder.rstrip('/')}/.{path.name}.partial"
    batch = (
        f'-mkdir "{target.folder}"\n'
        f'put "{path}" "{partial}"\n'
        f'rename "{partial}" "{remote}"\n'
        f'ls -ln "{remote}"\n'
    )
    try:
        done = subprocess.run(  # noqa: S603  (fixed arguments, no shell)
            [
                *("sftp", "-b", "-", "-P", str(target.port), "-i", str(key)),
                *("-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"),
                *("-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"),
                *("-o", "ConnectTimeout=20", f"{target.user}@{target.host}"),
            ],
            input=batch,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
    except FileNotFoundError:
        raise BackupError(
            "OpenSSH's sftp client is not installed (Debian: openssh-client)."
        ) from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip() or "?").splitlines()
        reason = "; ".join([line for line in said if line.strip("@ ")][-3:])
        raise BackupError(f"the SFTP copy to {target} failed: {reason[:400]}")
    sizes = [
        line.split()[4]
        for line in done.stdout.splitlines()
        if line.rstrip().endswith(path.name) and not line.startswith("sftp>")
    ]
    if sizes != [str(path.stat().st_size)]:
        raise BackupError(f"the SFTP copy to {target} does not have the backup's size.")
    return f"{target}/{path.name}"
