"""hostwarden: access control for server bots and consoles, and the tools built on it."""

from hostwarden.core.masking import mask_user_id, mask_username
from hostwarden.errors import HostwardenError

__version__ = "0.1.0"

__all__ = ["HostwardenError", "__version__", "mask_user_id", "mask_username"]
