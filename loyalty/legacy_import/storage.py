"""Where uploaded legacy files are kept: ``STORAGES["imports"]`` if configured, else a folder under the data dir.

The file stays with its batch so a commit can be resumed (or audited) from the very bytes that were checked.
"""

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages


def import_storage() -> Storage:
    if "imports" in settings.STORAGES:
        return storages["imports"]
    root = getattr(settings, "IMPORTS_ROOT", None) or settings.DATA_DIR / "imports"
    return FileSystemStorage(location=root)
