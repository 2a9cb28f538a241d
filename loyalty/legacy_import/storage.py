"""Where uploaded legacy files are kept: ``STORAGES["imports"]`` if configured, else a folder on disk.

The file stays with its batch so a commit can be resumed (or audited) from the very bytes that were checked.
"""

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages


class ImportFolderStorage(FileSystemStorage):
    """``IMPORTS_ROOT``, else ``imports`` under the data dir; read on each use, so settings overrides apply."""

    @property
    def base_location(self) -> str:
        return str(getattr(settings, "IMPORTS_ROOT", None) or settings.DATA_DIR / "imports")

    @property
    def location(self) -> str:
        return os.path.abspath(self.base_location)


def import_storage() -> Storage:
    if "imports" in settings.STORAGES:
        return storages["imports"]
    return ImportFolderStorage()
