"""Build hook: ship the vendored official profiles inside the wheel.

The profiles live in the repository's `validate/profiles/` (beside `schemas/`), outside the import
package. A standard wheel carries them as `nkru/_profiles/` so an installed toolkit finds them
(`nkru.resources.profile_path`). Editable installs get nothing extra: they read the checkout's
`validate/profiles/` directly, and an extra `nkru/` folder in site-packages would shadow the package.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ProfilesHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "standard":
            build_data["force_include"]["validate/profiles"] = "nkru/_profiles"
